//! Assignments: a supervisor gives villages (optionally a list of households in each) with a
//! quantity to enumerators of their own team, inside their scope. Each change reaches the
//! enumerator's devices through pull (`assignment_changed`) and is audited.

use std::collections::HashMap;

use axum::{Json, extract::State, http::StatusCode};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use sync_protocol::FormUnits;
use time::OffsetDateTime;

use super::find_round;
use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    entities::{assignment, round, user},
    error::{ApiError, ApiJson, ApiPath, ApiQuery, FieldError},
    routes::openapi::Failure,
    state::AppState,
    text::{self, rfc3339},
};

/// Most assignments one call may make.
pub const MAX_ASSIGNMENTS: usize = 1000;
/// Most households one assignment may list.
pub const MAX_HOUSEHOLDS: usize = 1000;
/// Largest quantity of one assignment.
pub const MAX_QUANTITY: u32 = 10_000;

/// `/rounds/{round}/assignments`, `/rounds/{round}/assignments/from-sample`,
/// `/rounds/{round}/assignments/{id}/reserve`
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list_assignments, assign))
        .routes(utoipa_axum::routes!(assign_from_sample))
        .routes(utoipa_axum::routes!(release_reserve))
}

/// One assignment as a supervisor makes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAssignment {
    /// The enumerator's user id.
    pub enumerator_id: i64,
    /// The village's commune code (in the round's geography).
    pub commune: String,
    /// The village code.
    pub village: String,
    /// The households assigned, if the assignment lists them.
    #[serde(default)]
    pub household_refs: Option<Vec<String>>,
    /// How many forms are expected; with a household list it defaults to the list's length.
    /// 0 withdraws the assignment.
    #[serde(default)]
    pub quantity: Option<u32>,
}

/// `POST /rounds/{round}/assignments` body: every assignment is checked, then all are stored
/// (a new one, or a change of the enumerator's assignment of that village), or none.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssignRequest {
    /// The assignments.
    pub assignments: Vec<NewAssignment>,
}

/// An assignment as read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentView {
    /// Its id.
    pub id: i64,
    /// The round.
    pub round: String,
    /// The enumerator's user id.
    pub enumerator_id: i64,
    /// The enumerator's username.
    pub enumerator: Option<String>,
    /// The village's units.
    pub units: FormUnits,
    /// The households listed (empty for the whole village).
    pub household_refs: Vec<String>,
    /// Forms expected (0: withdrawn).
    pub quantity: i32,
    /// Households replaced by reserves, oldest first.
    pub replaced: Vec<Replacement>,
    /// Who made or last changed it.
    pub created_by: Option<i64>,
    /// When it last changed.
    pub updated_at: Option<String>,
}

/// `GET /rounds/{round}/assignments` and `POST` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentList {
    /// The round.
    pub round: String,
    /// The assignments, by enumerator then village.
    pub assignments: Vec<AssignmentView>,
}

/// `GET /rounds/{round}/assignments` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssignmentQuery {
    /// Only this enumerator's.
    pub enumerator_id: Option<i64>,
    /// Include withdrawn ones (quantity 0).
    #[serde(default)]
    pub withdrawn: bool,
}

/// The households an assignment had replaced by reserves.
fn replacements_of(a: &assignment::Model) -> Vec<Replacement> {
    a.replaced_refs
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default()
}

fn households_of(a: &assignment::Model) -> Vec<String> {
    a.household_refs
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default()
}

/// The wire form of an assignment (what devices pull).
pub(crate) fn wire(a: &assignment::Model) -> sync_protocol::Assignment {
    sync_protocol::Assignment {
        id: a.id,
        round: a.round_code.clone(),
        units: FormUnits {
            province: a.province_code.clone(),
            district: a.district_code.clone(),
            commune: a.commune_code.clone(),
            village: a.village_code.clone(),
        },
        household_refs: households_of(a),
        quantity: a.quantity.max(0) as u32,
    }
}

fn view(a: &assignment::Model, names: &HashMap<i64, String>) -> AssignmentView {
    let w = wire(a);
    AssignmentView {
        id: a.id,
        round: a.round_code.clone(),
        enumerator_id: a.enumerator_id,
        enumerator: names.get(&a.enumerator_id).cloned(),
        units: w.units,
        household_refs: w.household_refs,
        quantity: a.quantity,
        replaced: replacements_of(a),
        created_by: a.created_by,
        updated_at: rfc3339(&a.updated_at),
    }
}

