//! The `sipas` command line: `serve`, `migrate`, `user`, `indices`, `export`.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    audit::Actor,
    auth::password::{Passwords, generate_password},
    error::error_chain,
    index_stats,
    settings::Settings,
    startup::{Application, prepare_database},
    telemetry,
    users::{self, ImportError, NewUser, UserError},
};

/// SIPAS server.
#[derive(Debug, Parser)]
#[command(
    name = "sipas",
    version,
    about = "SIPAS survey server / Máy chủ khảo sát SIPAS"
)]
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
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Maintain the index engine's per-village statistics.
    #[command(subcommand)]
    Indices(IndicesCommand),
    /// Write an export to standard output (`sipas export --round sipas-2025 --format csv >
    /// forms.csv`): the same export as `GET /api/v1/rounds/{round}/exports/forms`, with the
    /// ministry's view; `--quarantine` exports the quarantine instead.
    Export(ExportArgs),
}

/// `sipas export ...`
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Round code, e.g. sipas-2025 (with --quarantine: only its payloads; all if omitted).
    #[arg(long)]
    round: Option<String>,
    /// csv, jsonl, xlsx or zip (CSV with codebook and Stata/SPSS/R scripts).
    #[arg(long, default_value = "csv")]
    format: String,
    /// Only forms inside this unit (province, district or commune code).
    #[arg(long)]
    unit: Option<String>,
    /// Only forms in this review state.
    #[arg(long)]
    status: Option<String>,
    /// Only forms received or changed at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Language of the scripts' labels: vi or en.
    #[arg(long, default_value = "vi")]
    lang: String,
    /// Export the quarantined payloads instead of the forms.
    #[arg(long)]
    quarantine: bool,
}

/// `sipas indices ...`
#[derive(Debug, Subcommand)]
pub enum IndicesCommand {
    /// Recompute a round's per-village statistics from its stored forms and replace them (repair,
    /// or backfill after an upgrade).
    Rebuild {
        /// Round code, e.g. sipas-2025.
        #[arg(long)]
        round: String,
    },
    /// Compare a round's stored statistics with a recomputation from its forms; fails on any
    /// difference. Run it while no forms arrive: the two reads are not one snapshot.
    Check {
        /// Round code, e.g. sipas-2025.
        #[arg(long)]
        round: String,
    },
}

/// `sipas user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create one user. Without --password a password is generated and printed once.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Full name.
        #[arg(long)]
        full_name: String,
        /// ministry, province_reviewer, supervisor or enumerator.
        #[arg(long)]
        role: String,
        /// Scope unit code (a province, or below; not for the ministry).
        #[arg(long)]
        unit: Option<String>,
        /// Geography of the unit code.
        #[arg(long, default_value = crate::users::DEFAULT_GEOGRAPHY)]
        geography: String,
        /// Field team (supervisors and enumerators).
        #[arg(long)]
        team: Option<String>,
        /// Initial password (read from $SIPAS_NEW_USER_PASSWORD if unset; generated if neither).
        #[arg(long, env = "SIPAS_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Set a user's password (recovery: a forgotten admin password, a locked-out enumerator). Ends
    /// every session of the user. Without --password a password is generated and printed once.
    /// A throttled login (too many failures) is unlocked by `POST /api/v1/users/{id}/unlock` or by
    /// restarting the server; a deactivated account is activated with --activate.
    SetPassword {
        /// Login name.
        #[arg(long)]
        username: String,
        /// The new password (read from $SIPAS_NEW_USER_PASSWORD if unset; generated if neither).
        #[arg(long, env = "SIPAS_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Also activate the account if it was deactivated.
        #[arg(long)]
        activate: bool,
    },
    /// Import enumerators and supervisors from the post office's staff list (CSV with columns
    /// username,full_name,role,unit_code,team). All or nothing: every bad line is reported and
    /// nothing is imported if any line is bad. Prints username,full_name,initial_password as CSV.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Geography of the unit codes.
        #[arg(long, default_value = crate::users::DEFAULT_GEOGRAPHY)]
        geography: String,
        /// Write the generated passwords here instead of standard output.
        #[arg(long)]
        passwords_out: Option<PathBuf>,
    },
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
                let db = prepare_database(&settings, &Passwords::new(&settings)?).await?;
                db.close().await?;
            }
            Command::User(cmd) => run_user_command(&settings, cmd).await?,
            Command::Indices(cmd) => run_indices_command(&settings, cmd).await?,
            Command::Export(args) => run_export(&settings, args).await?,
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

