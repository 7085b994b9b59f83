//! The browser's rules must agree with this crate's validator.
//!
//! Generates answer sets from the SIPAS questionnaire and the test questionnaires (valid ones, and
//! ones broken in every way the validator reports: every [`ErrorCode`]), validates them here, writes
//! the cases with their verdicts to a temporary folder, and runs `node` on
//! `tests/js/rules_parity.mjs`, which evaluates the same cases with the enumerator app's own rules
//! module (`server/app/rules.js`) and requires the same verdict and the same errors — field, code and
//! both messages, in order — for every case.
//!
//! Node.js is required: without `node` on the `PATH` (or `SIPAS_NODE`) this test fails, it does
//! not skip.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use schema::{
    Answers, ErrorCode, Question, QuestionKind, Questionnaire, builtin, sample, validate,
};
use serde_json::{Value, json};

/// xorshift64*: deterministic cases without a random-number crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo) as u64 + 1)) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// The `logic` questionnaire of `relevance.rs` (nested conditions, level compares).
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
    Questionnaire::from_json(&v.to_string()).expect("logic questionnaire loads")
}

/// Corners the others do not reach: one-sided bounds, an optional grid, constraints on other
/// questions (without an English message), every comparison operator, `any`/`all` empty, a
/// relevance that depends on a grid-less level, a multiple choice with a minimum of two.
fn edges() -> Questionnaire {
    let v = json!({
        "code": "edges", "version": 1, "title": {"vi": "Biên"},
        "scales": [{"code": "four", "levels": [{"vi": "1"}, {"vi": "2"}, {"vi": "3"}, {"vi": "4"}],
                    "special": [{"code": "na", "label": {"vi": "Không áp dụng"}}, {"code": "dk", "label": {"vi": "Không biết"}}]}],
        "sections": [
          {"code": "a", "title": {"vi": "A"}, "questions": [
            {"code": "n", "label": {"vi": "Số"}, "kind": {"type": "integer", "max": 10}},
            {"code": "m", "label": {"vi": "Số 2"}, "required": false, "kind": {"type": "integer"},
             "constraints": [
               {"condition": {"op": "cmp", "question": "m", "cmp": "!=", "value": 13}, "message": {"vi": "Không được là 13"}},
               {"condition": {"op": "any", "of": [{"op": "cmp", "question": "m", "cmp": "<", "value": 100},
                                                  {"op": "cmp", "question": "n", "cmp": "==", "value": 10}]},
                "message": {"vi": "Từ 100 trở lên chỉ khi n = 10", "en": "100 or more only when n = 10"}}]},
            {"code": "pick", "label": {"vi": "Chọn"}, "kind": {"type": "multiple_choice", "min": 2, "options": [
                {"code": "x", "label": {"vi": "X"}}, {"code": "y", "label": {"vi": "Y"}}, {"code": "z", "label": {"vi": "Z"}},
                {"code": "none", "label": {"vi": "Không chọn gì"}, "exclusive": true},
                {"code": "refuse", "label": {"vi": "Từ chối"}, "exclusive": true}]},
             "constraints": [{"condition": {"op": "not", "of": {"op": "all", "of": [
                 {"op": "selected", "question": "pick", "option": "x"}, {"op": "selected", "question": "pick", "option": "z"}]}},
               "message": {"vi": "Không chọn cả X và Z", "en": "Not both X and Z"}}]},
            {"code": "lv", "label": {"vi": "Mức"}, "kind": {"type": "level", "scale": "four"},
             "relevant": {"op": "any_selected", "question": "pick", "options": ["x", "y", "none"]}},
            {"code": "why", "label": {"vi": "Lý do"}, "kind": {"type": "text", "max_length": 3},
             "relevant": {"op": "any", "of": [{"op": "cmp", "question": "lv", "cmp": "<=", "value": 1},
                                              {"op": "answered", "question": "lv"}]}}
          ]},
          {"code": "b", "title": {"vi": "B"}, "questions": [
            {"code": "g", "label": {"vi": "Bảng"}, "required": false,
             "relevant": {"op": "all", "of": []},
             "kind": {"type": "grid", "scale": "four", "items": [{"code": "r1", "label": {"vi": "R1"}}, {"code": "r2", "label": {"vi": "R2"}}, {"code": "r3", "label": {"vi": "R3"}}]}},
            {"code": "never", "label": {"vi": "Không bao giờ"}, "relevant": {"op": "any", "of": []},
             "kind": {"type": "text", "max_length": 10}},
            {"code": "after", "label": {"vi": "Từ ngày"}, "kind": {"type": "date", "min": "2024-01-01"},
             "relevant": {"op": "not", "of": {"op": "answered", "question": "never"}}},
            {"code": "before", "label": {"vi": "Đến ngày"}, "required": false, "kind": {"type": "date", "max": "2025-06-30"},
             "constraints": [{"condition": {"op": "answered", "question": "after"}, "message": {"vi": "Cần ngày bắt đầu", "en": "A start date is needed"}}]},
            {"code": "pos", "label": {"vi": "Vị trí"}, "kind": {"type": "gps"},
             "relevant": {"op": "cmp", "question": "n", "cmp": ">", "value": 0}},
            {"code": "free", "label": {"vi": "Tự do"}, "required": false, "kind": {"type": "text", "max_length": 200}}
          ]}
        ]
    });
    Questionnaire::from_json(&v.to_string()).expect("edges questionnaire loads")
}

