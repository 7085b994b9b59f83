//! Sample SIPAS forms for tests, benches and the field simulator.

use serde_json::{Value, json};

use crate::builtin::sipas;
use crate::index::split_address;
use crate::validate::Answers;

fn grid(items: &[&str], level: u8) -> Value {
    Value::Object(
        items
            .iter()
            .map(|i| ((*i).to_owned(), json!(level)))
            .collect(),
    )
}

const AREAS: [&str; 9] = [
    "economy",
    "health",
    "education",
    "public_order",
    "roads",
    "electricity",
    "water",
    "social_security",
    "admin_reform",
];
const CHANNELS: [&str; 7] = [
    "meeting",
    "internet",
    "media",
    "loudspeaker",
    "officials",
    "relatives",
    "other",
];

/// A complete, valid SIPAS v1 form: every question answered (including the optional comment), the
/// respondent did a procedure at the commune one-stop desk (so the service grids S1–S5 are relevant),
/// satisfaction items mostly at levels 3–5 with two "don't know" (`p4.social_security`,
/// `s5.handling`).
pub fn complete_sipas_answers() -> Answers {
    let mut a = sipas_answers_without_services();
    a.insert(
        "c8_experiences".into(),
        json!(["health_care", "commune_desk", "asked_officials"]),
    );
    a.insert("s1".into(), grid(&["signage", "seating", "equipment"], 4));
    a.insert(
        "s2".into(),
        grid(&["posted", "documents", "fees", "deadline"], 5),
    );
    a.insert(
        "s3".into(),
        grid(&["courtesy", "guidance", "compliance"], 4),
    );
    a.insert("s4".into(), grid(&["on_time", "accurate", "fair"], 3));
    a.insert(
        "s5".into(),
        json!({"channels": 4, "handling": "dont_know", "notification": 4}),
    );
    a.insert(
        "comment".into(),
        json!("Mong chính quyền tiếp tục cải cách thủ tục hành chính."),
    );
    a
}

/// A valid SIPAS v1 form of a respondent who has not done a procedure at a one-stop desk: the service
/// grids S1–S5 are not relevant and absent; no comment.
pub fn sipas_answers_without_services() -> Answers {
    let v = json!({
        "age": 42,
        "gender": "female",
        "ethnicity": "thai",
        "education": "upper_secondary",
        "occupation": "farmer",
        "province_code": "12",
        "district_code": "105",
        "commune_code": "03430",
        "village_code": "Bản Nà Khương",
        "c1_interest": grid(&AREAS, 4),
        "c2_channels": ["meeting", "internet", "media"],
        "c3_channel_fit": grid(&CHANNELS, 4),
        "c4_participation": ["any_form", "meeting"],
        "c5_harassment": "none",
        "c6_informal_payment": "none",
        "c7_tthc_fit": {"in_person": 5, "partly_online": 4, "fully_online": "dont_know"},
        "c8_experiences": ["health_care", "child_school"],
        "p1": {"info_forms": 4, "info_clarity": 4},
        "p2": {"policy_making": 3, "feedback": 4},
        "p3": grid(&AREAS, 4),
        "p4": {
            "household_economy": 4, "local_economy": 4, "hospitals": 5, "schools": 4,
            "public_order": 5, "roads": 3, "electricity": 4, "water": 4,
            "social_security": "dont_know", "administration": 4
        },
        "expectations": ["facilities", "staff_capacity", "online_services", "digital", "transparency"],
    });
    match v {
        Value::Object(m) => m,
        _ => Answers::new(),
    }
}

/// A complete SIPAS v1 form (as [`complete_sipas_answers`]) whose 39 satisfaction items carry the
/// given answers, in the fixed index item order (`Questionnaire::index_items`: P1…P4, S1…S5, rows
/// in order). `1..=5` is a level, `0` means "don't know" (`dont_know`); items beyond `levels.len()`
/// keep the sample's answer. Values above 5 are written as given (an invalid form, deliberately).
pub fn sipas_answers_with_levels(levels: &[u8]) -> Answers {
    let mut a = complete_sipas_answers();
    let Some(index) = &sipas().index else {
        return a;
    };
    for (address, &level) in index.item_addresses().zip(levels) {
        let (grid_code, item) = split_address(address);
        let (Some(item), Some(Value::Object(rows))) = (item, a.get_mut(grid_code)) else {
            continue;
        };
        let v = if level == 0 {
            json!("dont_know")
        } else {
            json!(level)
        };
        rows.insert(item.to_owned(), v);
    }
    a
}
