//! Load-time consistency checks of a questionnaire, with errors that name the place.

use std::collections::{HashMap, HashSet};

use crate::date::parse_date;
use crate::index::{ScoringRule, split_address};
use crate::model::{ChoiceOption, Condition, Label, Question, QuestionKind, Questionnaire};

/// Why a questionnaire was rejected at load, and where.
///
/// Displays as `{place}: {kind}`, e.g.
/// `section "part2" question "s2" relevance: refers to unknown question "q99"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {kind}")]
pub struct LoadError {
    /// Where the problem is, e.g. `section "part2" question "s2" relevance` or
    /// `index group "p1" item "p1.x"`; `JSON` for a parse error.
    pub place: String,
    /// What the problem is.
    pub kind: LoadErrorKind,
}

/// The kinds of load error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadErrorKind {
    /// The text is not valid JSON for the model (syntax, missing or unknown field, wrong type).
    #[error("invalid questionnaire JSON: {0}")]
    Parse(String),
    /// A label's Vietnamese text (or a given English text) is empty.
    #[error("empty label")]
    EmptyLabel,
    /// A code is not ASCII `[a-z0-9_]`, 1–64 characters.
    #[error("bad code {0:?} (use a-z, 0-9 and _, at most 64 characters)")]
    BadCode(String),
    /// Two questions share a code.
    #[error("duplicate question code {0:?}")]
    DuplicateQuestion(String),
    /// Two options (or special answers) of the same question or scale share a code.
    #[error("duplicate option code {0:?}")]
    DuplicateOption(String),
    /// Two sections, scales, grid items, index groups/components, or index items share a code.
    #[error("duplicate code {0:?}")]
    DuplicateCode(String),
    /// A reference to a question that does not exist.
    #[error("refers to unknown question {0:?}")]
    UnknownQuestion(String),
    /// A reference to an option the question does not have.
    #[error("refers to unknown option {0:?}")]
    UnknownOption(String),
    /// A reference to a scale that does not exist.
    #[error("refers to unknown scale {0:?}")]
    UnknownScale(String),
    /// An index item names a grid row that does not exist.
    #[error("refers to unknown grid item {0:?}")]
    UnknownItem(String),
    /// A component names an index group that does not exist.
    #[error("refers to unknown index group {0:?}")]
    UnknownGroup(String),
    /// A condition refers to the question itself (relevance) or to a later question.
    #[error("refers to question {0:?}, which is not asked before this point")]
    ForwardReference(String),
    /// A condition does not fit the kind of question it refers to.
    #[error("bad condition: {0}")]
    BadCondition(String),
    /// A number or date range is impossible (min > max, too few levels, …).
    #[error("bad range: {0}")]
    BadRange(String),
    /// An index item is not a level-scale item (a level question or a grid row).
    #[error("index item {0:?} is not a level-scale item")]
    NotLevelScale(String),
    /// A list that must not be empty is empty, or an attribute is used where it means nothing.
    #[error("invalid: {0}")]
    Invalid(String),
}

impl LoadError {
    pub(crate) fn parse(place: &str, e: &serde_json::Error) -> LoadError {
        // Positions are only meaningful for syntax errors; errors from a parsed value say line 0.
        let msg = if e.line() == 0 {
            let s = e.to_string();
            s.strip_suffix(" at line 0 column 0")
                .map_or(s.clone(), str::to_owned)
        } else {
            e.to_string()
        };
        LoadError {
            place: place.to_owned(),
            kind: LoadErrorKind::Parse(msg),
        }
    }
}

fn err(place: impl Into<String>, kind: LoadErrorKind) -> LoadError {
    LoadError {
        place: place.into(),
        kind,
    }
}

/// Whether `code` is a valid code: ASCII `[a-z0-9_]`, 1–64 characters.
pub fn is_valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_code(place: &str, code: &str) -> Result<(), LoadError> {
    if is_valid_code(code) {
        Ok(())
    } else {
        Err(err(place, LoadErrorKind::BadCode(code.to_owned())))
    }
}

fn check_label(place: &str, label: &Label) -> Result<(), LoadError> {
    let empty_en = label.en.as_deref().is_some_and(|e| e.trim().is_empty());
    if label.vi.trim().is_empty() || empty_en {
        Err(err(place, LoadErrorKind::EmptyLabel))
    } else {
        Ok(())
    }
}

