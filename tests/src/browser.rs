//! Running a browser story (a script under `tests/js/`) in headless Chromium: Node.js, Debian's
//! `chromium` and playwright-core (`scripts/install-browser.sh`, which `.ci/run` runs). Without
//! them a test prints "skipped" and passes, so the README's `cargo test --workspace` works on a
//! fresh machine — unless `SIPAS_REQUIRE_BROWSER=1` (set by CI): then it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Chromium binary (`CHROMIUM`, default Debian's).
pub fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Why the browser stories cannot run here, if they cannot; panics instead when CI requires them.
pub fn browser_missing() -> Option<String> {
    let js = root().join("tests/js");
    let missing = if !js.join("node_modules/playwright-core").exists() {
        Some("playwright-core is not installed (npm ci --prefix tests/js)".to_owned())
    } else if !Path::new(&chromium()).exists() {
        Some(format!(
            "no Chromium at {} (apt-get install -y chromium, or set CHROMIUM)",
            chromium()
        ))
    } else {
        None
    };
    if let Some(why) = &missing {
        if std::env::var("SIPAS_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("SIPAS_REQUIRE_BROWSER=1 but {why}; run scripts/install-browser.sh");
        }
        println!("skipped: {why}; run scripts/install-browser.sh");
    }
    missing
}

/// Runs `tests/js/<script>` under Node.js with `env` (plus `CHROMIUM` and `SIPAS_SHOTS`, the
/// screenshots folder `target/screenshots`), and answers the JSON report it prints as its last
/// line. Panics when it prints none or reports `ok: false`, with its output.
pub async fn run_story(script: &str, env: &[(&str, String)]) -> Value {
    let mut cmd = Command::new(std::env::var("SIPAS_NODE").unwrap_or_else(|_| "node".into()));
    cmd.arg(root().join("tests/js").join(script))
        .env("SIPAS_SHOTS", root().join("target/screenshots"))
        .env("CHROMIUM", chromium());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run node (Node.js is required)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or("");
    let report: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("no report from {script} ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(report["ok"], true, "{script} failed:\n{report:#}\n{stderr}");
    report
}
