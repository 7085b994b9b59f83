//! Validation of a submitted form against a questionnaire, and the typed result.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::date::parse_date;
use crate::index::split_address;
use crate::json::{Json, JsonObject};
use crate::model::{Condition, Label, Question, QuestionKind, Questionnaire, Scale};

/// Answers as they arrive over the wire: question code → JSON value (see the crate docs for the
/// shape per question kind).
pub type Answers = serde_json::Map<String, Value>;

/// Stable machine code of a validation error (serialised snake_case, e.g. `"not_relevant"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A relevant required question (or grid row) has no answer.
    Required,
    /// A question that is not relevant given earlier answers has an answer.
    NotRelevant,
    /// An answer key (or grid row key) that is not a question (row) of the questionnaire.
    UnknownQuestion,
    /// An option or special code that the question (scale) does not have.
    UnknownOption,
    /// The same option selected twice in a multiple choice.
    DuplicateOption,
    /// Fewer selections than the question's minimum.
    TooFewSelections,
    /// More selections than the question's maximum.
    TooManySelections,
    /// An exclusive option ("none of these") combined with other options.
    ExclusiveOption,
    /// A number, level, date or GPS coordinate outside its valid range.
    OutOfRange,
    /// A text longer than the question's maximum length.
    TooLong,
    /// A JSON value of the wrong type for the question kind.
    WrongType,
    /// A date string that is not a valid `YYYY-MM-DD` date.
    InvalidDate,
    /// An answer that breaks one of the question's constraints.
    ConstraintFailed,
}

impl ErrorCode {
    /// Every error code, for exhaustive tests and documentation.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::Required,
        ErrorCode::NotRelevant,
        ErrorCode::UnknownQuestion,
        ErrorCode::UnknownOption,
        ErrorCode::DuplicateOption,
        ErrorCode::TooFewSelections,
        ErrorCode::TooManySelections,
        ErrorCode::ExclusiveOption,
        ErrorCode::OutOfRange,
        ErrorCode::TooLong,
        ErrorCode::WrongType,
        ErrorCode::InvalidDate,
        ErrorCode::ConstraintFailed,
    ];

    /// The snake_case code as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Required => "required",
            ErrorCode::NotRelevant => "not_relevant",
            ErrorCode::UnknownQuestion => "unknown_question",
            ErrorCode::UnknownOption => "unknown_option",
            ErrorCode::DuplicateOption => "duplicate_option",
            ErrorCode::TooFewSelections => "too_few_selections",
            ErrorCode::TooManySelections => "too_many_selections",
            ErrorCode::ExclusiveOption => "exclusive_option",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::TooLong => "too_long",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::InvalidDate => "invalid_date",
            ErrorCode::ConstraintFailed => "constraint_failed",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one answer. `question` is the question code, or `grid_code.item_code` for a
/// grid row, or the offending key for `unknown_question`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Where: question code, `grid.item` for a grid row, or the unknown key.
    pub question: String,
    /// What, as a stable machine code.
    pub code: ErrorCode,
    /// Human-readable explanation, Vietnamese and English.
    pub message: Label,
}

/// An answer on a level scale: a level `1..=n` or a special code such as `dont_know`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelAnswer {
    /// An ordered level, 1-based.
    Level(u8),
    /// A special answer code of the scale (valid, not scored).
    Special(String),
}

impl LevelAnswer {
    /// The level, if this is a level (not a special code).
    pub fn level(&self) -> Option<u8> {
        match self {
            LevelAnswer::Level(l) => Some(*l),
            LevelAnswer::Special(_) => None,
        }
    }
}

/// A GPS point: degrees WGS84, accuracy in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpsPoint {
    /// Latitude, −90..=90.
    pub lat: f64,
    /// Longitude, −180..=180.
    pub lon: f64,
    /// Accuracy radius in metres (≥ 0), if known.
    pub accuracy: Option<f64>,
}

/// A validated answer to one question.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Single choice: the option code.
    Choice(String),
    /// Multiple choice: option codes, in the questionnaire's option order (possibly empty).
    Choices(Vec<String>),
    /// Level question.
    Level(LevelAnswer),
    /// Grid: item code → answer, for the answered rows (at least one).
    Grid(GridRows),
    /// Integer question.
    Integer(i64),
    /// Text question (non-blank, as given).
    Text(String),
    /// Date question, `YYYY-MM-DD`.
    Date(String),
    /// GPS question.
    Gps(GpsPoint),
}

/// A grid's answered rows: item code → answer, in code order.
///
/// A sorted vector rather than a map: every accepted form builds several and drops them, and a
/// grid has a handful of rows. Validation gets them in code order (a JSON object's keys, sorted
/// as parsed) and sorts nothing; decoding gets them in the questionnaire's item order and sorts
/// them once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GridRows(Vec<(String, LevelAnswer)>);

