//! The API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the types they read and answer, and served at `/api/v1/openapi.json`.
//!
//! Every route is registered through `utoipa_axum`'s `routes!`, which adds the handler to the router
//! and its operation to the document in one step, so the two cannot drift apart; a test checks that
//! no route module registers a route any other way.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self, ContentBuilder, RefOr, ResponseBuilder, ResponsesBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::error::{FieldError, PROBLEM_JSON};

/// The name of the bearer-token security scheme operations refer to.
pub const BEARER: &str = "bearer";

/// The parts of the document no handler carries: its title, the security scheme and the error body.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "SIPAS API",
        description = "Chỉ số hài lòng về sự phục vụ hành chính — the citizen-satisfaction survey of \
                       Vietnam's Ministry of Home Affairs: questionnaires, geographies, rounds, users, \
                       devices, the sync protocol v1 and the indices. Errors are \
                       `application/problem+json` with a stable `code`.",
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerScheme),
)]
pub struct ApiDoc;

/// Adds the bearer JWT scheme the authenticated operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /api/v1/auth/login` or `/auth/refresh`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The body of every error answer (RFC 9457 problem details), as [`crate::error::ApiError`] writes
/// it. Some problems carry extension members (e.g. `min_protocol_version`, `retry_after_secs`).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body; `ApiError` writes it.
pub struct Problem {
    /// `urn:sipas:problem:{code}`.
    #[schema(rename = "type")]
    type_: String,
    /// The HTTP status's reason phrase.
    title: String,
    /// The HTTP status.
    status: u16,
    /// Stable machine code: clients switch on this.
    code: String,
    /// Vietnamese detail.
    detail: String,
    /// English detail.
    detail_en: String,
    /// Per-field problems, where input was wrong.
    errors: Option<Vec<FieldError>>,
}

/// The error answers every operation may give: any status with a problem+json body. Named in each
/// operation's `responses(...)` after its success answers.
pub struct Failure;

impl utoipa::IntoResponses for Failure {
    fn responses() -> std::collections::BTreeMap<String, RefOr<openapi::response::Response>> {
        ResponsesBuilder::new()
            .response(
                "default",
                ResponseBuilder::new()
                    .description("An error, as problem details with a stable `code`.")
                    .content(
                        PROBLEM_JSON,
                        ContentBuilder::new()
                            .schema(Some(RefOr::Ref(openapi::Ref::from_schema_name("Problem"))))
                            .build(),
                    ),
            )
            .build()
            .into()
    }
}

/// The finished document: the handlers' operations with [`ApiDoc`]'s parts.
pub fn document(paths: openapi::OpenApi) -> openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(paths);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The document, serialised once at start-up.
#[derive(Clone)]
pub struct Served(pub Arc<str>);

/// `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of this server.
pub async fn show_openapi(State(doc): State<Served>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.0.to_string(),
    )
        .into_response()
}
