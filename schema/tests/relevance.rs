//! (d) Relevance works both ways: required when relevant, rejected when answered but not relevant.

mod common;

use common::obj;
use schema::builtin::sipas;
use schema::sample::{complete_sipas_answers, sipas_answers_without_services};
use schema::{ErrorCode, Questionnaire, validate};
use serde_json::json;

const SERVICE_GRIDS: [&str; 5] = ["s1", "s2", "s3", "s4", "s5"];

fn codes(r: Result<schema::ValidAnswers, Vec<schema::FieldError>>) -> Vec<(String, ErrorCode)> {
    match r {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| (e.question, e.code)).collect(),
    }
}

#[test]
fn service_grids_required_when_a_one_stop_desk_was_used() {
    let q = sipas();
    for desk in ["commune_desk", "district_desk", "province_center"] {
        // Relevant and answered: valid.
        let mut a = complete_sipas_answers();
        a.insert("c8_experiences".into(), json!([desk]));
        assert!(validate(q, &a).is_ok(), "{desk}");
        // Relevant and missing: required, each grid.
        let mut a = sipas_answers_without_services();
        a.insert("c8_experiences".into(), json!(["health_care", desk]));
        let expected: Vec<(String, ErrorCode)> = SERVICE_GRIDS
            .iter()
            .map(|g| (g.to_string(), ErrorCode::Required))
            .collect();
        assert_eq!(codes(validate(q, &a)), expected, "{desk}");
    }
}

#[test]
fn service_grids_rejected_when_no_one_stop_desk_was_used() {
    let q = sipas();
    for experiences in [
        json!(["health_care"]),
        json!(["asked_officials", "complaint"]),
        json!(["none"]),
    ] {
        // Not relevant and absent: valid, and the service items are not scored.
        let mut a = sipas_answers_without_services();
        a.insert("c8_experiences".into(), experiences.clone());
        let v = validate(q, &a).expect("valid without services");
        assert!(v.scored_levels(q)[23..].iter().all(Option::is_none));
        // Not relevant and answered: not_relevant, each grid.
        let mut a = complete_sipas_answers();
        a.insert("c8_experiences".into(), experiences);
        let expected: Vec<(String, ErrorCode)> = SERVICE_GRIDS
            .iter()
            .map(|g| (g.to_string(), ErrorCode::NotRelevant))
            .collect();
        assert_eq!(codes(validate(q, &a)), expected);
        // ... even a single answered grid row.
        let mut a = sipas_answers_without_services();
        a.insert("c8_experiences".into(), json!(["health_care"]));
        a.insert("s4".into(), json!({"fair": "not_applicable"}));
        assert_eq!(
            codes(validate(q, &a)),
            [("s4".to_string(), ErrorCode::NotRelevant)]
        );
    }
}

#[test]
fn malformed_trigger_does_not_cascade() {
    // When c8 itself is malformed, relevance of the service grids cannot be decided: only the
    // cause is reported, whether or not the grids are present.
    let q = sipas();
    for base in [complete_sipas_answers(), sipas_answers_without_services()] {
        let mut a = base;
        a.insert("c8_experiences".into(), json!(["bogus"]));
        assert_eq!(
            codes(validate(q, &a)),
            [("c8_experiences".to_string(), ErrorCode::UnknownOption)]
        );
    }
}

fn logic() -> Questionnaire {
    let v = json!({
        "code": "logic", "version": 1, "title": {"vi": "Logic"},
        "scales": [{"code": "s", "levels": [{"vi": "1"}, {"vi": "2"}, {"vi": "3"}], "special": [{"code": "dk", "label": {"vi": "Không biết"}}]}],
        "sections": [{"code": "a", "title": {"vi": "A"}, "questions": [
            {"code": "kids", "label": {"vi": "Số con"}, "kind": {"type": "integer", "min": 0, "max": 20}},
            {"code": "mood", "label": {"vi": "Tâm trạng"}, "required": false, "kind": {"type": "level", "scale": "s"}},
            {"code": "school", "label": {"vi": "Trường"}, "kind": {"type": "single_choice", "options": [
                {"code": "public", "label": {"vi": "Công lập"}}, {"code": "private", "label": {"vi": "Tư thục"}}]},
             "relevant": {"op": "cmp", "question": "kids", "cmp": ">", "value": 0}},
            {"code": "why", "label": {"vi": "Vì sao"}, "kind": {"type": "text", "max_length": 50},
             "relevant": {"op": "all", "of": [
                {"op": "answered", "question": "school"},
                {"op": "not", "of": {"op": "selected", "question": "school", "option": "public"}}]}},
            {"code": "cheer", "label": {"vi": "Vui"}, "kind": {"type": "text", "max_length": 50},
             "relevant": {"op": "any", "of": [
                {"op": "cmp", "question": "mood", "cmp": ">=", "value": 3},
                {"op": "cmp", "question": "kids", "cmp": ">=", "value": 5}]}}
        ]}]
    });
    Questionnaire::from_json(&v.to_string()).unwrap()
}

#[test]
fn nested_conditions() {
    let q = logic();
    let ok = |v| assert_eq!(codes(validate(&q, &obj(v))), [], "should be valid");
    let err = |v, e: &[(&str, ErrorCode)]| {
        let want: Vec<(String, ErrorCode)> = e.iter().map(|(q, c)| (q.to_string(), *c)).collect();
        assert_eq!(codes(validate(&q, &obj(v))), want);
    };
    ok(json!({"kids": 0}));
    err(
        json!({"kids": 0, "school": "public"}),
        &[("school", ErrorCode::NotRelevant)],
    );
    err(json!({"kids": 2}), &[("school", ErrorCode::Required)]);
    ok(json!({"kids": 2, "school": "public"}));
    err(
        json!({"kids": 2, "school": "public", "why": "gần nhà"}),
        &[("why", ErrorCode::NotRelevant)],
    );
    err(
        json!({"kids": 2, "school": "private"}),
        &[("why", ErrorCode::Required)],
    );
    ok(json!({"kids": 2, "school": "private", "why": "gần nhà"}));
    // `any` with a level compare; a special code never compares.
    err(
        json!({"kids": 0, "mood": 3}),
        &[("cheer", ErrorCode::Required)],
    );
    ok(json!({"kids": 0, "mood": 2}));
    ok(json!({"kids": 0, "mood": "dk"}));
    err(
        json!({"kids": 6, "school": "public", "mood": "dk"}),
        &[("cheer", ErrorCode::Required)],
    );
    ok(json!({"kids": 6, "school": "public", "mood": 1, "cheer": "!"}));
    // A malformed `kids` leaves school/cheer undecided: no cascade.
    err(
        json!({"kids": "two", "school": "public"}),
        &[("kids", ErrorCode::WrongType)],
    );
}
