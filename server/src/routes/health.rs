//! Liveness and readiness probes.

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{error::ApiError, routes::openapi::Failure, state::AppState};

/// `/healthz` and `/readyz`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_health))
        .routes(routes!(check_ready))
}

/// The process is up.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// The process is up and its database answers.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = OK, body = Health), Failure))]
async fn check_health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = OK, body = Readiness), Failure))]
#[tracing::instrument(skip_all)]
async fn check_ready(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    match state.db.ping().await {
        Ok(()) => Ok(Json(Readiness {
            status: "ready",
            database: format!("{:?}", state.db.get_database_backend()).to_lowercase(),
        })),
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
