//! `sipas-collect`: the reference offline client on the command line.
//!
//! Exit codes: 0 success; 1 error (nothing lost: forms stay in the outbox); 2 the sync finished but
//! some forms were refused permanently (listed with the server's reasons).

use std::{io::Read, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use collect::{
    app::{self, AppError, NewForm},
    messages,
    store::Store,
};
use sync_protocol::{Gps, engine::SyncReport};

/// Offline SIPAS data collection: fill forms without a network, sync them later.
#[derive(Debug, Parser)]
#[command(name = "sipas-collect", version)]
struct Cli {
    /// Data folder (the outbox database and the session).
    #[arg(
        long,
        global = true,
        env = "SIPAS_COLLECT_DATA",
        default_value = "./sipas-collect-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in to a server and register this device.
    Login {
        /// Server base URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: String,
        /// Username.
        #[arg(long)]
        username: String,
        /// Password (or the environment variable SIPAS_COLLECT_PASSWORD).
        #[arg(long, env = "SIPAS_COLLECT_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Handshake and pull: questionnaires, rounds and units of your assignment.
    Pull,
    /// Store a new form offline (validated on the device; no network).
    New {
        /// Survey round, e.g. sipas-2025.
        #[arg(long)]
        round: String,
        /// Province code.
        #[arg(long)]
        province: String,
        /// District code (rounds before 2025 only).
        #[arg(long)]
        district: Option<String>,
        /// Commune code.
        #[arg(long)]
        commune: String,
        /// Village code or name.
        #[arg(long)]
        village: String,
        /// Household reference.
        #[arg(long)]
        household: String,
        /// GPS fix: LAT,LON or LAT,LON,ACCURACY_M.
        #[arg(long)]
        gps: Option<String>,
        /// Answers: a JSON object keyed by question code (`-` for standard input).
        file: PathBuf,
    },
    /// List the forms on this device with their states (no network).
    Outbox,
    /// Send pending forms and pull changes.
    Sync,
    /// Ask the server about every form on this device.
    Status,
    /// Your assignments (as last pulled) and the forms on this device against each (no network).
    Assignments,
    /// Forms reviewers sent back, with their comments (as last pulled; no network).
    Returned,
    /// Correct a form a reviewer sent back: apply answer changes and queue its next revision to
    /// be sent at the next sync (no network).
    Correct {
        /// The form's id.
        id: uuid::Uuid,
        /// Answer changes: a JSON object keyed by question code, `null` to remove an answer
        /// (`-` for standard input).
        file: PathBuf,
    },
}

fn parse_gps(s: &str) -> Result<Gps, AppError> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| AppError::Input(format!("GPS sai / bad GPS: {s} (LAT,LON[,ACC])")))?;
    match parts.as_slice() {
        [lat, lon] | [lat, lon, _]
            if (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon) =>
        {
            Ok(Gps {
                lat: *lat,
                lon: *lon,
                accuracy_m: parts.get(2).copied(),
            })
        }
        _ => Err(AppError::Input(format!(
            "GPS sai / bad GPS: {s} (LAT,LON[,ACC])"
        ))),
    }
}

fn read_answers(file: &PathBuf) -> Result<schema::Answers, AppError> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| AppError::Input(format!("stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| {
            AppError::Input(format!(
                "không đọc được / cannot read {}: {e}",
                file.display()
            ))
        })?
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(AppError::Input(
            "câu trả lời phải là một đối tượng JSON / the answers must be a JSON object".into(),
        )),
        Err(e) => Err(AppError::Input(format!(
            "JSON sai / bad JSON in {}: {e}",
            file.display()
        ))),
    }
}

fn print_report(r: &SyncReport) {
    println!(
        "Đã gửi {} phiếu: {} được nhận, {} cập nhật, {} đã có sẵn (trùng); {} phiếu được đối chiếu; {} lần thử lại; {} thay đổi kéo về.",
        r.pushed, r.accepted, r.updated, r.duplicates, r.reconciled, r.retries, r.pulled
    );
    println!(
        "Pushed {} forms: {} accepted, {} updated, {} already there (duplicates); {} reconciled; {} retries; {} changes pulled.",
        r.pushed, r.accepted, r.updated, r.duplicates, r.reconciled, r.retries, r.pulled
    );
    if r.cursor_resets > 0 {
        println!(
            "Đã kéo lại từ đầu {} lần / pulled again from scratch {} time(s).",
            r.cursor_resets, r.cursor_resets
        );
    }
}

fn print_warnings(r: &SyncReport) {
    for (id, w) in &r.warnings {
        println!("  {id} [{}] {}", w.code, messages::problem(w));
    }
}

fn print_failed(r: &SyncReport) {
    if r.failed.is_empty() {
        return;
    }
    println!(
        "{} phiếu bị từ chối, cần xử lý / {} forms were refused and need attention:",
        r.failed.len(),
        r.failed.len()
    );
    for f in &r.failed {
        let (vi, en) = messages::outcome(f.outcome);
        println!("  {} [{}] {vi} / {en}", f.id, f.outcome.as_str());
        for p in &f.problems {
            println!("      {}", messages::problem(p));
        }
    }
}

async fn left_to_send(data: &std::path::Path) -> Result<i64, AppError> {
    let store = Store::open(data).await?;
    let counts = store.counts().await?;
    store.close().await;
    Ok(counts.get("pending").copied().unwrap_or(0) + counts.get("in_flight").copied().unwrap_or(0))
}

