//! Canonical serialisation and content hash of a questionnaire version.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::json::Json;
use crate::model::Questionnaire;

/// Writes `v` as canonical JSON: object keys sorted by byte order at every level, no whitespace,
/// strings and numbers as serde_json writes them (UTF-8, minimal escaping). One writer serves both
/// representations: a `Value` is viewed as a borrowed [`Json`] and written by
/// [`crate::json::write_canonical`].
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    crate::json::write_canonical(&Json::of_value(v), out);
}

/// Appends the JSON string literal of `s`, escaped as serde_json escapes it.
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes exactly the control characters, `"` and `\\`; most strings (codes,
    // Vietnamese text) have none, and are copied as they are.
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}

fn into_string(bytes: Vec<u8>) -> String {
    // Only UTF-8 is ever written: serde_json output of valid strings and ASCII punctuation.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Canonical JSON of any value (keys sorted recursively, no whitespace): the basis of every
/// content hash in the system, so a device and the server hash the same content identically.
pub fn canonical_json_of(v: &Value) -> String {
    let mut out = Vec::with_capacity(1024);
    write_canonical(v, &mut out);
    into_string(out)
}

/// Lowercase hex SHA-256 of [`canonical_json_of`].
pub fn canonical_hash_of(v: &Value) -> String {
    let mut out = Vec::with_capacity(1024);
    write_canonical(v, &mut out);
    sha256_hex(&out)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

impl Questionnaire {
    /// The canonical JSON of the parsed model: keys sorted recursively, no whitespace, defaults
    /// omitted as the model serialises them. A pure function of the model, so reformatting or
    /// reordering keys in the source file does not change it.
    pub fn canonical_json(&self) -> String {
        // Serialising this model cannot fail (string keys only, no floats).
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut out = Vec::with_capacity(32 * 1024);
        write_canonical(&v, &mut out);
        into_string(out)
    }

    /// Lowercase hex SHA-256 of [`Questionnaire::canonical_json`]. Two files publishing the same
    /// code + version with different content have different hashes.
    pub fn content_hash(&self) -> String {
        hex(&Sha256::digest(self.canonical_json().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition before streaming (a `Value` per key, `to_string` per scalar), kept verbatim
    /// as the reference the streaming writer must reproduce byte for byte.
    fn reference_canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_unstable();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    if let Some(child) = m.get(k) {
                        reference_canonical(child, out);
                    }
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, child) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    reference_canonical(child, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }

    #[test]
    fn keys_are_sorted_recursively_without_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [ {"z":1, "a":"é\"x"} ], "a": null, "B": 2.5 }"#)
                .unwrap();
        assert_eq!(
            canonical_json_of(&v),
            r#"{"B":2.5,"a":null,"b":[{"a":"é\"x","z":1}]}"#
        );
    }

    proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(
            s in prop_oneof![any::<String>(), "[a-zà-ỹ\"\\\\\u{0}-\u{1f}\u{7f} ]{0,12}"]
        ) {
            let mut out = Vec::new();
            write_json_str(&s, &mut out);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn streaming_writer_equals_the_reference_definition(v in crate::testing::any_json()) {
            let mut reference = String::new();
            reference_canonical(&v, &mut reference);
            prop_assert_eq!(canonical_json_of(&v), reference.clone());
            prop_assert_eq!(canonical_hash_of(&v), hex(&Sha256::digest(reference.as_bytes())));
        }
    }
}
