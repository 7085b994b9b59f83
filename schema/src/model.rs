//! The questionnaire model: what a published questionnaire version contains.
//!
//! Everything here is plain data (serde) so a questionnaire can live in a JSON file, be hashed, and be
//! shipped to devices. Consistency (unknown references, duplicates, ranges) is checked by
//! [`Questionnaire::check`], which [`Questionnaire::from_json`] always runs.

use serde::{Deserialize, Serialize};

use crate::check::LoadError;
use crate::index::IndexDefinition;

/// A bilingual label: Vietnamese is the language of the survey and is required; English is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// Vietnamese text (with diacritics). Must not be empty.
    pub vi: String,
    /// English translation, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl Label {
    /// A label with both languages.
    pub fn new(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Label {
            vi: vi.into(),
            en: Some(en.into()),
        }
    }

    /// A Vietnamese-only label.
    pub fn vi(vi: impl Into<String>) -> Self {
        Label {
            vi: vi.into(),
            en: None,
        }
    }
}

/// One published version of a questionnaire.
///
/// Identity is `code` + `version`; [`Questionnaire::content_hash`] proves which content a holder has.
/// Questions are ordered: sections in order, questions in order within a section. Conditions may only
/// refer to questions that come earlier in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    /// Stable code of the questionnaire family, e.g. `sipas`.
    pub code: String,
    /// Version number; increases with every published change.
    pub version: u32,
    /// Title shown to enumerators and in reports.
    pub title: Label,
    /// Notes on the version: sources, provenance, what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Label>,
    /// Level scales shared by level and grid questions (e.g. the 5-level satisfaction scale).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scales: Vec<Scale>,
    /// Sections, in the order they are asked.
    pub sections: Vec<Section>,
    /// How the satisfaction index is computed from this questionnaire's level items, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexDefinition>,
}

/// An ordered level scale (e.g. 1 "Rất không hài lòng" … 5 "Rất hài lòng") plus special answers that
/// are valid but carry no level (e.g. "Không biết").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Code referenced by level and grid questions.
    pub code: String,
    /// Labels of levels 1..=n, lowest first. 2 to 20 levels.
    pub levels: Vec<Label>,
    /// Special answers (codes such as `dont_know`, `not_applicable`): valid, never scored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub special: Vec<ChoiceOption>,
}

impl Scale {
    /// Number of ordered levels (`n`); valid levels are `1..=n`.
    pub fn n_levels(&self) -> u8 {
        u8::try_from(self.levels.len()).unwrap_or(u8::MAX)
    }

    /// Position of the special answer with this code.
    pub fn special_index(&self, code: &str) -> Option<usize> {
        self.special.iter().position(|o| o.code == code)
    }
}

/// A section (part) of the questionnaire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// Unique section code, e.g. `part2`.
    pub code: String,
    /// Section title.
    pub title: Label,
    /// Questions, in the order they are asked.
    pub questions: Vec<Question>,
}

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One question. Its answer is keyed by `code` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Unique question code (ASCII `[a-z0-9_]`), the key of its answer.
    pub code: String,
    /// The question as asked.
    pub label: Label,
    /// Guidance for the enumerator, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Label>,
    /// Whether an answer is required when the question is relevant (default `true`). For a grid,
    /// every row is required.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Skip logic: the question is asked only when this holds (always when absent). An answer to a
    /// question that is not relevant is rejected (`not_relevant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<Condition>,
    /// Conditions a given answer must satisfy (checked only on well-formed answers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// What kind of answer the question takes.
    pub kind: QuestionKind,
}

