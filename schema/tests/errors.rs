//! (c) Table-driven validation errors: every `ErrorCode` is produced by at least one case, and never
//! for a valid form.

mod common;

use std::collections::BTreeSet;

use common::{kitchen, kitchen_answers, obj};
use schema::builtin::sipas;
use schema::sample::{complete_sipas_answers, sipas_answers_without_services};
use schema::{Answers, ErrorCode, FieldError, Questionnaire, validate};
use serde_json::{Value, json};

use ErrorCode::*;

/// A change to a valid form: set keys (`null` in the patch removes the key) then expect exactly
/// these (question, code) errors, in order.
struct Case {
    name: &'static str,
    patch: Value,
    expect: &'static [(&'static str, ErrorCode)],
}

fn apply(mut base: Answers, patch: &Value) -> Answers {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            base.remove(k);
        } else {
            base.insert(k.clone(), v.clone());
        }
    }
    base
}

fn run(q: &Questionnaire, base: &Answers, cases: &[Case], seen: &mut BTreeSet<ErrorCode>) {
    for c in cases {
        let answers = apply(base.clone(), &c.patch);
        let errors: Vec<FieldError> = match validate(q, &answers) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        };
        let got: Vec<(&str, ErrorCode)> = errors
            .iter()
            .map(|e| (e.question.as_str(), e.code))
            .collect();
        assert_eq!(got, c.expect, "case {:?}: {errors:#?}", c.name);
        for e in &errors {
            assert!(
                !e.message.vi.is_empty() && e.message.en.as_deref().is_some_and(|s| !s.is_empty())
            );
            seen.insert(e.code);
        }
    }
}

