//! Targets and action plans of a province for a round: `/rounds/{round}/targets` and
//! `/rounds/{round}/plans` (tasks, progress notes, CSV import of a task table). The province
//! reviewer of the province writes them; the ministry reads every province's and may write too;
//! everyone else is refused. Every write is audited. Targets are answered with their evaluation
//! against the round's estimates, tasks with the change of their criteria (`?with=`), from the
//! same estimates as `/indices` and `/compare`.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use indices::{Estimates, difference};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::index_reports::{self, Ask, RoundInfo};
use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy, policy::Role},
    entities::{plan, plan_progress, plan_target, plan_task},
    error::{ApiError, ApiJson, ApiPath, ApiQuery, FieldError},
    plans::{self, TargetEvaluation, TaskChange, TaskInput},
    reports::{self, Combine, UnitLevel, UnitRef},
    routes::openapi::Failure,
    state::AppState,
    text::rfc3339,
};

/// Targets, plans, tasks and progress notes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_targets, create_target))
        .routes(routes!(update_target, delete_target))
        .routes(routes!(list_plans, create_plan))
        .routes(routes!(get_plan, update_plan, delete_plan))
        .routes(routes!(add_task))
        .routes(routes!(update_task, delete_task))
        .routes(routes!(add_progress))
        .routes(routes!(import_tasks))
}

// ---------------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------------

/// Who may read or write a province's targets and plans: the ministry, and the province reviewer
/// whose scope is the province (or inside it); every other role is refused.
fn can_manage(me: &AuthUser, geo: &str, province: &str) -> Result<(), ApiError> {
    match me.role {
        Role::Ministry => Ok(()),
        Role::ProvinceReviewer => policy::require_unit(me, geo, province),
        _ => Err(policy::forbidden()),
    }
}

/// The province `code` of the round's geography, or 400.
fn check_province(info: &RoundInfo, code: &str) -> Result<(), ApiError> {
    match info.geo.unit(code) {
        Some(u) if u.level == ::geography::Level::Province => Ok(()),
        _ => Err(ApiError::bad_request(
            "unknown_province",
            format!(
                "Không có tỉnh '{code}' trong {} của đợt này.",
                info.geo.code
            ),
            format!(
                "No province '{code}' in this round's geography {}.",
                info.geo.code
            ),
        )),
    }
}

/// The province a new target or plan is for: the one the body names, else the caller's own;
/// checked to be a province of the round's geography that the caller may manage.
fn managed_province(
    me: &AuthUser,
    info: &RoundInfo,
    given: Option<&str>,
) -> Result<String, ApiError> {
    let province = given
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .or_else(|| own_province(me, info))
        .ok_or_else(|| {
            ApiError::validation(vec![FieldError::new(
                "province",
                "required",
                "Thiếu mã tỉnh.",
                "The province is required.",
            )])
        })?;
    can_manage(me, info.geo.code, &province)?;
    check_province(info, &province)?;
    Ok(province)
}

/// The province of a non-ministry caller's scope (what a listing without `?province=` shows).
fn own_province(me: &AuthUser, info: &RoundInfo) -> Option<String> {
    let scope = me.scope.as_ref()?;
    if scope.geography != info.geo.code {
        return None;
    }
    info.geo
        .path(&scope.unit)
        .first()
        .filter(|u| u.level == ::geography::Level::Province)
        .map(|u| u.code.clone())
}

/// The provinces a listing covers: `?province=` (checked), or the caller's own; the ministry
/// without `?province=` sees every province (`None`).
fn listed_province(
    me: &AuthUser,
    info: &RoundInfo,
    given: Option<&str>,
) -> Result<Option<String>, ApiError> {
    match given.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => {
            can_manage(me, info.geo.code, p)?;
            check_province(info, p)?;
            Ok(Some(p.to_owned()))
        }
        None if me.role == Role::Ministry => Ok(None),
        None => {
            let p = own_province(me, info).ok_or_else(policy::out_of_scope)?;
            can_manage(me, info.geo.code, &p)?;
            Ok(Some(p))
        }
    }
}

