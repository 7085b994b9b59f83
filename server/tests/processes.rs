//! The real `sipas` binary as separate processes: a server killed with SIGKILL in the middle of
//! pushes loses no acknowledged form and the client finishes the rest after a restart; two server
//! processes on one database store each form once; in both, the index statistics count every form
//! exactly once. SQLite by default; PostgreSQL when `SIPAS_TEST_DATABASE_URL` is set.

use std::{
    collections::HashSet,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use sync_protocol::{FormSubmission, Outcome, PROTOCOL_HEADER, PushResponse, sample::SipasForm};
use uuid::Uuid;

mod common;
use common::{Db, free_port};

const ADMIN_PASSWORD: &str = "process-test-Ministry-passphrase";
const USER_PASSWORD: &str = "process-test-Field-passphrase";
const JWT: &str = "process-test-jwt-key-0123456789abcdef-xyz";

/// Starts `sipas serve` on `port` and waits until it is ready.
// The child is returned to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
async fn start_server(db_url: &str, port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipas"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("SIPAS_DATABASE_URL", db_url)
        .env("SIPAS_ADMIN_USERNAME", "admin")
        .env("SIPAS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SIPAS_JWT_SECRET", JWT)
        .env("SIPAS_DATABASE_MAX_CONNECTIONS", "4")
        .env("SIPAS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipas");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && r.status().is_success()
        {
            return child;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Result<(u16, Value)> {
    let mut req = client.post(url).header(PROTOCOL_HEADER, "1").json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await?;
    Ok((status, body))
}

/// GETs `url` as `token`; returns the JSON body.
async fn get(client: &reqwest::Client, url: &str, token: &str) -> Value {
    let resp = client.get(url).bearer_auth(token).send().await.unwrap();
    resp.json().await.unwrap()
}

/// Pushes `forms` to the server at `base` as `token`, asserting 200 and that every form is
/// accepted; returns the ids acknowledged.
async fn push_accepted(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    forms: &[impl serde::Serialize],
) -> Vec<Uuid> {
    let (s, body) = post(
        client,
        &format!("{base}/api/v1/sync/push"),
        Some(token),
        &json!({ "forms": forms }),
    )
    .await
    .unwrap();
    assert_eq!(s, 200, "{body}");
    let r: PushResponse = serde_json::from_value(body).unwrap();
    assert!(
        r.results.iter().all(|r| r.outcome == Outcome::Accepted),
        "{r:?}"
    );
    r.results.iter().filter_map(|r| r.id).collect()
}

/// Creates an enumerator for Lai Châu and returns its access token.
async fn enumerator_token(client: &reqwest::Client, base: &str) -> String {
    let admin = admin_token(client, base).await;
    let (s, body) = post(
        client,
        &format!("{base}/api/v1/users"),
        Some(&admin),
        &json!({"username": "dtv.proc", "full_name": "Điều tra viên", "role": "enumerator",
                "geography": "vn-2025", "unit_code": "12", "team": "T1", "password": USER_PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(s, 201, "{body}");
    let (_, login) = post(
        client,
        &format!("{base}/api/v1/auth/login"),
        None,
        &json!({"username": "dtv.proc", "password": USER_PASSWORD, "device_id": "proc-device"}),
    )
    .await
    .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

/// `n` sample forms of the first Lai Châu commune (the builder's default place), spread over 7
/// villages.
fn forms(n: usize) -> Vec<FormSubmission> {
    (0..n)
        .map(|i| {
            SipasForm::new()
                .village(format!("V{:02}", i % 7))
                .household(format!("HH-{i:05}"))
                .build()
        })
        .collect()
}

/// Checks the index statistics after concurrent pushes: the per-village counts read through the API
/// add up to `expected` forms spread over the 7 villages of [`forms`], and `sipas indices check`
/// finds the stored statistics equal to a recomputation from the stored forms.
async fn assert_index_stats(client: &reqwest::Client, base: &str, db_url: &str, expected: usize) {
    let admin = admin_token(client, base).await;
    let body = get(
        client,
        &format!("{base}/api/v1/rounds/sipas-2025/indices?unit=12&level=village"),
        &admin,
    )
    .await;
    let villages = body["results"].as_array().expect("results");
    let counts: Vec<u64> = villages
        .iter()
        .map(|v| v["n_forms"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (0..7)
        .map(|v| (0..expected).filter(|i| i % 7 == v).count() as u64)
        .collect();
    assert_eq!(counts, want, "forms per village in the index statistics");
    let out = Command::new(env!("CARGO_BIN_EXE_sipas"))
        .args(["indices", "check", "--round", "sipas-2025"])
        .env("SIPAS_DATABASE_URL", db_url)
        .env("SIPAS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SIPAS_LOG", "error")
        .output()
        .expect("run sipas indices check");
    assert!(
        out.status.success(),
        "stored index statistics differ from the forms: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The ministry's access token.
async fn admin_token(client: &reqwest::Client, base: &str) -> String {
    let (_, login) = post(
        client,
        &format!("{base}/api/v1/auth/login"),
        None,
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    )
    .await
    .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

/// Every form id the server holds for the round, by paging the forms API as the ministry.
async fn server_ids(client: &reqwest::Client, base: &str) -> Vec<Uuid> {
    let admin = admin_token(client, base).await;
    let mut ids = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let mut url = format!("{base}/api/v1/rounds/sipas-2025/forms?limit=1000");
        if let Some(a) = after {
            url.push_str(&format!("&after={a}"));
        }
        let body = get(client, &url, &admin).await;
        for f in body["forms"].as_array().unwrap() {
            ids.push(f["id"].as_str().unwrap().parse().unwrap());
        }
        match body["next_after"].as_i64() {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    ids
}

#[tokio::test]
async fn sigkill_during_pushes_loses_no_acknowledged_form() {
    let db = Db::fresh("proc").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&db.url, port).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let token = enumerator_token(&client, &base).await;
    let all = forms(1500);
    let batches: Vec<Vec<FormSubmission>> = all.chunks(50).map(<[_]>::to_vec).collect();

    let mut acknowledged: HashSet<Uuid> = HashSet::new();
    let mut killed = false;
    let mut lost_responses = 0;
    for (i, batch) in batches.iter().enumerate() {
        if i == 8 && !killed {
            // Kill while a push is in flight: send it, and SIGKILL right away.
            let body = json!({ "forms": batch });
            let (c, u, t) = (
                client.clone(),
                format!("{base}/api/v1/sync/push"),
                token.clone(),
            );
            let inflight = tokio::spawn(async move { post(&c, &u, Some(&t), &body).await });
            tokio::time::sleep(Duration::from_millis(3)).await;
            server.kill().unwrap();
            server.wait().unwrap();
            killed = true;
            if let Ok(Ok((200, body))) = inflight.await {
                // The answer made it out before the kill: it was committed.
                let r: PushResponse = serde_json::from_value(body).unwrap();
                acknowledged.extend(
                    r.results
                        .iter()
                        .filter(|r| r.outcome.is_stored())
                        .filter_map(|r| r.id),
                );
            } else {
                lost_responses += 1;
            }
            // Every acknowledged form must have survived the kill.
            server = start_server(&db.url, port).await;
            let held: HashSet<Uuid> = server_ids(&client, &base).await.into_iter().collect();
            assert!(
                acknowledged.is_subset(&held),
                "an acknowledged form was lost"
            );
            // Reconcile the batch whose answer may be lost, then send only what is missing.
            let queries: Vec<Value> = batch
                .iter()
                .map(|f| json!({"id": f.id, "content_hash": f.content_hash()}))
                .collect();
            let (s, st) = post(
                &client,
                &format!("{base}/api/v1/sync/status"),
                Some(&token),
                &json!({"forms": queries}),
            )
            .await
            .unwrap();
            assert_eq!(s, 200, "{st}");
            let missing: Vec<&FormSubmission> = batch
                .iter()
                .zip(st["forms"].as_array().unwrap())
                .filter(|(_, s)| s["state"] == "missing")
                .map(|(f, _)| f)
                .collect();
            for (f, s) in batch.iter().zip(st["forms"].as_array().unwrap()) {
                if s["state"] == "accepted" {
                    assert_eq!(s["same_content"], true);
                    acknowledged.insert(f.id);
                }
            }
            if !missing.is_empty() {
                acknowledged.extend(push_accepted(&client, &base, &token, &missing).await);
            }
            continue;
        }
        acknowledged.extend(push_accepted(&client, &base, &token, batch).await);
    }
    let held = server_ids(&client, &base).await;
    let unique: HashSet<Uuid> = held.iter().copied().collect();
    assert_eq!(held.len(), unique.len(), "a form is stored twice");
    let sent: HashSet<Uuid> = all.iter().map(|f| f.id).collect();
    assert_eq!(unique, sent, "every form is on the server exactly once");
    assert_eq!(acknowledged, sent);
    eprintln!("lost responses at the kill: {lost_responses}");
    assert_index_stats(&client, &base, &db.url, all.len()).await;
    server.kill().ok();
    server.wait().ok();
    db.remove().await;
}

#[tokio::test]
async fn two_server_processes_on_one_database_store_each_form_once() {
    let db = Db::fresh("proc").await;
    let (p1, p2) = (free_port(), free_port());
    let mut s1 = start_server(&db.url, p1).await;
    let mut s2 = start_server(&db.url, p2).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let token = enumerator_token(&client, &format!("http://127.0.0.1:{p1}")).await;
    let all = forms(600);
    let mut tasks = Vec::new();
    // Every batch goes to both servers at once, twice.
    for _ in 0..2 {
        for batch in all.chunks(60) {
            for port in [p1, p2] {
                let body = json!({ "forms": batch });
                let (c, t) = (client.clone(), token.clone());
                tasks.push(tokio::spawn(async move {
                    post(
                        &c,
                        &format!("http://127.0.0.1:{port}/api/v1/sync/push"),
                        Some(&t),
                        &body,
                    )
                    .await
                }));
            }
        }
    }
    let mut accepted = 0;
    for t in tasks {
        let (s, body) = t.await.unwrap().unwrap();
        assert_eq!(s, 200, "{body}");
        let r: PushResponse = serde_json::from_value(body).unwrap();
        for r in r.results {
            match r.outcome {
                Outcome::Accepted => accepted += 1,
                Outcome::Duplicate => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
    }
    assert_eq!(accepted, all.len(), "each form accepted exactly once");
    let held = server_ids(&client, &format!("http://127.0.0.1:{p2}")).await;
    let unique: HashSet<Uuid> = held.iter().copied().collect();
    assert_eq!(held.len(), all.len());
    assert_eq!(unique.len(), all.len());
    assert_index_stats(
        &client,
        &format!("http://127.0.0.1:{p1}"),
        &db.url,
        all.len(),
    )
    .await;
    s1.kill().ok();
    s2.kill().ok();
    s1.wait().ok();
    s2.wait().ok();
    db.remove().await;
}

/// The server's resident memory (`VmRSS`) and its high-water mark (`VmHWM`), in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A burst of pushes each carrying one form with 200,000 made-up answer keys (a body of about
/// 3 MB): every one is answered `invalid` with a bounded list of problems in a small response,
/// and the server's peak memory stays bounded (the push gate admits a few bodies at a time; the
/// rest wait unread). Prints the memory it measured.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_made_up_keys_keeps_memory_and_answers_bounded() {
    const KEYS: usize = 200_000;
    const PUSHES: usize = 24;
    // A debug build holds more than a release one; the bound is generous for it and still far
    // below the GiBs such a burst took before answers and problems were bounded.
    const BOUND_MIB: u64 = 400;
    let db = Db::fresh("junk").await;
    let port = free_port();
    let mut server = start_server(&db.url, port).await;
    let pid = server.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let token = enumerator_token(&client, &base).await;
    let (idle, _) = memory_kib(pid);
    let tasks: Vec<_> = (0..PUSHES)
        .map(|i| {
            let mut f = SipasForm::new().household(format!("HH-junk-{i}")).build();
            for k in 0..KEYS {
                f.answers.insert(format!("made_up_{k}"), json!(k));
            }
            let body = serde_json::to_vec(&json!({ "forms": [f] })).unwrap();
            let (c, t, url) = (
                client.clone(),
                token.clone(),
                format!("{base}/api/v1/sync/push"),
            );
            tokio::spawn(async move {
                loop {
                    let resp = c
                        .post(&url)
                        .bearer_auth(&t)
                        .header(PROTOCOL_HEADER, "1")
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    if resp.status() == 503 {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                    let len = resp.content_length();
                    let status = resp.status().as_u16();
                    let r: PushResponse = resp.json().await.unwrap();
                    return (status, len, r);
                }
            })
        })
        .collect();
    for t in tasks {
        let (status, len, r) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(
            len.is_none_or(|l| l < 16 * 1024),
            "a response of {len:?} bytes"
        );
        assert_eq!(r.results[0].outcome, Outcome::Invalid);
        assert!(r.results[0].errors.len() <= schema::MAX_UNKNOWN_REPORTED + 1);
    }
    let (rss, hwm) = memory_kib(pid);
    println!(
        "{PUSHES} pushes of {KEYS} made-up keys: server RSS idle {} MiB, after {} MiB, peak (VmHWM) {} MiB",
        idle / 1024,
        rss / 1024,
        hwm / 1024
    );
    assert!(
        hwm / 1024 < BOUND_MIB,
        "peak {} MiB over {BOUND_MIB} MiB",
        hwm / 1024
    );
    let _ = server.kill();
    server.wait().ok();
    db.remove().await;
}
