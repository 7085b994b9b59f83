//! Cross-form signals, computed at query time over the forms in scope (pure: rows in, flags out).

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Measures, QualitySettings, Signal, SignalCounts, text_levels};

/// One form as the cross-form rules read it.
#[derive(Debug, Clone)]
pub struct FormRow {
    /// Form id.
    pub id: Uuid,
    /// Who submitted it.
    pub enumerator: Option<i64>,
    /// Commune code.
    pub commune: String,
    /// Village key (`commune/village`).
    pub village: String,
    /// Device clock: finished.
    pub finished_at: Option<OffsetDateTime>,
    /// Server clock: received.
    pub received_at: OffsetDateTime,
    /// GPS point (lat, lon).
    pub gps: Option<(f64, f64)>,
    /// Where its village is (lat, lon), when the round's village list locates it.
    pub village_point: Option<(f64, f64)>,
    /// Server minus device clock measured at the device's last handshake, ms.
    pub skew_ms: Option<i64>,
    /// Its stored per-form measures.
    pub measures: Measures,
}

/// What one enumerator's forms show as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnumeratorFacts {
    /// Forms in scope.
    pub forms: usize,
    /// Local days with forms.
    pub days: usize,
    /// Most forms in one local day.
    pub max_per_day: usize,
    /// Jensen–Shannon divergence of their levels from the other enumerators' in their communes
    /// (`None` below [`QualitySettings::min_forms`] on either side).
    pub distribution_js: Option<f64>,
}

/// The signals of the forms in scope.
#[derive(Debug, Clone, Default)]
pub struct Assessment {
    /// Per row (same order), its signals, sorted, per-form and cross-form together.
    pub flags: Vec<Vec<Signal>>,
    /// Per enumerator.
    pub enumerators: BTreeMap<i64, EnumeratorFacts>,
    /// Median duration of the forms with one, seconds.
    pub median_duration_s: Option<f64>,
}

/// Local calendar day number of a form (finished, else received).
fn day_of(r: &FormRow, s: &QualitySettings) -> i64 {
    let t = r.finished_at.unwrap_or(r.received_at);
    (t.unix_timestamp() + i64::from(s.utc_offset_hours) * 3600).div_euclid(86_400)
}

/// Great-circle distance in metres (haversine).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * h.sqrt().asin()
}

/// Jensen–Shannon divergence (base 2, in 0..=1) of two count vectors of the same length, each
/// smoothed by adding `alpha` to every category (so a category one side never used does not
/// make the distance jump, and small samples are pulled towards uniform).
pub fn jensen_shannon(p: &[u64], q: &[u64], alpha: f64) -> f64 {
    let norm = |c: &[u64]| -> Vec<f64> {
        let total: f64 = c.iter().map(|&x| x as f64 + alpha).sum();
        c.iter().map(|&x| (x as f64 + alpha) / total).collect()
    };
    let (p, q) = (norm(p), norm(q));
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| x * (x / y).log2())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    ((kl(&p, &m) + kl(&q, &m)) / 2.0).clamp(0.0, 1.0)
}

/// Items differing between two items texts (texts of different lengths: all of the longer).
fn differences(a: &str, b: &str) -> usize {
    if a.len() != b.len() {
        return a.len().max(b.len());
    }
    a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count()
}

/// Which rows have a near-duplicate: another row of the same enumerator, village or local day
/// whose items differ in at most `k` = [`QualitySettings::duplicate_max_diff`] places.
///
/// Not all pairs: by the pigeonhole principle, two texts differing in at most `k` places agree
/// exactly on at least one of `k + 1` disjoint blocks of items. Each row is put in a bucket per
/// (scope, block, block's text); only rows sharing a bucket are compared. Honest answers rarely
/// share a 13-item block, so the buckets stay small and the work is about linear in the rows;
/// the buckets that do grow are those of copies, which are what is being looked for (a pair
/// already known to be flagged on both sides is not compared again). Rows with fewer than
/// [`QualitySettings::min_answered`] levels are left out: two forms of nothing but "don't know"
/// are alike without being copied (they have their own signal).
pub fn near_duplicates(rows: &[FormRow], s: &QualitySettings) -> Vec<bool> {
    let k = s.duplicate_max_diff;
    let mut flagged = vec![false; rows.len()];
    let mut buckets: HashMap<(u8, String, usize, &str), Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.measures.answered < s.min_answered {
            continue;
        }
        let text = r.measures.items.as_str();
        let len = text.len();
        let blocks = (k + 1).min(len.max(1));
        let scopes = [
            r.enumerator.map(|e| (0u8, e.to_string())),
            Some((1u8, r.village.clone())),
            Some((2u8, day_of(r, s).to_string())),
        ];
        for (kind, scope) in scopes.into_iter().flatten() {
            for b in 0..blocks {
                let (from, to) = (b * len / blocks, (b + 1) * len / blocks);
                buckets
                    .entry((kind, scope.clone(), b, &text[from..to]))
                    .or_default()
                    .push(i);
            }
        }
    }
    for members in buckets.values().filter(|m| m.len() > 1) {
        for (x, &i) in members.iter().enumerate() {
            for &j in &members[x + 1..] {
                if flagged[i] && flagged[j] {
                    continue;
                }
                if differences(&rows[i].measures.items, &rows[j].measures.items) <= k {
                    flagged[i] = true;
                    flagged[j] = true;
                }
            }
        }
    }
    flagged
}

