//! Design-based estimates for a domain (a set of whole clusters) from per-cluster stats.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::compare::rank;
use crate::dist::qt_975;
use crate::layout::StatsLayout;
use crate::stats::{ClusterKey, ClusterStats, StatsError};

/// The default minimum number of valid forms below which a unit's indices are withheld.
pub const DEFAULT_MIN_CELL: u32 = 30;

/// One cluster of a domain, with its design weight.
#[derive(Debug, Clone, Copy)]
pub struct WeightedCluster<'a> {
    /// Stratum and cluster codes.
    pub key: &'a ClusterKey,
    /// The cluster's stats.
    pub stats: &'a ClusterStats,
    /// Design weight of each form in the cluster (inverse inclusion probability, or any positive
    /// value proportional to it). SIPAS draws households with equal probability within a village,
    /// so `1.0` everywhere (the default) is self-weighting within the design as far as our sources
    /// describe it; a cluster weight multiplies the cluster's sums and counts.
    pub weight: f64,
}

impl<'a> From<(&'a ClusterKey, &'a ClusterStats)> for WeightedCluster<'a> {
    fn from((key, stats): (&'a ClusterKey, &'a ClusterStats)) -> Self {
        WeightedCluster {
            key,
            stats,
            weight: 1.0,
        }
    }
}

impl<'a> From<(&'a ClusterKey, &'a ClusterStats, f64)> for WeightedCluster<'a> {
    fn from((key, stats, weight): (&'a ClusterKey, &'a ClusterStats, f64)) -> Self {
        WeightedCluster { key, stats, weight }
    }
}

impl<'a> From<&'a (ClusterKey, ClusterStats)> for WeightedCluster<'a> {
    fn from(pair: &'a (ClusterKey, ClusterStats)) -> Self {
        WeightedCluster {
            key: &pair.0,
            stats: &pair.1,
            weight: 1.0,
        }
    }
}

/// Estimation options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// A domain with fewer forms than this shows counts but withholds every value (small cell).
    pub min_cell: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_cell: DEFAULT_MIN_CELL,
        }
    }
}

/// Why an estimate could not be made.
#[derive(Debug, Clone, PartialEq)]
pub enum EstimateError {
    /// Stats of a cluster do not fit the layout.
    Stats(StatsError),
    /// The same (stratum, cluster) was given twice.
    DuplicateCluster(ClusterKey),
    /// A weight is not a finite positive number.
    BadWeight(ClusterKey),
    /// Estimates of different questionnaires (code/version) cannot be averaged.
    DifferentQuestionnaires,
}

impl std::fmt::Display for EstimateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EstimateError::Stats(e) => write!(f, "{e}"),
            EstimateError::DuplicateCluster(k) => {
                write!(f, "cluster {}/{} given twice", k.stratum, k.cluster)
            }
            EstimateError::BadWeight(k) => {
                write!(f, "cluster {}/{} has a bad weight", k.stratum, k.cluster)
            }
            EstimateError::DifferentQuestionnaires => {
                f.write_str("estimates of different questionnaires")
            }
        }
    }
}

impl std::error::Error for EstimateError {}

impl From<StatsError> for EstimateError {
    fn from(e: StatsError) -> Self {
        EstimateError::Stats(e)
    }
}

/// How a figure was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Method {
    /// From all the domain's forms (clusters pooled into one ratio estimator per item).
    Pooled,
    /// The unweighted mean of the units' figures (how the national index is published: the mean
    /// over provinces).
    MeanOfUnits {
        /// Units that contributed (not withheld).
        units: u32,
    },
}

/// How the variance was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarianceMethod {
    /// Two or more clusters: stratified cluster design (strata = communes, PSUs = villages, with
    /// replacement, no finite population correction), Taylor linearisation;
    /// `df = clusters − strata` as R `survey::degf`.
    Clusters,
    /// Two or more primary sampling units of a multistage design given with
    /// [`estimate_design`]: the design's strata (e.g. provinces) and first-stage units (districts,
    /// or communes where there are none) as ultimate clusters, with replacement, no finite
    /// population correction, Taylor linearisation; `df = PSUs − strata` as R `survey::degf`.
    UltimateClusters,
    /// One cluster (a village): its forms as a simple random sample of households (with
    /// replacement approximation, no FPC), Taylor linearisation; `df = forms − 1`.
    WithinCluster,
    /// Combination of independent units' variances (mean of units).
    Combined,
    /// No variance (no forms, or a single form).
    None,
}

