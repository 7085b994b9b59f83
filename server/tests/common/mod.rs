//! What the server's process and storm tests share: a fresh database of the kind the run asks
//! for, dropped afterwards, and a free port. SQLite in a new temp folder by default; a uniquely
//! named PostgreSQL database when `SIPAS_TEST_DATABASE_URL` is set (a maintenance URL), which
//! fails the test when unreachable rather than skipping it.

// Each test binary uses the part it needs.
#![allow(dead_code)]

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

/// A fresh database for one test; [`Db::remove`] drops it afterwards.
pub struct Db {
    /// Its connection URL.
    pub url: String,
    /// (maintenance URL, database name) for PostgreSQL.
    pub postgres: Option<(String, String)>,
    /// Folder of the SQLite file.
    pub dir: Option<std::path::PathBuf>,
}

impl Db {
    /// A new empty database; `tag` names it (`sipas_{tag}_{id}`, `sipas-{tag}-{id}`).
    pub async fn fresh(tag: &str) -> Db {
        let id = Uuid::new_v4().simple().to_string();
        match std::env::var("SIPAS_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("sipas_{tag}_{id}");
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("SIPAS_TEST_DATABASE_URL is set but PostgreSQL is unreachable");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                Db {
                    url: format!("{base}/{name}"),
                    postgres: Some((admin_url.clone(), name)),
                    dir: None,
                }
            }
            _ => {
                let dir = std::env::temp_dir().join(format!("sipas-{tag}-{id}"));
                std::fs::create_dir_all(&dir).unwrap();
                Db {
                    url: format!("sqlite://{}?mode=rwc", dir.join("sipas.db").display()),
                    postgres: None,
                    dir: Some(dir),
                }
            }
        }
    }

    /// Opens a connection of the test's own.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("open the test database")
    }

    /// Drops the database (PostgreSQL) or removes its folder (SQLite).
    pub async fn remove(self) {
        if let Some((admin_url, name)) = self.postgres
            && let Ok(admin) = Database::connect(&admin_url).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A port free on the loopback interface now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
