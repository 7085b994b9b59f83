//! Exports for analysts (see [`crate::exports`]): a round's forms as CSV, JSON Lines, XLSX or a
//! zip with codebook and scripts, its codebook alone, and the quarantine (the ministry only).
//! Every export is streamed, carries a weak `ETag` (an unchanged export is answered 304 to
//! `If-None-Match`) and a `Sipas-Export-Next-Since` for the next incremental pull. At most
//! `export_concurrency` exports stream at once (a few more wait for a turn; the rest get 503
//! `busy` with `Retry-After`).

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiPath, ApiQuery},
    exports::{self, About, FormsExportQuery, Prepared, QuarantineExportQuery, format},
    routes::openapi::Failure,
    state::AppState,
};

/// `/rounds/{round}/exports/forms`, `/rounds/{round}/exports/forms/codebook`,
/// `/exports/quarantine`
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(export_forms))
        .routes(utoipa_axum::routes!(export_codebook))
        .routes(utoipa_axum::routes!(export_quarantine))
}

/// The header carrying the `since` of the next incremental pull.
pub const NEXT_SINCE_HEADER: &str = "sipas-export-next-since";

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag.trim_start_matches("W/"))
}

/// A turn at the export gate (`state.export_gate`), or 503 `busy` with `Retry-After`: a turn is
/// held until the export's stream ends (done, failed, or its client gone).
async fn turn(state: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    state
        .export_gate
        .enter()
        .await
        .map_err(|_| state.export_gate.busy())
}

fn streamed(
    state: &AppState,
    headers: &HeaderMap,
    prepared: Prepared,
    turn: OwnedSemaphorePermit,
) -> Response {
    let etag = HeaderValue::from_str(&prepared.etag).ok();
    let next = HeaderValue::from_str(&prepared.about.next_since).ok();
    if not_modified(headers, &prepared.etag) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Some(e) = etag {
            r.headers_mut().insert(header::ETAG, e);
        }
        return r;
    }
    let content_type = prepared.about.format.content_type();
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", prepared.file_name)).ok();
    let rx = exports::spawn(state.db.clone(), prepared, Some(turn));
    // An error item aborts the response (no last chunk), so a client never takes a cut
    // export for a whole one.
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Some(e) = etag {
        h.insert(header::ETAG, e);
    }
    if let Some(d) = disposition {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    if let Some(n) = next {
        h.insert(NEXT_SINCE_HEADER, n);
    }
    r
}

/// The round's forms the caller may read, in the wide layout, streamed in the format asked.
#[utoipa::path(get, path = "/rounds/{round}/exports/forms", tag = "exports", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), FormsExportQuery), security(("bearer" = [])),
    responses((status = OK, description = "The forms, one row each, streamed in the format asked for.", content((String = "text/csv"), (String = "application/jsonl"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Vec<u8> = "application/zip"))),
              (status = NOT_MODIFIED, description = "Unchanged since the `ETag` sent in `If-None-Match`."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn export_forms(
    State(state): State<AppState>,
    me: AuthUser,
    headers: HeaderMap,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<FormsExportQuery>,
) -> Result<Response, ApiError> {
    let turn = turn(&state).await?;
    let prepared =
        exports::prepare_forms(&state.db, &state.definitions, &me, &round_code, &q).await?;
    Ok(streamed(&state, &headers, prepared, turn))
}

/// The query of the codebook alone.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CodebookQuery {
    /// `csv` (default) or `json`.
    pub format: Option<CodebookFormat>,
    /// The filters of the export the codebook describes (as for the forms).
    #[serde(flatten)]
    pub export: CodebookFilters,
}

/// Filters of [`CodebookQuery`] (those of [`FormsExportQuery`] but its format).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CodebookFilters {
    /// Unit filter.
    pub unit: Option<String>,
    /// Status filter.
    pub status: Option<String>,
    /// Incremental pull.
    pub since: Option<String>,
    /// Language of the scripts' labels.
    pub lang: Option<String>,
}

