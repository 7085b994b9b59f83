//! [`SipasForm`](crate::sample::SipasForm) gives a [`FormSubmission`](crate::FormSubmission) of
//! the built-in SIPAS questionnaire (code `sipas`, version 1) that the questionnaire accepts and a
//! Lai Châu enumerator may push, and lets a caller change any part of it.
//!
//! ```
//! use sync_protocol::sample::SipasForm;
//!
//! let f = SipasForm::new().commune("03390").village("Bản Nà Khương").build();
//! assert_eq!((f.round.as_str(), f.units.province.as_str()), ("sipas-2025", "12"));
//! assert_eq!(f.units.commune, "03390");
//! ```

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{FormSubmission, FormUnits, Gps};

/// The questionnaire code of every sample form.
pub const QUESTIONNAIRE: &str = "sipas";
/// The questionnaire version sample forms are filled on unless [`SipasForm::version`] says
/// otherwise.
pub const QUESTIONNAIRE_VERSION: u32 = 1;
/// The round sample forms belong to unless [`SipasForm::round`] says otherwise.
pub const ROUND: &str = "sipas-2025";
/// The default province: Lai Châu, `12` in both the 2023 and the 2025 geography.
pub const PROVINCE: &str = "12";
/// The default commune: phường Đoàn Kết, the first commune of Lai Châu in the 2025 geography.
pub const COMMUNE: &str = "03388";
/// The default village.
pub const VILLAGE: &str = "V01";

/// A sample SIPAS form being built: by default a complete, valid form
/// ([`schema::sample::complete_sipas_answers`]) of round [`ROUND`] in [`PROVINCE`], [`COMMUNE`],
/// [`VILLAGE`] (no district), revision 1, with a fresh [`Uuid::now_v7`] id, a household reference
/// no other sample form has, and no GPS fix or times. [`SipasForm::build`] gives the form.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SipasForm {
    form: FormSubmission,
}

impl Default for SipasForm {
    fn default() -> SipasForm {
        SipasForm::new()
    }
}

impl SipasForm {
    /// A builder holding the default form (see [`SipasForm`]).
    pub fn new() -> SipasForm {
        let id = Uuid::now_v7();
        SipasForm {
            form: FormSubmission {
                id,
                round: ROUND.into(),
                questionnaire_code: QUESTIONNAIRE.into(),
                questionnaire_version: QUESTIONNAIRE_VERSION,
                revision: 1,
                units: FormUnits {
                    province: PROVINCE.into(),
                    district: None,
                    commune: COMMUNE.into(),
                    village: VILLAGE.into(),
                },
                // Unique, as the id it is made from; it stays when `id` is changed.
                household_ref: format!("HH-{}", id.simple()),
                started_at: None,
                finished_at: None,
                gps: None,
                answers: schema::sample::complete_sipas_answers(),
            },
        }
    }

    /// The form's id.
    pub fn id(mut self, id: Uuid) -> SipasForm {
        self.form.id = id;
        self
    }

    /// The round code.
    pub fn round(mut self, code: impl Into<String>) -> SipasForm {
        self.form.round = code.into();
        self
    }

    /// The questionnaire version the form was filled on (the code stays `sipas`).
    pub fn version(mut self, version: u32) -> SipasForm {
        self.form.questionnaire_version = version;
        self
    }

    /// The revision (1 for a first submission).
    pub fn revision(mut self, revision: u32) -> SipasForm {
        self.form.revision = revision;
        self
    }

    /// The province code.
    pub fn province(mut self, code: impl Into<String>) -> SipasForm {
        self.form.units.province = code.into();
        self
    }

    /// The district code (rounds on a geography with districts, such as `sipas-2023`).
    pub fn district(mut self, code: impl Into<String>) -> SipasForm {
        self.form.units.district = Some(code.into());
        self
    }

    /// The commune code.
    pub fn commune(mut self, code: impl Into<String>) -> SipasForm {
        self.form.units.commune = code.into();
        self
    }

    /// The village code (any spelling: the server folds case and diacritics).
    pub fn village(mut self, code: impl Into<String>) -> SipasForm {
        self.form.units.village = code.into();
        self
    }

    /// The household's reference in the village frame.
    pub fn household(mut self, reference: impl Into<String>) -> SipasForm {
        self.form.household_ref = reference.into();
        self
    }

    /// All the answers, replacing the sample's (e.g. [`schema::sample::sipas_answers_with_levels`]).
    pub fn answers(mut self, answers: schema::Answers) -> SipasForm {
        self.form.answers = answers;
        self
    }

