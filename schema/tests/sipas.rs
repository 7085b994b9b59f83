//! (a) The built-in SIPAS questionnaire loads, passes its own checks, and has the published shape.

use schema::builtin::{SIPAS_JSON, sipas};
use schema::sample::{
    complete_sipas_answers, sipas_answers_with_levels, sipas_answers_without_services,
};
use schema::{Answer, QuestionKind, Questionnaire, ScoringRule, ValidAnswers, validate};

#[test]
fn sipas_file_loads_and_checks() {
    let q = Questionnaire::from_json(SIPAS_JSON).expect("SIPAS file loads");
    q.check().expect("consistent");
    assert_eq!(q.code, "sipas");
    assert_eq!(q.version, 1);
    assert_eq!(&q, sipas());
    assert!(schema::builtin::find("sipas", 1).is_some());
    assert!(schema::builtin::find("sipas", 2).is_none());
}

#[test]
fn every_label_is_bilingual() {
    // vi is required by the model; the built-in file also carries English everywhere.
    let json: serde_json::Value = serde_json::from_str(SIPAS_JSON).unwrap();
    fn walk(v: &serde_json::Value, n: &mut usize) {
        match v {
            serde_json::Value::Object(m) => {
                if m.contains_key("vi") {
                    *n += 1;
                    assert!(
                        m.get("en")
                            .and_then(|e| e.as_str())
                            .is_some_and(|e| !e.is_empty()),
                        "{v}"
                    );
                }
                m.values().for_each(|c| walk(c, n));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, n)),
            _ => {}
        }
    }
    let mut n = 0;
    walk(&json, &mut n);
    assert!(n > 150, "{n} labels");
}

#[test]
fn satisfaction_items_groups_and_components() {
    let q = sipas();
    let index = q.index.as_ref().unwrap();
    assert_eq!(index.scoring, ScoringRule::TopShare { top_levels: 2 });
    let sizes: Vec<usize> = index.groups.iter().map(|g| g.items.len()).collect();
    assert_eq!(sizes, vec![2, 2, 9, 10, 3, 4, 3, 3, 3]);
    let codes: Vec<&str> = index.groups.iter().map(|g| g.code.as_str()).collect();
    assert_eq!(
        codes,
        ["p1", "p2", "p3", "p4", "s1", "s2", "s3", "s4", "s5"]
    );
    assert_eq!(index.n_items(), 39);
    let comps: Vec<(&str, usize)> = index
        .components
        .iter()
        .map(|c| {
            let n = c
                .groups
                .iter()
                .map(|g| {
                    index
                        .groups
                        .iter()
                        .find(|x| &x.code == g)
                        .unwrap()
                        .items
                        .len()
                })
                .sum();
            (c.code.as_str(), n)
        })
        .collect();
    assert_eq!(comps, [("policy", 23), ("service", 16)]);
    assert_eq!(index.overall.code, "sipas");
    let items = q.index_items();
    assert_eq!(items.len(), 39);
    assert!(items.iter().all(|i| i.n_levels == 5 && i.item.is_some()));
    assert_eq!(items[0].address, "p1.info_forms");
    assert_eq!(items[38].address, "s5.notification");
}

#[test]
fn perception_criteria_and_expectations() {
    let q = sipas();
    let part1 = q.sections.iter().find(|s| s.code == "part1").unwrap();
    let kinds: Vec<(&str, &str, usize)> = part1
        .questions
        .iter()
        .map(|x| {
            let n = match &x.kind {
                QuestionKind::Grid { items, .. } => items.len(),
                k => k.options().len(),
            };
            (x.code.as_str(), x.kind.name(), n)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("c1_interest", "grid", 9),
            ("c2_channels", "multiple_choice", 7),
            ("c3_channel_fit", "grid", 7),
            ("c4_participation", "multiple_choice", 4),
            ("c5_harassment", "single_choice", 3),
            ("c6_informal_payment", "single_choice", 3),
            ("c7_tthc_fit", "grid", 3),
            ("c8_experiences", "multiple_choice", 9), // 8 experiences + exclusive "none"
        ]
    );
    let exp = q.question("expectations").unwrap();
    assert_eq!(exp.kind.options().len(), 10);
    let comment = q.question("comment").unwrap();
    assert!(!comment.required);
    for code in [
        "age",
        "gender",
        "ethnicity",
        "education",
        "occupation",
        "province_code",
        "district_code",
        "commune_code",
        "village_code",
    ] {
        assert!(q.question(code).is_some_and(|x| x.required), "{code}");
    }
    let scale = q.scale("satisfaction").unwrap();
    let levels: Vec<&str> = scale.levels.iter().map(|l| l.vi.as_str()).collect();
    assert_eq!(
        levels,
        [
            "Rất không hài lòng",
            "Không hài lòng",
            "Bình thường",
            "Hài lòng",
            "Rất hài lòng"
        ]
    );
    let special: Vec<&str> = scale.special.iter().map(|o| o.code.as_str()).collect();
    assert_eq!(special, ["dont_know", "not_applicable"]);
}

