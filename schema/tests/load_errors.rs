//! (g) Every kind of load error, with the place named.

mod common;

use common::kitchen_json;
use schema::{LoadErrorKind as K, Questionnaire};
use serde_json::{Value, json};

fn with_index() -> Value {
    let mut v = kitchen_json();
    v["index"] = json!({
        "scoring": {"rule": "top_share", "top_levels": 1},
        "groups": [{"code": "g", "label": {"vi": "Nhóm"}, "items": ["grid.x", "grid.y", "sat1"]}],
        "components": [{"code": "c", "label": {"vi": "Thành phần"}, "groups": ["g"]}],
        "overall": {"code": "all", "label": {"vi": "Tổng"}}
    });
    v
}

/// Sets the value at a JSON pointer, creating the last key of an object if needed.
fn set(v: &mut Value, pointer: &str, x: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match v
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"))
    {
        Value::Object(m) => {
            m.insert(key.to_owned(), x);
        }
        Value::Array(a) => {
            let i: usize = key.parse().unwrap();
            if i == a.len() {
                a.push(x);
            } else {
                a[i] = x;
            }
        }
        _ => panic!("{parent} is not a container"),
    }
}

fn load(v: &Value) -> Result<Questionnaire, schema::LoadError> {
    Questionnaire::from_json(&v.to_string())
}

const Q: &str = "/sections/0/questions";

#[test]
fn fixtures_load() {
    assert!(load(&kitchen_json()).is_ok());
    let q = load(&with_index()).unwrap();
    assert_eq!(q.index_items().len(), 3);
}

