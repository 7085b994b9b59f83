//! Opening the database: SQLite (embedded default) or PostgreSQL, chosen by the URL.

use std::{str::FromStr, time::Duration};

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr,
    sqlx::{
        self,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};

use crate::settings::Settings;

/// Opens a pool for `settings.database_url`. For SQLite: creates the parent folder and the file,
/// turns on WAL, foreign keys and a busy timeout so concurrent writers wait instead of failing.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.database_url.expose().clone();
    if settings.is_sqlite() {
        create_sqlite_parent_dir(&url);
    }
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(settings.database_max_connections)
        .min_connections(
            settings
                .database_min_connections
                .min(settings.database_max_connections),
        )
        .acquire_timeout(Duration::from_secs(settings.database_acquire_timeout_secs))
        // A push takes a pooled connection three times or more (sign-in check, registry read, the
        // transaction, which on SQLite the writer thread takes for the pushes it groups, and the
        // lookups when it is decided again); pinging each one on every checkout doubled those
        // round trips. Only a connection idle long enough to have been dropped by the server or a
        // firewall is checked first.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    let synchronous = SqliteSynchronous::from_str(&settings.sqlite_synchronous)
        .unwrap_or(SqliteSynchronous::Full);
    opts.map_sqlx_sqlite_opts(move |o| {
        o.create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-65536")
    });
    Database::connect(opts).await
}

/// SQLite does not create folders: make `./data/` (or whatever the URL names) if it is missing.
fn create_sqlite_parent_dir(url: &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return;
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        tracing::warn!(path = %parent.display(), error = %e, "could not create the database folder");
    }
}

/// A database failure in one line for a start-up error: the database's own message when it sent
/// one, without the driver's wrapping ("Execution Error: error returned from database:") or
/// PostgreSQL's source line, else the driver's.
pub fn cause(e: &DbErr) -> String {
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_cause(e),
        DbErr::Conn(RuntimeErr::Internal(s))
        | DbErr::Exec(RuntimeErr::Internal(s))
        | DbErr::Query(RuntimeErr::Internal(s)) => s.clone(),
        other => other.to_string(),
    }
}

/// [`cause`] for a driver error.
fn sqlx_cause(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_owned(),
        sqlx::Error::Io(e) => e.to_string(),
        sqlx::Error::PoolTimedOut => {
            "no connection could be opened in time (is the database server running?)".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn cause_drops_the_driver_wrapping() {
        let refused = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused"),
        ))));
        assert_eq!(cause(&refused), "Connection refused");
        let internal = DbErr::Exec(RuntimeErr::Internal("table x already exists".into()));
        assert_eq!(cause(&internal), "table x already exists");
        let timed_out = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(sqlx::Error::PoolTimedOut)));
        assert!(cause(&timed_out).starts_with("no connection could be opened in time"));
    }
}