const TEXTS: [&str; 6] = [
    "Có",
    "ạ",
    "Ý kiến",
    "Mong chính quyền tiếp tục cải cách.",
    "😀 x",
    "a\tb",
];
const DATES: [&str; 8] = [
    "2020-01-01",
    "2023-06-15",
    "2024-02-29",
    "2024-01-01",
    "2025-06-30",
    "2026-12-07",
    "2030-12-31",
    "2019-03-01",
];

/// A well-formed value for a question (within its bounds where it has them).
fn random_value(rng: &mut Rng, q: &Questionnaire, question: &Question) -> Value {
    let level = |rng: &mut Rng, code: &str| -> Value {
        let scale = q.scale(code).expect("scale");
        if !scale.special.is_empty() && rng.chance(15) {
            json!(rng.pick(&scale.special).code)
        } else {
            json!(rng.range(1, i64::from(scale.n_levels())))
        }
    };
    match &question.kind {
        QuestionKind::SingleChoice { options } => json!(rng.pick(options).code),
        QuestionKind::MultipleChoice { options, min, max } => {
            let exclusive: Vec<_> = options.iter().filter(|o| o.exclusive).collect();
            if !exclusive.is_empty() && rng.chance(15) {
                return json!([rng.pick(&exclusive).code]);
            }
            let plain: Vec<&str> = options
                .iter()
                .filter(|o| !o.exclusive)
                .map(|o| o.code.as_str())
                .collect();
            let lo = usize::from(min.unwrap_or(0)).max(1).min(plain.len());
            let hi = max
                .map_or(plain.len(), usize::from)
                .min(plain.len())
                .max(lo);
            let n = rng.range(lo as i64, hi as i64) as usize;
            let mut chosen: Vec<&str> = Vec::new();
            while chosen.len() < n {
                let c = *rng.pick(&plain);
                if !chosen.contains(&c) {
                    chosen.push(c);
                }
            }
            json!(chosen)
        }
        QuestionKind::Level { scale } => level(rng, scale),
        QuestionKind::Grid { scale, items } => Value::Object(
            items
                .iter()
                .map(|it| (it.code.clone(), level(rng, scale)))
                .collect(),
        ),
        QuestionKind::Integer { min, max } => {
            let lo = min.unwrap_or(-1000);
            let hi = max.unwrap_or(lo.max(0) + 1000);
            json!(rng.range(lo, hi))
        }
        QuestionKind::Text { max_length } => {
            let ok: Vec<&&str> = TEXTS
                .iter()
                .filter(|t| t.chars().count() <= *max_length as usize)
                .collect();
            if ok.is_empty() {
                json!("a")
            } else {
                json!(**rng.pick(&ok))
            }
        }
        QuestionKind::Date { min, max } => {
            let ok: Vec<&&str> = DATES
                .iter()
                .filter(|d| min.as_deref().is_none_or(|m| **d >= m))
                .filter(|d| max.as_deref().is_none_or(|m| **d <= m))
                .collect();
            json!(**rng.pick(&ok))
        }
        QuestionKind::Gps {} => {
            let lat = 21.0 + rng.range(1, 999_999) as f64 / 1e6;
            let lon = 103.0 + rng.range(1, 999_999) as f64 / 1e6;
            if rng.chance(50) {
                json!({"lat": lat, "lon": lon, "accuracy": rng.range(1, 50) as f64 + 0.5})
            } else {
                json!({"lat": lat, "lon": lon})
            }
        }
    }
}

