//! JSON read without copying: [`Json`] borrows its strings from the text it was parsed from, and
//! keeps objects as sorted vectors instead of maps.
//!
//! The server reads every submitted form's answers this way: a `serde_json::Value` tree costs an
//! allocation per key, string and map node, and the push path parses, hashes, validates and drops
//! about a hundred thousand of them a minute. A [`Json`] object behaves exactly as a
//! `serde_json::Map` (this workspace builds serde_json without `preserve_order`): keys in byte
//! order, a repeated key keeps its last value. So hashes ([`write_canonical`]) and validation
//! ([`crate::validate_json`]) give the same result for the same text, whichever way it was read.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::hash::write_json_str;

/// A JSON value whose strings borrow from the parsed text where they had no escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(Number),
    /// A string.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object.
    Object(JsonObject<'a>),
}

/// A JSON object: entries sorted by key bytes, each key once (the last occurrence in the text).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsonObject<'a> {
    entries: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> JsonObject<'a> {
    /// An object from entries in any order; of repeated keys the last one stays, as in a
    /// `serde_json::Map`.
    pub fn from_entries(mut entries: Vec<(Cow<'a, str>, Json<'a>)>) -> Self {
        // Stable: equal keys keep their text order, so the last one is the one to keep.
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        // In place: of a run of equal keys the first entry stays, holding the last one's value
        // (`later` is the one removed, after the swap holding the earlier value).
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        JsonObject { entries }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.entries
            .binary_search_by(|e| e.0.as_bytes().cmp(key.as_bytes()))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }

    /// The object of a `serde_json::Map`, borrowing its strings.
    pub fn of_map(m: &'a Map<String, Value>) -> Self {
        // Without serde_json's `preserve_order` a map iterates in key order already, and sorting
        // sorted entries is one pass; with it (if a dependency ever turned it on) this sorts.
        JsonObject::from_entries(
            m.iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::of_value(v)))
                .collect(),
        )
    }
}

impl<'a> Json<'a> {
    /// The value of a `serde_json::Value`, borrowing its strings.
    pub fn of_value(v: &'a Value) -> Self {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(Cow::Borrowed(s)),
            Value::Array(a) => Json::Array(a.iter().map(Json::of_value).collect()),
            Value::Object(m) => Json::Object(JsonObject::of_map(m)),
        }
    }

    /// The same value owning all its strings.
    pub fn into_owned(self) -> Json<'static> {
        let own = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Number(n) => Json::Number(n),
            Json::String(s) => Json::String(own(s)),
            Json::Array(a) => Json::Array(a.into_iter().map(Json::into_owned).collect()),
            Json::Object(o) => Json::Object(JsonObject {
                entries: o
                    .entries
                    .into_iter()
                    .map(|(k, v)| (own(k), v.into_owned()))
                    .collect(),
            }),
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The number as an `f64`, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

impl<'de> Deserialize<'de> for JsonObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Json::deserialize(d)? {
            Json::Object(o) => Ok(o),
            _ => Err(serde::de::Error::custom("expected a JSON object")),
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Json<'de>, E> {
        // As `serde_json::Value` reads it: a non-finite float is null.
        Ok(Number::from_f64(x).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        // serde_json gives no size hint; 8 holds a grid's rows without growing.
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if entries.is_empty() && k == RAW_VALUE_TOKEN {
                // serde_json (built with `raw_value`, as this workspace is) reads an object whose
                // first key is this token as the JSON text held in its value; a `Value` does, so
                // `Json` does the same and both readings of any text agree.
                let text: String = map.next_value()?;
                return serde_json::from_str::<Json<'_>>(&text)
                    .map(Json::into_owned)
                    .map_err(serde::de::Error::custom);
            }
            let v: Json<'de> = map.next_value()?;
            entries.push((k, v));
        }
        Ok(Json::Object(JsonObject::from_entries(entries)))
    }
}

