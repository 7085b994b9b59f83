//! Typed settings: built-in defaults, then an optional TOML file, then `SIPAS_*` environment variables
//! (later sources win). Secrets are wrapped in [`Secret`] so they never appear in `Debug` output or logs.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// A value that must not be printed: `Debug` shows `[redacted]`.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret<String> {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

/// Whether the server runs for development or production. Production refuses unsafe defaults.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local development and tests.
    #[default]
    Development,
    /// A real deployment.
    Production,
}

/// All settings of the server. Every field has a default, so an empty environment starts a working
/// server on an embedded SQLite file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// Development or production (`SIPAS_ENVIRONMENT`).
    pub environment: Environment,
    /// Listen address (`SIPAS_BIND`), default 127.0.0.1:8080.
    pub bind: SocketAddr,
    /// Database URL (`SIPAS_DATABASE_URL`): `sqlite://path?mode=rwc` or `postgres://...`.
    /// Secret because a PostgreSQL URL may carry a password.
    pub database_url: Secret<String>,
    /// Maximum pool size (`SIPAS_DATABASE_MAX_CONNECTIONS`).
    pub database_max_connections: u32,
    /// Minimum idle connections kept open (`SIPAS_DATABASE_MIN_CONNECTIONS`).
    pub database_min_connections: u32,
    /// Seconds to wait for a pooled connection before failing a request.
    pub database_acquire_timeout_secs: u64,
    /// SQLite `synchronous` pragma: `full` (default: a form acknowledged is on disk even after a power
    /// loss) or `normal` (faster; survives a process crash but not a power loss).
    pub sqlite_synchronous: String,
    /// Largest accepted request body, in bytes (`SIPAS_BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
    /// Seconds before a request is abandoned with 408.
    pub request_timeout_secs: u64,
    /// `tracing` filter directive (`SIPAS_LOG`; `RUST_LOG` also works when this is unset).
    pub log: String,
    /// HMAC key for access tokens (`SIPAS_JWT_SECRET`, at least 32 bytes). Required in production;
    /// in development a random key is made per process (tokens then die with the process).
    pub jwt_secret: Option<Secret<String>>,
    /// Access-token lifetime in seconds (short: refresh tokens carry the long session).
    pub access_token_ttl_secs: u64,
    /// Refresh-token lifetime in days, renewed at every refresh (a field period, offline for weeks).
    pub refresh_token_ttl_days: u64,
    /// Username of the ministry account created on first start (`SIPAS_ADMIN_USERNAME`).
    pub admin_username: String,
    /// Its password (`SIPAS_ADMIN_PASSWORD`); when absent a random one is generated and logged once.
    pub admin_password: Option<Secret<String>>,
    /// Failed logins for one username before it is throttled.
    pub login_max_failures_per_user: u32,
    /// Failed logins from one client IP before it is throttled (a post office may share one IP).
    pub login_max_failures_per_ip: u32,
    /// Window and base lock time for login throttling, in seconds.
    pub login_throttle_secs: u64,
    /// argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// argon2id parallelism (OWASP: 1).
    pub argon2_parallelism: u32,
    /// Pushes handled at once (`SIPAS_PUSH_CONCURRENCY`); 0, the default, is 8 per core. A push
    /// beyond waits for a turn before its body is read (see `admission`).
    pub push_concurrency: usize,
    /// Pushes that may wait for a turn (`SIPAS_PUSH_QUEUE`); more get 503 with `Retry-After`.
    pub push_queue: usize,
    /// Seconds a push waits for a turn before it gets 503 (`SIPAS_PUSH_QUEUE_WAIT_SECS`).
    pub push_queue_wait_secs: u64,
    /// Exports streamed at once (`SIPAS_EXPORT_CONCURRENCY`); 0, the default, is one per core
    /// (at least two). Each holds a database connection and a core while it runs.
    pub export_concurrency: usize,
    /// Exports that may wait up to 10 s for a turn (`SIPAS_EXPORT_QUEUE`); more get 503 `busy`
    /// with `Retry-After`.
    pub export_queue: usize,
    /// Password hashes run at once (`SIPAS_PASSWORD_HASHERS`); unset: the cores, but no more than
    /// fit in 40 MiB of argon2 memory, two at OWASP parameters (see `auth::password::HashBound`).
    pub password_hashers: Option<u32>,
    /// Logins that may wait for a hasher (`SIPAS_PASSWORD_HASH_QUEUE`); one more is answered 503
    /// `busy` with `Retry-After`. Unset: 8 per hasher.
    pub password_hash_queue: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            environment: Environment::Development,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: Secret::new(DEFAULT_DATABASE_URL.to_owned()),
            database_max_connections: 16,
            database_min_connections: 1,
            database_acquire_timeout_secs: 30,
            sqlite_synchronous: "full".to_owned(),
            body_limit_bytes: 8 * 1024 * 1024,
            request_timeout_secs: 60,
            log: "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn".to_owned(),
            jwt_secret: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 60,
            admin_username: "admin".to_owned(),
            admin_password: None,
            login_max_failures_per_user: 5,
            login_max_failures_per_ip: 50,
            login_throttle_secs: 15 * 60,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            push_concurrency: 0,
            push_queue: 256,
            push_queue_wait_secs: 10,
            export_concurrency: 0,
            export_queue: 8,
            password_hashers: None,
            password_hash_queue: None,
        }
    }
}

