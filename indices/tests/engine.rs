//! The engine on the published Lai Châu 2023 vector and on small hand-built data.

use indices::{
    ClusterKey, ClusterStats, Method, Options, StatsError, StatsLayout, VarianceMethod, difference,
    estimate, mean_of_units, rank, rank_change,
};
use proptest::prelude::*;
use schema::{Questionnaire, ScoringRule, ValidAnswers, builtin, sample, validate};
use serde_json::json;

fn form(q: &Questionnaire, levels: &[u8]) -> ValidAnswers {
    match validate(q, &sample::sipas_answers_with_levels(levels)) {
        Ok(v) => v,
        Err(e) => panic!("invalid form: {e:?}"),
    }
}

fn form_without_services(q: &Questionnaire) -> ValidAnswers {
    match validate(q, &sample::sipas_answers_without_services()) {
        Ok(v) => v,
        Err(e) => panic!("invalid form: {e:?}"),
    }
}

fn stats_of(layout: &StatsLayout, forms: &[&ValidAnswers]) -> ClusterStats {
    let mut s = ClusterStats::new(layout);
    for f in forms {
        s.add_form(layout, f).expect("add");
    }
    s
}

fn value(e: &indices::Estimates, code: &str) -> f64 {
    e.index(code)
        .and_then(|i| i.figure.value)
        .unwrap_or_else(|| panic!("no value for {code}"))
}

fn item_value(e: &indices::Estimates, address: &str) -> Option<f64> {
    e.item(address).and_then(|i| i.figure.value)
}

const LAI_CHAU_ITEMS: [f64; 39] = [
    78.60, 79.32, 79.46, 78.60, 78.85, 79.96, 80.68, 80.93, 78.35, 79.64, 79.71, 79.50, 78.53,
    79.28, 79.28, 79.43, 80.57, 81.65, 81.72, 80.97, 80.57, 79.57, 79.50, 80.07, 80.86, 80.54,
    80.65, 80.86, 80.54, 80.65, 79.28, 79.53, 79.53, 79.28, 79.75, 79.39, 78.96, 79.43, 78.85,
];

/// 10,000 forms; item `k` is "satisfied" (level 4) on the first `share_k × 100` forms and
/// "dissatisfied" (level 2) on the rest, so its top-two share is exactly the published value.
/// Forms only differ at the 39 thresholds, so each distinct form is built once and added in bulk.
#[test]
fn lai_chau_2023_aggregates_reproduced() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let thresholds: Vec<u32> = LAI_CHAU_ITEMS
        .iter()
        .map(|v| (v * 100.0).round() as u32)
        .collect();
    let mut cuts: Vec<u32> = thresholds.clone();
    cuts.push(0);
    cuts.push(10_000);
    cuts.sort_unstable();
    cuts.dedup();
    let mut stats = ClusterStats::new(&layout);
    for w in cuts.windows(2) {
        let (start, end) = (w[0], w[1]);
        let levels: Vec<u8> = thresholds
            .iter()
            .map(|&t| if start < t { 4 } else { 2 })
            .collect();
        let one = ClusterStats::of_form(&layout, &form(q, &levels));
        for _ in start..end {
            stats.add(&one).expect("add");
        }
    }
    let key = ClusterKey::new("lai-chau", "all");
    let e = estimate(&layout, [(&key, &stats)], &Options::default()).expect("estimate");
    assert_eq!(e.n_forms, 10_000);
    for (it, want) in e.items.iter().zip(LAI_CHAU_ITEMS) {
        let got = it.figure.value.expect("item value");
        assert!((got - want).abs() < 1e-9, "{}: {got} vs {want}", it.address);
        assert_eq!(it.figure.n_valid, 10_000);
    }
    let published = [
        ("p1", 78.96),
        ("p2", 79.03),
        ("p3", 79.57),
        ("p4", 80.25),
        ("policy", 79.77),
        ("s1", 80.49),
        ("s2", 80.67),
        ("s3", 79.45),
        ("s4", 79.47),
        ("s5", 79.08),
        ("service", 79.89),
        ("sipas", 79.82),
    ];
    for (code, want) in published {
        let got = value(&e, code);
        assert!(
            (got - want).abs() <= 0.005 + 1e-9,
            "{code}: {got:.4} vs published {want}"
        );
    }
    // SIPAS is the mean of the 39 items, not of the two components (79.83).
    assert!((value(&e, "sipas") - 79.83).abs() > 0.005);
    assert_eq!(e.index("sipas").map(|i| i.n_items), Some(39));
    assert_eq!(e.index("sipas").map(|i| i.figure.n_valid), Some(390_000));
}