/// Whether `me` may see or change assignments of `enumerator` in commune `commune`: the
/// ministry always; a supervisor inside their scope and (when they have one) their team; a
/// province reviewer (reading) inside their scope; an enumerator their own.
fn may_see(
    me: &AuthUser,
    geo: &str,
    a: &assignment::Model,
    team_of: &HashMap<i64, Option<String>>,
) -> bool {
    match me.role {
        policy::Role::Ministry => true,
        policy::Role::Enumerator => a.enumerator_id == me.id,
        policy::Role::ProvinceReviewer => policy::covers_unit(me, geo, &a.commune_code),
        policy::Role::Supervisor => {
            policy::covers_unit(me, geo, &a.commune_code)
                && (me.team.is_none()
                    || team_of.get(&a.enumerator_id).is_some_and(|t| *t == me.team))
        }
    }
}

/// The assignments of a round the caller may see.
#[utoipa::path(get, path = "/rounds/{round}/assignments", tag = "assignments", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), AssignmentQuery), security(("bearer" = [])),
    responses((status = OK, body = AssignmentList), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn list_assignments(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<AssignmentQuery>,
) -> Result<Json<AssignmentList>, ApiError> {
    let r = find_round(&state, &round_code).await?;
    let mut select =
        assignment::Entity::find().filter(assignment::Column::RoundCode.eq(&round_code));
    if me.role == policy::Role::Enumerator {
        select = select.filter(assignment::Column::EnumeratorId.eq(me.id));
    }
    if let Some(e) = q.enumerator_id {
        select = select.filter(assignment::Column::EnumeratorId.eq(e));
    }
    if !q.withdrawn {
        select = select.filter(assignment::Column::Quantity.gt(0));
    }
    let rows = select
        .order_by_asc(assignment::Column::EnumeratorId)
        .order_by_asc(assignment::Column::VillageCode)
        .all(&state.db)
        .await?;
    let (names, teams) = enumerators(&state, rows.iter().map(|a| a.enumerator_id)).await?;
    Ok(Json(AssignmentList {
        round: round_code,
        assignments: rows
            .iter()
            .filter(|a| may_see(&me, &r.geography_code, a, &teams))
            .map(|a| view(a, &names))
            .collect(),
    }))
}

/// Usernames and teams of these users.
async fn enumerators(
    state: &AppState,
    ids: impl Iterator<Item = i64>,
) -> Result<(HashMap<i64, String>, HashMap<i64, Option<String>>), ApiError> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    let mut names = HashMap::new();
    let mut teams = HashMap::new();
    for chunk in ids.chunks(500) {
        for u in user::Entity::find()
            .filter(user::Column::Id.is_in(chunk.to_vec()))
            .all(&state.db)
            .await?
        {
            names.insert(u.id, u.username.clone());
            teams.insert(u.id, u.team.clone());
        }
    }
    Ok((names, teams))
}

/// 403 for an enumerator of another team.
fn other_team() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "other_team",
        "Điều tra viên này không thuộc nhóm của bạn.",
        "This enumerator is not in your team.",
    )
}

