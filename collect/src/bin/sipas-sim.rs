//! `sipas-sim`: plays N enumerator devices against a server and checks that every form arrived
//! exactly once. Exit code 0 when it did, 1 otherwise.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use collect::sim::{self, FaultRates, SimConfig};

/// Simulates enumerator devices syncing through an unreliable network.
#[derive(Debug, Parser)]
#[command(name = "sipas-sim", version)]
struct Args {
    /// Server base URL.
    #[arg(long, env = "SIPAS_SERVER")]
    server: String,
    /// Ministry account that creates the enumerators and reads the forms back.
    #[arg(long, default_value = "admin")]
    admin_user: String,
    /// Its password.
    #[arg(long, env = "SIPAS_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: String,
    /// Survey round.
    #[arg(long, default_value = "sipas-2025")]
    round: String,
    /// Province code (the enumerators' scope).
    #[arg(long, default_value = "12")]
    province: String,
    /// Communes used (the first N of the province by code).
    #[arg(long, default_value_t = 5)]
    communes: usize,
    /// Devices.
    #[arg(long, default_value_t = 4)]
    devices: usize,
    /// Forms per device.
    #[arg(long, default_value_t = 25)]
    forms_per_device: usize,
    /// Probability that a request is lost before reaching the server.
    #[arg(long, default_value_t = 0.0)]
    drop_request_rate: f64,
    /// Probability that the server's answer is lost.
    #[arg(long, default_value_t = 0.0)]
    drop_response_rate: f64,
    /// Probability that a push is sent twice.
    #[arg(long, default_value_t = 0.0)]
    duplicate_rate: f64,
    /// Probability per call that the app is killed and restarted from its outbox.
    #[arg(long, default_value_t = 0.0)]
    restart_rate: f64,
    /// Rounds of offline collection before the devices get a network.
    #[arg(long, default_value_t = 0)]
    offline_rounds: usize,
    /// Seed of the simulated faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Satisfaction level per commune or district: `CODE=LEVEL,...` (0 = don't know, 1..=5).
    #[arg(long, default_value = "")]
    levels: String,
    /// Level of units not in `--levels`.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(0..=5))]
    default_level: u8,
    /// Forms per push.
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Keep device outboxes in this folder (a temporary folder, removed afterwards, by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Play in a new practice round of this code, copied from --round, so the real round stays
    /// clean; the simulated enumerators are deactivated at the end. Delete the round with
    /// `DELETE /api/v1/rounds/CODE` (ministry).
    #[arg(long)]
    practice: Option<String>,
    /// Share of the forms a supervisor sends back after delivery (0 to 1; 0 skips review):
    /// the devices pull the returns, correct and resend, and the corrected forms are approved.
    #[arg(long, default_value_t = 0.0)]
    reject_share: f64,
    /// Share of the enumerators who fabricate forms (0 to 1); honest forms then vary as real
    /// answers, times and GPS do.
    #[arg(long, default_value_t = 0.0)]
    fabricate_rate: f64,
    /// How they fabricate: `straight,copy,speed,desk-gps` (each fabricator does all listed).
    #[arg(long, default_value = "straight,copy,speed,desk-gps")]
    fabricate_kinds: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let levels = match sim::parse_levels(&args.levels) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut cfg = SimConfig::new(&args.server, &args.admin_user, &args.admin_password);
    cfg.round = args.round;
    cfg.province = args.province;
    cfg.communes = args.communes;
    cfg.devices = args.devices;
    cfg.forms_per_device = args.forms_per_device;
    cfg.rates = FaultRates {
        drop_request: args.drop_request_rate,
        drop_response: args.drop_response_rate,
        duplicate: args.duplicate_rate,
        restart: args.restart_rate,
    };
    cfg.offline_rounds = args.offline_rounds;
    cfg.seed = args.seed;
    cfg.levels = levels;
    cfg.default_level = args.default_level;
    cfg.batch_size = args.batch_size;
    cfg.work_dir = args.work_dir;
    cfg.practice = args.practice;
    cfg.reject_share = args.reject_share.clamp(0.0, 1.0);
    cfg.fabricate_rate = args.fabricate_rate.clamp(0.0, 1.0);
    cfg.fabricate_kinds = match sim::Fabricate::parse_list(&args.fabricate_kinds) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match sim::run(cfg.clone()).await {
        Ok(report) => {
            print!("{}", sim::render(&cfg, &report));
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("Lỗi / error: {e}");
            ExitCode::FAILURE
        }
    }
}