/// Whether `key` names an index figure of the round's questionnaire.
fn known_key(info: &RoundInfo) -> impl Fn(&str) -> bool + '_ {
    move |key: &str| {
        let l = &info.definition.layout;
        match key.split_once('/') {
            Some(("overall", c)) => l.overall.as_deref() == Some(c),
            Some(("component", c)) => l.components.iter().any(|(x, _)| &**x == c),
            Some(("group", c)) => l.groups.iter().any(|(x, _)| &**x == c),
            Some(("item", c)) => l.items.iter().any(|i| &*i.address == c),
            _ => false,
        }
    }
}

fn not_found(what_vi: &str, what_en: &str) -> ApiError {
    ApiError::not_found(what_vi, what_en)
}

// ---------------------------------------------------------------------------------------------
// Estimates for evaluation
// ---------------------------------------------------------------------------------------------

/// A province's estimates this round, and (with `with`) the changes since that round — through
/// the index API's own calls.
async fn province_figures(
    state: &AppState,
    info: &RoundInfo,
    province: &str,
    with: Option<&str>,
) -> Result<(Estimates, Vec<indices::Change>), ApiError> {
    let data = index_reports::load_stats(state, info, Some(vec![province.to_owned()])).await?;
    let unit = data.unit(Some(province))?;
    let ask = Ask {
        unit,
        level: None,
        combine: Combine::Pooled,
    };
    match with {
        Some(w) => {
            let mut cmp =
                index_reports::compare_units(state, &data, &ask, Some(province), w).await?;
            let row = cmp
                .rows
                .pop()
                .ok_or_else(|| ApiError::internal("no compared unit"))?;
            let changes = difference(&row.current, &row.previous);
            Ok((row.current, changes))
        }
        None => {
            let est = reports::unit_estimates(
                &data.layout,
                &data.villages,
                &ask.unit,
                Combine::Pooled,
                &data.options(),
            )?;
            Ok((est, Vec::new()))
        }
    }
}

/// The targets and tasks of a report's unit (a province), evaluated against its estimates: used
/// by the report, so that it says what `/targets` and `/plans/{id}` say.
pub(crate) async fn evaluated_for_report(
    state: &AppState,
    info: &RoundInfo,
    unit: &UnitRef,
    current: &Estimates,
    changes: &[indices::Change],
) -> Result<(Vec<TargetEvaluation>, Vec<TaskChange>), ApiError> {
    if unit.level != UnitLevel::Province {
        return Ok((Vec::new(), Vec::new()));
    }
    let targets = plan_target::Entity::find()
        .filter(plan_target::Column::RoundCode.eq(info.round.code.clone()))
        .filter(plan_target::Column::ProvinceCode.eq(unit.code.clone()))
        .order_by_asc(plan_target::Column::Id)
        .all(&state.db)
        .await?;
    let evals = targets
        .iter()
        .map(|t| plans::evaluate_target(t.id, &t.figure_key, t.value, current))
        .collect();
    let plan_ids: Vec<i64> = plan::Entity::find()
        .filter(plan::Column::RoundCode.eq(info.round.code.clone()))
        .filter(plan::Column::ProvinceCode.eq(unit.code.clone()))
        .order_by_asc(plan::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut tasks = Vec::new();
    if !plan_ids.is_empty() {
        for t in plan_task::Entity::find()
            .filter(plan_task::Column::PlanId.is_in(plan_ids))
            .order_by_asc(plan_task::Column::PlanId)
            .order_by_asc(plan_task::Column::Position)
            .all(&state.db)
            .await?
        {
            tasks.push(TaskChange {
                id: t.id,
                content: t.content.clone(),
                lead_agency: t.lead_agency.clone(),
                status: t.status.clone(),
                criteria: plans::criteria_changes(&list_of(&t.criteria), changes),
            });
        }
    }
    Ok((evals, tasks))
}

fn list_of(json_text: &str) -> Vec<String> {
    serde_json::from_str(json_text).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------

/// `?province=` of the listings.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ProvinceQuery {
    /// Province code; absent: the caller's own province (the ministry: every province).
    province: Option<String>,
}

/// A target as set.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TargetInput {
    /// Province code (creation only; a target stays with its province).
    #[serde(default)]
    pub province: Option<String>,
    /// The figure: `overall/sipas`, `component/<code>`, `group/<code>` or `item/<address>`.
    pub key: String,
    /// The value to reach (`>=`), percent.
    pub value: f64,
    /// A note (e.g. the plan's wording).
    #[serde(default)]
    pub note: Option<String>,
}

