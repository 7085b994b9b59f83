//! The `sipas` command line: `serve` and `migrate`.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    error::error_chain,
    settings::Settings,
    startup::{Application, prepare_database},
    telemetry,
};

/// SIPAS server.
#[derive(Debug, Parser)]
#[command(name = "sipas", version, about = "SIPAS survey server / Máy chủ khảo sát SIPAS")]
pub struct Cli {
    /// Settings file (TOML); defaults to $SIPAS_CONFIG, then ./sipas.toml if present.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates and loads reference data first).
    Serve {
        /// Listen address, e.g. 0.0.0.0:8080 (overrides SIPAS_BIND).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Migrate the database and load reference data, then exit.
    Migrate,
}

/// Parses the command line and runs it; the binary's `main` is this call.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sipas: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sipas: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve { bind: None }) {
            Command::Serve { bind } => {
                if let Some(bind) = bind {
                    settings.bind = bind;
                }
                let app = Application::build(settings).await?;
                app.run_until_stopped().await?;
            }
            Command::Migrate => {
                let db = prepare_database(&settings).await?;
                db.close().await?;
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %error_chain(e.as_ref()), "fatal");
            eprintln!("sipas: {}", error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
