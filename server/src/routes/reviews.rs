//! Review of forms: approve or reject one form, or many in one call (each answered on its own),
//! a form's history, and which statuses a round counts in its indices. The rules are
//! [`crate::review::decide`]; this module reads, calls and answers.

use axum::{Json, extract::State};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    entities::{form, form_review, round},
    error::{ApiError, ApiJson, ApiPath},
    review::{self, Action, Counted, Request},
    routes::openapi::Failure,
    state::AppState,
    text::rfc3339,
};

/// Most forms one bulk review may name.
pub const MAX_BULK_FORMS: usize = 500;

/// `/forms/{id}/review`, `/forms/{id}/history`, `/rounds/{round}/reviews`,
/// `/rounds/{round}/counting`
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(review_form))
        .routes(utoipa_axum::routes!(form_history))
        .routes(utoipa_axum::routes!(review_forms))
        .routes(utoipa_axum::routes!(set_counting))
}

/// `POST /forms/{id}/review` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewRequest {
    /// `approve` or `reject`.
    pub action: Action,
    /// The revision the reviewer read: a form changed since is answered 409.
    pub revision: u32,
    /// Why it is sent back (required to reject).
    #[serde(default)]
    pub comment: Option<String>,
}

/// What a review did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewResponse {
    /// The form.
    pub id: Uuid,
    /// Status before.
    pub from: review::Status,
    /// Status now.
    pub status: review::Status,
    /// The form's revision.
    pub revision: u32,
}

/// One form of a bulk review.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BulkItem {
    /// The form.
    pub id: Uuid,
    /// The revision the reviewer read.
    pub revision: u32,
}

/// `POST /rounds/{round}/reviews` body: one action (and comment) for every form listed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BulkReviewRequest {
    /// `approve` or `reject`.
    pub action: Action,
    /// The comment (required to reject), the same for every form.
    #[serde(default)]
    pub comment: Option<String>,
    /// The forms, at most [`MAX_BULK_FORMS`].
    pub forms: Vec<BulkItem>,
}

/// The answer for one form of a bulk review: its new status, or the problem that refused it
/// (the status, code and details a single review would have answered).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    /// The form.
    pub id: Uuid,
    /// Whether it was reviewed.
    pub ok: bool,
    /// Its status now, when reviewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<review::Status>,
    /// The HTTP status a single review would have answered.
    pub http_status: u16,
    /// The problem's code, when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The problem's Vietnamese detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The problem's English detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_en: Option<String>,
    /// The form's revision now (with `form_changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<serde_json::Value>,
}

/// `POST /rounds/{round}/reviews` answer: one result per form, in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkReviewResponse {
    /// How many forms were reviewed.
    pub reviewed: usize,
    /// How many were refused.
    pub refused: usize,
    /// The results.
    pub results: Vec<BulkResult>,
}

/// One step of a form's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryStep {
    /// Status before.
    pub from: String,
    /// Status after.
    pub to: String,
    /// The revision it concerns.
    pub revision: i32,
    /// The comment.
    pub comment: Option<String>,
    /// Who (username).
    pub by: Option<String>,
    /// Who (user id).
    pub by_user: Option<i64>,
    /// When (RFC 3339).
    pub at: Option<String>,
}

/// `GET /forms/{id}/history` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryResponse {
    /// The form.
    pub id: Uuid,
    /// Its status now.
    pub status: String,
    /// Its revision now.
    pub revision: i32,
    /// Every step, oldest first.
    pub history: Vec<HistoryStep>,
}

/// `PUT /rounds/{round}/counting` body and answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CountingSetting {
    /// `received` (every form not rejected counts) or `approved` (approved forms only).
    pub counted: Counted,
}

/// Approves or rejects one form (409 if it changed since the revision read, 403 out of scope).
#[utoipa::path(post, path = "/forms/{id}/review", tag = "review", params(("id" = Uuid, Path, description = "Form id")), request_body = ReviewRequest, security(("bearer" = [])),
    responses((status = OK, body = ReviewResponse), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, form = %id))]