#[test]
fn top_share_and_rescaled_mean_exclude_dont_know() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let forms: Vec<ValidAnswers> = [5, 4, 3, 0].iter().map(|&l| form(q, &[l])).collect();
    let refs: Vec<&ValidAnswers> = forms.iter().collect();
    let key = ClusterKey::new("c", "v");
    let stats = stats_of(&layout, &refs);
    let opts = Options { min_cell: 0 };
    let e = estimate(&layout, [(&key, &stats)], &opts).expect("estimate");
    let first = e.item("p1.info_forms").expect("item");
    assert_eq!(first.figure.n_valid, 3);
    assert_eq!(first.n_special, 1);
    assert!((first.figure.value.expect("value") - 200.0 / 3.0).abs() < 1e-12);
    assert_eq!(e.variance, VarianceMethod::WithinCluster);
    assert_eq!(e.df, Some(3.0));

    let mut rescaled = q.clone();
    if let Some(index) = rescaled.index.as_mut() {
        index.scoring = ScoringRule::RescaledMean {};
    }
    let layout_r = StatsLayout::new(&rescaled);
    let stats_r = stats_of(&layout_r, &refs);
    let e = estimate(&layout_r, [(&key, &stats_r)], &opts).expect("estimate");
    assert_eq!(item_value(&e, "p1.info_forms"), Some(75.0));
    // The sample form answers p4.social_security "don't know": no valid answer at all.
    assert_eq!(item_value(&e, "p4.social_security"), None);
    assert_eq!(e.item("p4.social_security").map(|i| i.n_special), Some(4));
    // Groups skip items without a value.
    assert_eq!(e.index("p4").map(|g| g.n_items), Some(9));
}

#[test]
fn not_relevant_service_items_are_not_scored() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let with = form(q, &[]);
    let without = form_without_services(q);
    let stats = stats_of(&layout, &[&with, &without, &without]);
    let key = ClusterKey::new("c", "v");
    let e = estimate(&layout, [(&key, &stats)], &Options { min_cell: 0 }).expect("estimate");
    assert_eq!(e.n_forms, 3);
    assert_eq!(e.item("s1.signage").map(|i| i.figure.n_valid), Some(1));
    assert_eq!(e.item("s1.signage").map(|i| i.n_special), Some(0));
    assert_eq!(e.item("p1.info_forms").map(|i| i.figure.n_valid), Some(3));
    // s4 answered "3" (neutral) in the sample form: 0% satisfied; s1 "4": 100%.
    assert_eq!(item_value(&e, "s4.on_time"), Some(0.0));
    assert_eq!(item_value(&e, "s1.signage"), Some(100.0));
}