fn check_options(
    place: &str,
    options: &[ChoiceOption],
    exclusive_allowed: bool,
) -> Result<(), LoadError> {
    let mut seen = HashSet::new();
    for o in options {
        let p = format!("{place} option {:?}", o.code);
        check_code(&p, &o.code)?;
        if !seen.insert(o.code.as_str()) {
            return Err(err(place, LoadErrorKind::DuplicateOption(o.code.clone())));
        }
        check_label(&p, &o.label)?;
        if o.exclusive && !exclusive_allowed {
            return Err(err(
                p,
                LoadErrorKind::Invalid(
                    "exclusive is only meaningful in a multiple-choice question".into(),
                ),
            ));
        }
    }
    Ok(())
}

struct QInfo<'a> {
    pos: usize,
    question: &'a Question,
}

impl Questionnaire {
    /// Checks the questionnaire's consistency; the first problem found is returned with its place.
    ///
    /// Checked: codes well-formed and unique (sections, questions, options, scales, grid items, index
    /// codes), non-empty labels, choice/grid lists non-empty, ranges possible, scales known, conditions
    /// refer only to earlier questions (a constraint may also refer to its own question) with options
    /// the question has and kinds that fit, and the index refers to level-scale items exactly once each
    /// with a scoring rule that fits their scales.
    pub fn check(&self) -> Result<(), LoadError> {
        check_code("questionnaire", &self.code)?;
        check_label("questionnaire title", &self.title)?;
        if let Some(d) = &self.description {
            check_label("questionnaire description", d)?;
        }

        let mut scale_codes = HashSet::new();
        for s in &self.scales {
            let place = format!("scale {:?}", s.code);
            check_code(&place, &s.code)?;
            if !scale_codes.insert(s.code.as_str()) {
                return Err(err("scales", LoadErrorKind::DuplicateCode(s.code.clone())));
            }
            if !(2..=20).contains(&s.levels.len()) {
                return Err(err(
                    place,
                    LoadErrorKind::BadRange(format!(
                        "a scale needs 2 to 20 levels, has {}",
                        s.levels.len()
                    )),
                ));
            }
            for (i, l) in s.levels.iter().enumerate() {
                check_label(&format!("{place} level {}", i + 1), l)?;
            }
            if s.special.len() > 20 {
                return Err(err(
                    place,
                    LoadErrorKind::BadRange("at most 20 special answers".into()),
                ));
            }
            check_options(&place, &s.special, false)?;
        }

        // Pass 1: codes, labels, kinds; collect question positions.
        let mut questions: HashMap<&str, QInfo<'_>> = HashMap::new();
        let mut section_codes = HashSet::new();
        let mut pos = 0usize;
        for section in &self.sections {
            let splace = format!("section {:?}", section.code);
            check_code(&splace, &section.code)?;
            if !section_codes.insert(section.code.as_str()) {
                return Err(err(
                    "sections",
                    LoadErrorKind::DuplicateCode(section.code.clone()),
                ));
            }
            check_label(&format!("{splace} title"), &section.title)?;
            if section.questions.is_empty() {
                return Err(err(splace, LoadErrorKind::Invalid("no questions".into())));
            }
            for q in &section.questions {
                let place = format!("{splace} question {:?}", q.code);
                check_code(&place, &q.code)?;
                if questions.contains_key(q.code.as_str()) {
                    return Err(err(place, LoadErrorKind::DuplicateQuestion(q.code.clone())));
                }
                questions.insert(&q.code, QInfo { pos, question: q });
                pos += 1;
                check_label(&place, &q.label)?;
                if let Some(h) = &q.hint {
                    check_label(&format!("{place} hint"), h)?;
                }
                self.check_kind(&place, q)?;
                for (i, c) in q.constraints.iter().enumerate() {
                    check_label(&format!("{place} constraint {} message", i + 1), &c.message)?;
                }
            }
        }
        if pos == 0 {
            return Err(err(
                "sections",
                LoadErrorKind::Invalid("no questions".into()),
            ));
        }

        // Pass 2: conditions.
        for section in &self.sections {
            for q in &section.questions {
                let place = format!("section {:?} question {:?}", section.code, q.code);
                let own = questions.get(q.code.as_str()).map_or(0, |i| i.pos);
                if let Some(c) = &q.relevant {
                    check_condition(&format!("{place} relevance"), c, &questions, own, false)?;
                }
                for (i, c) in q.constraints.iter().enumerate() {
                    check_condition(
                        &format!("{place} constraint {}", i + 1),
                        &c.condition,
                        &questions,
                        own,
                        true,
                    )?;
                }
            }
        }

        self.check_index(&questions)
    }