#[test]
fn every_error_code_is_produced_and_valid_forms_have_none() {
    let mut seen = BTreeSet::new();
    let k = kitchen();
    assert!(validate(&k, &kitchen_answers()).is_ok());
    let kitchen_cases = [
        Case {
            name: "missing required",
            patch: json!({"sex": null}),
            expect: &[("sex", Required)],
        },
        Case {
            name: "null is no answer",
            patch: json!({"sat1": Value::Null}),
            expect: &[("sat1", Required)],
        },
        Case {
            name: "missing grid row",
            patch: json!({"grid": {"x": 1}}),
            expect: &[("grid.y", Required)],
        },
        Case {
            name: "null grid row",
            patch: json!({"grid": {"x": 1, "y": null}}),
            expect: &[("grid.y", Required)],
        },
        Case {
            name: "missing grid",
            patch: json!({"grid": null}),
            expect: &[("grid", Required)],
        },
        Case {
            name: "empty grid is no answer",
            patch: json!({"grid": {}}),
            expect: &[("grid", Required)],
        },
        Case {
            name: "grid not relevant",
            patch: json!({"exp": ["b"]}),
            expect: &[("grid", NotRelevant)],
        },
        Case {
            name: "unknown key",
            patch: json!({"zzz": 1}),
            expect: &[("zzz", UnknownQuestion)],
        },
        Case {
            name: "unknown grid row",
            patch: json!({"grid": {"x": 1, "y": 2, "w": 3}}),
            expect: &[("grid.w", UnknownQuestion)],
        },
        Case {
            name: "unknown single option",
            patch: json!({"sex": "x"}),
            expect: &[("sex", UnknownOption)],
        },
        Case {
            name: "unknown multiple option",
            patch: json!({"exp": ["a", "q"]}),
            expect: &[("exp", UnknownOption)],
        },
        Case {
            name: "unknown special code",
            patch: json!({"sat1": "maybe"}),
            expect: &[("sat1", UnknownOption)],
        },
        Case {
            name: "unknown special in grid",
            patch: json!({"grid": {"x": "not_applicable", "y": 1}}),
            expect: &[("grid.x", UnknownOption)],
        },
        Case {
            name: "duplicate option",
            patch: json!({"exp": ["a", "a"]}),
            expect: &[("exp", DuplicateOption)],
        },
        Case {
            name: "too few",
            patch: json!({"exp": []}),
            expect: &[("exp", TooFewSelections)],
        },
        Case {
            name: "too many",
            patch: json!({"exp": ["a", "b", "c"]}),
            expect: &[("exp", TooManySelections)],
        },
        Case {
            name: "exclusive",
            patch: json!({"exp": ["a", "none"]}),
            expect: &[("exp", ExclusiveOption)],
        },
        Case {
            name: "exclusive alone is fine",
            patch: json!({"exp": ["none"], "grid": null}),
            expect: &[],
        },
        Case {
            name: "integer above max",
            patch: json!({"age": 150}),
            expect: &[("age", OutOfRange)],
        },
        Case {
            name: "integer below min",
            patch: json!({"age": -1}),
            expect: &[("age", OutOfRange)],
        },
        Case {
            name: "integer beyond i64",
            patch: json!({"age": u64::MAX}),
            expect: &[("age", OutOfRange)],
        },
        Case {
            name: "level above n",
            patch: json!({"sat1": 4}),
            expect: &[("sat1", OutOfRange)],
        },
        Case {
            name: "level zero",
            patch: json!({"sat1": 0}),
            expect: &[("sat1", OutOfRange)],
        },
        Case {
            name: "level negative",
            patch: json!({"sat1": -2}),
            expect: &[("sat1", OutOfRange)],
        },
        Case {
            name: "grid level above n",
            patch: json!({"grid": {"x": 9, "y": 1}}),
            expect: &[("grid.x", OutOfRange)],
        },
        Case {
            name: "date before min",
            patch: json!({"visit": "2019-12-31"}),
            expect: &[("visit", OutOfRange)],
        },
        Case {
            name: "latitude",
            patch: json!({"where": {"lat": 91.0, "lon": 0.0}}),
            expect: &[("where", OutOfRange)],
        },
        Case {
            name: "negative accuracy",
            patch: json!({"where": {"lat": 1.0, "lon": 2.0, "accuracy": -1}}),
            expect: &[("where", OutOfRange)],
        },
        Case {
            name: "text too long",
            patch: json!({"note": "abcdef"}),
            expect: &[("note", TooLong)],
        },
        Case {
            name: "blank text is no answer",
            patch: json!({"note": "   "}),
            expect: &[],
        },
        Case {
            name: "integer as string",
            patch: json!({"age": "30"}),
            expect: &[("age", WrongType)],
        },
        Case {
            name: "integer as float",
            patch: json!({"age": 30.5}),
            expect: &[("age", WrongType)],
        },
        Case {
            name: "choice as number",
            patch: json!({"sex": 1}),
            expect: &[("sex", WrongType)],
        },
        Case {
            name: "multiple as string",
            patch: json!({"exp": "a"}),
            expect: &[("exp", WrongType)],
        },
        Case {
            name: "multiple with number",
            patch: json!({"exp": [1]}),
            expect: &[("exp", WrongType)],
        },
        Case {
            name: "level as float",
            patch: json!({"sat1": 2.5}),
            expect: &[("sat1", WrongType)],
        },
        Case {
            name: "level as bool",
            patch: json!({"sat1": true}),
            expect: &[("sat1", WrongType)],
        },
        Case {
            name: "grid as array",
            patch: json!({"grid": [1, 2]}),
            expect: &[("grid", WrongType)],
        },
        Case {
            name: "grid row as object",
            patch: json!({"grid": {"x": {}, "y": 1}}),
            expect: &[("grid.x", WrongType)],
        },
        Case {
            name: "text as number",
            patch: json!({"note": 5}),
            expect: &[("note", WrongType)],
        },
        Case {
            name: "date as number",
            patch: json!({"visit": 20240101}),
            expect: &[("visit", WrongType)],
        },
        Case {
            name: "gps as string",
            patch: json!({"where": "22,103"}),
            expect: &[("where", WrongType)],
        },
        Case {
            name: "gps missing lon",
            patch: json!({"where": {"lat": 1.0}}),
            expect: &[("where", WrongType)],
        },
        Case {
            name: "gps extra key",
            patch: json!({"where": {"lat": 1.0, "lon": 1.0, "alt": 3}}),
            expect: &[("where", WrongType)],
        },
        Case {
            name: "invalid date",
            patch: json!({"visit": "2023-02-29"}),
            expect: &[("visit", InvalidDate)],
        },
        Case {
            name: "date in another format",
            patch: json!({"visit": "29/02/2024"}),
            expect: &[("visit", InvalidDate)],
        },
        Case {
            name: "constraint",
            patch: json!({"age": 17}),
            expect: &[("age", ConstraintFailed)],
        },
        Case {
            name: "everything is reported",
            patch: json!({"age": 17, "sex": "x", "exp": ["a", "a"], "note": "toolong", "zzz": 0}),
            expect: &[
                ("age", ConstraintFailed),
                ("sex", UnknownOption),
                ("exp", DuplicateOption),
                ("note", TooLong),
                ("zzz", UnknownQuestion),
            ],
        },
    ];
    run(&k, &kitchen_answers(), &kitchen_cases, &mut seen);

    let q = sipas();
    let long = "x".repeat(2001);
    let sipas_cases = [
        Case {
            name: "valid complete form",
            patch: json!({}),
            expect: &[],
        },
        Case {
            name: "comment is optional",
            patch: json!({"comment": null}),
            expect: &[],
        },
        Case {
            name: "missing service grid",
            patch: json!({"s2": null}),
            expect: &[("s2", Required)],
        },
        Case {
            name: "services not relevant",
            patch: json!({"c8_experiences": ["health_care"]}),
            expect: &[
                ("s1", NotRelevant),
                ("s2", NotRelevant),
                ("s3", NotRelevant),
                ("s4", NotRelevant),
                ("s5", NotRelevant),
            ],
        },
        Case {
            name: "none with others",
            patch: json!({"c8_experiences": ["commune_desk", "none"]}),
            expect: &[("c8_experiences", ExclusiveOption)],
        },
        Case {
            name: "under 18",
            patch: json!({"age": 17}),
            expect: &[("age", ConstraintFailed)],
        },
        Case {
            name: "comment too long",
            patch: json!({"comment": long}),
            expect: &[("comment", TooLong)],
        },
        Case {
            name: "level 6",
            patch: json!({"p3": {"economy": 6}}),
            expect: &[
                ("p3.economy", OutOfRange),
                ("p3.health", Required),
                ("p3.education", Required),
                ("p3.public_order", Required),
                ("p3.roads", Required),
                ("p3.electricity", Required),
                ("p3.water", Required),
                ("p3.social_security", Required),
                ("p3.admin_reform", Required),
            ],
        },
        Case {
            name: "province code too long",
            patch: json!({"province_code": "12345678901"}),
            expect: &[("province_code", TooLong)],
        },
        Case {
            name: "no expectation",
            patch: json!({"expectations": []}),
            expect: &[("expectations", TooFewSelections)],
        },
        Case {
            name: "unknown gender",
            patch: json!({"gender": "other"}),
            expect: &[("gender", UnknownOption)],
        },
        Case {
            name: "not applicable is an answer",
            patch: json!({"s1": {"signage": "not_applicable", "seating": "not_applicable", "equipment": 1}}),
            expect: &[],
        },
    ];
    run(q, &complete_sipas_answers(), &sipas_cases, &mut seen);
    assert!(validate(q, &sipas_answers_without_services()).is_ok());

    let missing: Vec<ErrorCode> = ErrorCode::ALL
        .iter()
        .copied()
        .filter(|c| !seen.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "error codes never produced: {missing:?}"
    );
}

