//! Opening the database: SQLite (embedded default) or PostgreSQL, chosen by the URL; and the
//! start-up lock that lets one process at a time migrate and seed it.

use std::{
    fs::{File, TryLockError},
    path::{Path, PathBuf},
    str::FromStr,
    time::{Duration, Instant},
};

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr,
    sqlx::{
        self, Connection,
        postgres::PgConnection,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};

use crate::settings::Settings;

/// The page cache of each pooled SQLite connection, in KiB (`PRAGMA cache_size = -N`).
pub const SQLITE_CACHE_KIB: u32 = 65536;

/// The page cache an export's connection keeps while it reads a round in `seq` order, in KiB: a
/// sequential read gains nothing from a larger one, and a million forms would otherwise fill the
/// pool's 64 MiB with pages read once.
pub const SQLITE_EXPORT_CACHE_KIB: u32 = 4096;

/// Opens a pool for `settings.database_url`. For SQLite: creates the parent folder and the file,
/// turns on WAL, foreign keys and a busy timeout so concurrent writers wait instead of failing.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.database_url.expose().clone();
    if settings.is_sqlite() {
        create_sqlite_parent_dir(&url);
        // The file is relative to the working directory: said in full, so that a start from
        // another directory (which opens another, empty database) is noticed at once.
        match sqlite_file(&url) {
            Some(file) => tracing::info!(
                file = %std::path::absolute(file).unwrap_or_else(|_| file.to_owned()).display(),
                "using the SQLite database file"
            ),
            None => tracing::warn!("using an in-memory SQLite database: nothing is kept"),
        }
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
            .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
    });
    Database::connect(opts).await
}

/// SQLite does not create folders: make `./data/` (or whatever the URL names) if it is missing.
fn create_sqlite_parent_dir(url: &str) {
    let Some(path) = sqlite_file(url) else {
        return;
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        tracing::warn!(path = %parent.display(), error = %e, "could not create the database folder");
    }
}

/// The file a SQLite URL names (`sqlite://data/sipas.db?mode=rwc` gives `data/sipas.db`), or
/// `None` for an in-memory database (`sqlite::memory:`, `mode=memory`), which no other process can
/// open.
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty()
        || path.starts_with(":memory:")
        || query.split('&').any(|kv| kv == "mode=memory");
    (!in_memory).then(|| Path::new(path))
}

/// Whether the URL names a PostgreSQL database (the two schemes its driver accepts).
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The lock file beside a SQLite database (`sipas.db` gives `sipas.db.startup-lock`). A file of
/// its own: SQLite's locks on the database file are POSIX record locks, and on some file systems
/// (NFS) a whole-file lock is emulated with those, which would then collide with SQLite's.
fn sqlite_lock_file(db_file: &Path) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".startup-lock");
    PathBuf::from(name)
}

/// The key of the PostgreSQL advisory lock held while one process migrates and seeds ("SIPASUP!"
/// in ASCII). Advisory locks are per database, so servers on other databases of the same
/// PostgreSQL server never wait for each other.
const PG_STARTUP_LOCK_KEY: i64 = 0x5349_5041_5355_5021;

/// How long a process waits for another one to finish migrating and seeding before it gives up:
/// a first start loads the geographies in seconds, so this long means the other process is stuck.
pub const STARTUP_LOCK_WAIT: Duration = Duration::from_secs(600);

/// How often a waiting process tries the lock again, and how often it says it is still waiting.
const LOCK_RETRY: Duration = Duration::from_millis(100);
const LOCK_WAIT_LOG: Duration = Duration::from_secs(15);

