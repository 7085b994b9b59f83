//! SIPAS questionnaires as versioned data: model, load-time checks, validation of submitted forms,
//! a compact binary encoding, a canonical content hash, and the index definition.
//!
//! Pure: no I/O, no async, no database, no clock.
//!
//! # Questionnaires
//! A [`Questionnaire`] (code + version) has sections of questions, shared level [`Scale`]s and an
//! optional [`IndexDefinition`]. [`Questionnaire::from_json`] parses and checks one (unknown or
//! forward references, duplicate codes, bad ranges, empty labels … are rejected with a
//! [`LoadError`] naming the place). The SIPAS 2023 questionnaire is built in: [`builtin::sipas`].
//! [`Questionnaire::content_hash`] is the SHA-256 of [`Questionnaire::canonical_json`] (parsed model,
//! keys sorted, no whitespace), so a device can prove it holds exactly a published version.
//!
//! # Answers on the wire
//! A form is a JSON object keyed by question code ([`Answers`]). `null`, or an absent key, is no
//! answer. Per kind:
//!
//! | kind | wire value | example |
//! | --- | --- | --- |
//! | `single_choice` | option code | `"gender": "female"` |
//! | `multiple_choice` | array of option codes (any order, no repeats; `[]` is zero selections) | `"c2_channels": ["meeting", "internet"]` |
//! | `level` | level `1..=n`, or a special code of the scale | `3`, `"dont_know"` |
//! | `grid` | object item code → level or special code; rows omitted or `null` are unanswered, an object with no answered row is no answer | `"p1": {"info_forms": 4, "info_clarity": "dont_know"}` |
//! | `integer` | JSON integer | `"age": 42` |
//! | `text` | string; empty or blank is no answer | `"comment": "…"` |
//! | `date` | `"YYYY-MM-DD"` | `"2024-03-15"` |
//! | `gps` | `{"lat": f64, "lon": f64, "accuracy": f64?}` (degrees, metres) | `{"lat": 22.39, "lon": 103.46}` |
//!
//! # Validation
//! [`validate`] returns [`ValidAnswers`] or every [`FieldError`] (question, stable [`ErrorCode`],
//! bilingual message). Errors about a grid row are addressed `grid_code.item_code` (e.g.
//! `s2.fees`); a whole grid (absent, wrong type, not relevant) by the grid code.
//!
//! Relevance (skip logic) applies to whole questions, including whole grids: in SIPAS the service
//! grids `s1`–`s5` are relevant only when criterion 8 (`c8_experiences`) includes a procedure at a
//! one-stop desk (`commune_desk`, `district_desk` or `province_center`). A relevant required question
//! must be answered — for a grid, every row (a special code such as `dont_know` or `not_applicable`
//! counts as an answer); a question that is not relevant must not be answered (`not_relevant`).
//!
//! # Storage and index
//! [`ValidAnswers::encode`] / [`ValidAnswers::decode`] give a compact lossless blob (~100 bytes for
//! a full SIPAS form). [`ValidAnswers::scored_levels`] lists, in the fixed order of
//! [`Questionnaire::index_items`], the level of each index item to score; [`ScoringRule::score`]
//! scores one answer and [`IndexDefinition::combine`] turns item indices into group, component and
//! overall indices (see [`index`] for the arithmetic).
//!
//! ```
//! use schema::{ValidAnswers, builtin, sample, validate};
//!
//! let q = builtin::sipas();
//! let form = sample::complete_sipas_answers(); // what a device sends
//! let valid = validate(q, &form).expect("a complete form is valid");
//! let blob = valid.encode(q); // what the server stores
//! assert!(blob.len() < 200);
//! assert_eq!(ValidAnswers::decode(q, &blob), Ok(valid.clone()));
//! let levels = valid.scored_levels(q); // one per index item: P1…P4, S1…S5
//! assert_eq!(levels.len(), 39);
//! let index = q.index.as_ref().expect("SIPAS has an index");
//! assert_eq!(index.scoring.score(4, 5), 100.0); // top two levels count
//! ```

#![warn(missing_docs)]

pub mod builtin;
mod check;
mod codec;
mod date;
mod hash;
pub mod index;
pub mod json;
mod model;
pub mod sample;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod validate;

pub use check::{LoadError, LoadErrorKind, is_valid_code};
pub use codec::{DecodeError, FORMAT as ENCODING_FORMAT, StoredAnswer, walk};
pub use date::parse_date;
pub use hash::{canonical_hash_of, canonical_json_of, sha256_hex, write_json_str};
pub use index::{
    IndexComponent, IndexDefinition, IndexGroup, IndexItem, IndexOverall, IndexValue, IndexValues,
    ScoringRule, split_address,
};
pub use model::{
    ChoiceOption, CmpOp, Condition, Constraint, GridItem, Label, Question, QuestionKind,
    Questionnaire, Scale, Section,
};
pub use validate::{
    Answer, Answers, DISTRICT_QUESTION, ErrorCode, FieldError, GpsPoint, GridRows, LevelAnswer,
    MAX_UNKNOWN_REPORTED, ValidAnswers, validate, validate_json, validate_json_with, validate_with,
};
