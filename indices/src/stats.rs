//! Per-cluster sufficient statistics: integer counts that forms add to and subtract from.

use serde::{Deserialize, Serialize};

use schema::{Answer, LevelAnswer, ValidAnswers};

use crate::layout::StatsLayout;

/// Identifies a cluster (primary sampling unit) and its stratum within a round.
///
/// SIPAS clusters are villages; the stratum is the unit above them (the commune). Codes only need
/// to be unique within the round: a cluster code may repeat across strata (`nest = TRUE` in R).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterKey {
    /// Stratum code (the commune of the village).
    pub stratum: String,
    /// Cluster code (the village), unique within its stratum.
    pub cluster: String,
}

impl ClusterKey {
    /// A key from stratum and cluster codes.
    pub fn new(stratum: impl Into<String>, cluster: impl Into<String>) -> Self {
        ClusterKey {
            stratum: stratum.into(),
            cluster: cluster.into(),
        }
    }
}

/// Why stats could not be combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsError {
    /// The two stats (or stats and layout) belong to different questionnaire layouts.
    LayoutMismatch {
        /// Counts expected.
        expected: usize,
        /// Counts found.
        found: usize,
    },
    /// Subtracting would make a count negative: the removed form (or stats) was never added.
    Underflow,
    /// A count would exceed `u32::MAX`.
    Overflow,
}

impl std::fmt::Display for StatsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsError::LayoutMismatch { expected, found } => write!(
                f,
                "cluster stats have {found} counts, the layout expects {expected}"
            ),
            StatsError::Underflow => f.write_str("removing more than was added"),
            StatsError::Overflow => f.write_str("count overflow"),
        }
    }
}

impl std::error::Error for StatsError {}

/// Sufficient statistics of one cluster (village) for one questionnaire version: the flat vector of
/// counts described by [`StatsLayout`]. Adding a form's stats and subtracting them again restores
/// the previous value exactly (all counts are integers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStats {
    counts: Vec<u32>,
}

/// One index item's answer on a form, as data-quality checks read it (straight-lining, variance,
/// "don't know" share, near-duplicates): the level, a special code, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemAnswer {
    /// An ordered level, 1-based.
    Level(u8),
    /// A special answer (such as `dont_know`): valid, not scored.
    Special,
    /// Not answered (skipped by the questionnaire's logic).
    Missing,
}

impl StatsLayout {
    /// The answer of each index item of `form`, in the layout's item order: the same lookup
    /// [`FormDigest::of`] makes, exposed for checks that need the levels themselves.
    pub fn item_answers(&self, form: &ValidAnswers) -> Vec<ItemAnswer> {
        self.items
            .iter()
            .map(|item| {
                let level = match (form.at(item.question_pos), &item.row) {
                    (Some(Answer::Level(l)), None) => Some(l),
                    (Some(Answer::Grid(rows)), Some(r)) => rows.get(r),
                    _ => None,
                };
                match level {
                    Some(LevelAnswer::Level(l)) => ItemAnswer::Level(*l),
                    Some(LevelAnswer::Special(_)) => ItemAnswer::Special,
                    None => ItemAnswer::Missing,
                }
            })
            .collect()
    }
}

/// What one valid form adds to its cluster's stats, in compact form: its scored index items
/// (item, score units) and the single counts it adds one to (the form count, special answers,
/// selected options, level rows) — about a hundred numbers, against the thousands of counts the
/// cross sums touch. Computed where the form was validated, it lets the answers be dropped at once
/// and the counts be added later, after the form was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormDigest {
    layout_len: usize,
    scored: Vec<(u32, u32)>,
    ones: Vec<u32>,
}