/// The median of `v` (sorted in place), `None` when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Level categories of an items text: 0 for a special answer, the level otherwise (up to 9).
fn histogram(items: &str, into: &mut [u64; 10]) {
    for (b, l) in items.bytes().zip(text_levels(items)) {
        match (b, l) {
            (_, Some(l)) => into[usize::from(l)] += 1,
            (b'x', None) => into[0] += 1,
            _ => {}
        }
    }
}

/// Every signal of `rows`: their stored per-form flags and the cross-form ones.
pub fn assess(rows: &[FormRow], s: &QualitySettings) -> Assessment {
    let mut flags: Vec<Vec<Signal>> = rows.iter().map(|r| r.measures.flags(s)).collect();

    // Too fast against the round's distribution.
    let mut durations: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.measures.duration_s.filter(|d| *d >= 0))
        .map(|d| d as f64)
        .collect();
    let enough = durations.len() >= s.min_forms;
    let median_duration_s = median(&mut durations);
    if let (true, Some(m)) = (enough, median_duration_s) {
        for (r, f) in rows.iter().zip(&mut flags) {
            if r.measures
                .duration_s
                .is_some_and(|d| d >= 0 && (d as f64) < s.fast_fraction * m)
            {
                f.push(Signal::TooFast);
            }
        }
    }

    // Same finished minute per enumerator.
    let mut minutes: HashMap<(i64, i64), usize> = HashMap::new();
    for r in rows {
        if let (Some(e), Some(t)) = (r.enumerator, r.finished_at) {
            *minutes
                .entry((e, t.unix_timestamp().div_euclid(60)))
                .or_default() += 1;
        }
    }
    for (r, f) in rows.iter().zip(&mut flags) {
        if let (Some(e), Some(t)) = (r.enumerator, r.finished_at)
            && minutes[&(e, t.unix_timestamp().div_euclid(60))] >= s.same_minute_forms
        {
            f.push(Signal::SameMinute);
        }
    }

    for (dup, f) in near_duplicates(rows, s).into_iter().zip(&mut flags) {
        if dup {
            f.push(Signal::NearDuplicate);
        }
    }

    // GPS: identical points, and an enumerator's forms in one spot.
    let point = |g: (f64, f64)| ((g.0 * 1e5).round() as i64, (g.1 * 1e5).round() as i64);
    let mut points: HashMap<(i64, i64), usize> = HashMap::new();
    for g in rows.iter().filter_map(|r| r.gps) {
        *points.entry(point(g)).or_default() += 1;
    }
    let mut by_enumerator: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(e) = r.enumerator {
            by_enumerator.entry(e).or_default().push(i);
        }
        if let Some(g) = r.gps
            && points[&point(g)] >= s.gps_identical_forms
        {
            flags[i].push(Signal::GpsIdentical);
        }
    }
    for members in by_enumerator.values() {
        let with_gps: Vec<(usize, (f64, f64))> = members
            .iter()
            .filter_map(|&i| rows[i].gps.map(|g| (i, g)))
            .collect();
        if with_gps.len() < s.min_forms {
            continue;
        }
        let n = with_gps.len() as f64;
        let centre = (
            with_gps.iter().map(|(_, g)| g.0).sum::<f64>() / n,
            with_gps.iter().map(|(_, g)| g.1).sum::<f64>() / n,
        );
        if with_gps
            .iter()
            .all(|(_, g)| distance_m(*g, centre) <= s.gps_cluster_radius_m)
        {
            for (i, _) in &with_gps {
                flags[*i].push(Signal::GpsCluster);
            }
        }
    }

    // The point against the village's listed location.
    for (r, f) in rows.iter().zip(&mut flags) {
        if let (Some(g), Some(v)) = (r.gps, r.village_point)
            && distance_m(g, v) > s.far_from_village_m
        {
            f.push(Signal::FarFromVillage);
        }
    }

    // Device clocks.
    for (r, f) in rows.iter().zip(&mut flags) {
        if let Some(skew) = r.skew_ms {
            if skew.abs() > s.clock_skew_ms {
                f.push(Signal::ClockSkew);
            }
            if r.measures
                .device_ahead_s
                .is_some_and(|a| a + skew / 1000 > s.future_tolerance_s)
            {
                f.push(Signal::DeviceTimeDisagrees);
            }
        }
    }

    // Per enumerator: pace, and the level distribution against their communes' others.
    let mut commune_hist: HashMap<&str, ([u64; 10], usize)> = HashMap::new();
    let mut own: HashMap<(i64, &str), ([u64; 10], usize)> = HashMap::new();
    for r in rows {
        let c = commune_hist.entry(r.commune.as_str()).or_default();
        histogram(&r.measures.items, &mut c.0);
        c.1 += 1;
        if let Some(e) = r.enumerator {
            let o = own.entry((e, r.commune.as_str())).or_default();
            histogram(&r.measures.items, &mut o.0);
            o.1 += 1;
        }
    }
    let mut enumerators = BTreeMap::new();
    for (&e, members) in &by_enumerator {
        let mut per_day: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for &i in members {
            per_day.entry(day_of(&rows[i], s)).or_default().push(i);
        }
        for day in per_day.values().filter(|d| d.len() > s.max_forms_per_day) {
            for &i in day {
                flags[i].push(Signal::Pace);
            }
        }
        let (mut mine, mut others) = ([0u64; 10], [0u64; 10]);
        let (mut n_mine, mut n_others) = (0, 0);
        for ((who, commune), (h, n)) in &own {
            if *who != e {
                continue;
            }
            let (all, n_all) = &commune_hist[commune];
            for c in 0..10 {
                mine[c] += h[c];
                others[c] += all[c] - h[c];
            }
            n_mine += n;
            n_others += n_all - n;
        }
        // Categories used by either side only (levels above the scale's would add nothing but
        // smoothing mass).
        let used: Vec<usize> = (0..10).filter(|&c| mine[c] + others[c] > 0).collect();
        let distribution_js = (n_mine >= s.min_forms && n_others >= s.min_forms).then(|| {
            let p: Vec<u64> = used.iter().map(|&c| mine[c]).collect();
            let q: Vec<u64> = used.iter().map(|&c| others[c]).collect();
            jensen_shannon(&p, &q, s.js_smoothing)
        });
        if distribution_js.is_some_and(|d| d > s.js_divergence) {
            for &i in members {
                flags[i].push(Signal::Distribution);
            }
        }
        enumerators.insert(
            e,
            EnumeratorFacts {
                forms: members.len(),
                days: per_day.len(),
                max_per_day: per_day.values().map(Vec::len).max().unwrap_or(0),
                distribution_js,
            },
        );
    }
    for f in &mut flags {
        f.sort_unstable();
        f.dedup();
    }
    Assessment {
        flags,
        enumerators,
        median_duration_s,
    }
}

