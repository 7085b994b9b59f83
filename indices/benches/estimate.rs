//! Plain timing of estimates from in-memory per-cluster stats for national-scale synthetic rounds
//! (no criterion). Run with `cargo bench -p sipas-indices`; prints milliseconds per table.
//!
//! - 2023 geography: 63 provinces × 3 districts × 3 communes × 2 villages = 1,134 clusters;
//! - 2025 geography: 34 provinces × 6 communes × 2 villages = 408 clusters.
//!
//! "Every unit at every level" = the nation (pooled and mean of provinces), every province, every
//! district, every commune and every village. The cost depends on the number of clusters, not on
//! the number of forms behind them.

use std::hint::black_box;
use std::time::Instant;

use indices::{
    ClusterKey, ClusterStats, DesignCluster, Options, StatsLayout, WeightedCluster, estimate,
    estimate_design, estimate_units, mean_of_units,
};
use schema::{ValidAnswers, builtin, sample, validate};
use serde_json::{Value, json};

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A pool of distinct valid forms with random satisfaction levels.
fn form_pool(rng: &mut Lcg, n: usize) -> Vec<ValidAnswers> {
    let q = builtin::sipas();
    (0..n)
        .map(|i| {
            let levels: Vec<u8> = (0..39).map(|_| rng.below(6) as u8).collect();
            let mut a = sample::sipas_answers_with_levels(&levels);
            if i % 3 == 0 {
                a.insert("c8_experiences".into(), json!(["health_care"]));
                for s in ["s1", "s2", "s3", "s4", "s5"] {
                    a.remove(s);
                }
            }
            let k = 1 + rng.below(4) as usize;
            let channels: Vec<Value> = ["meeting", "internet", "media", "loudspeaker"][..k]
                .iter()
                .map(|c| json!(c))
                .collect();
            a.insert("c2_channels".into(), Value::Array(channels));
            match validate(q, &a) {
                Ok(v) => v,
                Err(e) => panic!("invalid pool form: {e:?}"),
            }
        })
        .collect()
}

/// Clusters keyed `P<p>-D<d>-C<c>` / `V<v>` (the district part is `D0` for 2025).
fn round(
    layout: &StatsLayout,
    pool: &[ClusterStats],
    rng: &mut Lcg,
    provinces: usize,
    districts: usize,
    communes: usize,
) -> Vec<(ClusterKey, ClusterStats)> {
    let mut out = Vec::new();
    for p in 0..provinces {
        for d in 0..districts {
            for c in 0..communes {
                for v in 0..2 {
                    let mut s = ClusterStats::new(layout);
                    for _ in 0..(28 + rng.below(8)) {
                        s.add(&pool[rng.below(pool.len() as u64) as usize])
                            .expect("add");
                    }
                    out.push((
                        ClusterKey::new(format!("P{p}-D{d}-C{c}"), format!("V{v}")),
                        s,
                    ));
                }
            }
        }
    }
    out
}

fn prefix(key: &ClusterKey, parts: usize) -> Option<String> {
    Some(
        key.stratum
            .splitn(4, '-')
            .take(parts)
            .collect::<Vec<_>>()
            .join("-"),
    )
}

/// Every unit at every level; returns the number of estimates made.
fn national_table(
    layout: &StatsLayout,
    clusters: &[(ClusterKey, ClusterStats)],
    districts: bool,
) -> usize {
    let opts = Options::default();
    let pooled = estimate(layout, clusters, &opts).expect("nation");
    let provinces = estimate_units(layout, clusters, |k| prefix(k, 1), &opts).expect("provinces");
    let refs: Vec<&indices::Estimates> = provinces.values().collect();
    let mean = mean_of_units(&refs).expect("mean");
    let mut n = 2 + provinces.len();
    if districts {
        n += estimate_units(layout, clusters, |k| prefix(k, 2), &opts)
            .expect("districts")
            .len();
    }
    n += estimate_units(layout, clusters, |k| prefix(k, 3), &opts)
        .expect("communes")
        .len();
    n += estimate_units(
        layout,
        clusters,
        |k| Some((k.stratum.clone(), k.cluster.clone())),
        &opts,
    )
    .expect("villages")
    .len();
    black_box((pooled, mean));
    n
}

