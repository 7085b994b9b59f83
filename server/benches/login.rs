//! Login latency with the configured argon2id parameters (OWASP: 19 MiB, 2 iterations, 1 lane):
//! median and p99 for a correct password, a wrong password and an unknown user, which must cost the
//! same. `cargo bench -p sipas-server --bench login` (SQLite in a temp folder).

use std::time::{Duration, Instant};

use serde_json::json;
use sipas_server::{Application, Settings, settings::Secret};

const PASSWORD: &str = "bench-Ministry-passphrase-2026";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let rounds: usize = std::env::var("SIPAS_BENCH_LOGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!(
            "sipas-bench-login-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let settings = Settings {
            bind: "127.0.0.1:0".parse().unwrap(),
            database_url: Secret::new(format!("sqlite://{}?mode=rwc", dir.join("s.db").display())),
            log: "error".into(),
            jwt_secret: Some(Secret::new(
                "bench-jwt-key-0123456789abcdef-0123456789".into(),
            )),
            admin_password: Some(Secret::new(PASSWORD.into())),
            // Throttling would stop the wrong-password series: this measures hashing, not locks.
            login_max_failures_per_user: u32::MAX,
            login_max_failures_per_ip: u32::MAX,
            ..Settings::default()
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
            "login latency, argon2id m={m} KiB t={t} p={p}, {rounds} sequential logins per case"
        );
        for (case, user, pass, want) in [
            ("correct password", "admin", PASSWORD, 200u16),
            ("wrong password", "admin", "not-the-passphrase-at-all", 401),
            ("unknown user", "nobody.here", PASSWORD, 401),
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
                percentile(&times, 0.5).as_secs_f64() * 1e3,
                percentile(&times, 0.99).as_secs_f64() * 1e3
            );
        }
        let _ = tx.send(());
        let _ = server.await;
        let _ = std::fs::remove_dir_all(dir);
    });
}
