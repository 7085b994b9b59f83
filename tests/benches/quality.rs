//! Precision and recall of each field-quality signal on a simulated round: `sipas-sim` plays
//! 40 enumerators × 15 forms in 6 communes of Lai Châu, 10% of them fabricating, once per
//! fabrication kind and once with every kind at once; the quality report is read per form and
//! each signal is scored against the forms the fabricators made. Printed, not asserted.
//!
//! `cargo bench -p sipas-e2e --bench quality` (`SIPAS_BENCH_DEVICES`, `SIPAS_BENCH_FORMS` for
//! other sizes; `SIPAS_TEST_DATABASE_URL` for PostgreSQL).

use std::collections::{BTreeMap, HashSet};

use collect::sim::{self, Fabricate, SimConfig};
use e2e::{ADMIN, ADMIN_PASSWORD, spawn_app};
use uuid::Uuid;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let devices = env_usize("SIPAS_BENCH_DEVICES", 40);
    let forms = env_usize("SIPAS_BENCH_FORMS", 15);
    let runs: Vec<(&str, Vec<Fabricate>)> = vec![
        ("straight", vec![Fabricate::Straight]),
        ("copy", vec![Fabricate::Copy]),
        ("speed", vec![Fabricate::Speed]),
        ("desk-gps", vec![Fabricate::DeskGps]),
        ("all", Fabricate::ALL.to_vec()),
    ];
    println!(
        "SIPAS quality signals on {} ({devices} enumerators × {forms} forms, 10% fabricating)",
        e2e::backend_name()
    );
    for (name, kinds) in runs {
        let mut app = spawn_app().await;
        let mut cfg = SimConfig::new(&app.address, ADMIN, ADMIN_PASSWORD);
        cfg.devices = devices;
        cfg.forms_per_device = forms;
        cfg.communes = 6;
        cfg.batch_size = 25;
        cfg.seed = 11;
        cfg.fabricate_rate = 0.1;
        cfg.fabricate_kinds = kinds;
        let report = sim::run(cfg.clone()).await.expect("simulation");
        assert!(report.ok(), "{}", sim::render(&cfg, &report));
        let fabricated: HashSet<Uuid> = report.fabricated.iter().copied().collect();
        let admin = app.admin_token().await;
        let q = app
            .get_ok(&admin, "/api/v1/rounds/sipas-2025/quality?level=form")
            .await;
        let mut flagged: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for f in q["form_signals"].as_array().unwrap() {
            let id: Uuid = f["id"].as_str().unwrap().parse().unwrap();
            for s in f["signals"].as_array().unwrap() {
                let e = flagged.entry(s.as_str().unwrap().to_owned()).or_default();
                e.0 += 1;
                if fabricated.contains(&id) {
                    e.1 += 1;
                }
            }
        }
        let k = report.fabricators.len();
        let top: HashSet<i64> = q["enumerators"].as_array().unwrap()[..k]
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect();
        let found = report
            .fabricators
            .iter()
            .filter(|f| top.contains(f))
            .count();
        println!(
            "== {name:9} forms={} fabricated={} fabricators in the top {k} scores: {found}/{k}",
            q["forms"],
            fabricated.len()
        );
        for (signal, (all, true_pos)) in &flagged {
            println!(
                "   {signal:24} flagged {all:5}  precision {:.2}  recall {:.2}",
                *true_pos as f64 / *all as f64,
                *true_pos as f64 / fabricated.len().max(1) as f64
            );
        }
        app.stop().await;
    }
}