/// The embedded default: a SQLite file under `./data/`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/sipas.db?mode=rwc";

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A source had a value of the wrong type, or the file could not be parsed.
    #[error("invalid settings: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// The settings are well-formed but unsafe or contradictory.
    #[error("invalid settings: {0}")]
    Rejected(String),
}

impl Settings {
    /// Loads defaults, then `file` (or `SIPAS_CONFIG`, or `./sipas.toml` if it exists), then the
    /// `SIPAS_*` environment.
    pub fn load(file: Option<PathBuf>) -> Result<Settings, SettingsError> {
        let file = file
            .or_else(|| std::env::var_os("SIPAS_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("sipas.toml");
                p.exists().then_some(p)
            });
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig.merge(Env::prefixed("SIPAS_").ignore(&["config", "test_database_url"]));
        let mut s: Settings = fig.extract().map_err(Box::new)?;
        // An empty value is what `docker compose` passes for an unset variable
        // (`${SIPAS_ADMIN_PASSWORD:-}`): it means "not set", so a password is generated.
        if s.admin_password
            .as_ref()
            .is_some_and(|p| p.expose().is_empty())
        {
            s.admin_password = None;
        }
        s.check()?;
        Ok(s)
    }

    /// Rejects contradictory values early, with a message naming the setting.
    pub fn check(&self) -> Result<(), SettingsError> {
        if self.database_max_connections == 0 {
            return Err(SettingsError::Rejected(
                "database_max_connections must be at least 1".into(),
            ));
        }
        if !matches!(
            self.sqlite_synchronous.as_str(),
            "full" | "normal" | "extra"
        ) {
            return Err(SettingsError::Rejected(
                "sqlite_synchronous must be one of full, normal, extra".into(),
            ));
        }
        if self.environment == Environment::Production {
            match &self.jwt_secret {
                Some(k) if k.expose().len() >= 32 => {}
                _ => {
                    return Err(SettingsError::Rejected(
                        "production requires SIPAS_JWT_SECRET of at least 32 bytes".into(),
                    ));
                }
            }
        } else if let Some(k) = &self.jwt_secret
            && k.expose().len() < 32
        {
            return Err(SettingsError::Rejected(
                "jwt_secret must be at least 32 bytes".into(),
            ));
        }
        if self.password_hashers == Some(0) {
            return Err(SettingsError::Rejected(
                "password_hashers must be at least 1".into(),
            ));
        }
        if self.access_token_ttl_secs == 0 || self.refresh_token_ttl_days == 0 {
            return Err(SettingsError::Rejected(
                "token lifetimes must be positive".into(),
            ));
        }
        Ok(())
    }

    /// True when the database is SQLite.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose().starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_database_url() {
        let s = Settings {
            database_url: "postgres://u:hunter2@db/sipas".into(),
            ..Settings::default()
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn production_refuses_a_missing_or_short_jwt_key() {
        let mut s = Settings {
            environment: Environment::Production,
            ..Settings::default()
        };
        assert!(s.check().is_err());
        s.jwt_secret = Some("short".into());
        assert!(s.check().is_err());
        s.jwt_secret = Some("0123456789abcdef0123456789abcdef".into());
        s.check().unwrap();
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn defaults_are_sqlite_on_localhost() {
        let s = Settings::default();
        assert!(s.is_sqlite());
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        s.check().unwrap();
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.
    fn the_hash_bound_comes_from_the_environment_and_refuses_no_hashers() {
        figment::Jail::expect_with(|jail| {
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!((s.password_hashers, s.password_hash_queue), (None, None));
            jail.set_env("SIPAS_PASSWORD_HASHERS", "3");
            jail.set_env("SIPAS_PASSWORD_HASH_QUEUE", "12");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                (s.password_hashers, s.password_hash_queue),
                (Some(3), Some(12))
            );
            jail.set_env("SIPAS_PASSWORD_HASHERS", "0");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.
    fn an_empty_admin_password_is_no_admin_password() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SIPAS_ADMIN_PASSWORD", "");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert!(s.admin_password.is_none());
            jail.set_env("SIPAS_ADMIN_PASSWORD", "a long passphrase of yours");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                s.admin_password.map(|p| p.expose().clone()).as_deref(),
                Some("a long passphrase of yours")
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.
    fn file_then_env_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("s.toml", "bind = \"0.0.0.0:9000\"\nlog = \"debug\"\n")?;
            jail.set_env("SIPAS_BIND", "127.0.0.1:9100");
            jail.set_env("SIPAS_DATABASE_MAX_CONNECTIONS", "3");
            let s = Settings::load(Some("s.toml".into())).map_err(|e| e.to_string())?;
            assert_eq!(s.bind.to_string(), "127.0.0.1:9100");
            assert_eq!(s.log, "debug");
            assert_eq!(s.database_max_connections, 3);
            Ok(())
        });
    }
}