/// Makes or changes assignments (one per enumerator and village of a commune), all or nothing: each must name an active enumerator of the
/// caller's team (403 `other_team`), a commune of the round's geography inside the caller's scope
/// (403 `out_of_scope`) and the enumerator's, and a quantity within bounds (422).
#[utoipa::path(post, path = "/rounds/{round}/assignments", tag = "assignments", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), request_body = AssignRequest, security(("bearer" = [])),
    responses((status = OK, body = AssignmentList), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn assign(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(round_code): ApiPath<String>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> Result<Json<AssignmentList>, ApiError> {
    policy::can_review_forms(&me)?;
    let r = find_round(&state, &round_code).await?;
    let stored = store_assignments(
        &state,
        &me,
        ip,
        &r,
        &body.assignments,
        &|i| format!("assignments[{i}]"),
        None,
    )
    .await?;
    let (names, _) = enumerators(&state, stored.iter().map(|a| a.enumerator_id)).await?;
    Ok(Json(AssignmentList {
        round: round_code,
        assignments: stored.iter().map(|a| view(a, &names)).collect(),
    }))
}

/// Checks assignments (see [`assign`]) and stores them all in one transaction, each with its
/// `assignment_changed` change for the enumerator's devices and its audit event; or none. A
/// `replacement` (one assignment only) is added to the assignment's replaced households in the
/// same transaction and named in the audit. A problem with the `i`th is reported under the
/// field `name_of(i)`.
async fn store_assignments(
    state: &AppState,
    me: &AuthUser,
    ip: Option<String>,
    r: &round::Model,
    assignments: &[NewAssignment],
    name_of: &(dyn Fn(usize) -> String + Sync),
    replacement: Option<&Replacement>,
) -> Result<Vec<assignment::Model>, ApiError> {
    let round_code = r.code.clone();
    let geo = ::geography::by_code(&r.geography_code)
        .ok_or_else(|| ApiError::internal(format!("round {round_code} on unknown geography")))?;
    if assignments.is_empty() || assignments.len() > MAX_ASSIGNMENTS {
        return Err(ApiError::bad_request(
            "assignments_count",
            format!("Cần từ 1 đến {MAX_ASSIGNMENTS} phân công mỗi lần."),
            format!("Give 1 to {MAX_ASSIGNMENTS} assignments per call."),
        ));
    }
    let ids: Vec<i64> = assignments.iter().map(|a| a.enumerator_id).collect();
    let mut users: HashMap<i64, user::Model> = HashMap::new();
    for chunk in ids.chunks(500) {
        for u in user::Entity::find()
            .filter(user::Column::Id.is_in(chunk.to_vec()))
            .all(&state.db)
            .await?
        {
            users.insert(u.id, u);
        }
    }
    // Check everything before writing anything.
    let mut errors: Vec<FieldError> = Vec::new();
    let mut checked = Vec::with_capacity(assignments.len());
    for (i, a) in assignments.iter().enumerate() {
        let at = |f: &str| format!("{}.{f}", name_of(i));
        let Some(u) = users
            .get(&a.enumerator_id)
            .filter(|u| u.role == policy::Role::Enumerator.as_str() && u.active)
        else {
            errors.push(FieldError::new(
                at("enumerator_id"),
                "unknown_enumerator",
                "Không có điều tra viên đang hoạt động với mã này.",
                "No active enumerator has this id.",
            ));
            continue;
        };
        if me.role == policy::Role::Supervisor && me.team.is_some() && u.team != me.team {
            return Err(other_team());
        }
        let Some(commune) = geo
            .unit(&a.commune)
            .filter(|c| c.level == ::geography::Level::Commune)
        else {
            errors.push(FieldError::new(
                at("commune"),
                "unknown_commune",
                format!("Không có xã '{}' trong địa giới {}.", a.commune, geo.code),
                format!("No commune '{}' in geography {}.", a.commune, geo.code),
            ));
            continue;
        };
        policy::require_unit(me, geo.code, &commune.code)?;
        let enumerator_covers = AuthUser::from_model(u, None)
            .is_some_and(|e| policy::covers_unit(&e, geo.code, &commune.code));
        if !enumerator_covers {
            errors.push(FieldError::new(
                at("commune"),
                "outside_enumerator_scope",
                "Xã này nằm ngoài địa bàn của điều tra viên.",
                "This commune is outside the enumerator's area.",
            ));
        }
        let village = a.village.trim();
        if village.is_empty() {
            errors.push(FieldError::new(
                at("village"),
                "required",
                "Cần mã thôn/ấp.",
                "The village code is required.",
            ));
        }
        text::check_field(&at("village"), village, 64, &mut errors);
        let households: Option<Vec<String>> = a.household_refs.as_ref().map(|h| {
            let mut h: Vec<String> = h.iter().map(|r| r.trim().to_owned()).collect();
            h.sort();
            h.dedup();
            h
        });
        if let Some(h) = &households {
            if h.len() > MAX_HOUSEHOLDS {
                errors.push(FieldError::new(
                    at("household_refs"),
                    "too_many",
                    format!("Tối đa {MAX_HOUSEHOLDS} hộ mỗi phân công."),
                    format!("At most {MAX_HOUSEHOLDS} households per assignment."),
                ));
            }
            for r in h {
                if r.is_empty() {
                    errors.push(FieldError::new(
                        at("household_refs"),
                        "required",
                        "Mã hộ không được để trống.",
                        "A household ref is empty.",
                    ));
                }
                text::check_field(&at("household_refs"), r, 64, &mut errors);
            }
        }
        let quantity = a
            .quantity
            .or(households.as_ref().map(|h| h.len() as u32))
            .unwrap_or(0);
        if a.quantity.is_none() && households.is_none() {
            errors.push(FieldError::new(
                at("quantity"),
                "required",
                "Cần số phiếu được giao (hoặc danh sách hộ).",
                "Give the quantity (or a household list).",
            ));
        }
        if quantity > MAX_QUANTITY {
            errors.push(FieldError::new(
                at("quantity"),
                "out_of_range",
                format!("Số phiếu tối đa {MAX_QUANTITY}."),
                format!("The quantity is at most {MAX_QUANTITY}."),
            ));
        }
        let province = geo
            .ancestors(&commune.code)
            .into_iter()
            .find(|u| u.level == ::geography::Level::Province)
            .map(|u| u.code.clone())
            .unwrap_or_default();
        let district = geo
            .ancestors(&commune.code)
            .into_iter()
            .find(|u| u.level == ::geography::Level::District)
            .map(|u| u.code.clone());
        checked.push((
            a.enumerator_id,
            province,
            district,
            commune.code.clone(),
            village.to_owned(),
            households,
            quantity,
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = OffsetDateTime::now_utc();
    let txn = state.db.begin().await?;
    let mut stored = Vec::with_capacity(checked.len());
    for (enumerator, province, district, commune, village, households, quantity) in checked {
        let existing = assignment::Entity::find()
            .filter(assignment::Column::RoundCode.eq(&round_code))
            .filter(assignment::Column::EnumeratorId.eq(enumerator))
            .filter(assignment::Column::CommuneCode.eq(&commune))
            .filter(assignment::Column::VillageCode.eq(&village))
            .one(&txn)
            .await?;
        let refs = households.map(|h| serde_json::to_string(&h).unwrap_or_else(|_| "[]".into()));
        let quantity = i32::try_from(quantity).unwrap_or(i32::MAX);
        let row = match existing {
            Some(e) => {
                let replaced = replacement.map(|r| {
                    let mut all = replacements_of(&e);
                    all.push(r.clone());
                    serde_json::to_string(&all).unwrap_or_else(|_| "[]".into())
                });
                let mut m: assignment::ActiveModel = e.into();
                if let Some(r) = replaced {
                    m.replaced_refs = Set(Some(r));
                }
                m.province_code = Set(province);
                m.district_code = Set(district);
                m.commune_code = Set(commune);
                m.household_refs = Set(refs);
                m.quantity = Set(quantity);
                m.created_by = Set(Some(me.id));
                m.updated_at = Set(now);
                m.update(&txn).await?
            }
            None => {
                assignment::ActiveModel {
                    round_code: Set(round_code.clone()),
                    enumerator_id: Set(enumerator),
                    province_code: Set(province),
                    district_code: Set(district),
                    commune_code: Set(commune),
                    village_code: Set(village),
                    household_refs: Set(refs),
                    quantity: Set(quantity),
                    created_by: Set(Some(me.id)),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
            }
        };
        crate::changes::record_in(
            &txn,
            sync_protocol::ChangeKind::AssignmentChanged,
            Some(&round_code),
            Some(row.enumerator_id),
            serde_json::to_value(wire(&row)).map_err(ApiError::internal)?,
        )
        .await?;
        let mut details = serde_json::to_value(wire(&row)).map_err(ApiError::internal)?;
        if let (Some(n), Some(d)) = (replacement, details.as_object_mut()) {
            d.insert(
                "replacement".into(),
                serde_json::to_value(n).map_err(ApiError::internal)?,
            );
        }
        audit::record(
            &txn,
            event::ASSIGNMENT_CHANGED,
            &Actor::user(me, ip.clone()),
            Some(format!("assignment:{}", row.id)),
            details,
        )
        .await?;
        stored.push(row);
    }
    txn.commit().await?;
    Ok(stored)
}

/// `POST /rounds/{round}/assignments/from-sample` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FromSampleRequest {
    /// The province whose active draw is assigned.
    pub province: String,
    /// Enumerators to share the sampled villages among, in turn (villages in commune, then
    /// village order); villages named in `villages` go to whom they name.
    #[serde(default)]
    pub enumerator_ids: Vec<i64>,
    /// Villages given to a named enumerator.
    #[serde(default)]
    pub villages: Vec<VillageChoice>,
}

/// One sampled village given to a named enumerator.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct VillageChoice {
    /// Commune code.
    pub commune: String,
    /// Village code as listed in the frame.
    pub village: String,
    /// The enumerator.
    pub enumerator_id: i64,
}

/// `POST /rounds/{round}/assignments/from-sample` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FromSampleResponse {
    /// The round.
    pub round: String,
    /// The draw the assignments come from.
    pub draw_id: i64,
    /// Assignments made now: one per sampled village, listing its drawn households (not the
    /// reserves), the quantity their number.
    pub created: Vec<AssignmentView>,
    /// Sampled villages already assigned (to anyone), left as they are: a second call changes
    /// nothing.
    pub kept: Vec<AssignmentView>,
}

/// A sampled village with its drawn (main) households, as [`plan_from_sample`] takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledVillagePlan {
    /// Commune code.
    pub commune: String,
    /// Village code as listed.
    pub village: String,
    /// Its drawn households in draw order, reserves excluded.
    pub households: Vec<String>,
}

/// Which enumerator gets each sampled village not assigned yet: the one `choices` names, else
/// the next of `enumerators` in turn (the turn advances only over villages given that way).
/// Villages in `assigned` (commune, village) are skipped. Errors: a choice naming a village that
/// is not in the sample, or villages left with nobody to give them to.
pub fn plan_from_sample(
    villages: &[SampledVillagePlan],
    assigned: &std::collections::HashSet<(String, String)>,
    choices: &[VillageChoice],
    enumerators: &[i64],
) -> Result<Vec<NewAssignment>, Vec<FieldError>> {
    let mut errors = Vec::new();
    for (i, c) in choices.iter().enumerate() {
        if !villages
            .iter()
            .any(|v| v.commune == c.commune && v.village == c.village)
        {
            errors.push(FieldError::new(
                format!("villages[{i}]"),
                "not_sampled",
                format!(
                    "Thôn '{}' của xã {} không có trong mẫu đã chọn.",
                    c.village, c.commune
                ),
                format!(
                    "Village '{}' of commune {} is not in the sample drawn.",
                    c.village, c.commune
                ),
            ));
        }
    }
    let mut out = Vec::new();
    let mut turn = 0usize;
    for v in villages {
        if assigned.contains(&(v.commune.clone(), v.village.clone())) {
            continue;
        }
        let chosen = choices
            .iter()
            .find(|c| c.commune == v.commune && c.village == v.village)
            .map(|c| c.enumerator_id);
        let enumerator = match chosen {
            Some(e) => e,
            None if enumerators.is_empty() => {
                errors.push(FieldError::new(
                    "enumerator_ids",
                    "required",
                    format!(
                        "Thôn '{}' (xã {}) chưa có người nhận: cần danh sách điều tra viên.",
                        v.village, v.commune
                    ),
                    format!(
                        "Village '{}' (commune {}) has nobody to go to: give enumerator_ids.",
                        v.village, v.commune
                    ),
                ));
                continue;
            }
            None => {
                let e = enumerators[turn % enumerators.len()];
                turn += 1;
                e
            }
        };
        out.push(NewAssignment {
            enumerator_id: enumerator,
            commune: v.commune.clone(),
            village: v.village.clone(),
            quantity: Some(v.households.len() as u32),
            household_refs: Some(v.households.clone()),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Assigns the province's drawn sample: one assignment per sampled village, listing its drawn
/// households (reserves stay with the supervisor), shared among the enumerators given. Villages
/// already assigned are kept as they are, so calling again changes nothing. Checked and stored
/// like `POST /rounds/{round}/assignments` (team, scope, all or nothing), and sent to the devices.
#[utoipa::path(post, path = "/rounds/{round}/assignments/from-sample", tag = "assignments", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), request_body = FromSampleRequest, security(("bearer" = [])),
    responses((status = OK, body = FromSampleResponse), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn assign_from_sample(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(round_code): ApiPath<String>,
    ApiJson(body): ApiJson<FromSampleRequest>,
) -> Result<Json<FromSampleResponse>, ApiError> {
    policy::can_review_forms(&me)?;
    let r = find_round(&state, &round_code).await?;
    policy::require_unit(&me, &r.geography_code, &body.province)?;
    let draw = crate::sampling::store::active_draw(&state.db, &round_code, &body.province)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_draw",
                format!(
                    "Tỉnh {} chưa có mẫu được chọn trong đợt này.",
                    body.province
                ),
                format!(
                    "Province {} has no sample drawn in this round.",
                    body.province
                ),
            )
        })?;
    let listing = crate::sampling::store::sampled_units(&state.db, draw.id).await?;
    let villages: Vec<SampledVillagePlan> = listing
        .villages
        .iter()
        .map(|v| SampledVillagePlan {
            commune: v.commune_code.clone(),
            village: v.village_code.clone(),
            households: listing
                .households
                .iter()
                .filter(|h| {
                    !h.reserve && h.commune_code == v.commune_code && h.village_key == v.village_key
                })
                .map(|h| h.household_ref.clone())
                .collect(),
        })
        .collect();
    let existing: Vec<assignment::Model> = assignment::Entity::find()
        .filter(assignment::Column::RoundCode.eq(&round_code))
        .filter(assignment::Column::Quantity.gt(0))
        .filter(
            assignment::Column::CommuneCode.is_in(
                villages
                    .iter()
                    .map(|v| v.commune.clone())
                    .collect::<Vec<_>>(),
            ),
        )
        .all(&state.db)
        .await?
        .into_iter()
        .filter(|a| {
            villages
                .iter()
                .any(|v| v.commune == a.commune_code && v.village == a.village_code)
        })
        .collect();
    let assigned = existing
        .iter()
        .map(|a| (a.commune_code.clone(), a.village_code.clone()))
        .collect();
    let plan = plan_from_sample(&villages, &assigned, &body.villages, &body.enumerator_ids)
        .map_err(ApiError::validation)?;
    let created = if plan.is_empty() {
        Vec::new()
    } else {
        store_assignments(
            &state,
            &me,
            ip,
            &r,
            &plan,
            &|i| format!("village {}/{}", plan[i].commune, plan[i].village),
            None,
        )
        .await?
    };
    let (names, _) = enumerators(
        &state,
        created.iter().chain(&existing).map(|a| a.enumerator_id),
    )
    .await?;
    Ok(Json(FromSampleResponse {
        round: round_code,
        draw_id: draw.id,
        created: created.iter().map(|a| view(a, &names)).collect(),
        kept: existing.iter().map(|a| view(a, &names)).collect(),
    }))
}

/// `POST /rounds/{round}/assignments/{id}/reserve` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    /// The listed household that cannot be interviewed (refused, moved, not found).
    pub replaces: String,
    /// Why, as the supervisor records it (kept in the audit).
    pub reason: String,
}

/// A household of an assignment replaced by a reserve.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Replacement {
    /// The household taken off the list.
    pub household: String,
    /// The reserve put in its place.
    pub reserve: String,
    /// Why, as recorded.
    pub reason: String,
}

/// `POST /rounds/{round}/assignments/{id}/reserve` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReserveResponse {
    /// The household taken off the list.
    pub replaced: String,
    /// The reserve household put in its place.
    pub reserve: String,
    /// The assignment as it now is.
    pub assignment: AssignmentView,
}

/// The reserve that replaces a household of a village: the first of `reserves` (the village's
/// reserves in the draw's order) that is not `taken` (listed by an assignment of the round, or
/// already the household of a form). `None` when every reserve is used.
pub fn next_reserve<'a>(
    reserves: &'a [String],
    taken: &std::collections::HashSet<&str>,
) -> Option<&'a String> {
    reserves.iter().find(|r| !taken.contains(r.as_str()))
}

