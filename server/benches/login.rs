//! Logins with the configured argon2id parameters (OWASP: 19 MiB, 2 iterations, 1 lane), in two
//! parts. `cargo bench -p sipas-server --bench login` (SQLite in a temp folder; PostgreSQL with
//! `SIPAS_BENCH_DATABASE_URL`).
//!
//! 1. Latency: median and p99 of sequential logins for a correct password, a wrong password and an
//!    unknown user, which must cost the same (`SIPAS_BENCH_LOGINS` per case, default 200; 0 skips
//!    this part). The server runs in this process.
//! 2. Storm: `SIPAS_BENCH_STORM` enumerators (default 1,000), each with their own account and
//!    device, log in at the same instant, as on the morning of a field day. The server is the real
//!    `sipas` binary in its own process, so that its memory and threads are its own and not the
//!    client's: the bench samples its `/proc/PID/status` (`VmRSS`, `Threads`) every 10 ms and reads
//!    its `VmHWM` at the end. A client answered 503 waits `Retry-After` plus a random part of it
//!    (so that they do not all come back in the same instant) and tries again. Printed: the rate
//!    at which the enumerators got in, the answers on first attempt, latency of each answer by
//!    status, how many 503 there were in all, the time each enumerator took to get in, and the
//!    server's resident memory and threads, idle and at their peak, and the CPU time it used (which
//!    other work on the machine disturbs less than the rates). `SIPAS_BENCH_SERVER_BIN` runs
//!    another build of `sipas` (to compare before and after a change in one session).

// The push and indices benches use the rest of the shared helpers.
#[allow(dead_code)]
mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::process::{
    Sampler, cpu_time, create_enumerators, mib, ms, percentile, start_server, until_answered,
};
use serde_json::json;
use sipas_server::{Application, Settings};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rounds = env_count("SIPAS_BENCH_LOGINS", 200);
    let storm = env_count("SIPAS_BENCH_STORM", 1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if rounds > 0 {
            sequential(rounds).await;
        }
        if storm > 0 {
            login_storm(storm).await;
        }
    });
}

