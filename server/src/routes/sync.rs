//! Sync protocol v1 over HTTP. Every call after the handshake carries the `x-sipas-protocol`
//! header; push bodies may be gzip-compressed.

use axum::{
    Json, Router,
    extract::{Request, State},
    http::HeaderMap,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use sync_protocol::{
    HandshakeRequest, HandshakeResponse, PullResponse, PushResponse, StatusRequest, StatusResponse,
};
use tower_http::decompression::RequestDecompressionLayer;

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiJson, ApiQuery, JsonBytes},
    state::AppState,
    sync,
};

/// `/sync/...`; pushes pass the state's push gate before their bodies are read.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/sync/handshake", post(handshake))
        .route(
            "/sync/push",
            post(push)
                .layer(RequestDecompressionLayer::new().gzip(true))
                .layer(middleware::from_fn_with_state(state, admit)),
        )
        .route("/sync/status", post(status))
        .route("/sync/pull", get(pull))
}

/// Agrees the protocol version and tells the device what it should hold.
#[tracing::instrument(skip_all, fields(user = %me.username, device = %body.device_id))]
async fn handshake(
    State(state): State<AppState>,
    me: AuthUser,
    ApiJson(body): ApiJson<HandshakeRequest>,
) -> Result<Json<HandshakeResponse>, ApiError> {
    Ok(Json(sync::handshake(&state, &me, body).await?))
}

/// Lets a push in when the gate has room (see [`crate::admission`]): it waits for a turn before its
/// body is read, or gets 503 with `Retry-After`.
async fn admit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.push_gate.enter().await {
        Ok(_turn) => next.run(req).await,
        Err(refused) => {
            tracing::info!(?refused, "a push was turned away: the server is busy");
            let limit = state.settings.body_limit_bytes as u64;
            super::guard::drain(req.into_body(), limit).await;
            state.push_gate.busy().into_response()
        }
    }
}

/// Receives a batch of forms; answers per form, after the batch is committed.
#[tracing::instrument(skip_all, fields(user = %me.username, forms = tracing::field::Empty))]
async fn push(
    State(state): State<AppState>,
    me: AuthUser,
    headers: HeaderMap,
    body: JsonBytes,
) -> Result<Json<PushResponse>, ApiError> {
    let results = sync::push(&state, &me, &headers, &body).await?;
    Ok(Json(PushResponse { results }))
}

/// Which of these forms the server holds, and in what state.
#[tracing::instrument(skip_all, fields(user = %me.username, forms = body.forms.len()))]
async fn status(
    State(state): State<AppState>,
    me: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StatusRequest>,
) -> Result<Json<StatusResponse>, ApiError> {
    sync::check_header(&headers)?;
    Ok(Json(StatusResponse {
        forms: sync::status(&state, &me, body.forms).await?,
    }))
}

#[derive(Deserialize)]
struct PullQuery {
    cursor: Option<String>,
    limit: Option<u64>,
}

/// Changes since the cursor, in order.
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn pull(
    State(state): State<AppState>,
    me: AuthUser,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<PullQuery>,
) -> Result<Json<PullResponse>, ApiError> {
    sync::check_header(&headers)?;
    Ok(Json(
        sync::pull(&state, &me, q.cursor.as_deref(), q.limit.unwrap_or(100)).await?,
    ))
}
