//! Property-test strategies shared by this crate's tests and other crates' (feature `testing`).

use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value: unicode, spaces and control characters in keys and strings, integers of both
/// signs, floats (non-finite ones become `null` in a `Value`), nesting — what a device might send.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-zé\"\\\u{0}-\u{1f}\u{7f}\u{2028}😀 ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z_é😀\"\u{0}]{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}
