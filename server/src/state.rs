//! Shared application state handed to every handler.

use std::{sync::Arc, time::Duration};

use sea_orm::{DatabaseConnection, DbBackend};

use crate::{
    admission::{Gate, default_export_concurrency, default_push_concurrency},
    auth::{password::Passwords, throttle::LoginThrottle, tokens::TokenKeys},
    definitions::Definitions,
    reports::RoundStatsCache,
    settings::Settings,
    sync::PushRaces,
    writer::Writer,
};

/// What handlers share: the database pool, the settings, the token keys, the password hasher and
/// the login throttle, caches, and on SQLite the push writer thread. Cheap to clone; keys live
/// here, never in globals.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The settings the app was built with.
    pub settings: Arc<Settings>,
    /// Access-token keys and lifetimes.
    pub tokens: Arc<TokenKeys>,
    /// argon2id hashing, off the async runtime.
    pub passwords: Passwords,
    /// Failed-login counts.
    pub throttle: Arc<LoginThrottle>,
    /// Published questionnaire versions, parsed, with their stats layouts.
    pub definitions: Arc<Definitions>,
    /// Whole-round index stats last read, checked against the database before each use.
    pub round_stats: Arc<RoundStatsCache>,
    /// On SQLite, the thread that writes pushes (see [`Writer`]); `None` on PostgreSQL,
    /// where each push writes in its own transaction, and on SQLite if the thread could not be
    /// started (each push then takes the write lock on its own).
    pub writer: Option<Arc<Writer>>,
    /// Races met while storing pushes (see [`PushRaces`]).
    pub push_races: Arc<PushRaces>,
    /// How many pushes are handled at once, and how many wait (see [`Gate`]).
    pub push_gate: Arc<Gate>,
    /// How many exports stream at once, and how many wait (see [`Gate`]).
    pub export_gate: Arc<Gate>,
}

impl AppState {
    /// Builds the state around an open database.
    pub fn new(db: DatabaseConnection, settings: Settings, passwords: Passwords) -> AppState {
        let writer = if db.get_database_backend() == DbBackend::Sqlite {
            match Writer::spawn(db.clone()) {
                Ok(w) => Some(Arc::new(w)),
                Err(e) => {
                    // Each push then takes SQLite's write lock on its own: slower, not wrong.
                    tracing::warn!(error = %e, "could not start the SQLite writer thread");
                    None
                }
            }
        } else {
            None
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let push_gate = Arc::new(Gate::new(
            match settings.push_concurrency {
                0 => default_push_concurrency(cores),
                n => n,
            },
            settings.push_queue,
            Duration::from_secs(settings.push_queue_wait_secs),
            2,
        ));
        let export_gate = Arc::new(
            Gate::new(
                match settings.export_concurrency {
                    0 => default_export_concurrency(cores),
                    n => n,
                },
                settings.export_queue,
                Duration::from_secs(10),
                30,
            )
            .saying(
                "Máy chủ đang xuất nhiều tệp cùng lúc; hãy thử lại sau ít phút.",
                "The server is busy with other exports; try again in a few minutes.",
            ),
        );
        AppState {
            push_gate,
            export_gate,
            writer,
            db,
            tokens: Arc::new(TokenKeys::new(&settings)),
            passwords,
            throttle: Arc::new(LoginThrottle::new(Duration::from_secs(
                settings.login_throttle_secs,
            ))),
            settings: Arc::new(settings),
            definitions: Arc::new(Definitions::default()),
            round_stats: Arc::new(RoundStatsCache::default()),
            push_races: Arc::new(PushRaces::default()),
        }
    }
}
