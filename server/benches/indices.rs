//! Index reports at national scale: forms loaded through the real HTTP push, then the report
//! endpoints timed against a naive recomputation from the raw forms, in the same run.
//!
//! `cargo bench -p sipas-server --bench indices` (SQLite in a temp folder), and with
//! `SIPAS_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres` for PostgreSQL (a fresh
//! database is created and dropped). `SIPAS_BENCH_FORMS` sets the number of forms (default
//! 1,000,000), `SIPAS_BENCH_RUNS` the repetitions of each timed request (default 20).
//!
//! The sample is shaped like the 2023 national survey (geography vn-2023): every province, 3
//! districts per province, 2 communes per district, 3 villages per commune, forms spread evenly over
//! the villages, satisfaction varying by district. Report times are server time measured
//! in-process through `sipas_server::router` with `tower::ServiceExt::oneshot` (no sockets): the
//! whole request — token check, stats read, estimation and JSON serialisation of the body.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{PASSWORD, device_tokens, drop_database, fresh_database, push_all, settings};
use geography::Level;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use sipas_server::{
    AppState, Application,
    entities::round,
    index_stats::{self, VillageStats},
    reports::{self, RoundStats, UnitLevel},
};
use sync_protocol::{FormSubmission, FormUnits};
use tower::ServiceExt;
use uuid::Uuid;

const BATCH: usize = 100;
const DEVICES: usize = 8;
const ROUND: &str = "sipas-2023";

/// One sampled village and the district index that sets its satisfaction.
struct SampleVillage {
    province: String,
    district: String,
    commune: String,
    village: String,
    district_no: usize,
}

/// Every province of vn-2023, its first 3 districts with at least 2 communes, their first 2
/// communes, 3 villages each.
fn sample() -> Vec<SampleVillage> {
    let geo = geography::vn_2023();
    let mut out = Vec::new();
    let mut district_no = 0;
    for p in geo.units().iter().filter(|u| u.level == Level::Province) {
        let districts = geo
            .children(&p.code)
            .filter(|d| d.level == Level::District && geo.children(&d.code).count() >= 2)
            .take(3);
        for d in districts {
            for c in geo.children(&d.code).take(2) {
                for v in 1..=3 {
                    out.push(SampleVillage {
                        province: p.code.clone(),
                        district: d.code.clone(),
                        commune: c.code.clone(),
                        village: format!("Thôn {v}"),
                        district_no,
                    });
                }
            }
            district_no += 1;
        }
    }
    out
}

/// Form `i` of `n`: villages get contiguous blocks of forms (as a village's enumerator submits
/// them), the 39 satisfaction items at levels 1–5 varying by form, item and district.
fn make_form(villages: &[SampleVillage], i: usize, n: usize, now: time::OffsetDateTime) -> Value {
    let v = &villages[i * villages.len() / n];
    let lower = usize::from(i % 10 < v.district_no % 7);
    let levels: Vec<u8> = (0..39)
        .map(|k| (2 + (i * 31 + k * 7) % 4 - lower) as u8)
        .collect();
    let mut answers = schema::sample::sipas_answers_with_levels(&levels);
    answers.insert("age".into(), json!(18 + (i % 70)));
    let f = FormSubmission {
        id: Uuid::now_v7(),
        round: ROUND.into(),
        questionnaire_code: "sipas".into(),
        questionnaire_version: 1,
        revision: 1,
        units: FormUnits {
            province: v.province.clone(),
            district: Some(v.district.clone()),
            commune: v.commune.clone(),
            village: v.village.clone(),
        },
        household_ref: format!("HH-{i:07}"),
        started_at: Some(now - time::Duration::minutes(25)),
        finished_at: Some(now),
        gps: None,
        answers,
    };
    serde_json::to_value(f).unwrap()
}