/// One estimated figure (a percentage for indices and shares, a level for mean levels).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Figure {
    /// The estimate; `None` when there is no valid answer or the unit is withheld.
    pub value: Option<f64>,
    /// Standard error (design-based, Taylor linearisation).
    pub se: Option<f64>,
    /// Lower bound of the 95% confidence interval `value − t·se` (not clipped to 0–100).
    pub ci_low: Option<f64>,
    /// Upper bound of the 95% confidence interval `value + t·se` (not clipped to 0–100).
    pub ci_high: Option<f64>,
    /// Number of valid answers behind it (unweighted): for an item its scored answers, for a group
    /// or component the sum over its items, for a share the respondents answering the question.
    pub n_valid: u64,
}

impl Figure {
    pub(crate) fn new(value: Option<f64>, var: Option<f64>, t: Option<f64>, n_valid: u64) -> Self {
        let se = value.and(var).map(|v| v.max(0.0).sqrt());
        let half = se.zip(t).map(|(s, t)| s * t);
        Figure {
            value,
            se,
            ci_low: value.zip(half).map(|(v, h)| v - h),
            ci_high: value.zip(half).map(|(v, h)| v + h),
            n_valid,
        }
    }

    fn withhold(&mut self) {
        *self = Figure {
            n_valid: self.n_valid,
            ..Figure::default()
        };
    }
}

/// An index item's estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemEstimate {
    /// Item address (`grid.item`).
    pub address: Arc<str>,
    /// Code of its group.
    pub group: Arc<str>,
    /// Answers given but not scored ("don't know", "not applicable").
    pub n_special: u64,
    /// The item index.
    pub figure: Figure,
}

/// A group, component or overall index estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEstimate {
    /// Code (e.g. `p1`, `policy`, `sipas`).
    pub code: Arc<str>,
    /// Items with a value that were averaged.
    pub n_items: u32,
    /// The index: the mean of its items' indices.
    pub figure: Figure,
}

/// The share choosing one option of a choice question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionEstimate {
    /// Option code.
    pub code: Arc<str>,
    /// Respondents choosing it (unweighted count).
    pub n_chosen: u64,
    /// Share (%) of the respondents answering the question who chose it.
    pub share: Figure,
    /// Competition rank of the share among the question's options (1 = most chosen).
    pub rank: Option<u32>,
}

/// Shares for one choice question (a perception criterion, the expectations, a profile question).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceEstimate {
    /// Question code.
    pub question: Arc<str>,
    /// Multiple choice: shares are over respondents and may sum past 100%.
    pub multiple: bool,
    /// Respondents who answered the question.
    pub n_answered: u64,
    /// One entry per option, in questionnaire order.
    pub options: Vec<OptionEstimate>,
}

/// Levels of a non-index level question or grid row (e.g. interest in a policy area).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowEstimate {
    /// Question code.
    pub question: Arc<str>,
    /// Grid row code.
    pub item: Option<Arc<str>>,
    /// Special answers ("don't know"), not counted in the figures.
    pub n_special: u64,
    /// Share (%) of level answers at the top two levels (e.g. "interested" + "very interested").
    pub top_two_share: Figure,
    /// Mean level (1..n) of the level answers.
    pub mean_level: Figure,
}

/// Every figure for one domain (unit) of a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimates {
    /// Questionnaire code.
    pub questionnaire: Arc<str>,
    /// Questionnaire version.
    pub version: u32,
    /// Pooled or mean of units.
    pub method: Method,
    /// How variances were estimated.
    pub variance: VarianceMethod,
    /// Forms in the domain.
    pub n_forms: u64,
    /// Clusters (villages) with forms.
    pub n_clusters: u32,
    /// Strata with forms (communes; the design's strata with [`VarianceMethod::UltimateClusters`]).
    pub n_strata: u32,
    /// Primary sampling units with forms: the clusters, or the design's first-stage units with
    /// [`VarianceMethod::UltimateClusters`]. Absent from estimates stored before it existed.
    #[serde(default)]
    pub n_psus: u32,
    /// Degrees of freedom of the t quantile used for the intervals.
    pub df: Option<f64>,
    /// The t quantile used (`qt(0.975, df)`).
    pub t: Option<f64>,
    /// The small-cell threshold applied.
    pub min_cell: u32,
    /// Fewer forms than `min_cell`: every value, SE and interval is withheld (counts are kept).
    pub withheld: bool,
    /// Index items, in the fixed item order.
    pub items: Vec<ItemEstimate>,
    /// Group indices.
    pub groups: Vec<IndexEstimate>,
    /// Component indices (policy, service).
    pub components: Vec<IndexEstimate>,
    /// The overall index (SIPAS), if the questionnaire has one.
    pub overall: Option<IndexEstimate>,
    /// Choice questions (perception criteria, expectations, profile).
    pub choices: Vec<ChoiceEstimate>,
    /// Non-index level rows (interest and appropriateness grids).
    pub rows: Vec<RowEstimate>,
}

