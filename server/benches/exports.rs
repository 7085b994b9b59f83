//! Exports at census scale: a round of stored forms exported over HTTP from the real `sipas`
//! binary as CSV, XLSX and JSON Lines, against the database's own raw read of the same rows in
//! the same run (`COPY (SELECT …) TO STDOUT` through `psql` on PostgreSQL, a plain `SELECT`
//! through `sqlite3` on SQLite, both written to /dev/null).
//!
//! `cargo bench -p sipas-server --bench exports` (SQLite in a temp folder), and with
//! `SIPAS_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres` for PostgreSQL.
//! `SIPAS_BENCH_FORMS` sets the number of forms (default 1,000,000), `SIPAS_BENCH_FORMATS` the
//! formats (default `csv,xlsx,jsonl`).
//!
//! Filling: 64 varied template forms are stored through `forms::store_accepted` (validated,
//! encoded as push stores them), then copied in SQL (`INSERT … SELECT` over `generate_series`
//! on PostgreSQL, a recursive CTE on SQLite) with fresh ids and household references, spread
//! over the Lai Châu (2023) communes the templates sit in: the fast bulk path, not push.
//!
//! Printed per format: forms per second, MB/s, time to the response headers and to the first
//! body byte, and the server's peak resident memory above its idle level during the export
//! (`VmRSS` sampled every 10 ms). Nothing is asserted.

// Uses the database and process helpers, not the push ones.
#[allow(dead_code)]
mod common;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use common::{
    ADMIN_PASSWORD, drop_database, fresh_database,
    process::{Sampler, mib, start_server},
};
use sea_orm::{ConnectionTrait, Database, DbBackend};
use serde_json::json;
use sync_protocol::sample::SipasForm;

const ROUND: &str = "sipas-2023";
const TEMPLATES: usize = 64;

/// Lai Châu's 2023 districts and communes (province 12), as (district, commune) pairs.
fn lai_chau_communes() -> Vec<(String, String)> {
    let geo = geography::vn_2023();
    let mut out = Vec::new();
    for d in geo.children("12") {
        for c in geo.children(&d.code) {
            out.push((d.code.clone(), c.code.clone()));
        }
    }
    out
}