fn time_ms<T>(iterations: u32, mut f: impl FnMut() -> T) -> f64 {
    black_box(f());
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations)
}

fn main() {
    let q = builtin::sipas();
    let layout = StatsLayout::new(q);
    let mut rng = Lcg(42);
    let pool: Vec<ClusterStats> = form_pool(&mut rng, 64)
        .iter()
        .map(|f| ClusterStats::of_form(&layout, f))
        .collect();
    println!(
        "per-cluster stats: {} u32 counts ({} bytes)",
        layout.len(),
        layout.len() * 4
    );
    let form = form_pool(&mut rng, 1).remove(0);
    let mut s = ClusterStats::new(&layout);
    let add_ns = time_ms(10_000, || {
        s.add_form(&layout, &form).expect("add");
    }) * 1e6;
    println!("add_form (one accepted form into its cluster): {add_ns:.0} ns");

    for (name, provinces, districts, communes) in [("2023", 63, 3, 3), ("2025", 34, 1, 6)] {
        let clusters = round(&layout, &pool, &mut rng, provinces, districts, communes);
        let forms: u64 = clusters.iter().map(|(_, s)| u64::from(s.n_forms())).sum();
        let mut units = 0;
        let full = time_ms(5, || {
            units = national_table(&layout, &clusters, districts > 1);
        });
        println!(
            "{name}: {} clusters, {forms} forms; every unit at every level ({units} estimates): {full:.1} ms",
            clusters.len()
        );
        let province: Vec<&(ClusterKey, ClusterStats)> = clusters
            .iter()
            .filter(|(k, _)| k.stratum.starts_with("P7-"))
            .collect();
        let level = if districts > 1 { 2 } else { 3 };
        let what = if districts > 1 {
            "districts"
        } else {
            "communes"
        };
        let one = time_ms(200, || {
            estimate_units(
                &layout,
                province.iter().copied(),
                |k| prefix(k, level),
                &Options::default(),
            )
            .expect("units")
            .len()
        });
        println!("{name}: all {what} of one province: {one:.2} ms");
        let nation = time_ms(20, || {
            estimate(&layout, &clusters, &Options::default()).expect("nation")
        });
        println!("{name}: the nation pooled: {nation:.2} ms");
        // The same clusters under the SIPAS multistage design: provinces as strata, districts
        // (communes in 2025) as ultimate clusters, unequal design weights.
        let strata: Vec<(String, String)> = clusters
            .iter()
            .map(|(k, _)| {
                let psu_parts = if districts > 1 { 2 } else { 3 };
                (
                    prefix(k, 1).unwrap_or_default(),
                    prefix(k, psu_parts).unwrap_or_default(),
                )
            })
            .collect();
        let design = time_ms(20, || {
            estimate_design(
                &layout,
                clusters
                    .iter()
                    .zip(&strata)
                    .enumerate()
                    .map(|(i, ((k, s), (h, p)))| DesignCluster {
                        cluster: WeightedCluster {
                            key: k,
                            stats: s,
                            weight: 1.0 + (i % 5) as f64,
                        },
                        stratum: h,
                        psu: p,
                    }),
                &Options::default(),
            )
            .expect("nation by design")
        });
        println!("{name}: the nation by the multistage design: {design:.2} ms");
        breakdown(&layout, &clusters);
    }
}

fn breakdown(layout: &StatsLayout, clusters: &[(ClusterKey, ClusterStats)]) {
    let opts = Options::default();
    for (name, parts) in [("provinces", 1usize), ("districts", 2), ("communes", 3)] {
        let ms = time_ms(5, || {
            estimate_units(layout, clusters, |k| prefix(k, parts), &opts)
                .expect("u")
                .len()
        });
        println!("  {name}: {ms:.1} ms");
    }
    let ms = time_ms(5, || {
        estimate_units(
            layout,
            clusters,
            |k| Some((k.stratum.clone(), k.cluster.clone())),
            &opts,
        )
        .expect("v")
        .len()
    });
    println!("  villages: {ms:.1} ms");
}