async fn run_export(
    settings: &Settings,
    args: ExportArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write as _;

    use crate::exports::{self, FormsExportQuery, QuarantineExportQuery, format::Format};

    let format: Format = serde_json::from_value(serde_json::Value::String(args.format.clone()))
        .map_err(|_| format!("unknown format '{}': csv, jsonl, xlsx or zip", args.format))?;
    let db = prepare_database(settings, &Passwords::new(settings)?).await?;
    let me = exports::command_line_user();
    let prepared = if args.quarantine {
        let q = QuarantineExportQuery {
            format: Some(format),
            round: args.round.clone(),
            since: args.since.clone(),
        };
        exports::prepare_quarantine(&db, &me, &q).await
    } else {
        let round = args
            .round
            .clone()
            .ok_or("--round is required / cần --round")?;
        let q = FormsExportQuery {
            format: Some(format),
            unit: args.unit.clone(),
            status: args.status.clone(),
            since: args.since.clone(),
            lang: Some(args.lang.clone()),
        };
        let definitions = crate::definitions::Definitions::default();
        exports::prepare_forms(&db, &definitions, &me, &round, &q).await
    };
    let prepared = prepared.map_err(|e| e.to_string())?;
    eprintln!(
        "next --since for an incremental pull: {}",
        prepared.about.next_since
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel(exports::CHANNEL_CHUNKS);
    let reader = {
        let db = db.clone();
        tokio::spawn(async move { exports::run(&db, prepared, &tx).await })
    };
    let mut stdout = std::io::stdout().lock();
    while let Some(chunk) = rx.recv().await {
        stdout.write_all(&chunk?[..])?;
    }
    stdout.flush()?;
    drop(stdout);
    let about = reader.await??;
    eprintln!("{} rows exported", about.forms);
    db.close().await?;
    Ok(())
}

async fn run_indices_command(
    settings: &Settings,
    cmd: IndicesCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    let db = prepare_database(settings, &Passwords::new(settings)?).await?;
    let definitions = crate::definitions::Definitions::default();
    let round = match &cmd {
        IndicesCommand::Rebuild { round } | IndicesCommand::Check { round } => round.clone(),
    };
    use sea_orm::EntityTrait;
    if crate::entities::round::Entity::find_by_id(round.clone())
        .one(&db)
        .await?
        .is_none()
    {
        db.close().await?;
        return Err(format!("no survey round '{round}' / không có đợt khảo sát '{round}'").into());
    }
    match cmd {
        IndicesCommand::Rebuild { round } => {
            let started = std::time::Instant::now();
            let n = index_stats::rebuild(&db, &definitions, &round).await?;
            println!(
                "{round}: {n} villages rebuilt from the forms in {:.2} s",
                started.elapsed().as_secs_f64()
            );
        }
        IndicesCommand::Check { round } => {
            let stored = index_stats::load(&db, &definitions, &round, None).await?;
            let fresh = index_stats::compute_from_forms(&db, &definitions, &round, None).await?;
            let key = |v: &index_stats::VillageStats| (v.questionnaire.clone(), v.key.clone());
            let stored: std::collections::BTreeMap<_, _> =
                stored.into_iter().map(|v| (key(&v), v.stats)).collect();
            let fresh: std::collections::BTreeMap<_, _> =
                fresh.into_iter().map(|v| (key(&v), v.stats)).collect();
            let differing: Vec<String> = stored
                .keys()
                .chain(fresh.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|k| stored.get(*k) != fresh.get(*k))
                .map(|(_, k)| format!("{}/{}", k.stratum, k.cluster))
                .collect();
            if !differing.is_empty() {
                db.close().await?;
                return Err(format!(
                    "{round}: stored statistics differ from the forms in {} villages: {}",
                    differing.len(),
                    differing.join(", ")
                )
                .into());
            }
            println!("{round}: {} villages match their forms", fresh.len());
        }
    }
    db.close().await?;
    Ok(())
}

async fn run_user_command(
    settings: &Settings,
    cmd: UserCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    let passwords = Passwords::new(settings)?;
    let db = prepare_database(settings, &passwords).await?;
    let actor = Actor::system("cli");
    match cmd {
        UserCommand::Create {
            username,
            full_name,
            role,
            unit,
            geography,
            team,
            password,
        } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(generate_password);
            let new = NewUser {
                username,
                full_name,
                role,
                geography: Some(geography),
                unit_code: unit,
                team,
                password: password.clone(),
            };
            match users::create(&db, &passwords, new, &actor).await {
                Ok(u) => {
                    println!("created user {} (id {}, role {})", u.username, u.id, u.role);
                    if generated {
                        println!("initial password: {password}");
                    }
                }
                Err(UserError::Invalid(errors)) => {
                    print_field_errors(&errors);
                    return Err("user not created".into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::SetPassword {
            username,
            password,
            activate,
        } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(generate_password);
            let Some(u) = users::find_by_username(&db, &username).await? else {
                return Err(format!(
                    "no user {username} / không có người dùng {username} (sipas user create)"
                )
                .into());
            };
            let changes = users::UserChanges {
                password: Some(password.clone()),
                active: activate.then_some(true),
                ..Default::default()
            };
            match users::update(&db, &passwords, u.id, changes, &actor).await {
                Ok(u) => {
                    println!(
                        "password of {} (id {}) set; every session of the user has ended",
                        u.username, u.id
                    );
                    if generated {
                        println!("new password: {password}");
                    }
                }
                Err(UserError::Invalid(errors)) => {
                    print_field_errors(&errors);
                    return Err("password not set".into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::Import {
            file,
            geography,
            passwords_out,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            match users::import_csv(&db, &passwords, &geography, &text, &actor).await {
                Ok(imported) => {
                    let mut out = String::from("username,full_name,initial_password\n");
                    for (u, name, pw) in &imported.users {
                        out.push_str(&format!("{u},\"{}\",{pw}\n", name.replace('"', "\"\"")));
                    }
                    match passwords_out {
                        Some(path) => {
                            write_private(&path, out.as_bytes())?;
                            eprintln!(
                                "imported {} users; initial passwords written to {}",
                                imported.users.len(),
                                path.display()
                            );
                        }
                        None => {
                            print!("{out}");
                            eprintln!("imported {} users", imported.users.len());
                        }
                    }
                }
                Err(ImportError::BadLines(lines)) => {
                    for l in &lines {
                        for e in &l.errors {
                            eprintln!(
                                "line {}: {} [{}]: {} / {}",
                                l.line,
                                e.field,
                                e.code,
                                e.message,
                                e.message_en.as_deref().unwrap_or("")
                            );
                        }
                    }
                    return Err(format!(
                        "{} bad line(s): nothing was imported / {} dòng lỗi: chưa nhập người dùng nào",
                        lines.len(),
                        lines.len()
                    )
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    db.close().await?;
    Ok(())
}

/// Writes a file only its owner can read (generated passwords): created with mode 0600, and an
/// existing file is narrowed to it before it is overwritten.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    options.open(path)?.write_all(bytes)
}

/// Prints a user's field errors, one a line, in both languages.
fn print_field_errors(errors: &[crate::error::FieldError]) {
    for e in errors {
        eprintln!(
            "{} [{}]: {} / {}",
            e.field,
            e.code,
            e.message,
            e.message_en.as_deref().unwrap_or("")
        );
    }
}
