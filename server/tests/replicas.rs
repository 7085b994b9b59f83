//! Replicas of the real `sipas` binary started at the same moment on one database, as an
//! orchestrator starts them: on an empty database one migrates and seeds while the others wait for
//! the start-up lock, and all of them serve; on a set-up database all of them serve and none
//! writes a single row. Either way the data is there once: one ministry account, one copy of each
//! seeded row. SQLite by default; PostgreSQL when `SIPAS_TEST_DATABASE_URL` is set (a maintenance
//! URL; each test creates and drops its own database).
//!
//! The database helpers are the process tests' (`common`).

use std::{
    io::Read,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};

mod common;
use common::{Db, free_port};

const ADMIN_PASSWORD: &str = "replica-test-Ministry-passphrase";
const JWT: &str = "replica-test-jwt-key-0123456789abcdef-xyz";
/// Replicas started at once.
const REPLICAS: usize = 4;
/// Time for all replicas to be ready: one of them loads the geographies while the others wait,
/// on a 2-core machine that may be building or testing at the same time.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The binary with the test's settings on `db_url`, logging nothing but errors on standard error.
fn sipas(db_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipas"));
    cmd.env("SIPAS_DATABASE_URL", db_url)
        .env("SIPAS_ADMIN_USERNAME", "admin")
        .env("SIPAS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SIPAS_JWT_SECRET", JWT)
        .env("SIPAS_DATABASE_MAX_CONNECTIONS", "4")
        .env("SIPAS_LOG", "warn")
        .env("NO_COLOR", "1");
    cmd
}

/// Server processes this test started; killed when dropped, so that a failing test leaves none
/// behind.
struct Replicas {
    servers: Vec<(Child, u16)>,
}

impl Replicas {
    /// Starts [`REPLICAS`] servers as close together as spawning allows, without waiting for any.
    fn start_at_once(db_url: &str) -> Replicas {
        let servers = (0..REPLICAS)
            .map(|_| {
                let port = free_port();
                let child = sipas(db_url)
                    .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start sipas");
                (child, port)
            })
            .collect();
        Replicas { servers }
    }