impl FormDigest {
    /// The digest of `form` for `layout`.
    pub fn of(layout: &StatsLayout, form: &ValidAnswers) -> Self {
        let idx = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        let mut scored = Vec::with_capacity(layout.items.len());
        let mut ones = Vec::with_capacity(64);
        ones.push(0);
        // Answers are found by question position (no string compared); items (and rows) of one
        // grid are consecutive, so the grid's answer is looked up once for all its rows.
        let mut last: Option<(usize, Option<&Answer>)> = None;
        let mut answer_at = |pos: usize| match last {
            Some((p, a)) if p == pos => a,
            _ => {
                let a = form.at(pos);
                last = Some((pos, a));
                a
            }
        };
        for (k, item) in layout.items.iter().enumerate() {
            let answer = answer_at(item.question_pos);
            let level = match (answer, &item.row) {
                (Some(Answer::Level(l)), None) => Some(l),
                (Some(Answer::Grid(rows)), Some(r)) => rows.get(r),
                _ => None,
            };
            match level {
                Some(LevelAnswer::Level(l)) => scored.push((idx(k), item.units(*l))),
                Some(LevelAnswer::Special(_)) => ones.push(idx(layout.off_special + k)),
                None => {}
            }
        }
        for ch in &layout.choices {
            let selected: &[String] = match form.at(ch.question_pos) {
                None => continue,
                Some(Answer::Choice(c)) => std::slice::from_ref(c),
                Some(Answer::Choices(v)) => v,
                Some(_) => &[],
            };
            ones.push(idx(ch.offset));
            for sel in selected {
                if let Some(p) = ch.options.iter().position(|o| **o == **sel) {
                    ones.push(idx(ch.offset + 1 + p));
                }
            }
        }
        for row in &layout.rows {
            let answer = match (&row.item, answer_at(row.question_pos)) {
                (None, Some(Answer::Level(a))) => Some(a),
                (Some(item), Some(Answer::Grid(rows))) => rows.get(item),
                _ => None,
            };
            match answer {
                Some(LevelAnswer::Level(l)) if row.n_levels > 0 => {
                    let i = usize::from((*l).clamp(1, row.n_levels)) - 1;
                    ones.push(idx(row.offset + i));
                }
                Some(_) => ones.push(idx(row.offset + usize::from(row.n_levels))),
                None => {}
            }
        }
        FormDigest {
            layout_len: layout.len(),
            scored,
            ones,
        }
    }

    /// Adds what [`Self::each_count`] emits, with no overflow check (the caller made sure none can
    /// occur). The cross sums are added a row at a time over dense vectors of the items' scored
    /// flags and units (0 for an unscored item adds nothing), which the compiler vectorises: with
    /// SIPAS's 39 items a form touches about 3,000 counts, and one scattered add per count was
    /// the largest part of a push's stats work.
    fn add_dense(&self, layout: &StatsLayout, counts: &mut [u32]) {
        for &i in &self.ones {
            counts[i as usize] += 1;
        }
        let n = layout.items.len();
        // Per item: 1 if scored, and its score units (both 0 for an item not scored).
        let mut scored = vec![0u32; n];
        let mut units = vec![0u32; n];
        for &(k, uk) in &self.scored {
            scored[k as usize] = 1;
            units[k as usize] = uk;
        }
        for &(k, uk) in &self.scored {
            let k = k as usize;
            if uk > 0 {
                let row = layout.off_sn + k * n;
                // `uk` where the other item is scored: a mask, no multiplication (baseline
                // x86-64 has no 32-bit vector multiply).
                for (c, &s) in counts[row..row + n].iter_mut().zip(&scored) {
                    *c += uk & s.wrapping_neg();
                }
                let diag_ss = layout.off_ss + layout.tri(k, k);
                for (c, &u) in counts[diag_ss..diag_ss + n - k].iter_mut().zip(&units[k..]) {
                    *c += uk * u;
                }
            }
            let diag = layout.off_nn + layout.tri(k, k);
            for (c, &s) in counts[diag..diag + n - k].iter_mut().zip(&scored[k..]) {
                *c += s;
            }
        }
    }

