//! Sync protocol v1 over HTTP. Every call after the handshake carries the `x-sipas-protocol`
//! header; push bodies may be gzip-compressed.

use axum::{
    Json,
    extract::{Request, State},
    http::HeaderMap,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use sync_protocol::{
    HandshakeRequest, HandshakeResponse, PullResponse, PushResponse, StatusRequest, StatusResponse,
};
use tower_http::decompression::RequestDecompressionLayer;
use utoipa::IntoParams;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouterExt},
    routes,
};

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiJson, ApiQuery, JsonBytes},
    routes::openapi::Failure,
    state::AppState,
    sync,
};

/// `/sync/...`; pushes pass the state's push gate before their bodies are read.
pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handshake))
        .routes(
            routes!(push)
                .layer(RequestDecompressionLayer::new().gzip(true))
                .layer(middleware::from_fn_with_state(state, admit)),
        )
        .routes(routes!(status))
        .routes(routes!(pull))
}

/// Agrees the protocol version and tells the device what it should hold.
#[utoipa::path(post, path = "/sync/handshake", tag = "sync", request_body = HandshakeRequest,
    security(("bearer" = [])), responses((status = OK, body = HandshakeResponse), Failure))]
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

/// Receives a batch of forms; answers per form, after the batch is committed. The body may be
/// gzip-compressed; when the server is busy it answers 503 with `Retry-After`.
#[utoipa::path(post, path = "/sync/push", tag = "sync", request_body = sync_protocol::PushRequest,
    params(("x-sipas-protocol" = u32, Header, description = "The protocol version agreed at the handshake (1).")),
    security(("bearer" = [])), responses((status = OK, body = PushResponse), Failure))]
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
#[utoipa::path(post, path = "/sync/status", tag = "sync", request_body = StatusRequest,
    params(("x-sipas-protocol" = u32, Header, description = "The protocol version agreed at the handshake (1).")),
    security(("bearer" = [])), responses((status = OK, body = StatusResponse), Failure))]
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

/// Where a pull starts and how much it takes.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PullQuery {
    /// The cursor the last pull answered (absent: from the start).
    cursor: Option<String>,
    /// Most changes to answer (default 100).
    limit: Option<u64>,
}

/// Changes since the cursor, in order.
#[utoipa::path(get, path = "/sync/pull", tag = "sync",
    params(PullQuery, ("x-sipas-protocol" = u32, Header, description = "The protocol version agreed at the handshake (1).")),
    security(("bearer" = [])), responses((status = OK, body = PullResponse), Failure))]
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