    fn check_kind(&self, place: &str, q: &Question) -> Result<(), LoadError> {
        let bad = |m: String| Err(err(place, LoadErrorKind::BadRange(m)));
        match &q.kind {
            QuestionKind::SingleChoice { options } => {
                if options.is_empty() {
                    return Err(err(place, LoadErrorKind::Invalid("no options".into())));
                }
                check_options(place, options, false)?;
            }
            QuestionKind::MultipleChoice { options, min, max } => {
                if options.is_empty() {
                    return Err(err(place, LoadErrorKind::Invalid("no options".into())));
                }
                check_options(place, options, true)?;
                let n = options.len();
                let lo = usize::from(min.unwrap_or(0));
                let hi = max.map_or(n, usize::from);
                if hi == 0 || hi > n || lo > hi {
                    return bad(format!(
                        "selections min {lo} / max {hi} impossible with {n} options"
                    ));
                }
            }
            QuestionKind::Level { scale } => {
                if self.scale(scale).is_none() {
                    return Err(err(place, LoadErrorKind::UnknownScale(scale.clone())));
                }
            }
            QuestionKind::Grid { scale, items } => {
                if self.scale(scale).is_none() {
                    return Err(err(place, LoadErrorKind::UnknownScale(scale.clone())));
                }
                if items.is_empty() {
                    return Err(err(place, LoadErrorKind::Invalid("no grid items".into())));
                }
                let mut seen = HashSet::new();
                for it in items {
                    let p = format!("{place} item {:?}", it.code);
                    check_code(&p, &it.code)?;
                    if !seen.insert(it.code.as_str()) {
                        return Err(err(place, LoadErrorKind::DuplicateCode(it.code.clone())));
                    }
                    check_label(&p, &it.label)?;
                }
            }
            QuestionKind::Integer { min, max } => {
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    return bad(format!("min {lo} > max {hi}"));
                }
            }
            QuestionKind::Text { max_length } => {
                if *max_length == 0 {
                    return bad("max_length must be at least 1".into());
                }
            }
            QuestionKind::Date { min, max } => {
                for d in [min, max].into_iter().flatten() {
                    if parse_date(d).is_none() {
                        return bad(format!("{d:?} is not a valid YYYY-MM-DD date"));
                    }
                }
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    return bad(format!("min {lo} > max {hi}"));
                }
            }
            QuestionKind::Gps {} => {}
        }
        Ok(())
    }

    fn check_index(&self, questions: &HashMap<&str, QInfo<'_>>) -> Result<(), LoadError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        if let Some(n) = &index.note {
            check_label("index note", n)?;
        }
        let mut codes = HashSet::new();
        let mut items_seen = HashSet::new();
        let mut min_levels = u8::MAX;
        for g in &index.groups {
            let place = format!("index group {:?}", g.code);
            check_code(&place, &g.code)?;
            if !codes.insert(g.code.as_str()) {
                return Err(err("index", LoadErrorKind::DuplicateCode(g.code.clone())));
            }
            check_label(&place, &g.label)?;
            if g.items.is_empty() {
                return Err(err(place, LoadErrorKind::Invalid("no items".into())));
            }
            for address in &g.items {
                let p = format!("{place} item {address:?}");
                if !items_seen.insert(address.as_str()) {
                    return Err(err(p, LoadErrorKind::DuplicateCode(address.clone())));
                }
                let (qc, item) = split_address(address);
                let Some(info) = questions.get(qc) else {
                    return Err(err(p, LoadErrorKind::UnknownQuestion(qc.to_owned())));
                };
                let scale = match (&info.question.kind, item) {
                    (QuestionKind::Grid { items, scale }, Some(i)) => {
                        if !items.iter().any(|it| it.code == i) {
                            return Err(err(p, LoadErrorKind::UnknownItem(address.clone())));
                        }
                        scale
                    }
                    (QuestionKind::Level { scale }, None) => scale,
                    _ => return Err(err(p, LoadErrorKind::NotLevelScale(address.clone()))),
                };
                let n = self.scale(scale).map_or(0, |s| s.n_levels());
                min_levels = min_levels.min(n);
            }
        }
        if index.groups.is_empty() {
            return Err(err("index", LoadErrorKind::Invalid("no groups".into())));
        }
        let mut grouped = HashSet::new();
        for c in &index.components {
            let place = format!("index component {:?}", c.code);
            check_code(&place, &c.code)?;
            if !codes.insert(c.code.as_str()) {
                return Err(err("index", LoadErrorKind::DuplicateCode(c.code.clone())));
            }
            check_label(&place, &c.label)?;
            if c.groups.is_empty() {
                return Err(err(place, LoadErrorKind::Invalid("no groups".into())));
            }
            for gc in &c.groups {
                if !index.groups.iter().any(|g| &g.code == gc) {
                    return Err(err(place, LoadErrorKind::UnknownGroup(gc.clone())));
                }
                if !grouped.insert(gc.as_str()) {
                    return Err(err(place, LoadErrorKind::DuplicateCode(gc.clone())));
                }
            }
        }
        let place = format!("index overall {:?}", index.overall.code);
        check_code(&place, &index.overall.code)?;
        if !codes.insert(index.overall.code.as_str()) {
            return Err(err(
                "index",
                LoadErrorKind::DuplicateCode(index.overall.code.clone()),
            ));
        }
        check_label(&place, &index.overall.label)?;
        if let ScoringRule::TopShare { top_levels } = index.scoring
            && (top_levels == 0 || top_levels >= min_levels)
        {
            return Err(err(
                "index scoring",
                LoadErrorKind::BadRange(format!(
                    "top_levels {top_levels} must be between 1 and the number of levels - 1 ({})",
                    min_levels.saturating_sub(1)
                )),
            ));
        }
        Ok(())
    }
}