/// A target with its evaluation against the round's estimates.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    /// Id.
    pub id: i64,
    /// Round.
    pub round: String,
    /// Province.
    pub province: String,
    /// The figure.
    pub key: String,
    /// The value to reach (`>=`).
    pub value: f64,
    /// Note.
    pub note: Option<String>,
    /// Who changed it last.
    pub updated_by: String,
    /// When (RFC 3339).
    pub updated_at: Option<String>,
    /// `met`, `within_margin`, `not_met` or `no_data`, with the estimate and its interval.
    pub evaluation: TargetEvaluation,
}

/// The targets listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetList {
    /// Targets, by province then id.
    pub targets: Vec<TargetView>,
}

fn check_target(info: &RoundInfo, t: &TargetInput) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if !plans::is_target_key(&t.key) || !known_key(info)(&t.key) {
        errors.push(FieldError::new(
            "key",
            "unknown_criterion",
            format!("Không có tiêu chí '{}' trong bảng hỏi của đợt.", t.key),
            format!("No criterion '{}' in the round's questionnaire.", t.key),
        ));
    }
    if !(t.value.is_finite() && (0.0..=100.0).contains(&t.value)) {
        errors.push(FieldError::new(
            "value",
            "out_of_range",
            "Giá trị mục tiêu phải từ 0 đến 100.",
            "The target value must be between 0 and 100.",
        ));
    }
    if t.note.as_deref().is_some_and(|n| n.chars().count() > 4000) {
        errors.push(FieldError::new(
            "note",
            "too_long",
            "Ghi chú dài quá 4000 ký tự.",
            "The note is longer than 4000 characters.",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

async fn target_views(
    state: &AppState,
    info: &RoundInfo,
    rows: Vec<plan_target::Model>,
) -> Result<Vec<TargetView>, ApiError> {
    let mut by_province: HashMap<String, Estimates> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for t in rows {
        if !by_province.contains_key(&t.province_code) {
            let (est, _) = province_figures(state, info, &t.province_code, None).await?;
            by_province.insert(t.province_code.clone(), est);
        }
        let est = &by_province[&t.province_code];
        out.push(TargetView {
            evaluation: plans::evaluate_target(t.id, &t.figure_key, t.value, est),
            id: t.id,
            round: t.round_code,
            province: t.province_code,
            key: t.figure_key,
            value: t.value,
            note: t.note,
            updated_by: t.updated_by,
            updated_at: rfc3339(&t.updated_at),
        });
    }
    Ok(out)
}

/// A province's targets for the round, each evaluated against the round's estimates: `met`
/// (estimate ≥ value), `within_margin` (below, but the value is inside the 95% interval),
/// `not_met` (the interval's upper bound is below), `no_data` (withheld or no answers).
#[utoipa::path(get, path = "/rounds/{round}/targets", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ProvinceQuery),
    security(("bearer" = [])),
    responses((status = OK, body = TargetList), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn list_targets(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ProvinceQuery>,
) -> Result<Json<TargetList>, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let province = listed_province(&me, &info, q.province.as_deref())?;
    let mut find =
        plan_target::Entity::find().filter(plan_target::Column::RoundCode.eq(round_code.clone()));
    if let Some(p) = &province {
        find = find.filter(plan_target::Column::ProvinceCode.eq(p.clone()));
    }
    let rows = find
        .order_by_asc(plan_target::Column::ProvinceCode)
        .order_by_asc(plan_target::Column::Id)
        .all(&state.db)
        .await?;
    Ok(Json(TargetList {
        targets: target_views(&state, &info, rows).await?,
    }))
}

/// Sets a target for a province (`province` in the body).
#[utoipa::path(post, path = "/rounds/{round}/targets", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023")),
    request_body = TargetInput, security(("bearer" = [])),
    responses((status = CREATED, body = TargetView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn create_target(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(round_code): ApiPath<String>,
    ApiJson(body): ApiJson<TargetInput>,
) -> Result<(StatusCode, Json<TargetView>), ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let province = managed_province(&me, &info, body.province.as_deref())?;
    check_target(&info, &body)?;
    let txn = state.db.begin().await?;
    let row = plan_target::ActiveModel {
        round_code: Set(round_code.clone()),
        province_code: Set(province.clone()),
        figure_key: Set(body.key.clone()),
        value: Set(body.value),
        note: Set(body.note.clone()),
        updated_by: Set(me.username.clone()),
        updated_at: Set(OffsetDateTime::now_utc()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        event::TARGET_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("target:{}", row.id)),
        json!({ "action": "created", "round": round_code, "province": province, "key": row.figure_key, "value": row.value }),
    )
    .await?;
    txn.commit().await?;
    let view = target_views(&state, &info, vec![row]).await?.remove(0);
    Ok((StatusCode::CREATED, Json(view)))
}

async fn find_target(
    state: &AppState,
    me: &AuthUser,
    info: &RoundInfo,
    id: i64,
) -> Result<plan_target::Model, ApiError> {
    let row = plan_target::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|t| t.round_code == info.round.code)
        .ok_or_else(|| not_found("mục tiêu", "Target"))?;
    can_manage(me, info.geo.code, &row.province_code)?;
    Ok(row)
}

/// Changes a target's figure, value or note.
#[utoipa::path(put, path = "/rounds/{round}/targets/{id}", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Target id")),
    request_body = TargetInput, security(("bearer" = [])),
    responses((status = OK, body = TargetView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id))]
async fn update_target(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<TargetInput>,
) -> Result<Json<TargetView>, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let row = find_target(&state, &me, &info, id).await?;
    check_target(&info, &body)?;
    let txn = state.db.begin().await?;
    let mut am: plan_target::ActiveModel = row.into();
    am.figure_key = Set(body.key.clone());
    am.value = Set(body.value);
    am.note = Set(body.note.clone());
    am.updated_by = Set(me.username.clone());
    am.updated_at = Set(OffsetDateTime::now_utc());
    let row = am.update(&txn).await?;
    audit::record(
        &txn,
        event::TARGET_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("target:{id}")),
        json!({ "action": "updated", "key": row.figure_key, "value": row.value }),
    )
    .await?;
    txn.commit().await?;
    Ok(Json(
        target_views(&state, &info, vec![row]).await?.remove(0),
    ))
}

