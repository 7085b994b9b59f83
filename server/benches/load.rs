//! Push under load, measured from outside: the real `sipas` binary in its own process, stormed
//! by `SIPAS_BENCH_DEVICES` devices at once (default `8,64,1000`), each its own enumerator, each
//! sending its pushes of 100 forms one after another; a push answered 503 is sent again after
//! `Retry-After` plus up to as much again at random, as the clients do. Prints, per device count,
//! the forms/s accepted, p50/p99/max of the answered pushes' latency (from sending to the answer,
//! waiting at the push gate included), the 503s, and the server's resident memory idle and at
//! its peak (sampled `VmRSS`, and `VmHWM`) and threads. The memory is the server's alone: the
//! devices' bodies are in this process.
//!
//! `cargo bench -p sipas-server --bench load` (SQLite in a temp folder), with
//! `SIPAS_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres` for PostgreSQL.
//! `SIPAS_BENCH_FORMS` (default 20,000) sets the forms per scenario; every device sends at least
//! one push. `SIPAS_BENCH_SERVER_BIN` measures another build of `sipas`.

// The other benches use the rest of the shared helpers.
#[allow(dead_code)]
mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::process::{
    Sampler, create_enumerators, mib, ms, percentile, start_server, until_answered,
};
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter};
use serde_json::json;
use sipas_server::{
    Settings,
    auth::tokens::{Claims, ISSUER, TokenKeys, now_unix},
    entities::user,
    settings::Secret,
};
use sync_protocol::{PROTOCOL_HEADER, sample::SipasForm};

const BATCH: usize = 100;

/// What one device's pushes met: each answered push's latency, and its 503s.
#[derive(Default)]
struct Device {
    answered: Vec<Duration>,
    busy: usize,
    /// The statuses of pushes that were neither answered nor 503 (0: no HTTP answer).
    failed: Vec<u16>,
}

/// One device: its pushes in turn, each sent again after a 503 ([`until_answered`]).
async fn device(
    client: reqwest::Client,
    url: String,
    token: String,
    bodies: Vec<Vec<u8>>,
    start: Arc<tokio::sync::Barrier>,
    deadline: Instant,
) -> Device {
    let mut out = Device::default();
    start.wait().await;
    for body in bodies {
        let attempts = until_answered(
            || {
                client
                    .post(&url)
                    .bearer_auth(&token)
                    .header(PROTOCOL_HEADER, "1")
                    .header("content-type", "application/json")
                    .body(body.clone())
            },
            deadline,
        )
        .await;
        out.busy += attempts.iter().filter(|a| a.status == 503).count();
        match attempts.last() {
            Some(a) if a.status == 200 => out.answered.push(a.took),
            Some(a) => out.failed.push(a.status),
            None => {}
        }
    }
    out
}

/// One scenario: `devices` devices push `forms` forms (at least one push each).
async fn scenario(devices: usize, forms: usize) {
    let target = common::fresh_database(&format!("load{devices}")).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = start_server(&target.url, port).await;
    let pid = child.id();
    create_enumerators(&target.url, devices).await;
    // Tokens signed with the server's key (the storm is of pushes, not of logins).
    let keys = TokenKeys::new(&Settings {
        jwt_secret: Some(Secret::new(common::JWT_SECRET.into())),
        ..Settings::default()
    });
    let db = Database::connect(&target.url).await.unwrap();
    let users = user::Entity::find()
        .filter(user::Column::Username.starts_with("dtv.bench."))
        .all(&db)
        .await
        .unwrap();
    db.close().await.ok();
    let now = now_unix();
    let tokens: Vec<String> = users
        .iter()
        .map(|u| {
            keys.sign(&Claims {
                sub: u.id.to_string(),
                name: u.username.clone(),
                role: u.role.clone(),
                tgen: u.token_generation,
                dev: None,
                iss: ISSUER.into(),
                iat: now,
                exp: now + 3600,
            })
            .unwrap()
        })
        .collect();
    // Forms village by village in Lai Châu's communes, as in the field; bodies made before the
    // clock starts.
    let communes: Vec<String> = geography::vn_2025()
        .children("12")
        .map(|u| u.code.clone())
        .collect();
    let pushes_per_device = forms.div_ceil(devices * BATCH).max(1);
    let n = pushes_per_device * devices * BATCH;
    let mut bodies: Vec<Vec<Vec<u8>>> = vec![Vec::new(); devices];
    for (p, chunk) in (0..n).collect::<Vec<_>>().chunks(BATCH).enumerate() {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| {
                SipasForm::new()
                    .commune(communes[(i / 30) % communes.len()].clone())
                    .village(format!("V{:03}", i / 30 / communes.len()))
                    .build()
            })
            .collect();
        bodies[p % devices].push(serde_json::to_vec(&json!({ "forms": batch })).unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (sampler, idle) = Sampler::start(pid);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(devices)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/sync/push");
    let barrier = Arc::new(tokio::sync::Barrier::new(devices + 1));
    let deadline = Instant::now() + Duration::from_secs(600);
    let tasks: Vec<_> = tokens
        .into_iter()
        .zip(bodies)
        .map(|(token, b)| {
            tokio::spawn(device(
                client.clone(),
                url.clone(),
                token,
                b,
                barrier.clone(),
                deadline,
            ))
        })
        .collect();
    barrier.wait().await;
    let started = Instant::now();
    let mut answered = Vec::new();
    let (mut busy, mut failed) = (0, Vec::new());
    for t in tasks {
        let d = t.await.unwrap();
        answered.extend(d.answered);
        busy += d.busy;
        failed.extend(d.failed);
    }
    let secs = started.elapsed().as_secs_f64();
    let (peaks, hwm) = sampler.stop();
    let _ = child.kill();
    let _ = child.wait();
    common::drop_database(&target).await;
    answered.sort();
    println!(
        "{:<10} devices={devices:<5} forms={n:<7} {secs:>6.1} s {:>7.0} forms/s  push p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  503: {busy}  failed: {failed:?}",
        target.label,
        (answered.len() * BATCH) as f64 / secs,
        ms(percentile(&answered, 0.5)),
        ms(percentile(&answered, 0.99)),
        ms(answered.last().copied().unwrap_or_default()),
    );
    println!(
        "{:<10} devices={devices:<5} server RSS idle {:.1} MiB, peak sampled {:.1} MiB, VmHWM {:.1} MiB; threads idle {}, peak {}",
        target.label,
        mib(idle.rss_kib),
        mib(peaks.rss_kib),
        mib(hwm),
        idle.threads,
        peaks.threads
    );
}

fn main() {
    let forms: usize = std::env::var("SIPAS_BENCH_FORMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let devices: Vec<usize> = std::env::var("SIPAS_BENCH_DEVICES")
        .ok()
        .map(|v| v.split(',').filter_map(|d| d.trim().parse().ok()).collect())
        .filter(|d: &Vec<usize>| !d.is_empty())
        .unwrap_or_else(|| vec![8, 64, 1000]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for d in devices {
            scenario(d, forms).await;
        }
    });
}
