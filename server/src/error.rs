//! The HTTP error type: every error the API answers is `application/problem+json` (RFC 9457) with a
//! stable machine-readable `code`, a Vietnamese `detail` with its English `detail_en`, and per-field
//! errors where the input was wrong.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A per-field error: which input was wrong, a stable code, and a bilingual message. The same
/// type as a pushed form's problems, so that a client reads both alike.
pub type FieldError = sync_protocol::FieldProblem;

/// The error every handler returns. Build it with the constructors; `code` is part of the API
/// contract and must never change meaning once released. Boxed so `Result<_, ApiError>` stays small.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    detail_vi: String,
    detail_en: String,
    errors: Vec<FieldError>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    /// Extension members of the problem (e.g. `min_protocol_version`).
    extra: serde_json::Map<String, serde_json::Value>,
    /// The cause of a 500, logged with its chain and never sent to the client.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The serialised body of an [`ApiError`].
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    detail_en: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// A client error with a status, a stable code and a bilingual detail.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        detail_vi: impl Into<String>,
        detail_en: impl Into<String>,
    ) -> Self {
        ApiError(Box::new(Inner {
            status,
            code,
            detail_vi: detail_vi.into(),
            detail_en: detail_en.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            extra: serde_json::Map::new(),
            source: None,
        }))
    }

    /// Attaches per-field errors.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.0.errors = errors;
        self
    }

    /// Adds an extension member to the problem body (RFC 9457 allows them).
    pub fn with_extra(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.0.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Attaches a response header (e.g. `Retry-After`).
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// 404 for a thing that does not exist (or must not be revealed to exist).
    pub fn not_found(what_vi: &str, what_en: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("Không tìm thấy {what_vi}."),
            format!("{what_en} not found."),
        )
    }

    /// 400 for a query or path parameter that is wrong.
    pub fn bad_request(
        code: &'static str,
        detail_vi: impl Into<String>,
        detail_en: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail_vi, detail_en)
    }

    /// 400 for an integer query parameter past what it can mean (`max`): a number the database
    /// could not even hold must not get that far.
    pub fn out_of_range(field: &str, max: u64) -> Self {
        Self::bad_request(
            "out_of_range",
            format!("Tham số {field} tối đa là {max}."),
            format!("The parameter {field} is at most {max}."),
        )
        .with_errors(vec![FieldError::new(
            field,
            "out_of_range",
            format!("Tối đa {max}."),
            format!("At most {max}."),
        )])
    }

    /// 503 `busy` with `Retry-After`: the server is at its bound (a push gate, the password
    /// hashers) and the client should come back in `retry_after_secs` (at least 1).
    pub fn busy(
        retry_after_secs: u64,
        detail_vi: impl Into<String>,
        detail_en: impl Into<String>,
    ) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            detail_vi,
            detail_en,
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs.max(1)),
        )
    }

    /// 422 for a well-formed body whose content is invalid, with the fields at fault.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Dữ liệu gửi lên không hợp lệ.",
            "The submitted data is invalid.",
        )
        .with_errors(errors)
    }

    /// 500: logs the cause chain when answered, tells the client nothing about it.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Lỗi máy chủ. Vui lòng thử lại sau.",
            "Internal server error. Please try again later.",
        );
        e.0.source = Some(source.into());
        e
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// The Vietnamese and English details (for an error answered inside a bulk result).
    pub fn details(&self) -> (&str, &str) {
        (&self.0.detail_vi, &self.0.detail_en)
    }

    /// One extension member of the problem (e.g. `current_revision`).
    pub fn extra(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.extra.get(key)
    }

    /// A problem for a bare status that reached the client without a body of ours (405, 408, ...).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, vi, en) = match status {
            StatusCode::NOT_FOUND => (
                "route_not_found",
                "Không có đường dẫn này.",
                "No such route.",
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "Phương thức không được hỗ trợ cho đường dẫn này.",
                "Method not allowed for this route.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                "Dữ liệu gửi lên quá lớn.",
                "Request body too large.",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "request_timeout",
                "Yêu cầu quá thời gian.",
                "Request timed out.",
            ),
            s if s.is_server_error() => (
                "internal_error",
                "Lỗi máy chủ. Vui lòng thử lại sau.",
                "Internal server error. Please try again later.",
            ),
            _ => ("http_error", "Yêu cầu không hợp lệ.", "Request failed."),
        };
        Self::new(status, code, vi, en)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.status.as_u16(),
            self.0.code,
            self.0.detail_en
        )
    }
}