/// Deletes a target.
#[utoipa::path(delete, path = "/rounds/{round}/targets/{id}", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Target id")),
    security(("bearer" = [])),
    responses((status = NO_CONTENT, description = "Deleted."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id))]
async fn delete_target(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let row = find_target(&state, &me, &info, id).await?;
    let txn = state.db.begin().await?;
    plan_target::Entity::delete_by_id(row.id).exec(&txn).await?;
    audit::record(
        &txn,
        event::TARGET_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("target:{id}")),
        json!({ "action": "deleted", "key": row.figure_key, "value": row.value }),
    )
    .await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Plans and tasks
// ---------------------------------------------------------------------------------------------

/// A plan as created or renamed.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PlanInput {
    /// Province code (creation only).
    #[serde(default)]
    pub province: Option<String>,
    /// Title.
    pub title: String,
}

/// A progress note as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    /// Id.
    pub id: i64,
    /// Period (`2023-Q3`, `2023-H1`, `2023`).
    pub period: String,
    /// What was done.
    pub note: String,
    /// Who wrote it.
    pub recorded_by: String,
    /// When (RFC 3339).
    pub recorded_at: Option<String>,
}

/// A task as shown, with the change of its criteria when a comparison round is given.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    /// Id.
    pub id: i64,
    /// Order in the plan (1-based).
    pub position: i32,
    /// What is to be done.
    pub content: String,
    /// Lead agency.
    pub lead_agency: String,
    /// Cooperating agencies.
    pub cooperating_agencies: Vec<String>,
    /// Deadline as written.
    pub deadline: String,
    /// Linked criteria, each with its change (values absent without `?with=`).
    pub criteria: Vec<plans::CriterionChange>,
    /// Status.
    pub status: String,
    /// Progress notes by period.
    pub progress: Vec<ProgressView>,
}

/// A plan with its tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Id.
    pub id: i64,
    /// Round.
    pub round: String,
    /// Province.
    pub province: String,
    /// Title.
    pub title: String,
    /// Who changed it last.
    pub updated_by: String,
    /// When (RFC 3339).
    pub updated_at: Option<String>,
    /// The round compared with for the criteria's change, if any.
    pub with: Option<String>,
    /// Tasks in order.
    pub tasks: Vec<TaskView>,
}

