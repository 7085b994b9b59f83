//! (f) Property tests: no panics on any input; encode/decode round trip on generated valid forms.

use proptest::prelude::*;
use schema::builtin::sipas;
use schema::{Answers, Condition, QuestionKind, ValidAnswers, validate};
use serde_json::{Value, json};

/// Codes that occur in the SIPAS questionnaire, so random values often hit real paths.
fn vocabulary() -> Vec<String> {
    let q = sipas();
    let mut v: Vec<String> = Vec::new();
    for x in q.questions() {
        v.push(x.code.clone());
        v.extend(x.kind.options().iter().map(|o| o.code.clone()));
        if let QuestionKind::Grid { items, .. } = &x.kind {
            v.extend(items.iter().map(|i| i.code.clone()));
        }
    }
    v.extend([
        "dont_know".into(),
        "not_applicable".into(),
        "lat".into(),
        "lon".into(),
        "accuracy".into(),
    ]);
    v
}

fn arb_json() -> impl Strategy<Value = Value> {
    let vocab = vocabulary();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..8).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vocab.clone()).prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 8, move |inner| {
        let keys = prop_oneof![prop::sample::select(vocab.clone()), ".{0,6}"];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_answers() -> impl Strategy<Value = Answers> {
    let keys = prop_oneof![4 => prop::sample::select(vocabulary()), 1 => ".{0,8}"];
    prop::collection::btree_map(keys, arb_json(), 0..40).prop_map(|m| m.into_iter().collect())
}

/// Builds a valid SIPAS form, choosing every value from `bytes`.
fn build_valid(bytes: &[u8]) -> Answers {
    let q = sipas();
    let mut it = bytes.iter().copied().cycle();
    let mut next = move || it.next().unwrap_or(0);
    let mut a = Answers::new();
    let alphabet: Vec<char> = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ 0123456789".chars().collect();
    for x in q.questions() {
        if let Some(Condition::AnySelected { question, options }) = &x.relevant {
            let chosen = a
                .get(question)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !options.iter().any(|o| chosen.contains(&json!(o))) {
                continue;
            }
        }
        if !x.required && next() % 3 == 0 {
            continue;
        }
        let value = match &x.kind {
            QuestionKind::SingleChoice { options } => {
                json!(options[next() as usize % options.len()].code)
            }
            QuestionKind::MultipleChoice { options, min, max } => {
                let hi = max.map_or(options.len(), usize::from);
                let mut picked: Vec<&str> = Vec::new();
                for o in options {
                    if next() % 3 == 0 && picked.len() < hi && !o.exclusive {
                        picked.push(&o.code);
                    }
                }
                if picked.len() < usize::from(min.unwrap_or(0)) {
                    // Fall back to the exclusive option if there is one, else the first option.
                    let o = options.iter().find(|o| o.exclusive).unwrap_or(&options[0]);
                    picked = vec![&o.code];
                }
                picked.reverse(); // order on the wire does not matter
                json!(picked)
            }
            QuestionKind::Grid { items, .. } => {
                let scale = q.scale_of(x).unwrap();
                let n = usize::from(scale.n_levels());
                let mut rows = serde_json::Map::new();
                for i in items {
                    let k = next() as usize % (n + scale.special.len());
                    let v = if k < n {
                        json!(k + 1)
                    } else {
                        json!(scale.special[k - n].code)
                    };
                    rows.insert(i.code.clone(), v);
                }
                Value::Object(rows)
            }
            QuestionKind::Integer { .. } => json!(18 + i64::from(next() % 103)),
            QuestionKind::Text { max_length } => {
                let len = 1 + next() as usize % (*max_length as usize).min(40);
                let mut s: String = (0..len)
                    .map(|_| alphabet[next() as usize % alphabet.len()])
                    .collect();
                if s.trim().is_empty() {
                    s.replace_range(..1, "x");
                }
                json!(s)
            }
            k => panic!("SIPAS has no {} question", k.name()),
        };
        a.insert(x.code.clone(), value);
    }
    a
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn validate_never_panics_on_random_json(v in arb_json()) {
        let answers = match v {
            Value::Object(m) => m,
            other => {
                let mut m = Answers::new();
                m.insert("age".into(), other);
                m
            }
        };
        let _ = validate(sipas(), &answers);
    }

    #[test]
    fn validate_never_panics_on_random_forms(answers in arb_answers()) {
        match validate(sipas(), &answers) {
            Ok(v) => {
                let blob = v.encode(sipas());
                prop_assert_eq!(ValidAnswers::decode(sipas(), &blob).unwrap(), v.clone());
                prop_assert_eq!(validate(sipas(), &v.to_json()).unwrap(), v);
            }
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn random_answers_over_a_valid_form_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 64),
        patch in arb_answers(),
    ) {
        let mut a = build_valid(&bytes);
        a.extend(patch);
        let via_map = validate(sipas(), &a);
        // The server reads the same text as borrowed JSON: the same outcome, errors included.
        let text = serde_json::to_string(&a).unwrap();
        let json: schema::json::JsonObject<'_> = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(schema::validate_json(sipas(), &json), via_map);
    }

    #[test]
    fn generated_valid_forms_round_trip(bytes in prop::collection::vec(any::<u8>(), 1..300)) {
        let q = sipas();
        let answers = build_valid(&bytes);
        let v = match validate(q, &answers) {
            Ok(v) => v,
            Err(e) => return Err(TestCaseError::fail(format!("generated form invalid: {e:?}"))),
        };
        let blob = v.encode(q);
        let text_bytes: usize = ["village_code", "comment", "province_code", "district_code", "commune_code"]
            .iter()
            .filter_map(|c| answers.get(*c).and_then(Value::as_str))
            .map(str::len)
            .sum();
        prop_assert!(blob.len() <= 120 + text_bytes, "{} bytes", blob.len());
        prop_assert_eq!(ValidAnswers::decode(q, &blob).unwrap(), v.clone());
        prop_assert_eq!(validate(q, &v.to_json()).unwrap(), v.clone());
        prop_assert_eq!(v.scored_levels(q).len(), 39);
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut b = bytes;
        if let Some(first) = b.first_mut() { *first = 1; }
        if b.len() > 1 { b[1] = 1; }
        if let Ok(v) = ValidAnswers::decode(sipas(), &b) {
            prop_assert!(validate(sipas(), &v.to_json()).is_ok());
        }
    }
}