impl Estimates {
    /// The index estimate with this group, component or overall code.
    pub fn index(&self, code: &str) -> Option<&IndexEstimate> {
        self.groups
            .iter()
            .chain(&self.components)
            .chain(&self.overall)
            .find(|e| &*e.code == code)
    }

    /// The item estimate at this address.
    pub fn item(&self, address: &str) -> Option<&ItemEstimate> {
        self.items.iter().find(|e| &*e.address == address)
    }

    /// The estimate for a choice question.
    pub fn choice(&self, question: &str) -> Option<&ChoiceEstimate> {
        self.choices.iter().find(|e| &*e.question == question)
    }

    /// The options of a choice question (e.g. `expectations`) ordered by share, most chosen first
    /// (ties in questionnaire order).
    pub fn ranked_options(&self, question: &str) -> Vec<&OptionEstimate> {
        let mut v: Vec<&OptionEstimate> = self
            .choice(question)
            .map(|c| c.options.iter().collect())
            .unwrap_or_default();
        v.sort_by_key(|o| o.rank.unwrap_or(u32::MAX));
        v
    }

    /// Every figure with a stable key, in a fixed order: `item/<address>`, `group/<code>`,
    /// `component/<code>`, `overall/<code>`, `choice/<question>/<option>`,
    /// `row/<question>[.<item>]/top_two_share` and `…/mean_level`.
    pub fn keyed_figures(&self) -> Vec<(String, &Figure)> {
        let mut out = Vec::new();
        for e in &self.items {
            out.push((format!("item/{}", e.address), &e.figure));
        }
        for e in &self.groups {
            out.push((format!("group/{}", e.code), &e.figure));
        }
        for e in &self.components {
            out.push((format!("component/{}", e.code), &e.figure));
        }
        if let Some(e) = &self.overall {
            out.push((format!("overall/{}", e.code), &e.figure));
        }
        for c in &self.choices {
            for o in &c.options {
                out.push((format!("choice/{}/{}", c.question, o.code), &o.share));
            }
        }
        for r in &self.rows {
            let a = match &r.item {
                Some(i) => format!("{}.{i}", r.question),
                None => r.question.to_string(),
            };
            out.push((format!("row/{a}/top_two_share"), &r.top_two_share));
            out.push((format!("row/{a}/mean_level"), &r.mean_level));
        }
        out
    }

    /// Every figure, mutably, in the order of [`Estimates::keyed_figures`].
    pub(crate) fn figures_mut(&mut self) -> Vec<&mut Figure> {
        let mut out: Vec<&mut Figure> = Vec::new();
        out.extend(self.items.iter_mut().map(|e| &mut e.figure));
        out.extend(self.groups.iter_mut().map(|e| &mut e.figure));
        out.extend(self.components.iter_mut().map(|e| &mut e.figure));
        out.extend(self.overall.iter_mut().map(|e| &mut e.figure));
        for c in &mut self.choices {
            out.extend(c.options.iter_mut().map(|o| &mut o.share));
        }
        for r in &mut self.rows {
            out.push(&mut r.top_two_share);
            out.push(&mut r.mean_level);
        }
        out
    }

    /// Recomputes the option ranks from the shares.
    pub(crate) fn rerank(&mut self) {
        for c in &mut self.choices {
            let shares: Vec<Option<f64>> = c.options.iter().map(|o| o.share.value).collect();
            for (o, r) in c.options.iter_mut().zip(rank(&shares)) {
                o.rank = r;
            }
        }
    }