async fn run(cli: Cli) -> Result<ExitCode, AppError> {
    let data = cli.data;
    match cli.command {
        Command::Login {
            server,
            username,
            password,
        } => {
            let store = Store::open(&data).await?;
            let info = app::login(&store, &server, &username, &password).await;
            store.close().await;
            let info = info?;
            println!(
                "Đã đăng nhập {} tại {}; mã thiết bị {}.",
                info.username, info.server, info.device_id
            );
            println!(
                "Logged in as {} at {}; device id {}.",
                info.username, info.server, info.device_id
            );
        }
        Command::Pull => {
            let r = app::pull(&data).await?;
            let store = Store::open(&data).await?;
            let hs = store.handshake().await?;
            store.close().await;
            println!(
                "Đã kéo {} thay đổi / pulled {} changes.",
                r.pulled, r.pulled
            );
            if let Some(hs) = hs {
                for q in &hs.questionnaires {
                    println!(
                        "  bảng hỏi / questionnaire {} v{} ({})",
                        q.code, q.version, q.status
                    );
                }
                for round in &hs.rounds {
                    println!(
                        "  đợt / round {} ({}, {} {} v{}): {} đơn vị / units, {}",
                        round.code,
                        round.geography,
                        round.year,
                        round.questionnaire_code,
                        round.questionnaire_version,
                        round.units.len(),
                        round.status
                    );
                }
            }
        }
        Command::New {
            round,
            province,
            district,
            commune,
            village,
            household,
            gps,
            file,
        } => {
            let answers = read_answers(&file)?;
            let gps = gps.as_deref().map(parse_gps).transpose()?;
            let mut store = Store::open(&data).await?;
            let id = app::add_form(
                &mut store,
                NewForm {
                    round,
                    province,
                    district,
                    commune,
                    village,
                    household,
                    answers,
                    gps,
                    started_at: None,
                    finished_at: None,
                },
            )
            .await;
            store.close().await;
            let id = id?;
            eprintln!("Đã lưu phiếu trên máy (chưa gửi) / form saved on the device (not sent yet)");
            println!("{id}");
        }
        Command::Outbox => {
            let list = app::outbox(&data).await?;
            for e in &list {
                println!(
                    "{}  {}  {}  {}{}",
                    e.id,
                    e.round,
                    e.household_ref,
                    messages::local_state(e.state),
                    e.outcome
                        .map(|o| format!(" ({})", o.as_str()))
                        .unwrap_or_default()
                );
                for p in &e.problems {
                    println!("      {}", messages::problem(p));
                }
            }
            println!("{} phiếu / forms", list.len());
        }
        Command::Sync => {
            let r = match app::sync(&data).await {
                Ok(r) => r,
                Err(AppError::Sync(e)) => {
                    print_report(&e.report);
                    print_failed(&e.report);
                    return Err(AppError::Sync(e));
                }
                Err(e) => return Err(e),
            };
            print_report(&r);
            print_warnings(&r);
            print_failed(&r);
            let left = left_to_send(&data).await?;
            if left > 0 {
                println!(
                    "Còn {left} phiếu chưa gửi xong; hãy đồng bộ lại / {left} forms still to send; sync again."
                );
            }
            if !r.failed.is_empty() {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Status => {
            for (e, s) in app::status(&data).await? {
                let server = match &s {
                    Some(s) => {
                        let mut t = messages::server_state(s.state).to_owned();
                        if s.same_content == Some(false) {
                            t.push_str(", nội dung khác / different content");
                        }
                        if let Some(r) = &s.reason {
                            t.push_str(&format!(" ({r})"));
                        }
                        t
                    }
                    None => "không có trả lời / no answer".into(),
                };
                println!(
                    "{}  {}  máy / device: {}  máy chủ / server: {server}",
                    e.id,
                    e.household_ref,
                    messages::local_state(e.state)
                );
            }
        }
        Command::Assignments => {
            let list = app::assignments(&data).await?;
            for a in &list {
                let w = &a.assignment;
                let households = if w.household_refs.is_empty() {
                    "cả thôn / whole village".to_owned()
                } else {
                    w.household_refs.join(", ")
                };
                println!(
                    "{}  xã / commune {}  thôn / village {}  [{households}]  {}/{} phiếu / forms, còn / left {}",
                    w.round,
                    w.units.commune,
                    w.units.village,
                    a.forms,
                    w.quantity,
                    a.remaining()
                );
            }
            println!("{} phân công / assignments", list.len());
        }
        Command::Returned => {
            let list = app::returned(&data).await?;
            for r in &list {
                let f = &r.returned;
                let state = if r.corrected {
                    "đã sửa / corrected"
                } else if r.local_revision.is_none() {
                    "không có trên máy / not on this device"
                } else {
                    "cần sửa / to correct"
                };
                println!(
                    "{}  hộ / household {}  thôn / village {}  lần / revision {}  {state}",
                    f.form_id, f.household_ref, f.village, f.revision
                );
                println!(
                    "      {}: {}",
                    f.by.as_deref().unwrap_or("giám sát viên / supervisor"),
                    f.comment
                );
            }
            println!("{} phiếu bị trả lại / forms returned", list.len());
        }
        Command::Correct { id, file } => {
            let changes = read_answers(&file)?;
            let revision = app::correct(&data, id, changes).await?;
            println!(
                "Đã lưu lần sửa {revision} của phiếu {id}; sẽ gửi khi đồng bộ / revision {revision} of form {id} saved; it is sent at the next sync."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(AppError::Invalid(errors)) => {
            eprintln!(
                "Phiếu không hợp lệ ({} lỗi) / the form is not valid ({} errors):",
                errors.len(),
                errors.len()
            );
            for e in errors {
                eprintln!(
                    "  {} [{}]: {} / {}",
                    e.question,
                    e.code,
                    e.message.vi,
                    e.message.en.as_deref().unwrap_or("")
                );
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("Lỗi / error: {e}");
            ExitCode::FAILURE
        }
    }
}
