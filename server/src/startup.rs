//! Building and running the application: one code path for `main` and for the tests.

use std::{future::Future, net::SocketAddr, time::Instant};

use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;

use crate::{
    auth::password::Passwords, db, migration::Migrator, routes, seed, settings::Settings,
    state::AppState,
};

/// Why the application could not start. Each message is one sentence, Vietnamese then English,
/// ending with the database's own words for the cause: it is what an operator reads when a
/// replica does not come up.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The start-up lock could not be taken (see [`db::StartupLock`]).
    #[error(transparent)]
    Lock(#[from] db::LockError),
    /// The database could not be opened.
    // No `#[source]` on the database errors: the message already ends with their cause, and
    // the full chain would repeat it wrapped in the driver's words.
    #[error(
        "không mở được cơ sở dữ liệu / cannot open the database: {}",
        db::cause(.0)
    )]
    Connect(sea_orm::DbErr),
    /// A migration failed.
    #[error(
        "nâng cấp cấu trúc cơ sở dữ liệu thất bại / database migration failed: {}",
        db::cause(.0)
    )]
    Migrate(sea_orm::DbErr),
    /// Reference data could not be loaded.
    #[error("nạp dữ liệu tham chiếu thất bại / loading reference data failed: {0}")]
    Seed(#[from] seed::SeedError),
    /// The password hasher could not be set up.
    #[error(transparent)]
    Hasher(#[from] crate::auth::password::HashError),
    /// The first ministry account could not be created.
    #[error(
        "tạo tài khoản Bộ đầu tiên thất bại / creating the first ministry account failed: {}",
        bootstrap_cause(.0)
    )]
    Bootstrap(crate::users::UserError),
    /// The listen address could not be bound.
    #[error("không nghe được trên {addr} / cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::users::UserError> for StartupError {
    fn from(e: crate::users::UserError) -> Self {
        StartupError::Bootstrap(e)
    }
}

/// Why the first ministry account was refused, in the operator's terms: each problem with the
/// setting it comes from (`SIPAS_ADMIN_USERNAME`, `SIPAS_ADMIN_PASSWORD`) and its two messages,
/// rather than the problems' debug form.
fn bootstrap_cause(e: &crate::users::UserError) -> String {
    use crate::users::UserError;
    match e {
        UserError::Invalid(problems) => problems
            .iter()
            .map(|p| {
                let setting = match p.field.as_str() {
                    "username" => "SIPAS_ADMIN_USERNAME",
                    "password" => "SIPAS_ADMIN_PASSWORD",
                    other => other,
                };
                match &p.message_en {
                    Some(en) => format!("{setting}: {} / {en}", p.message),
                    None => format!("{setting}: {}", p.message),
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        UserError::Db(e) => db::cause(e),
        other => other.to_string(),
    }
}

/// A built application: database migrated and seeded, socket bound, ready to serve.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
}

/// Opens the database, runs the migrations, loads reference data and creates the first ministry
/// account if there is no user. Used by `serve`, `migrate` and the user subcommands.
///
/// All of it under the start-up lock ([`db::StartupLock`]), so any number of processes may start
/// at once on one database: one migrates and seeds while the others wait, and each of those then
/// finds nothing to do and writes nothing.
pub async fn prepare_database(
    settings: &Settings,
    passwords: &Passwords,
) -> Result<DatabaseConnection, StartupError> {
    let t = Instant::now();
    let lock = db::StartupLock::acquire(settings).await?;
    let locked_ms = t.elapsed().as_millis() as u64;
    let prepared = migrate_and_seed(settings, passwords).await;
    lock.release().await;
    let (db, migrated_ms) = prepared?;
    tracing::info!(
        backend = ?db.get_database_backend(),
        locked_ms,
        migrated_ms,
        ready_ms = t.elapsed().as_millis() as u64,
        "database ready"
    );
    Ok(db)
}

/// The work done under the start-up lock; returns the pool and when the migrations were done.
async fn migrate_and_seed(
    settings: &Settings,
    passwords: &Passwords,
) -> Result<(DatabaseConnection, u64), StartupError> {
    let t = Instant::now();
    let db = db::connect(settings).await.map_err(StartupError::Connect)?;
    let done = async {
        Migrator::up(&db, None)
            .await
            .map_err(StartupError::Migrate)?;
        let migrated_ms = t.elapsed().as_millis() as u64;
        seed::run(&db).await?;
        crate::users::bootstrap_admin(&db, passwords, settings).await?;
        Ok(migrated_ms)
    }
    .await;
    match done {
        Ok(migrated_ms) => Ok((db, migrated_ms)),
        Err(e) => {
            db.close().await.ok();
            Err(e)
        }
    }
}

impl Application {
    /// Builds the app from settings: the single entry point for `main` and the tests. Binding to
    /// port 0 picks a free port (see [`Application::port`]).
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        // Built once: it hashes a dummy password, which costs as much as a login.
        let passwords = Passwords::new(&settings)?;
        let db = prepare_database(&settings, &passwords).await?;
        let addr = settings.bind;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Application {
            listener,
            local_addr,
            state: AppState::new(db, settings.clone(), passwords),
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state (database pool, settings).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or ctrl-c, then finishes in-flight requests and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr, "listening");
        let app = routes::router(self.state.clone());
        let result = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .await;
        self.state.db.close_by_ref().await.ok();
        tracing::info!("stopped");
        result
    }
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received, finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{error::FieldError, users::UserError};

    #[test]
    fn a_refused_first_account_names_its_settings_not_a_debug_dump() {
        let e = StartupError::from(UserError::Invalid(vec![
            FieldError::new("username", "invalid_username", "Tên sai.", "Bad name."),
            FieldError::new(
                "password",
                "weak_password",
                "Mật khẩu yếu.",
                "Weak password.",
            ),
        ]));
        assert_eq!(
            crate::error::error_chain(&e),
            "tạo tài khoản Bộ đầu tiên thất bại / creating the first ministry account failed: \
             SIPAS_ADMIN_USERNAME: Tên sai. / Bad name.; SIPAS_ADMIN_PASSWORD: Mật khẩu yếu. / \
             Weak password."
        );
    }

    #[test]
    fn a_database_failure_is_its_cause_once() {
        let e = StartupError::Migrate(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::Internal(
            "table \"rounds\" already exists".into(),
        )));
        assert_eq!(
            crate::error::error_chain(&e),
            "nâng cấp cấu trúc cơ sở dữ liệu thất bại / database migration failed: \
             table \"rounds\" already exists"
        );
    }
}