    fn withhold(&mut self) {
        self.withheld = true;
        for f in self.figures_mut() {
            f.withhold();
        }
        for c in &mut self.choices {
            for o in &mut c.options {
                o.rank = None;
            }
        }
    }
}

/// The domain's design: clusters with forms, their weights and strata.
struct Design<'a> {
    stats: Vec<&'a ClusterStats>,
    w: Vec<f64>,
    /// PSU of each cluster; `None` when every cluster is its own PSU.
    psu: Option<Vec<usize>>,
    /// Stratum of each PSU.
    stratum: Vec<usize>,
    /// PSUs per stratum.
    n_h: Vec<usize>,
    /// Scratch buffers reused across figures (per-stratum sums; x, n, z per cluster).
    scratch: RefCell<Scratch>,
}

#[derive(Default)]
struct Scratch {
    sums: Vec<f64>,
    psu_z: Vec<f64>,
    xs: Vec<f64>,
    ns: Vec<f64>,
    z: Vec<f64>,
}

impl Design<'_> {
    /// `Σ_h n_h/(n_h−1) Σ_i (z_hi − z̄_h)²`; a stratum with a single cluster contributes `z²`
    /// (R's `survey.lonely.psu = "adjust"`: centred at the domain mean of the linearised
    /// variable, which is 0 for a ratio).
    fn variance(&self, z: &[f64]) -> f64 {
        let mut scratch = self.scratch.borrow_mut();
        let Scratch {
            sums: sum, psu_z, ..
        } = &mut *scratch;
        // Ultimate clusters: a PSU's linearised value is the sum of its clusters'.
        let z: &[f64] = match &self.psu {
            None => z,
            Some(psu) => {
                psu_z.clear();
                psu_z.resize(self.stratum.len(), 0.0);
                for (zi, &p) in z.iter().zip(psu) {
                    psu_z[p] += zi;
                }
                psu_z
            }
        };
        sum.clear();
        sum.resize(self.n_h.len(), 0.0);
        for (zi, &h) in z.iter().zip(&self.stratum) {
            sum[h] += zi;
        }
        let mut v = 0.0;
        for (zi, &h) in z.iter().zip(&self.stratum) {
            let nh = self.n_h[h];
            if nh > 1 {
                let nh = nh as f64;
                let d = zi - sum[h] / nh;
                v += nh / (nh - 1.0) * d * d;
            } else {
                v += zi * zi;
            }
        }
        v
    }

    /// A ratio `Σ w x / Σ w n` over the clusters and its linearised variable per cluster (written to
    /// `z`). `None` when `Σ w n = 0`.
    fn ratio(&self, x: &[f64], n: &[f64], z: &mut Vec<f64>) -> Option<f64> {
        let (mut sx, mut sn) = (0.0, 0.0);
        for ((xi, ni), wi) in x.iter().zip(n).zip(&self.w) {
            sx += wi * xi;
            sn += wi * ni;
        }
        z.clear();
        if sn <= 0.0 {
            z.resize(x.len(), 0.0);
            return None;
        }
        let r = sx / sn;
        z.extend(
            x.iter()
                .zip(n)
                .zip(&self.w)
                .map(|((xi, ni), wi)| wi * (xi - r * ni) / sn),
        );
        Some(r)
    }
}

/// Moments of one ratio within a single cluster: totals and cross-products over its forms.
struct Moments {
    x: f64,
    n: f64,
    xx: f64,
    xn: f64,
    nn: f64,
}

/// Ratio and within-cluster SRS variance `m/(m−1) Σ_j u_j²`, `u_j = (x_j − R n_j)/N`.
fn srs_ratio(mo: &Moments, m: f64) -> (Option<f64>, Option<f64>) {
    if mo.n <= 0.0 {
        return (None, None);
    }
    let r = mo.x / mo.n;
    let var = (m > 1.0).then(|| {
        let ss = mo.xx - 2.0 * r * mo.xn + r * r * mo.nn;
        m / (m - 1.0) * ss / (mo.n * mo.n)
    });
    (Some(r), var)
}