#[test]
fn each_load_error_names_its_place() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str, K)> = vec![
        (
            "unknown field in a question kind",
            Box::new(|v| set(v, &format!("{Q}/0/kind/mni"), json!(1))),
            "section \"a\" question \"age\"",
            K::Parse("unknown field `mni`, expected `min` or `max`".into()),
        ),
        (
            "unknown field in gps",
            Box::new(|v| set(v, &format!("{Q}/6/kind/x"), json!(1))),
            "section \"a\" question \"where\"",
            K::Parse("unknown field `x`, there are no fields".into()),
        ),
        (
            "typo in a question",
            Box::new(|v| {
                let q = v
                    .pointer_mut(&format!("{Q}/1"))
                    .unwrap()
                    .as_object_mut()
                    .unwrap();
                let r = q.remove("label").unwrap();
                q.insert("lable".into(), r);
            }),
            "section \"a\" question \"sex\"",
            K::Parse(String::new()),
        ),
        (
            "typo in scoring",
            Box::new(|v| {
                set(
                    v,
                    "/index/scoring",
                    json!({"rule": "rescaled_mean", "top": 2}),
                )
            }),
            "index",
            K::Parse(String::new()),
        ),
        (
            "empty vi",
            Box::new(|v| set(v, &format!("{Q}/1/kind/options/1/label/vi"), json!("  "))),
            "section \"a\" question \"sex\" option \"f\"",
            K::EmptyLabel,
        ),
        (
            "empty en",
            Box::new(|v| set(v, "/title/en", json!(""))),
            "questionnaire title",
            K::EmptyLabel,
        ),
        (
            "bad question code",
            Box::new(|v| set(v, &format!("{Q}/0/code"), json!("Age"))),
            "section \"a\" question \"Age\"",
            K::BadCode("Age".into()),
        ),
        (
            "dot in item code",
            Box::new(|v| set(v, &format!("{Q}/4/kind/items/0/code"), json!("x.1"))),
            "section \"a\" question \"grid\" item \"x.1\"",
            K::BadCode("x.1".into()),
        ),
        (
            "duplicate question",
            Box::new(|v| set(v, &format!("{Q}/1/code"), json!("age"))),
            "section \"a\" question \"age\"",
            K::DuplicateQuestion("age".into()),
        ),
        (
            "duplicate option",
            Box::new(|v| set(v, &format!("{Q}/2/kind/options/1/code"), json!("a"))),
            "section \"a\" question \"exp\"",
            K::DuplicateOption("a".into()),
        ),
        (
            "duplicate special",
            Box::new(|v| {
                set(
                    v,
                    "/scales/0/special/1",
                    json!({"code": "dont_know", "label": {"vi": "Lặp"}}),
                )
            }),
            "scale \"sat\"",
            K::DuplicateOption("dont_know".into()),
        ),
        (
            "duplicate grid item",
            Box::new(|v| set(v, &format!("{Q}/4/kind/items/1/code"), json!("x"))),
            "section \"a\" question \"grid\"",
            K::DuplicateCode("x".into()),
        ),
        (
            "relevance to unknown question",
            Box::new(|v| set(v, &format!("{Q}/4/relevant/question"), json!("q99"))),
            "section \"a\" question \"grid\" relevance",
            K::UnknownQuestion("q99".into()),
        ),
        (
            "relevance to unknown option",
            Box::new(|v| set(v, &format!("{Q}/4/relevant/option"), json!("zz"))),
            "section \"a\" question \"grid\" relevance",
            K::UnknownOption("zz".into()),
        ),
        (
            "forward reference",
            Box::new(|v| {
                set(
                    v,
                    &format!("{Q}/1/relevant"),
                    json!({"op": "answered", "question": "note"}),
                )
            }),
            "section \"a\" question \"sex\" relevance",
            K::ForwardReference("note".into()),
        ),
        (
            "relevance on itself",
            Box::new(|v| {
                set(
                    v,
                    &format!("{Q}/1/relevant"),
                    json!({"op": "answered", "question": "sex"}),
                )
            }),
            "section \"a\" question \"sex\" relevance",
            K::ForwardReference("sex".into()),
        ),
        (
            "nested forward reference in a constraint",
            Box::new(|v| {
                set(
                    v,
                    &format!("{Q}/0/constraints/0/condition"),
                    json!({"op": "not", "of": {"op": "all", "of": [{"op": "answered", "question": "sex"}]}}),
                )
            }),
            "section \"a\" question \"age\" constraint 1",
            K::ForwardReference("sex".into()),
        ),
        (
            "selected on a non-choice",
            Box::new(|v| {
                set(
                    v,
                    &format!("{Q}/4/relevant"),
                    json!({"op": "selected", "question": "age", "option": "a"}),
                )
            }),
            "section \"a\" question \"grid\" relevance",
            K::BadCondition(String::new()),
        ),
        (
            "cmp on a choice",
            Box::new(|v| {
                set(
                    v,
                    &format!("{Q}/4/relevant"),
                    json!({"op": "cmp", "question": "sex", "cmp": ">", "value": 1}),
                )
            }),
            "section \"a\" question \"grid\" relevance",
            K::BadCondition(String::new()),
        ),
        (
            "unknown scale",
            Box::new(|v| set(v, &format!("{Q}/3/kind/scale"), json!("nope"))),
            "section \"a\" question \"sat1\"",
            K::UnknownScale("nope".into()),
        ),
        (
            "min above max",
            Box::new(|v| set(v, &format!("{Q}/0/kind/min"), json!(200))),
            "section \"a\" question \"age\"",
            K::BadRange(String::new()),
        ),
        (
            "max selections above options",
            Box::new(|v| set(v, &format!("{Q}/2/kind/max"), json!(9))),
            "section \"a\" question \"exp\"",
            K::BadRange(String::new()),
        ),
        (
            "zero text length",
            Box::new(|v| set(v, &format!("{Q}/7/kind/max_length"), json!(0))),
            "section \"a\" question \"note\"",
            K::BadRange(String::new()),
        ),
        (
            "bad date bound",
            Box::new(|v| set(v, &format!("{Q}/5/kind/max"), json!("2030-02-30"))),
            "section \"a\" question \"visit\"",
            K::BadRange(String::new()),
        ),
        (
            "one-level scale",
            Box::new(|v| set(v, "/scales/0/levels", json!([{"vi": "Một"}]))),
            "scale \"sat\"",
            K::BadRange(String::new()),
        ),
        (
            "top levels too many",
            Box::new(|v| set(v, "/index/scoring/top_levels", json!(3))),
            "index scoring",
            K::BadRange(String::new()),
        ),
        (
            "index item not a level-scale item",
            Box::new(|v| set(v, "/index/groups/0/items/2", json!("age"))),
            "index group \"g\" item \"age\"",
            K::NotLevelScale("age".into()),
        ),
        (
            "index grid without row",
            Box::new(|v| set(v, "/index/groups/0/items/2", json!("grid"))),
            "index group \"g\" item \"grid\"",
            K::NotLevelScale("grid".into()),
        ),
        (
            "index unknown question",
            Box::new(|v| set(v, "/index/groups/0/items/2", json!("q99.x"))),
            "index group \"g\" item \"q99.x\"",
            K::UnknownQuestion("q99".into()),
        ),
        (
            "index unknown grid row",
            Box::new(|v| set(v, "/index/groups/0/items/2", json!("grid.z"))),
            "index group \"g\" item \"grid.z\"",
            K::UnknownItem("grid.z".into()),
        ),
        (
            "index item twice",
            Box::new(|v| set(v, "/index/groups/0/items/2", json!("grid.x"))),
            "index group \"g\" item \"grid.x\"",
            K::DuplicateCode("grid.x".into()),
        ),
        (
            "component with unknown group",
            Box::new(|v| set(v, "/index/components/0/groups/0", json!("h"))),
            "index component \"c\"",
            K::UnknownGroup("h".into()),
        ),
        (
            "index codes collide",
            Box::new(|v| set(v, "/index/overall/code", json!("g"))),
            "index",
            K::DuplicateCode("g".into()),
        ),
        (
            "exclusive in single choice",
            Box::new(|v| set(v, &format!("{Q}/1/kind/options/0/exclusive"), json!(true))),
            "section \"a\" question \"sex\" option \"m\"",
            K::Invalid(String::new()),
        ),
        (
            "no options",
            Box::new(|v| set(v, &format!("{Q}/1/kind/options"), json!([]))),
            "section \"a\" question \"sex\"",
            K::Invalid(String::new()),
        ),
        (
            "empty section",
            Box::new(|v| set(v, "/sections/0/questions", json!([]))),
            "section \"a\"",
            K::Invalid(String::new()),
        ),
    ];
    let mut kinds_seen = std::collections::HashSet::new();
    for (name, edit, place, kind) in cases {
        let mut v = with_index();
        edit(&mut v);
        let e = load(&v).expect_err(name);
        assert_eq!(e.place, place, "{name}: {e}");
        // Compare the kind; an empty detail string means "any detail".
        let same = match (&e.kind, &kind) {
            (K::Parse(a), K::Parse(b))
            | (K::BadCondition(a), K::BadCondition(b))
            | (K::BadRange(a), K::BadRange(b))
            | (K::Invalid(a), K::Invalid(b)) => b.is_empty() || a == b,
            (a, b) => a == b,
        };
        assert!(same, "{name}: got {:?}, want {kind:?}", e.kind);
        let text = e.to_string();
        assert!(text.starts_with(place), "{name}: {text}");
        kinds_seen.insert(std::mem::discriminant(&e.kind));
    }
    assert_eq!(
        kinds_seen.len(),
        16,
        "every LoadErrorKind variant is exercised"
    );
}

#[test]
fn syntax_errors_have_a_position() {
    let e = Questionnaire::from_json("{\"code\": \"x\",\n  \"version\": }").unwrap_err();
    assert_eq!(e.place, "JSON");
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn display_reads_well() {
    let mut v = kitchen_json();
    set(&mut v, &format!("{Q}/4/relevant/question"), json!("q99"));
    let e = load(&v).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section \"a\" question \"grid\" relevance: refers to unknown question \"q99\""
    );
}