/// Pushes `n` forms over HTTP from `DEVICES` ministry accounts, each its own device and its own
/// run of villages; prints the time and rate and returns the admin's token.
async fn load(base: &str, villages: &[SampleVillage], n: usize, label: &str) -> String {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let (admin, tokens) = device_tokens(&client, base, DEVICES, |d| {
        json!({"username": format!("bench.min{d}"), "full_name": "Bench", "role": "ministry", "password": PASSWORD})
    })
    .await;
    // Bodies are serialised before the clock starts: the devices have them ready in their outboxes.
    let built = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let n_batches = n.div_ceil(BATCH);
    let per_device = n_batches.div_ceil(DEVICES);
    let mut bodies: Vec<Vec<Vec<u8>>> = vec![Vec::new(); DEVICES];
    for b in 0..n_batches {
        let forms: Vec<Value> = (b * BATCH..((b + 1) * BATCH).min(n))
            .map(|i| make_form(villages, i, n, now))
            .collect();
        bodies[b / per_device].push(serde_json::to_vec(&json!({ "forms": forms })).unwrap());
    }
    let bytes: usize = bodies.iter().flatten().map(Vec::len).sum();
    println!(
        "{label:<10} built {n_batches} push bodies ({:.0} MB) in {:.1} s (not timed)",
        bytes as f64 / 1e6,
        built.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let accepted = push_all(&client, base, &tokens, bodies).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(accepted, n, "every form accepted");
    println!(
        "{label:<10} load   {n} forms through HTTP push (batches of {BATCH}, {DEVICES} devices): {secs:.1} s, {:.0} forms/s",
        n as f64 / secs
    );
    admin
}

/// One GET through the in-process router: time and body size.
async fn get(state: &AppState, token: &str, uri: &str) -> (Duration, usize) {
    let app = sipas_server::router(state.clone());
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let started = Instant::now();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&body)
    );
    (took, body.len())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median and max of the times.
fn summary(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    (ms(times[times.len() / 2]), ms(times[times.len() - 1]))
}

/// Times each request `runs` times, interleaved; prints each and returns the per-run totals.
async fn time_requests(
    state: &AppState,
    token: &str,
    label: &str,
    name: &str,
    uris: &[String],
    runs: usize,
) -> (f64, f64) {
    let mut per: Vec<Vec<Duration>> = vec![Vec::new(); uris.len()];
    let mut sizes = vec![0; uris.len()];
    let mut totals = Vec::new();
    // One warm-up pass (connections, caches, layout) is not counted.
    for uri in uris {
        get(state, token, uri).await;
    }
    for _ in 0..runs {
        let mut total = Duration::ZERO;
        for (k, uri) in uris.iter().enumerate() {
            let (t, size) = get(state, token, uri).await;
            per[k].push(t);
            sizes[k] = size;
            total += t;
        }
        totals.push(total);
    }
    for (k, uri) in uris.iter().enumerate() {
        let (med, max) = summary(&mut per[k]);
        println!(
            "{label:<10} {name} {uri:<58} median {med:>8.1} ms  max {max:>8.1} ms  response {:>10} bytes",
            sizes[k]
        );
    }
    let (med, max) = summary(&mut totals);
    if uris.len() > 1 {
        println!(
            "{label:<10} {name} total of the {} requests                         median {med:>8.1} ms  max {max:>8.1} ms  response {:>10} bytes",
            uris.len(),
            sizes.iter().sum::<usize>()
        );
    }
    (med, max)
}

/// The stored stats and the recomputed ones must be identical, row by row.
fn check_same(stored: &[VillageStats], recomputed: &[VillageStats]) {
    assert_eq!(stored.len(), recomputed.len(), "village count");
    for (a, b) in stored.iter().zip(recomputed) {
        assert_eq!(a.key, b.key);
        assert_eq!(a.place, b.place, "{:?}", a.key);
        assert_eq!(a.questionnaire, b.questionnaire, "{:?}", a.key);
        assert!(a.stats == b.stats, "stats of {:?} differ", a.key);
    }
}