#[test]
fn multi_select_shares_may_sum_past_100_and_expectations_rank() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let mut a = sample::complete_sipas_answers();
    a.insert("expectations".into(), json!(["digital", "transparency"]));
    let other = validate(q, &a).expect("valid");
    let base = form(q, &[]);
    let stats = stats_of(&layout, &[&base, &base, &other, &other, &other]);
    let key = ClusterKey::new("c", "v");
    let e = estimate(&layout, [(&key, &stats)], &Options { min_cell: 0 }).expect("estimate");
    let c2 = e.choice("c2_channels").expect("c2");
    assert!(c2.multiple);
    assert_eq!(c2.n_answered, 5);
    let total: f64 = c2.options.iter().filter_map(|o| o.share.value).sum();
    assert!((total - 300.0).abs() < 1e-9, "sum of shares {total}");
    let c5 = e.choice("c5_harassment").expect("c5");
    assert!(!c5.multiple);
    let total: f64 = c5.options.iter().filter_map(|o| o.share.value).sum();
    assert!((total - 100.0).abs() < 1e-9);
    // expectations: sample = facilities, staff_capacity, online_services, digital, transparency (2
    // forms); other = digital, transparency (3 forms).
    let ranked = e.ranked_options("expectations");
    let top: Vec<(&str, Option<u32>, Option<f64>)> = ranked
        .iter()
        .take(5)
        .map(|o| (&*o.code, o.rank, o.share.value))
        .collect();
    assert_eq!(top[0], ("digital", Some(1), Some(100.0)));
    assert_eq!(top[1], ("transparency", Some(1), Some(100.0)));
    assert_eq!(top[2].1, Some(3));
    assert_eq!(top[2].2, Some(40.0));
    assert_eq!(ranked.last().map(|o| o.rank), Some(Some(6)));
    // Interest grid: every area "4" in the sample: top-two share 100%, mean level 4.
    let row = e
        .rows
        .iter()
        .find(|r| &*r.question == "c1_interest" && r.item.as_deref() == Some("economy"))
        .expect("row");
    assert_eq!(row.top_two_share.value, Some(100.0));
    assert_eq!(row.mean_level.value, Some(4.0));
    let fully_online = e
        .rows
        .iter()
        .find(|r| r.item.as_deref() == Some("fully_online"))
        .expect("c7 row");
    assert_eq!(fully_online.n_special, 5);
    assert_eq!(fully_online.mean_level.value, None);
}

/// A province of 2 communes × 2 villages, every form answering the first item at `level`.
fn province(
    layout: &StatsLayout,
    q: &Questionnaire,
    name: &str,
    forms_per_village: [usize; 4],
    levels: [u8; 4],
) -> Vec<(ClusterKey, ClusterStats)> {
    (0..4)
        .map(|i| {
            let key = ClusterKey::new(format!("{name}-c{}", i / 2), format!("v{}", i % 2));
            let f = form(q, &[levels[i]]);
            let refs = vec![&f; forms_per_village[i]];
            (key, stats_of(layout, &refs))
        })
        .collect()
}

#[test]
fn pooled_versus_mean_of_provinces() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let a = province(&layout, q, "A", [10, 10, 10, 10], [5, 5, 5, 2]);
    let b = province(&layout, q, "B", [30, 30, 30, 30], [1, 1, 4, 1]);
    let opts = Options::default();
    let ea = estimate(&layout, &a, &opts).expect("A");
    let eb = estimate(&layout, &b, &opts).expect("B");
    assert_eq!(item_value(&ea, "p1.info_forms"), Some(75.0));
    assert_eq!(item_value(&eb, "p1.info_forms"), Some(25.0));
    assert_eq!(ea.df, Some(2.0));
    let pooled = estimate(&layout, a.iter().chain(&b), &opts).expect("pooled");
    assert_eq!(pooled.method, Method::Pooled);
    assert_eq!(item_value(&pooled, "p1.info_forms"), Some(37.5));
    let mean = mean_of_units(&[&ea, &eb]).expect("mean");
    assert_eq!(mean.method, Method::MeanOfUnits { units: 2 });
    assert_eq!(item_value(&mean, "p1.info_forms"), Some(50.0));
    assert_eq!(mean.n_forms, 160);
    assert_eq!(mean.df, Some(4.0));
    let se = |e: &indices::Estimates| e.item("p1.info_forms").and_then(|i| i.figure.se);
    let (sa, sb) = (se(&ea).expect("se"), se(&eb).expect("se"));
    let want = ((sa * sa + sb * sb) / 4.0).sqrt();
    assert!((se(&mean).expect("se") - want).abs() < 1e-12);
    // Hand check of province A: clusters (y, n) = (1000,10),(1000,10) | (1000,10),(0,10), R = 0.75
    // in %-units: z = (y − R n)/N with N = 40: (6.25, 6.25 | 6.25, −18.75); strata means 6.25 and
    // −6.25; V = 2·(0+0) + 2·(12.5² + 12.5²) = 625, SE = 25.
    assert!((sa - 25.0).abs() < 1e-9, "SE of A {sa}");
    // A pooled CI for A: t(0.975, 2) = 4.302652729749464.
    let f = ea.item("p1.info_forms").expect("item").figure;
    assert!((f.ci_high.expect("ci") - (75.0 + 25.0 * 4.302_652_729_749_464)).abs() < 1e-9);

    // Year over year: A this year vs B last year.
    let changes = difference(&ea, &eb);
    let c = changes
        .iter()
        .find(|c| c.key == "item/p1.info_forms")
        .expect("change");
    assert_eq!(c.diff, Some(50.0));
    assert!((c.se.expect("se") - (sa * sa + sb * sb).sqrt()).abs() < 1e-12);
    // SE 25 on 2 df: a 50-point change is not significant.
    assert!(!c.significant);
    // The same answer everywhere in both: no change, not significant.
    let c = changes
        .iter()
        .find(|c| c.key == "item/p1.info_clarity")
        .expect("change");
    assert_eq!(c.diff, Some(0.0));
    assert!(!c.significant);
}