/// The key serde_json uses to carry a raw JSON value through a map.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// An object key, borrowed from the text when it has no escapes (a `Cow<str>` deserialises owned).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Appends the canonical JSON of `v` (see [`crate::canonical_json_of`]: keys sorted by byte
/// order at every level, no whitespace, strings and numbers as serde_json writes them).
pub fn write_canonical(v: &Json<'_>, out: &mut Vec<u8>) {
    match v {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(true) => out.extend_from_slice(b"true"),
        Json::Bool(false) => out.extend_from_slice(b"false"),
        Json::Number(n) => {
            // Writing to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Json::String(s) => write_json_str(s, out),
        Json::Array(a) => {
            out.push(b'[');
            for (i, child) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(child, out);
            }
            out.push(b']');
        }
        Json::Object(o) => write_canonical_object(o, out),
    }
}

/// Appends the canonical JSON of an object.
pub fn write_canonical_object(o: &JsonObject<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, child)) in o.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(k, out);
        out.push(b':');
        write_canonical(child, out);
    }
    out.push(b'}');
}

/// An object whose canonical JSON can be written: the answers of a form, whether read as a
/// `serde_json::Map` (devices) or as a [`JsonObject`] (the server), hash the same.
pub trait CanonicalObject {
    /// Appends the canonical JSON of this object.
    fn write_canonical(&self, out: &mut Vec<u8>);
}

impl CanonicalObject for Map<String, Value> {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_canonical_object(&JsonObject::of_map(self), out);
    }
}

impl CanonicalObject for JsonObject<'_> {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_canonical_object(self, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::any_json;
    use crate::{canonical_json_of, hash::sha256_hex};
    use proptest::prelude::*;

    fn canonical(v: &Json<'_>) -> String {
        let mut out = Vec::new();
        write_canonical(v, &mut out);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_serde_json_does() {
        // `b` three times: the last of a run of equal keys wins, not the second.
        let text = r#"{"b":1,"a":{"y":"\u00e9","x":[1,2.5,-3]},"b":2,"b":"last","":null}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let json: Json<'_> = serde_json::from_str(text).unwrap();
        let Json::Object(o) = &json else {
            panic!("object")
        };
        assert_eq!(o.len(), 3);
        assert_eq!(o.get("b"), Some(&Json::String(Cow::Borrowed("last"))));
        assert_eq!(o.keys().collect::<Vec<_>>(), ["", "a", "b"]);
        assert_eq!(canonical(&json), canonical_json_of(&value));
        assert_eq!(json, Json::of_value(&value));
        // An escaped string is unescaped (owned); an unescaped one borrows from the text.
        let Some(Json::Object(a)) = o.get("a") else {
            panic!("object")
        };
        assert!(matches!(a.get("y"), Some(Json::String(Cow::Owned(s))) if s == "é"));
        assert!(matches!(o.get("b"), Some(Json::String(Cow::Borrowed(_)))));
    }

    #[test]
    fn the_raw_value_token_reads_as_a_value_reads_it() {
        for text in [
            r#"{"g":{"$serde_json::private::RawValue":"{\"lat\":1,\"lon\":2}"}}"#,
            r#"{"$serde_json::private::RawValue":"[1,\"x\",{\"b\":1,\"a\":2}]"}"#,
            r#"{"a":{"x":1,"$serde_json::private::RawValue":"7"}}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let json: Json<'_> = serde_json::from_str(text).unwrap();
            assert_eq!(canonical(&json), canonical_json_of(&value), "{text}");
        }
        let bad = r#"{"g":{"$serde_json::private::RawValue":5}}"#;
        assert!(serde_json::from_str::<Value>(bad).is_err());
        assert!(serde_json::from_str::<Json<'_>>(bad).is_err());
    }

    proptest! {
        /// Whatever the text, reading it as `Json` or as a `Value` gives the same canonical JSON
        /// (so the same content hash) and the same structure.
        #[test]
        fn json_reads_as_a_value_does(v in any_json()) {
            let text = serde_json::to_string(&v).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            let json: Json<'_> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(canonical(&json), canonical_json_of(&value));
            prop_assert_eq!(
                sha256_hex(canonical(&json).as_bytes()),
                crate::canonical_hash_of(&value)
            );
            prop_assert_eq!(json, Json::of_value(&value));
        }
    }
}