async fn fill(url: &str, n: usize) -> Duration {
    let started = Instant::now();
    let db = Database::connect(url).await.expect("connect");
    let definitions = sipas_server::definitions::Definitions::default();
    let communes = lai_chau_communes();
    for i in 0..TEMPLATES {
        let (district, commune) = &communes[i % communes.len()];
        let levels: Vec<u8> = (0..39).map(|k| (1 + (i * 7 + k * 3) % 5) as u8).collect();
        let mut answers = schema::sample::sipas_answers_with_levels(&levels);
        answers.insert("age".into(), json!(18 + i));
        if i % 3 == 0 {
            answers.insert(
                "comment".into(),
                json!(format!(
                    "Ý kiến số {i}: thủ tục \"nhanh\", nhưng phải chờ lâu,\nđề nghị cải thiện."
                )),
            );
        }
        let t = time::OffsetDateTime::now_utc();
        let f = SipasForm::new()
            .round(ROUND)
            .district(district.clone())
            .commune(commune.clone())
            .village(format!("Bản {}", i % 7 + 1))
            .answers(answers)
            .started_at(t - time::Duration::minutes(30))
            .finished_at(t)
            .gps(sync_protocol::Gps {
                lat: 22.3 + i as f64 / 1000.0,
                lon: 103.4 + i as f64 / 1000.0,
                accuracy_m: Some(5.0),
            })
            .build();
        sipas_server::forms::store_accepted(
            &db,
            &definitions,
            &f,
            sipas_server::forms::Sender {
                user: Some(1),
                device: Some("bench-device"),
            },
        )
        .await
        .expect("store a template form");
    }
    let copies = n.saturating_sub(TEMPLATES);
    let cols = "round_code, questionnaire_code, questionnaire_version, province_code, district_code, \
                commune_code, village_code, status, revision, content_hash, device_id, submitted_by, \
                started_at, finished_at, received_at, updated_at, gps_lat, gps_lon, answers";
    let t_cols = cols
        .split(", ")
        .map(|c| format!("t.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    // In chunks, so that neither database builds one huge transaction.
    let chunk = 200_000;
    let mut done = 0;
    while done < copies {
        let m = chunk.min(copies - done);
        let sql = match db.get_database_backend() {
            DbBackend::Postgres => format!(
                "INSERT INTO forms (id, household_ref, {cols}) \
                 SELECT gen_random_uuid(), 'HH-' || g, {t_cols} \
                 FROM generate_series({a}, {b}) g JOIN forms t ON t.seq = 1 + (g % {TEMPLATES})",
                a = done + 1,
                b = done + m
            ),
            _ => format!(
                "WITH RECURSIVE s(g) AS (SELECT {a} UNION ALL SELECT g + 1 FROM s WHERE g < {b}) \
                 INSERT INTO forms (id, household_ref, {cols}) \
                 SELECT CASE typeof(t.id) WHEN 'blob' THEN randomblob(16) ELSE \
                   lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) \
                   || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))) END, \
                   'HH-' || g, {t_cols} \
                 FROM s JOIN forms t ON t.seq = 1 + (g % {TEMPLATES})",
                a = done + 1,
                b = done + m
            ),
        };
        db.execute_unprepared(&sql).await.expect("bulk copy");
        done += m;
    }
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("VACUUM ANALYZE forms").await.ok();
    }
    db.close().await.ok();
    started.elapsed()
}

/// The raw read of the same rows by the database's own client; returns the time and the bytes.
fn raw_read(url: &str, postgres: bool) -> (Duration, u64) {
    // The plan the export uses: on SQLite the table in `seq` order (the unary `+` keeps it off
    // the units index, which would sort the round).
    let select = if postgres {
        format!("SELECT * FROM forms WHERE round_code = '{ROUND}' ORDER BY seq")
    } else {
        format!("SELECT * FROM forms WHERE +round_code = '{ROUND}' ORDER BY seq")
    };
    let started = Instant::now();
    let out = if postgres {
        std::process::Command::new("psql")
            .arg(url)
            .args(["-Atqc", &format!("COPY ({select}) TO STDOUT")])
            .stderr(Stdio::inherit())
            .output()
            .expect("run psql")
    } else {
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        std::process::Command::new("sqlite3")
            .args([path.as_str(), &select])
            .stderr(Stdio::inherit())
            .output()
            .expect("run sqlite3")
    };
    let took = started.elapsed();
    assert!(out.status.success(), "raw read failed");
    (took, out.stdout.len() as u64)
}

struct Run {
    secs: f64,
    bytes: u64,
    headers: Duration,
    first_byte: Duration,
    peak_above_idle_mib: f64,
}

async fn export(base: &str, token: &str, pid: u32, format: &str) -> Run {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let (sampler, idle) = Sampler::start(pid);
    let started = Instant::now();
    let mut resp = client
        .get(format!(
            "{base}/api/v1/rounds/{ROUND}/exports/forms?format={format}"
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("export request");
    let headers = started.elapsed();
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut bytes = 0u64;
    let mut first_byte = None;
    while let Some(chunk) = resp.chunk().await.expect("body") {
        if first_byte.is_none() {
            first_byte = Some(started.elapsed());
        }
        bytes += chunk.len() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    let (peaks, _) = sampler.stop();
    Run {
        secs,
        bytes,
        headers,
        first_byte: first_byte.unwrap_or_default(),
        peak_above_idle_mib: mib(peaks.rss_kib.saturating_sub(idle.rss_kib)),
    }
}

fn main() {
    let n: usize = std::env::var("SIPAS_BENCH_FORMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let formats: Vec<String> = std::env::var("SIPAS_BENCH_FORMATS")
        .unwrap_or_else(|_| "csv,xlsx,jsonl".into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let target = fresh_database("exports").await;
        let postgres = target.label == "PostgreSQL";
        // The server migrates and seeds the database; then the forms go in behind it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = start_server(&target.url, port).await;
        let filled = fill(&target.url, n).await;
        println!(
            "SIPAS export benchmark on {}: {n} forms of {ROUND} filled in {:.1} s (bulk SQL copy), {} cores",
            target.label,
            filled.as_secs_f64(),
            std::thread::available_parallelism().map_or(0, |c| c.get())
        );
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();
        // Warm both the page cache and the server once, on the raw read.
        let _ = raw_read(&target.url, postgres);
        let (raw, raw_bytes) = raw_read(&target.url, postgres);
        let raw_rate = n as f64 / raw.as_secs_f64();
        println!(
            "{:<6} raw read ({}): {:>6.2} s  {:>9.0} forms/s  {:>7.1} MB",
            "raw",
            if postgres { "COPY TO STDOUT via psql" } else { "SELECT via sqlite3" },
            raw.as_secs_f64(),
            raw_rate,
            raw_bytes as f64 / 1e6
        );
        for format in &formats {
            let r = export(&base, &token, server.id(), format).await;
            let rate = n as f64 / r.secs;
            println!(
                "{format:<6} export: {:>6.2} s  {rate:>9.0} forms/s  ({:>4.0}% of raw)  {:>7.1} MB  {:>6.1} MB/s  headers {:>6.1} ms  first byte {:>6.1} ms  peak RSS +{:.1} MiB",
                r.secs,
                100.0 * rate / raw_rate,
                r.bytes as f64 / 1e6,
                r.bytes as f64 / 1e6 / r.secs,
                r.headers.as_secs_f64() * 1e3,
                r.first_byte.as_secs_f64() * 1e3,
                r.peak_above_idle_mib,
            );
        }
        let _ = server.kill();
        let _ = server.wait();
        drop_database(&target).await;
    });
}