#[test]
fn significant_change_flagged() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let a = province(&layout, q, "A", [20, 20, 20, 20], [5, 5, 5, 4]);
    let b = province(&layout, q, "B", [20, 20, 20, 20], [1, 2, 1, 2]);
    let ea = estimate(&layout, &a, &Options::default()).expect("A");
    let eb = estimate(&layout, &b, &Options::default()).expect("B");
    let changes = difference(&ea, &eb);
    let c = changes
        .iter()
        .find(|c| c.key == "item/p1.info_forms")
        .expect("change");
    assert_eq!(c.diff, Some(100.0));
    assert_eq!(c.se, Some(0.0));
    assert!(c.significant);
}

#[test]
fn small_cells_show_counts_but_withhold_indices() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let f = form(q, &[]);
    let key = ClusterKey::new("c", "v");
    let stats = stats_of(&layout, &vec![&f; 29]);
    let e = estimate(&layout, [(&key, &stats)], &Options::default()).expect("estimate");
    assert!(e.withheld);
    assert_eq!(e.n_forms, 29);
    assert_eq!(e.index("sipas").map(|i| i.figure.value), Some(None));
    assert_eq!(e.index("sipas").map(|i| i.figure.n_valid), Some(29 * 37));
    assert_eq!(e.item("p1.info_forms").map(|i| i.figure.se), Some(None));
    assert_eq!(e.choice("c2_channels").map(|c| c.n_answered), Some(29));
    assert!(e.choice("c2_channels").is_some_and(|c| {
        c.options
            .iter()
            .all(|o| o.share.value.is_none() && o.rank.is_none())
    }));
    let stats = stats_of(&layout, &vec![&f; 30]);
    let e = estimate(&layout, [(&key, &stats)], &Options::default()).expect("estimate");
    assert!(!e.withheld);
    assert!(e.index("sipas").and_then(|i| i.figure.value).is_some());
    // A withheld unit does not enter the mean of units.
    let small = estimate(
        &layout,
        [(&key, &stats_of(&layout, &[&f; 5]))],
        &Options::default(),
    )
    .expect("small");
    let mean = mean_of_units(&[&e, &small]).expect("mean");
    assert_eq!(mean.method, Method::MeanOfUnits { units: 1 });
    assert_eq!(mean.n_forms, 35);
}

#[test]
fn ranks_are_competition_ranks() {
    let r = rank(&[Some(3.0), Some(5.0), Some(5.0), None, Some(1.0)]);
    assert_eq!(r, vec![Some(3), Some(1), Some(1), None, Some(4)]);
    assert_eq!(rank_change(Some(2), Some(5)), Some(3));
    assert_eq!(rank_change(Some(5), None), None);
}

