//! The enumerator app's figures (tests/js/bench.mjs): compressed size, time to open the SIPAS form
//! and save a draft in headless Chromium, sync of 500 queued forms against a local server.
//! Printed, not asserted. Needs what the browser test needs (`scripts/install-browser.sh`).
//!
//! `cargo bench -p sipas-e2e --bench app` (SIPAS_BENCH_FORMS=N for another outbox size).

use std::path::Path;
use std::process::Command;

use e2e::{USER_PASSWORD, spawn_app};

#[tokio::main]
async fn main() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_enumerator(&admin, "dtv.bench", "vn-2025", "12", "LC-1")
        .await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(std::env::var("SIPAS_NODE").unwrap_or_else(|_| "node".into()));
    cmd.arg(root.join("tests/js/bench.mjs"))
        .env("SIPAS_URL", &app.address)
        .env("SIPAS_USER", "dtv.bench")
        .env("SIPAS_PASSWORD", USER_PASSWORD);
    let status = tokio::task::spawn_blocking(move || cmd.status())
        .await
        .expect("join")
        .expect("run node (Node.js is required)");
    assert!(status.success(), "bench.mjs failed");
    println!("server holds {} forms", app.form_count().await);
}
