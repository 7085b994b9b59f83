//! Field progress of a round: per unit and per enumerator, what was assigned, received, approved,
//! rejected and is outstanding against the assigned quantity, with each device's last sync; and
//! per unit the sample's quota (the households drawn in its sampled villages) with what is still
//! outstanding against it. Scoped like every other read: the caller sees the forms, assignments
//! and sample they may read.

use std::collections::{BTreeMap, HashMap};

use axum::{Json, extract::State};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};
use serde::{Deserialize, Serialize};

use crate::{
    auth::{AuthUser, policy},
    entities::{assignment, device, form, sample_draw, user},
    error::{ApiError, ApiPath, ApiQuery},
    review::Status,
    routes::openapi::Failure,
    state::AppState,
    text::rfc3339,
};

/// `/rounds/{round}/progress`
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(progress))
}

/// `GET /rounds/{round}/progress` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// Only inside this unit (province, district or commune code of the round's geography).
    pub unit: Option<String>,
    /// Group the units at this level: `province`, `district`, `commune` or `village` (default:
    /// one level below `unit`, provinces without one).
    pub level: Option<String>,
}

/// The counts of one unit or enumerator.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Counts {
    /// Forms assigned (sum of the assignments' quantities).
    pub assigned: u64,
    /// Forms held, in any review status.
    pub received: u64,
    /// Received and not reviewed yet.
    pub pending: u64,
    /// Approved.
    pub approved: u64,
    /// Rejected and waiting for their corrected revision.
    pub rejected: u64,
    /// Received forms flagged outside the sender's assignments.
    pub unassigned: u64,
    /// Assigned forms not received yet: assigned minus the received forms that count against an
    /// assignment (not flagged `unassigned`), never below 0.
    pub outstanding: u64,
    /// The sample's quota: households drawn (reserves not counted) in the sampled villages of the
    /// provinces' active draws; 0 where no sample is drawn. Not given per enumerator.
    pub quota: u64,
    /// Of the quota, forms not received yet: per sampled village, its quota minus the forms
    /// received in it (never below 0, so a village over its quota does not make up for
    /// another), summed.
    pub outstanding_quota: u64,
}

impl Counts {
    fn add_forms(&mut self, status: &str, unassigned: bool, n: u64) {
        self.received += n;
        match Status::parse(status) {
            Some(Status::Approved) => self.approved += n,
            Some(Status::Rejected) => self.rejected += n,
            _ => self.pending += n,
        }
        if unassigned {
            self.unassigned += n;
        }
    }

    fn finish(mut self) -> Counts {
        self.outstanding = self
            .assigned
            .saturating_sub(self.received.saturating_sub(self.unassigned));
        self
    }
}

/// One unit's progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnitProgress {
    /// The unit's code (for villages: `commune/village`).
    pub code: String,
    /// Its name, for administrative units.
    pub name: Option<String>,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// A device's last contact.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceSync {
    /// Device id.
    pub id: String,
    /// Last request of any kind.
    pub last_seen_at: Option<String>,
    /// Last push.
    pub last_push_at: Option<String>,
}

/// One enumerator's progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnumeratorProgress {
    /// User id.
    pub id: i64,
    /// Username.
    pub username: Option<String>,
    /// Team.
    pub team: Option<String>,
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Their devices' last sync, latest first.
    pub devices: Vec<DeviceSync>,
}

/// Where the quota comes from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaSource {
    /// Provinces (in the caller's view) with an active draw: their quota is the households drawn.
    pub provinces_drawn: Vec<String>,
    /// What the round's recorded design plans per province (the product of its stages' counts),
    /// for the provinces not drawn yet; none without a recorded design.
    pub planned_per_province: Option<u64>,
}

/// A sampled village's quota and what is outstanding against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VillageQuota {
    /// Commune code.
    pub commune: String,
    /// The village code as listed in the frame.
    pub village: String,
    /// Households drawn in it (no reserves).
    pub quota: u64,
    /// Quota minus the forms received in the village, never below 0.
    pub outstanding: u64,
}

