//! Helpers shared by the benchmarks: a fresh database of the kind asked for, and server settings.

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
        jwt_secret: Some(Secret::new(
            "bench-jwt-key-0123456789abcdef-0123456789".into(),
        )),
        admin_password: Some(Secret::new(ADMIN_PASSWORD.into())),
        ..Settings::default()
    }
}

/// The first ministry account's password in [`settings`].
pub const ADMIN_PASSWORD: &str = "bench-Ministry-passphrase-2026";
