//! The access policy: roles, geographic scope, and every decision about who may see or change what.
//! Handlers ask this module; they never compare roles or unit codes themselves.

use axum::http::StatusCode;
use sea_orm::{ColumnTrait, Condition, sea_query::Query};
use serde::{Deserialize, Serialize};

use crate::{
    entities::{form, user},
    error::ApiError,
};

use super::AuthUser;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Bộ Nội vụ: everything, all provinces.
    Ministry,
    /// Sở Nội vụ: read-only on one province's forms and indices.
    ProvinceReviewer,
    /// Post-office supervisor: a team of enumerators in one province.
    Supervisor,
    /// Enumerator: submits forms for the units of their team; reads only their own forms.
    Enumerator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Ministry,
        Role::ProvinceReviewer,
        Role::Supervisor,
        Role::Enumerator,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ministry => "ministry",
            Role::ProvinceReviewer => "province_reviewer",
            Role::Supervisor => "supervisor",
            Role::Enumerator => "enumerator",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The unit a non-ministry user is confined to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// Geography of the unit (`vn-2023`, `vn-2025`).
    pub geography: String,
    /// The unit's code (a province, or below).
    pub unit: String,
}

/// 403 for a role that may not use an endpoint.
pub fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Bạn không có quyền thực hiện thao tác này.",
        "You are not allowed to do this.",
    )
}

/// 403 for a unit outside the user's scope.
pub fn out_of_scope() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "out_of_scope",
        "Đơn vị này nằm ngoài phạm vi được phân công cho bạn.",
        "This unit is outside your assigned scope.",
    )
}

/// Requires one of `roles`.
pub fn require_role(user: &AuthUser, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&user.role) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// Who may publish questionnaires.
pub fn can_publish_questionnaire(user: &AuthUser) -> Result<(), ApiError> {
    require_role(user, &[Role::Ministry])
}

/// Who may submit forms: enumerators, supervisors (corrections) and the ministry; never a
/// read-only province reviewer.
pub fn can_submit_forms(user: &AuthUser) -> Result<(), ApiError> {
    require_role(user, &[Role::Enumerator, Role::Supervisor, Role::Ministry])
}

/// Who may manage users and read the audit log.
pub fn can_administer(user: &AuthUser) -> Result<(), ApiError> {
    require_role(user, &[Role::Ministry])
}

/// Who may list devices: the ministry (all) and supervisors (their scope's users).
pub fn can_list_devices(user: &AuthUser) -> Result<(), ApiError> {
    require_role(user, &[Role::Ministry, Role::Supervisor])
}

/// Whether `user` may act on a device registered to `owner`: the ministry always; a supervisor when
/// the owner is an enumerator or supervisor inside the supervisor's scope (and team, when set).
pub fn can_manage_device_of(user: &AuthUser, owner: &user::Model) -> bool {
    match user.role {
        Role::Ministry => true,
        Role::Supervisor => {
            let owner_role = Role::parse(&owner.role);
            let same_team = user.team.is_none() || user.team == owner.team;
            matches!(owner_role, Some(Role::Enumerator | Role::Supervisor))
                && same_team
                && match (&owner.geography_code, &owner.unit_code) {
                    (Some(g), Some(u)) => covers_unit(user, g, u),
                    _ => false,
                }
        }
        _ => false,
    }
}

/// Whether `unit` of geography `geo` lies inside the user's scope. Across geographies (a 2023 scope
/// reading 2025 data, or the reverse) the successor mapping decides.
pub fn covers_unit(user: &AuthUser, geo: &str, unit: &str) -> bool {
    let Some(scope) = &user.scope else {
        return user.role == Role::Ministry;
    };
    if scope.geography == geo {
        return ::geography::by_code(geo).is_some_and(|g| g.is_within(unit, &scope.unit));
    }
    let (Some(target), Some(home)) = (
        ::geography::by_code(geo),
        ::geography::by_code(&scope.geography),
    ) else {
        return false;
    };
    if let Some(m) = ::geography::mapping(&scope.geography, geo) {
        // The scope is in the older geography: the unit is covered when it lies in a successor.
        return m
            .derived_successors(home, &scope.unit)
            .iter()
            .any(|s| target.is_within(unit, s));
    }
    if let Some(m) = ::geography::mapping(geo, &scope.geography) {
        // The unit is in the older geography: covered when it or an ancestor maps into the scope.
        return target.path(unit).iter().any(|u| {
            m.derived_successors(target, &u.code)
                .iter()
                .any(|s| home.is_within(s, &scope.unit))
        });
    }
    false
}