async fn review_form(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> Result<Json<ReviewResponse>, ApiError> {
    policy::can_review_forms(&me)?;
    let comment = review::clean_comment(body.comment.as_deref())?;
    let req = Request {
        id,
        action: body.action,
        revision: body.revision,
        comment: comment.as_deref(),
    };
    let done = review::apply(&state.db, &state.definitions, &me, ip, &req).await?;
    Ok(Json(ReviewResponse {
        id,
        from: done.from,
        status: done.to,
        revision: done.revision,
    }))
}

/// Reviews a list of forms of a round with one action, each in its own transaction and
/// answered on its own: one form refused (stale, out of scope, unknown) leaves the others done.
#[utoipa::path(post, path = "/rounds/{round}/reviews", tag = "review", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), request_body = BulkReviewRequest, security(("bearer" = [])),
    responses((status = OK, body = BulkReviewResponse), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn review_forms(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(round_code): ApiPath<String>,
    ApiJson(body): ApiJson<BulkReviewRequest>,
) -> Result<Json<BulkReviewResponse>, ApiError> {
    policy::can_review_forms(&me)?;
    round::Entity::find_by_id(round_code.clone())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("đợt khảo sát", "Survey round"))?;
    if body.forms.len() > MAX_BULK_FORMS {
        return Err(ApiError::bad_request(
            "too_many_forms",
            format!("Tối đa {MAX_BULK_FORMS} phiếu mỗi lần duyệt."),
            format!("At most {MAX_BULK_FORMS} forms per bulk review."),
        ));
    }
    let comment = review::clean_comment(body.comment.as_deref())?;
    // Forms of other rounds are "not found" here, as unknown ids are.
    let ids: Vec<Uuid> = body.forms.iter().map(|f| f.id).collect();
    let in_round: std::collections::HashSet<Uuid> = form::Entity::find()
        .filter(form::Column::Id.is_in(ids))
        .filter(form::Column::RoundCode.eq(&round_code))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|f| f.id)
        .collect();
    let mut results = Vec::with_capacity(body.forms.len());
    for item in &body.forms {
        let req = Request {
            id: item.id,
            action: body.action,
            revision: item.revision,
            comment: comment.as_deref(),
        };
        let done = if in_round.contains(&item.id) {
            review::apply(&state.db, &state.definitions, &me, ip.clone(), &req)
                .await
                .map_err(ApiError::from)
        } else {
            Err(ApiError::not_found("phiếu khảo sát", "Form"))
        };
        results.push(match done {
            Ok(done) => BulkResult {
                id: item.id,
                ok: true,
                status: Some(done.to),
                http_status: 200,
                code: None,
                detail: None,
                detail_en: None,
                current_revision: None,
            },
            Err(e) => {
                if e.status().is_server_error() {
                    tracing::error!(form = %item.id, error = %e, "reviewing a form of a bulk review failed");
                }
                let (vi, en) = e.details();
                BulkResult {
                    id: item.id,
                    ok: false,
                    status: None,
                    http_status: e.status().as_u16(),
                    code: Some(e.code().to_owned()),
                    detail: Some(vi.to_owned()),
                    detail_en: Some(en.to_owned()),
                    current_revision: e.extra("current_revision").cloned(),
                }
            }
        });
    }
    let reviewed = results.iter().filter(|r| r.ok).count();
    Ok(Json(BulkReviewResponse {
        reviewed,
        refused: results.len() - reviewed,
        results,
    }))
}

/// A form's review history, if the caller may read the form (404 otherwise).
#[utoipa::path(get, path = "/forms/{id}/history", tag = "review", params(("id" = Uuid, Path, description = "Form id")), security(("bearer" = [])),
    responses((status = OK, body = HistoryResponse), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, form = %id))]
async fn form_history(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let f = super::forms::find_readable(&state, &me, id).await?;
    let history = form_review::Entity::find()
        .filter(form_review::Column::FormId.eq(id))
        .order_by_asc(form_review::Column::Seq)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|h| HistoryStep {
            from: h.from_status,
            to: h.to_status,
            revision: h.revision,
            comment: h.comment,
            by: h.by_username,
            by_user: h.by_user,
            at: rfc3339(&h.at),
        })
        .collect();
    Ok(Json(HistoryResponse {
        id,
        status: f.status,
        revision: f.revision,
        history,
    }))
}

/// Sets which statuses a round counts in its indices (the ministry), and recomputes the round's
/// village statistics from its forms in the same transaction.
#[utoipa::path(put, path = "/rounds/{round}/counting", tag = "review", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), request_body = CountingSetting, security(("bearer" = [])),
    responses((status = OK, body = CountingSetting), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn set_counting(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(round_code): ApiPath<String>,
    ApiJson(body): ApiJson<CountingSetting>,
) -> Result<Json<CountingSetting>, ApiError> {
    policy::can_administer(&me)?;
    let r = round::Entity::find_by_id(round_code.clone())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("đợt khảo sát", "Survey round"))?;
    let before = Counted::parse(&r.counted_states);
    if before != body.counted {
        let txn = state.db.begin().await?;
        round::Entity::update_many()
            .col_expr(
                round::Column::CountedStates,
                sea_orm::sea_query::Expr::value(body.counted.as_str()),
            )
            .filter(round::Column::Code.eq(&round_code))
            .exec(&txn)
            .await?;
        crate::index_stats::rebuild_in(&txn, &state.definitions, &round_code).await?;
        audit::record(
            &txn,
            event::ROUND_COUNTING_CHANGED,
            &Actor::user(&me, ip),
            Some(round_code.clone()),
            serde_json::json!({ "from": before.as_str(), "to": body.counted.as_str() }),
        )
        .await?;
        txn.commit().await?;
    }
    Ok(Json(body))
}