#[test]
fn errors_are_reported() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let f = form(q, &[]);
    let key = ClusterKey::new("c", "v");
    let stats = stats_of(&layout, &[&f]);
    let dup = estimate(
        &layout,
        [(&key, &stats), (&key, &stats)],
        &Options::default(),
    );
    assert!(matches!(
        dup,
        Err(indices::EstimateError::DuplicateCluster(_))
    ));
    let bad = estimate(&layout, [(&key, &stats, 0.0)], &Options::default());
    assert!(matches!(bad, Err(indices::EstimateError::BadWeight(_))));
    let mut empty = ClusterStats::new(&layout);
    assert_eq!(empty.remove_form(&layout, &f), Err(StatsError::Underflow));
    assert!(empty.is_empty());
    let bytes = stats.to_bytes();
    assert_eq!(ClusterStats::from_bytes(&layout, &bytes), Ok(stats.clone()));
    assert!(ClusterStats::from_bytes(&layout, &bytes[4..]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Adding forms then removing some restores exactly the stats of the remaining forms, and
    /// removing in any order ends at empty stats.
    #[test]
    fn add_remove_symmetry(
        forms in prop::collection::vec(prop::collection::vec(0u8..=5, 39), 1..12),
        removed in prop::collection::vec(any::<bool>(), 12),
        rescaled in any::<bool>(),
    ) {
        let mut q = builtin::sipas().clone();
        if rescaled && let Some(index) = q.index.as_mut() {
            index.scoring = ScoringRule::RescaledMean {};
        }
        let layout = StatsLayout::new(&q);
        let forms: Vec<ValidAnswers> = forms.iter().map(|l| form(&q, l)).collect();
        let mut all = ClusterStats::new(&layout);
        for f in &forms {
            all.add_form(&layout, f).expect("add");
        }
        let mut kept = ClusterStats::new(&layout);
        for (f, r) in forms.iter().zip(&removed) {
            if *r {
                all.remove_form(&layout, f).expect("remove");
            } else {
                kept.add_form(&layout, f).expect("add");
            }
        }
        prop_assert_eq!(&all, &kept);
        for (f, r) in forms.iter().zip(&removed).rev() {
            if !*r {
                all.remove_form(&layout, f).expect("remove");
            }
        }
        prop_assert!(all.is_empty());
    }
}

/// `add_form` adds in place; it must equal adding `of_form`, and on overflow leave the stats as
/// they were (no partial add).
#[test]
fn add_form_in_place_matches_of_form_and_is_atomic_on_overflow() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let forms = [
        form(q, &[4; 39]),
        form(q, &(0..39).map(|i| 1 + (i % 5) as u8).collect::<Vec<_>>()),
        form_without_services(q),
    ];
    let mut in_place = ClusterStats::new(&layout);
    let mut summed = ClusterStats::new(&layout);
    for f in &forms {
        in_place.add_form(&layout, f).expect("add");
        summed.add(&ClusterStats::of_form(&layout, f)).expect("add");
    }
    assert_eq!(in_place, summed);

    // Every count at the maximum but the form count: the form count is added first and fits, the
    // next count overflows, and the form count must be taken back.
    let mut near_full = vec![0xFF; layout.len() * 4];
    near_full[..4].copy_from_slice(&7u32.to_le_bytes());
    let mut full = ClusterStats::from_bytes(&layout, &near_full).expect("stats");
    let before = full.clone();
    assert_eq!(full.add_form(&layout, &forms[0]), Err(StatsError::Overflow));
    assert_eq!(full, before);

    let other = StatsLayout::new(&{
        let mut q2 = q.clone();
        q2.index = None;
        q2
    });
    let mut wrong = ClusterStats::new(&other);
    assert!(matches!(
        wrong.add_form(&layout, &forms[0]),
        Err(StatsError::LayoutMismatch { .. })
    ));
}
