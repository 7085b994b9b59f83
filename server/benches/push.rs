//! Push throughput through the real HTTP API, against a plain batched INSERT baseline measured in
//! the same run on the same database kind: from 8 connections (the ratios), and from 1 connection
//! when 1 device is measured (one device's pushes wait for each other, as one connection's
//! INSERTs do).
//!
//! `cargo bench -p sipas-server --bench push` (SQLite in a temp folder), and with
//! `SIPAS_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres` for PostgreSQL (a fresh
//! database is created and dropped). `SIPAS_BENCH_FORMS` sets the forms per scenario (default
//! 20,000), `SIPAS_BENCH_DEVICES` the device counts (default `1,8,64`), `SIPAS_BENCH_ROUNDS` how
//! many times the whole set is measured (default 3; medians are printed last). Batches of 100
//! realistic SIPAS forms.
//!
//! Each push scenario also prints the mean time a push spent in the server, and how much of it
//! went to preparing its forms and to storing them (from the server's tracing spans, summed by a
//! layer this bench installs: `common::spans`). With 1 device it compares
//! the storing with a plain INSERT of the same rows from 1 connection, and prints the rate that
//! storing alone allows one device: its pushes follow each other, so even with preparing and HTTP
//! free it could not go faster.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use sea_orm::EntityTrait;
use serde_json::json;
use sipas_server::{
    Application,
    entities::form,
    forms::{Sender, accepted_row},
};

mod common;
#[path = "common/spans.rs"]
mod spans;
use common::{PASSWORD, Target, device_tokens, drop_database, fresh_database, push_all, settings};
use spans::SpanTimes;
use sync_protocol::{FormSubmission, FormUnits};
use uuid::Uuid;

const BATCH: usize = 100;

// The allocator of the `sipas` binary, so the server in this process runs as in production.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU seconds used so far by this process (server and client together), and by each PostgreSQL
/// backend serving the scenario's database (by pid), from `/proc` (Linux; empty elsewhere). The
/// machine is shared, so CPU per form is a steadier figure than wall-clock rates.
fn cpu_seconds(t: &Target) -> (f64, HashMap<u32, f64>) {
    // utime + stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
    fn ticks(stat: &str) -> Option<(String, f64)> {
        let (head, rest) = stat.rsplit_once(") ")?;
        let comm = head.split_once(" (")?.1.to_owned();
        let f: Vec<&str> = rest.split(' ').collect();
        let t = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some((comm, t / 100.0))
    }
    let me = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0.0, |t| t.1);
    let mut pg = HashMap::new();
    let Some((_, database)) = &t.cleanup else {
        return (me, pg);
    };
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            // Only the backends serving this scenario's database (their title names it): other
            // users of the same PostgreSQL, other benches included, do not count.
            let title = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&title).contains(&format!(" {database} "))
                && let Ok(s) = std::fs::read_to_string(e.path().join("stat"))
                && let Some((comm, t)) = ticks(&s)
                && comm == "postgres"
            {
                pg.insert(pid, t);
            }
        }
    }
    (me, pg)
}

/// CPU microseconds per form since `before`: this process, and the PostgreSQL backends alive at the
/// end (a backend that exited in between is not counted).
fn cpu_per_form(t: &Target, before: &(f64, HashMap<u32, f64>), n: usize) -> String {
    let after = cpu_seconds(t);
    let pg: f64 = after
        .1
        .iter()
        .map(|(pid, t)| t - before.1.get(pid).copied().unwrap_or(0.0))
        .sum();
    let me = format!(
        "cpu/form: bench process {:.0} µs",
        (after.0 - before.0) * 1e6 / n as f64
    );
    if after.1.is_empty() {
        me
    } else {
        format!("{me}, postgres {:.0} µs", pg * 1e6 / n as f64)
    }
}

/// Realistic forms: the complete SIPAS questionnaire, filled village by village as in the field —
/// 30 households per village (SIPAS's cluster size), villages spread over Lai Châu's communes — so
/// a batch of 100 holds the forms of three or four villages.
fn make_forms(n: usize) -> Vec<FormSubmission> {
    let communes: Vec<String> = geography::vn_2025()
        .children("12")
        .map(|u| u.code.clone())
        .collect();
    let now = time::OffsetDateTime::now_utc();
    (0..n)
        .map(|i| {
            let mut answers = schema::sample::complete_sipas_answers();
            answers.insert("age".into(), json!(18 + (i % 70)));
            FormSubmission {
                id: Uuid::now_v7(),
                round: "sipas-2025".into(),
                questionnaire_code: "sipas".into(),
                questionnaire_version: 1,
                revision: 1,
                units: FormUnits {
                    province: "12".into(),
                    district: None,
                    commune: communes[(i / 30) % communes.len()].clone(),
                    village: format!("V{:02}", i / 30 / communes.len()),
                },
                household_ref: format!("HH-{i:06}"),
                started_at: Some(now - time::Duration::minutes(25)),
                finished_at: Some(now),
                gps: Some(sync_protocol::Gps {
                    lat: 22.39,
                    lon: 103.45,
                    accuracy_m: Some(9.0),
                }),
                answers,
            }
        })
        .collect()
}

