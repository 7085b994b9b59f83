//! Survey rounds.

use axum::{Json, Router, extract::State, routing::get};
use sea_orm::{EntityTrait, QueryOrder};
use serde::Serialize;

use crate::{
    entities::round,
    error::{ApiError, ApiPath},
    registry,
    state::AppState,
};

/// `/rounds...`
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rounds", get(list_rounds))
        .route("/rounds/{code}", get(get_round))
}

/// The questionnaire version a round uses.
#[derive(Debug, Serialize)]
struct RoundQuestionnaire {
    code: String,
    version: i32,
    content_hash: Option<String>,
}

/// A round as the API shows it.
#[derive(Debug, Serialize)]
struct RoundView {
    code: String,
    year: i32,
    title_vi: String,
    title_en: Option<String>,
    questionnaire: RoundQuestionnaire,
    geography: String,
    sampling_levels: Vec<String>,
    min_cell_size: i32,
    status: String,
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
    })
}

/// Every round, newest year first.
#[tracing::instrument(skip_all)]
async fn list_rounds(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = round::Entity::find()
        .order_by_desc(round::Column::Year)
        .order_by_asc(round::Column::Code)
        .all(&state.db)
        .await?;
    let mut rounds = Vec::with_capacity(rows.len());
    for r in rows {
        rounds.push(view(&state, r).await?);
    }
    Ok(Json(serde_json::json!({ "rounds": rounds })))
}

/// One round.
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