/// Plans listed (without tasks).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    /// Plans, by province then id.
    pub plans: Vec<PlanSummary>,
}

/// A plan in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanSummary {
    /// Id.
    pub id: i64,
    /// Province.
    pub province: String,
    /// Title.
    pub title: String,
    /// Tasks.
    pub n_tasks: u64,
}

fn check_title(title: &str) -> Result<(), ApiError> {
    if title.trim().is_empty() || title.chars().count() > 1000 {
        return Err(ApiError::validation(vec![FieldError::new(
            "title",
            "required",
            "Cần tiêu đề kế hoạch (tối đa 1000 ký tự).",
            "A plan title is required (at most 1000 characters).",
        )]));
    }
    Ok(())
}

async fn find_plan(
    state: &AppState,
    me: &AuthUser,
    info: &RoundInfo,
    id: i64,
) -> Result<plan::Model, ApiError> {
    let row = plan::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|p| p.round_code == info.round.code)
        .ok_or_else(|| not_found("kế hoạch", "Plan"))?;
    can_manage(me, info.geo.code, &row.province_code)?;
    Ok(row)
}

async fn find_task(
    db: &impl ConnectionTrait,
    plan_id: i64,
    task_id: i64,
) -> Result<plan_task::Model, ApiError> {
    plan_task::Entity::find_by_id(task_id)
        .one(db)
        .await?
        .filter(|t| t.plan_id == plan_id)
        .ok_or_else(|| not_found("nhiệm vụ", "Task"))
}

async fn plan_view(
    state: &AppState,
    info: &RoundInfo,
    p: plan::Model,
    with: Option<&str>,
) -> Result<PlanView, ApiError> {
    let tasks = plan_task::Entity::find()
        .filter(plan_task::Column::PlanId.eq(p.id))
        .order_by_asc(plan_task::Column::Position)
        .order_by_asc(plan_task::Column::Id)
        .all(&state.db)
        .await?;
    let ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
    let mut notes: HashMap<i64, Vec<ProgressView>> = HashMap::new();
    if !ids.is_empty() {
        for n in plan_progress::Entity::find()
            .filter(plan_progress::Column::TaskId.is_in(ids))
            .order_by_asc(plan_progress::Column::Id)
            .all(&state.db)
            .await?
        {
            notes.entry(n.task_id).or_default().push(ProgressView {
                id: n.id,
                period: n.period,
                note: n.note,
                recorded_by: n.recorded_by,
                recorded_at: rfc3339(&n.recorded_at),
            });
        }
    }
    let changes = match with {
        Some(w) => {
            province_figures(state, info, &p.province_code, Some(w))
                .await?
                .1
        }
        None => Vec::new(),
    };
    Ok(PlanView {
        id: p.id,
        round: p.round_code,
        province: p.province_code,
        title: p.title,
        updated_by: p.updated_by,
        updated_at: rfc3339(&p.updated_at),
        with: with.map(str::to_owned),
        tasks: tasks
            .into_iter()
            .map(|t| TaskView {
                progress: notes.remove(&t.id).unwrap_or_default(),
                criteria: plans::criteria_changes(&list_of(&t.criteria), &changes),
                cooperating_agencies: list_of(&t.cooperating_agencies),
                id: t.id,
                position: t.position,
                content: t.content,
                lead_agency: t.lead_agency,
                deadline: t.deadline,
                status: t.status,
            })
            .collect(),
    })
}

/// A province's plans for the round.
#[utoipa::path(get, path = "/rounds/{round}/plans", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ProvinceQuery),
    security(("bearer" = [])),
    responses((status = OK, body = PlanList), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn list_plans(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ProvinceQuery>,
) -> Result<Json<PlanList>, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let province = listed_province(&me, &info, q.province.as_deref())?;
    let mut find = plan::Entity::find().filter(plan::Column::RoundCode.eq(round_code.clone()));
    if let Some(p) = &province {
        find = find.filter(plan::Column::ProvinceCode.eq(p.clone()));
    }
    let rows = find
        .order_by_asc(plan::Column::ProvinceCode)
        .order_by_asc(plan::Column::Id)
        .all(&state.db)
        .await?;
    let mut plans_out = Vec::with_capacity(rows.len());
    for p in rows {
        let n_tasks = sea_orm::PaginatorTrait::count(
            plan_task::Entity::find().filter(plan_task::Column::PlanId.eq(p.id)),
            &state.db,
        )
        .await?;
        plans_out.push(PlanSummary {
            id: p.id,
            province: p.province_code,
            title: p.title,
            n_tasks,
        });
    }
    Ok(Json(PlanList { plans: plans_out }))
}