enum Mode<'a> {
    Empty,
    Single(&'a ClusterStats),
    Clusters(Box<Design<'a>>),
}

/// Estimates every figure for the domain made of these clusters (each given once, with its stratum
/// and weight): item, group, component and overall indices, choice shares and level rows, each
/// with its count of valid answers, standard error and 95% confidence interval.
///
/// Clusters without forms are ignored. The variance is design-based ([`VarianceMethod`]): with two
/// or more clusters, strata = communes and PSUs = villages; for a single village, its forms as a
/// simple random sample. Intervals use Student's t with the design's degrees of freedom.
pub fn estimate<'a, C>(
    layout: &StatsLayout,
    clusters: impl IntoIterator<Item = C>,
    opts: &Options,
) -> Result<Estimates, EstimateError>
where
    C: Into<WeightedCluster<'a>>,
{
    estimate_with(layout, clusters.into_iter().map(|c| (c.into(), None)), opts)
}

/// One cluster (village) of a multistage design: its stats and weight, and the design's stratum
/// and primary sampling unit it lies in.
#[derive(Debug, Clone, Copy)]
pub struct DesignCluster<'a> {
    /// The cluster: its stats, weight and (commune, village) key.
    pub cluster: WeightedCluster<'a>,
    /// The design's stratum (SIPAS: the province).
    pub stratum: &'a str,
    /// The first-stage unit it was drawn in (a district; a commune where there are no
    /// districts). Unique within its stratum.
    pub psu: &'a str,
}

/// Like [`estimate`], for a multistage design: the variance is that of the design's first stage,
/// its PSUs as ultimate clusters within its strata ([`VarianceMethod::UltimateClusters`]), the
/// clusters' weights the design weights (inverse inclusion probabilities). This is R's
/// `svydesign(ids = ~psu, strata = ~stratum, weights = ~w)` for the domain's forms.
///
/// A domain where no stratum has two PSUs (a commune of a sampled district; two merged
/// provinces with one sampled district each) has no first-stage variance to estimate from: its
/// clusters are then the PSUs, within their communes, as [`estimate`] does; a single cluster is a
/// simple random sample of its forms.
pub fn estimate_design<'a>(
    layout: &StatsLayout,
    clusters: impl IntoIterator<Item = DesignCluster<'a>>,
    opts: &Options,
) -> Result<Estimates, EstimateError> {
    let all: Vec<DesignCluster<'a>> = clusters.into_iter().collect();
    let mut psus: HashSet<(&str, &str)> = HashSet::new();
    let mut strata: HashSet<&str> = HashSet::new();
    for c in &all {
        if c.cluster.stats.n_forms() > 0 {
            psus.insert((c.stratum, c.psu));
            strata.insert(c.stratum);
        }
    }
    // No stratum with two PSUs: the first stage leaves no degrees of freedom.
    if psus.len() <= strata.len() {
        return estimate(layout, all.into_iter().map(|c| c.cluster), opts);
    }
    estimate_with(
        layout,
        all.into_iter()
            .map(|c| (c.cluster, Some((c.stratum, c.psu)))),
        opts,
    )
}