    /// Calls `emit(index, amount)` for every count the form adds, each index at most once and
    /// never with 0, always in the same order.
    fn each_count(&self, layout: &StatsLayout, mut emit: impl FnMut(usize, u32)) {
        for &i in &self.ones {
            emit(i as usize, 1);
        }
        let n = layout.items.len();
        let scored = &self.scored;
        for (i, &(k, uk)) in scored.iter().enumerate() {
            let k = k as usize;
            if uk > 0 {
                let row = layout.off_sn + k * n;
                for &(l, _) in scored {
                    emit(row + l as usize, uk);
                }
            }
            // tri(k, l) for l ≥ k is tri(k, k) + (l − k).
            let diag = layout.off_nn + layout.tri(k, k);
            let diag_ss = layout.off_ss + layout.tri(k, k);
            for &(l, ul) in &scored[i..] {
                let d = l as usize - k;
                emit(diag + d, 1);
                if uk > 0 && ul > 0 {
                    emit(diag_ss + d, uk * ul);
                }
            }
        }
    }
}

impl ClusterStats {
    /// Empty stats (no forms) for this layout.
    pub fn new(layout: &StatsLayout) -> Self {
        ClusterStats {
            counts: vec![0; layout.len()],
        }
    }

    /// The stats of a single form: what accepting it adds to its cluster.
    pub fn of_form(layout: &StatsLayout, form: &ValidAnswers) -> Self {
        let mut s = ClusterStats::new(layout);
        FormDigest::of(layout, form).each_count(layout, |i, x| s.counts[i] += x);
        s
    }

    /// Adds an accepted form. Fails, changing nothing, on a layout mismatch or overflow.
    pub fn add_form(
        &mut self,
        layout: &StatsLayout,
        form: &ValidAnswers,
    ) -> Result<(), StatsError> {
        self.add_digest(layout, &FormDigest::of(layout, form))
    }

    /// Adds a form by its digest, in place (no vector of all counts is built per form: this runs
    /// for every accepted form inside the push transaction). Fails, changing nothing, on a layout
    /// mismatch or overflow.
    pub fn add_digest(
        &mut self,
        layout: &StatsLayout,
        digest: &FormDigest,
    ) -> Result<(), StatsError> {
        self.check_layout(layout)?;
        if digest.layout_len != layout.len() {
            return Err(StatsError::LayoutMismatch {
                expected: layout.len(),
                found: digest.layout_len,
            });
        }
        let counts = &mut self.counts;
        // No count can overflow when even the largest has room for the largest amount one form
        // adds to a count: then add without checking (the common case, by far). The bitwise OR of
        // the counts stands in for their maximum: it is at least the maximum and has the same
        // highest bit, so it fits whenever it is far from overflowing, and unlike an unsigned
        // maximum it is one instruction per lane on any x86-64.
        let bound = counts.iter().fold(0, |acc, &c| acc | c);
        if bound.checked_add(layout.max_form_amount()).is_some() {
            digest.add_dense(layout, counts);
            return Ok(());
        }
        let mut applied = 0usize;
        let mut overflow = false;
        digest.each_count(layout, |i, x| {
            if overflow {
                return;
            }
            match counts[i].checked_add(x) {
                Some(v) => {
                    counts[i] = v;
                    applied += 1;
                }
                None => overflow = true,
            }
        });
        if overflow {
            // Undo the increments made before the one that overflowed (same order, same amounts).
            let mut undone = 0usize;
            digest.each_count(layout, |i, x| {
                if undone < applied {
                    counts[i] -= x;
                    undone += 1;
                }
            });
            return Err(StatsError::Overflow);
        }
        Ok(())
    }

    /// Removes a form by its digest; fails, changing nothing, if a count would go negative.
    pub fn remove_digest(
        &mut self,
        layout: &StatsLayout,
        digest: &FormDigest,
    ) -> Result<(), StatsError> {
        let mut one = ClusterStats::new(layout);
        digest.each_count(layout, |i, x| one.counts[i] += x);
        self.subtract(&one)
    }

