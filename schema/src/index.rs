//! The satisfaction index as data: scoring rule, groups, components, overall index.
//!
//! Arithmetic (checked against the published Lai Châu 2023 figures):
//! - an **item index** is the mean of the per-answer scores ([`ScoringRule::score`]) over the valid,
//!   scored answers to the item (special codes such as "don't know", unanswered and not-relevant
//!   answers are not scored);
//! - a **group index** is the mean of its items' indices;
//! - a **component index** (policy, service) is the mean of *all the items* of its groups — not the
//!   mean of its group indices;
//! - the **overall index** (SIPAS) is the mean of all items of all groups.
//!
//! [`IndexDefinition::combine`] implements the last three steps; the first is the index engine's job
//! (it keeps sums of scores per cluster), using [`ScoringRule::score`].

use serde::{Deserialize, Serialize};

use crate::model::{Label, QuestionKind, Questionnaire};

/// How one answer on an n-level scale is scored; an item index is the mean of its answers' scores.
/// Serialised with a `rule` tag: `{"rule": "top_share", "top_levels": 2}` or
/// `{"rule": "rescaled_mean"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScoringRule {
    /// Share of answers at the top `top_levels` levels: an answer scores 100 when its level is among
    /// the top `top_levels`, else 0 (so the mean is a percentage).
    TopShare {
        /// How many of the top levels count (e.g. 2: "Hài lòng" and "Rất hài lòng").
        top_levels: u8,
    },
    /// Mean level rescaled to 0–100: an answer at level `l` of `n` scores `(l-1)/(n-1)*100`.
    /// (An empty struct variant so that unknown fields are rejected.)
    RescaledMean {},
}

impl ScoringRule {
    /// The score (0–100) of one answer at `level` (1-based) on an `n_levels` scale. Levels outside
    /// `1..=n_levels` are clamped into it; a scale of fewer than 2 levels scores 0.
    pub fn score(&self, level: u8, n_levels: u8) -> f64 {
        if n_levels < 2 {
            return 0.0;
        }
        let level = level.clamp(1, n_levels);
        match *self {
            ScoringRule::TopShare { top_levels } => {
                if u16::from(level) + u16::from(top_levels) > u16::from(n_levels) {
                    100.0
                } else {
                    0.0
                }
            }
            ScoringRule::RescaledMean {} => f64::from(level - 1) / f64::from(n_levels - 1) * 100.0,
        }
    }

    /// The item index of a set of scored levels: the mean of their scores, `None` when there are none.
    pub fn item_index(&self, levels: impl IntoIterator<Item = u8>, n_levels: u8) -> Option<f64> {
        let (mut sum, mut n) = (0.0, 0u64);
        for l in levels {
            sum += self.score(l, n_levels);
            n += 1;
        }
        (n > 0).then(|| sum / n as f64)
    }
}

/// The index definition carried by a questionnaire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexDefinition {
    /// Provenance of the rules (e.g. which parts of the official method are assumed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Label>,
    /// How answers are scored.
    pub scoring: ScoringRule,
    /// Groups of items; their concatenation (groups in order, items in order) is the fixed item order
    /// used by [`Questionnaire::index_items`], [`IndexDefinition::combine`] and
    /// `ValidAnswers::scored_levels`.
    pub groups: Vec<IndexGroup>,
    /// Components (e.g. policy, service), each made of whole groups.
    pub components: Vec<IndexComponent>,
    /// The overall index (mean of all items).
    pub overall: IndexOverall,
}

/// A group of index items (e.g. P1 "Trách nhiệm giải trình").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexGroup {
    /// Unique code among groups, components and the overall index.
    pub code: String,
    /// Name as published.
    pub label: Label,
    /// Item addresses: `grid_code.item_code` for a grid row, or `question_code` for a level question.
    pub items: Vec<String>,
}

/// A component (e.g. policy) made of whole groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexComponent {
    /// Unique code among groups, components and the overall index.
    pub code: String,
    /// Name as published.
    pub label: Label,
    /// Codes of its groups.
    pub groups: Vec<String>,
}

/// The overall index (e.g. SIPAS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexOverall {
    /// Unique code among groups, components and the overall index.
    pub code: String,
    /// Name as published.
    pub label: Label,
}

/// One index item resolved against its questionnaire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexItem {
    /// The address as written in the definition (`grid.item` or `question`).
    pub address: String,
    /// Code of the level or grid question.
    pub question: String,
    /// Code of the grid row, for a grid item.
    pub item: Option<String>,
    /// Code of the group it belongs to.
    pub group: String,
    /// Number of levels of its scale.
    pub n_levels: u8,
}

/// A computed index value; `None` when none of its items had a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexValue {
    /// Group, component or overall code.
    pub code: String,
    /// The value (0–100).
    pub value: Option<f64>,
}

/// The result of [`IndexDefinition::combine`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexValues {
    /// Group indices, in definition order.
    pub groups: Vec<IndexValue>,
    /// Component indices, in definition order.
    pub components: Vec<IndexValue>,
    /// The overall index.
    pub overall: IndexValue,
}