/// A form filled as an enumerator would: every question answered, then repaired with the
/// validator's answers (drop what is not relevant, answer what is required, redraw what fails a
/// constraint) until valid or out of rounds.
fn filled_form(rng: &mut Rng, q: &Questionnaire) -> Answers {
    let mut a = Answers::new();
    for question in q.questions() {
        if question.required || rng.chance(70) {
            a.insert(question.code.clone(), random_value(rng, q, question));
        }
    }
    for _ in 0..8 {
        let Err(errors) = validate(q, &a) else {
            break;
        };
        for e in errors {
            let code = e.question.split('.').next().unwrap_or("").to_owned();
            match e.code {
                ErrorCode::NotRelevant => {
                    a.remove(&code);
                }
                _ => {
                    if let Some(question) = q.question(&code) {
                        a.insert(code, random_value(rng, q, question));
                    }
                }
            }
        }
    }
    a
}

fn long_text(n: usize) -> String {
    "ạ".repeat(n)
}

/// Values that break a question in each way its kind can be broken (plus the generic ones).
fn broken_values(q: &Questionnaire, question: &Question) -> Vec<Value> {
    let mut out = vec![
        Value::Null,
        json!(true),
        json!(1.5),
        json!("zzz_not_an_option"),
        json!([]),
        json!({}),
        json!(["x"]),
        json!(42),
        json!(-7),
        json!("   "),
        json!("\u{85}"),
        json!("\u{feff}"),
        json!({"lat": 1}),
    ];
    match &question.kind {
        QuestionKind::SingleChoice { options } => {
            out.push(json!(format!("{}x", options[0].code)));
            out.push(json!(long_text(70)));
            out.push(json!([options[0].code]));
        }
        QuestionKind::MultipleChoice { options, .. } => {
            let c: Vec<&str> = options.iter().map(|o| o.code.as_str()).collect();
            out.push(json!([c[0], c[0]]));
            out.push(json!([c[0], "nope"]));
            out.push(json!([1, c[0], null]));
            out.push(json!(c));
            out.push(json!(
                options
                    .iter()
                    .filter(|o| !o.exclusive)
                    .map(|o| &o.code)
                    .collect::<Vec<_>>()
            ));
            if let Some(ex) = options.iter().find(|o| o.exclusive) {
                let other = options.iter().find(|o| !o.exclusive).expect("option");
                out.push(json!([other.code, ex.code]));
                out.push(json!([ex.code]));
            }
            out.push(json!([c[c.len() - 1]]));
        }
        QuestionKind::Level { scale } | QuestionKind::Grid { scale, .. } => {
            let s = q.scale(scale).expect("scale");
            let n = i64::from(s.n_levels());
            let mut levels = vec![
                json!(0),
                json!(n + 1),
                json!(-1),
                json!(2.5),
                json!("maybe"),
                json!(1_000_000_000_000_000i64),
                json!(n),
                json!(1),
                json!([]),
            ];
            levels.extend(s.special.iter().map(|o| json!(o.code)));
            if let QuestionKind::Grid { items, .. } = &question.kind {
                let row = |l: &Value| {
                    let mut m = serde_json::Map::new();
                    for (i, it) in items.iter().enumerate() {
                        m.insert(it.code.clone(), if i == 0 { l.clone() } else { json!(1) });
                    }
                    Value::Object(m)
                };
                for l in &levels {
                    out.push(row(l));
                }
                out.push(row(&Value::Null));
                let first_only: serde_json::Map<String, Value> =
                    [(items[0].code.clone(), json!(2))].into_iter().collect();
                out.push(Value::Object(first_only));
                let mut unknown = row(&json!(1));
                unknown["zz_row"] = json!(1);
                out.push(unknown);
                let mut many = row(&json!(1));
                for i in 0..25 {
                    many[format!("extra_{i:02}")] = json!(i);
                }
                out.push(many);
                let mut long = row(&json!("nope"));
                long[long_text(80)] = json!(1);
                out.push(long);
                out.push(Value::Object(
                    items
                        .iter()
                        .map(|it| (it.code.clone(), Value::Null))
                        .collect(),
                ));
            } else {
                out.extend(levels);
            }
        }
        QuestionKind::Integer { min, max } => {
            if let Some(m) = min {
                out.push(json!(m - 1));
                out.push(json!(m));
            }
            if let Some(m) = max {
                out.push(json!(m + 1));
                out.push(json!(m));
            }
            out.push(json!("42"));
            out.push(json!(9_007_199_254_740_991i64));
            out.push(json!(-9_007_199_254_740_991i64));
            out.push(json!(13));
            out.push(json!(150));
        }
        QuestionKind::Text { max_length } => {
            let n = *max_length as usize;
            out.push(json!(long_text(n)));
            out.push(json!(long_text(n + 1)));
            out.push(json!("a".repeat(n + 1)));
            out.push(json!(format!(" \u{2003}{}", "x")));
            out.push(json!("\u{3000}\u{2028}\t"));
        }
        QuestionKind::Date { .. } => {
            for d in [
                "2023-02-29",
                "2024-02-29",
                "2023-1-01",
                "2019-12-31",
                "2031-01-01",
                "2023-12-31",
                "2025-07-01",
                "",
                "２０２３-01-01",
                "2023/01/01",
                "0000-01-01",
                "2023-04-31",
            ] {
                out.push(json!(d));
            }
        }
        QuestionKind::Gps {} => {
            for v in [
                json!({"lat": 91.0, "lon": 0.5}),
                json!({"lat": 22.5, "lon": -181.25}),
                json!({"lat": 22.5, "lon": 103.5, "accuracy": -1.5}),
                json!({"lat": 22.5, "lon": 103.5, "accuracy": "x"}),
                json!({"lat": 22.5, "lon": 103.5, "accuracy": null}),
                json!({"lat": 22.5}),
                json!({"lat": 22.5, "lon": 103.5, "alt": 3}),
                json!({"lat": "22.5", "lon": 103.5}),
                json!({"lat": 1e300, "lon": 1e-7}),
                json!({"lat": -1.25e-9, "lon": 1e21}),
                json!({"lat": 90, "lon": -180, "accuracy": 0}),
                json!({"lat": null, "lon": 1}),
                json!([22.5, 103.5]),
            ] {
                out.push(v);
            }
        }
    }
    out
}

