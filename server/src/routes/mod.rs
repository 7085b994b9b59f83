//! HTTP routes, grouped by resource. Each module exposes `router()`; [`router`] assembles them under
//! `/api/v1` with the cross-cutting layers (body limit, the request checks of [`guard`], timeout,
//! tracing, panic catching, and the problem+json rewriting of bare error responses).

use std::time::Duration;

use std::sync::Arc;

use axum::{Router, extract::DefaultBodyLimit, http::StatusCode, middleware, routing::get};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer, trace::TraceLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    error::{ApiError, PanicResponder, problem_for_bare_errors},
    state::AppState,
};

mod app;
mod assignments;
mod audit;
mod auth;
mod dashboard;
mod devices;
mod exports;
mod forms;
mod geographies;
pub(crate) mod guard;
mod health;
mod index_reports;
pub mod openapi;
mod plans;
mod progress;
pub(crate) mod quality;
mod questionnaires;
mod report_documents;
mod reviews;
mod rounds;
pub(crate) mod samples;
mod static_files;
mod sync;
pub(crate) mod users;

/// The round of this code, or 404 (`đợt khảo sát` / `Survey round`): the lookup every route
/// under `/rounds/{round}` starts with.
pub(crate) async fn find_round(
    state: &crate::state::AppState,
    code: &str,
) -> Result<crate::entities::round::Model, crate::error::ApiError> {
    use sea_orm::EntityTrait;
    crate::entities::round::Entity::find_by_id(code.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(|| crate::error::ApiError::not_found("đợt khảo sát", "Survey round"))
}

/// The largest `offset` a listing accepts: more rows than any table will hold, and far below what
/// a database's 64-bit integers can.
pub(crate) const MAX_OFFSET: u64 = 1_000_000_000;

/// An `offset` query parameter, checked against [`MAX_OFFSET`].
pub(crate) fn offset(given: Option<u64>) -> Result<u64, ApiError> {
    match given.unwrap_or(0) {
        o if o > MAX_OFFSET => Err(ApiError::out_of_range("offset", MAX_OFFSET)),
        o => Ok(o),
    }
}

/// Every operation of the API, with the OpenAPI document describing them; paths relative to the
/// server's root.
pub fn api(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(devices::router())
        .merge(audit::router())
        .merge(questionnaires::router())
        .merge(geographies::router())
        .merge(rounds::router())
        .merge(samples::router())
        .merge(index_reports::router())
        .merge(report_documents::router())
        .merge(plans::router())
        .merge(forms::router())
        .merge(assignments::router())
        .merge(progress::router())
        .merge(quality::router())
        .merge(reviews::router())
        .merge(exports::router())
        .merge(sync::router(state.clone()));
    let (routes, paths) = OpenApiRouter::new()
        .merge(health::router())
        .nest("/api/v1", api)
        .split_for_parts();
    (routes, openapi::document(paths))
}

/// The OpenAPI document of [`api`], as JSON.
pub fn openapi_json(state: &AppState) -> String {
    let (_, doc) = api(state);
    doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
}

/// The whole application as a `Router`, so tests can call it in-process.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = api(&state);
    // Serialising a document of plain data cannot fail; an empty one would be caught by the tests.
    let served = openapi::Served(Arc::from(doc.to_json().unwrap_or_else(|_| "{}".to_owned())));
    let document = Router::new()
        .route("/api/v1/openapi.json", get(openapi::show_openapi))
        .with_state(served);
    routes
        .merge(document)
        // The enumerator app's files: a front-end, not operations of the API document.
        .merge(app::router())
        .merge(dashboard::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.body_limit_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::map_response(problem_for_bare_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.settings.request_timeout_secs),
        ))
        .layer(CatchPanicLayer::custom(PanicResponder))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn route_not_found() -> ApiError {
    ApiError::from_status(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> ApiError {
    ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED)
}
