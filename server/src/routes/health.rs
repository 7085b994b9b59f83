//! Liveness and readiness probes.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::{error::ApiError, state::AppState};

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(check_health))
        .route("/readyz", get(check_ready))
}

/// The process is up.
async fn check_health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers.
#[tracing::instrument(skip_all)]
async fn check_ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.db.ping().await {
        Ok(()) => Ok(Json(json!({
            "status": "ready",
            "database": format!("{:?}", state.db.get_database_backend()).to_lowercase(),
        }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "Cơ sở dữ liệu không phản hồi.",
                "The database is not reachable.",
            ))
        }
    }
}
