//! Questionnaires shipped inside the binary.

use std::sync::OnceLock;

use crate::model::Questionnaire;

/// The SIPAS 2023 questionnaire (code `sipas`, version 1), as published in
/// `schema/questionnaires/sipas-v1.json`.
pub const SIPAS_JSON: &str = include_str!("../questionnaires/sipas-v1.json");

/// The parsed and checked SIPAS questionnaire.
///
/// # Panics
/// Only if the embedded file is broken, which the crate's tests rule out.
pub fn sipas() -> &'static Questionnaire {
    static Q: OnceLock<Questionnaire> = OnceLock::new();
    Q.get_or_init(|| match Questionnaire::from_json(SIPAS_JSON) {
        Ok(q) => q,
        Err(e) => panic!("embedded SIPAS questionnaire is broken: {e}"),
    })
}

/// All built-in questionnaires.
pub fn all() -> Vec<&'static Questionnaire> {
    vec![sipas()]
}

/// The built-in questionnaire with this code and version.
pub fn find(code: &str, version: u32) -> Option<&'static Questionnaire> {
    all()
        .into_iter()
        .find(|q| q.code == code && q.version == version)
}