impl GridRows {
    /// The answer at row `item`.
    pub fn get(&self, item: &str) -> Option<&LevelAnswer> {
        // A grid has a handful of rows: comparing for equality (lengths first) beats ordering
        // (measured: encoding a SIPAS form took 1.7 µs with a binary search, 0.4 µs with this).
        if self.0.len() <= 16 {
            return self.0.iter().find(|(k, _)| k == item).map(|(_, l)| l);
        }
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(item))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// The rows, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &LevelAnswer)> {
        self.0.iter().map(|(k, l)| (k.as_str(), l))
    }

    /// Number of answered rows.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no row is answered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Rows in any order; of two rows with one code, the later one is kept (as a map's `insert`).
impl FromIterator<(String, LevelAnswer)> for GridRows {
    fn from_iter<I: IntoIterator<Item = (String, LevelAnswer)>>(iter: I) -> Self {
        let mut rows: Vec<(String, LevelAnswer)> = iter.into_iter().collect();
        if !rows.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: rows of one code keep their order, so the last of them is the one kept.
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(later, kept);
                }
                same
            });
        }
        GridRows(rows)
    }
}

/// A form that passed [`validate`]: answers to relevant questions only, typed.
///
/// Held in asking order, one entry per question code (a vector, not a map: every accepted form
/// builds one and drops it, and a map costs an allocation per node), with an index in code
/// order for lookups by code, built the first time one is made: a push's forms are encoded and
/// counted by position and never need it (sorting a hundred codes per form was 3% of a push).
/// The entries never change once built, so the index cannot go stale.
#[derive(Clone, Default)]
pub struct ValidAnswers {
    /// Answers in asking order.
    pub(crate) entries: Vec<Entry>,
    /// Positions in `entries`, in code order.
    by_code: OnceLock<Vec<u32>>,
    /// Whether the questionnaire validated against repeats a question code (a definition that
    /// skipped the check): only then can a question find its answer at another position.
    pub(crate) repeats: bool,
}

/// The answers, without the code index (built or not, it is derived from them).
impl std::fmt::Debug for ValidAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidAnswers")
            .field("entries", &self.entries)
            .field("repeats", &self.repeats)
            .finish()
    }
}

/// Equal answers are equal whether or not their code index was built yet, and whichever
/// questionnaire they were validated against (`repeats` describes that questionnaire, not them).
impl PartialEq for ValidAnswers {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

/// One answered question of a [`ValidAnswers`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Position of the question in asking order ([`Questionnaire::questions`]); for a code that
    /// several questions share (a definition that skipped the check), the first one's.
    pub(crate) pos: u32,
    pub(crate) code: String,
    pub(crate) answer: Answer,
}

impl ValidAnswers {
    /// Answers from entries in asking order, one per code, validated against a questionnaire
    /// that `repeats` a question code or not.
    fn from_entries(entries: Vec<Entry>, repeats: bool) -> Self {
        ValidAnswers {
            entries,
            by_code: OnceLock::new(),
            repeats,
        }
    }

    /// Positions in `entries`, in code order (built on first use).
    fn by_code(&self) -> &[u32] {
        self.by_code.get_or_init(|| {
            let mut by_code: Vec<u32> = (0..self.entries.len() as u32).collect();
            by_code.sort_unstable_by(|&a, &b| {
                self.entries[a as usize]
                    .code
                    .cmp(&self.entries[b as usize].code)
            });
            by_code
        })
    }

    /// The answer to a question, if it was answered.
    pub fn get(&self, question: &str) -> Option<&Answer> {
        let by_code = self.by_code();
        by_code
            .binary_search_by(|&i| self.entries[i as usize].code.as_str().cmp(question))
            .ok()
            .map(|i| &self.entries[by_code[i] as usize].answer)
    }

    /// The answer to the question at `position` in asking order ([`Questionnaire::questions`]
    /// of the questionnaire these answers were validated against): what [`Self::get`] answers
    /// for its code, found without comparing strings. For a code that several questions share,
    /// the first one's position holds the answer.
    pub fn at(&self, position: usize) -> Option<&Answer> {
        self.entries
            .binary_search_by_key(&position, |e| e.pos as usize)
            .ok()
            .map(|i| &self.entries[i].answer)
    }

