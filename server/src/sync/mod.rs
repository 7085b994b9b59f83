//! Server side of sync protocol v1: version negotiation, handshake, push (idempotent, per-form
//! outcomes, quarantine), status and pull. The HTTP layer is `routes::sync`.
//!
//! Idempotency is enforced by the database, not by process memory: a form's id is unique in
//! `forms`. A push first assumes its ids are new: when every form is accepted it inserts them
//! with no lookup, and the unique index refuses an id the server already holds (the transaction
//! rolls back). Then, or when a form would not be accepted (before anything is written), the
//! push is decided again after looking its ids up: a held form answers `duplicate` or
//! `conflict`, a payload quarantined before its first outcome. If another push stores one of
//! those ids in between, the insert is refused again and the push decided again. Several server
//! processes may share one PostgreSQL.
//!
//! Each push's rows, index stats and device counters are written in one transaction. On SQLite,
//! whose single write lock the pushes would otherwise queue for one by one, a writer thread
//! stores the pushes that wait together in one transaction, and each answers only after it
//! committed (see [`crate::writer`]).

mod exchange;
mod push;

use axum::http::{HeaderMap, StatusCode};
use sync_protocol::{PROTOCOL_HEADER, SUPPORTED_PROTOCOL_VERSIONS};

use crate::error::ApiError;

pub use exchange::{handshake, pull, status};
pub use push::{PushRaces, push};

/// Lowest protocol version this server accepts.
pub fn min_version() -> u32 {
    SUPPORTED_PROTOCOL_VERSIONS.first().copied().unwrap_or(1)
}

/// Highest protocol version this server speaks.
pub fn max_version() -> u32 {
    SUPPORTED_PROTOCOL_VERSIONS.last().copied().unwrap_or(1)
}

/// 426 for a device whose app is too old to sync.
pub fn too_old(offered: u32) -> ApiError {
    ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "protocol_too_old",
        format!(
            "Ứng dụng quá cũ (giao thức {offered}). Hãy cập nhật ứng dụng lên phiên bản hỗ trợ giao thức {} trở lên.",
            min_version()
        ),
        format!(
            "The app is too old (protocol {offered}). Update it to a version speaking protocol {} or later.",
            min_version()
        ),
    )
    .with_extra("min_protocol_version", min_version())
    .with_extra("max_protocol_version", max_version())
}

/// 400 for a device newer than the server.
pub fn too_new(offered: u32) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "protocol_too_new",
        format!(
            "Máy chủ chưa hỗ trợ giao thức {offered} của ứng dụng (tối đa {}). Hãy chờ máy chủ được nâng cấp.",
            max_version()
        ),
        format!(
            "The server does not speak the app's protocol {offered} yet (at most {}). Wait for the server upgrade.",
            max_version()
        ),
    )
    .with_extra("min_protocol_version", min_version())
    .with_extra("max_protocol_version", max_version())
}

/// Picks the highest version both sides speak.
pub fn negotiate(offered: &[u32]) -> Result<u32, ApiError> {
    if let Some(v) = offered
        .iter()
        .copied()
        .filter(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(v))
        .max()
    {
        return Ok(v);
    }
    match offered.iter().copied().max() {
        Some(v) if v > max_version() => Err(too_new(offered.iter().copied().min().unwrap_or(v))),
        Some(v) => Err(too_old(v)),
        None => Err(ApiError::bad_request(
            "protocol_versions_missing",
            "Thiếu danh sách phiên bản giao thức.",
            "protocol_versions is empty.",
        )),
    }
}

/// Reads and checks the protocol header every sync call after the handshake carries.
pub fn check_header(headers: &HeaderMap) -> Result<u32, ApiError> {
    let raw = headers
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "protocol_header_missing",
                format!("Thiếu tiêu đề {PROTOCOL_HEADER}."),
                format!("The {PROTOCOL_HEADER} header is missing."),
            )
        })?;
    let v: u32 = raw.trim().parse().map_err(|_| {
        ApiError::bad_request(
            "protocol_header_invalid",
            format!("Tiêu đề {PROTOCOL_HEADER} không hợp lệ."),
            format!("The {PROTOCOL_HEADER} header is not a version number."),
        )
    })?;
    negotiate(&[v])
}