/// Why the start-up lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The dedicated PostgreSQL connection for the lock could not be opened.
    #[error(
        "không kết nối được PostgreSQL / cannot connect to PostgreSQL: {}",
        sqlx_cause(.0)
    )]
    Connect(sqlx::Error),
    /// PostgreSQL did not answer the connection in time.
    #[error("PostgreSQL không trả lời trong {0} giây / PostgreSQL did not answer within {0} s")]
    ConnectTimeout(u64),
    /// Asking PostgreSQL for the lock failed.
    #[error(
        "không lấy được khoá khởi động / cannot take the start-up lock: {}",
        sqlx_cause(.0)
    )]
    Query(sqlx::Error),
    /// The lock file beside the SQLite database could not be opened or locked.
    #[error(
        "không dùng được tệp khoá khởi động {} / cannot use the start-up lock file {}: {source}",
        .path.display(), .path.display()
    )]
    File {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process held the lock for longer than [`STARTUP_LOCK_WAIT`].
    #[error(
        "một tiến trình sipas khác đã giữ khoá khởi động hơn {0} giây (khoá được trả khi tiến trình đó dừng) / another sipas process has held the start-up lock for over {0} s (it is freed when that process stops)"
    )]
    TimedOut(u64),
}

/// The right to migrate and seed the database, held by one process at a time among all those
/// started on it, so that replicas started together do not race on creating the same tables and
/// rows. On PostgreSQL a session advisory lock on a connection of its own (outside the pool, so no
/// pooled connection is pinned and none can be recycled under the lock); on a SQLite file an
/// exclusive lock on a file beside it (SQLite's own write lock cannot span the many transactions
/// of migrating and seeding). Either is released when the process dies, with its connection or
/// its open file. An in-memory SQLite database needs none.
pub struct StartupLock {
    held: Held,
}

enum Held {
    Postgres(PgConnection),
    File(File),
    Nothing,
}

impl StartupLock {
    /// Waits (up to [`STARTUP_LOCK_WAIT`]) until no other process holds the lock, then takes it.
    pub async fn acquire(settings: &Settings) -> Result<StartupLock, LockError> {
        let url = settings.database_url.expose();
        let held = if settings.is_sqlite() {
            match sqlite_file(url) {
                Some(db_file) => {
                    create_sqlite_parent_dir(url);
                    match lock_file(&sqlite_lock_file(db_file)).await? {
                        Some(file) => Held::File(file),
                        None => Held::Nothing,
                    }
                }
                None => Held::Nothing,
            }
        } else if is_postgres(url) {
            Held::Postgres(lock_postgres(url, settings.database_acquire_timeout_secs).await?)
        } else {
            // Neither: opening the pool fails next, saying the URL has no driver.
            Held::Nothing
        };
        Ok(StartupLock { held })
    }

    /// Lets the next process in. Failing to unlock is only logged: the lock goes with the
    /// connection or the file, which this closes.
    pub async fn release(self) {
        match self.held {
            Held::Postgres(mut conn) => {
                let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
                    .bind(PG_STARTUP_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await;
                match unlocked {
                    Ok(true) => {}
                    // The session was lost while it held the lock, so the lock went with it:
                    // another process may have migrated at the same time.
                    Ok(false) => {
                        tracing::warn!("the start-up lock was no longer held when released")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not release the start-up lock")
                    }
                }
                conn.close().await.ok();
            }
            Held::File(file) => {
                if let Err(e) = file.unlock() {
                    tracing::warn!(error = %e, "could not unlock the start-up lock file");
                }
            }
            Held::Nothing => {}
        }
    }
}

/// Opens a connection of its own and takes the advisory lock on it, trying again until
/// [`STARTUP_LOCK_WAIT`] has passed. `pg_try_advisory_lock` rather than a blocking
/// `pg_advisory_lock`: a server's `statement_timeout` cannot cut the wait short, and the wait is
/// logged.
async fn lock_postgres(url: &str, connect_timeout_secs: u64) -> Result<PgConnection, LockError> {
    let mut conn = tokio::time::timeout(
        Duration::from_secs(connect_timeout_secs),
        PgConnection::connect(url),
    )
    .await
    .map_err(|_| LockError::ConnectTimeout(connect_timeout_secs))?
    .map_err(LockError::Connect)?;
    let mut wait = LockWait::start();
    loop {
        let taken = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
            .bind(PG_STARTUP_LOCK_KEY)
            .fetch_one(&mut conn)
            .await
            .map_err(LockError::Query)?;
        if taken {
            wait.taken();
            return Ok(conn);
        }
        wait.pause().await?;
    }
}

/// Opens (creating it if needed) the lock file and locks it, trying again until
/// [`STARTUP_LOCK_WAIT`] has passed. `None` when the file system has no locks: a single process
/// on it is still correct, so it starts with a warning.
async fn lock_file(path: &Path) -> Result<Option<File>, LockError> {
    let fail = |source| LockError::File {
        path: path.to_owned(),
        source,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(fail)?;
    let mut wait = LockWait::start();
    loop {
        match file.try_lock() {
            Ok(()) => {
                wait.taken();
                return Ok(Some(file));
            }
            Err(TryLockError::WouldBlock) => wait.pause().await?,
            Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                tracing::warn!(
                    path = %path.display(),
                    "the file system cannot lock files: several server processes must not start at once on this database"
                );
                return Ok(None);
            }
            Err(TryLockError::Error(e)) => return Err(fail(e)),
        }
    }
}

/// The wait for a lock another process holds: tries are [`LOCK_RETRY`] apart, the wait is logged
/// every [`LOCK_WAIT_LOG`], and given up after [`STARTUP_LOCK_WAIT`].
struct LockWait {
    started: Instant,
    next_log: Duration,
}

impl LockWait {
    fn start() -> LockWait {
        LockWait {
            started: Instant::now(),
            next_log: Duration::ZERO,
        }
    }