    /// All answers with their question codes, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Answer)> {
        self.by_code().iter().map(|&i| {
            let e = &self.entries[i as usize];
            (e.code.as_str(), &e.answer)
        })
    }

    /// Number of answered questions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no question was answered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The option codes selected in a single- or multiple-choice question (empty when unanswered or
    /// not a choice question) — what perception and expectation shares are counted from.
    pub fn selected_options(&self, question: &str) -> &[String] {
        match self.get(question) {
            Some(Answer::Choice(c)) => std::slice::from_ref(c),
            Some(Answer::Choices(v)) => v,
            _ => &[],
        }
    }

    /// The answer at a level question (`address` = code) or a grid row (`address` = `grid.item`).
    pub fn level_answer(&self, address: &str) -> Option<&LevelAnswer> {
        let (q, item) = split_address(address);
        match (self.get(q)?, item) {
            (Answer::Level(l), None) => Some(l),
            (Answer::Grid(rows), Some(i)) => rows.get(i),
            _ => None,
        }
    }

    /// For each index item of `q`, in the fixed order of [`Questionnaire::index_items`] (groups in
    /// order, items in order), the level to score: `None` when the item is unanswered, not relevant,
    /// or answered with a special code ("don't know", "not applicable"). Empty when `q` has no index.
    pub fn scored_levels(&self, q: &Questionnaire) -> Vec<Option<u8>> {
        match &q.index {
            None => Vec::new(),
            Some(index) => index
                .item_addresses()
                .map(|a| self.level_answer(a).and_then(LevelAnswer::level))
                .collect(),
        }
    }

    /// The wire form of these answers; `validate(q, &v.to_json()) == Ok(v)`.
    pub fn to_json(&self) -> Answers {
        let mut out = Answers::new();
        for (code, a) in self.iter() {
            out.insert(code.to_owned(), answer_to_json(a));
        }
        out
    }
}

fn level_to_json(l: &LevelAnswer) -> Value {
    match l {
        LevelAnswer::Level(n) => Value::from(*n),
        LevelAnswer::Special(s) => Value::String(s.clone()),
    }
}

fn answer_to_json(a: &Answer) -> Value {
    match a {
        Answer::Choice(c) => Value::String(c.clone()),
        Answer::Choices(v) => Value::Array(v.iter().map(|c| Value::String(c.clone())).collect()),
        Answer::Level(l) => level_to_json(l),
        Answer::Grid(rows) => Value::Object(
            rows.iter()
                .map(|(k, l)| (k.to_owned(), level_to_json(l)))
                .collect(),
        ),
        Answer::Integer(i) => Value::from(*i),
        Answer::Text(s) | Answer::Date(s) => Value::String(s.clone()),
        Answer::Gps(p) => {
            let mut m = serde_json::Map::new();
            m.insert("lat".into(), f64_json(p.lat));
            m.insert("lon".into(), f64_json(p.lon));
            if let Some(acc) = p.accuracy {
                m.insert("accuracy".into(), f64_json(acc));
            }
            Value::Object(m)
        }
    }
}

fn f64_json(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

// ---------------------------------------------------------------------------------------------
// Messages

fn clip(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn fe(question: impl Into<String>, code: ErrorCode, vi: String, en: String) -> FieldError {
    FieldError {
        question: question.into(),
        code,
        message: Label { vi, en: Some(en) },
    }
}

fn expected(kind: &QuestionKind) -> (&'static str, &'static str) {
    match kind {
        QuestionKind::SingleChoice { .. } => {
            ("một mã phương án (chuỗi)", "an option code (string)")
        }
        QuestionKind::MultipleChoice { .. } => {
            ("một danh sách mã phương án", "an array of option codes")
        }
        QuestionKind::Level { .. } => (
            "một mức (số nguyên) hoặc mã đặc biệt",
            "a level (integer) or a special code",
        ),
        QuestionKind::Grid { .. } => (
            "một đối tượng {mã dòng: mức}",
            "an object {item code: level}",
        ),
        QuestionKind::Integer { .. } => ("một số nguyên", "an integer"),
        QuestionKind::Text { .. } => ("một chuỗi ký tự", "a string"),
        QuestionKind::Date { .. } => ("ngày dạng chuỗi YYYY-MM-DD", "a date string YYYY-MM-DD"),
        QuestionKind::Gps {} => (
            "một điểm GPS {lat, lon, accuracy}",
            "a GPS point {lat, lon, accuracy}",
        ),
    }
}

fn wrong_type(at: &str, kind: &QuestionKind) -> FieldError {
    let (vi, en) = expected(kind);
    fe(
        at,
        ErrorCode::WrongType,
        format!("Kiểu dữ liệu không đúng: cần {vi}."),
        format!("Wrong type: expected {en}."),
    )
}

fn level_wrong_type(at: &str) -> FieldError {
    fe(
        at,
        ErrorCode::WrongType,
        "Kiểu dữ liệu không đúng: cần một mức (số nguyên) hoặc mã đặc biệt.".into(),
        "Wrong type: expected a level (integer) or a special code.".into(),
    )
}

fn required(at: &str) -> FieldError {
    fe(
        at,
        ErrorCode::Required,
        "Câu hỏi bắt buộc chưa được trả lời.".into(),
        "This question is required.".into(),
    )
}

fn unknown_option(at: &str, code: &str) -> FieldError {
    fe(
        at,
        ErrorCode::UnknownOption,
        format!("Phương án “{}” không có trong câu hỏi này.", clip(code)),
        format!(
            "Option \"{}\" is not an option of this question.",
            clip(code)
        ),
    )
}

fn out_of_range(at: &str, value: &str, range: &str) -> FieldError {
    fe(
        at,
        ErrorCode::OutOfRange,
        format!(
            "Giá trị {} nằm ngoài khoảng cho phép ({range}).",
            clip(value)
        ),
        format!(
            "Value {} is outside the allowed range ({range}).",
            clip(value)
        ),
    )
}

fn range_text<T: std::fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}–{b}"),
        (Some(a), None) => format!("≥ {a}"),
        (None, Some(b)) => format!("≤ {b}"),
        (None, None) => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing wire values

/// The outcome of reading one question's input.
pub(crate) enum Parsed {
    /// No answer (absent, null, blank text, empty grid).
    Absent,
    /// A malformed answer; errors were reported. Holds `required` errors for the missing rows of a
    /// grid, reported only if the question turns out relevant and required.
    Bad(Vec<FieldError>),
    /// A well-formed answer (value checks still to do).
    Ok(Answer),
}

/// Where a level answer sits: a level question, or a row of a grid (the address string is only
/// built when there is an error to report).
#[derive(Clone, Copy)]
struct At<'a>(&'a str, Option<&'a str>);

impl At<'_> {
    fn address(self) -> String {
        match self.1 {
            None => self.0.to_owned(),
            Some(item) => format!("{}.{item}", self.0),
        }
    }
}

