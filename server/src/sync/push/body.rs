//! Reading a push body: split once into the forms' texts (a quarantined form keeps its text as
//! sent), then each form parsed from its text and prepared: hashed, validated against its
//! questionnaire version, encoded, and digested for the index statistics. A form that does not
//! have the protocol's shape fails alone: it becomes a quarantine entry, the others go on.

use std::sync::Arc;

use indices::{FormDigest, StatsLayout};
use schema::json::JsonObject;
use serde_json::{Value, value::RawValue};
use sync_protocol::{FieldProblem, FormSubmission};
use uuid::Uuid;

use crate::{
    definitions::{Definition, Definitions},
    error::{ApiError, JsonBytes},
};

/// The body's shape, `{"forms": [...]}`, each form left as its text.
#[derive(serde::Deserialize)]
struct Shape<F> {
    forms: Vec<F>,
}

/// The texts of a push body's forms, as sent. Fails with the error [`crate::error::ApiJson`]
/// gives when the body is not a JSON object with a `forms` array (or not UTF-8).
pub(super) fn split(body: &JsonBytes) -> Result<Vec<&str>, ApiError> {
    serde_json::from_slice::<Shape<&RawValue>>(&body.0)
        .map(|r| r.forms.into_iter().map(RawValue::get).collect())
        .map_err(|_| body.rejection::<Shape<Box<RawValue>>>())
}

/// A form that parsed, with what was worked out from it before the lookups.
pub(crate) struct Prepared {
    /// Its place in the push.
    pub idx: usize,
    /// The form, its answers dropped once checked.
    pub f: FormSubmission,
    /// Its content hash.
    pub hash: String,
    /// What its questionnaire version made of its answers; `None` when the version is not
    /// published.
    pub checked: Option<Checked>,
}

/// A form's answers checked against its questionnaire version.
pub(crate) struct Checked {
    /// The version's stats layout.
    pub layout: Arc<StatsLayout>,
    /// What the answers add to the index stats and their stored encoding, or the field errors.
    pub valid: Result<(FormDigest, Vec<u8>), Vec<FieldProblem>>,
    /// The index items' answers of valid answers (for the quality signals), else empty.
    pub items: Vec<indices::ItemAnswer>,
}

/// A form that does not have the protocol's shape, with what could be salvaged from it to file
/// it under its id and round.
pub(crate) struct Malformed {
    /// Its place in the push.
    pub idx: usize,
    /// Its id, if it has a readable one.
    pub id: Option<Uuid>,
    /// Its round, if it names one.
    pub round: Option<String>,
    /// Why it does not parse.
    pub problem: FieldProblem,
}

/// The forms of a push, in the body's order: prepared, or malformed.
#[derive(Default)]
pub(crate) struct Forms {
    /// The forms that parsed.
    pub prepared: Vec<Prepared>,
    /// The forms that did not.
    pub malformed: Vec<Malformed>,
}

/// A questionnaire code and version.
type VersionKey = (String, u32);

/// Parses and prepares every form of `texts`. The questionnaire versions they name come from
/// `definitions` (read from the database the first time); a version that is not published leaves
/// its forms unchecked ([`Prepared::checked`] is `None`), for the verdict to refuse.
pub(super) async fn prepare_all(
    db: &sea_orm::DatabaseConnection,
    definitions: &Definitions,
    texts: &[&str],
) -> Result<Forms, ApiError> {
    let mut out = Forms {
        prepared: Vec::with_capacity(texts.len()),
        malformed: Vec::new(),
    };
    // Versions looked up in the database during this push, published or not: a push of forms of
    // an unpublished version reads it once, not once per form.
    let mut looked_up: Vec<(VersionKey, Option<Arc<Definition>>)> = Vec::new();
    for (idx, raw) in texts.iter().enumerate() {
        let f = match serde_json::from_str::<FormSubmission<JsonObject<'_>>>(raw) {
            Ok(f) => f,
            Err(e) => {
                out.malformed.push(malformed(idx, raw, &e));
                continue;
            }
        };
        let (code, version) = (&f.questionnaire_code, f.questionnaire_version);
        let def = match definitions.cached(code, version) {
            Some(d) => Some(d),
            None => match looked_up
                .iter()
                .find(|((c, v), _)| c == code && *v == version)
            {
                Some((_, d)) => d.clone(),
                None => {
                    let d = definitions.get(db, code, version).await?;
                    looked_up.push(((code.clone(), version), d.clone()));
                    d
                }
            },
        };
        out.prepared.push(prepare(def.as_deref(), idx, f));
    }
    Ok(out)
}

/// Hashes a parsed form, validates it against its questionnaire version (if published) and
/// encodes it, then drops its answers.
pub(crate) fn prepare(
    def: Option<&Definition>,
    idx: usize,
    f: FormSubmission<JsonObject<'_>>,
) -> Prepared {
    let hash = f.content_hash();
    let checked = def.map(|d| {
        let mut items = Vec::new();
        let valid =
            schema::validate_json_with(&d.questionnaire, &f.answers, f.not_required_answers())
                .map(|v| {
                    items = d.layout.item_answers(&v);
                    (FormDigest::of(&d.layout, &v), v.encode(&d.questionnaire))
                })
                .map_err(|errors| errors.iter().map(FieldProblem::from).collect());
        Checked {
            layout: d.layout.clone(),
            valid,
            items,
        }
    });
    Prepared {
        idx,
        f: f.without_answers(),
        hash,
        checked,
    }
}

