//! Canonical serialisation and content hash of a questionnaire version.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::Questionnaire;

/// Writes `v` as canonical JSON: object keys sorted by byte order at every level, no whitespace,
/// strings and numbers as serde_json writes them (UTF-8, minimal escaping). Sorting is done here,
/// so the result does not depend on serde_json's `preserve_order` feature.
fn write_canonical(v: &Value, out: &mut String) {
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
                    write_canonical(child, out);
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
                write_canonical(child, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Canonical JSON of any value (keys sorted recursively, no whitespace): the basis of every
/// content hash in the system, so a device and the server hash the same content identically.
pub fn canonical_json_of(v: &Value) -> String {
    let mut out = String::with_capacity(1024);
    write_canonical(v, &mut out);
    out
}

/// Lowercase hex SHA-256 of [`canonical_json_of`].
pub fn canonical_hash_of(v: &Value) -> String {
    hex(&Sha256::digest(canonical_json_of(v).as_bytes()))
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
        let mut out = String::with_capacity(32 * 1024);
        write_canonical(&v, &mut out);
        out
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

    #[test]
    fn keys_are_sorted_recursively_without_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [ {"z":1, "a":"é\"x"} ], "a": null, "B": 2.5 }"#)
                .unwrap();
        let mut s = String::new();
        write_canonical(&v, &mut s);
        assert_eq!(s, r#"{"B":2.5,"a":null,"b":[{"a":"é\"x","z":1}]}"#);
    }
}
