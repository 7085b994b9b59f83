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

/// The most characters of every text the server stores from a request, one constant a field, so
/// that the same input gets the same answer on SQLite (which does not enforce a column's length)
/// and on PostgreSQL (which refuses a longer value). Each matches its column; a text column with
/// no length in the schema gets a bound here all the same.
pub mod max {
    /// A username (`users.username`).
    pub const USERNAME: usize = 64;
    /// A user's full name (`users.full_name`, unbounded in the schema).
    pub const FULL_NAME: usize = 200;
    /// A field team's code (`users.team`).
    pub const TEAM: usize = 64;
    /// A unit code (`users.unit_code`, the form's units).
    pub const UNIT_CODE: usize = 16;
    /// A geography code (`users.geography_code`).
    pub const GEOGRAPHY: usize = 32;
    /// A device id (`devices.id`).
    pub const DEVICE_ID: usize = 128;
    /// An app version (`devices.app_version`).
    pub const APP_VERSION: usize = 64;
    /// A round code (`forms.round_code`, `quarantined_forms.round_code`).
    pub const ROUND: usize = 64;
    /// An audit event's target (`audit_log.target`).
    pub const AUDIT_TARGET: usize = 256;
    /// A client IP as recorded (`audit_log.ip`).
    pub const IP: usize = 64;
}

/// `s` as it fits a column of `max` characters: control characters shown as U+FFFD (a NUL cannot
/// be stored), cut to `max` characters. For texts recorded whatever they hold (the audit log).
pub fn fit(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// Whether `s` holds a control character (C0, DEL or C1): never meant in a code, a name or a
/// query, and NUL is refused by PostgreSQL outright.
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Whether a JSON text holds an escaped NUL (`\u0000`) in a string: a value PostgreSQL cannot
/// store in a text column. Only a backslash that is itself not escaped starts an escape.
pub fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = json[i..].iter().position(|&b| b == b'\\') {
        let start = i + at;
        // An escape is two bytes at least; `\\` escapes the backslash itself.
        match json.get(start + 1) {
            Some(b'u') if json.get(start + 2..start + 6) == Some(b"0000".as_slice()) => {
                return true;
            }
            Some(_) => i = start + 2,
            None => return false,
        }
    }
    false
}

/// Checks a text field a request gives: at most `max` characters, and no control characters.
/// Appends the problem to `errors` (codes `too_long`, `invalid_characters`).
pub fn check_field(
    field: &str,
    value: &str,
    max: usize,
    errors: &mut Vec<crate::error::FieldError>,
) {
    use crate::error::FieldError;
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("Tối đa {max} ký tự."),
            format!("At most {max} characters."),
        ));
    } else if has_control(value) {
        errors.push(FieldError::new(
            field,
            "invalid_characters",
            "Có ký tự điều khiển không hợp lệ.",
            "Contains control characters.",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escaped_nul_is_found_only_where_it_is_one() {
        assert!(has_escaped_nul(br#"{"a":"x\u0000y"}"#));
        assert!(has_escaped_nul(br#"{"a":"\\\u0000"}"#));
        // An escaped backslash followed by the text "u0000" is not a NUL.
        assert!(!has_escaped_nul(br#"{"a":"\\u0000"}"#));
        assert!(has_escaped_nul(br#"{"a":"\u00001"}"#));
        assert!(!has_escaped_nul(br#"{"a":"\u0001 \n \\"}"#));
        assert!(!has_escaped_nul(b"\\"));
        assert!(!has_escaped_nul(b""));
    }

    #[test]
    fn fields_are_bounded_in_characters_and_free_of_control_characters() {
        let mut errors = Vec::new();
        check_field("team", &"ă".repeat(max::TEAM), max::TEAM, &mut errors);
        assert!(errors.is_empty(), "64 Vietnamese letters are 64 characters");
        check_field("team", &"a".repeat(max::TEAM + 1), max::TEAM, &mut errors);
        check_field("full_name", "Nguyễn\u{0}Văn", max::FULL_NAME, &mut errors);
        check_field("full_name", "tab\there", max::FULL_NAME, &mut errors);
        let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(
            codes,
            ["too_long", "invalid_characters", "invalid_characters"]
        );
        assert!(has_control("\u{85}"), "C1 controls too");
        assert_eq!(fit("dtv.laichau", 64), "dtv.laichau");
        assert_eq!(fit(&"ă".repeat(100), 64).chars().count(), 64);
        assert_eq!(fit("a\u{0}b\n", 64), "a\u{FFFD}b\u{FFFD}");
        assert!(!has_control("Bản Nà Khương"));
    }
}
