//! End to end against the real server (the e2e harness: port 0, fresh database): the CLI's offline
//! round trip, token refresh, local checks, and the field simulator with an unreliable network.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::Output,
};

use collect::{
    app::{self, AppError, NewForm},
    sim::{self, FaultRates, SimConfig},
    store::{Store, key},
};
use e2e::{
    ADMIN, ADMIN_PASSWORD, USER_PASSWORD, claims,
    places::{commune_2025_outside, communes_in},
    spawn_app,
};
use sync_protocol::{
    FormSubmission, Gps,
    engine::{LocalState, Outbox},
    sample::SipasForm,
};
use uuid::Uuid;

fn temp_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sipas-collect-{tag}-{}", Uuid::new_v4().simple()))
}

/// Runs `sipas-collect --data DIR ARGS...` without blocking the server's runtime.
async fn cli(data: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sipas-collect"));
    cmd.arg("--data").arg(data).args(args);
    cmd.env_remove("SIPAS_COLLECT_PASSWORD");
    tokio::task::spawn_blocking(move || cmd.output().expect("run sipas-collect"))
        .await
        .expect("join")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The first `n` communes of province 12 in vn-2025, by code.
fn communes_2025(n: usize) -> Vec<String> {
    let mut v = communes_in(geography::vn_2025(), "12");
    v.truncate(n);
    v
}

/// The form an enumerator enters for a sample form: its units, household, answers, GPS fix and
/// start.
fn entered(f: FormSubmission) -> NewForm {
    NewForm {
        round: f.round,
        province: f.units.province,
        district: f.units.district,
        commune: f.units.commune,
        village: f.units.village,
        household: f.household_ref,
        answers: f.answers,
        gps: f.gps,
        started_at: f.started_at,
        finished_at: None,
    }
}

/// Runs `sipas-collect new` for a sample form: its answers written to `NAME.json` in `data`, its
/// round, units, household and GPS fix given as options.
async fn cli_new(data: &Path, name: &str, form: &FormSubmission) -> Output {
    std::fs::create_dir_all(data).expect("dir");
    let file = data.join(format!("{name}.json"));
    let answers = serde_json::to_string_pretty(&form.answers).expect("json");
    std::fs::write(&file, answers).expect("write");
    let units = &form.units;
    let mut args = vec!["new", "--round", &form.round, "--province", &units.province];
    if let Some(d) = &units.district {
        args.extend(["--district", d]);
    }
    args.extend(["--commune", &units.commune, "--village", &units.village]);
    args.extend(["--household", &form.household_ref]);
    let gps = form.gps.map(|g| match g.accuracy_m {
        Some(a) => format!("{},{},{a}", g.lat, g.lon),
        None => format!("{},{}", g.lat, g.lon),
    });
    if let Some(g) = &gps {
        args.extend(["--gps", g]);
    }
    args.push(file.to_str().expect("path"));
    cli(data, &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_collects_offline_then_syncs_every_form_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_enumerator(&admin, "enum-cli", "vn-2025", "12", "team-a")
        .await;
    let data = temp_dir("cli");
    let communes = communes_2025(3);

    // Offline: three forms before the device has ever talked to a server.
    let mut ids = Vec::new();
    for (i, commune) in communes.iter().enumerate() {
        let form = SipasForm::new()
            .commune(commune)
            .household(format!("HH-{i:03}"))
            .gps(Gps {
                lat: 22.39,
                lon: 103.46,
                accuracy_m: Some(8.0),
            })
            .build();
        let o = cli_new(&data, &format!("form-{i}"), &form).await;
        assert!(o.status.success(), "{}", describe(&o));
        ids.push(Uuid::parse_str(stdout(&o).trim()).expect("the id is printed"));
    }
    assert!(ids.iter().all(|id| id.get_version_num() == 7));

    // A form the questionnaire refuses is not stored.
    let mut bad = SipasForm::new()
        .commune(&communes[0])
        .household("HH-bad")
        .answer("age", serde_json::json!(7))
        .build();
    bad.answers.remove("gender");
    let o = cli_new(&data, "bad", &bad).await;
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("gender") && err.contains("age"), "{err}");
    // So is a district on a round without districts.
    let with_district = SipasForm::new()
        .district("105")
        .commune(&communes[0])
        .household("HH-x")
        .build();
    let o = cli_new(&data, "ok", &with_district).await;
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));

    let o = cli(&data, &["outbox"]).await;
    assert!(o.status.success(), "{}", describe(&o));
    let listing = stdout(&o);
    assert_eq!(listing.matches("pending").count(), 3, "{listing}");
    assert!(listing.contains("3 phiếu / forms"), "{listing}");

    // Sync before login: a clear error, nothing lost.
    let o = cli(&data, &["sync"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not logged in"));

    let o = cli(
        &data,
        &[
            "login",
            "--server",
            &app.address,
            "--username",
            "enum-cli",
            "--password",
            USER_PASSWORD,
        ],
    )
    .await;
    assert!(o.status.success(), "{}", describe(&o));
    let o = cli(&data, &["sync"]).await;
    assert!(o.status.success(), "{}", describe(&o));
    assert!(
        stdout(&o).contains("Pushed 3 forms: 3 accepted"),
        "{}",
        describe(&o)
    );

    let o = cli(&data, &["outbox"]).await;
    assert_eq!(stdout(&o).matches("synced").count(), 3, "{}", describe(&o));
    let o = cli(&data, &["status"]).await;
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(
        stdout(&o).matches("server: đã nhận / accepted").count(),
        3,
        "{}",
        describe(&o)
    );

    // Nothing left to send; the server holds each form once.
    let o = cli(&data, &["sync"]).await;
    assert!(stdout(&o).contains("Pushed 0 forms"), "{}", describe(&o));
    let on_server = app.form_ids(&admin, "sipas-2025").await;
    assert_eq!(on_server.len(), 3);
    assert_eq!(
        on_server.iter().collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>()
    );

    // After a pull the device knows its assignment: a commune elsewhere is refused offline.
    let o = cli(&data, &["pull"]).await;
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("sipas-2025"), "{}", describe(&o));
    let elsewhere = SipasForm::new()
        .commune(commune_2025_outside("12"))
        .household("HH-out")
        .build();
    let o = cli_new(&data, "ok", &elsewhere).await;
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let _ = std::fs::remove_dir_all(&data);
}