    /// After a failed try: sleeps until the next one, or fails when waited long enough.
    async fn pause(&mut self) -> Result<(), LockError> {
        let waited = self.started.elapsed();
        if waited >= STARTUP_LOCK_WAIT {
            return Err(LockError::TimedOut(STARTUP_LOCK_WAIT.as_secs()));
        }
        if waited >= self.next_log {
            tracing::info!(
                waited_s = waited.as_secs(),
                "another server process is migrating or seeding the database: waiting for it"
            );
            self.next_log = waited + LOCK_WAIT_LOG;
        }
        tokio::time::sleep(LOCK_RETRY).await;
        Ok(())
    }

    /// After the successful try.
    fn taken(self) {
        if self.next_log > Duration::ZERO {
            tracing::info!(
                waited_ms = self.started.elapsed().as_millis() as u64,
                "took the start-up lock"
            );
        }
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
    fn sqlite_file_is_the_path_of_the_url_and_none_in_memory() {
        for (url, want) in [
            ("sqlite://data/sipas.db?mode=rwc", Some("data/sipas.db")),
            ("sqlite:///var/lib/sipas/s.db", Some("/var/lib/sipas/s.db")),
            ("sqlite:s.db", Some("s.db")),
            ("sqlite::memory:", None),
            ("sqlite://:memory:", None),
            ("sqlite://s.db?cache=shared&mode=memory", None),
            ("sqlite://", None),
        ] {
            assert_eq!(sqlite_file(url), want.map(Path::new), "{url}");
        }
    }

    #[test]
    fn only_postgres_urls_take_the_advisory_lock() {
        assert!(is_postgres("postgres://u@h/db"));
        assert!(is_postgres("postgresql://u@h:5432/db?sslmode=require"));
        assert!(!is_postgres("mysql://u@h/db"));
        assert!(!is_postgres("garbage"));
    }

    #[test]
    fn the_lock_file_sits_beside_the_database() {
        assert_eq!(
            sqlite_lock_file(Path::new("data/sipas.db")),
            Path::new("data/sipas.db.startup-lock")
        );
    }

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

    /// Two processes cannot both hold the file lock; modelled with two open files, which `flock`
    /// treats as two holders even in one process.
    #[tokio::test]
    async fn a_held_lock_file_is_not_taken_again_until_unlocked() {
        let dir = std::env::temp_dir().join(format!("sipas-lock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.db.startup-lock");
        let first = lock_file(&path)
            .await
            .unwrap()
            .expect("file locks work here");
        let second = File::options().write(true).open(&path).unwrap();
        assert!(matches!(second.try_lock(), Err(TryLockError::WouldBlock)));
        first.unlock().unwrap();
        let second = lock_file(&path).await.unwrap();
        assert!(second.is_some());
        drop(second);
        std::fs::remove_dir_all(dir).ok();
    }
}