    /// Removes a form added before (e.g. rejected after acceptance). Fails, changing nothing, when
    /// the form was not part of these stats in a way that shows (a count would go negative).
    pub fn remove_form(
        &mut self,
        layout: &StatsLayout,
        form: &ValidAnswers,
    ) -> Result<(), StatsError> {
        self.subtract(&ClusterStats::of_form(layout, form))
    }

    /// Adds other stats of the same layout (merging clusters or batches of forms).
    pub fn add(&mut self, other: &ClusterStats) -> Result<(), StatsError> {
        self.check_same(other)?;
        if self
            .counts
            .iter()
            .zip(&other.counts)
            .any(|(a, b)| a.checked_add(*b).is_none())
        {
            return Err(StatsError::Overflow);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += *b;
        }
        Ok(())
    }

    /// Subtracts other stats of the same layout; fails, changing nothing, if any count would go
    /// negative.
    pub fn subtract(&mut self, other: &ClusterStats) -> Result<(), StatsError> {
        self.check_same(other)?;
        if self.counts.iter().zip(&other.counts).any(|(a, b)| a < b) {
            return Err(StatsError::Underflow);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a -= *b;
        }
        Ok(())
    }

    fn check_same(&self, other: &ClusterStats) -> Result<(), StatsError> {
        if self.counts.len() == other.counts.len() {
            Ok(())
        } else {
            Err(StatsError::LayoutMismatch {
                expected: self.counts.len(),
                found: other.counts.len(),
            })
        }
    }

    /// Checks that these stats fit `layout`.
    pub fn check_layout(&self, layout: &StatsLayout) -> Result<(), StatsError> {
        if self.counts.len() == layout.len() {
            Ok(())
        } else {
            Err(StatsError::LayoutMismatch {
                expected: layout.len(),
                found: self.counts.len(),
            })
        }
    }

    /// Number of forms.
    pub fn n_forms(&self) -> u32 {
        self.counts.first().copied().unwrap_or(0)
    }

    /// Whether no form is counted (every count is zero).
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }

    /// Valid (scored) answers to index item `k`.
    pub fn item_n(&self, layout: &StatsLayout, k: usize) -> u32 {
        self.counts[layout.off_nn + layout.tri(k, k)]
    }

    /// Sum of score units of index item `k` (multiply by `ItemSlot::unit_score` for the score sum).
    pub fn item_units(&self, layout: &StatsLayout, k: usize) -> u32 {
        self.counts[layout.off_sn + k * layout.items.len() + k]
    }

    /// Special (unscored) answers to index item `k`.
    pub fn item_special(&self, layout: &StatsLayout, k: usize) -> u32 {
        self.counts[layout.off_special + k]
    }

    pub(crate) fn nn(&self, layout: &StatsLayout, k: usize, l: usize) -> u32 {
        self.counts[layout.off_nn + layout.tri(k, l)]
    }

    pub(crate) fn ss(&self, layout: &StatsLayout, k: usize, l: usize) -> u32 {
        self.counts[layout.off_ss + layout.tri(k, l)]
    }

    pub(crate) fn sn(&self, layout: &StatsLayout, k: usize, l: usize) -> u32 {
        self.counts[layout.off_sn + k * layout.items.len() + l]
    }

    pub(crate) fn at(&self, i: usize) -> u32 {
        self.counts[i]
    }

    pub(crate) fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// The counts as little-endian bytes (4 per count), e.g. for a database blob.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.counts.iter().flat_map(|c| c.to_le_bytes()).collect()
    }

    /// Stats from [`ClusterStats::to_bytes`], checked against the layout.
    pub fn from_bytes(layout: &StatsLayout, bytes: &[u8]) -> Result<Self, StatsError> {
        if bytes.len() != layout.len() * 4 {
            return Err(StatsError::LayoutMismatch {
                expected: layout.len(),
                found: bytes.len() / 4,
            });
        }
        let counts = bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(ClusterStats { counts })
    }
}