#[test]
fn grid_errors_do_not_stop_other_rows() {
    let k = kitchen();
    let answers = apply(
        kitchen_answers(),
        &json!({"grid": {"x": 7, "y": "?", "w": 1}}),
    );
    let errors = validate(&k, &answers).unwrap_err();
    let got: Vec<(&str, ErrorCode)> = errors
        .iter()
        .map(|e| (e.question.as_str(), e.code))
        .collect();
    assert_eq!(
        got,
        [
            ("grid.w", UnknownQuestion),
            ("grid.x", OutOfRange),
            ("grid.y", UnknownOption)
        ]
    );
}

#[test]
fn error_codes_serialise_snake_case() {
    for code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        assert_eq!(code.to_string(), code.as_str());
    }
    let e = validate(&kitchen(), &obj(json!({"zzz": 1}))).unwrap_err();
    let v = serde_json::to_value(&e[0]).unwrap();
    assert_eq!(v["code"], "required");
    assert_eq!(v["question"], "age");
    assert!(v["message"]["vi"].as_str().unwrap().contains("bắt buộc"));
    let back: FieldError = serde_json::from_value(v).unwrap();
    assert_eq!(back, e[0]);
}

#[test]
fn hostile_keys_are_clipped_in_errors() {
    let key = "k".repeat(10_000);
    let e = validate(
        &kitchen(),
        &apply(kitchen_answers(), &json!({ key.clone(): 1 })),
    )
    .unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].question.len() < 100);
    assert!(e[0].message.vi.len() < 300);
}