    /// One answer, by question code, added or replacing the one there (`age` 12 makes the form
    /// invalid: respondents are adults).
    pub fn answer(mut self, question: impl Into<String>, value: serde_json::Value) -> SipasForm {
        self.form.answers.insert(question.into(), value);
        self
    }

    /// The GPS fix at the household.
    pub fn gps(mut self, gps: Gps) -> SipasForm {
        self.form.gps = Some(gps);
        self
    }

    /// When filling started, by the device's clock.
    pub fn started_at(mut self, at: OffsetDateTime) -> SipasForm {
        self.form.started_at = Some(at);
        self
    }

    /// When filling finished, by the device's clock.
    pub fn finished_at(mut self, at: OffsetDateTime) -> SipasForm {
        self.form.finished_at = Some(at);
        self
    }

    /// The form.
    pub fn build(self) -> FormSubmission {
        self.form
    }
}

impl From<SipasForm> for FormSubmission {
    fn from(b: SipasForm) -> FormSubmission {
        b.build()
    }
}

/// A default sample form: `SipasForm::new().build()`.
pub fn form() -> FormSubmission {
    SipasForm::new().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn the_default_form_is_a_valid_first_sipas_submission() {
        let q = schema::builtin::sipas();
        let f = form();
        assert_eq!(
            (f.questionnaire_code.as_str(), f.questionnaire_version),
            (q.code.as_str(), q.version)
        );
        assert_eq!(f.round, "sipas-2025");
        assert_eq!(f.revision, 1);
        assert_eq!(
            f.units,
            FormUnits {
                province: "12".into(),
                district: None,
                commune: "03388".into(),
                village: "V01".into(),
            }
        );
        assert_eq!(f.id.get_version_num(), 7);
        assert_eq!(f.answers, schema::sample::complete_sipas_answers());
        assert!(schema::validate(q, &f.answers).is_ok());
        assert_eq!((f.gps, f.started_at, f.finished_at), (None, None, None));
    }

    #[test]
    fn each_form_has_its_own_id_and_household() {
        let (a, b) = (form(), form());
        assert_ne!(a.id, b.id);
        assert_ne!(a.household_ref, b.household_ref);
        // Changing the id keeps the household reference.
        let c = SipasForm::new().id(a.id).build();
        assert_eq!(c.id, a.id);
        assert_ne!(c.household_ref, a.household_ref);
    }

    #[test]
    fn every_setter_sets_its_field_and_only_it() {
        let id = Uuid::parse_str("01939a7e-1f2a-7cc3-9a51-0123456789ab").unwrap();
        let gps = Gps {
            lat: 22.39,
            lon: 103.45,
            accuracy_m: Some(8.0),
        };
        let answers = schema::sample::sipas_answers_without_services();
        let f = SipasForm::new()
            .id(id)
            .round("sipas-2023")
            .version(2)
            .revision(3)
            .province("14")
            .district("116")
            .commune("04000")
            .village("Bản Mới")
            .household("HH-7")
            .answers(answers.clone())
            .gps(gps)
            .started_at(t(1_763_900_000))
            .finished_at(t(1_763_900_600))
            .build();
        assert_eq!(
            f,
            FormSubmission {
                id,
                round: "sipas-2023".into(),
                questionnaire_code: "sipas".into(),
                questionnaire_version: 2,
                revision: 3,
                units: FormUnits {
                    province: "14".into(),
                    district: Some("116".into()),
                    commune: "04000".into(),
                    village: "Bản Mới".into(),
                },
                household_ref: "HH-7".into(),
                started_at: Some(t(1_763_900_000)),
                finished_at: Some(t(1_763_900_600)),
                gps: Some(gps),
                answers,
            }
        );
        let invalid = SipasForm::new()
            .answer("age", serde_json::json!(12))
            .build();
        assert_eq!(invalid.answers["age"], 12);
        assert_eq!(
            invalid.answers.len(),
            schema::sample::complete_sipas_answers().len()
        );
        assert!(schema::validate(schema::builtin::sipas(), &invalid.answers).is_err());
    }

    #[test]
    fn a_built_form_round_trips_and_hashes_the_same_after() {
        for f in [
            form(),
            SipasForm::new()
                .round("sipas-2023")
                .district("105")
                .gps(Gps {
                    lat: 11.036607432920357,
                    lon: 103.45,
                    accuracy_m: None,
                })
                .started_at(t(1_763_900_000))
                .finished_at(t(1_763_900_001))
                .build(),
        ] {
            let text = serde_json::to_string(&f).unwrap();
            let back: FormSubmission = serde_json::from_str(&text).unwrap();
            assert_eq!(back, f, "{text}");
            assert_eq!(back.content_hash(), f.content_hash());
            assert_eq!(FormSubmission::from(SipasForm { form: f.clone() }), f);
        }
    }
}
