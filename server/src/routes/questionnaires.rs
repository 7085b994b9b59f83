//! The questionnaire registry: list, read a version, publish a version.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    error::{ApiError, ApiJson, ApiPath},
    registry::{self, PublishOutcome, VersionSummary},
    routes::openapi::Failure,
    state::AppState,
};

/// `/questionnaires...`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_questionnaires, publish_questionnaire))
        .routes(routes!(get_questionnaire_version))
        .routes(routes!(close_questionnaire_version))
}

/// A questionnaire with its versions.
#[derive(Serialize, ToSchema)]
struct QuestionnaireListing {
    /// Questionnaire code.
    code: String,
    /// Title of its latest version, Vietnamese.
    title_vi: String,
    /// Title of its latest version, English.
    #[serde(skip_serializing_if = "Option::is_none")]
    title_en: Option<String>,
    /// Its highest version.
    latest_version: i32,
    /// Every version, oldest first.
    versions: Vec<VersionSummary>,
}

/// Every questionnaire.
#[derive(Serialize, ToSchema)]
struct QuestionnaireList {
    /// By code.
    questionnaires: Vec<QuestionnaireListing>,
}

/// Every questionnaire with its versions, statuses and content hashes.
#[utoipa::path(get, path = "/questionnaires", tag = "questionnaires", security(()),
    responses((status = OK, body = QuestionnaireList), Failure))]
#[tracing::instrument(skip_all)]
async fn list_questionnaires(
    State(state): State<AppState>,
) -> Result<Json<QuestionnaireList>, ApiError> {
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
    Ok(Json(QuestionnaireList {
        questionnaires: list,
    }))
}

/// A version with its full definition.
#[derive(Serialize, ToSchema)]
struct VersionDetail {
    #[serde(flatten)]
    summary: VersionSummary,
    /// The questionnaire as data: sections, questions, rules and index definitions (the `schema`
    /// crate's `Questionnaire`).
    #[schema(value_type = Object)]
    definition: Value,
}

/// The full definition of one version; `ETag` is its content hash.
#[utoipa::path(get, path = "/questionnaires/{code}/versions/{version}", tag = "questionnaires",
    params(("code" = String, Path, description = "Questionnaire code", example = "sipas"),
           ("version" = i32, Path, description = "Version number", example = 1)),
    security(()), responses((status = OK, body = VersionDetail), Failure))]
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
#[utoipa::path(post, path = "/questionnaires", tag = "questionnaires",
    request_body(content = Object, description = "A questionnaire definition (the `schema` crate's `Questionnaire`)."),
    security(("bearer" = [])),
    responses((status = CREATED, body = VersionSummary, description = "Published now."),
              (status = OK, body = VersionSummary, description = "Identical to the published version."),
              Failure))]
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
#[utoipa::path(post, path = "/questionnaires/{code}/versions/{version}/close", tag = "questionnaires",
    params(("code" = String, Path, description = "Questionnaire code", example = "sipas"),
           ("version" = i32, Path, description = "Version number", example = 1)),
    security(("bearer" = [])), responses((status = OK, body = VersionSummary), Failure))]
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