/// Creates a plan for a province (`province` in the body).
#[utoipa::path(post, path = "/rounds/{round}/plans", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023")),
    request_body = PlanInput, security(("bearer" = [])),
    responses((status = CREATED, body = PlanView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn create_plan(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(round_code): ApiPath<String>,
    ApiJson(body): ApiJson<PlanInput>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let province = managed_province(&me, &info, body.province.as_deref())?;
    check_title(&body.title)?;
    let txn = state.db.begin().await?;
    let row = plan::ActiveModel {
        round_code: Set(round_code.clone()),
        province_code: Set(province.clone()),
        title: Set(body.title.trim().to_owned()),
        updated_by: Set(me.username.clone()),
        updated_at: Set(OffsetDateTime::now_utc()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        event::PLAN_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("plan:{}", row.id)),
        json!({ "action": "created", "round": round_code, "province": province, "title": row.title }),
    )
    .await?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(plan_view(&state, &info, row, None).await?),
    ))
}

/// `?with=` of a plan.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WithQuery {
    /// A round to compare with: each task then shows the change of its criteria since it.
    with: Option<String>,
}

/// A plan with its tasks, their progress notes and (with `?with=`) the change of each task's
/// criteria since that round, from the same comparison as `/compare`.
#[utoipa::path(get, path = "/rounds/{round}/plans/{id}", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Plan id"), WithQuery),
    security(("bearer" = [])),
    responses((status = OK, body = PlanView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id))]
async fn get_plan(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
    ApiQuery(q): ApiQuery<WithQuery>,
) -> Result<Json<PlanView>, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let p = find_plan(&state, &me, &info, id).await?;
    let with = q.with.as_deref().map(str::trim).filter(|w| !w.is_empty());
    Ok(Json(plan_view(&state, &info, p, with).await?))
}

/// Renames a plan.
#[utoipa::path(put, path = "/rounds/{round}/plans/{id}", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Plan id")),
    request_body = PlanInput, security(("bearer" = [])),
    responses((status = OK, body = PlanView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id))]
async fn update_plan(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<PlanInput>,
) -> Result<Json<PlanView>, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let p = find_plan(&state, &me, &info, id).await?;
    check_title(&body.title)?;
    let txn = state.db.begin().await?;
    let mut am: plan::ActiveModel = p.into();
    am.title = Set(body.title.trim().to_owned());
    am.updated_by = Set(me.username.clone());
    am.updated_at = Set(OffsetDateTime::now_utc());
    let p = am.update(&txn).await?;
    audit::record(
        &txn,
        event::PLAN_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("plan:{id}")),
        json!({ "action": "renamed", "title": p.title }),
    )
    .await?;
    txn.commit().await?;
    Ok(Json(plan_view(&state, &info, p, None).await?))
}

/// Deletes a plan with its tasks and their progress notes.
#[utoipa::path(delete, path = "/rounds/{round}/plans/{id}", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Plan id")),
    security(("bearer" = [])),
    responses((status = NO_CONTENT, description = "Deleted."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id))]