#[test]
fn sample_forms_are_valid() {
    let q = sipas();
    let full = validate(q, &complete_sipas_answers()).expect("complete form is valid");
    assert_eq!(full.len(), q.questions().count());
    let levels = full.scored_levels(q);
    assert_eq!(levels.len(), 39);
    assert_eq!(levels[0], Some(4));
    assert_eq!(levels[37], None, "s5.handling is dont_know");
    assert_eq!(full.selected_options("c5_harassment"), ["none"]);
    assert_eq!(
        full.selected_options("c8_experiences"),
        ["health_care", "commune_desk", "asked_officials"]
    );
    assert!(full.selected_options("age").is_empty());
    assert_eq!(full.get("age"), Some(&Answer::Integer(42)));

    let no_service =
        validate(q, &sipas_answers_without_services()).expect("valid without services");
    let levels = no_service.scored_levels(q);
    assert!(levels[23..].iter().all(Option::is_none));
    assert!(levels[..23].iter().filter(|l| l.is_some()).count() == 22);

    let custom: Vec<u8> = (0..39).map(|i| (i % 6) as u8).collect();
    let v = validate(q, &sipas_answers_with_levels(&custom)).expect("valid with given levels");
    let got = v.scored_levels(q);
    for (i, l) in custom.iter().enumerate() {
        assert_eq!(got[i], (*l != 0).then_some(*l), "item {i}");
    }
}

/// Grid rows behave as the map they replaced: in code order, the last of a code kept, found by
/// code — with few rows (found by scanning) and with many (found by binary search).
#[test]
fn grid_rows_behave_as_a_map() {
    use schema::{GridRows, LevelAnswer};
    use std::collections::BTreeMap;
    for n in [0usize, 1, 3, 16, 17, 40] {
        // Codes out of order, each code twice with different answers.
        let input: Vec<(String, LevelAnswer)> = (0..2 * n)
            .map(|i| {
                let code = format!("r{:02}", (i * 7) % n.max(1));
                let answer = if i % 5 == 0 {
                    LevelAnswer::Special("dont_know".into())
                } else {
                    LevelAnswer::Level((i % 5) as u8)
                };
                (code, answer)
            })
            .collect();
        let rows: GridRows = input.iter().cloned().collect();
        let map: BTreeMap<String, LevelAnswer> = input.into_iter().collect();
        let listed: Vec<(&str, &LevelAnswer)> = rows.iter().collect();
        let expected: Vec<(&str, &LevelAnswer)> =
            map.iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(listed, expected, "{n} rows");
        assert_eq!(rows.len(), map.len());
        for (k, v) in &map {
            assert_eq!(rows.get(k), Some(v), "{n} rows, {k}");
        }
        assert_eq!(rows.get("r99"), None);
        assert_eq!(rows.get(""), None);
    }
    assert!(GridRows::default().is_empty());
}

/// The district question is required by the questionnaire, and optional for a form whose
/// geography has no districts (`validate_with`); stored answers without it decode.
#[test]
fn the_district_answer_is_optional_only_where_asked() {
    let q = sipas();
    let mut a = schema::sample::complete_sipas_answers();
    a.remove(schema::DISTRICT_QUESTION);
    let errors = validate(q, &a).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].question.as_str(), errors[0].code.as_str()),
        (schema::DISTRICT_QUESTION, "required")
    );
    let v = schema::validate_with(q, &a, &[schema::DISTRICT_QUESTION]).unwrap();
    assert_eq!(ValidAnswers::decode(q, &v.encode(q)).unwrap(), v);
    a.insert(
        schema::DISTRICT_QUESTION.into(),
        serde_json::json!("x".repeat(50)),
    );
    let errors = schema::validate_with(q, &a, &[schema::DISTRICT_QUESTION]).unwrap_err();
    assert_eq!(errors[0].question, schema::DISTRICT_QUESTION);
}