fn check_condition(
    place: &str,
    c: &Condition,
    questions: &HashMap<&str, QInfo<'_>>,
    own: usize,
    self_allowed: bool,
) -> Result<(), LoadError> {
    let target = |code: &str| -> Result<&Question, LoadError> {
        let Some(info) = questions.get(code) else {
            return Err(err(place, LoadErrorKind::UnknownQuestion(code.to_owned())));
        };
        if info.pos > own || (info.pos == own && !self_allowed) {
            return Err(err(place, LoadErrorKind::ForwardReference(code.to_owned())));
        }
        Ok(info.question)
    };
    let choice_options = |q: &Question, code: &str| -> Result<(), LoadError> {
        match &q.kind {
            QuestionKind::SingleChoice { options }
            | QuestionKind::MultipleChoice { options, .. } => {
                if options.iter().any(|o| o.code == code) {
                    Ok(())
                } else {
                    Err(err(place, LoadErrorKind::UnknownOption(code.to_owned())))
                }
            }
            k => Err(err(
                place,
                LoadErrorKind::BadCondition(format!(
                    "\"selected\" needs a choice question, {:?} is {}",
                    q.code,
                    k.name()
                )),
            )),
        }
    };
    match c {
        Condition::Selected { question, option } => {
            let q = target(question)?;
            choice_options(q, option)
        }
        Condition::AnySelected { question, options } => {
            let q = target(question)?;
            if options.is_empty() {
                return Err(err(
                    place,
                    LoadErrorKind::BadCondition("\"any_selected\" with no options".into()),
                ));
            }
            options.iter().try_for_each(|o| choice_options(q, o))
        }
        Condition::Answered { question } => target(question).map(|_| ()),
        Condition::Cmp { question, .. } => {
            let q = target(question)?;
            match q.kind {
                QuestionKind::Integer { .. } | QuestionKind::Level { .. } => Ok(()),
                ref k => Err(err(
                    place,
                    LoadErrorKind::BadCondition(format!(
                        "\"cmp\" needs an integer or level question, {:?} is {}",
                        q.code,
                        k.name()
                    )),
                )),
            }
        }
        Condition::All { of } | Condition::Any { of } => of
            .iter()
            .try_for_each(|c| check_condition(place, c, questions, own, self_allowed)),
        Condition::Not { of } => check_condition(place, of, questions, own, self_allowed),
    }
}