impl IndexValues {
    /// The value of the group, component or overall index with this code.
    pub fn get(&self, code: &str) -> Option<f64> {
        self.groups
            .iter()
            .chain(&self.components)
            .chain(std::iter::once(&self.overall))
            .find(|v| v.code == code)
            .and_then(|v| v.value)
    }
}

#[derive(Default, Clone, Copy)]
struct Mean {
    sum: f64,
    n: u32,
}

impl Mean {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.n += 1;
    }
    fn merge(&mut self, o: Mean) {
        self.sum += o.sum;
        self.n += o.n;
    }
    fn value(self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }
}

impl IndexDefinition {
    /// Number of items (the length of the fixed item order).
    pub fn n_items(&self) -> usize {
        self.groups.iter().map(|g| g.items.len()).sum()
    }

    /// Item addresses in the fixed order (groups in order, items in order).
    pub fn item_addresses(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .flat_map(|g| g.items.iter().map(String::as_str))
    }

    /// Combines item indices (in the fixed item order) into group, component and overall indices.
    ///
    /// Group = mean of its items; component = mean of all items of its groups; overall = mean of all
    /// items. `None` and non-finite values are skipped; missing trailing entries count as `None` and
    /// extra entries are ignored.
    pub fn combine(&self, item_indices: &[Option<f64>]) -> IndexValues {
        let mut pos = 0usize;
        let mut group_means = Vec::with_capacity(self.groups.len());
        let mut overall = Mean::default();
        for g in &self.groups {
            let mut m = Mean::default();
            for _ in &g.items {
                if let Some(v) = item_indices
                    .get(pos)
                    .copied()
                    .flatten()
                    .filter(|v| v.is_finite())
                {
                    m.add(v);
                }
                pos += 1;
            }
            overall.merge(m);
            group_means.push(m);
        }
        let components = self
            .components
            .iter()
            .map(|c| {
                let mut m = Mean::default();
                for gc in &c.groups {
                    if let Some(i) = self.groups.iter().position(|g| &g.code == gc) {
                        m.merge(group_means[i]);
                    }
                }
                IndexValue {
                    code: c.code.clone(),
                    value: m.value(),
                }
            })
            .collect();
        IndexValues {
            groups: self
                .groups
                .iter()
                .zip(&group_means)
                .map(|(g, m)| IndexValue {
                    code: g.code.clone(),
                    value: m.value(),
                })
                .collect(),
            components,
            overall: IndexValue {
                code: self.overall.code.clone(),
                value: overall.value(),
            },
        }
    }
}

/// Splits an item address (`grid.item`, or a level question's code) into (question code, grid
/// item code).
pub fn split_address(address: &str) -> (&str, Option<&str>) {
    match address.split_once('.') {
        Some((q, i)) => (q, Some(i)),
        None => (address, None),
    }
}

impl Questionnaire {
    /// The index items resolved against this questionnaire, in the fixed item order (groups in order,
    /// items in order). Empty when the questionnaire has no index. `n_levels` is 0 for an item that
    /// does not resolve (impossible once [`Questionnaire::check`] passed).
    pub fn index_items(&self) -> Vec<IndexItem> {
        let Some(index) = &self.index else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(index.n_items());
        for g in &index.groups {
            for address in &g.items {
                let (qc, item) = split_address(address);
                let n_levels = self
                    .question(qc)
                    .filter(|q| match (&q.kind, item) {
                        (QuestionKind::Grid { items, .. }, Some(i)) => {
                            items.iter().any(|it| it.code == i)
                        }
                        (QuestionKind::Level { .. }, None) => true,
                        _ => false,
                    })
                    .and_then(|q| self.scale_of(q))
                    .map_or(0, |s| s.n_levels());
                out.push(IndexItem {
                    address: address.clone(),
                    question: qc.to_owned(),
                    item: item.map(str::to_owned),
                    group: g.code.clone(),
                    n_levels,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_share_scores() {
        let r = ScoringRule::TopShare { top_levels: 2 };
        let s: Vec<f64> = (1..=5).map(|l| r.score(l, 5)).collect();
        assert_eq!(s, vec![0.0, 0.0, 0.0, 100.0, 100.0]);
        assert_eq!(r.score(0, 5), 0.0);
        assert_eq!(r.score(9, 5), 100.0);
    }

    #[test]
    fn rescaled_mean_scores() {
        let r = ScoringRule::RescaledMean {};
        let s: Vec<f64> = (1..=5).map(|l| r.score(l, 5)).collect();
        assert_eq!(s, vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(r.score(1, 1), 0.0);
        assert_eq!(r.item_index([1, 5], 5), Some(50.0));
        assert_eq!(r.item_index([], 5), None);
    }

    #[test]
    fn scoring_rule_wire_shape() {
        let r: ScoringRule =
            serde_json::from_str(r#"{"rule":"top_share","top_levels":2}"#).unwrap();
        assert_eq!(r, ScoringRule::TopShare { top_levels: 2 });
        let r: ScoringRule = serde_json::from_str(r#"{"rule":"rescaled_mean"}"#).unwrap();
        assert_eq!(r, ScoringRule::RescaledMean {});
        assert!(serde_json::from_str::<ScoringRule>(r#"{"rule":"rescaled_mean","x":1}"#).is_err());
    }
}
