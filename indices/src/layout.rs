//! Where each count lives in a cluster's flat vector of sufficient statistics.

use std::sync::Arc;

use schema::{QuestionKind, Questionnaire, ScoringRule};

/// One satisfaction (index) item as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSlot {
    /// Address `grid.item` (or a level question's code).
    pub address: Arc<str>,
    /// Code of its group.
    pub group: Arc<str>,
    /// Number of levels of its scale.
    pub n_levels: u8,
    /// The score (0–100) of one stored score unit: an answer's score is `units × unit_score`.
    /// Scores are kept as integer units so that adding and removing forms is exact: top-share
    /// answers are 0 or 1 unit of 100, rescaled-mean answers are `level − 1` units of
    /// `100 / (n − 1)`.
    pub unit_score: f64,
    /// Score units per level (index `level − 1`).
    units: Vec<u32>,
    /// Where its answer is: the question's position in asking order (see
    /// `schema::ValidAnswers::at`; `usize::MAX` if the questionnaire has no such question), and
    /// the grid row.
    pub(crate) question_pos: usize,
    pub(crate) row: Option<Arc<str>>,
}

impl ItemSlot {
    /// The score units of an answer at `level` (clamped to the scale, as `ScoringRule::score`).
    pub fn units(&self, level: u8) -> u32 {
        if self.units.is_empty() {
            return 0;
        }
        let i = usize::from(level.clamp(1, self.n_levels)) - 1;
        self.units[i]
    }
}

/// A choice question whose options are tallied (perception criteria, expectations, respondent
/// profile).
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceSlot {
    /// Question code.
    pub question: Arc<str>,
    /// Option codes, in questionnaire order.
    pub options: Vec<Arc<str>>,
    /// Multiple choice (shares over respondents may sum past 100%) or single choice.
    pub multiple: bool,
    pub(crate) offset: usize,
    /// The question's position in asking order.
    pub(crate) question_pos: usize,
}

/// A level question or grid row that is not an index item (e.g. interest per policy area):
/// a histogram of its levels is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSlot {
    /// Question code.
    pub question: Arc<str>,
    /// Grid row code, for a grid.
    pub item: Option<Arc<str>>,
    /// Number of levels of its scale.
    pub n_levels: u8,
    pub(crate) offset: usize,
    /// The question's position in asking order.
    pub(crate) question_pos: usize,
}

/// The layout of [`crate::ClusterStats`] for one questionnaire version: which counts are kept and
/// where. Build it once per questionnaire version and reuse it (it is immutable).
///
/// Kept per cluster, all as `u32` counts (integers, so add/remove is exact):
/// - the number of forms;
/// - per index item: the number of special answers (don't know / not applicable);
/// - per pair of index items `k ≤ l`: forms where both are scored (`NN`, the diagonal is the item's
///   valid count) and the sum of products of score units (`SS`, the diagonal the sum of squares);
/// - per ordered pair `(k, l)`: the sum of `k`'s score units over forms where `l` is scored (`SN`,
///   the diagonal is the item's score sum);
/// - per choice question: respondents answering it and, per option, respondents choosing it;
/// - per non-index level row: a histogram of levels plus the number of special answers.
///
/// The item totals (diagonals) are all that a domain of two or more clusters needs; the cross
/// moments serve the within-village variance of composite indices for a single-village domain.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsLayout {
    /// Questionnaire code.
    pub questionnaire: Arc<str>,
    /// Questionnaire version.
    pub version: u32,
    /// Index items in the fixed order (`Questionnaire::index_items`).
    pub items: Vec<ItemSlot>,
    /// Groups: code and the range of their items in `items`.
    pub groups: Vec<(Arc<str>, std::ops::Range<usize>)>,
    /// Components: code and the indices of their items in `items`.
    pub components: Vec<(Arc<str>, Vec<usize>)>,
    /// Code of the overall index (SIPAS), if the questionnaire has an index.
    pub overall: Option<Arc<str>>,
    /// Tallied choice questions, in questionnaire order.
    pub choices: Vec<ChoiceSlot>,
    /// Non-index level questions and grid rows, in questionnaire order.
    pub rows: Vec<RowSlot>,
    pub(crate) off_special: usize,
    pub(crate) off_nn: usize,
    pub(crate) off_ss: usize,
    pub(crate) off_sn: usize,
    /// See [`StatsLayout::max_form_amount`]; computed once, read for every form added.
    max_form_amount: u32,
    pub(crate) len: usize,
}

