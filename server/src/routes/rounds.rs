//! Survey rounds.

use axum::{Json, extract::State, http::StatusCode};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    entities::{form, index_cluster_stat, quarantined_form, round},
    error::{ApiError, ApiJson, ApiPath, FieldError},
    registry,
    routes::openapi::Failure,
    state::AppState,
};

/// `/rounds...`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rounds, create_practice_round))
        .routes(routes!(get_round, delete_practice_round))
}

/// The questionnaire version a round uses.
#[derive(Debug, Serialize, ToSchema)]
struct RoundQuestionnaire {
    /// Code.
    code: String,
    /// Version.
    version: i32,
    /// SHA-256 of its canonical definition.
    content_hash: Option<String>,
}

/// A round as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
struct RoundView {
    /// `sipas-2025`.
    code: String,
    /// Survey year.
    year: i32,
    /// Title, Vietnamese.
    title_vi: String,
    /// Title, English.
    title_en: Option<String>,
    /// The questionnaire version new forms use.
    questionnaire: RoundQuestionnaire,
    /// Geography code.
    geography: String,
    /// Sampling levels, top first.
    sampling_levels: Vec<String>,
    /// Fewest forms behind a published figure.
    min_cell_size: i32,
    /// `open` or `closed`.
    status: String,
    /// A practice round (training, simulations): the ministry may delete it with its forms.
    practice: bool,
}

/// Every round.
#[derive(Debug, Serialize, ToSchema)]
struct RoundList {
    /// Newest year first.
    rounds: Vec<RoundView>,
}

async fn view(state: &AppState, r: round::Model) -> Result<RoundView, ApiError> {
    let q = registry::find(&state.db, &r.questionnaire_code, r.questionnaire_version).await?;
    Ok(RoundView {
        questionnaire: RoundQuestionnaire {
            code: r.questionnaire_code,
            version: r.questionnaire_version,
            content_hash: q.map(|q| q.content_hash),
        },
        sampling_levels: serde_json::from_str(&r.sampling_levels).unwrap_or_default(),
        code: r.code,
        year: r.year,
        title_vi: r.title_vi,
        title_en: r.title_en,
        geography: r.geography_code,
        min_cell_size: r.min_cell_size,
        status: r.status,
        practice: r.practice,
    })
}

/// Every round, newest year first.
#[utoipa::path(get, path = "/rounds", tag = "rounds", security(()),
    responses((status = OK, body = RoundList), Failure))]
#[tracing::instrument(skip_all)]
async fn list_rounds(State(state): State<AppState>) -> Result<Json<RoundList>, ApiError> {
    let rows = round::Entity::find()
        .order_by_desc(round::Column::Year)
        .order_by_asc(round::Column::Code)
        .all(&state.db)
        .await?;
    let mut rounds = Vec::with_capacity(rows.len());
    for r in rows {
        rounds.push(view(&state, r).await?);
    }
    Ok(Json(RoundList { rounds }))
}

/// One round.
#[utoipa::path(get, path = "/rounds/{code}", tag = "rounds",
    params(("code" = String, Path, description = "Round code", example = "sipas-2025")), security(()),
    responses((status = OK, body = RoundView), Failure))]
#[tracing::instrument(skip_all, fields(round = %code))]
async fn get_round(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<RoundView>, ApiError> {
    let r = round::Entity::find_by_id(code)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("đợt khảo sát", "Survey round"))?;
    Ok(Json(view(&state, r).await?))
}

/// A practice round to create: like `based_on` (year, questionnaire, geography, sampling levels,
/// minimum cell), under its own code.
#[derive(Debug, Deserialize, ToSchema)]
struct NewPracticeRound {
    /// Its code: 3–64 of a-z 0-9 and `-`, starting with a letter or digit.
    code: String,
    /// The round it copies.
    based_on: String,
    /// Title, Vietnamese (default: "Đợt thực hành …").
    #[serde(default)]
    title_vi: Option<String>,
    /// Title, English.
    #[serde(default)]
    title_en: Option<String>,
}

/// 409 `round_exists`.
fn round_exists(code: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "round_exists",
        format!("Đã có đợt {code}."),
        format!("Round {code} exists."),
    )
}

fn is_round_code(code: &str) -> bool {
    (3..=crate::text::max::ROUND).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !code.starts_with('-')
}