/// A form that does not parse: its id and round salvaged if they can be read.
fn malformed(idx: usize, raw: &str, e: &serde_json::Error) -> Malformed {
    let loose: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    Malformed {
        idx,
        id: loose
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok()),
        round: loose
            .get("round")
            .and_then(Value::as_str)
            .map(str::to_owned),
        problem: FieldProblem::new(
            "form",
            "malformed",
            "Phiếu không đúng cấu trúc của giao thức đồng bộ.",
            format!("The form does not have the sync protocol's shape: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_form_keeps_what_can_be_read_of_it() {
        let id = Uuid::now_v7();
        let raw = format!(r#"{{"id":"{id}","round":"sipas-2025","units":7}}"#);
        let e = serde_json::from_str::<FormSubmission>(&raw).unwrap_err();
        let m = malformed(3, &raw, &e);
        assert_eq!(
            (m.idx, m.id, m.round.as_deref()),
            (3, Some(id), Some("sipas-2025"))
        );
        assert_eq!(
            (m.problem.field.as_str(), m.problem.code.as_str()),
            ("form", "malformed")
        );
        let m = malformed(0, "[1]", &e);
        assert_eq!((m.id, m.round), (None, None));
    }

    #[test]
    fn a_prepared_form_is_hashed_validated_and_encoded() {
        let def = Definition::new(schema::builtin::sipas().clone());
        let mut f = sync_protocol::sample::SipasForm::new().build();
        let text = serde_json::to_string(&f).unwrap();
        let p = prepare(Some(&def), 5, serde_json::from_str(&text).unwrap());
        assert_eq!((p.idx, p.hash.as_str()), (5, f.content_hash().as_str()));
        assert!(p.f.answers.is_empty(), "answers dropped once checked");
        let checked = p.checked.expect("checked");
        let (_, encoded) = checked.valid.expect("valid");
        let valid = schema::validate(&def.questionnaire, &f.answers).unwrap();
        assert_eq!(encoded, valid.encode(&def.questionnaire));
        // Not published: not checked; invalid answers: their problems, by question.
        assert!(
            prepare(None, 0, serde_json::from_str(&text).unwrap())
                .checked
                .is_none()
        );
        f.answers.remove("gender");
        let text = serde_json::to_string(&f).unwrap();
        let p = prepare(Some(&def), 0, serde_json::from_str(&text).unwrap());
        let problems = p.checked.unwrap().valid.unwrap_err();
        assert!(problems.iter().any(|p| p.field == "gender"), "{problems:?}");
    }

    /// Fuzzing the push body reader: whatever bytes arrive, splitting and preparing never panic;
    /// a body that splits has each form either prepared or malformed; and a form that parses is
    /// hashed exactly as the device hashes the same form.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Runs what a push does to a body before the lookups; returns how many forms it read.
        fn read(def: &Definition, body: &[u8]) -> Option<usize> {
            let body = JsonBytes(axum::body::Bytes::copy_from_slice(body));
            let texts = split(&body).ok()?;
            for (idx, raw) in texts.iter().enumerate() {
                match serde_json::from_str::<FormSubmission<JsonObject<'_>>>(raw) {
                    Ok(f) => {
                        let by_device =
                            serde_json::from_str::<FormSubmission>(raw).map(|f| f.content_hash());
                        let p = prepare(Some(def), idx, f);
                        assert!(p.checked.is_some());
                        if let Ok(h) = by_device {
                            assert_eq!(p.hash, h, "{raw}");
                        }
                    }
                    Err(e) => {
                        let m = malformed(idx, raw, &e);
                        assert_eq!(m.problem.code, "malformed");
                    }
                }
            }
            Some(texts.len())
        }

        fn valid_body() -> Vec<u8> {
            let forms: Vec<_> = (0..3)
                .map(|i| {
                    sync_protocol::sample::SipasForm::new()
                        .household(format!("HH-{i}"))
                        .build()
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({ "forms": forms })).unwrap()
        }

        /// A JSON value shaped like a form now and then: the protocol's keys with random values.
        fn arb_form_like() -> impl Strategy<Value = Value> {
            let keys = prop::sample::select(vec![
                "id",
                "round",
                "questionnaire_code",
                "questionnaire_version",
                "revision",
                "units",
                "household_ref",
                "started_at",
                "finished_at",
                "gps",
                "answers",
                "province",
                "commune",
                "village",
                "lat",
                "lon",
                "gender",
                "age",
            ]);
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(
                    |f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                ),
                ".{0,10}".prop_map(Value::String),
                Just(Value::String(Uuid::now_v7().to_string())),
                Just(Value::String("2026-12-07T08:00:00Z".into())),
            ];
            leaf.prop_recursive(3, 40, 8, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(keys.clone(), inner, 0..10).prop_map(|m| {
                        Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                    }),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
                let def = Definition::new(schema::builtin::sipas().clone());
                let _ = read(&def, &bytes);
            }

            #[test]
            fn a_mutated_valid_body_never_panics(
                edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
            ) {
                let def = Definition::new(schema::builtin::sipas().clone());
                let mut body = valid_body();
                for (at, byte, op) in edits {
                    let i = at.index(body.len());
                    match op {
                        0 => body[i] = byte,
                        1 => body.insert(i, byte),
                        _ => { body.remove(i); }
                    }
                }
                if let Some(n) = read(&def, &body) {
                    prop_assert!(n <= 4);
                }
            }

            #[test]
            fn form_like_elements_are_each_prepared_or_malformed(
                mut elements in prop::collection::vec(arb_form_like(), 0..6),
            ) {
                let def = Definition::new(schema::builtin::sipas().clone());
                let valid = sync_protocol::sample::SipasForm::new().build();
                elements.push(serde_json::to_value(&valid).unwrap());
                let body = serde_json::to_vec(&serde_json::json!({ "forms": elements })).unwrap();
                prop_assert_eq!(read(&def, &body), Some(elements.len()));
            }
        }
    }
}