async fn round_stats(state: &AppState, rows: Vec<VillageStats>) -> RoundStats {
    let r = round::Entity::find_by_id(ROUND.to_owned())
        .one(&state.db)
        .await
        .unwrap()
        .unwrap();
    let geo = geography::by_code(&r.geography_code).unwrap();
    let def = state
        .definitions
        .stored(&state.db, &r.questionnaire_code, r.questionnaire_version)
        .await
        .unwrap();
    let sample = sipas_server::sampling::store::design_weights(&state.db, ROUND)
        .await
        .unwrap();
    RoundStats::new(r, geo, def.layout.clone(), rows, &sample).unwrap()
}

/// The naive way: every counted form read and decoded, then the same estimates as the endpoints
/// (without building the JSON). Returns the time and the recomputed rows.
async fn naive(
    state: &AppState,
    provinces: Option<&[String]>,
    levels: &[Option<UnitLevel>],
    unit: Option<&str>,
) -> (Duration, Vec<VillageStats>) {
    let started = Instant::now();
    let rows = index_stats::compute_from_forms(&state.db, &state.definitions, ROUND, provinces)
        .await
        .unwrap();
    let data = round_stats(state, rows.clone()).await;
    let opts = data.options();
    let unit = data.unit(unit).unwrap();
    let mut n_estimates = 0;
    for level in levels {
        match level {
            None => {
                let e = reports::unit_estimates(
                    &data.layout,
                    &data.villages,
                    &unit,
                    reports::Combine::MeanOfProvinces,
                    &opts,
                )
                .unwrap();
                n_estimates += usize::from(e.n_forms > 0);
            }
            Some(level) => {
                let inside = data.villages.iter().filter(|v| reports::contains(&unit, v));
                n_estimates += reports::by_unit(&data.layout, inside, *level, &opts)
                    .unwrap()
                    .len();
            }
        }
    }
    assert!(n_estimates > 0);
    (started.elapsed(), rows)
}

/// Where the time of the nationwide requests goes, outside the router: reading and decoding the
/// stats rows, gathering them, estimating every unit of each level, and turning the estimates into
/// JSON as the endpoint does (`serde_json::Value`, then bytes; without the unit names). Medians
/// over `runs`.
async fn breakdown(state: &AppState, label: &str, runs: usize) {
    let mut t_load = Vec::new();
    let mut t_gather = Vec::new();
    let levels = [
        UnitLevel::Province,
        UnitLevel::District,
        UnitLevel::Commune,
        UnitLevel::Village,
    ];
    let mut t_est: Vec<Vec<Duration>> = vec![Vec::new(); levels.len()];
    let mut t_json: Vec<Vec<Duration>> = vec![Vec::new(); levels.len()];
    for _ in 0..runs {
        let started = Instant::now();
        let rows = index_stats::load(&state.db, &state.definitions, ROUND, None)
            .await
            .unwrap();
        t_load.push(started.elapsed());
        let started = Instant::now();
        let data = round_stats(state, rows).await;
        t_gather.push(started.elapsed());
        let opts = data.options();
        for (k, level) in levels.iter().enumerate() {
            let started = Instant::now();
            let by = reports::by_unit(&data.layout, &data.villages, *level, &opts).unwrap();
            t_est[k].push(started.elapsed());
            let started = Instant::now();
            // The fields `GET /indices` shows of each unit's estimates.
            let values: Vec<Value> = by
                .values()
                .map(|est| {
                    json!({
                        "n_forms": est.n_forms,
                        "withheld": est.withheld,
                        "estimates": {
                            "method": est.method,
                            "variance": est.variance,
                            "n_clusters": est.n_clusters,
                            "n_strata": est.n_strata,
                            "df": est.df,
                            "t": est.t,
                            "overall": est.overall,
                            "components": est.components,
                            "groups": est.groups,
                            "items": est.items,
                        },
                    })
                })
                .collect();
            let bytes = serde_json::to_vec(&values).unwrap();
            drop(values);
            t_json[k].push(started.elapsed());
            assert!(!bytes.is_empty());
        }
    }
    let med = |t: &mut Vec<Duration>| summary(t).0;
    let parts: Vec<String> = levels
        .iter()
        .enumerate()
        .map(|(k, l)| {
            format!(
                "{} estimate {:.1} + JSON {:.1}",
                l.as_str(),
                med(&mut t_est[k]),
                med(&mut t_json[k])
            )
        })
        .collect();
    println!(
        "{label:<10} parts  (ms, median) load all rows {:.1}; gather {:.1}; {}",
        med(&mut t_load),
        med(&mut t_gather),
        parts.join("; ")
    );
}