    /// Waits until every server answers `/readyz` with 200; fails with the standard error of a
    /// server that exited instead.
    async fn wait_all_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + READY_WITHIN;
        for (child, port) in &mut self.servers {
            loop {
                if let Ok(r) = client
                    .get(format!("http://127.0.0.1:{port}/readyz"))
                    .send()
                    .await
                    && r.status() == 200
                {
                    break;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    let mut stderr = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        e.read_to_string(&mut stderr).ok();
                    }
                    panic!("a replica exited ({status}) instead of serving: {stderr}");
                }
                assert!(
                    Instant::now() < deadline,
                    "a replica was not ready within {READY_WITHIN:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Logs in as the ministry on every server: each one serves from the database.
    async fn log_in_everywhere(&self) {
        let client = reqwest::Client::new();
        for (_, port) in &self.servers {
            let resp = client
                .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
                .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "login on the replica at port {port}");
            let body: Value = resp.json().await.unwrap();
            assert!(body["access_token"].is_string(), "{body}");
        }
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for (child, _) in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// The seeded data is there exactly once: one ministry account, the built-in questionnaire, both
/// geographies with all their units, the successor mapping with all its rows, both rounds, each
/// migration once, and one change-log entry for each seeded thing that clients sync.
async fn assert_seeded_once(db: &DatabaseConnection) {
    let units: usize = geography::all().iter().map(|g| g.units().len()).sum();
    let links = geography::vn_2023_to_2025().len();
    let migrations =
        <sipas_server::migration::Migrator as sea_orm_migration::MigratorTrait>::migrations().len();
    for (sql, want) in [
        ("SELECT COUNT(*) FROM users", 1),
        (
            "SELECT COUNT(*) FROM users WHERE username = 'admin' AND role = 'ministry'",
            1,
        ),
        ("SELECT COUNT(*) FROM questionnaire_versions", 1),
        ("SELECT COUNT(*) FROM geographies", 2),
        ("SELECT COUNT(*) FROM geo_units", units as i64),
        ("SELECT COUNT(*) FROM geo_mappings", 1),
        ("SELECT COUNT(*) FROM geo_successors", links as i64),
        ("SELECT COUNT(*) FROM rounds", 2),
        ("SELECT COUNT(*) FROM seaql_migrations", migrations as i64),
        (
            "SELECT COUNT(*) FROM sync_changes WHERE kind = 'questionnaire_published'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM sync_changes WHERE kind = 'round_changed'",
            2,
        ),
        ("SELECT COUNT(*) FROM sync_changes", 3),
    ] {
        assert_eq!(count(db, sql).await, want, "{sql}");
    }
}

/// Makes every table of the database count the rows written to it (inserted, updated or deleted)
/// in `test_row_writes`, with a trigger per table. Returns the tables watched.
async fn count_row_writes(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let list = match backend {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
              WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        }
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, list))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    db.execute_unprepared("CREATE TABLE test_row_writes (tbl TEXT NOT NULL, op TEXT NOT NULL)")
        .await
        .unwrap();
    if backend == DbBackend::Postgres {
        db.execute_unprepared(
            "CREATE FUNCTION test_count_row_write() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN INSERT INTO test_row_writes VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$",
        )
        .await
        .unwrap();
    }
    for t in &tables {
        let sql = match backend {
            DbBackend::Sqlite => ["INSERT", "UPDATE", "DELETE"]
                .map(|op| {
                    format!(
                        "CREATE TRIGGER \"test_{t}_{op}\" AFTER {op} ON \"{t}\" BEGIN \
                         INSERT INTO test_row_writes VALUES ('{t}', '{op}'); END;"
                    )
                })
                .join("\n"),
            _ => format!(
                "CREATE TRIGGER \"test_{t}_writes\" AFTER INSERT OR UPDATE OR DELETE ON \"{t}\" \
                 FOR EACH ROW EXECUTE FUNCTION test_count_row_write()"
            ),
        };
        db.execute_unprepared(&sql).await.unwrap();
    }
    tables
}

/// The rows written since [`count_row_writes`], per table and operation.
async fn row_writes(db: &DatabaseConnection) -> Vec<(String, String, i64)> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT tbl, op, COUNT(*) FROM test_row_writes GROUP BY tbl, op ORDER BY tbl, op",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
            r.try_get_by_index(2).unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn replicas_started_at_once_on_an_empty_database_all_serve() {
    let db = Db::fresh("replicas").await;
    let started = Instant::now();
    let mut replicas = Replicas::start_at_once(&db.url);
    replicas.wait_all_ready().await;
    eprintln!(
        "{REPLICAS} replicas on an empty database ready in {} ms",
        started.elapsed().as_millis()
    );
    replicas.log_in_everywhere().await;
    let conn = db.connect().await;
    assert_seeded_once(&conn).await;
    conn.close().await.ok();
    drop(replicas);
    db.remove().await;
}

#[tokio::test]
async fn replicas_started_at_once_on_a_set_up_database_all_serve_and_write_nothing() {
    let db = Db::fresh("replicas").await;
    let out = sipas(&db.url)
        .arg("migrate")
        .output()
        .expect("run sipas migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = db.connect().await;
    let watched = count_row_writes(&conn).await;
    assert!(watched.len() >= 10, "tables watched: {watched:?}");

    let started = Instant::now();
    let mut replicas = Replicas::start_at_once(&db.url);
    replicas.wait_all_ready().await;
    eprintln!(
        "{REPLICAS} replicas on a set-up database ready in {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(
        row_writes(&conn).await,
        [],
        "starting on a set-up database wrote rows"
    );
    assert_seeded_once(&conn).await;

    // The counting itself works on this backend: one changed row is one counted write.
    conn.execute_unprepared(
        "UPDATE rounds SET min_cell_size = min_cell_size + 1 WHERE code = 'sipas-2025'",
    )
    .await
    .unwrap();
    assert_eq!(
        row_writes(&conn).await,
        [("rounds".to_owned(), "UPDATE".to_owned(), 1)]
    );
    // Last: a login writes rows of its own.
    replicas.log_in_everywhere().await;
    conn.close().await.ok();
    drop(replicas);
    db.remove().await;
}