/// [`estimate`] and [`estimate_design`]: each cluster with its (stratum, PSU) when it is not its
/// own PSU within its commune.
fn estimate_with<'a, 's>(
    layout: &StatsLayout,
    clusters: impl IntoIterator<Item = (WeightedCluster<'a>, Option<(&'s str, &'s str)>)>,
    opts: &Options,
) -> Result<Estimates, EstimateError>
where
    'a: 's,
{
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut strata: HashMap<&str, usize> = HashMap::new();
    let mut psu_ids: HashMap<(&str, &str), usize> = HashMap::new();
    let mut psu_of: Vec<usize> = Vec::new();
    let mut multistage = false;
    let mut d = Design {
        stats: Vec::new(),
        w: Vec::new(),
        psu: None,
        stratum: Vec::new(),
        n_h: Vec::new(),
        scratch: RefCell::new(Scratch::default()),
    };
    for (c, design) in clusters {
        c.stats.check_layout(layout)?;
        if !seen.insert((&c.key.stratum, &c.key.cluster)) {
            return Err(EstimateError::DuplicateCluster(c.key.clone()));
        }
        if !(c.weight.is_finite() && c.weight > 0.0) {
            return Err(EstimateError::BadWeight(c.key.clone()));
        }
        if c.stats.n_forms() == 0 {
            continue;
        }
        // Without a design, each cluster is its own PSU within its commune.
        let (stratum, psu): (&'s str, &'s str) = match design {
            Some(sp) => {
                multistage = true;
                sp
            }
            None => (&c.key.stratum, &c.key.cluster),
        };
        let next = psu_ids.len();
        let p = *psu_ids.entry((stratum, psu)).or_insert(next);
        if p == d.stratum.len() {
            let next = strata.len();
            let h = *strata.entry(stratum).or_insert(next);
            if h == d.n_h.len() {
                d.n_h.push(0);
            }
            d.n_h[h] += 1;
            d.stratum.push(h);
        }
        psu_of.push(p);
        d.stats.push(c.stats);
        d.w.push(c.weight);
    }
    if multistage {
        d.psu = Some(psu_of);
    }
    let n_forms: u64 = d.stats.iter().map(|s| u64::from(s.n_forms())).sum();
    let n_clusters = d.stats.len() as u32;
    let n_psus = d.stratum.len() as u32;
    let n_strata = d.n_h.len() as u32;
    let mode = match d.stats.len() {
        0 => Mode::Empty,
        1 => Mode::Single(d.stats[0]),
        _ => Mode::Clusters(Box::new(d)),
    };
    let (variance, df) = match &mode {
        Mode::Empty => (VarianceMethod::None, None),
        Mode::Single(s) if s.n_forms() < 2 => (VarianceMethod::None, None),
        Mode::Single(s) => (
            VarianceMethod::WithinCluster,
            Some(f64::from(s.n_forms()) - 1.0),
        ),
        Mode::Clusters(_) => (
            if multistage {
                VarianceMethod::UltimateClusters
            } else {
                VarianceMethod::Clusters
            },
            Some(f64::from(n_psus) - f64::from(n_strata)),
        ),
    };
    let t = df.and_then(qt_975);
    let mut est = compute(layout, &mode, t);
    est.method = Method::Pooled;
    est.variance = variance;
    est.n_forms = n_forms;
    est.n_clusters = n_clusters;
    est.n_strata = n_strata;
    est.n_psus = n_psus;
    est.df = df;
    est.t = t;
    est.min_cell = opts.min_cell;
    est.rerank();
    if n_forms < u64::from(opts.min_cell) {
        est.withhold();
    }
    Ok(est)
}

/// Estimates for each unit: clusters are grouped by `unit_of` (e.g. the district of the cluster's
/// commune; `None` leaves a cluster out) and each group estimated as one domain.
pub fn estimate_units<'a, K, C>(
    layout: &StatsLayout,
    clusters: impl IntoIterator<Item = C>,
    unit_of: impl Fn(&ClusterKey) -> Option<K>,
    opts: &Options,
) -> Result<BTreeMap<K, Estimates>, EstimateError>
where
    K: Ord,
    C: Into<WeightedCluster<'a>>,
{
    let mut by: BTreeMap<K, Vec<WeightedCluster<'a>>> = BTreeMap::new();
    for c in clusters {
        let c: WeightedCluster<'a> = c.into();
        if let Some(k) = unit_of(c.key) {
            by.entry(k).or_default().push(c);
        }
    }
    by.into_iter()
        .map(|(k, cs)| Ok((k, estimate(layout, cs, opts)?)))
        .collect()
}

fn sum_u64(stats: &[&ClusterStats], f: impl Fn(&ClusterStats) -> u32) -> u64 {
    stats.iter().map(|s| u64::from(f(s))).sum()
}

