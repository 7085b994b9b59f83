//! Harness for the end-to-end tests: starts the real application (the same
//! [`sipas_server::Application::build`] as `main`) on port 0 against a fresh database, and gives
//! the tests typed verbs for what they do to it.
//!
//! The database is a new SQLite file by default. When `SIPAS_TEST_DATABASE_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`), each app gets its own uniquely named PostgreSQL
//! database, created through that URL and dropped afterwards; an unreachable server fails the test
//! rather than skipping it.
//!
//! What the verbs cover, by module:
//! - here: starting, restarting and stopping an app ([`spawn_app`], [`TestApp::restart`]) and
//!   plain HTTP calls with or without a token ([`TestApp::call`], [`assert_problem`]);
//! - [`accounts`]: logins, users of each role, the Lai Châu enumerator most sync tests use,
//!   refresh, signed tokens, devices and the audit log;
//! - [`sync`]: the sync protocol as a device speaks it ([`TestApp::sync`] gives a [`SyncClient`]:
//!   handshake, push, status, pull, typed or raw);
//! - [`store`]: what the tests read and write in the database directly (forms stored outside the
//!   protocol, counts, quarantine rows, index statistics);
//! - [`places`]: communes of the 2023 and 2025 geographies and the forms collected in them;
//! - [`reports`]: the index reports and published questionnaire versions;
//! - [`exports`]: exports fetched and read back (CSV, XLSX, zip), and the cells a form's
//!   answers should give.
//!
//! Forms are built with [`sync_protocol::sample::SipasForm`].

pub mod accounts;
pub mod browser;
pub mod exports;
pub mod places;
pub mod plans;
pub mod reports;
pub mod store;
pub mod sync;

pub use accounts::{claims, spawn_app_with_enumerator};
pub use places::Place;
pub use reports::{figure, query_escape, report, value};
pub use sync::SyncClient;

use std::{path::PathBuf, time::Duration};

use sea_orm::{ConnectionTrait, Database};
use sipas_server::{Application, Settings, settings::Secret};
use tokio::{sync::oneshot, task::JoinHandle};

/// A running app and a client pointed at it. Stops the app and removes its database when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client with no default headers.
    pub client: reqwest::Client,
    /// The app's state (direct database access for assertions).
    pub state: sipas_server::AppState,
    /// The settings the app was built with (same database: build another app on it to test restarts).
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _db: TestDb,
}

/// Which database the test runs on.
pub fn backend_name() -> &'static str {
    if std::env::var("SIPAS_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        "postgres"
    } else {
        "sqlite"
    }
}

/// A fresh, uniquely named database; removed on drop.
pub enum TestDb {
    /// A SQLite file in its own temporary folder.
    Sqlite(PathBuf),
    /// A PostgreSQL database: the admin URL it was created through and its name.
    Postgres {
        /// URL of the maintenance database.
        admin_url: String,
        /// Name of the created database.
        name: String,
    },
}

impl TestDb {
    /// Creates a fresh database and returns it with its URL.
    pub async fn create() -> (TestDb, String) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match std::env::var("SIPAS_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("sipas_test_{id}");
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!("SIPAS_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = replace_db_name(&admin_url, &name);
                (TestDb::Postgres { admin_url, name }, url)
            }
            _ => {
                let dir = std::env::temp_dir().join(format!("sipas-test-{id}"));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.join("sipas.db").display());
                (TestDb::Sqlite(dir), url)
            }
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDb::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a thread with its own runtime.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(admin) = Database::connect(&admin_url).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await;
                            admin.close().await.ok();
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Username of the ministry account every test app starts with.
pub const ADMIN: &str = "admin";
/// Its password (test-only).
pub const ADMIN_PASSWORD: &str = "test-ministry-Passphrase-2026";
/// The password [`TestApp::create_user`] gives users.
pub const USER_PASSWORD: &str = "field-Work-passphrase-42";

/// Settings for a test app on `database_url`, listening on a free port.
pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().expect("address"),
        database_url: Secret::new(database_url.to_owned()),
        database_max_connections: 5,
        database_min_connections: 0,
        log: "warn".into(),
        jwt_secret: Some(Secret::new(
            "test-jwt-key-0123456789abcdef-0123456789".into(),
        )),
        admin_username: ADMIN.into(),
        admin_password: Some(Secret::new(ADMIN_PASSWORD.into())),
        ..Settings::default()
    }
}

/// Starts the app on a fresh database with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app on a fresh database after `customize` has changed the settings.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let (db, url) = TestDb::create().await;
    let mut settings = test_settings(&url);
    customize(&mut settings);
    start(settings, db).await
}

async fn start(settings: Settings, db: TestDb) -> TestApp {
    sipas_server::telemetry::init(&settings.log);
    let app = Application::build(settings.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = app
            .run_until(async move {
                let _ = rx.await;
            })
            .await;
    });
    TestApp {
        address,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
        state,
        settings,
        stop: Some(tx),
        task: Some(task),
        _db: db,
    }
}

impl TestApp {
    /// `address + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request to `path` carrying `token` as a bearer token, if given.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// GET and return status and JSON body (Null when the body is not JSON).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None, None).await
    }

    /// POST a JSON body and return status and JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (status, _, body) = self.call_full(method, path, token, body).await;
        (status, body)
    }

    /// Like [`TestApp::call`], also returning the response headers.
    pub async fn call_full(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let mut req = self.request(method, path, token);
        if let Some(b) = body {
            req = req.json(b);
        }
        read_full(req.send().await.expect("request")).await
    }

    /// GET with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// GET with a bearer token, asserting 200; returns the JSON body.
    pub async fn get_ok(&self, token: &str, path: &str) -> serde_json::Value {
        let (s, body) = self.get_as(token, path).await;
        assert_eq!(s, 200, "GET {path}: {body}");
        body
    }

    /// POST JSON with a bearer token.
    pub async fn post_as(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    /// PATCH JSON with a bearer token.
    pub async fn patch_as(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Stops the server gracefully and waits for it, keeping the database for a restart.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops this app and starts a new one on the same database (a restart).
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let mut settings = self.settings.clone();
        settings.bind = "127.0.0.1:0".parse().expect("address");
        // Move the database guard into the new app so it is dropped only once.
        let db = std::mem::replace(&mut self._db, TestDb::Sqlite(PathBuf::new()));
        start(settings, db).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Reads status and JSON body of a response (Null when the body is not JSON).
pub async fn read(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let (status, _, body) = read_full(resp).await;
    (status, body)
}

/// Reads status, headers and JSON body of a response (Null when the body is not JSON).
pub async fn read_full(
    resp: reqwest::Response,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

/// Asserts `body` is a problem+json with this status and code.
pub fn assert_problem(status: u16, body: &serde_json::Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "status; body: {body}");
    assert_eq!(body["code"], want_code, "code; body: {body}");
    assert_eq!(body["status"], want_status, "status field; body: {body}");
    assert!(body["type"].is_string(), "type; body: {body}");
    assert!(body["title"].is_string(), "title; body: {body}");
    assert!(body["detail"].is_string(), "detail; body: {body}");
}

#[cfg(test)]
mod tests {
    use super::replace_db_name;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            replace_db_name("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_db_name("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            replace_db_name("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
