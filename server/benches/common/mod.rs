//! Helpers shared by the benchmarks: a fresh database of the kind asked for, and server settings.

pub mod process;

use sea_orm::{ConnectionTrait, Database};
use sipas_server::{Settings, settings::Secret};
use uuid::Uuid;

/// A database made for one benchmark scenario.
pub struct Target {
    /// Connection URL.
    pub url: String,
    /// `SQLite` or `PostgreSQL`.
    pub label: &'static str,
    /// PostgreSQL: the admin URL and the database name to drop afterwards.
    pub cleanup: Option<(String, String)>,
    /// SQLite: the temp folder holding the database file, removed afterwards.
    pub dir: Option<std::path::PathBuf>,
}

/// A new empty database: a uniquely named PostgreSQL database when `SIPAS_BENCH_DATABASE_URL` is
/// set, otherwise SQLite in a new temp folder.
pub async fn fresh_database(tag: &str) -> Target {
    let id = Uuid::new_v4().simple().to_string();
    match std::env::var("SIPAS_BENCH_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("sipas_bench_{tag}_{id}");
            let db = Database::connect(&admin)
                .await
                .expect("PostgreSQL reachable");
            db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
            db.close().await.ok();
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            Target {
                url: format!("{base}/{name}"),
                label: "PostgreSQL",
                cleanup: Some((admin.clone(), name)),
                dir: None,
            }
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("sipas-bench-{tag}-{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            Target {
                url: format!("sqlite://{}?mode=rwc", dir.join("sipas.db").display()),
                label: "SQLite",
                cleanup: None,
                dir: Some(dir),
            }
        }
    }
}

/// Drops a PostgreSQL database made by [`fresh_database`], or removes the SQLite temp folder.
pub async fn drop_database(t: &Target) {
    if let Some(dir) = &t.dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    if let Some((admin, name)) = &t.cleanup
        && let Ok(db) = Database::connect(admin).await
    {
        let _ = db
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}

/// Server settings for a benchmark: port 0, quiet logs, fixed keys and admin password.
pub fn settings(url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        database_url: Secret::new(url.to_owned()),
        database_max_connections: 16,
        log: "error".into(),
        jwt_secret: Some(Secret::new(JWT_SECRET.into())),
        admin_password: Some(Secret::new(ADMIN_PASSWORD.into())),
        // The push gate's size, to compare sizes in one run (0 or unset: the server's default).
        push_concurrency: std::env::var("SIPAS_PUSH_CONCURRENCY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        ..Settings::default()
    }
}

/// The access-token key of every bench server (in process or not), so a bench can sign tokens.
pub const JWT_SECRET: &str = "bench-jwt-key-0123456789abcdef-0123456789";

/// The first ministry account's password in [`settings`].
pub const ADMIN_PASSWORD: &str = "bench-Ministry-passphrase-2026";

/// Password of the device accounts [`device_tokens`] creates.
pub const PASSWORD: &str = "bench-Field-passphrase-2026";

/// POSTs a JSON body (with the sync protocol header, and a bearer token if given); panics unless 2xx.
pub async fn send(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header(sync_protocol::PROTOCOL_HEADER, "1")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    assert!(resp.status().is_success(), "{}", resp.status());
    resp
}

/// [`send`], reading the answer as JSON.
pub async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Vec<u8>,
) -> serde_json::Value {
    send(client, url, token, body)
        .await
        .json()
        .await
        .expect("json")
}

/// Logs in as the ministry admin, creates `n` accounts (`account(d)` is the `POST /users` body of
/// account `d`, whose password must be [`PASSWORD`]) and logs each in on its own device
/// `bench-{d}`. Returns the admin's token and the devices' tokens.
pub async fn device_tokens(
    client: &reqwest::Client,
    base: &str,
    n: usize,
    account: impl Fn(usize) -> serde_json::Value,
) -> (String, Vec<String>) {
    let token = |v: serde_json::Value| v["access_token"].as_str().unwrap().to_owned();
    let login = |body: serde_json::Value| {
        post(
            client,
            format!("{base}/api/v1/auth/login"),
            None,
            serde_json::to_vec(&body).unwrap(),
        )
    };
    let admin =
        token(login(serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD})).await);
    let mut tokens = Vec::with_capacity(n);
    for d in 0..n {
        let body = account(d);
        post(
            client,
            format!("{base}/api/v1/users"),
            Some(&admin),
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        tokens.push(token(
            login(serde_json::json!({
                "username": body["username"], "password": PASSWORD, "device_id": format!("bench-{d}")
            }))
            .await,
        ));
    }
    (admin, tokens)
}

/// The part of a push answer the benches check. Read into this rather than a `Value` tree: the
/// client shares the machine's two cores with the server, and should take as little as it can.
#[derive(serde::Deserialize)]
struct PushAnswer {
    results: Vec<PushOutcome>,
}

#[derive(serde::Deserialize)]
struct PushOutcome {
    outcome: sync_protocol::Outcome,
}

/// Pushes each device's bodies in order, all devices at once (device `d` with `tokens[d]`), and
/// returns how many forms were accepted.
pub async fn push_all(
    client: &reqwest::Client,
    base: &str,
    tokens: &[String],
    per_device: Vec<Vec<Vec<u8>>>,
) -> usize {
    let mut tasks = Vec::new();
    for (d, bodies) in per_device.into_iter().enumerate() {
        let (client, token, url) = (
            client.clone(),
            tokens[d].clone(),
            format!("{base}/api/v1/sync/push"),
        );
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0usize;
            for body in bodies {
                let r: PushAnswer = send(&client, url.clone(), Some(&token), body)
                    .await
                    .json()
                    .await
                    .expect("json");
                accepted += r
                    .results
                    .iter()
                    .filter(|r| r.outcome == sync_protocol::Outcome::Accepted)
                    .count();
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    accepted
}