fn parse_level(
    at: At<'_>,
    scale: &Scale,
    v: &Json<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<LevelAnswer> {
    match v {
        Json::Number(n) => match n.as_u64() {
            Some(l) if (1..=u64::from(scale.n_levels())).contains(&l) => {
                Some(LevelAnswer::Level(l as u8))
            }
            _ if n.as_u64().is_some() || n.as_i64().is_some() => {
                errors.push(out_of_range(
                    &at.address(),
                    &n.to_string(),
                    &range_text(Some(1), Some(scale.n_levels())),
                ));
                None
            }
            _ => {
                errors.push(level_wrong_type(&at.address()));
                None
            }
        },
        Json::String(s) => match scale.special_index(s) {
            Some(i) => Some(LevelAnswer::Special(scale.special[i].code.clone())),
            None => {
                errors.push(unknown_option(&at.address(), s));
                None
            }
        },
        _ => {
            errors.push(level_wrong_type(&at.address()));
            None
        }
    }
}

fn parse_wire(
    q: &Questionnaire,
    question: &Question,
    v: &Json<'_>,
    errors: &mut Vec<FieldError>,
) -> Parsed {
    let code = question.code.as_str();
    if v.is_null() {
        return Parsed::Absent;
    }
    let wt = |errors: &mut Vec<FieldError>| {
        errors.push(wrong_type(code, &question.kind));
        Parsed::Bad(Vec::new())
    };
    match (&question.kind, v) {
        (QuestionKind::SingleChoice { options }, Json::String(s)) => {
            match options.iter().find(|o| o.code == *s) {
                Some(o) => Parsed::Ok(Answer::Choice(o.code.clone())),
                None => {
                    errors.push(unknown_option(code, s));
                    Parsed::Bad(Vec::new())
                }
            }
        }
        (QuestionKind::MultipleChoice { options, .. }, Json::Array(items)) => {
            let before = errors.len();
            let mut picked: Vec<usize> = Vec::with_capacity(items.len().min(options.len()));
            for item in items {
                let Json::String(s) = item else {
                    errors.push(wrong_type(code, &question.kind));
                    continue;
                };
                match options.iter().position(|o| o.code == *s) {
                    None => errors.push(unknown_option(code, s)),
                    Some(i) if picked.contains(&i) => errors.push(fe(
                        code,
                        ErrorCode::DuplicateOption,
                        format!("Phương án “{}” được chọn nhiều lần.", clip(s)),
                        format!("Option \"{}\" is selected more than once.", clip(s)),
                    )),
                    Some(i) => picked.push(i),
                }
            }
            if errors.len() > before {
                return Parsed::Bad(Vec::new());
            }
            picked.sort_unstable();
            Parsed::Ok(Answer::Choices(
                picked
                    .into_iter()
                    .map(|i| options[i].code.clone())
                    .collect(),
            ))
        }
        (QuestionKind::Level { .. }, _) => match q.scale_of(question) {
            None => wt(errors),
            Some(scale) => match parse_level(At(code, None), scale, v, errors) {
                Some(l) => Parsed::Ok(Answer::Level(l)),
                None => Parsed::Bad(Vec::new()),
            },
        },
        (QuestionKind::Grid { items, .. }, Json::Object(rows)) => {
            let Some(scale) = q.scale_of(question) else {
                return wt(errors);
            };
            let before = errors.len();
            // Collected in key order and bulk-built: cheaper than inserting row by row.
            let mut out = Vec::with_capacity(rows.len().min(items.len()));
            let mut unknown_rows = 0;
            for (k, v) in rows.iter() {
                let Some(item) = items.iter().find(|it| it.code == k) else {
                    unknown_rows += 1;
                    if unknown_rows <= MAX_UNKNOWN_REPORTED {
                        errors.push(fe(
                            format!("{code}.{}", clip(k)),
                            ErrorCode::UnknownQuestion,
                            format!("Câu hỏi “{code}” không có dòng “{}”.", clip(k)),
                            format!("Question \"{code}\" has no row \"{}\".", clip(k)),
                        ));
                    }
                    continue;
                };
                if v.is_null() {
                    continue;
                }
                if let Some(l) = parse_level(At(code, Some(&item.code)), scale, v, errors) {
                    out.push((item.code.clone(), l));
                }
            }
            if unknown_rows > MAX_UNKNOWN_REPORTED {
                let more = unknown_rows - MAX_UNKNOWN_REPORTED;
                errors.push(fe(
                    code,
                    ErrorCode::UnknownQuestion,
                    format!("Và {more} dòng khác không có trong câu hỏi “{code}”."),
                    format!("And {more} more rows that question \"{code}\" does not have."),
                ));
            }
            if errors.len() > before {
                let missing = items
                    .iter()
                    .filter(|it| rows.get(&it.code).is_none_or(Json::is_null))
                    .map(|it| required(&format!("{code}.{}", it.code)))
                    .collect();
                Parsed::Bad(missing)
            } else if out.is_empty() {
                Parsed::Absent
            } else {
                Parsed::Ok(Answer::Grid(out.into_iter().collect()))
            }
        }
        (QuestionKind::Integer { .. }, Json::Number(n)) => match n.as_i64() {
            Some(i) => Parsed::Ok(Answer::Integer(i)),
            None if n.as_u64().is_some() => {
                errors.push(out_of_range(code, &n.to_string(), &integer_range(question)));
                Parsed::Bad(Vec::new())
            }
            None => wt(errors),
        },
        (QuestionKind::Text { .. }, Json::String(s)) => {
            if s.trim().is_empty() {
                Parsed::Absent
            } else {
                Parsed::Ok(Answer::Text(s.to_string()))
            }
        }
        (QuestionKind::Date { .. }, Json::String(s)) => {
            if s.trim().is_empty() {
                Parsed::Absent
            } else if parse_date(s).is_some() {
                Parsed::Ok(Answer::Date(s.to_string()))
            } else {
                errors.push(fe(
                    code,
                    ErrorCode::InvalidDate,
                    format!("“{}” không phải ngày hợp lệ (YYYY-MM-DD).", clip(s)),
                    format!("\"{}\" is not a valid date (YYYY-MM-DD).", clip(s)),
                ));
                Parsed::Bad(Vec::new())
            }
        }
        (QuestionKind::Gps {}, Json::Object(m)) => {
            let num = |k: &str| m.get(k).and_then(Json::as_f64);
            let keys_ok = m.keys().all(|k| matches!(k, "lat" | "lon" | "accuracy"));
            let acc = match m.get("accuracy") {
                None | Some(Json::Null) => Ok(None),
                Some(Json::Number(n)) => Ok(n.as_f64()),
                Some(_) => Err(()),
            };
            match (num("lat"), num("lon"), acc) {
                (Some(lat), Some(lon), Ok(accuracy)) if keys_ok => {
                    Parsed::Ok(Answer::Gps(GpsPoint { lat, lon, accuracy }))
                }
                _ => wt(errors),
            }
        }
        _ => wt(errors),
    }
}

fn integer_range(question: &Question) -> String {
    match &question.kind {
        QuestionKind::Integer { min, max } => range_text(*min, *max),
        _ => String::new(),
    }
}

/// Value-level checks of a well-formed answer: selections, ranges, lengths, required grid rows.
fn check_value(question: &Question, a: &Answer, errors: &mut Vec<FieldError>) {
    let code = question.code.as_str();
    match (&question.kind, a) {
        (QuestionKind::MultipleChoice { options, min, max }, Answer::Choices(picked)) => {
            let n = picked.len();
            let lo = usize::from(min.unwrap_or(0));
            let hi = max.map_or(options.len(), usize::from);
            if n < lo {
                errors.push(fe(
                    code,
                    ErrorCode::TooFewSelections,
                    format!("Cần chọn ít nhất {lo} phương án (đã chọn {n})."),
                    format!("Select at least {lo} options ({n} selected)."),
                ));
            }
            if n > hi {
                errors.push(fe(
                    code,
                    ErrorCode::TooManySelections,
                    format!("Chỉ được chọn tối đa {hi} phương án (đã chọn {n})."),
                    format!("Select at most {hi} options ({n} selected)."),
                ));
            }
            if n > 1
                && let Some(o) = options
                    .iter()
                    .find(|o| o.exclusive && picked.iter().any(|p| p == &o.code))
            {
                errors.push(fe(
                    code,
                    ErrorCode::ExclusiveOption,
                    format!(
                        "Phương án “{}” không được chọn cùng các phương án khác.",
                        o.label.vi
                    ),
                    format!(
                        "Option \"{}\" cannot be combined with other options.",
                        o.code
                    ),
                ));
            }
        }
        (QuestionKind::Grid { items, .. }, Answer::Grid(rows)) => {
            // Row keys are known and unique, so a full count means no row is missing.
            if question.required && rows.len() < items.len() {
                for it in items {
                    if rows.get(&it.code).is_none() {
                        errors.push(required(&format!("{code}.{}", it.code)));
                    }
                }
            }
        }
        (QuestionKind::Integer { min, max }, Answer::Integer(i)) => {
            if min.is_some_and(|m| *i < m) || max.is_some_and(|m| *i > m) {
                errors.push(out_of_range(code, &i.to_string(), &range_text(*min, *max)));
            }
        }
        (QuestionKind::Text { max_length }, Answer::Text(s)) => {
            let n = s.chars().count();
            if n > *max_length as usize {
                errors.push(fe(
                    code,
                    ErrorCode::TooLong,
                    format!("Nội dung dài {n} ký tự, vượt quá {max_length} ký tự cho phép."),
                    format!("Text is {n} characters long; at most {max_length} allowed."),
                ));
            }
        }
        (QuestionKind::Date { min, max }, Answer::Date(d)) => {
            let below = min.as_deref().is_some_and(|m| d.as_str() < m);
            let above = max.as_deref().is_some_and(|m| d.as_str() > m);
            if below || above {
                errors.push(out_of_range(
                    code,
                    d,
                    &range_text(min.as_deref(), max.as_deref()),
                ));
            }
        }
        (QuestionKind::Gps {}, Answer::Gps(p)) => {
            let ok = p.lat.is_finite()
                && p.lon.is_finite()
                && (-90.0..=90.0).contains(&p.lat)
                && (-180.0..=180.0).contains(&p.lon)
                && p.accuracy.is_none_or(|a| a.is_finite() && a >= 0.0);
            if !ok {
                errors.push(out_of_range(
                    code,
                    &format!("({}, {})", p.lat, p.lon),
                    "lat −90–90, lon −180–180, accuracy ≥ 0",
                ));
            }
        }
        (QuestionKind::SingleChoice { .. }, Answer::Choice(_)) => {}
        (QuestionKind::Level { .. }, Answer::Level(_)) => {}
        _ => errors.push(wrong_type(code, &question.kind)),
    }
}

// ---------------------------------------------------------------------------------------------
// Conditions

struct Env<'a> {
    table: &'a CodeTable<'a>,
    /// The answers so far, and the entry of each code (by its first position).
    entries: &'a [Entry],
    slots: &'a [Option<u32>],
    errored: &'a [&'a str],
    current: Option<(&'a str, &'a Answer)>,
}

