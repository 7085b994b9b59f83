//! The SIPAS index engine's statistical core: per-cluster sufficient statistics and design-based
//! estimates with 95% confidence intervals for any unit of a round's geography.
//!
//! Pure: no I/O, no async, no database, no clock.
//!
//! # Why per-cluster statistics
//! Every reporting unit (nation, province, district, commune, village) is a union of whole
//! villages, and villages are the survey's clusters. For each village the engine keeps integer
//! counts ([`ClusterStats`], laid out by [`StatsLayout`]) that an accepted form adds to and a
//! rejected form subtracts from exactly. A unit's figures — point estimates *and* design-based
//! variances — need one pass over its villages' stats, independent of the number of forms.
//!
//! # The arithmetic (see `schema::index` and `sipas-structure.md`)
//! - An **item index** is a ratio estimator `R = Σ_i w_i y_i / Σ_i w_i n_i` over the domain's
//!   clusters `i`, with `y_i` the sum of per-answer scores (`schema::ScoringRule::score`) and `n_i`
//!   the number of scored answers; "don't know", "not applicable", unanswered and not-relevant rows
//!   are not scored.
//! - **Group**, **component** (policy, service) and **overall** (SIPAS) indices are means of
//!   their items' indices (components and SIPAS over *all* their items, not over groups).
//! - **Shares** (perception criteria, expectations) are ratio estimators too: respondents choosing
//!   the option over respondents answering the question (multi-select shares may sum past 100%).
//!   Non-index grids (interest per policy area, appropriateness of channels and of ways of doing
//!   procedures) report the share at the top two levels and the mean level (1–5).
//!
//! # Uncertainty
//! Taylor linearisation of every estimator, composites included: an item's linearised variable
//! per cluster is `z_i = w_i (y_i − R n_i) / N̂` (`N̂ = Σ w n`); a mean of items has the same mean
//! of its items' `z`. With two or more clusters the design is stratified cluster sampling —
//! **strata = communes, PSUs = villages** (the level above the clusters: province → district →
//! commune → village before July 2025, province → commune → village after), sampled with
//! replacement, no finite population correction:
//! `V = Σ_h n_h/(n_h−1) Σ_{i∈h} (z_hi − z̄_h)²`. A stratum with a single village contributes
//! `z_i²` (R's `survey.lonely.psu = "adjust"`). The interval is `R ± t·SE` with
//! `t = qt(0.975, df)`, `df = #clusters − #strata` of the domain (R's `degf`). A single village
//! has no between-cluster variance; its forms are treated as a simple random sample of its
//! households (`df = forms − 1`). All of this matches R's `survey` package to ~1e-12 (see
//! `tests/r_reference.rs` and `scripts/survey_reference.R`).
//!
//! Weights: SIPAS draws households with equal probability within a village from a listed frame of
//! 150, so forms are equally weighted within a cluster. A per-cluster weight can be given
//! ([`WeightedCluster`]); it multiplies the cluster's sums and counts.
//!
//! # Publication rules
//! - Small cells: a domain with fewer forms than [`Options::min_cell`] (default 30) keeps its
//!   counts but withholds every value ([`Estimates::withheld`]).
//! - The national figure as published is [`mean_of_units`] over provinces; the pooled
//!   alternative is [`estimate`] over all clusters ([`Method`] names which).
//! - Year over year: [`difference`] (independent samples), flagged when the 95% interval of the
//!   difference excludes zero; [`rank`] / [`rank_change`] for league tables.
//!
//! ```
//! use indices::{ClusterKey, ClusterStats, Options, StatsLayout, estimate};
//! use schema::{builtin, sample, validate};
//!
//! let q = builtin::sipas();
//! let layout = StatsLayout::new(q);
//! let form = validate(q, &sample::complete_sipas_answers()).expect("valid");
//! let key = ClusterKey::new("commune-1", "village-1");
//! let mut stats = ClusterStats::new(&layout);
//! for _ in 0..40 {
//!     stats.add_form(&layout, &form).expect("add");
//! }
//! let est = estimate(&layout, [(&key, &stats)], &Options::default()).expect("estimate");
//! assert_eq!(est.n_forms, 40);
//! assert!(est.index("sipas").and_then(|e| e.figure.value).is_some());
//! ```

#![warn(missing_docs)]

mod compare;
mod dist;
mod estimate;
mod layout;
mod stats;
mod storage;

pub use compare::{Change, difference, mean_of_units, rank, rank_change};
pub use dist::{Z_975, qt_975};
pub use estimate::{
    ChoiceEstimate, DEFAULT_MIN_CELL, DesignCluster, EstimateError, Estimates, Figure,
    IndexEstimate, ItemEstimate, Method, OptionEstimate, Options, RowEstimate, VarianceMethod,
    WeightedCluster, estimate, estimate_design, estimate_units,
};
pub use layout::{ChoiceSlot, ItemSlot, RowSlot, StatsLayout};
pub use stats::{ClusterKey, ClusterStats, FormDigest, ItemAnswer, StatsError};
pub use storage::{cluster_key, decode_counts, encode_counts};