async fn delete_plan(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let p = find_plan(&state, &me, &info, id).await?;
    let txn = state.db.begin().await?;
    // Children first: SQLite enforces no foreign key unless asked to.
    let task_ids: Vec<i64> = plan_task::Entity::find()
        .filter(plan_task::Column::PlanId.eq(p.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    if !task_ids.is_empty() {
        plan_progress::Entity::delete_many()
            .filter(plan_progress::Column::TaskId.is_in(task_ids))
            .exec(&txn)
            .await?;
    }
    plan_task::Entity::delete_many()
        .filter(plan_task::Column::PlanId.eq(p.id))
        .exec(&txn)
        .await?;
    plan::Entity::delete_by_id(p.id).exec(&txn).await?;
    audit::record(
        &txn,
        event::PLAN_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("plan:{id}")),
        json!({ "action": "deleted", "title": p.title }),
    )
    .await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn task_error(errors: Vec<FieldError>) -> ApiError {
    ApiError::validation(errors)
}

async fn insert_task(
    db: &impl ConnectionTrait,
    plan_id: i64,
    position: i32,
    t: &TaskInput,
    by: &str,
) -> Result<plan_task::Model, ApiError> {
    Ok(plan_task::ActiveModel {
        plan_id: Set(plan_id),
        position: Set(position),
        content: Set(t.content.trim().to_owned()),
        lead_agency: Set(t.lead_agency.trim().to_owned()),
        cooperating_agencies: Set(json!(t.cooperating_agencies).to_string()),
        deadline: Set(t.deadline.trim().to_owned()),
        criteria: Set(json!(t.criteria).to_string()),
        status: Set(t.status.clone().unwrap_or_else(|| "planned".to_owned())),
        updated_by: Set(by.to_owned()),
        updated_at: Set(OffsetDateTime::now_utc()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

async fn next_position(db: &impl ConnectionTrait, plan_id: i64) -> Result<i32, ApiError> {
    Ok(plan_task::Entity::find()
        .filter(plan_task::Column::PlanId.eq(plan_id))
        .order_by_desc(plan_task::Column::Position)
        .one(db)
        .await?
        .map_or(1, |t| t.position + 1))
}

/// Adds a task at the end of a plan.
#[utoipa::path(post, path = "/rounds/{round}/plans/{id}/tasks", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Plan id")),
    request_body = TaskInput, security(("bearer" = [])),
    responses((status = CREATED, body = PlanView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id))]
async fn add_task(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<TaskInput>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let p = find_plan(&state, &me, &info, id).await?;
    let errors = plans::check_task(&body, "", &known_key(&info));
    if !errors.is_empty() {
        return Err(task_error(errors));
    }
    let txn = state.db.begin().await?;
    let pos = next_position(&txn, p.id).await?;
    let t = insert_task(&txn, p.id, pos, &body, &me.username).await?;
    audit::record(
        &txn,
        event::PLAN_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("plan:{id}")),
        json!({ "action": "task_added", "task": t.id }),
    )
    .await?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(plan_view(&state, &info, p, None).await?),
    ))
}

/// Changes a task (every field as given).
#[utoipa::path(put, path = "/rounds/{round}/plans/{id}/tasks/{task_id}", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Plan id"), ("task_id" = i64, Path, description = "Task id")),
    request_body = TaskInput, security(("bearer" = [])),
    responses((status = OK, body = PlanView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id, task_id))]
async fn update_task(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id, task_id)): ApiPath<(String, i64, i64)>,
    ApiJson(body): ApiJson<TaskInput>,
) -> Result<Json<PlanView>, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let p = find_plan(&state, &me, &info, id).await?;
    let t = find_task(&state.db, p.id, task_id).await?;
    let errors = plans::check_task(&body, "", &known_key(&info));
    if !errors.is_empty() {
        return Err(task_error(errors));
    }
    let txn = state.db.begin().await?;
    let mut am: plan_task::ActiveModel = t.into();
    am.content = Set(body.content.trim().to_owned());
    am.lead_agency = Set(body.lead_agency.trim().to_owned());
    am.cooperating_agencies = Set(json!(body.cooperating_agencies).to_string());
    am.deadline = Set(body.deadline.trim().to_owned());
    am.criteria = Set(json!(body.criteria).to_string());
    if let Some(st) = &body.status {
        am.status = Set(st.clone());
    }
    am.updated_by = Set(me.username.clone());
    am.updated_at = Set(OffsetDateTime::now_utc());
    let t = am.update(&txn).await?;
    audit::record(
        &txn,
        event::PLAN_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("plan:{id}")),
        json!({ "action": "task_changed", "task": t.id, "status": t.status }),
    )
    .await?;
    txn.commit().await?;
    Ok(Json(plan_view(&state, &info, p, None).await?))
}

/// Deletes a task and its progress notes.
#[utoipa::path(delete, path = "/rounds/{round}/plans/{id}/tasks/{task_id}", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Plan id"), ("task_id" = i64, Path, description = "Task id")),
    security(("bearer" = [])),
    responses((status = NO_CONTENT, description = "Deleted."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id, task_id))]