impl StatsLayout {
    /// The layout for a questionnaire (checked: `Questionnaire::from_json` ran).
    pub fn new(q: &Questionnaire) -> StatsLayout {
        // A code's first position in asking order, where `ValidAnswers::at` finds its answer.
        let position = |code: &str| {
            q.questions()
                .position(|x| x.code == code)
                .unwrap_or(usize::MAX)
        };
        let index_items = q.index_items();
        let rule = q.index.as_ref().map(|i| i.scoring);
        let items: Vec<ItemSlot> = index_items
            .iter()
            .map(|it| {
                let n = it.n_levels;
                let (unit_score, units) = match rule {
                    Some(_) if n < 2 => (0.0, Vec::new()),
                    Some(ScoringRule::TopShare { top_levels }) => {
                        let units = (1..=n)
                            .map(|l| u32::from(u16::from(l) + u16::from(top_levels) > u16::from(n)))
                            .collect();
                        (100.0, units)
                    }
                    Some(ScoringRule::RescaledMean {}) => {
                        (100.0 / f64::from(n - 1), (0..u32::from(n)).collect())
                    }
                    None => (0.0, Vec::new()),
                };
                let (question, row) = schema::split_address(&it.address);
                ItemSlot {
                    question_pos: position(question),
                    row: row.map(Into::into),
                    address: it.address.as_str().into(),
                    group: it.group.as_str().into(),
                    n_levels: n,
                    unit_score,
                    units,
                }
            })
            .collect();
        let mut groups: Vec<(Arc<str>, std::ops::Range<usize>)> = Vec::new();
        let mut components = Vec::new();
        let mut overall = None;
        if let Some(index) = &q.index {
            let mut pos = 0;
            for g in &index.groups {
                groups.push((g.code.as_str().into(), pos..pos + g.items.len()));
                pos += g.items.len();
            }
            for c in &index.components {
                let mut idx = Vec::new();
                for gc in &c.groups {
                    if let Some((_, r)) = groups.iter().find(|(code, _)| &**code == gc.as_str()) {
                        idx.extend(r.clone());
                    }
                }
                components.push((c.code.as_str().into(), idx));
            }
            overall = Some(index.overall.code.as_str().into());
        }
        let k = items.len();
        let tri = k * (k + 1) / 2;
        let off_special = 1;
        let off_nn = off_special + k;
        let off_ss = off_nn + tri;
        let off_sn = off_ss + tri;
        let mut len = off_sn + k * k;
        let index_addresses: Vec<&str> = items.iter().map(|i| &*i.address).collect();
        let mut choices = Vec::new();
        let mut rows = Vec::new();
        for question in q.questions() {
            match &question.kind {
                QuestionKind::SingleChoice { options }
                | QuestionKind::MultipleChoice { options, .. } => {
                    choices.push(ChoiceSlot {
                        question: question.code.as_str().into(),
                        options: options.iter().map(|o| o.code.as_str().into()).collect(),
                        multiple: matches!(question.kind, QuestionKind::MultipleChoice { .. }),
                        offset: len,
                        question_pos: position(&question.code),
                    });
                    len += 1 + options.len();
                }
                QuestionKind::Level { .. } | QuestionKind::Grid { .. } => {
                    let n_levels = q.scale_of(question).map_or(0, |s| s.n_levels());
                    let row_items: Vec<Option<&str>> = match &question.kind {
                        QuestionKind::Grid { items, .. } => {
                            items.iter().map(|i| Some(i.code.as_str())).collect()
                        }
                        _ => vec![None],
                    };
                    for item in row_items {
                        let address = match item {
                            Some(i) => format!("{}.{i}", question.code),
                            None => question.code.clone(),
                        };
                        if index_addresses.contains(&address.as_str()) {
                            continue;
                        }
                        rows.push(RowSlot {
                            question: question.code.as_str().into(),
                            item: item.map(Into::into),
                            n_levels,
                            offset: len,
                            question_pos: position(&question.code),
                        });
                        len += usize::from(n_levels) + 1;
                    }
                }
                _ => {}
            }
        }
        let max_units = items
            .iter()
            .flat_map(|it| it.units.iter().copied())
            .max()
            .unwrap_or(0);
        StatsLayout {
            max_form_amount: max_units.saturating_mul(max_units).max(1),
            questionnaire: q.code.as_str().into(),
            version: q.version,
            items,
            groups,
            components,
            overall,
            choices,
            rows,
            off_special,
            off_nn,
            off_ss,
            off_sn,
            len,
        }
    }

    /// Number of `u32` counts per cluster.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the layout is empty (never: the form count is always kept).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of index items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// The largest amount one form adds to a single count: 1 (a count of answers) or the largest
    /// product of two items' score units (the cross sums). Bounds the overflow check of
    /// [`crate::ClusterStats::add_digest`].
    pub(crate) fn max_form_amount(&self) -> u32 {
        self.max_form_amount
    }

    /// Position of the upper-triangle entry `(k, l)`, `k ≤ l`, among `K(K+1)/2`.
    pub(crate) fn tri(&self, k: usize, l: usize) -> usize {
        let (k, l) = if k <= l { (k, l) } else { (l, k) };
        let n = self.items.len();
        k * n - k * k.saturating_sub(1) / 2 + (l - k)
    }
}