/// Each sampled village's outstanding quota: `drawn` gives (commune, village code, quota) and
/// `received` the forms held per (commune, normalised village key, see [`indices::cluster_key`]).
pub fn village_quotas(
    drawn: &[(String, String, u64)],
    received: &HashMap<(String, String), u64>,
) -> Vec<VillageQuota> {
    drawn
        .iter()
        .map(|(commune, village, quota)| {
            let got = received
                .get(&(commune.clone(), indices::cluster_key(village)))
                .copied()
                .unwrap_or(0);
            VillageQuota {
                commune: commune.clone(),
                village: village.clone(),
                quota: *quota,
                outstanding: quota.saturating_sub(got),
            }
        })
        .collect()
}

/// `GET /rounds/{round}/progress` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProgressResponse {
    /// Round.
    pub round: String,
    /// The unit asked about, if any.
    pub unit: Option<String>,
    /// The level units are grouped at.
    pub level: String,
    /// Everything the caller sees.
    pub totals: Counts,
    /// Per unit at `level`.
    pub units: Vec<UnitProgress>,
    /// Per enumerator.
    pub enumerators: Vec<EnumeratorProgress>,
    /// Where the quota comes from.
    pub quota: QuotaSource,
}

const LEVELS: [&str; 4] = ["province", "district", "commune", "village"];

/// A row grouped by the database: units, sender, status, flag, count.
type FormGroup = (
    String,
    Option<String>,
    String,
    String,
    Option<i64>,
    String,
    bool,
    i64,
);