/// Creates a practice round (ministry): for training and for `sipas-sim`, so that made-up forms
/// never enter a real round. Open at once; devices learn it through pull. 409 if the code exists.
#[utoipa::path(post, path = "/rounds", tag = "rounds", request_body = NewPracticeRound,
    security(("bearer" = [])), responses((status = CREATED, body = RoundView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn create_practice_round(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewPracticeRound>,
) -> Result<(StatusCode, Json<RoundView>), ApiError> {
    policy::can_administer(&me)?;
    let mut errors = Vec::new();
    if !is_round_code(&body.code) {
        errors.push(FieldError::new(
            "code",
            "invalid_code",
            "Mã đợt gồm 3–64 ký tự a-z, 0-9 và '-'.",
            "A round code has 3–64 characters of a-z, 0-9 and '-'.",
        ));
    }
    for (field, text) in [("title_vi", &body.title_vi), ("title_en", &body.title_en)] {
        if let Some(t) = text {
            crate::text::check_field(field, t, crate::text::max::FULL_NAME, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if crate::text::has_control(&body.based_on) || body.based_on.len() > crate::text::max::ROUND {
        return Err(ApiError::not_found("đợt khảo sát", "Survey round"));
    }
    let base = round::Entity::find_by_id(body.based_on.clone())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("đợt khảo sát", "Survey round"))?;
    let txn = state.db.begin().await?;
    if round::Entity::find_by_id(body.code.clone())
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(round_exists(&body.code));
    }
    let row = round::ActiveModel {
        code: Set(body.code.clone()),
        year: Set(base.year),
        title_vi: Set(body
            .title_vi
            .unwrap_or_else(|| format!("Đợt thực hành {}", body.code))),
        title_en: Set(Some(
            body.title_en
                .unwrap_or_else(|| format!("Practice round {}", body.code)),
        )),
        questionnaire_code: Set(base.questionnaire_code.clone()),
        questionnaire_version: Set(base.questionnaire_version),
        geography_code: Set(base.geography_code.clone()),
        sampling_levels: Set(base.sampling_levels.clone()),
        min_cell_size: Set(base.min_cell_size),
        status: Set("open".to_owned()),
        created_at: Set(OffsetDateTime::now_utc()),
        practice: Set(true),
        counted_states: Set(base.counted_states.clone()),
    };
    // A concurrent create of the same code fails on the primary key: answered as the check above.
    if let Err(e) = round::Entity::insert(row).exec(&txn).await {
        tracing::info!(error = %e, "practice round insert failed");
        return Err(round_exists(&body.code));
    }
    crate::changes::record(
        &txn,
        sync_protocol::ChangeKind::RoundChanged,
        Some(&body.code),
        None,
        serde_json::json!({ "round": body.code, "status": "open", "practice": true }),
    )
    .await?;
    audit::record(
        &txn,
        event::ROUND_CREATED,
        &Actor::user(&me, ip),
        Some(format!("round:{}", body.code)),
        serde_json::json!({ "based_on": base.code }),
    )
    .await?;
    txn.commit().await?;
    let created = round::Entity::find_by_id(body.code)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::internal("a created round is missing"))?;
    Ok((StatusCode::CREATED, Json(view(&state, created).await?)))
}

/// Deletes a practice round (ministry) with its forms, quarantined payloads and statistics, in
/// one transaction; devices learn through pull that it is closed. A real round cannot be deleted
/// (409 `not_a_practice_round`).
#[utoipa::path(delete, path = "/rounds/{code}", tag = "rounds",
    params(("code" = String, Path, description = "Round code", example = "practice-1")),
    security(("bearer" = [])),
    responses((status = NO_CONTENT, description = "Deleted with everything collected in it."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %code))]
async fn delete_practice_round(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(code): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    policy::can_administer(&me)?;
    let txn = state.db.begin().await?;
    let r = round::Entity::find_by_id(code.clone())
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("đợt khảo sát", "Survey round"))?;
    if !r.practice {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_practice_round",
            format!("Đợt {code} là đợt khảo sát thật, không xoá được."),
            format!("Round {code} is a real survey round and cannot be deleted."),
        ));
    }
    let forms = form::Entity::delete_many()
        .filter(form::Column::RoundCode.eq(&code))
        .exec(&txn)
        .await?
        .rows_affected;
    let quarantined = quarantined_form::Entity::delete_many()
        .filter(quarantined_form::Column::RoundCode.eq(&code))
        .exec(&txn)
        .await?
        .rows_affected;
    crate::entities::form_signal::Entity::delete_many()
        .filter(crate::entities::form_signal::Column::RoundCode.eq(&code))
        .exec(&txn)
        .await?;
    index_cluster_stat::Entity::delete_many()
        .filter(index_cluster_stat::Column::RoundCode.eq(&code))
        .exec(&txn)
        .await?;
    delete_sample(&txn, &code).await?;
    crate::entities::form_review::Entity::delete_many()
        .filter(crate::entities::form_review::Column::RoundCode.eq(&code))
        .exec(&txn)
        .await?;
    crate::entities::assignment::Entity::delete_many()
        .filter(crate::entities::assignment::Column::RoundCode.eq(&code))
        .exec(&txn)
        .await?;
    crate::entities::round_quality_setting::Entity::delete_by_id(code.clone())
        .exec(&txn)
        .await?;
    delete_plans(&txn, &code).await?;
    round::Entity::delete_by_id(code.clone()).exec(&txn).await?;
    crate::changes::record(
        &txn,
        sync_protocol::ChangeKind::RoundChanged,
        Some(&code),
        None,
        serde_json::json!({ "round": code, "status": "closed", "deleted": true }),
    )
    .await?;
    audit::record(
        &txn,
        event::ROUND_DELETED,
        &Actor::user(&me, ip),
        Some(format!("round:{code}")),
        serde_json::json!({ "forms": forms, "quarantined": quarantined }),
    )
    .await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a round's targets and action plans (tasks and their progress notes first).