/// Keys that are not questions: one, many (past the reported maximum), Unicode ordering, long.
fn unknown_keys(rng: &mut Rng) -> Vec<(String, Value)> {
    match rng.below(5) {
        0 => vec![("zzz".into(), json!(1))],
        1 => (0..25).map(|i| (format!("k{i:02}"), json!(i))).collect(),
        2 => vec![
            ("é".into(), json!(1)),
            ("😀".into(), json!(2)),
            ("\u{ffee}".into(), json!(3)),
            ("Z".into(), json!(4)),
        ],
        3 => vec![(long_text(70), json!("x"))],
        _ => vec![("__proto__".into(), json!({"a": 1})), ("".into(), json!(0))],
    }
}

struct Case {
    questionnaire: String,
    answers: Answers,
}

fn cases_for(rng: &mut Rng, name: &str, q: &Questionnaire, bases: Vec<Answers>) -> Vec<Case> {
    let mut bases = bases;
    for _ in 0..40 {
        bases.push(filled_form(rng, q));
    }
    let mut out: Vec<Case> = bases
        .iter()
        .map(|a| Case {
            questionnaire: name.into(),
            answers: a.clone(),
        })
        .collect();
    let questions: Vec<&Question> = q.questions().collect();
    // Every broken value at every question, on a valid base.
    for question in &questions {
        for v in broken_values(q, question) {
            let mut a = rng.pick(&bases).clone();
            a.insert(question.code.clone(), v);
            out.push(Case {
                questionnaire: name.into(),
                answers: a,
            });
        }
        let mut a = rng.pick(&bases).clone();
        a.remove(&question.code);
        out.push(Case {
            questionnaire: name.into(),
            answers: a,
        });
    }
    // Several breaks at once, unknown keys, answers to skipped questions.
    for _ in 0..250 {
        let mut a = rng.pick(&bases).clone();
        for _ in 0..rng.range(1, 3) {
            let question = *rng.pick(&questions);
            if rng.chance(25) {
                a.insert(question.code.clone(), random_value(rng, q, question));
            } else if rng.chance(10) {
                a.remove(&question.code);
            } else {
                let vs = broken_values(q, question);
                a.insert(question.code.clone(), rng.pick(&vs).clone());
            }
        }
        if rng.chance(20) {
            a.extend(unknown_keys(rng));
        }
        out.push(Case {
            questionnaire: name.into(),
            answers: a,
        });
    }
    out
}