/// The progress of a round inside the caller's scope.
#[utoipa::path(get, path = "/rounds/{round}/progress", tag = "progress", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ProgressQuery), security(("bearer" = [])),
    responses((status = OK, body = ProgressResponse), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn progress(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ProgressQuery>,
) -> Result<Json<ProgressResponse>, ApiError> {
    let r = super::find_round(&state, &round_code).await?;
    let geo = ::geography::by_code(&r.geography_code)
        .ok_or_else(|| ApiError::internal(format!("round {round_code} on unknown geography")))?;
    let unit = q.unit.as_deref().filter(|u| !u.is_empty());
    let unit_level = match unit {
        Some(u) => {
            let found = geo
                .unit(u)
                .ok_or_else(|| ApiError::not_found("đơn vị hành chính", "Administrative unit"))?;
            policy::require_unit(&me, geo.code, u)?;
            Some(found.level.as_str())
        }
        None => None,
    };
    // The levels this round's geography has, and the default: one below the unit.
    let has_districts = geo.count(::geography::Level::District) > 0;
    let levels: Vec<&str> = LEVELS
        .into_iter()
        .filter(|l| has_districts || *l != "district")
        .collect();
    let level = match q.level.as_deref().filter(|l| !l.is_empty()) {
        Some(l) if levels.contains(&l) => l.to_owned(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_level",
                format!("Cấp phải là một trong: {}.", levels.join(", ")),
                format!("The level must be one of: {}.", levels.join(", ")),
            ));
        }
        None => {
            let at = unit_level
                .and_then(|l| levels.iter().position(|x| *x == l))
                .map_or(0, |i| (i + 1).min(levels.len() - 1));
            levels[at].to_owned()
        }
    };

    let mut cond = Condition::all()
        .add(form::Column::RoundCode.eq(&round_code))
        .add(policy::readable_forms(&me, &r.geography_code));
    if let (Some(u), Some(l)) = (unit, unit_level) {
        cond = cond.add(match l {
            "province" => form::Column::ProvinceCode.eq(u),
            "district" => form::Column::DistrictCode.eq(u),
            _ => form::Column::CommuneCode.eq(u),
        });
    }
    let groups: Vec<FormGroup> = form::Entity::find()
        .select_only()
        .columns([
            form::Column::ProvinceCode,
            form::Column::DistrictCode,
            form::Column::CommuneCode,
            form::Column::VillageCode,
            form::Column::SubmittedBy,
            form::Column::Status,
            form::Column::Unassigned,
        ])
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(cond)
        .group_by(form::Column::ProvinceCode)
        .group_by(form::Column::DistrictCode)
        .group_by(form::Column::CommuneCode)
        .group_by(form::Column::VillageCode)
        .group_by(form::Column::SubmittedBy)
        .group_by(form::Column::Status)
        .group_by(form::Column::Unassigned)
        .into_tuple()
        .all(&state.db)
        .await?;

    // Assignments the caller may see, inside the unit.
    let mut assignments = assignment::Entity::find()
        .filter(assignment::Column::RoundCode.eq(&round_code))
        .filter(assignment::Column::Quantity.gt(0));
    if me.role == policy::Role::Enumerator {
        assignments = assignments.filter(assignment::Column::EnumeratorId.eq(me.id));
    }
    let assignments = assignments.all(&state.db).await?;
    let mut ids: Vec<i64> = groups
        .iter()
        .filter_map(|g| g.4)
        .chain(assignments.iter().map(|a| a.enumerator_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut users: HashMap<i64, user::Model> = HashMap::new();
    let mut devices: HashMap<i64, Vec<device::Model>> = HashMap::new();
    for chunk in ids.chunks(500) {
        for u in user::Entity::find()
            .filter(user::Column::Id.is_in(chunk.to_vec()))
            .all(&state.db)
            .await?
        {
            users.insert(u.id, u);
        }
        for d in device::Entity::find()
            .filter(device::Column::UserId.is_in(chunk.to_vec()))
            .all(&state.db)
            .await?
        {
            devices.entry(d.user_id).or_default().push(d);
        }
    }
    let visible = |a: &assignment::Model| -> bool {
        let in_unit = unit.is_none_or(|u| geo.is_within(&a.commune_code, u));
        let in_scope = match me.role {
            policy::Role::Ministry => true,
            policy::Role::Enumerator => a.enumerator_id == me.id,
            policy::Role::ProvinceReviewer => policy::covers_unit(&me, geo.code, &a.commune_code),
            policy::Role::Supervisor => {
                policy::covers_unit(&me, geo.code, &a.commune_code)
                    && (me.team.is_none()
                        || users
                            .get(&a.enumerator_id)
                            .is_some_and(|u| u.team == me.team))
            }
        };
        in_unit && in_scope
    };
    let key_of = |province: &str, district: Option<&str>, commune: &str, village: &str| -> String {
        match level.as_str() {
            "province" => province.to_owned(),
            "district" => district.unwrap_or_default().to_owned(),
            "commune" => commune.to_owned(),
            _ => format!("{commune}/{village}"),
        }
    };
    let mut totals = Counts::default();
    let mut by_unit: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_enumerator: BTreeMap<i64, Counts> = BTreeMap::new();
    for a in assignments.iter().filter(|a| visible(a)) {
        let n = a.quantity.max(0) as u64;
        totals.assigned += n;
        by_unit
            .entry(key_of(
                &a.province_code,
                a.district_code.as_deref(),
                &a.commune_code,
                &a.village_code,
            ))
            .or_default()
            .assigned += n;
        by_enumerator.entry(a.enumerator_id).or_default().assigned += n;
    }
    for (province, district, commune, village, by, status, unassigned, n) in &groups {
        let n = (*n).max(0) as u64;
        totals.add_forms(status, *unassigned, n);
        by_unit
            .entry(key_of(province, district.as_deref(), commune, village))
            .or_default()
            .add_forms(status, *unassigned, n);
        if let Some(by) = by {
            by_enumerator
                .entry(*by)
                .or_default()
                .add_forms(status, *unassigned, n);
        }
    }
    // The sample's quota: the active draws' households, village by village, in the caller's
    // view (an enumerator's progress has none).
    let mut provinces_drawn = Vec::new();
    if me.role != policy::Role::Enumerator {
        let draws = sample_draw::Entity::find()
            .filter(sample_draw::Column::RoundCode.eq(&round_code))
            .filter(sample_draw::Column::Status.eq(crate::sampling::store::status::ACTIVE))
            .all(&state.db)
            .await?;
        let mut received: HashMap<(String, String), u64> = HashMap::new();
        for (_, _, commune, village, _, _, _, n) in &groups {
            *received
                .entry((commune.clone(), indices::cluster_key(village)))
                .or_default() += (*n).max(0) as u64;
        }
        for d in draws {
            let in_view = unit.is_none_or(|u| {
                geo.is_within(&d.province_code, u) || geo.is_within(u, &d.province_code)
            });
            if !in_view {
                continue;
            }
            let mut drawn: BTreeMap<(String, String), (String, u64)> = BTreeMap::new();
            for h in crate::sampling::store::sample_households(&state.db, d.id).await? {
                if h.reserve {
                    continue;
                }
                drawn
                    .entry((h.commune_code.clone(), h.village_key.clone()))
                    .or_insert_with(|| (h.village_code.clone(), 0))
                    .1 += 1;
            }
            let drawn: Vec<(String, String, u64)> = drawn
                .into_iter()
                .filter(|((commune, _), _)| {
                    unit.is_none_or(|u| geo.is_within(commune, u))
                        && (me.role == policy::Role::Ministry
                            || policy::covers_unit(&me, geo.code, commune))
                })
                .map(|((commune, _), (village, n))| (commune, village, n))
                .collect();
            if drawn.is_empty() {
                continue;
            }
            provinces_drawn.push(d.province_code.clone());
            for v in village_quotas(&drawn, &received) {
                let up = geo.ancestors(&v.commune);
                let at = |l: ::geography::Level| {
                    up.iter().find(|u| u.level == l).map(|u| u.code.clone())
                };
                let province = at(::geography::Level::Province).unwrap_or_default();
                let district = at(::geography::Level::District);
                let c = by_unit
                    .entry(key_of(
                        &province,
                        district.as_deref(),
                        &v.commune,
                        &v.village,
                    ))
                    .or_default();
                c.quota += v.quota;
                c.outstanding_quota += v.outstanding;
                totals.quota += v.quota;
                totals.outstanding_quota += v.outstanding;
            }
        }
    }
    provinces_drawn.sort();
    let planned_per_province = crate::sampling::store::design_of(&state.db, &round_code)
        .await?
        .map(|(d, _)| d.stages.iter().map(|s| u64::from(s.per_parent)).product());
    let units = by_unit
        .into_iter()
        .map(|(code, counts)| UnitProgress {
            name: geo.unit(&code).map(|u| u.name.clone()),
            code,
            counts: counts.finish(),
        })
        .collect();
    let enumerators = by_enumerator
        .into_iter()
        .map(|(id, counts)| {
            let u = users.get(&id);
            let mut ds: Vec<&device::Model> = devices
                .get(&id)
                .map(|d| d.iter().collect())
                .unwrap_or_default();
            ds.sort_by_key(|d| std::cmp::Reverse(d.last_seen_at));
            EnumeratorProgress {
                id,
                username: u.map(|u| u.username.clone()),
                team: u.and_then(|u| u.team.clone()),
                counts: counts.finish(),
                devices: ds
                    .into_iter()
                    .map(|d| DeviceSync {
                        id: d.id.clone(),
                        last_seen_at: rfc3339(&d.last_seen_at),
                        last_push_at: d.last_push_at.as_ref().and_then(rfc3339),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Json(ProgressResponse {
        round: round_code,
        unit: unit.map(str::to_owned),
        level,
        totals: totals.finish(),
        units,
        enumerators,
        quota: QuotaSource {
            provinces_drawn,
            planned_per_province,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_village_over_its_quota_does_not_make_up_for_another() {
        let drawn = vec![
            ("c1".to_owned(), "Bản Nà".to_owned(), 3),
            ("c1".to_owned(), "Bản 2".to_owned(), 3),
            ("c2".to_owned(), "Bản Nà".to_owned(), 2),
        ];
        // Forms are counted under the normalised village: "ban na" is "Bản Nà".
        let received: HashMap<(String, String), u64> = [
            (("c1".to_owned(), indices::cluster_key("BẢN NÀ")), 5),
            (("c1".to_owned(), indices::cluster_key("Bản 2")), 1),
        ]
        .into();
        let q = village_quotas(&drawn, &received);
        let out: Vec<(u64, u64)> = q.iter().map(|v| (v.quota, v.outstanding)).collect();
        assert_eq!(out, [(3, 0), (3, 2), (2, 2)]);
        assert_eq!(q.iter().map(|v| v.outstanding).sum::<u64>(), 4);
    }

    #[test]
    fn outstanding_is_what_is_assigned_and_not_received_against_it() {
        let mut c = Counts {
            assigned: 10,
            ..Counts::default()
        };
        c.add_forms("accepted", false, 3);
        c.add_forms("approved", false, 2);
        c.add_forms("rejected", false, 1);
        c.add_forms("accepted", true, 4);
        let c = c.finish();
        assert_eq!(
            (c.received, c.pending, c.approved, c.rejected, c.unassigned),
            (10, 7, 2, 1, 4)
        );
        // 6 received against assignments of 10: 4 outstanding.
        assert_eq!(c.outstanding, 4);
        let over = Counts {
            assigned: 2,
            received: 5,
            ..Counts::default()
        };
        assert_eq!(over.finish().outstanding, 0);
    }
}
