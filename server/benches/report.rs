//! The provincial report's generation time at national scale: `GET
//! /rounds/{round}/reports/{unit}` for a province and for the nation, HTML and DOCX, with and
//! without a comparison round, on `SIPAS_BENCH_FORMS` forms (default 1,000,000).
//!
//! The forms are NOT pushed: pushing a million forms through HTTP takes minutes here (the
//! `indices` bench does that and times it). The report reads only the per-village stats, so they
//! are seeded directly: each form's [`indices::FormDigest`] (one of 64 answer patterns, varying
//! by form and district) added to its village's stats with `index_stats::PendingStats`, the same
//! code a push runs, and written in one transaction (so the report's sample shows no fieldwork
//! dates: there are no form rows). Report times are server time in-process through
//! `sipas_server::router` with `tower::ServiceExt::oneshot` (no sockets): the token check, the
//! stats read (the round cache after the first call), the estimates and the rendering.
//!
//! `cargo bench -p sipas-server --bench report` (SQLite in a temp folder), with
//! `SIPAS_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres` for PostgreSQL.
//! `SIPAS_BENCH_RUNS` sets the repetitions of each timed request (default 10).

// The other benches use the rest of the shared helpers.
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{ADMIN_PASSWORD, drop_database, fresh_database, settings};
use geography::Level;
use sea_orm::TransactionTrait;
use sipas_server::{
    AppState, Application,
    index_stats::{FormPlace, PendingStats},
};
use tower::ServiceExt;

const ROUND: &str = "sipas-2023";

/// A sampled village: province, district, commune, village.
struct SampleVillage {
    province: String,
    district: String,
    commune: String,
    village: String,
    district_no: usize,
}

/// As the `indices` bench: every province of vn-2023, 3 districts, 2 communes each, 3 villages.
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

async fn run(n: usize, runs: usize) {
    let target = fresh_database("report").await;
    let label = target.label;
    let villages = sample();
    println!(
        "SIPAS report benchmark on {label}: {n} forms (village stats seeded directly, not pushed), round {ROUND}, {} villages, {} cores, {runs} runs each",
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

    // 64 answer patterns and their digests.
    let q = schema::builtin::sipas();
    let def = state
        .definitions
        .stored(&state.db, &q.code, 1)
        .await
        .unwrap();
    let layout = def.layout.clone();
    let digests: Vec<indices::FormDigest> = (0..64)
        .map(|p| {
            let levels: Vec<u8> = (0..39).map(|k| (1 + (p * 31 + k * 7) % 5) as u8).collect();
            let answers = schema::sample::sipas_answers_with_levels(&levels);
            let valid = schema::validate(q, &answers).expect("valid");
            indices::FormDigest::of(&layout, &valid)
        })
        .collect();
    let started = Instant::now();
    let mut pending = PendingStats::default();
    for i in 0..n {
        let v = &villages[i * villages.len() / n];
        let place = FormPlace {
            round: ROUND,
            province: &v.province,
            district: Some(&v.district),
            commune: &v.commune,
            village: &v.village,
        };
        let pattern = (i * 7 + v.district_no * 13) % digests.len();
        pending.add(&layout, place, &digests[pattern]).unwrap();
    }
    let txn = state.db.begin().await.unwrap();
    pending
        .apply(&txn, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    println!(
        "{label:<10} seed   {n} forms' digests into {} villages' stats: {:.1} s (not timed below)",
        villages.len(),
        started.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();

    // The national report counts every seeded form.
    let app_router = sipas_server::router(state.clone());
    let resp = app_router
        .oneshot(
            Request::get(format!("/api/v1/rounds/{ROUND}/reports/VN"))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let html = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&html);
    assert!(
        html.contains(&format!(
            "data-key=\"n_forms\"><th>Số phiếu</th><td class=\"n\" data-col=\"value\">{n}</td>"
        )),
        "the national report does not count {n} forms"
    );

    let province = villages[0].province.clone();
    let uris = [
        format!("/api/v1/rounds/{ROUND}/reports/{province}?format=html"),
        format!("/api/v1/rounds/{ROUND}/reports/{province}?format=html&with={ROUND}"),
        format!("/api/v1/rounds/{ROUND}/reports/{province}?format=docx&with={ROUND}"),
        format!("/api/v1/rounds/{ROUND}/reports/VN?format=html"),
        format!("/api/v1/rounds/{ROUND}/reports/VN?format=html&with={ROUND}"),
        format!("/api/v1/rounds/{ROUND}/reports/VN?format=docx&with={ROUND}"),
    ];
    for uri in &uris {
        // The first call reads the round's stats into the cache; then every call is timed.
        let (first, _) = get(&state, &token, uri).await;
        let mut times = Vec::with_capacity(runs);
        let mut size = 0;
        for _ in 0..runs {
            let (t, s) = get(&state, &token, uri).await;
            times.push(t);
            size = s;
        }
        times.sort();
        println!(
            "{label:<10} report {uri:<64} first {:>8.1} ms  median {:>8.1} ms  max {:>8.1} ms  {:>8} bytes",
            ms(first),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1]),
            size
        );
    }

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
        .unwrap_or(10)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n, runs));
}
