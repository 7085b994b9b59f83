//! Shared test fixtures: a small questionnaire using every question kind.

#![allow(dead_code)]

use schema::{Answers, Questionnaire};
use serde_json::{Value, json};

/// A questionnaire with every kind of question, a relevance rule and a constraint.
pub fn kitchen_json() -> Value {
    json!({
        "code": "kitchen",
        "version": 3,
        "title": {"vi": "Phiếu thử", "en": "Test form"},
        "scales": [{
            "code": "sat",
            "levels": [{"vi": "Không hài lòng"}, {"vi": "Bình thường"}, {"vi": "Hài lòng"}],
            "special": [{"code": "dont_know", "label": {"vi": "Không biết"}}]
        }],
        "sections": [{
            "code": "a",
            "title": {"vi": "Phần A"},
            "questions": [
                {"code": "age", "label": {"vi": "Tuổi"}, "kind": {"type": "integer", "min": 0, "max": 120},
                 "constraints": [{"condition": {"op": "cmp", "question": "age", "cmp": ">=", "value": 18},
                                  "message": {"vi": "Phải từ 18 tuổi trở lên", "en": "Must be 18 or older"}}]},
                {"code": "sex", "label": {"vi": "Giới tính"}, "kind": {"type": "single_choice", "options": [
                    {"code": "m", "label": {"vi": "Nam"}}, {"code": "f", "label": {"vi": "Nữ"}}]}},
                {"code": "exp", "label": {"vi": "Trải nghiệm"}, "kind": {"type": "multiple_choice", "min": 1, "max": 2, "options": [
                    {"code": "a", "label": {"vi": "A"}}, {"code": "b", "label": {"vi": "B"}}, {"code": "c", "label": {"vi": "C"}},
                    {"code": "none", "label": {"vi": "Không có"}, "exclusive": true}]}},
                {"code": "sat1", "label": {"vi": "Hài lòng chung"}, "kind": {"type": "level", "scale": "sat"}},
                {"code": "grid", "label": {"vi": "Bảng"}, "relevant": {"op": "selected", "question": "exp", "option": "a"},
                 "kind": {"type": "grid", "scale": "sat", "items": [{"code": "x", "label": {"vi": "X"}}, {"code": "y", "label": {"vi": "Y"}}]}},
                {"code": "visit", "label": {"vi": "Ngày"}, "required": false,
                 "kind": {"type": "date", "min": "2020-01-01", "max": "2030-12-31"}},
                {"code": "where", "label": {"vi": "Vị trí"}, "required": false, "kind": {"type": "gps"}},
                {"code": "note", "label": {"vi": "Ghi chú"}, "required": false, "kind": {"type": "text", "max_length": 5}}
            ]
        }]
    })
}

pub fn kitchen() -> Questionnaire {
    Questionnaire::from_json(&kitchen_json().to_string()).expect("kitchen questionnaire loads")
}

/// A valid complete answer set for [`kitchen`].
pub fn kitchen_answers() -> Answers {
    obj(json!({
        "age": 30, "sex": "f", "exp": ["a"], "sat1": 2,
        "grid": {"x": 1, "y": "dont_know"},
        "visit": "2024-02-29",
        "where": {"lat": 22.4, "lon": 103.4, "accuracy": 5.0},
        "note": "ạạạạạ"
    }))
}

pub fn obj(v: Value) -> Answers {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}
