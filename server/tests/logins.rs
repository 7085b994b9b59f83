//! Password hashing under load, through the real application ([`Application::build`]) over HTTP:
//! a storm of logins ends each in 200 or in 503 `busy` with `Retry-After`, never in a 500 or a
//! hang, with never more hashes running than there are hashers; a login turned away is not a
//! failed login for the throttle; the CSV import waits for its turn instead of failing. SQLite by
//! default; PostgreSQL when `SIPAS_TEST_DATABASE_URL` is set.

use std::time::Duration;

use serde_json::{Value, json};
use sipas_server::{AppState, Application, Settings, audit::Actor, settings::Secret};
use tokio::sync::oneshot;

mod common;
use common::Db;

const ADMIN_PASSWORD: &str = "logins-test-Ministry-passphrase";

/// A running app with `hashers` password hashers and a queue of `queue`.
struct App {
    base: String,
    state: AppState,
    client: reqwest::Client,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    db: Db,
}

impl App {
    async fn start(hashers: u32, queue: u32, tweak: impl FnOnce(&mut Settings)) -> App {
        let db = Db::fresh("logins").await;
        let mut settings = Settings {
            bind: "127.0.0.1:0".parse().unwrap(),
            database_url: Secret::new(db.url.clone()),
            database_max_connections: 8,
            log: "error".into(),
            jwt_secret: Some(Secret::new(
                "logins-test-jwt-key-0123456789abcdef-xyz".into(),
            )),
            admin_password: Some(Secret::new(ADMIN_PASSWORD.into())),
            password_hashers: Some(hashers),
            password_hash_queue: Some(queue),
            ..Settings::default()
        };
        tweak(&mut settings);
        let app = Application::build(settings).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        App {
            base,
            state,
            client: reqwest::Client::new(),
            stop,
            task,
            db,
        }
    }

    /// POSTs a login; answers the status, the `Retry-After` header and the body.
    async fn login(&self, username: &str, password: &str) -> (u16, Option<String>, Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let problem = r
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes() == b"application/problem+json");
        let body: Value = r.json().await.unwrap();
        if status != 200 {
            assert!(problem, "{status} without problem+json: {body}");
        }
        (status, retry, body)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        self.db.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storm_gets_200_or_503_with_retry_after_and_no_more_hashes_than_hashers() {
    let app = App::start(2, 4, |_| {}).await;
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.login("admin", ADMIN_PASSWORD).await })
        })
        .collect();
    let answers = tokio::time::timeout(Duration::from_secs(120), async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
    .await
    .expect("every login was answered");
    let (mut ok, mut busy) = (0u64, 0u64);
    for (status, retry, body) in &answers {
        match status {
            200 => {
                assert!(body["access_token"].is_string());
                ok += 1;
            }
            503 => {
                assert_eq!(body["code"], "busy", "{body}");
                assert!(body["detail"].as_str().unwrap().contains("bận"), "{body}");
                assert!(body["detail_en"].as_str().unwrap().contains("busy"));
                let secs: u64 = retry.as_deref().expect("Retry-After").parse().unwrap();
                assert!((1..=60).contains(&secs), "Retry-After {secs}");
                busy += 1;
            }
            other => panic!("a login answered {other}: {body}"),
        }
    }
    let passwords = &app.state.passwords;
    assert!(ok >= 6, "{ok} logged in, {busy} turned away");
    assert!(busy > 0, "300 at once never filled 6 places");
    assert_eq!(busy, passwords.turned_away());
    assert!(
        passwords.peak_running() <= 2,
        "{} hashes ran at once with 2 hashers",
        passwords.peak_running()
    );
    assert_eq!(passwords.running(), 0);
    // Once the storm has passed, a login goes through as ever.
    let (status, _, body) = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let app = std::sync::Arc::into_inner(app).unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_login_turned_away_is_not_a_failed_login() {
    let app = App::start(1, 0, |s| s.login_max_failures_per_user = 3).await;
    // Take the only place, as a login storm would.
    let held = app.state.passwords.try_enter().unwrap();
    for _ in 0..5 {
        let (status, retry, body) = app.login("admin", "not-the-passphrase-at-all").await;
        assert_eq!(status, 503, "{body}");
        assert!(retry.is_some());
    }
    drop(held);
    // The five 503s counted for nothing: three wrong passwords are three 401s, then the
    // throttle locks the username as it always has.
    for _ in 0..3 {
        let (status, _, body) = app.login("admin", "not-the-passphrase-at-all").await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, retry, body) = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_attempts");
    assert!(retry.is_some());
    app.stop().await;
}

#[tokio::test]
async fn the_csv_import_waits_for_its_turn_instead_of_failing() {
    let app = App::start(2, 1, |_| {}).await;
    let passwords = app.state.passwords.clone();
    let held: Vec<_> = (0..3).map(|_| passwords.try_enter().unwrap()).collect();
    let csv: String = std::iter::once("username,full_name,role,unit_code,team\n".to_owned())
        .chain((0..5).map(|i| format!("dtv.import.{i},Điều tra viên {i},enumerator,12,LC-1\n")))
        .collect();
    let import = tokio::spawn({
        let (db, passwords) = (app.state.db.clone(), passwords.clone());
        async move {
            sipas_server::users::import_csv(
                &db,
                &passwords,
                sipas_server::users::DEFAULT_GEOGRAPHY,
                &csv,
                &Actor::system("test"),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!import.is_finished(), "the import did not wait");
    // Logins are turned away meanwhile; the import is not.
    let (status, _, _) = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 503);
    drop(held);
    let imported = tokio::time::timeout(Duration::from_secs(60), import)
        .await
        .expect("the import finished")
        .unwrap()
        .unwrap();
    assert_eq!(imported.users.len(), 5);
    assert!(passwords.peak_running() <= 2);
    let (user, _, password) = &imported.users[3];
    let (status, _, body) = app.login(user, password).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}
