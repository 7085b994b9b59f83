//! Checks every request meets before any route: a bounded URI and header section, no control
//! character hidden in the path or query (percent-encoded: `%00`), and a declared body no larger
//! than the limit. Each refusal is problem+json, like every other error, rather than the bare
//! answer the HTTP layer would give, or a 500 from a database that cannot store a NUL.

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;

use crate::{
    error::{ApiError, invalid_characters},
    state::AppState,
};

/// The longest URI (path and query) accepted, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The largest header section accepted (names and values), in bytes.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// How much of a body declared too large is read (and dropped) before the 413 is sent, so that a
/// client still sending it reads the answer instead of a reset connection. Past this the
/// connection is closed as soon as the answer is written.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;

/// The checks, in order; the request goes on only when it passes all of them.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    let uri_len = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    if uri_len > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("Địa chỉ yêu cầu dài quá {MAX_URI_BYTES} byte."),
            format!("The request URI is longer than {MAX_URI_BYTES} bytes."),
        )
        .into_response();
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("Phần tiêu đề của yêu cầu lớn quá {MAX_HEADER_BYTES} byte."),
            format!("The request's headers are larger than {MAX_HEADER_BYTES} bytes."),
        )
        .into_response();
    }
    if has_encoded_control(uri.path()) || uri.query().is_some_and(has_encoded_control) {
        return invalid_characters().into_response();
    }
    let limit = state.settings.body_limit_bytes as u64;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > limit) {
        if len <= DRAIN_BYTES {
            drain(req.into_body(), DRAIN_BYTES).await;
        }
        return too_large(limit);
    }
    next.run(req).await
}

/// Reads a refused request's body and drops it, frame by frame (never held), at most `max` bytes:
/// a client still sending it then reads the answer instead of finding its connection reset.
pub async fn drain(mut body: Body, max: u64) {
    let mut read = 0u64;
    while read <= max {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => break,
        }
    }
}

/// 413 problem+json, and the connection closed after it.
pub fn too_large(limit: u64) -> Response {
    let mut resp = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("Nội dung yêu cầu lớn quá {limit} byte."),
        format!("The request body is larger than {limit} bytes."),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Whether a URI part holds a percent-encoded control character (`%00`–`%1F`, `%7F`). A raw one
/// cannot reach here: the HTTP parser refuses it.
fn has_encoded_control(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (hex(w[1]), hex(w[2])),
                (Some(h), Some(l)) if h * 16 + l < 0x20 || h * 16 + l == 0x7f
            )
    })
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_control_characters_are_found() {
        for bad in ["%00", "a%1fb", "q=%7F", "x=%0A", "x=%0d"] {
            assert!(has_encoded_control(bad), "{bad}");
        }
        for ok in ["", "%20", "l%E1%BA%A1i", "100%", "%2", "%zz", "a%41"] {
            assert!(!has_encoded_control(ok), "{ok}");
        }
    }
}