impl Env<'_> {
    /// `Err(())` when the question had a malformed answer (the condition cannot be decided).
    fn lookup(&self, code: &str) -> Result<Option<&Answer>, ()> {
        if let Some((c, a)) = self.current
            && c == code
        {
            return Ok(Some(a));
        }
        if self.errored.contains(&code) {
            return Err(());
        }
        Ok(self
            .table
            .position(code)
            .and_then(|p| self.slots[p])
            .map(|i| &self.entries[i as usize].answer))
    }

    /// Three-valued evaluation: `None` when it depends on a malformed answer.
    fn eval(&self, c: &Condition) -> Option<bool> {
        let selected = |a: Option<&Answer>, opt: &str| match a {
            Some(Answer::Choice(x)) => x == opt,
            Some(Answer::Choices(v)) => v.iter().any(|x| x == opt),
            _ => false,
        };
        match c {
            Condition::Selected { question, option } => {
                let a = self.lookup(question).ok()?;
                Some(selected(a, option))
            }
            Condition::AnySelected { question, options } => {
                let a = self.lookup(question).ok()?;
                Some(options.iter().any(|o| selected(a, o)))
            }
            Condition::Answered { question } => Some(self.lookup(question).ok()?.is_some()),
            Condition::Cmp {
                question,
                cmp,
                value,
            } => {
                let v = match self.lookup(question).ok()? {
                    Some(Answer::Integer(i)) => Some(*i),
                    Some(Answer::Level(LevelAnswer::Level(l))) => Some(i64::from(*l)),
                    _ => None,
                };
                Some(v.is_some_and(|v| cmp.apply(v, *value)))
            }
            Condition::All { of } => {
                let mut unknown = false;
                for c in of {
                    match self.eval(c) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                (!unknown).then_some(true)
            }
            Condition::Any { of } => {
                let mut unknown = false;
                for c in of {
                    match self.eval(c) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
            Condition::Not { of } => self.eval(of).map(|b| !b),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The validation core, shared by `validate` and `ValidAnswers::decode`.

pub(crate) fn validate_core<'q>(
    q: &'q Questionnaire,
    table: &CodeTable<'q>,
    mut input: impl FnMut(usize, &'q Question, &mut Vec<FieldError>) -> Parsed,
    errors: &mut Vec<FieldError>,
    not_required: &[&str],
) -> ValidAnswers {
    // At most one entry per question: one allocation, never grown.
    let mut entries: Vec<Entry> = Vec::with_capacity(table.codes.len());
    // The entry of each code, at the code's first position.
    let mut slots: Vec<Option<u32>> = vec![None; table.codes.len()];
    let mut errored: Vec<&str> = Vec::new();
    for (pos, question) in q.questions().enumerate() {
        let parsed = input(pos, question, errors);
        let code = question.code.as_str();
        let must_answer = question.required && !not_required.contains(&code);
        let relevant = match &question.relevant {
            None => Some(true),
            Some(c) => Env {
                table,
                entries: &entries,
                slots: &slots,
                errored: &errored,
                current: None,
            }
            .eval(c),
        };
        let answer = match parsed {
            Parsed::Bad(deferred) => {
                if relevant == Some(true) && must_answer {
                    errors.extend(deferred);
                }
                errored.push(code);
                continue;
            }
            Parsed::Absent => {
                if relevant == Some(true) && must_answer {
                    errors.push(required(code));
                }
                continue;
            }
            Parsed::Ok(a) => a,
        };
        if relevant == Some(false) {
            errors.push(fe(
                code,
                ErrorCode::NotRelevant,
                "Câu hỏi này không áp dụng theo các câu trả lời trước nên không được trả lời."
                    .into(),
                "This question does not apply given earlier answers and must not be answered."
                    .into(),
            ));
            continue;
        }
        let before = errors.len();
        check_value(question, &answer, errors);
        if errors.len() == before {
            for c in &question.constraints {
                let env = Env {
                    table,
                    entries: &entries,
                    slots: &slots,
                    errored: &errored,
                    current: Some((code, &answer)),
                };
                if env.eval(&c.condition) == Some(false) {
                    errors.push(FieldError {
                        question: code.to_owned(),
                        code: ErrorCode::ConstraintFailed,
                        message: c.message.clone(),
                    });
                }
            }
        }
        if errors.len() > before {
            errored.push(code);
            continue;
        }
        // A code repeated by a later question (a definition that skipped the check) keeps one
        // entry, holding the last answer, as a map by code would.
        let first = table.first[pos];
        match slots[first] {
            Some(i) => entries[i as usize].answer = answer,
            None => {
                slots[first] = Some(entries.len() as u32);
                entries.push(Entry {
                    pos: first as u32,
                    code: code.to_owned(),
                    answer,
                });
            }
        }
    }
    if !entries.is_sorted_by_key(|e| e.pos) {
        entries.sort_by_key(|e| e.pos);
    }
    ValidAnswers::from_entries(entries, table.repeats)
}

/// How many unknown answer keys are reported one by one; the rest are counted in one more error
/// (field `answers`). A form's problems stay bounded by the questionnaire's size however many keys
/// it sends: a form of hundreds of thousands of made-up keys must not become as many errors in
/// memory, in quarantine and in the response.
pub const MAX_UNKNOWN_REPORTED: usize = 20;

/// Validates a submitted form against a questionnaire.
///
/// Every problem is reported (in questionnaire order, then unknown keys, at most
/// [`MAX_UNKNOWN_REPORTED`] of them by name), not just the first. A
/// question whose relevance depends on a malformed answer is not checked for `required` /
/// `not_relevant` (the cause is reported instead). Constraints are checked only on answers that are
/// otherwise well-formed and in range.
pub fn validate(q: &Questionnaire, answers: &Answers) -> Result<ValidAnswers, Vec<FieldError>> {
    validate_json(q, &JsonObject::of_map(answers))
}

/// The question that records the household's district. A round whose geography has no districts
/// (2025 on) cannot answer it, so there it is not required: see [`validate_with`].
pub const DISTRICT_QUESTION: &str = "district_code";

/// [`validate`] with the questions of `not_required` optional even where the questionnaire
/// requires them: the questions of unit levels the form's geography does not have
/// ([`DISTRICT_QUESTION`] for a form without a district). An answer given is still checked.
pub fn validate_with(
    q: &Questionnaire,
    answers: &Answers,
    not_required: &[&str],
) -> Result<ValidAnswers, Vec<FieldError>> {
    validate_json_with(q, &JsonObject::of_map(answers), not_required)
}

/// [`validate`] on answers read as [`Json`] (what the server does with each pushed form: no
/// `Value` tree is built). The same text gives the same result either way.
pub fn validate_json(
    q: &Questionnaire,
    answers: &JsonObject<'_>,
) -> Result<ValidAnswers, Vec<FieldError>> {
    validate_json_with(q, answers, &[])
}

/// [`validate_with`] on answers read as [`Json`].
pub fn validate_json_with(
    q: &Questionnaire,
    answers: &JsonObject<'_>,
    not_required: &[&str],
) -> Result<ValidAnswers, Vec<FieldError>> {
    let mut errors = Vec::new();
    let table = CodeTable::new(q);
    let (slots, unknown) = answer_slots(&table, answers);
    let out = validate_core(
        q,
        &table,
        |pos, question, errors| match slots.get(pos).copied().flatten() {
            None => Parsed::Absent,
            Some(v) => parse_wire(q, question, v, errors),
        },
        &mut errors,
        not_required,
    );
    let n_unknown = unknown.len();
    for key in unknown.into_iter().take(MAX_UNKNOWN_REPORTED) {
        errors.push(fe(
            clip(key),
            ErrorCode::UnknownQuestion,
            format!("Không có câu hỏi “{}” trong phiếu.", clip(key)),
            format!(
                "There is no question \"{}\" in this questionnaire.",
                clip(key)
            ),
        ));
    }
    if n_unknown > MAX_UNKNOWN_REPORTED {
        let more = n_unknown - MAX_UNKNOWN_REPORTED;
        errors.push(fe(
            "answers",
            ErrorCode::UnknownQuestion,
            format!("Và {more} khóa khác không phải câu hỏi của phiếu."),
            format!("And {more} more keys that are not questions of this questionnaire."),
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The questionnaire's question codes in a small hash table (built per validation): a code's
/// first position in asking order, found with one short hash rather than a search.
pub(crate) struct CodeTable<'q> {
    /// Code of each question, by position.
    codes: Vec<&'q str>,
    /// Open addressing: first positions, `EMPTY` for a free slot.
    table: Vec<usize>,
    mask: usize,
    /// For each position, the first position with the same code (itself, unless the definition
    /// skipped the check and repeats a code).
    first: Vec<usize>,
    /// Whether some code repeats (some position's first position is an earlier one).
    pub(crate) repeats: bool,
}

impl<'q> CodeTable<'q> {
    const EMPTY: usize = usize::MAX;

    /// FNV-1a: short keys, no hashing-flood concern (the table lives for one call, and its size
    /// is bounded by the questionnaire, not by the input).
    fn hash(s: &str) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in s.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h as usize
    }

    pub(crate) fn new(q: &'q Questionnaire) -> Self {
        let codes: Vec<&str> = q.questions().map(|x| x.code.as_str()).collect();
        let mask = (codes.len() * 2).next_power_of_two().max(8) - 1;
        let mut table = vec![Self::EMPTY; mask + 1];
        let mut first = Vec::with_capacity(codes.len());
        for (pos, code) in codes.iter().enumerate() {
            let mut h = Self::hash(code) & mask;
            while table[h] != Self::EMPTY && codes[table[h]] != *code {
                h = (h + 1) & mask;
            }
            if table[h] == Self::EMPTY {
                table[h] = pos;
            }
            first.push(table[h]);
        }
        let repeats = first.iter().enumerate().any(|(pos, &f)| f != pos);
        CodeTable {
            codes,
            table,
            mask,
            first,
            repeats,
        }
    }

    /// The first position of a question with this code.
    pub(crate) fn position(&self, key: &str) -> Option<usize> {
        let mut h = Self::hash(key) & self.mask;
        loop {
            match self.table[h] {
                Self::EMPTY => return None,
                pos if self.codes[pos] == key => return Some(pos),
                _ => h = (h + 1) & self.mask,
            }
        }
    }
}

/// Each question's answer, by question position, and the keys that name no question (in key
/// order): one pass over the answers through the code table, rather than a binary search of the
/// answers per question (which was a third of the validation time).
fn answer_slots<'j, 'a>(
    table: &CodeTable<'_>,
    answers: &'j JsonObject<'a>,
) -> (Vec<Option<&'j Json<'a>>>, Vec<&'j str>) {
    let mut slots = vec![None; table.codes.len()];
    let mut unknown = Vec::new();
    for (key, value) in answers.iter() {
        match table.position(key) {
            Some(pos) => slots[pos] = Some(value),
            None => unknown.push(key),
        }
    }
    // A code that repeats an earlier question's reads the same answer as that question, as a
    // lookup by code did.
    for pos in 0..slots.len() {
        slots[pos] = slots[table.first[pos]];
    }
    (slots, unknown)
}