/// An access token of `user_id` on `device` that expired an hour ago, signed with the server's key.
fn expired_token(app: &e2e::TestApp, user_id: i64, username: &str, device: &str) -> String {
    let now = sipas_server::auth::tokens::now_unix();
    app.sign(&sipas_server::auth::tokens::Claims {
        dev: Some(device.into()),
        ..claims(user_id, username, "enumerator", now - 7200, now - 3600)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_and_the_rotated_token_saved() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user_id = app
        .create_enumerator(&admin, "enum-ttl", "vn-2025", "12", "team-a")
        .await;
    let data = temp_dir("ttl");
    let mut store = Store::open(&data).await.expect("store");
    app::login(&store, &app.address, "enum-ttl", USER_PASSWORD)
        .await
        .expect("login");
    let device = store.device_id().await.expect("device");
    let commune = communes_2025(1).remove(0);
    let form = SipasForm::new().commune(commune).household("HH-1").build();
    let id = app::add_form(&mut store, entered(form)).await.expect("add");

    for round in 0..2 {
        let expired = expired_token(&app, user_id, "enum-ttl", &device);
        store
            .set_meta(&[(key::ACCESS_TOKEN, Some(&expired))])
            .await
            .expect("meta");
        let before = store.meta(key::REFRESH_TOKEN).await.expect("meta");
        store.close().await;
        let report = app::sync(&data).await.expect("sync with an expired token");
        assert_eq!(report.accepted, usize::from(round == 0), "{report:?}");
        store = Store::open(&data).await.expect("store");
        let after = store.meta(key::REFRESH_TOKEN).await.expect("meta");
        assert_ne!(before, after, "the rotated refresh token is saved");
        assert_ne!(
            store
                .meta(key::ACCESS_TOKEN)
                .await
                .expect("meta")
                .as_deref(),
            Some(expired.as_str())
        );
    }
    let listed = store.list().await.expect("list");
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].state, LocalState::Synced);
    store.close().await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2023_round_needs_the_district_and_the_server_accepts_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_enumerator(&admin, "enum-2023", "vn-2023", "12", "team-b")
        .await;
    let geo = geography::vn_2023();
    let commune = geo
        .units()
        .iter()
        .find(|u| u.level == geography::Level::Commune && geo.is_within(&u.code, "12"))
        .expect("a 2023 commune in 12");
    let district = commune.parent.clone().expect("district");
    let data = temp_dir("2023");
    let mut store = Store::open(&data).await.expect("store");
    let form = SipasForm::new()
        .round("sipas-2023")
        .commune(&commune.code)
        .village("Bản Nà Khương")
        .household("HH-7")
        .answers(schema::sample::sipas_answers_without_services());
    let missing = app::add_form(&mut store, entered(form.clone().build())).await;
    assert!(matches!(missing, Err(AppError::Input(_))), "{missing:?}");
    app::add_form(&mut store, entered(form.district(district).build()))
        .await
        .expect("add");
    app::login(&store, &app.address, "enum-2023", USER_PASSWORD)
        .await
        .expect("login");
    store.close().await;
    let report = app::sync(&data).await.expect("sync");
    assert_eq!((report.accepted, report.failed.len()), (1, 0), "{report:?}");
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_delivers_every_form_exactly_once_through_an_unreliable_network() {
    let app = spawn_app().await;
    let mut cfg = SimConfig::new(&app.address, ADMIN, ADMIN_PASSWORD);
    cfg.devices = 4;
    cfg.forms_per_device = 25;
    cfg.batch_size = 7;
    cfg.offline_rounds = 2;
    // Another seed explores other fault sequences: SIPAS_SIM_SEED=n cargo test ...
    let explore = std::env::var("SIPAS_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    cfg.seed = explore.unwrap_or(20_251_123);
    cfg.rates = FaultRates {
        drop_request: 0.15,
        drop_response: 0.15,
        duplicate: 0.2,
        restart: 0.08,
    };
    let communes = communes_2025(3);
    cfg.communes = 3;
    cfg.levels =
        sim::parse_levels(&format!("{}=5,{}=2", communes[0], communes[1])).expect("levels");
    cfg.default_level = 0;
    let report = sim::run(cfg.clone()).await.expect("simulation");
    let text = sim::render(&cfg, &report);
    eprintln!("{text}");
    assert!(report.ok(), "{text}");
    assert_eq!(report.generated, 100, "{text}");
    assert_eq!(report.on_server, 100, "{text}");
    assert_eq!(report.unsent, 0, "{text}");
    // With the default seed every kind of fault happens (another seed may skip one).
    let f = &report.faults;
    let load = |a: &std::sync::atomic::AtomicUsize| a.load(std::sync::atomic::Ordering::Relaxed);
    if explore.is_none() {
        assert!(load(&f.dropped_requests) > 0, "{text}");
        assert!(load(&f.dropped_responses) > 0, "{text}");
        assert!(load(&f.restarts) > 0, "{text}");
        assert!(load(&f.duplicated_pushes) > 0, "{text}");
        assert!(report.sync.reconciled > 0, "{text}");
        assert!(
            report.sync.duplicates > 0,
            "resends show as duplicates: {text}"
        );
    }
    assert!(load(&f.offline_calls) > 0, "{text}");
    // Expected indices: level 5 → 100, level 2 → 0, "don't know" → none.
    assert_eq!(report.expected[&communes[0]].item_index, Some(100.0));
    assert_eq!(report.expected[&communes[1]].item_index, Some(0.0));
    assert_eq!(report.expected[&communes[2]].item_index, None);
    let admin = app.admin_token().await;
    assert_eq!(app.form_ids(&admin, "sipas-2025").await.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_binary_exits_zero_when_every_form_arrived() {
    let app = spawn_app().await;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sipas-sim"));
    cmd.args([
        "--server",
        &app.address,
        "--admin-user",
        ADMIN,
        "--admin-password",
        ADMIN_PASSWORD,
        "--round",
        "sipas-2023",
        "--devices",
        "2",
        "--forms-per-device",
        "6",
        "--drop-response-rate",
        "0.3",
        "--duplicate-rate",
        "0.3",
        "--restart-rate",
        "0.1",
        "--seed",
        "7",
    ]);
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("run sipas-sim"))
        .await
        .expect("join");
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("PASS"), "{}", describe(&o));
}

/// `sipas-sim` in a practice round: the real round stays empty, the simulated enumerators are
/// deactivated afterwards, and deleting the practice round removes what it collected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_plays_in_a_practice_round_and_leaves_the_real_one_clean() {
    let app = spawn_app().await;
    let mut cfg = SimConfig::new(&app.address, ADMIN, ADMIN_PASSWORD);
    cfg.devices = 2;
    cfg.forms_per_device = 5;
    cfg.communes = 2;
    cfg.practice = Some("practice-sim".into());
    let report = sim::run(cfg.clone()).await.expect("simulation");
    let text = sim::render(&cfg, &report);
    assert!(report.ok(), "{text}");
    assert!(text.contains("practice-sim"), "{text}");
    assert_eq!(report.on_server, 10, "{text}");
    let admin = app.admin_token().await;
    assert_eq!(app.form_ids(&admin, "practice-sim").await.len(), 10);
    assert!(app.form_ids(&admin, "sipas-2025").await.is_empty());
    let users = app.get_ok(&admin, "/api/v1/users?q=sim-").await;
    let sims = users["users"].as_array().unwrap();
    assert_eq!(sims.len(), 2);
    assert!(sims.iter().all(|u| u["active"] == false), "{users}");
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/rounds/practice-sim",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get_json("/api/v1/rounds/practice-sim").await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_plays_the_review_loop_through_an_unreliable_network() {
    let app = spawn_app().await;
    let mut cfg = SimConfig::new(&app.address, ADMIN, ADMIN_PASSWORD);
    cfg.devices = 3;
    cfg.forms_per_device = 12;
    cfg.batch_size = 5;
    cfg.communes = 2;
    cfg.seed = 20_261_207;
    cfg.rates = FaultRates {
        drop_request: 0.1,
        drop_response: 0.1,
        duplicate: 0.15,
        restart: 0.05,
    };
    cfg.reject_share = 0.3;
    let report = sim::run(cfg.clone()).await.expect("simulation");
    let text = sim::render(&cfg, &report);
    eprintln!("{text}");
    assert!(report.ok(), "{text}");
    let review = report.review.as_ref().expect("review loop");
    assert!(review.rejected > 0, "{text}");
    assert_eq!(review.approved_first + review.rejected, 36, "{text}");
    assert_eq!(review.updated, review.rejected, "{text}");
    // Nothing missing or doubled, and the indices equal a recomputation from the forms.
    let admin = app.admin_token().await;
    assert_eq!(app.form_ids(&admin, "sipas-2025").await.len(), 36);
    let villages = app.stats_match("sipas-2025").await;
    assert_eq!(villages.iter().map(|(_, n)| n).sum::<u32>(), 36);
}

#[tokio::test]
async fn a_returned_form_is_shown_corrected_and_resent_from_the_cli() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let enumerator = app
        .create_enumerator(&admin, "dtv.cli", "vn-2025", "12", "LC-1")
        .await;
    app.create_supervisor(&admin, "gs.cli", "vn-2025", "12", "LC-1")
        .await;
    let supervisor = app.user_token("gs.cli").await;
    let commune = communes_2025(1).remove(0);
    let (s, body) = app
        .post_as(
            &supervisor,
            "/api/v1/rounds/sipas-2025/assignments",
            &serde_json::json!({ "assignments": [
                { "enumerator_id": enumerator, "commune": commune, "village": "V01", "quantity": 2 },
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let data = temp_dir("review");
    let mut store = Store::open(&data).await.expect("open");
    let form = SipasForm::new().commune(&commune).village("V01").build();
    store.add(&form).await.expect("add");
    app::login(&store, &app.address, "dtv.cli", USER_PASSWORD)
        .await
        .expect("login");
    store.close().await;
    let o = cli(&data, &["sync"]).await;
    assert!(o.status.success(), "{}", describe(&o));
    let o = cli(&data, &["assignments"]).await;
    assert!(stdout(&o).contains("1/2"), "{}", describe(&o));
    let (s, body) = app
        .post_as(
            &supervisor,
            &format!("/api/v1/forms/{}/review", form.id),
            &serde_json::json!({ "action": "reject", "revision": 1, "comment": "Tuổi chưa đúng" }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let o = cli(&data, &["sync"]).await;
    assert!(o.status.success(), "{}", describe(&o));
    let o = cli(&data, &["returned"]).await;
    let out = stdout(&o);
    assert!(
        out.contains("Tuổi chưa đúng") && out.contains("cần sửa"),
        "{}",
        describe(&o)
    );
    let changes = temp_dir("changes").with_extension("json");
    std::fs::write(&changes, r#"{"age": 52}"#).expect("write");
    let o = cli(
        &data,
        &["correct", &form.id.to_string(), changes.to_str().unwrap()],
    )
    .await;
    assert!(o.status.success(), "{}", describe(&o));
    let o = cli(&data, &["sync"]).await;
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("1 updated"), "{}", describe(&o));
    let o = cli(&data, &["returned"]).await;
    assert!(stdout(&o).contains("đã sửa"), "{}", describe(&o));
    let (_, body) = app
        .get_as(&supervisor, &format!("/api/v1/forms/{}", form.id))
        .await;
    assert_eq!(
        (
            body["revision"].as_i64(),
            body["status"].as_str(),
            body["answers"]["age"].as_i64()
        ),
        (Some(2), Some("accepted"), Some(52)),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_file(&changes);
}