async fn delete_plans(txn: &sea_orm::DatabaseTransaction, code: &str) -> Result<(), ApiError> {
    use sea_orm::{QuerySelect, QueryTrait};

    use crate::entities::{plan, plan_progress, plan_target, plan_task};
    let plans = plan::Entity::find()
        .select_only()
        .column(plan::Column::Id)
        .filter(plan::Column::RoundCode.eq(code))
        .into_query();
    let tasks = plan_task::Entity::find()
        .select_only()
        .column(plan_task::Column::Id)
        .filter(plan_task::Column::PlanId.in_subquery(plans.clone()))
        .into_query();
    plan_progress::Entity::delete_many()
        .filter(plan_progress::Column::TaskId.in_subquery(tasks))
        .exec(txn)
        .await?;
    plan_task::Entity::delete_many()
        .filter(plan_task::Column::PlanId.in_subquery(plans))
        .exec(txn)
        .await?;
    plan::Entity::delete_many()
        .filter(plan::Column::RoundCode.eq(code))
        .exec(txn)
        .await?;
    plan_target::Entity::delete_many()
        .filter(plan_target::Column::RoundCode.eq(code))
        .exec(txn)
        .await?;
    Ok(())
}

/// Deletes a round's sampling data (design, frames, draws), children first.
async fn delete_sample(txn: &sea_orm::DatabaseTransaction, code: &str) -> Result<(), ApiError> {
    use crate::entities::{
        frame, frame_household, frame_village, round_design, sample_draw, sample_household,
        sample_unit,
    };
    let draws: Vec<i64> = sample_draw::Entity::find()
        .filter(sample_draw::Column::RoundCode.eq(code))
        .all(txn)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    for chunk in draws.chunks(500) {
        sample_household::Entity::delete_many()
            .filter(sample_household::Column::DrawId.is_in(chunk.to_vec()))
            .exec(txn)
            .await?;
        sample_unit::Entity::delete_many()
            .filter(sample_unit::Column::DrawId.is_in(chunk.to_vec()))
            .exec(txn)
            .await?;
    }
    sample_draw::Entity::delete_many()
        .filter(sample_draw::Column::RoundCode.eq(code))
        .exec(txn)
        .await?;
    frame_household::Entity::delete_many()
        .filter(frame_household::Column::RoundCode.eq(code))
        .exec(txn)
        .await?;
    frame_village::Entity::delete_many()
        .filter(frame_village::Column::RoundCode.eq(code))
        .exec(txn)
        .await?;
    frame::Entity::delete_many()
        .filter(frame::Column::RoundCode.eq(code))
        .exec(txn)
        .await?;
    round_design::Entity::delete_by_id(code.to_owned())
        .exec(txn)
        .await?;
    Ok(())
}