async fn run(n: usize, runs: usize) {
    let target = fresh_database("indices").await;
    let label = target.label;
    let villages = sample();
    println!(
        "SIPAS index report benchmark on {label}: {n} forms, round {ROUND}, {} villages sampled, {} cores; \
         report times in-process through router(state).oneshot (server time incl. JSON), {runs} runs each",
        villages.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let app = Application::build(settings(&target.url)).await.unwrap();
    let state = app.state().clone();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));

    let token = load(&base, &villages, n, label).await;

    // The stored stats against a recomputation from the forms.
    let stored = index_stats::load(&state.db, &state.definitions, ROUND, None)
        .await
        .unwrap();
    let province = villages[0].province.clone();
    let one = [province.clone()];
    let (naive_a, recomputed_a) = naive(
        &state,
        Some(&one),
        &[Some(UnitLevel::District)],
        Some(&province),
    )
    .await;
    let all_levels = [
        None,
        Some(UnitLevel::Province),
        Some(UnitLevel::District),
        Some(UnitLevel::Commune),
        Some(UnitLevel::Village),
    ];
    let (naive_b, recomputed) = naive(&state, None, &all_levels, None).await;
    check_same(&stored, &recomputed);
    let in_province: Vec<VillageStats> = stored
        .iter()
        .filter(|v| v.place.province == province)
        .cloned()
        .collect();
    check_same(&in_province, &recomputed_a);
    let counted: u64 = stored.iter().map(|v| u64::from(v.stats.n_forms())).sum();
    assert_eq!(counted, n as u64, "every form counted");
    println!(
        "{label:<10} check  stored stats == recomputed from forms: {} villages, {counted} forms counted",
        stored.len()
    );

    let a = [format!(
        "/api/v1/rounds/{ROUND}/indices?unit={province}&level=district"
    )];
    let b: Vec<String> = std::iter::once(format!("/api/v1/rounds/{ROUND}/indices"))
        .chain(
            ["province", "district", "commune", "village"]
                .iter()
                .map(|l| format!("/api/v1/rounds/{ROUND}/indices?level={l}")),
        )
        .collect();
    let (a_med, a_max) = time_requests(&state, &token, label, "(a)", &a, runs).await;
    let (b_med, b_max) = time_requests(&state, &token, label, "(b)", &b, runs).await;
    breakdown(&state, label, runs.min(5)).await;
    println!(
        "{label:<10} naive  (a) compute_from_forms(province {province}, {} forms) + estimates: {:>9.1} ms",
        recomputed_a
            .iter()
            .map(|v| u64::from(v.stats.n_forms()))
            .sum::<u64>(),
        ms(naive_a)
    );
    println!(
        "{label:<10} naive  (b) compute_from_forms(all {counted} forms) + estimates of every unit at every level: {:>9.1} ms",
        ms(naive_b)
    );
    println!(
        "{label:<10} target (a) one province's districts <= 50 ms: median {a_med:.1} ms, max {a_max:.1} ms -> {}",
        if a_med <= 50.0 { "met" } else { "MISSED" }
    );
    println!(
        "{label:<10} target (b) every unit at every level <= 200 ms: median {b_med:.1} ms, max {b_max:.1} ms -> {}",
        if b_med <= 200.0 { "met" } else { "MISSED" }
    );

    let _ = tx.send(());
    let _ = server.await;
    drop_database(&target).await;
}

fn main() {
    let n: usize = std::env::var("SIPAS_BENCH_FORMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = std::env::var("SIPAS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n, runs));
}