/// The formats of the codebook alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CodebookFormat {
    /// The codebook table as CSV.
    Csv,
    /// The codebook and the export's description as JSON.
    Json,
}

/// A value label in the JSON codebook.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodebookValue {
    /// The number in the cell.
    pub value: i64,
    /// Vietnamese label.
    pub label_vi: String,
    /// English label.
    pub label_en: Option<String>,
    /// A special answer (missing for analysis).
    pub missing: bool,
}

/// A column in the JSON codebook.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodebookColumn {
    /// Its name.
    pub name: String,
    /// Its kind (`text`, `integer`, `number`, `coded`, `binary`, `date`, `datetime`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The question it comes from.
    pub question: Option<String>,
    /// Vietnamese label.
    pub label_vi: String,
    /// English label.
    pub label_en: Option<String>,
    /// Value labels.
    pub values: Vec<CodebookValue>,
}

/// The JSON codebook.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Codebook {
    /// What the export is.
    #[schema(value_type = Object)]
    pub about: About,
    /// Its columns.
    pub columns: Vec<CodebookColumn>,
}

/// The codebook of the export the same filters would give (columns, labels in both languages,
/// questionnaire versions and hashes, filters and time), without the forms.
#[utoipa::path(get, path = "/rounds/{round}/exports/forms/codebook", tag = "exports",
    params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ("format" = Option<String>, Query, description = "`csv` (default) or `json`"),
           ("unit" = Option<String>, Query, description = "Unit filter"), ("status" = Option<String>, Query, description = "Status filter"),
           ("since" = Option<String>, Query, description = "Incremental pull (RFC 3339)"), ("lang" = Option<String>, Query, description = "`vi` or `en`")),
    security(("bearer" = [])), responses((status = OK, description = "Every column with its question text and value labels.", content((String = "text/csv"), (Codebook = "application/json"))), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn export_codebook(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<CodebookQuery>,
) -> Result<Response, ApiError> {
    let fq = FormsExportQuery {
        format: None,
        unit: q.export.unit,
        status: q.export.status,
        since: q.export.since,
        lang: q.export.lang,
    };
    let p = exports::prepare_forms(&state.db, &state.definitions, &me, &round_code, &fq).await?;
    match q.format.unwrap_or(CodebookFormat::Csv) {
        CodebookFormat::Csv => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            format::codebook_csv(&p.layout),
        )
            .into_response()),
        CodebookFormat::Json => {
            let columns = p
                .layout
                .columns
                .iter()
                .map(|c| CodebookColumn {
                    name: c.name.clone(),
                    kind: c.kind.as_str().to_owned(),
                    question: c.question.clone(),
                    label_vi: c.label.vi.clone(),
                    label_en: c.label.en.clone(),
                    values: c
                        .values
                        .iter()
                        .map(|v| CodebookValue {
                            value: v.value,
                            label_vi: v.label.vi.clone(),
                            label_en: v.label.en.clone(),
                            missing: v.missing,
                        })
                        .collect(),
                })
                .collect();
            Ok(crate::error::ApiJson(Codebook {
                about: p.about,
                columns,
            })
            .into_response())
        }
    }
}

/// The quarantined payloads (the ministry only), each with its reason and problems.
#[utoipa::path(get, path = "/exports/quarantine", tag = "exports", params(QuarantineExportQuery), security(("bearer" = [])),
    responses((status = OK, description = "The quarantined payloads with their reasons, streamed.", content((String = "text/csv"), (String = "application/jsonl"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Vec<u8> = "application/zip"))),
              (status = NOT_MODIFIED, description = "Unchanged since the `ETag` sent."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn export_quarantine(
    State(state): State<AppState>,
    me: AuthUser,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<QuarantineExportQuery>,
) -> Result<Response, ApiError> {
    let turn = turn(&state).await?;
    let prepared = exports::prepare_quarantine(&state.db, &me, &q).await?;
    Ok(streamed(&state, &headers, prepared, turn))
}
