//! Combining and comparing estimates: mean over units, year-over-year differences, ranks.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::dist::qt_975;
use crate::estimate::{EstimateError, Estimates, Method, VarianceMethod};

/// Competition ranking ("1224") of values, highest first: ties share the best rank and the next
/// rank skips. `None` values get no rank. Values are compared exactly, so round them to the
/// published precision first (two decimals) when ties should follow the published table.
pub fn rank(values: &[Option<f64>]) -> Vec<Option<u32>> {
    values
        .iter()
        .map(|v| {
            v.filter(|x| x.is_finite()).map(|x| {
                1 + values
                    .iter()
                    .filter(|o| o.is_some_and(|y| y.is_finite() && y > x))
                    .count() as u32
            })
        })
        .collect()
}

/// Change of rank from `previous` to `current`: positive when the unit moved up (e.g. 5th → 2nd
/// is `+3`).
pub fn rank_change(current: Option<u32>, previous: Option<u32>) -> Option<i64> {
    Some(i64::from(previous?) - i64::from(current?))
}

/// The unweighted mean of the units' estimates (e.g. the national index as the mean over
/// provinces, as published). Each figure is the mean over the units where it has a value (withheld
/// units contribute nothing but their counts). The units are independent samples (separate
/// strata), so the variance of the mean is `Σ var_u / U²`, with `df = Σ df_u`.
pub fn mean_of_units(units: &[&Estimates]) -> Result<Estimates, EstimateError> {
    let Some(first) = units.first() else {
        return Err(EstimateError::DifferentQuestionnaires);
    };
    let shape = |e: &Estimates| (e.questionnaire.clone(), e.version, e.keyed_figures().len());
    if units.iter().any(|u| shape(u) != shape(first)) {
        return Err(EstimateError::DifferentQuestionnaires);
    }
    let mut out = (*first).clone();
    let contributing: Vec<&Estimates> = units.iter().copied().filter(|u| !u.withheld).collect();
    let df_sum: Option<f64> = contributing.iter().map(|u| u.df).sum();
    let t = df_sum.and_then(qt_975);
    let per_unit: Vec<Vec<crate::estimate::Figure>> = units
        .iter()
        .map(|u| u.keyed_figures().into_iter().map(|(_, f)| *f).collect())
        .collect();
    for (i, f) in out.figures_mut().into_iter().enumerate() {
        let n_valid = per_unit.iter().map(|u| u[i].n_valid).sum();
        let with_value: Vec<&crate::estimate::Figure> = units
            .iter()
            .zip(&per_unit)
            .filter(|(u, _)| !u.withheld)
            .filter_map(|(_, figs)| figs[i].value.is_some().then_some(&figs[i]))
            .collect();
        let count = with_value.len() as f64;
        let value =
            (count > 0.0).then(|| with_value.iter().filter_map(|g| g.value).sum::<f64>() / count);
        let var: Option<f64> = with_value
            .iter()
            .map(|g| g.se.map(|s| s * s))
            .sum::<Option<f64>>()
            .map(|v| v / (count * count));
        *f = crate::estimate::Figure::new(value, var, t, n_valid);
    }
    for (c, ci) in out.choices.iter_mut().enumerate() {
        ci.n_answered = units.iter().map(|u| u.choices[c].n_answered).sum();
        for (p, o) in ci.options.iter_mut().enumerate() {
            o.n_chosen = units.iter().map(|u| u.choices[c].options[p].n_chosen).sum();
        }
    }
    for (k, it) in out.items.iter_mut().enumerate() {
        it.n_special = units.iter().map(|u| u.items[k].n_special).sum();
    }
    for (r, row) in out.rows.iter_mut().enumerate() {
        row.n_special = units.iter().map(|u| u.rows[r].n_special).sum();
    }
    out.method = Method::MeanOfUnits {
        units: contributing.len() as u32,
    };
    out.variance = VarianceMethod::Combined;
    out.n_forms = units.iter().map(|u| u.n_forms).sum();
    out.n_clusters = units.iter().map(|u| u.n_clusters).sum();
    out.n_strata = units.iter().map(|u| u.n_strata).sum();
    out.df = df_sum;
    out.t = t;
    out.withheld = contributing.is_empty();
    out.rerank();
    Ok(out)
}

/// The change of one figure between two estimates (e.g. this year and last year).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The figure's key (see [`Estimates::keyed_figures`]).
    pub key: String,
    /// Value in the current estimate.
    pub current: Option<f64>,
    /// Value in the previous estimate.
    pub previous: Option<f64>,
    /// `current − previous`.
    pub diff: Option<f64>,
    /// `sqrt(se_current² + se_previous²)` (independent samples).
    pub se: Option<f64>,
    /// Degrees of freedom of the difference: the two rounds' design df added (the stacked design's
    /// PSUs minus strata).
    pub df: Option<f64>,
    /// 95% interval of the difference, lower bound.
    pub ci_low: Option<f64>,
    /// 95% interval of the difference, upper bound.
    pub ci_high: Option<f64>,
    /// The interval excludes zero.
    pub significant: bool,
}

/// How far from zero a change's interval must lie to count (index points; figures are 0–100).
const NOISE: f64 = 1e-9;

/// Differences `current − previous` for every figure present in both (matched by key, so the two
/// rounds may use different questionnaire versions). The samples are independent, so the rounds
/// are one design stacked from two with each its own strata: `se = sqrt(se_a² + se_b²)`,
/// `df = df_a + df_b` (PSUs minus strata of the stacked design, as R `survey`'s `degf`, checked
/// against `svycontrast` of `svyby` totals in `tests/r_reference.rs`), and a change is flagged
/// `significant` when its 95% interval excludes zero.
pub fn difference(current: &Estimates, previous: &Estimates) -> Vec<Change> {
    let prev: HashMap<String, &crate::estimate::Figure> =
        previous.keyed_figures().into_iter().collect();
    current
        .keyed_figures()
        .into_iter()
        .filter_map(|(key, a)| {
            let b = prev.get(&key)?;
            let diff = a.value.zip(b.value).map(|(x, y)| x - y);
            let (va, vb) = (a.se.map(|s| s * s), b.se.map(|s| s * s));
            let se = va.zip(vb).map(|(x, y)| (x + y).sqrt());
            // The two rounds stacked as one design with each round's own strata: its degrees
            // of freedom are the rounds' together (PSUs − strata), as R `survey` counts them.
            let df = se.and(current.df.zip(previous.df).map(|(x, y)| x + y));
            let half = match (se, df) {
                (Some(0.0), _) => Some(0.0),
                (Some(s), Some(df)) => qt_975(df).map(|t| t * s),
                _ => None,
            };
            let ci_low = diff.zip(half).map(|(d, h)| d - h);
            let ci_high = diff.zip(half).map(|(d, h)| d + h);
            // Rounding noise is not a change: two rounds whose forms all give the same figure
            // differ by 1e-14 with an SE of 0, and would otherwise be flagged.
            let significant = ci_low
                .zip(ci_high)
                .is_some_and(|(l, h)| l > NOISE || h < -NOISE);
            Some(Change {
                key,
                current: a.value,
                previous: b.value,
                diff,
                se,
                df,
                ci_low,
                ci_high,
                significant,
            })
        })
        .collect()
}