async fn delete_task(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id, task_id)): ApiPath<(String, i64, i64)>,
) -> Result<StatusCode, ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let p = find_plan(&state, &me, &info, id).await?;
    let t = find_task(&state.db, p.id, task_id).await?;
    let txn = state.db.begin().await?;
    plan_progress::Entity::delete_many()
        .filter(plan_progress::Column::TaskId.eq(t.id))
        .exec(&txn)
        .await?;
    plan_task::Entity::delete_by_id(t.id).exec(&txn).await?;
    audit::record(
        &txn,
        event::PLAN_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("plan:{id}")),
        json!({ "action": "task_deleted", "task": t.id }),
    )
    .await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A progress note as written.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProgressInput {
    /// The period: `2023-Q1`…`2023-Q4`, `2023-H1`, `2023-H2` or `2023`.
    pub period: String,
    /// What was done.
    pub note: String,
}

/// Adds a progress note to a task for a period (quarter, half-year or year).
#[utoipa::path(post, path = "/rounds/{round}/plans/{id}/tasks/{task_id}/progress", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Plan id"), ("task_id" = i64, Path, description = "Task id")),
    request_body = ProgressInput, security(("bearer" = [])),
    responses((status = CREATED, body = PlanView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id, task_id))]
async fn add_progress(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id, task_id)): ApiPath<(String, i64, i64)>,
    ApiJson(body): ApiJson<ProgressInput>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let p = find_plan(&state, &me, &info, id).await?;
    let t = find_task(&state.db, p.id, task_id).await?;
    let mut errors = Vec::new();
    if !plans::is_period(&body.period) {
        errors.push(FieldError::new(
            "period",
            "bad_period",
            "Kỳ báo cáo phải là quý (2023-Q3), 6 tháng (2023-H1) hoặc năm (2023).",
            "The period must be a quarter (2023-Q3), a half-year (2023-H1) or a year (2023).",
        ));
    }
    if body.note.trim().is_empty() || body.note.chars().count() > 4000 {
        errors.push(FieldError::new(
            "note",
            "required",
            "Cần nội dung báo cáo (tối đa 4000 ký tự).",
            "A note is required (at most 4000 characters).",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let txn = state.db.begin().await?;
    let n = plan_progress::ActiveModel {
        task_id: Set(t.id),
        period: Set(body.period.clone()),
        note: Set(body.note.trim().to_owned()),
        recorded_by: Set(me.username.clone()),
        recorded_at: Set(OffsetDateTime::now_utc()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        event::PLAN_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("plan:{id}")),
        json!({ "action": "progress_added", "task": t.id, "note": n.id, "period": n.period }),
    )
    .await?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(plan_view(&state, &info, p, None).await?),
    ))
}

/// Imports a task table (CSV: `content,lead_agency,cooperating_agencies,deadline,criteria,status`,
/// agencies and criteria separated by `;`) at the end of a plan. All or nothing: with any bad
/// line nothing is stored and every error is answered with its line (`line N/column`).
#[utoipa::path(post, path = "/rounds/{round}/plans/{id}/tasks.csv", tag = "plans",
    params(("round" = String, Path, description = "Round code", example = "sipas-2023"), ("id" = i64, Path, description = "Plan id")),
    request_body(content = String, content_type = "text/csv", description = "content,lead_agency,cooperating_agencies,deadline,criteria,status"),
    security(("bearer" = [])),
    responses((status = CREATED, body = PlanView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, id))]
async fn import_tasks(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let info = index_reports::round_info(&state, &round_code).await?;
    let p = find_plan(&state, &me, &info, id).await?;
    let text = super::samples::csv_text(&headers, &body)?;
    let tasks = plans::parse_tasks_csv(&text, &known_key(&info)).map_err(task_error)?;
    let txn = state.db.begin().await?;
    let first = next_position(&txn, p.id).await?;
    for (i, t) in tasks.iter().enumerate() {
        insert_task(&txn, p.id, first + i as i32, t, &me.username).await?;
    }
    audit::record(
        &txn,
        event::PLAN_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("plan:{id}")),
        json!({ "action": "tasks_imported", "tasks": tasks.len() }),
    )
    .await?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(plan_view(&state, &info, p, None).await?),
    ))
}