/// An enumerator's score, 0..100: the weighted mean of their signal rates,
/// `100 × Σ_s w_s · f_s / (n + 1) / Σ_s w_s`, where `f_s` is how many of their `n` forms raise
/// signal `s` and `w_s` its [`Signal::weight`]. Dividing by `n + 1` rather than `n` pulls an
/// enumerator with very few forms towards 0: one flagged form of one counts half as much as
/// every form of twenty. Higher is more suspicious; it orders whom to look at first and
/// decides nothing.
pub fn score(forms: usize, counts: &SignalCounts) -> f64 {
    let total: f64 = Signal::ALL.iter().map(|s| s.weight()).sum();
    let n = forms as f64 + 1.0;
    let sum: f64 = counts
        .iter()
        .map(|(s, &c)| s.weight() * (c as f64 / n).min(1.0))
        .sum();
    100.0 * sum / total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::{FormFacts, measure};
    use indices::ItemAnswer::{self, Level, Special};
    use time::macros::datetime;

    /// A varied honest answer vector from a seed.
    fn varied(seed: u64) -> Vec<ItemAnswer> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..39)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                Level(2 + (x % 3) as u8)
            })
            .collect()
    }

    struct Row {
        enumerator: i64,
        village: &'static str,
        minutes: i64,
        at_minute: i64,
        gps: Option<(f64, f64)>,
        items: Vec<ItemAnswer>,
    }

    fn row(r: Row) -> FormRow {
        let finished = datetime!(2025-09-01 02:00 UTC) + time::Duration::minutes(r.at_minute);
        let started = finished - time::Duration::minutes(r.minutes);
        let received = datetime!(2025-09-05 00:00 UTC);
        let m = measure(&FormFacts {
            started_at: Some(started),
            finished_at: Some(finished),
            received_at: received,
            has_gps: r.gps.is_some(),
            items: &r.items,
        });
        FormRow {
            id: Uuid::now_v7(),
            enumerator: Some(r.enumerator),
            commune: "C1".into(),
            village: format!("C1/{}", r.village),
            finished_at: Some(finished),
            received_at: received,
            gps: r.gps,
            village_point: None,
            skew_ms: Some(0),
            measures: m,
        }
    }

    /// Ten honest forms per enumerator 1..=n: 30 minutes each, an hour apart, spread GPS.
    fn honest(n: i64) -> Vec<FormRow> {
        let mut out = Vec::new();
        for e in 1..=n {
            for j in 0..10 {
                out.push(row(Row {
                    enumerator: e,
                    village: if j % 2 == 0 { "V1" } else { "V2" },
                    minutes: 30 + j % 7,
                    at_minute: j * 60 + e,
                    gps: Some((22.3 + 0.003 * j as f64, 103.4 + 0.002 * e as f64)),
                    items: varied((e * 100 + j) as u64),
                }));
            }
        }
        out
    }

    fn signals_of(a: &Assessment, i: usize) -> &[Signal] {
        &a.flags[i]
    }

    #[test]
    fn honest_forms_raise_nothing() {
        let rows = honest(4);
        let a = assess(&rows, &QualitySettings::default());
        for (i, f) in a.flags.iter().enumerate() {
            assert!(f.is_empty(), "row {i}: {f:?}");
        }
        assert_eq!(a.enumerators.len(), 4);
        assert_eq!(a.enumerators[&1].forms, 10);
        assert!(a.enumerators[&1].distribution_js.unwrap() < 0.1);
        assert!(a.median_duration_s.unwrap() >= 30.0 * 60.0);
    }

    #[test]
    fn speeders_and_batches() {
        let mut rows = honest(3);
        // Enumerator 9: 3 forms of 4 minutes in the same minute.
        for j in 0..3 {
            rows.push(row(Row {
                enumerator: 9,
                village: "V1",
                minutes: 4,
                at_minute: 500,
                gps: Some((22.0 + j as f64 * 0.01, 103.0)),
                items: varied(900 + j),
            }));
        }
        let a = assess(&rows, &QualitySettings::default());
        for i in 30..33 {
            assert_eq!(
                signals_of(&a, i),
                &[Signal::TooShort, Signal::TooFast, Signal::SameMinute]
            );
        }
        // 12 minutes: above the absolute floor, under 40% of the ~33 minute median.
        let mut rows = honest(3);
        rows.push(row(Row {
            enumerator: 9,
            village: "V1",
            minutes: 12,
            at_minute: 700,
            gps: Some((21.0, 103.0)),
            items: varied(77),
        }));
        let a = assess(&rows, &QualitySettings::default());
        assert_eq!(signals_of(&a, 30), &[Signal::TooFast]);
        // Too few forms for a distribution: no too_fast.
        let a = assess(&rows[25..], &QualitySettings::default());
        assert!(!a.flags.iter().flatten().any(|s| *s == Signal::TooFast));
    }

    #[test]
    fn near_duplicates_within_enumerator_village_or_day() {
        let mut rows = honest(3);
        let mut copy = rows[3].measures.items.clone().into_bytes();
        // Two answers changed: still a near-duplicate (k = 2).
        copy[0] = if copy[0] == b'2' { b'3' } else { b'2' };
        copy[38] = if copy[38] == b'2' { b'3' } else { b'2' };
        let mut c = row(Row {
            enumerator: 7,
            village: "V9",
            minutes: 30,
            at_minute: 3000,
            gps: Some((20.0, 100.0)),
            items: varied(1),
        });
        c.measures.items = String::from_utf8(copy.clone()).unwrap();
        // Another enumerator, another village, another day: not compared.
        let a = assess(
            &[rows.clone(), vec![c.clone()]].concat(),
            &QualitySettings::default(),
        );
        assert!(!a.flags[30].contains(&Signal::NearDuplicate));
        // Same village as row 3 (V2): found.
        c.village = rows[3].village.clone();
        rows.push(c.clone());
        let a = assess(&rows, &QualitySettings::default());
        assert!(
            a.flags[30].contains(&Signal::NearDuplicate),
            "{:?}",
            a.flags[30]
        );
        assert!(a.flags[3].contains(&Signal::NearDuplicate));
        assert_eq!(
            a.flags
                .iter()
                .filter(|f| f.contains(&Signal::NearDuplicate))
                .count(),
            2
        );
        // Three changes: not a near-duplicate.
        copy[19] = if copy[19] == b'2' { b'3' } else { b'2' };
        rows[30].measures.items = String::from_utf8(copy).unwrap();
        let a = assess(&rows, &QualitySettings::default());
        assert!(!a.flags[30].contains(&Signal::NearDuplicate));
        // Every item "don't know": alike, but not counted as copies.
        let mut dk = honest(1);
        for r in &mut dk {
            r.measures = measure(&FormFacts {
                started_at: None,
                finished_at: None,
                received_at: r.received_at,
                has_gps: true,
                items: &[Special; 39],
            });
        }
        let a = assess(&dk, &QualitySettings::default());
        assert!(
            a.flags.iter().all(|f| f == &[Signal::DontKnow]),
            "{:?}",
            a.flags
        );
    }

    #[test]
    fn pigeonhole_finds_what_all_pairs_find() {
        let s = QualitySettings::default();
        let mut rows = honest(6);
        // Plant copies with 0..=4 changes.
        for (n, changes) in (0..5).enumerate() {
            let mut c = rows[n * 7].clone();
            c.id = Uuid::now_v7();
            let mut b = c.measures.items.clone().into_bytes();
            for k in 0..changes {
                let at = k * 9 + n;
                b[at] = if b[at] == b'4' { b'2' } else { b'4' };
            }
            c.measures.items = String::from_utf8(b).unwrap();
            rows.push(c);
        }
        let fast = near_duplicates(&rows, &s);
        let mut slow = vec![false; rows.len()];
        for i in 0..rows.len() {
            for j in i + 1..rows.len() {
                let (a, b) = (&rows[i], &rows[j]);
                let same_scope = a.enumerator == b.enumerator
                    || a.village == b.village
                    || day_of(a, &s) == day_of(b, &s);
                if same_scope && differences(&a.measures.items, &b.measures.items) <= 2 {
                    slow[i] = true;
                    slow[j] = true;
                }
            }
        }
        assert_eq!(fast, slow);
        assert!(fast.iter().filter(|x| **x).count() >= 6);
    }

    #[test]
    fn desk_gps_and_missing_gps() {
        let mut rows = honest(3);
        for j in 0..10 {
            rows.push(row(Row {
                enumerator: 5,
                village: "V1",
                minutes: 30,
                at_minute: j * 60,
                // Within a metre of one point: the same rounded point for most.
                gps: Some((22.5, 103.5 + (j % 2) as f64 * 1e-6)),
                items: varied(500 + j as u64),
            }));
        }
        let a = assess(&rows, &QualitySettings::default());
        for i in 30..40 {
            assert!(
                a.flags[i].contains(&Signal::GpsIdentical),
                "{:?}",
                a.flags[i]
            );
            assert!(a.flags[i].contains(&Signal::GpsCluster), "{:?}", a.flags[i]);
        }
        assert!(a.flags[..30].iter().all(Vec::is_empty));
        // Without GPS: only gps_missing, no cluster (no points).
        for r in &mut rows[30..] {
            r.gps = None;
            r.measures.gps_missing = true;
        }
        let a = assess(&rows, &QualitySettings::default());
        assert!(a.flags[30..].iter().all(|f| f == &[Signal::GpsMissing]));
        assert!((distance_m((22.0, 103.0), (22.0, 103.001)) - 103.2).abs() < 1.0);
    }

    #[test]
    fn clocks_pace_and_distribution() {
        let mut rows = honest(3);
        rows[0].skew_ms = Some(3_600_000);
        // Device an hour behind the server, its times 50 minutes before receipt: fine once
        // corrected? No: corrected it is 10 minutes after receipt.
        rows[1].skew_ms = Some(3_600_000);
        rows[1].measures.device_ahead_s = Some(-3000 + 601);
        let a = assess(&rows, &QualitySettings::default());
        assert!(a.flags[0].contains(&Signal::ClockSkew));
        assert!(a.flags[1].contains(&Signal::DeviceTimeDisagrees));
        assert!(!a.flags[2].contains(&Signal::ClockSkew));
        // Enumerator 8: 21 forms in a day, every item at 5 where others answer 2–4.
        for j in 0..21 {
            let mut items = vec![Level(5); 39];
            items[j % 39] = Level(4);
            items[(j + 10) % 39] = Level(3);
            items[(j + 20) % 39] = Level(4);
            rows.push(row(Row {
                enumerator: 8,
                village: "V1",
                minutes: 30,
                at_minute: j as i64 * 31,
                gps: Some((21.0 + j as f64 * 0.01, 102.0)),
                items,
            }));
        }
        let a = assess(&rows, &QualitySettings::default());
        let f = &a.enumerators[&8];
        assert_eq!((f.forms, f.max_per_day), (21, 21));
        assert!(f.distribution_js.unwrap() > 0.3, "{f:?}");
        assert!(a.flags[30].contains(&Signal::Pace));
        assert!(a.flags[30].contains(&Signal::Distribution));
        // The others' reference now holds enumerator 8's forms too: further, but far less.
        let honest_js = a.enumerators[&1].distribution_js.unwrap();
        assert!(honest_js < f.distribution_js.unwrap() / 2.0, "{honest_js}");
        // One form per enumerator: no distribution, no pace.
        let one: Vec<FormRow> = (0..12).map(|e| rows[e * 10 % 30].clone()).collect();
        let mut one = one;
        for (e, r) in one.iter_mut().enumerate() {
            r.enumerator = Some(100 + e as i64);
        }
        let a = assess(&one, &QualitySettings::default());
        assert!(a.enumerators.values().all(|f| f.distribution_js.is_none()));
        assert!(
            a.enumerators
                .values()
                .all(|f| f.forms == 1 && f.max_per_day == 1)
        );
    }

    #[test]
    fn far_from_the_village_only_where_it_is_located() {
        let mut rows = honest(2);
        // Honest points lie within ~3 km of (22.31, 103.40); a desk 20 km south.
        for r in &mut rows {
            r.village_point = Some((22.31, 103.40));
        }
        rows[3].gps = Some((22.13, 103.40));
        let a = assess(&rows, &QualitySettings::default());
        for (i, f) in a.flags.iter().enumerate() {
            assert_eq!(
                f.contains(&Signal::FarFromVillage),
                i == 3,
                "row {i}: {f:?}"
            );
        }
        // A tighter round setting flags the honest spread too; none without a location or a fix.
        let tight = QualitySettings {
            far_from_village_m: 500.0,
            ..QualitySettings::default()
        };
        let n = assess(&rows, &tight)
            .flags
            .iter()
            .filter(|f| f.contains(&Signal::FarFromVillage))
            .count();
        assert!(n > 10, "{n}");
        rows[3].village_point = None;
        rows[4].gps = None;
        let a = assess(&rows, &QualitySettings::default());
        assert!(a.flags.iter().all(|f| !f.contains(&Signal::FarFromVillage)));
    }

    #[test]
    fn js_and_score_bounds() {
        assert!(jensen_shannon(&[5, 5], &[5, 5], 0.5).abs() < 1e-12);
        let far = jensen_shannon(&[1000, 0], &[0, 1000], 0.0);
        assert!((far - 1.0).abs() < 1e-9);
        // Smoothing pulls small samples together.
        assert!(jensen_shannon(&[1, 0], &[0, 1], 0.5) < jensen_shannon(&[1, 0], &[0, 1], 0.0));
        assert_eq!(score(10, &SignalCounts::new()), 0.0);
        let all: SignalCounts = Signal::ALL.iter().map(|s| (*s, 10)).collect();
        let s = score(10, &all);
        assert!(s > 90.0 && s < 100.0, "{s}");
        let one: SignalCounts = [(Signal::NearDuplicate, 1)].into();
        assert!(score(1, &one) < score(20, &[(Signal::NearDuplicate, 20)].into()));
    }
}