/// Forms/s accepted through HTTP push with `devices` concurrent devices, and the mean time a push
/// spent in the server: in all, preparing its forms, storing them.
async fn push_rate(spans: &SpanTimes, label: &str, n: usize, devices: usize) -> (f64, PerPush) {
    let target = fresh_database(&format!("push{devices}")).await;
    let app = Application::build(settings(&target.url)).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let (_, tokens) = device_tokens(&client, &base, devices, |d| {
        json!({"username": format!("bench.dtv{d}"), "full_name": "Bench", "role": "enumerator",
            "geography": "vn-2025", "unit_code": "12", "team": "B", "password": PASSWORD})
    })
    .await;
    // Bodies are serialised before the clock starts: the device has them ready in its outbox.
    let forms = make_forms(n);
    let mut per_device: Vec<Vec<Vec<u8>>> = vec![Vec::new(); devices];
    for (i, chunk) in forms.chunks(BATCH).enumerate() {
        per_device[i % devices].push(serde_json::to_vec(&json!({ "forms": chunk })).unwrap());
    }
    let cpu = cpu_seconds(&target);
    let before = spans.totals();
    let started = Instant::now();
    let accepted = push_all(&client, &base, &tokens, per_device).await;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_per_form(&target, &cpu, n);
    let per_push = PerPush::between(before, spans.totals());
    assert_eq!(accepted, n, "every form accepted");
    let _ = tx.send(());
    let _ = server.await;
    drop_database(&target).await;
    let rate = n as f64 / secs;
    println!(
        "{label:<10} push   devices={devices:<3} forms={n:<7} {secs:>7.2} s  {rate:>9.0} forms/s  ({cpu})"
    );
    println!(
        "{label:<10} push   devices={devices:<3} per push in the server: {:.2} ms, of which preparing {:.2} ms, storing {:.2} ms",
        per_push.handling_ms, per_push.preparing_ms, per_push.writing_ms
    );
    (rate, per_push)
}

/// Mean milliseconds per push between two readings of [`SpanTimes::totals`]: handling, preparing,
/// and storing (over every attempt).
#[derive(Clone, Copy)]
struct PerPush {
    handling_ms: f64,
    preparing_ms: f64,
    writing_ms: f64,
}

impl PerPush {
    fn between(before: [(u64, Duration); 3], after: [(u64, Duration); 3]) -> PerPush {
        // Per push handled (the first span), whatever the attempts.
        let n = after[0].0.saturating_sub(before[0].0).max(1) as f64;
        let ms = |i: usize| after[i].1.saturating_sub(before[i].1).as_secs_f64() * 1e3 / n;
        PerPush {
            handling_ms: ms(0),
            preparing_ms: ms(1),
            writing_ms: ms(2),
        }
    }
}

