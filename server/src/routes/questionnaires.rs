//! The questionnaire registry: list, read a version, publish a version.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use serde_json::Value;

use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    error::{ApiError, ApiJson, ApiPath},
    registry::{self, PublishOutcome, VersionSummary},
    state::AppState,
};

/// `/questionnaires...`
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/questionnaires",
            get(list_questionnaires).post(publish_questionnaire),
        )
        .route(
            "/questionnaires/{code}/versions/{version}",
            get(get_questionnaire_version),
        )
        .route(
            "/questionnaires/{code}/versions/{version}/close",
            axum::routing::post(close_questionnaire_version),
        )
}

/// A questionnaire with its versions.
#[derive(Serialize)]
struct QuestionnaireListing {
    code: String,
    title_vi: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title_en: Option<String>,
    latest_version: i32,
    versions: Vec<VersionSummary>,
}

/// Every questionnaire with its versions, statuses and content hashes.
#[tracing::instrument(skip_all)]
async fn list_questionnaires(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows = registry::list(&state.db).await?;
    let mut by_code: BTreeMap<String, Vec<VersionSummary>> = BTreeMap::new();
    for r in &rows {
        by_code
            .entry(r.code.clone())
            .or_default()
            .push(VersionSummary::from(r));
    }
    let list: Vec<QuestionnaireListing> = by_code
        .into_iter()
        .filter_map(|(code, versions)| {
            let latest = versions.last()?.clone();
            Some(QuestionnaireListing {
                code,
                title_vi: latest.title_vi,
                title_en: latest.title_en,
                latest_version: latest.version,
                versions,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "questionnaires": list })))
}

/// A version with its full definition.
#[derive(Serialize)]
struct VersionDetail {
    #[serde(flatten)]
    summary: VersionSummary,
    definition: Value,
}

/// The full definition of one version; `ETag` is its content hash.
#[tracing::instrument(skip_all, fields(code = %code, version = %version))]
async fn get_questionnaire_version(
    State(state): State<AppState>,
    ApiPath((code, version)): ApiPath<(String, i32)>,
) -> Result<Response, ApiError> {
    let row = registry::find(&state.db, &code, version)
        .await?
        .ok_or_else(|| ApiError::not_found("phiên bản bảng hỏi", "Questionnaire version"))?;
    let definition: Value = serde_json::from_str(&row.definition).map_err(ApiError::internal)?;
    let etag = format!("\"{}\"", row.content_hash);
    let body = VersionDetail {
        summary: VersionSummary::from(&row),
        definition,
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    Ok((headers, Json(body)).into_response())
}

/// Publishes a version (ministry only): 201 when new, 200 when identical to what is published, 409
/// when the same version exists with other content, 422 when the definition is inconsistent.
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn publish_questionnaire(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    policy::can_publish_questionnaire(&me)?;
    let q: schema::Questionnaire =
        serde_json::from_value(body).map_err(|e| registry::PublishError::Invalid(e.to_string()))?;
    let (status, summary) = match registry::publish(&state.db, &q, &me.username).await? {
        PublishOutcome::Created(s) => {
            tracing::info!(code = %s.code, version = s.version, "questionnaire published");
            audit::record(
                &state.db,
                event::QUESTIONNAIRE_PUBLISHED,
                &Actor::user(&me, ip),
                Some(format!("questionnaire:{}/{}", s.code, s.version)),
                serde_json::json!({ "content_hash": s.content_hash }),
            )
            .await?;
            (StatusCode::CREATED, s)
        }
        PublishOutcome::Unchanged(s) => (StatusCode::OK, s),
    };
    let location = format!(
        "/api/v1/questionnaires/{}/versions/{}",
        summary.code, summary.version
    );
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    Ok((status, headers, Json(summary)).into_response())
}

/// Closes a version to new forms (ministry only). Devices learn it through pull; forms filled on
/// it and pushed later are answered `questionnaire_closed` and kept in quarantine.
#[tracing::instrument(skip_all, fields(user = %me.username, code = %code, version = %version))]
async fn close_questionnaire_version(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((code, version)): ApiPath<(String, i32)>,
) -> Result<Json<VersionSummary>, ApiError> {
    policy::can_publish_questionnaire(&me)?;
    let summary = registry::close(&state.db, &code, version)
        .await?
        .ok_or_else(|| ApiError::not_found("phiên bản bảng hỏi", "Questionnaire version"))?;
    audit::record(
        &state.db,
        event::QUESTIONNAIRE_CLOSED,
        &Actor::user(&me, ip),
        Some(format!("questionnaire:{code}/{version}")),
        serde_json::json!({}),
    )
    .await?;
    Ok(Json(summary))
}