/// Puts `reserve` in the place of `replaced` in an assignment's household list.
pub fn replace_household(list: &[String], replaced: &str, reserve: &str) -> Vec<String> {
    list.iter()
        .map(|h| {
            if h == replaced {
                reserve.to_owned()
            } else {
                h.clone()
            }
        })
        .collect()
}

fn conflict(code: &'static str, vi: String, en: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, vi, en)
}

/// Replaces a household of an assignment that cannot be interviewed with the village's next
/// reserve from the province's active draw, in the draw's order; a reserve listed by an
/// assignment of the round, handed out before or already interviewed is skipped. The assignment keeps its
/// quantity; the change reaches the enumerator's devices and is audited with the reason. 409
/// `household_has_form` when a form came from the household, `no_draw`, or `no_reserve_left`.
#[utoipa::path(post, path = "/rounds/{round}/assignments/{id}/reserve", tag = "assignments", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ("id" = i64, Path, description = "Assignment id")), request_body = ReserveRequest, security(("bearer" = [])),
    responses((status = OK, body = ReserveResponse), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, assignment = id))]
async fn release_reserve(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<ReserveRequest>,
) -> Result<Json<ReserveResponse>, ApiError> {
    use std::collections::HashSet;

    use crate::entities::{form, sample_household};
    policy::can_review_forms(&me)?;
    let r = find_round(&state, &round_code).await?;
    let not_found = || ApiError::not_found("phân công", "Assignment");
    let a = assignment::Entity::find_by_id(id)
        .filter(assignment::Column::RoundCode.eq(&round_code))
        .filter(assignment::Column::Quantity.gt(0))
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let (names, teams) = enumerators(&state, std::iter::once(a.enumerator_id)).await?;
    if !may_see(&me, &r.geography_code, &a, &teams) {
        return Err(not_found());
    }
    let replaced = body.replaces.trim().to_owned();
    let reason = body.reason.trim().to_owned();
    let mut errors = Vec::new();
    if reason.is_empty() {
        errors.push(FieldError::new(
            "reason",
            "required",
            "Cần ghi lý do (hộ từ chối, đã chuyển đi, không tìm thấy...).",
            "Give the reason (refused, moved away, not found...).",
        ));
    }
    text::check_field("reason", &reason, 500, &mut errors);
    let list = households_of(&a);
    if !list.contains(&replaced) {
        errors.push(FieldError::new(
            "replaces",
            "not_listed",
            format!("Hộ '{replaced}' không có trong danh sách của phân công này."),
            format!("Household '{replaced}' is not listed by this assignment."),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let village_key = indices::cluster_key(&a.village_code);
    let draw =
        crate::sampling::store::active_draw(&state.db, &round_code, &a.province_code).await?;
    // The village's reserves in the draw's order (read by the draw's key, not the whole draw).
    let reserves: Vec<String> = match &draw {
        Some(d) => {
            sample_household::Entity::find()
                .select_only()
                .column(sample_household::Column::HouseholdRef)
                .filter(sample_household::Column::DrawId.eq(d.id))
                .filter(sample_household::Column::CommuneCode.eq(&a.commune_code))
                .filter(sample_household::Column::VillageKey.eq(&village_key))
                .filter(sample_household::Column::Reserve.eq(true))
                .order_by_asc(sample_household::Column::Ord)
                .into_tuple()
                .all(&state.db)
                .await?
        }
        None => Vec::new(),
    };
    // Which of the refused household and the reserves forms came from (by the round's
    // household index, not the commune's forms).
    let asked: Vec<&str> = std::iter::once(replaced.as_str())
        .chain(reserves.iter().map(String::as_str))
        .collect();
    let interviewed: Vec<(String, String)> = form::Entity::find()
        .select_only()
        .column(form::Column::HouseholdRef)
        .column(form::Column::VillageCode)
        .filter(form::Column::RoundCode.eq(&round_code))
        .filter(form::Column::HouseholdRef.is_in(asked))
        .filter(form::Column::CommuneCode.eq(&a.commune_code))
        .into_tuple()
        .all(&state.db)
        .await?;
    let interviewed: HashSet<String> = interviewed
        .into_iter()
        .filter(|(_, v)| indices::cluster_key(v) == village_key)
        .map(|(h, _)| h)
        .collect();
    if interviewed.contains(&replaced) {
        return Err(conflict(
            "household_has_form",
            format!("Đã có phiếu của hộ '{replaced}': không thay bằng hộ dự phòng."),
            format!("A form came from household '{replaced}': it is not replaced."),
        ));
    }
    if draw.is_none() {
        return Err(conflict(
            "no_draw",
            format!("Tỉnh {} chưa có mẫu được chọn.", a.province_code),
            format!("Province {} has no sample drawn.", a.province_code),
        ));
    }
    let listed: Vec<assignment::Model> = assignment::Entity::find()
        .filter(assignment::Column::RoundCode.eq(&round_code))
        .filter(assignment::Column::CommuneCode.eq(&a.commune_code))
        .all(&state.db)
        .await?;
    // Listed now, or replaced before (the household that refused and the reserve given then):
    // a reserve is handed out once.
    let listed: Vec<String> = listed
        .iter()
        .filter(|x| indices::cluster_key(&x.village_code) == village_key)
        .flat_map(|x| {
            households_of(x).into_iter().chain(
                replacements_of(x)
                    .into_iter()
                    .flat_map(|r| [r.household, r.reserve]),
            )
        })
        .collect();
    let taken: HashSet<&str> = listed
        .iter()
        .chain(&interviewed)
        .map(String::as_str)
        .collect();
    let reserve = next_reserve(&reserves, &taken).cloned().ok_or_else(|| {
        conflict(
            "no_reserve_left",
            format!(
                "Thôn {} không còn hộ dự phòng ({} hộ dự phòng đã dùng).",
                a.village_code,
                reserves.len()
            ),
            format!(
                "Village {} has no reserve household left ({} used).",
                a.village_code,
                reserves.len()
            ),
        )
    })?;
    let change = NewAssignment {
        enumerator_id: a.enumerator_id,
        commune: a.commune_code.clone(),
        village: a.village_code.clone(),
        household_refs: Some(replace_household(&list, &replaced, &reserve)),
        quantity: Some(u32::try_from(a.quantity).unwrap_or(0)),
    };
    let note = Replacement {
        household: replaced.clone(),
        reserve: reserve.clone(),
        reason,
    };
    let stored = store_assignments(
        &state,
        &me,
        ip,
        &r,
        std::slice::from_ref(&change),
        &|_| "assignment".into(),
        Some(&note),
    )
    .await?;
    let row = stored
        .first()
        .ok_or_else(|| ApiError::internal("an assignment stored nothing"))?;
    Ok(Json(ReserveResponse {
        replaced,
        reserve,
        assignment: view(row, &names),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn village(commune: &str, village: &str, n: usize) -> SampledVillagePlan {
        SampledVillagePlan {
            commune: commune.into(),
            village: village.into(),
            households: (1..=n).map(|i| format!("{village}-{i}")).collect(),
        }
    }

    #[test]
    fn the_next_reserve_is_the_first_not_taken_in_draw_order() {
        let reserves: Vec<String> = ["R-9", "R-2", "R-5"].map(String::from).to_vec();
        let taken: HashSet<&str> = ["R-9", "A-1"].into_iter().collect();
        assert_eq!(
            next_reserve(&reserves, &taken).map(String::as_str),
            Some("R-2")
        );
        let all: HashSet<&str> = ["R-9", "R-2", "R-5"].into_iter().collect();
        assert_eq!(next_reserve(&reserves, &all), None);
        assert_eq!(next_reserve(&[], &HashSet::new()), None);
        let list: Vec<String> = ["A-1", "A-2", "A-3"].map(String::from).to_vec();
        assert_eq!(
            replace_household(&list, "A-2", "R-2"),
            ["A-1", "R-2", "A-3"].map(String::from).to_vec()
        );
    }

    #[test]
    fn sampled_villages_go_round_the_enumerators_with_their_households() {
        let vs = [
            village("c1", "A", 3),
            village("c1", "B", 2),
            village("c2", "C", 1),
        ];
        let plan = plan_from_sample(&vs, &HashSet::new(), &[], &[7, 8]).unwrap();
        let got: Vec<(i64, &str, Option<u32>)> = plan
            .iter()
            .map(|a| (a.enumerator_id, a.village.as_str(), a.quantity))
            .collect();
        assert_eq!(
            got,
            [(7, "A", Some(3)), (8, "B", Some(2)), (7, "C", Some(1))]
        );
        assert_eq!(
            plan[0].household_refs.as_deref(),
            Some(&["A-1".to_owned(), "A-2".into(), "A-3".into()][..])
        );
    }

    #[test]
    fn assigned_villages_are_kept_and_choices_win() {
        let vs = [
            village("c1", "A", 3),
            village("c1", "B", 2),
            village("c2", "C", 1),
        ];
        let assigned: HashSet<_> = [("c1".to_owned(), "A".to_owned())].into();
        let choice = VillageChoice {
            commune: "c2".into(),
            village: "C".into(),
            enumerator_id: 9,
        };
        let plan = plan_from_sample(&vs, &assigned, &[choice], &[7]).unwrap();
        let got: Vec<(i64, &str)> = plan
            .iter()
            .map(|a| (a.enumerator_id, a.village.as_str()))
            .collect();
        assert_eq!(got, [(7, "B"), (9, "C")]);
        // Everything assigned: nothing to do.
        let all: HashSet<_> = vs
            .iter()
            .map(|v| (v.commune.clone(), v.village.clone()))
            .collect();
        assert!(plan_from_sample(&vs, &all, &[], &[]).unwrap().is_empty());
    }

    #[test]
    fn a_choice_outside_the_sample_or_nobody_to_assign_is_an_error() {
        let vs = [village("c1", "A", 3)];
        let bad = VillageChoice {
            commune: "c1".into(),
            village: "Z".into(),
            enumerator_id: 9,
        };
        let e = plan_from_sample(&vs, &HashSet::new(), &[bad], &[7]).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].code, "not_sampled");
        let e = plan_from_sample(&vs, &HashSet::new(), &[], &[]).unwrap_err();
        assert_eq!(e[0].code, "required");
    }
}
