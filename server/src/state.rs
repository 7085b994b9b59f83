//! Shared application state handed to every handler.

use std::{sync::Arc, time::Duration};

use sea_orm::{DatabaseConnection, DbBackend};

use crate::{
    auth::{password::Passwords, throttle::LoginThrottle, tokens::TokenKeys},
    index_stats::Layouts,
    reports::RoundStatsCache,
    settings::Settings,
    sync::{PushLoad, QuestionnaireCache, Writer},
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
    /// Parsed questionnaire definitions.
    pub questionnaires: Arc<QuestionnaireCache>,
    /// Index-stats layouts per questionnaire version.
    pub layouts: Arc<Layouts>,
    /// Whole-round index stats last read, checked against the database before each use.
    pub round_stats: Arc<RoundStatsCache>,
    /// On SQLite, the thread that writes pushes (see `sync::Writer`); `None` on PostgreSQL,
    /// where each push writes in its own transaction, and on SQLite if the thread could not be
    /// started (each push then takes the write lock on its own).
    pub writer: Option<Arc<Writer>>,
    /// Pushes being handled now: a push that finds none other prepares its forms on every core.
    pub pushes: Arc<PushLoad>,
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
        AppState {
            writer,
            db,
            tokens: Arc::new(TokenKeys::new(&settings)),
            passwords,
            throttle: Arc::new(LoginThrottle::new(Duration::from_secs(
                settings.login_throttle_secs,
            ))),
            settings: Arc::new(settings),
            questionnaires: Arc::new(QuestionnaireCache::default()),
            layouts: Arc::new(Layouts::default()),
            round_stats: Arc::new(RoundStatsCache::default()),
            pushes: Arc::new(PushLoad::new()),
        }
    }
}