fn compute(layout: &StatsLayout, mode: &Mode<'_>, t: Option<f64>) -> Estimates {
    let stats: Vec<&ClusterStats> = match mode {
        Mode::Empty => Vec::new(),
        Mode::Single(s) => vec![*s],
        Mode::Clusters(d) => d.stats.clone(),
    };
    let m = stats.first().map_or(0.0, |s| f64::from(s.n_forms()));
    let k_items = layout.items.len();

    // Items: ratio per item; keep the linearised variables (clusters) for the composites.
    let mut item_r: Vec<Option<f64>> = Vec::with_capacity(k_items);
    let mut item_n: Vec<f64> = Vec::with_capacity(k_items);
    let mut z_items: Vec<Vec<f64>> = Vec::new();
    let mut items = Vec::with_capacity(k_items);
    let (mut xs, mut ns) = (Vec::new(), Vec::new());
    for (k, slot) in layout.items.iter().enumerate() {
        let n_valid = sum_u64(&stats, |s| s.item_n(layout, k));
        let n_special = sum_u64(&stats, |s| s.item_special(layout, k));
        let (r, var) = match mode {
            Mode::Empty => (None, None),
            Mode::Single(s) => {
                let u = slot.unit_score;
                let mo = Moments {
                    x: u * f64::from(s.item_units(layout, k)),
                    n: f64::from(s.item_n(layout, k)),
                    xx: u * u * f64::from(s.ss(layout, k, k)),
                    xn: u * f64::from(s.sn(layout, k, k)),
                    nn: f64::from(s.nn(layout, k, k)),
                };
                item_n.push(mo.n);
                srs_ratio(&mo, m)
            }
            Mode::Clusters(d) => {
                xs.clear();
                ns.clear();
                xs.extend(
                    d.stats
                        .iter()
                        .map(|s| slot.unit_score * f64::from(s.item_units(layout, k))),
                );
                ns.extend(d.stats.iter().map(|s| f64::from(s.item_n(layout, k))));
                let mut z = Vec::with_capacity(xs.len());
                let r = d.ratio(&xs, &ns, &mut z);
                let var = r.map(|_| d.variance(&z));
                z_items.push(z);
                (r, var)
            }
        };
        item_r.push(r);
        items.push(ItemEstimate {
            address: slot.address.clone(),
            group: slot.group.clone(),
            n_special,
            figure: Figure::new(r, var, t, n_valid),
        });
    }

    // Composites: mean of the item indices that have a value; the linearised variable is the same
    // mean of the items' linearised variables.
    let composite = |code: &Arc<str>, idx: &[usize]| -> IndexEstimate {
        let used: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&k| item_r[k].is_some())
            .collect();
        let n_valid: u64 = idx.iter().map(|&k| items[k].figure.n_valid).sum();
        let value = (!used.is_empty())
            .then(|| used.iter().filter_map(|&k| item_r[k]).sum::<f64>() / used.len() as f64);
        let a = 1.0 / used.len().max(1) as f64;
        let var = value.and_then(|_| match mode {
            Mode::Empty => None,
            Mode::Single(s) => (m > 1.0).then(|| {
                // Score unit, ratio and valid answers of each item, looked up once: this double
                // loop runs for every village of a village-level list.
                let urn: Vec<(f64, f64, f64)> = used
                    .iter()
                    .map(|&k| Some((layout.items[k].unit_score, item_r[k]?, item_n[k])))
                    .collect::<Option<_>>()?;
                let c = s.counts();
                let n_items = layout.items.len();
                let mut acc = 0.0;
                for (&k, &(uk, rk, nk)) in used.iter().zip(&urn) {
                    let sn_k = &c[layout.off_sn + k * n_items..][..n_items];
                    for (&l, &(ul, rl, nl)) in used.iter().zip(&urn) {
                        let t = layout.tri(k, l);
                        // The same terms in the same order as `ss`, `sn` and `nn` give them.
                        let term = uk * ul * f64::from(c[layout.off_ss + t])
                            - rl * uk * f64::from(sn_k[l])
                            - rk * ul * f64::from(c[layout.off_sn + l * n_items + k])
                            + rk * rl * f64::from(c[layout.off_nn + t]);
                        acc += term / (nk * nl);
                    }
                }
                Some(m / (m - 1.0) * a * a * acc)
            })?,
            Mode::Clusters(d) => {
                let mut z = vec![0.0; d.stats.len()];
                for &k in &used {
                    for (zi, zk) in z.iter_mut().zip(&z_items[k]) {
                        *zi += a * zk;
                    }
                }
                Some(d.variance(&z))
            }
        });
        IndexEstimate {
            code: code.clone(),
            n_items: used.len() as u32,
            figure: Figure::new(value, var, t, n_valid),
        }
    };
    let groups: Vec<IndexEstimate> = layout
        .groups
        .iter()
        .map(|(code, r)| composite(code, &r.clone().collect::<Vec<_>>()))
        .collect();
    let components: Vec<IndexEstimate> = layout
        .components
        .iter()
        .map(|(code, idx)| composite(code, idx))
        .collect();
    let all: Vec<usize> = (0..k_items).collect();
    let overall = layout.overall.as_ref().map(|code| composite(code, &all));

    // A single ratio from per-cluster (x, n) and, for one cluster, its moments.
    let single_ratio =
        |x: &dyn Fn(&ClusterStats) -> (f64, f64, f64)| -> (Option<f64>, Option<f64>) {
            // x returns (x total, n total, Σ x² over forms); x·n = x since n is 0/1 per form.
            match mode {
                Mode::Empty => (None, None),
                Mode::Single(s) => {
                    let (xt, nt, xx) = x(s);
                    srs_ratio(
                        &Moments {
                            x: xt,
                            n: nt,
                            xx,
                            xn: xt,
                            nn: nt,
                        },
                        m,
                    )
                }
                Mode::Clusters(d) => {
                    let (mut xs, mut ns, mut z) = {
                        let mut sc = d.scratch.borrow_mut();
                        (
                            std::mem::take(&mut sc.xs),
                            std::mem::take(&mut sc.ns),
                            std::mem::take(&mut sc.z),
                        )
                    };
                    xs.clear();
                    ns.clear();
                    for s in &d.stats {
                        let (a, b, _) = x(s);
                        xs.push(a);
                        ns.push(b);
                    }
                    let r = d.ratio(&xs, &ns, &mut z);
                    let var = r.map(|_| d.variance(&z));
                    let mut sc = d.scratch.borrow_mut();
                    (sc.xs, sc.ns, sc.z) = (xs, ns, z);
                    (r, var)
                }
            }
        };

    let choices = layout
        .choices
        .iter()
        .map(|ch| {
            let n_answered = sum_u64(&stats, |s| s.at(ch.offset));
            let options = ch
                .options
                .iter()
                .enumerate()
                .map(|(p, code)| {
                    let i = ch.offset + 1 + p;
                    let (r, var) = single_ratio(&|s| {
                        let c = f64::from(s.at(i));
                        (100.0 * c, f64::from(s.at(ch.offset)), 10_000.0 * c)
                    });
                    OptionEstimate {
                        code: code.clone(),
                        n_chosen: sum_u64(&stats, |s| s.at(i)),
                        share: Figure::new(r, var, t, n_answered),
                        rank: None,
                    }
                })
                .collect();
            ChoiceEstimate {
                question: ch.question.clone(),
                multiple: ch.multiple,
                n_answered,
                options,
            }
        })
        .collect();

    let rows = layout
        .rows
        .iter()
        .map(|row| {
            let nl = usize::from(row.n_levels);
            let off = row.offset;
            // Per cluster: (answers with a level, at the top two levels, Σ level, Σ level²).
            let level_moments = |s: &ClusterStats| -> (f64, f64, f64, f64) {
                let (mut n, mut top, mut x, mut xx) = (0.0, 0.0, 0.0, 0.0);
                for i in 0..nl {
                    let c = f64::from(s.at(off + i));
                    let l = (i + 1) as f64;
                    n += c;
                    x += l * c;
                    xx += l * l * c;
                    if i + 2 >= nl {
                        top += c;
                    }
                }
                (n, top, x, xx)
            };
            let n_valid = stats.iter().map(|s| level_moments(s).0 as u64).sum();
            let n_special = sum_u64(&stats, |s| s.at(row.offset + nl));
            let (r_top, v_top) = single_ratio(&|s| {
                let (n, top, _, _) = level_moments(s);
                (100.0 * top, n, 10_000.0 * top)
            });
            let (r_mean, v_mean) = single_ratio(&|s| {
                let (n, _, x, xx) = level_moments(s);
                (x, n, xx)
            });
            RowEstimate {
                question: row.question.clone(),
                item: row.item.clone(),
                n_special,
                top_two_share: Figure::new(r_top, v_top, t, n_valid),
                mean_level: Figure::new(r_mean, v_mean, t, n_valid),
            }
        })
        .collect();

    Estimates {
        questionnaire: layout.questionnaire.clone(),
        version: layout.version,
        method: Method::Pooled,
        variance: VarianceMethod::None,
        n_forms: 0,
        n_clusters: 0,
        n_strata: 0,
        n_psus: 0,
        df: None,
        t: None,
        min_cell: 0,
        withheld: false,
        items,
        groups,
        components,
        overall,
        choices,
        rows,
    }
}