/// The kinds of question and their parameters. Serialised with a `type` tag,
/// e.g. `{"type": "integer", "min": 0, "max": 120}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum QuestionKind {
    /// Exactly one option. Wire: the option code as a string.
    SingleChoice {
        /// The options, in display order.
        options: Vec<ChoiceOption>,
    },
    /// Several options. Wire: an array of option codes.
    MultipleChoice {
        /// The options, in display order; `exclusive` ones ("none of these") cannot be combined.
        options: Vec<ChoiceOption>,
        /// Minimum number of selections (default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u16>,
        /// Maximum number of selections (default: the number of options).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u16>,
    },
    /// One level on a shared scale. Wire: the level as an integer `1..=n`, or a special code string.
    Level {
        /// Code of the scale in [`Questionnaire::scales`].
        scale: String,
    },
    /// Several items (rows) answered on one shared scale. Wire: an object `{item_code: level}` where
    /// each level is as for [`QuestionKind::Level`].
    Grid {
        /// Code of the scale in [`Questionnaire::scales`].
        scale: String,
        /// The rows, in display order.
        items: Vec<GridItem>,
    },
    /// A whole number. Wire: a JSON integer.
    Integer {
        /// Smallest valid value, if bounded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        /// Largest valid value, if bounded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    /// Free text. Wire: a string; an empty or blank string counts as no answer.
    Text {
        /// Maximum length in Unicode scalar values (characters).
        max_length: u32,
    },
    /// A calendar date. Wire: a `"YYYY-MM-DD"` string.
    Date {
        /// Earliest valid date (`YYYY-MM-DD`), if bounded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<String>,
        /// Latest valid date (`YYYY-MM-DD`), if bounded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<String>,
    },
    /// A GPS point. Wire: `{"lat": f64, "lon": f64, "accuracy": f64?}` (degrees, metres).
    /// (An empty struct variant so that unknown fields are rejected.)
    Gps {},
}

impl QuestionKind {
    /// The snake_case name of the kind, as in the `type` tag.
    pub fn name(&self) -> &'static str {
        match self {
            QuestionKind::SingleChoice { .. } => "single_choice",
            QuestionKind::MultipleChoice { .. } => "multiple_choice",
            QuestionKind::Level { .. } => "level",
            QuestionKind::Grid { .. } => "grid",
            QuestionKind::Integer { .. } => "integer",
            QuestionKind::Text { .. } => "text",
            QuestionKind::Date { .. } => "date",
            QuestionKind::Gps {} => "gps",
        }
    }

    /// The options of a single- or multiple-choice question (empty for other kinds).
    pub fn options(&self) -> &[ChoiceOption] {
        match self {
            QuestionKind::SingleChoice { options }
            | QuestionKind::MultipleChoice { options, .. } => options,
            _ => &[],
        }
    }
}

/// An option of a choice question, or a special answer of a scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    /// Stable ASCII snake_case code, sent on the wire.
    pub code: String,
    /// The option as shown.
    pub label: Label,
    /// In a multiple-choice question: this option ("none of these") cannot be combined with others.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclusive: bool,
}

/// A row of a grid question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridItem {
    /// Code unique within the grid; the row is addressed as `grid_code.item_code`.
    pub code: String,
    /// The statement rated on the scale.
    pub label: Label,
}

/// A comparison operator of [`Condition::Cmp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl CmpOp {
    /// Applies the operator to `left op right`.
    pub fn apply(self, left: i64, right: i64) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }

    /// The operator as written in the questionnaire (`>=` …).
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A condition over earlier answers, used for relevance (skip logic) and constraints. Serialised with
/// an `op` tag, e.g. `{"op": "selected", "question": "c8_experiences", "option": "commune_desk"}`.
///
/// A question that is unanswered or not relevant makes `selected`, `any_selected`, `answered` and
/// `cmp` false (so `not` of them true).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A choice question has this option selected.
    Selected {
        /// Code of an earlier single- or multiple-choice question.
        question: String,
        /// One of its option codes.
        option: String,
    },
    /// A choice question has at least one of these options selected.
    AnySelected {
        /// Code of an earlier single- or multiple-choice question.
        question: String,
        /// Some of its option codes.
        options: Vec<String>,
    },
    /// The question has an answer (any value, including a special level code).
    Answered {
        /// Code of an earlier question.
        question: String,
    },
    /// An integer question (or a level question's numeric level) compares with a constant. False when
    /// the level answer is a special code.
    Cmp {
        /// Code of an earlier integer or level question (or the question itself, in a constraint).
        question: String,
        /// The operator.
        cmp: CmpOp,
        /// The constant on the right-hand side.
        value: i64,
    },
    /// All of the conditions hold (true when empty).
    All {
        /// The conditions.
        of: Vec<Condition>,
    },
    /// At least one of the conditions holds (false when empty).
    Any {
        /// The conditions.
        of: Vec<Condition>,
    },
    /// The condition does not hold.
    Not {
        /// The negated condition.
        of: Box<Condition>,
    },
}