fn node() -> String {
    std::env::var("SIPAS_NODE").unwrap_or_else(|_| "node".into())
}

#[test]
fn the_apps_rules_agree_with_the_validator() {
    let mut rng = Rng(0x5ea5_0f19_2026_1207);
    let kitchen = common::kitchen();
    let logic = logic();
    let edges = edges();
    let sipas = builtin::sipas();
    let mut cases = Vec::new();
    cases.extend(cases_for(
        &mut rng,
        "sipas",
        sipas,
        vec![
            sample::complete_sipas_answers(),
            sample::sipas_answers_without_services(),
        ],
    ));
    cases.extend(cases_for(
        &mut rng,
        "kitchen",
        &kitchen,
        vec![common::kitchen_answers()],
    ));
    cases.extend(cases_for(
        &mut rng,
        "logic",
        &logic,
        vec![common::obj(
            json!({"kids": 2, "school": "private", "why": "gần nhà"}),
        )],
    ));
    cases.extend(cases_for(&mut rng, "edges", &edges, Vec::new()));

    let by_name = |n: &str| match n {
        "sipas" => sipas,
        "kitchen" => &kitchen,
        "logic" => &logic,
        _ => &edges,
    };
    let mut seen: BTreeSet<ErrorCode> = BTreeSet::new();
    let mut valid = 0usize;
    let mut out_cases = Vec::with_capacity(cases.len());
    // A SIPAS form without a district (the 2025 geography) need not answer the district
    // question: a third of the SIPAS cases are checked as such, and the complete form without it.
    let mut no_district = sample::complete_sipas_answers();
    no_district.remove(schema::DISTRICT_QUESTION);
    for _ in 0..2 {
        cases.push(Case {
            questionnaire: "sipas".into(),
            answers: no_district.clone(),
        });
    }
    let n_cases = cases.len();
    for (i, c) in cases.iter().enumerate() {
        let not_required: &[&str] =
            if c.questionnaire == "sipas" && (i % 3 == 0 || i == n_cases - 1) {
                &[schema::DISTRICT_QUESTION]
            } else {
                &[]
            };
        let verdict = schema::validate_with(by_name(&c.questionnaire), &c.answers, not_required);
        let errors = match &verdict {
            Ok(_) => {
                valid += 1;
                Vec::new()
            }
            Err(e) => e.clone(),
        };
        seen.extend(errors.iter().map(|e| e.code));
        out_cases.push(json!({
            "questionnaire": c.questionnaire,
            "not_required": not_required,
            "answers": c.answers,
            "valid": verdict.is_ok(),
            "errors": errors,
        }));
    }
    let invalid = cases.len() - valid;
    assert!(cases.len() >= 1000, "only {} cases", cases.len());
    assert!(valid >= 100, "only {valid} valid cases");
    let missing: Vec<_> = ErrorCode::ALL
        .iter()
        .filter(|c| !seen.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "no case makes the validator report {missing:?}"
    );

    let doc = json!({
        "questionnaires": {
            "sipas": sipas, "kitchen": kitchen, "logic": logic, "edges": edges,
        },
        "cases": out_cases,
    });
    let dir = std::env::temp_dir().join(format!("sipas-js-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&doc).expect("json")).expect("write cases");

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("tests/js/rules_parity.mjs");
    let run = Command::new(node())
        .arg(&script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run Node.js ({}): {e}. Node.js is required for this test \
                 (install `nodejs`, or set SIPAS_NODE).",
                node()
            )
        });
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!(
        "{} cases ({valid} valid, {invalid} invalid, {} error codes seen)\n{stdout}",
        cases.len(),
        seen.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run.status.success(),
        "the app's rules disagree with the validator:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{} cases agree", cases.len())),
        "node did not check every case:\n{stdout}"
    );
}