/// Requires `unit` of `geo` to be inside the user's scope (403 `out_of_scope` otherwise).
pub fn require_unit(user: &AuthUser, geo: &str, unit: &str) -> Result<(), ApiError> {
    if covers_unit(user, geo, unit) {
        Ok(())
    } else {
        Err(out_of_scope())
    }
}

/// The SQL condition selecting the forms of a round on geography `geo` that `user` may read:
/// the ministry all; reviewers and supervisors those inside their scope (supervisors: of their
/// team's enumerators, when they have a team); enumerators only their own.
pub fn readable_forms(user: &AuthUser, geo: &str) -> Condition {
    match user.role {
        Role::Ministry => Condition::all(),
        Role::Enumerator => Condition::all().add(form::Column::SubmittedBy.eq(user.id)),
        Role::ProvinceReviewer | Role::Supervisor => {
            let mut cond = Condition::all().add(scope_condition(user, geo));
            if user.role == Role::Supervisor
                && let Some(team) = &user.team
            {
                cond = cond.add(
                    form::Column::SubmittedBy.in_subquery(
                        Query::select()
                            .column(user::Column::Id)
                            .from(user::Entity)
                            .and_where(user::Column::Team.eq(team.clone()))
                            .to_owned(),
                    ),
                );
            }
            cond
        }
    }
}

/// Forms whose units fall inside the user's scope, expressed on the round's geography.
fn scope_condition(user: &AuthUser, geo: &str) -> Condition {
    let Some(scope) = &user.scope else {
        return Condition::all().add(form::Column::Seq.lt(0));
    };
    let units: Vec<(::geography::Level, String)> = equivalent_units(scope, geo);
    let mut any = Condition::any();
    for (level, code) in &units {
        any = any.add(match level {
            ::geography::Level::Province => form::Column::ProvinceCode.eq(code.clone()),
            ::geography::Level::District => form::Column::DistrictCode.eq(code.clone()),
            ::geography::Level::Commune => form::Column::CommuneCode.eq(code.clone()),
        });
    }
    if units.is_empty() {
        // Nothing maps into this geography: no forms.
        any = any.add(form::Column::Seq.lt(0));
    }
    any
}

/// The units of geography `geo` that together cover the scope unit.
fn equivalent_units(scope: &Scope, geo: &str) -> Vec<(::geography::Level, String)> {
    let (Some(target), Some(home)) = (
        ::geography::by_code(geo),
        ::geography::by_code(&scope.geography),
    ) else {
        return Vec::new();
    };
    let codes: Vec<String> = if scope.geography == geo {
        vec![scope.unit.clone()]
    } else if let Some(m) = ::geography::mapping(&scope.geography, geo) {
        m.derived_successors(home, &scope.unit)
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else if let Some(m) = ::geography::mapping(geo, &scope.geography) {
        target
            .units()
            .iter()
            .filter(|u| {
                u.level == ::geography::Level::Commune || u.level == ::geography::Level::Province
            })
            .filter(|u| {
                m.derived_successors(target, &u.code)
                    .iter()
                    .any(|s| home.is_within(s, &scope.unit))
            })
            .map(|u| u.code.clone())
            .collect()
    } else {
        Vec::new()
    };
    codes
        .into_iter()
        .filter_map(|c| target.unit(&c).map(|u| (u.level, c)))
        .collect()
}