/// Forms/s of a plain batched INSERT of the same stored rows (validated and encoded beforehand),
/// from `conns` concurrent connections: from 8, the ceiling push is compared with; from 1, what
/// one device's pushes, sent one after another, can be compared with like for like.
async fn plain_insert_rate(label: &str, n: usize, conns: usize) -> f64 {
    let target = fresh_database("insert").await;
    let app = Application::build(settings(&target.url)).await.unwrap();
    let db = app.state().db.clone();
    let q = schema::builtin::sipas();
    let now = time::OffsetDateTime::now_utc();
    // The rows push would store (the same builder), validated and encoded beforehand.
    let by = Sender {
        user: Some(1),
        device: Some("bench"),
    };
    let rows: Vec<form::ActiveModel> = make_forms(n)
        .into_iter()
        .map(|f| {
            let encoded = schema::validate(q, &f.answers).unwrap().encode(q);
            accepted_row(&f, &f.content_hash(), encoded, by, now)
        })
        .collect();
    // Each connection's batches are made before the clock starts: the baseline times the
    // inserts, not copying rows in memory.
    let batches: Vec<Vec<form::ActiveModel>> = rows.chunks(BATCH).map(<[_]>::to_vec).collect();
    let per_conn = batches.len().div_ceil(conns).max(1);
    let mut batches = batches.into_iter().peekable();
    let mut parts: Vec<Vec<Vec<form::ActiveModel>>> = Vec::new();
    while batches.peek().is_some() {
        parts.push(batches.by_ref().take(per_conn).collect());
    }
    let cpu = cpu_seconds(&target);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for part in parts {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for b in part {
                form::Entity::insert_many(b)
                    .exec_without_returning(&db)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_per_form(&target, &cpu, n);
    db.close_by_ref().await.ok();
    drop(app);
    drop_database(&target).await;
    let rate = n as f64 / secs;
    println!(
        "{label:<10} insert conns={conns:<6} forms={n:<7} {secs:>7.2} s  {rate:>9.0} forms/s  (plain batched INSERT baseline; {cpu})"
    );
    rate
}

fn main() {
    let n: usize = std::env::var("SIPAS_BENCH_FORMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let spans = SpanTimes::install();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let label = fresh_database("probe").await;
        let label_name = label.label;
        drop_database(&label).await;
        println!(
            "SIPAS push benchmark on {label_name}: batches of {BATCH} forms, {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let devices: Vec<usize> = std::env::var("SIPAS_BENCH_DEVICES")
            .ok()
            .map(|v| v.split(',').filter_map(|d| d.trim().parse().ok()).collect())
            .filter(|d: &Vec<usize>| !d.is_empty())
            .unwrap_or_else(|| vec![1, 8, 64]);
        // The machine is shared and its speed drifts: each round measures the baseline and then
        // every push scenario right after it, and the summary gives each ratio's median.
        let rounds: usize = std::env::var("SIPAS_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3)
            .max(1);
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); devices.len()];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); devices.len()];
        let mut baselines = Vec::new();
        // One device against one connection's INSERTs, when one device is measured.
        let mut alone: Vec<f64> = Vec::new();
        let mut alone_ratios: Vec<f64> = Vec::new();
        // 1 device's ceiling, storing alone, against the 8-connection baseline.
        let mut ceilings: Vec<f64> = Vec::new();
        for round in 1..=rounds {
            println!("-- round {round} of {rounds}");
            let baseline = plain_insert_rate(label_name, n, 8).await;
            baselines.push(baseline);
            let one_conn = if devices.contains(&1) {
                let rate = plain_insert_rate(label_name, n, 1).await;
                alone.push(rate);
                Some(rate)
            } else {
                None
            };
            for (i, &d) in devices.iter().enumerate() {
                let (rate, per_push) = push_rate(&spans, label_name, n, d).await;
                // One connection's INSERT rate, when this is the 1-device scenario.
                let one = one_conn.filter(|_| d == 1);
                let against_one = one.map(|one| rate / one);
                alone_ratios.extend(against_one);
                println!(
                    "{label_name:<10} push/insert with {d} devices: {:.2}{}",
                    rate / baseline,
                    against_one
                        .map(|r| format!(" (against 1 connection's INSERTs: {r:.2})"))
                        .unwrap_or_default()
                );
                // One device's pushes follow each other, each stored before the next is sent:
                // however fast everything else were, it could not push faster than storing allows.
                if let Some(one) = one {
                    let insert_ms = BATCH as f64 * 1e3 / one;
                    let ceiling = BATCH as f64 * 1e3 / per_push.writing_ms;
                    ceilings.push(ceiling / baseline);
                    println!(
                        "{label_name:<10} 1 device: storing a push took {:.2} ms, {:.2}× a plain INSERT of its {BATCH} rows from 1 connection ({insert_ms:.2} ms); with preparing and HTTP free, 1 device would reach at most {ceiling:.0} forms/s, {:.2} of the 8-connection INSERT rate",
                        per_push.writing_ms,
                        per_push.writing_ms / insert_ms,
                        ceiling / baseline
                    );
                }
                rates[i].push(rate);
                ratios[i].push(rate / baseline);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        // Each round's ratio, in the order measured.
        let listed = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "== {label_name} summary over {rounds} rounds (medians): plain insert {:.0} forms/s",
            median(&mut baselines)
        );
        if !alone.is_empty() {
            println!(
                "== {label_name} plain insert from 1 connection {:.0} forms/s; push devices=1 against it {:.2} (rounds: {})",
                median(&mut alone),
                median(&mut alone_ratios.clone()),
                listed(&alone_ratios)
            );
            println!(
                "== {label_name} push devices=1 ceiling from storing alone: {:.2} of the plain insert (rounds: {})",
                median(&mut ceilings.clone()),
                listed(&ceilings)
            );
        }
        for (i, d) in devices.iter().enumerate() {
            println!(
                "== {label_name} push devices={d:<3} {:>7.0} forms/s, push/insert {:.2} (rounds: {})",
                median(&mut rates[i]),
                median(&mut ratios[i].clone()),
                listed(&ratios[i])
            );
        }
    });
}