/// A definition that never went through `check` may repeat a question code; each question with
/// that code reads the one answer under it, as a lookup by code always did (no false `required`).
#[test]
fn a_repeated_question_code_reads_the_same_answer() {
    let mut q: Questionnaire = sipas().clone();
    let age = q.sections[0].questions[0].clone();
    assert_eq!(age.code, "age");
    assert!(age.required);
    let last = q.sections.len() - 1;
    q.sections[last].questions.push(age);
    let v = validate(&q, &complete_sipas_answers()).expect("valid");
    assert_eq!(
        v.get("age"),
        validate(sipas(), &complete_sipas_answers())
            .unwrap()
            .get("age")
    );
    // The answer sits at the code's first position, and the blob round-trips.
    let n = q.questions().count();
    assert_eq!(v.at(0), v.get("age"));
    assert_eq!(v.at(n - 1), None);
    assert_eq!(
        schema::ValidAnswers::decode(&q, &v.encode(&q)),
        Ok(v.clone())
    );
    let e = validate(&q, &apply(complete_sipas_answers(), &json!({"age": null}))).unwrap_err();
    assert_eq!(
        e.iter()
            .map(|e| (e.question.as_str(), e.code))
            .collect::<Vec<_>>(),
        [("age", Required), ("age", Required)]
    );
}

/// `at(position)` finds what `get(code)` finds, for every question, answered or not; `iter`
/// lists the answers in code order.
#[test]
fn answers_are_found_by_position_as_by_code() {
    for answers in [complete_sipas_answers(), sipas_answers_without_services()] {
        let v = validate(sipas(), &answers).expect("valid");
        for (pos, question) in sipas().questions().enumerate() {
            assert_eq!(v.at(pos), v.get(&question.code), "{}", question.code);
        }
        let codes: Vec<&str> = v.iter().map(|(c, _)| c).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        assert_eq!(codes.len(), v.len());
        assert_eq!(v.at(usize::MAX), None);
    }
}

/// A form of made-up keys gets a bounded list of problems, however many it sends: the first keys
/// by name, the rest counted in one more error.
#[test]
fn unknown_keys_are_reported_up_to_a_bound() {
    let q = schema::builtin::sipas();
    let mut answers = schema::sample::complete_sipas_answers();
    for i in 0..100_000 {
        answers.insert(format!("made_up_{i:06}"), serde_json::json!(1));
    }
    let grid = q
        .sections
        .iter()
        .flat_map(|s| &s.questions)
        .find(|x| matches!(x.kind, schema::QuestionKind::Grid { .. }))
        .expect("a grid")
        .code
        .clone();
    let rows = answers
        .get_mut(&grid)
        .and_then(|v| v.as_object_mut())
        .expect("grid answered");
    for i in 0..50_000 {
        rows.insert(format!("row_{i:05}"), serde_json::json!(1));
    }
    let errors = schema::validate(q, &answers).unwrap_err();
    let n = schema::MAX_UNKNOWN_REPORTED;
    assert!(errors.len() <= 2 * (n + 1) + 1, "{} errors", errors.len());
    let last = errors.last().unwrap();
    assert_eq!(last.question, "answers");
    assert!(
        last.message
            .en
            .as_deref()
            .unwrap()
            .contains(&format!("{}", 100_000 - n))
    );
    let grid_summary = errors
        .iter()
        .find(|e| e.question == grid)
        .expect("the grid's rows counted");
    assert!(grid_summary.message.vi.contains(&format!("{}", 50_000 - n)));
    // Under the bound, every key is named.
    let mut few = schema::sample::complete_sipas_answers();
    few.insert("zzz".into(), serde_json::json!(1));
    let errors = schema::validate(q, &few).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].question, "zzz");
}
