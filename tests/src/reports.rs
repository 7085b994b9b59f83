//! What the ministry and the provinces read: the index reports of a round (`/indices`,
//! `/perception`, `/expectations`, `/compare`) and their figures, the forms of a round, and the
//! questionnaire versions the ministry publishes.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestApp;

/// `/api/v1/rounds/{round}/{report}?{query}`
pub fn report(round: &str, report: &str, query: &str) -> String {
    format!("/api/v1/rounds/{round}/{report}?{query}")
}

/// A figure of a result's estimates by key: `item/p1.info_forms`, `group/p1`, `component/policy`,
/// `overall/sipas` (the keys `/compare` uses).
pub fn figure<'a>(result: &'a Value, key: &str) -> &'a Value {
    let e = &result["estimates"];
    let (kind, code) = key.split_once('/').expect("kind/code");
    let found = match kind {
        "item" => e["items"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["address"] == code)),
        "group" | "component" => e[if kind == "group" {
            "groups"
        } else {
            "components"
        }]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["code"] == code)),
        "overall" => Some(&e["overall"]).filter(|o| o["code"] == code),
        _ => None,
    };
    &found.unwrap_or_else(|| panic!("no {key} in {e}"))["figure"]
}

/// The value of a figure (panics when it has none).
pub fn value(f: &Value) -> f64 {
    f["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no value: {f}"))
}

/// Percent-encodes a query parameter value (everything but unreserved ASCII).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The built-in SIPAS questionnaire as JSON, as the ministry would publish it.
pub fn sipas_json() -> Value {
    serde_json::to_value(schema::builtin::sipas()).expect("serialise the questionnaire")
}

/// The built-in SIPAS questionnaire as `version`, with its Vietnamese title replaced when
/// `title_vi` is given.
pub fn sipas_version(version: u32, title_vi: Option<&str>) -> Value {
    let mut q = sipas_json();
    q["version"] = json!(version);
    if let Some(title) = title_vi {
        q["title"]["vi"] = json!(title);
    }
    q
}

impl TestApp {
    /// The one result of a single-unit `/indices` answer (asserting 200).
    pub async fn indices_of(&self, token: &str, round: &str, query: &str) -> Value {
        let body = self.get_ok(token, &report(round, "indices", query)).await;
        let results = body["results"].as_array().expect("results");
        assert_eq!(results.len(), 1, "{body}");
        results[0].clone()
    }

    /// Publishes a questionnaire version as `admin`; returns status and body.
    pub async fn publish(&self, admin: &str, questionnaire: &Value) -> (u16, Value) {
        self.post_as(admin, "/api/v1/questionnaires", questionnaire)
            .await
    }

    /// Every form id of the round `token` may list, with repeats, paging through
    /// `/rounds/{round}/forms`.
    pub async fn form_ids(&self, token: &str, round: &str) -> Vec<Uuid> {
        let mut ids = Vec::new();
        let mut after: Option<i64> = None;
        loop {
            let path = match after {
                Some(a) => format!("/api/v1/rounds/{round}/forms?limit=1000&after={a}"),
                None => format!("/api/v1/rounds/{round}/forms?limit=1000"),
            };
            let (s, body) = self.get_as(token, &path).await;
            assert_eq!(s, 200, "{body}");
            for f in body["forms"].as_array().expect("forms") {
                ids.push(Uuid::parse_str(f["id"].as_str().expect("id")).expect("uuid"));
            }
            match body["next_after"].as_i64() {
                Some(a) => after = Some(a),
                None => return ids,
            }
        }
    }
}
