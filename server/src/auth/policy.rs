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

/// Who may review forms (approve, reject) and assign work: supervisors in their scope and team,
/// and the ministry.
pub fn can_review_forms(user: &AuthUser) -> Result<(), ApiError> {
    require_role(user, &[Role::Supervisor, Role::Ministry])
}

/// Reading a round's field-quality signals and thresholds (the quality report, a form's
/// signals): the ministry, province reviewers and supervisors, not enumerators (signals guide
/// review, not the filling in).
pub fn can_read_quality(user: &AuthUser) -> Result<(), ApiError> {
    require_role(
        user,
        &[Role::Ministry, Role::ProvinceReviewer, Role::Supervisor],
    )
}

/// Who may export a round's forms: everyone but enumerators (each sees their scope's forms).
pub fn can_export_forms(user: &AuthUser) -> Result<(), ApiError> {
    require_role(
        user,
        &[Role::Ministry, Role::ProvinceReviewer, Role::Supervisor],
    )
}

/// Who may export the quarantine (payloads of every scope, as received): the ministry.
pub fn can_export_quarantine(user: &AuthUser) -> Result<(), ApiError> {
    require_role(user, &[Role::Ministry])
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
        // The scope is in the older geography: covered when every commune of the unit succeeds a
        // commune of the scope. Province-level successors would be too wide where provinces merged.
        let set = successor_communes(home, &scope.unit, target, m);
        return match target.unit(unit) {
            Some(u) if u.level == ::geography::Level::Commune => set.contains(unit),
            Some(_) => {
                let mut communes = target
                    .units()
                    .iter()
                    .filter(|c| {
                        c.level == ::geography::Level::Commune && target.is_within(&c.code, unit)
                    })
                    .peekable();
                communes.peek().is_some() && communes.all(|c| set.contains(&c.code))
            }
            None => false,
        };
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
        let mut v: Vec<String> = successor_communes(home, &scope.unit, target, m)
            .iter()
            .cloned()
            .collect();
        v.sort();
        v
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

/// The communes of `target` that succeed a commune (or an island district without communes) inside
/// `unit` of `home`. Cached: geographies are immutable data.
fn successor_communes(
    home: &::geography::Geography,
    unit: &str,
    target: &::geography::Geography,
    m: &::geography::Mapping,
) -> std::sync::Arc<std::collections::HashSet<String>> {
    use std::{
        collections::{HashMap, HashSet},
        sync::{Arc, Mutex, OnceLock},
    };
    type Cache = Mutex<HashMap<(String, String, String), Arc<HashSet<String>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (
        home.code.to_owned(),
        unit.to_owned(),
        target.code.to_owned(),
    );
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return hit.clone();
    }
    let set: HashSet<String> = home
        .units()
        .iter()
        .filter(|u| u.level != ::geography::Level::Province && home.is_within(&u.code, unit))
        .flat_map(|u| m.successors(&u.code).iter().map(|s| s.code.clone()))
        .filter(|c| {
            target
                .unit(c)
                .is_some_and(|u| u.level == ::geography::Level::Commune)
        })
        .collect();
    let set = Arc::new(set);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, set.clone());
    set
}

/// Whether the caller may read any index report (enumerators may not); checked before anything is
/// read.
pub fn can_read_any_indices(user: &AuthUser) -> Result<(), ApiError> {
    match user.role {
        Role::Enumerator => Err(forbidden()),
        _ => Ok(()),
    }
}

/// Who may read index reports: the ministry everything; reviewers and supervisors their scope and
/// below, plus the national figure and the national table of provinces (published anyway);
/// enumerators none. `unit` is `None` for the nation, else the unit code the scope is checked on
/// (a village's commune); `national_table` says the request lists provinces under the nation.
pub fn can_read_indices(
    user: &AuthUser,
    geo: &str,
    unit: Option<&str>,
    national_table: bool,
) -> Result<(), ApiError> {
    match user.role {
        Role::Enumerator => Err(forbidden()),
        Role::Ministry => Ok(()),
        Role::ProvinceReviewer | Role::Supervisor => match unit {
            None if national_table => Ok(()),
            None => Err(out_of_scope()),
            Some(code) => require_unit(user, geo, code),
        },
    }
}

/// Who may set a round's sampling design: the ministry.
pub fn can_set_design(user: &AuthUser) -> Result<(), ApiError> {
    require_role(user, &[Role::Ministry])
}

/// Who may upload a province's frames (village and household lists): the ministry, and
/// supervisors and province reviewers whose scope covers the province.
pub fn can_upload_frame(user: &AuthUser, geo: &str, province: &str) -> Result<(), ApiError> {
    require_role(
        user,
        &[Role::Ministry, Role::Supervisor, Role::ProvinceReviewer],
    )?;
    require_unit(user, geo, province)
}

/// Who may draw a province's sample: as for its frames; drawing again is the ministry's alone
/// (decided where the existing draw is known).
pub fn can_draw_sample(user: &AuthUser, geo: &str, province: &str) -> Result<(), ApiError> {
    can_upload_frame(user, geo, province)
}

/// Who may read a province's frames and draws: the ministry, supervisors and province reviewers
/// of the province; enumerators get theirs through assignments.
pub fn can_read_sample(user: &AuthUser, geo: &str, province: &str) -> Result<(), ApiError> {
    can_upload_frame(user, geo, province)
}

/// Whether the caller may draw again where a draw exists.
pub fn may_redraw(user: &AuthUser) -> bool {
    user.role == Role::Ministry
}