impl Condition {
    /// Calls `f` with every question code this condition refers to (recursively).
    pub fn for_each_question<'a>(&'a self, f: &mut impl FnMut(&'a str)) {
        match self {
            Condition::Selected { question, .. }
            | Condition::AnySelected { question, .. }
            | Condition::Answered { question }
            | Condition::Cmp { question, .. } => f(question),
            Condition::All { of } | Condition::Any { of } => {
                for c in of {
                    c.for_each_question(f);
                }
            }
            Condition::Not { of } => of.for_each_question(f),
        }
    }
}

/// A rule a given answer must satisfy, with the message shown when it does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// Must hold once the question is answered (may refer to the question itself).
    pub condition: Condition,
    /// Shown with a `constraint_failed` error.
    pub message: Label,
}

impl Questionnaire {
    /// Parses a questionnaire from JSON and runs [`Questionnaire::check`]; the error names the place.
    pub fn from_json(s: &str) -> Result<Questionnaire, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(s).map_err(|e| LoadError::parse("JSON", &e))?;
        let q: Questionnaire = match serde_json::from_value(value.clone()) {
            Ok(q) => q,
            Err(e) => return Err(locate_parse_error(&value, &e)),
        };
        q.check()?;
        Ok(q)
    }

    /// All questions in asking order (sections in order, questions in order).
    pub fn questions(&self) -> impl Iterator<Item = &Question> {
        self.sections.iter().flat_map(|s| s.questions.iter())
    }

    /// The question with this code.
    pub fn question(&self, code: &str) -> Option<&Question> {
        self.questions().find(|q| q.code == code)
    }

    /// The scale with this code.
    pub fn scale(&self, code: &str) -> Option<&Scale> {
        self.scales.iter().find(|s| s.code == code)
    }

    /// The scale a level or grid question uses (`None` for other kinds or an unknown scale).
    pub fn scale_of(&self, question: &Question) -> Option<&Scale> {
        match &question.kind {
            QuestionKind::Level { scale } | QuestionKind::Grid { scale, .. } => self.scale(scale),
            _ => None,
        }
    }
}

/// Finds where a model-level parse error is (serde loses positions inside tagged enums): the first
/// question, section, scale or index that fails to parse on its own.
fn locate_parse_error(value: &serde_json::Value, e: &serde_json::Error) -> LoadError {
    use serde_json::Value;
    let code_of = |v: &Value| {
        v.get("code")
            .and_then(Value::as_str)
            .map_or_else(|| "?".to_owned(), str::to_owned)
    };
    let first_bad = |list: Option<&Value>, f: &dyn Fn(&Value) -> Option<serde_json::Error>| {
        list.and_then(Value::as_array)
            .and_then(|a| a.iter().find_map(|v| f(v).map(|e| (v, e))))
            .map(|(v, e)| (code_of(v), e))
    };
    let sections = value.get("sections").and_then(Value::as_array);
    for section in sections.into_iter().flatten() {
        if let Some((qc, qe)) = first_bad(section.get("questions"), &|v| {
            serde_json::from_value::<Question>(v.clone()).err()
        }) {
            let place = format!("section {:?} question {qc:?}", code_of(section));
            return LoadError::parse(&place, &qe);
        }
        if let Err(se) = serde_json::from_value::<Section>(section.clone()) {
            return LoadError::parse(&format!("section {:?}", code_of(section)), &se);
        }
    }
    if let Some((sc, se)) = first_bad(value.get("scales"), &|v| {
        serde_json::from_value::<Scale>(v.clone()).err()
    }) {
        return LoadError::parse(&format!("scale {sc:?}"), &se);
    }
    if let Some(index) = value.get("index")
        && let Err(ie) = serde_json::from_value::<IndexDefinition>(index.clone())
    {
        return LoadError::parse("index", &ie);
    }
    LoadError::parse("questionnaire", e)
}