/// Part 1: sequential logins per case, server in process.
async fn sequential(rounds: usize) {
    let target = common::fresh_database("login").await;
    let settings = Settings {
        // Throttling would stop the wrong-password series: this measures hashing, not locks.
        login_max_failures_per_user: u32::MAX,
        login_max_failures_per_ip: u32::MAX,
        ..common::settings(&target.url)
    };
    let (m, t, p) = (
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
    );
    let app = Application::build(settings).await.unwrap();
    let url = format!("http://127.0.0.1:{}/api/v1/auth/login", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    println!(
        "login latency, {}, argon2id m={m} KiB t={t} p={p}, {rounds} sequential logins per case",
        target.label
    );
    for (case, user, pass, want) in [
        ("correct password", "admin", common::ADMIN_PASSWORD, 200u16),
        ("wrong password", "admin", "not-the-passphrase-at-all", 401),
        ("unknown user", "nobody.here", common::ADMIN_PASSWORD, 401),
    ] {
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            let resp = client
                .post(&url)
                .json(&json!({"username": user, "password": pass}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), want);
            let _ = resp.bytes().await;
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "{case:<17} median {:>7.1} ms   p99 {:>7.1} ms",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
    }
    let _ = tx.send(());
    let _ = server.await;
    common::drop_database(&target).await;
}

/// What one enumerator's logins met.
#[derive(Default)]
struct Outcome {
    /// (status, how long that answer took), one per attempt.
    answers: Vec<(u16, Duration)>,
    /// From the first attempt to the 200, when there was one.
    logged_in_after: Option<Duration>,
    /// The `Retry-After` values of its 503s, in seconds.
    retry_after: Vec<u64>,
}

/// One enumerator: logs in, and after a 503 waits `Retry-After` plus up to as much again, at
/// random, and tries again; gives up at any other status or after `deadline`.
async fn enumerator(
    client: reqwest::Client,
    url: String,
    i: usize,
    start: Arc<tokio::sync::Barrier>,
    deadline: Instant,
) -> Outcome {
    let body = serde_json::to_vec(&json!({
        "username": format!("dtv.bench.{i}"),
        "password": common::PASSWORD,
        "device_id": format!("bench-storm-{i}"),
        "app_version": "bench",
    }))
    .unwrap();
    start.wait().await;
    let first = Instant::now();
    let attempts = until_answered(
        || {
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
        },
        deadline,
    )
    .await;
    let in_after = first.elapsed();
    Outcome {
        answers: attempts.iter().map(|a| (a.status, a.took)).collect(),
        logged_in_after: (attempts.last().map(|a| a.status) == Some(200)).then_some(in_after),
        retry_after: attempts
            .iter()
            .filter(|a| a.status == 503)
            .filter_map(|a| a.retry_after)
            .collect(),
    }
}

/// Part 2: `n` enumerators log in at once against the real binary.
async fn login_storm(n: usize) {
    let target = common::fresh_database("storm").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = start_server(&target.url, port).await;
    let pid = child.id();
    create_enumerators(&target.url, n).await;
    let s = Settings::default();
    println!(
        "login storm, {}: {n} enumerators log in at once (argon2id m={} KiB t={} p={}); a 503 is \
         tried again after Retry-After + up to as much again at random",
        target.label, s.argon2_memory_kib, s.argon2_iterations, s.argon2_parallelism
    );
    // Let the server settle after startup, then read where it idles.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = cpu_time(pid);
    let (sampler, idle) = Sampler::start(pid);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/auth/login");
    let barrier = Arc::new(tokio::sync::Barrier::new(n + 1));
    let deadline = Instant::now() + Duration::from_secs(300);
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(enumerator(
                client.clone(),
                url.clone(),
                i,
                barrier.clone(),
                deadline,
            ))
        })
        .collect();
    barrier.wait().await;
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(n);
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let wall = started.elapsed();
    let (peaks, hwm) = sampler.stop();
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let _ = child.kill();
    let _ = child.wait();
    common::drop_database(&target).await;

    let mut first = std::collections::BTreeMap::<u16, usize>::new();
    let mut by_status = std::collections::BTreeMap::<u16, Vec<Duration>>::new();
    let mut logged_in = Vec::new();
    let mut retry_after = std::collections::BTreeMap::<u64, usize>::new();
    for o in &outcomes {
        if let Some((s, _)) = o.answers.first() {
            *first.entry(*s).or_default() += 1;
        }
        for (s, d) in &o.answers {
            by_status.entry(*s).or_default().push(*d);
        }
        logged_in.extend(o.logged_in_after);
        for r in &o.retry_after {
            *retry_after.entry(*r).or_default() += 1;
        }
    }
    let last_in = logged_in.iter().max().copied().unwrap_or(wall);
    logged_in.sort();
    let list = |m: &std::collections::BTreeMap<u16, usize>| {
        m.iter()
            .map(|(s, c)| format!("{c} × {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  {} of {n} logged in, the last after {:.1} s: {:.1} logins/s; first attempts: {}",
        logged_in.len(),
        last_in.as_secs_f64(),
        logged_in.len() as f64 / last_in.as_secs_f64(),
        list(&first)
    );
    for (status, times) in &mut by_status {
        times.sort();
        println!(
            "  answers {status}: {:>6} in all, p50 {:>8.1} ms, p99 {:>8.1} ms, max {:>8.1} ms",
            times.len(),
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
    let ra = retry_after
        .iter()
        .map(|(s, c)| format!("{c} × {s} s"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "  503 in all: {}{}",
        by_status.get(&503).map_or(0, Vec::len),
        if ra.is_empty() {
            String::new()
        } else {
            format!(" (Retry-After: {ra})")
        }
    );
    println!(
        "  time to get in, per enumerator: p50 {:.2} s, p99 {:.2} s",
        percentile(&logged_in, 0.5).as_secs_f64(),
        percentile(&logged_in, 0.99).as_secs_f64()
    );
    println!(
        "  server process: RSS idle {:.1} MiB, peak sampled {:.1} MiB, VmHWM {:.1} MiB; threads \
         idle {}, peak {}; CPU {:.1} s, {:.1} ms per login",
        mib(idle.rss_kib),
        mib(peaks.rss_kib),
        mib(hwm),
        idle.threads,
        peaks.threads,
        cpu.as_secs_f64(),
        ms(cpu) / logged_in.len().max(1) as f64
    );
}
