//! A server in a process of its own, for the benches that measure what the server itself uses
//! under a storm (memory, threads, CPU), not the client's share: starting the real `sipas` binary,
//! reading its `/proc/PID/status`, and the accounts it is stormed with.

// Each bench uses the part it needs.
#![allow(dead_code)]

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ActiveValue::Set, Database, EntityTrait};
use sipas_server::{Settings, auth::password::Passwords, entities::user};

/// The `p` quantile (0 to 1) of sorted durations, zero for none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The largest `VmRSS` and `Threads` seen in a process's status while sampling.
#[derive(Default, Clone, Copy)]
pub struct Peaks {
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Threads.
    pub threads: u64,
}

/// A field of `/proc/PID/status`, in its own unit (kB for memory).
pub fn status_field(pid: u32, name: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User plus system CPU time a process has used, from `/proc/PID/stat` (in clock ticks of 10 ms,
/// the kernel's `USER_HZ` on Linux).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Starts `sipas serve` on `port` against `db_url` and waits until it answers `/readyz`.
// The child is returned to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
pub async fn start_server(db_url: &str, port: u16) -> Child {
    // Another build of the server can be measured with the same bench (before and after a change).
    let bin = std::env::var_os("SIPAS_BENCH_SERVER_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_sipas").into());
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SIPAS_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("SIPAS_DATABASE_URL", db_url)
        .env("SIPAS_ADMIN_PASSWORD", super::ADMIN_PASSWORD)
        .env("SIPAS_JWT_SECRET", super::JWT_SECRET)
        .env("SIPAS_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sipas");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && r.status().is_success()
        {
            return child;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates `n` enumerators `dtv.bench.{i}` with the bench password, straight in the database:
/// one hash for all (made with the server's default parameters), so that setting up costs one
/// hash rather than `n`.
pub async fn create_enumerators(db_url: &str, n: usize) {
    let hash = Passwords::new(&Settings::default())
        .unwrap()
        .hash(super::PASSWORD.into())
        .await
        .unwrap();
    let db = Database::connect(db_url).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let rows: Vec<user::ActiveModel> = (0..n)
        .map(|i| user::ActiveModel {
            username: Set(format!("dtv.bench.{i}")),
            full_name: Set(format!("Điều tra viên {i}")),
            role: Set("enumerator".into()),
            geography_code: Set(Some(sipas_server::users::DEFAULT_GEOGRAPHY.into())),
            unit_code: Set(Some("12".into())),
            team: Set(Some("LC-1".into())),
            password_hash: Set(hash.clone()),
            token_generation: Set(0),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(500) {
        user::Entity::insert_many(chunk.to_vec())
            .exec(&db)
            .await
            .unwrap();
    }
    db.close().await.ok();
}

/// Samples a process's `VmRSS` and `Threads` every 10 ms on a thread of its own until stopped.
pub struct Sampler {
    pid: u32,
    running: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Peaks>,
}

impl Sampler {
    /// Starts sampling `pid`; returns the sampler and what the process uses now (idle).
    pub fn start(pid: u32) -> (Sampler, Peaks) {
        let idle = Peaks {
            rss_kib: status_field(pid, "VmRSS").unwrap_or(0),
            threads: status_field(pid, "Threads").unwrap_or(0),
        };
        let running = Arc::new(AtomicBool::new(true));
        let thread = {
            let running = running.clone();
            std::thread::spawn(move || {
                let mut peaks = idle;
                while running.load(Ordering::Relaxed) {
                    if let Some(r) = status_field(pid, "VmRSS") {
                        peaks.rss_kib = peaks.rss_kib.max(r);
                    }
                    if let Some(t) = status_field(pid, "Threads") {
                        peaks.threads = peaks.threads.max(t);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                peaks
            })
        };
        (
            Sampler {
                pid,
                running,
                thread,
            },
            idle,
        )
    }

    /// Stops sampling: the peaks seen, and the process's `VmHWM` (its own peak) in KiB.
    pub fn stop(self) -> (Peaks, u64) {
        self.running.store(false, Ordering::Relaxed);
        let peaks = self.thread.join().unwrap();
        (peaks, status_field(self.pid, "VmHWM").unwrap_or(0))
    }
}

/// One attempt at a request, as [`until_answered`] made it.
pub struct Attempt {
    /// Its HTTP status; 0 when there was no HTTP answer (a refused or reset connection).
    pub status: u16,
    /// From sending to the whole answer.
    pub took: Duration,
    /// The answer's `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

/// Sends `request()` until it is answered other than 503 with `Retry-After`, or `deadline` has
/// passed; after each such 503 it waits `Retry-After` plus up to as much again at random (so that
/// the turned-away do not all come back at the same instant), as clients do. Every attempt, in
/// order.
pub async fn until_answered(
    mut request: impl FnMut() -> reqwest::RequestBuilder,
    deadline: Instant,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    loop {
        let t = Instant::now();
        let (status, retry_after) = match request().send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let _ = r.bytes().await;
                (status, retry)
            }
            Err(_) => (0, None),
        };
        attempts.push(Attempt {
            status,
            took: t.elapsed(),
            retry_after,
        });
        match (status, retry_after) {
            (503, Some(secs)) if Instant::now() < deadline => {
                let base = Duration::from_secs(secs.max(1));
                tokio::time::sleep(base + base.mul_f64(rand::random::<f64>())).await;
            }
            _ => return attempts,
        }
    }
}
