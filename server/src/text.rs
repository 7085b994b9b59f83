//! Small text encodings shared across the server.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Lowercase hex of bytes (hashes, random tokens).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// RFC 3339 text of a timestamp, as the API shows every time.
pub fn rfc3339(t: &OffsetDateTime) -> Option<String> {
    t.format(&Rfc3339).ok()
}