/// Renders an error and its `source()` chain on one line for the log.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        // Many errors already print their source in their own message: do not repeat it.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = *self.0;
        if this.status.is_server_error() {
            match &this.source {
                Some(src) => {
                    tracing::error!(code = this.code, cause = %error_chain(src.as_ref()), "request failed")
                }
                None => tracing::error!(code = this.code, "request failed"),
            }
        }
        let body = ProblemBody {
            type_: format!("urn:sipas:problem:{}", this.code),
            title: this.status.canonical_reason().unwrap_or("Error"),
            status: this.status.as_u16(),
            code: this.code,
            detail: &this.detail_vi,
            detail_en: &this.detail_en,
            errors: &this.errors,
            extra: &this.extra,
        };
        let mut resp = (this.status, Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (k, v) in this.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Nội dung phải là JSON (Content-Type: application/json).",
                "The body must be JSON (Content-Type: application/json).",
            ),
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "JSON không đúng cú pháp.",
                format!("Malformed JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "Nội dung JSON không đúng cấu trúc yêu cầu.",
                format!(
                    "The JSON does not have the expected shape: {}",
                    e.body_text()
                ),
            ),
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            other => ApiError::new(
                status,
                "unreadable_body",
                "Không đọc được nội dung yêu cầu.",
                format!("Could not read the request body: {}", other.body_text()),
            ),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(
            "invalid_query",
            "Tham số truy vấn không hợp lệ.",
            format!("Invalid query parameters: {}", r.body_text()),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(
            "invalid_path",
            "Tham số đường dẫn không hợp lệ.",
            format!("Invalid path parameter: {}", r.body_text()),
        )
    }
}

/// Middleware: any error response that left the app without a body of ours (a 405 from the router, a
/// 413 from a limit layer, ...) is replaced by the problem+json for its status.
pub async fn problem_for_bare_errors(resp: Response) -> Response {
    let status = resp.status();
    if (status.is_client_error() || status.is_server_error())
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|v| v.as_bytes() != PROBLEM_JSON.as_bytes())
    {
        let mut new = ApiError::from_status(status).into_response();
        // Keep headers such as `Allow` and `Retry-After`.
        for (k, v) in resp.headers() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                new.headers_mut().insert(k.clone(), v.clone());
            }
        }
        return new;
    }
    resp
}

/// Answer for a panic inside a handler: a plain 500 problem, the panic message only in the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct PanicResponder;

impl tower_http::catch_panic::ResponseForPanic for PanicResponder {
    type ResponseBody = axum::body::Body;

    fn response_for_panic(
        &mut self,
        err: Box<dyn std::any::Any + Send + 'static>,
    ) -> axum::http::Response<Self::ResponseBody> {
        let msg = err
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| err.downcast_ref::<&str>().copied())
            .unwrap_or("(non-string panic)");
        tracing::error!(panic = msg, "handler panicked");
        ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
    }
}

/// JSON body extractor whose rejections are problem+json. A body holding a NUL character in a
/// string (`\u0000`) is refused (400 `invalid_characters`): no stored text may hold one (PostgreSQL
/// refuses it), and refusing it here answers alike on both databases.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        if crate::text::has_escaped_nul(&bytes) {
            return Err(invalid_characters());
        }
        Json::<T>::from_bytes(&bytes)
            .map(|Json(v)| ApiJson(v))
            .map_err(Into::into)
    }
}

/// 400 for a NUL or another control character where none can be meant (a query, a path, a JSON
/// text).
pub fn invalid_characters() -> ApiError {
    ApiError::bad_request(
        "invalid_characters",
        "Yêu cầu có ký tự điều khiển (như NUL) không hợp lệ.",
        "The request holds a control character (such as NUL) that is not allowed.",
    )
}

/// A JSON request body kept as its bytes, for a handler that parses it itself (borrowing strings
/// from it rather than copying them): the `Content-Type` and body-size checks of [`ApiJson`], with
/// the same problem+json rejections. The handler turns a parse error into an [`ApiError`] with
/// [`JsonBytes::rejection`], as [`ApiJson`] would have.
#[derive(Debug, Clone)]
pub struct JsonBytes(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        // What `axum::Json` accepts, parsed as it parses it: `application/json` or
        // `application/<subtype>+json`.
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == "application"
                    && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
            });
        if !json {
            return Err(JsonRejection::from(
                axum::extract::rejection::MissingJsonContentType::default(),
            )
            .into());
        }
        axum::body::Bytes::from_request(req, state)
            .await
            .map(JsonBytes)
            .map_err(|e| JsonRejection::from(e).into())
    }
}

impl JsonBytes {
    /// The error [`ApiJson<T>`] answers for this body (it does not deserialize as `T`); called
    /// only once the handler's own parse failed.
    pub fn rejection<T: serde::de::DeserializeOwned>(&self) -> ApiError {
        match Json::<T>::from_bytes(&self.0) {
            Err(r) => r.into(),
            Ok(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "Nội dung JSON không đúng cấu trúc yêu cầu.",
                "The JSON does not have the expected shape.",
            ),
        }
    }
}

/// Query-string extractor whose rejections are problem+json.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path extractor whose rejections are problem+json.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}
