//! Field-quality signals (`GET /rounds/{round}/quality`): each signal on hand-made forms pushed
//! through sync (edge cases: no GPS, one form per enumerator, every item "don't know"), scoping,
//! a corrected revision measured again, and a simulated province where two enumerators of twenty
//! fabricate and the report ranks them first.

use collect::sim::{self, Fabricate, SimConfig};
use e2e::{ADMIN, ADMIN_PASSWORD, TestApp, spawn_app};
use serde_json::Value;
use sync_protocol::{FormSubmission, Gps, Outcome, sample::SipasForm};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const QUALITY: &str = "/api/v1/rounds/sipas-2025/quality";

/// Varied levels (2..=4) from a seed, as an honest respondent's.
fn varied(seed: u64) -> [u8; 39] {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = [0u8; 39];
    for l in &mut out {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *l = 2 + (x % 3) as u8;
    }
    out
}

/// A form of `levels` started `minutes` before `finished`, with a GPS fix unless `gps` is None.
fn form(
    levels: &[u8; 39],
    finished: OffsetDateTime,
    minutes: i64,
    gps: Option<(f64, f64)>,
) -> FormSubmission {
    let mut b = SipasForm::new()
        .answers(schema::sample::sipas_answers_with_levels(levels))
        .started_at(finished - Duration::minutes(minutes))
        .finished_at(finished);
    if let Some((lat, lon)) = gps {
        b = b.gps(Gps {
            lat,
            lon,
            accuracy_m: Some(6.0),
        });
    }
    b.build()
}

/// A day ago at 09:00 Vietnam time (02:00 UTC), plus `minutes`.
fn morning(minutes: i64) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let day = now.unix_timestamp().div_euclid(86_400) * 86_400 - 86_400;
    OffsetDateTime::from_unix_timestamp(day + 2 * 3600).unwrap() + Duration::minutes(minutes)
}

fn signals_of(report: &Value, id: Uuid) -> Vec<String> {
    report["form_signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id.to_string())
        .map(|f| {
            f["signals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn push_all(app: &TestApp, token: &str, forms: &[FormSubmission]) {
    let r = app.sync(token).push(forms).await;
    for x in &r.results {
        assert!(
            matches!(x.outcome, Outcome::Accepted | Outcome::Updated),
            "{x:?}"
        );
    }
}

#[tokio::test]
async fn each_signal_on_hand_made_forms() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dtv = app.lai_chau_enumerator("dtv.q1", "dev-q1").await;
    // Ten honest forms: 30 minutes, an hour apart, spread GPS.
    let mut forms: Vec<FormSubmission> = (0..10)
        .map(|j| {
            form(
                &varied(j),
                morning(j as i64 * 60),
                30 + j as i64,
                Some((22.3 + 0.004 * j as f64, 103.4 + 0.003 * j as f64)),
            )
        })
        .collect();
    let honest: Vec<Uuid> = forms.iter().map(|f| f.id).collect();
    let short = form(&varied(50), morning(15), 3, Some((22.1, 103.1)));
    let mut backwards = form(&varied(51), morning(100), 30, Some((22.2, 103.2)));
    backwards.started_at = Some(morning(130));
    let future = form(
        &varied(52),
        OffsetDateTime::now_utc() + Duration::hours(2),
        30,
        Some((22.25, 103.25)),
    );
    let mut future = future;
    future.started_at = Some(morning(400));
    // 23:10 local.
    let night = form(
        &varied(53),
        morning(0) + Duration::hours(14) + Duration::minutes(10),
        35,
        Some((22.35, 103.35)),
    );
    let straight = form(&[4; 39], morning(200), 30, Some((22.4, 103.4)));
    let dont_know = form(&[0; 39], morning(250), 30, Some((22.45, 103.45)));
    let no_gps = form(&varied(54), morning(320), 30, None);
    // A copy of honest form 3 with one answer changed, in the same village.
    let mut copied = varied(3);
    copied[7] = if copied[7] == 4 { 2 } else { 4 };
    let copy = form(&copied, morning(410), 30, Some((22.5, 103.5)));
    let ids = [
        short.id,
        backwards.id,
        future.id,
        night.id,
        straight.id,
        dont_know.id,
        no_gps.id,
        copy.id,
    ];
    forms.extend([
        short, backwards, future, night, straight, dont_know, no_gps, copy,
    ]);
    push_all(&app, &dtv, &forms).await;
    // Another enumerator with a single form: no distribution, no pace, no cluster.
    let lone = app.lai_chau_enumerator("dtv.q2", "dev-q2").await;
    let single = form(&varied(99), morning(90), 31, Some((22.31, 103.41)));
    push_all(&app, &lone, std::slice::from_ref(&single)).await;

    let r = app.get_ok(&admin, &format!("{QUALITY}?level=form")).await;
    assert_eq!(r["forms"], 19, "{r}");
    assert_eq!(r["unmeasured"], 0);
    let want: [&[&str]; 8] = [
        &["too_short", "too_fast"],
        &["finished_before_started"],
        &["future_time"],
        &["implausible_hour"],
        &["straight_line", "low_variance"],
        &["dont_know"],
        &["gps_missing"],
        &["near_duplicate"],
    ];
    for (id, want) in ids.iter().zip(want) {
        assert_eq!(signals_of(&r, *id), want, "{id}: {r}");
    }
    for (j, id) in honest.iter().enumerate() {
        let s = signals_of(&r, *id);
        if j == 3 {
            assert_eq!(s, ["near_duplicate"], "the copied form");
        } else {
            assert!(s.is_empty(), "honest form {j}: {s:?}");
        }
    }
    assert!(signals_of(&r, single.id).is_empty());
    // The reviewer reading a form sees its signals next to it; its enumerator does not.
    let one = app
        .get_ok(&admin, &format!("/api/v1/forms/{}", ids[0]))
        .await;
    assert_eq!(
        one["signals"],
        serde_json::json!(["too_short", "too_fast"]),
        "{one}"
    );
    let one = app
        .get_ok(&admin, &format!("/api/v1/forms/{}", honest[0]))
        .await;
    assert_eq!(one["signals"], serde_json::json!([]), "{one}");
    let own = app.get_ok(&dtv, &format!("/api/v1/forms/{}", ids[0])).await;
    assert!(own.get("signals").is_none(), "{own}");
    assert!(own["answers"].is_object());
    // Totals list every signal; counts per signal.
    let totals = r["signals"].as_array().unwrap();
    assert_eq!(totals.len(), 18);
    let count = |code: &str| {
        totals.iter().find(|s| s["signal"] == code).unwrap()["forms"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count("near_duplicate"), 2);
    assert_eq!(count("gps_missing"), 1);
    assert_eq!(count("pace"), 0);
    // Enumerators: the one with the flagged forms first, with the forms behind the score.
    let e = r["enumerators"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e[0]["username"], "dtv.q1");
    assert!(e[0]["score"].as_f64().unwrap() > e[1]["score"].as_f64().unwrap());
    assert_eq!(e[0]["forms"], 18);
    let flagged: Vec<&str> = e[0]["flagged_forms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Every flagged form but the one without GPS alone, and the copied original.
    assert_eq!(flagged.len(), 8, "{flagged:?}");
    assert_eq!(e[1]["forms"], 1);
    assert_eq!(e[1]["distribution_js"], Value::Null);
    assert_eq!(e[1]["max_per_day"], 1);
    assert_eq!(e[1]["score"], 0.0);

    // Per village.
    let v = app
        .get_ok(&admin, &format!("{QUALITY}?level=village"))
        .await;
    assert_eq!(v["villages"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["villages"][0]["forms"], 19);
    assert_eq!(v["form_signals"].as_array().unwrap().len(), 0);

    // Scope: enumerators are refused; a reviewer of another province sees no form and may not
    // ask about this one; a bad level is refused.
    let (s, body) = app.get_as(&dtv, QUALITY).await;
    assert_eq!(s, 403, "{body}");
    app.create_reviewer(&admin, "sonv.sonla", "vn-2025", "14")
        .await;
    let other = app.user_token("sonv.sonla").await;
    let seen = app.get_ok(&other, QUALITY).await;
    assert_eq!(seen["forms"], 0);
    let (s, _) = app.get_as(&other, &format!("{QUALITY}?unit=12")).await;
    assert_eq!(s, 403);
    let (s, body) = app.get_as(&admin, &format!("{QUALITY}?level=house")).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_level")));
    let (s, _) = app.get_as(&admin, "/api/v1/rounds/nope/quality").await;
    assert_eq!(s, 404);
    app.create_reviewer(&admin, "sonv.laichau", "vn-2025", "12")
        .await;
    let lc = app.user_token("sonv.laichau").await;
    assert_eq!(
        app.get_ok(&lc, &format!("{QUALITY}?unit=12")).await["forms"],
        19
    );
}

#[tokio::test]
async fn a_corrected_revision_is_measured_again() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dtv = app.lai_chau_enumerator("dtv.r1", "dev-r1").await;
    let first = form(&[5; 39], morning(0), 30, Some((22.3, 103.4)));
    push_all(&app, &dtv, std::slice::from_ref(&first)).await;
    let r = app.get_ok(&admin, &format!("{QUALITY}?level=form")).await;
    assert_eq!(signals_of(&r, first.id), ["straight_line", "low_variance"]);
    app.change_status(first.id, "rejected").await;
    let mut next = form(&varied(8), morning(0), 30, Some((22.3, 103.4)));
    next.id = first.id;
    next.household_ref = first.household_ref.clone();
    next.revision = 2;
    push_all(&app, &dtv, std::slice::from_ref(&next)).await;
    let r = app.get_ok(&admin, &format!("{QUALITY}?level=form")).await;
    assert_eq!(r["forms"], 1);
    assert!(signals_of(&r, first.id).is_empty(), "{r}");
}

/// A province of twenty enumerators, two of whom fabricate every way: the report ranks them
/// first, and an honest enumerator's score stays low.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fabricating_enumerators_of_twenty_rank_first() {
    let app = spawn_app().await;
    let mut cfg = SimConfig::new(&app.address, ADMIN, ADMIN_PASSWORD);
    cfg.devices = 20;
    cfg.forms_per_device = 12;
    cfg.communes = 4;
    cfg.batch_size = 12;
    cfg.seed = 7;
    cfg.fabricate_rate = 0.1;
    cfg.fabricate_kinds = Fabricate::ALL.to_vec();
    let report = sim::run(cfg.clone()).await.expect("simulation");
    assert!(report.ok(), "{}", sim::render(&cfg, &report));
    assert_eq!(report.fabricators.len(), 2);
    let admin = app.admin_token().await;
    let q = app.get_ok(&admin, QUALITY).await;
    let e = q["enumerators"].as_array().unwrap();
    assert_eq!(e.len(), 20, "{q}");
    let mut top: Vec<i64> = e[..2].iter().map(|x| x["id"].as_i64().unwrap()).collect();
    top.sort_unstable();
    let mut want = report.fabricators.clone();
    want.sort_unstable();
    assert_eq!(top, want, "{q}");
    let third = e[2]["score"].as_f64().unwrap();
    assert!(
        e[1]["score"].as_f64().unwrap() > 2.0 * third.max(1.0),
        "{q}"
    );
}

/// `exclude_flagged`: the indices endpoint answers the normal figures and those without the
/// forms raising the listed signals, recomputed from the remaining forms.
#[tokio::test]
async fn indices_without_flagged_forms() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dtv = app.lai_chau_enumerator("dtv.s1", "dev-s1").await;
    // Forty honest forms in two villages (at least 30 forms: the figures are not withheld).
    let mut forms: Vec<FormSubmission> = (0..40)
        .map(|j| {
            let mut f = form(
                &varied(200 + j),
                morning(j as i64 * 35),
                30,
                Some((22.3 + 0.004 * j as f64, 103.4)),
            );
            if j % 2 == 1 {
                f.units.village = "V02".into();
            }
            f
        })
        .collect();
    // Four straight-lined forms at the top level lift the index.
    forms.extend((0..4).map(|j| {
        form(
            &[5; 39],
            morning(5 + j * 35),
            30,
            Some((22.2, 103.3 + 0.004 * j as f64)),
        )
    }));
    push_all(&app, &dtv, &forms).await;
    let path = "/api/v1/rounds/sipas-2025/indices?unit=12";
    let normal = app.get_ok(&admin, path).await;
    assert!(normal.get("without_flagged").is_none());
    let both = app
        .get_ok(
            &admin,
            &format!("{path}&exclude_flagged=straight_line,too_short"),
        )
        .await;
    assert_eq!(both["results"], normal["results"]);
    let w = &both["without_flagged"];
    assert_eq!(
        w["signals"],
        serde_json::json!(["straight_line", "too_short"])
    );
    assert_eq!(w["forms_flagged"], 4);
    assert_eq!(normal["results"][0]["n_forms"], 44);
    assert_eq!(w["results"][0]["n_forms"], 40, "{w}");
    assert!(
        w["results"][0]["overall_change"].as_f64().unwrap() < 0.0,
        "{w}"
    );
    assert!(w["results"][0]["outside_ci"].is_boolean());
    // Excluding a signal no form raises changes nothing.
    let same = app
        .get_ok(&admin, &format!("{path}&exclude_flagged=clock_skew"))
        .await;
    assert_eq!(same["without_flagged"]["forms_flagged"], 0);
    assert_eq!(
        same["without_flagged"]["results"][0]["estimates"],
        normal["results"][0]["estimates"]
    );
    assert_eq!(same["without_flagged"]["results"][0]["overall_change"], 0.0);
    let (s, body) = app
        .get_as(&admin, &format!("{path}&exclude_flagged=nope"))
        .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("bad_signal")));
}

const SETTINGS: &str = "/api/v1/rounds/sipas-2025/quality/settings";

async fn put_settings(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.call(reqwest::Method::PUT, SETTINGS, Some(token), Some(&body))
        .await
}

/// Thresholds are the round's: the ministry sets them (checked, audited, `{}` back to the
/// defaults), the quality report and `exclude_flagged` apply them at once, nobody else may.
#[tokio::test]
async fn thresholds_are_a_round_setting() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dtv = app.lai_chau_enumerator("dtv.t1", "dev-t1").await;
    let mut forms: Vec<FormSubmission> = (0..10)
        .map(|j| {
            form(
                &varied(300 + j),
                morning(j as i64 * 60),
                30 + j as i64,
                Some((22.3 + 0.004 * j as f64, 103.4)),
            )
        })
        .collect();
    // Twenty minutes: not too short by default (5 minutes), nor too fast (0.4 × ~35).
    let brisk = form(&varied(350), morning(700), 20, Some((22.2, 103.3)));
    forms.push(brisk.clone());
    push_all(&app, &dtv, &forms).await;

    let s = app.get_ok(&admin, SETTINGS).await;
    assert_eq!(s["source"], "default", "{s}");
    assert_eq!(s["settings"], s["defaults"]);
    assert_eq!(s["settings"]["min_duration_s"], 300);
    let r = app.get_ok(&admin, &format!("{QUALITY}?level=form")).await;
    assert_eq!(r["settings_source"], "default");
    assert!(signals_of(&r, brisk.id).is_empty(), "{r}");

    // Only the ministry sets them; the readers of the report may read them.
    app.create_reviewer(&admin, "sonv.t", "vn-2025", "12").await;
    let reviewer = app.user_token("sonv.t").await;
    let (st, body) = put_settings(&app, &reviewer, serde_json::json!({})).await;
    assert_eq!(st, 403, "{body}");
    assert_eq!(app.get_ok(&reviewer, SETTINGS).await["source"], "default");
    let (st, _) = app.get_as(&dtv, SETTINGS).await;
    assert_eq!(st, 403);

    // Out of range and misspelt thresholds are refused, each field named; nothing changes.
    let (st, body) = put_settings(
        &app,
        &admin,
        serde_json::json!({"fast_fraction": 2.0, "night_until_hour": 30, "duplicate_max_diff": 20}),
    )
    .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("validation_failed")),
        "{body}"
    );
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["fast_fraction", "night_until_hour", "duplicate_max_diff"]
    );
    let (st, body) = put_settings(&app, &admin, serde_json::json!({"min_duraton_s": 1})).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("invalid_body")),
        "{body}"
    );
    assert_eq!(app.get_ok(&admin, SETTINGS).await["source"], "default");

    // 25 minutes at least: the brisk form is now too short, in the report and in the indices.
    let (st, body) = put_settings(&app, &admin, serde_json::json!({"min_duration_s": 1500})).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["source"], "round");
    assert_eq!(body["settings"]["min_duration_s"], 1500);
    assert_eq!(body["settings"]["straight_run"], 15, "the rest default");
    assert_eq!(body["updated_by"], ADMIN);
    let r = app.get_ok(&admin, &format!("{QUALITY}?level=form")).await;
    assert_eq!(r["settings_source"], "round");
    assert_eq!(r["settings"]["min_duration_s"], 1500);
    assert_eq!(signals_of(&r, brisk.id), ["too_short"], "{r}");
    let w = app
        .get_ok(
            &admin,
            "/api/v1/rounds/sipas-2025/indices?unit=12&exclude_flagged=too_short",
        )
        .await;
    assert_eq!(w["without_flagged"]["forms_flagged"], 1, "{w}");
    // Another round keeps the defaults.
    let other = app
        .get_ok(&admin, "/api/v1/rounds/sipas-2023/quality/settings")
        .await;
    assert_eq!(other["source"], "default");
    let audit = app
        .get_ok(&admin, "/api/v1/audit?event=quality_settings_changed")
        .await;
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["target"], "round:sipas-2025");
    assert_eq!(
        events[0]["details"]["changed"],
        serde_json::json!({"min_duration_s": [300, 1500]})
    );

    // `{}` is the defaults again.
    let (st, body) = put_settings(&app, &admin, serde_json::json!({})).await;
    assert_eq!(
        (st, body["source"].as_str()),
        (200, Some("default")),
        "{body}"
    );
    let r = app.get_ok(&admin, &format!("{QUALITY}?level=form")).await;
    assert!(signals_of(&r, brisk.id).is_empty(), "{r}");
    let (st, _) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/rounds/nope/quality/settings",
            Some(&admin),
            Some(&serde_json::json!({})),
        )
        .await;
    assert_eq!(st, 404);
}

/// `far_from_village`: a form's point against its village's location where the village list
/// gives one; a village without a location, or a form without a fix, raises nothing.
#[tokio::test]
async fn far_from_the_village_where_the_list_locates_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let csv = "commune_code,village_code,village_name,households,latitude,longitude\n\
               03388,V01,Bản Một,100,22.4000,103.4500\n\
               03388,V02,Bản Hai,80,,\n";
    let (st, body) = read_csv_put(
        &app,
        &admin,
        "/api/v1/rounds/sipas-2025/frames/12/villages",
        csv,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let frame = app
        .get_ok(&admin, "/api/v1/rounds/sipas-2025/frames/12")
        .await;
    assert_eq!(frame["villages"][0]["latitude"], 22.4, "{frame}");
    assert_eq!(frame["villages"][1]["latitude"], Value::Null);
    // The same list again changes nothing; a moved village does.
    let (_, again) = read_csv_put(
        &app,
        &admin,
        "/api/v1/rounds/sipas-2025/frames/12/villages",
        csv,
    )
    .await;
    assert_eq!(again["changed"], false, "{again}");
    let (_, moved) = read_csv_put(
        &app,
        &admin,
        "/api/v1/rounds/sipas-2025/frames/12/villages",
        &csv.replace("22.4000", "22.5000"),
    )
    .await;
    assert_eq!(
        (
            moved["changed"].as_bool(),
            moved["villages_changed"].as_u64()
        ),
        (Some(true), Some(1)),
        "{moved}"
    );
    let (_, back) = read_csv_put(
        &app,
        &admin,
        "/api/v1/rounds/sipas-2025/frames/12/villages",
        csv,
    )
    .await;
    assert_eq!(back["villages_changed"], 1, "{back}");

    let dtv = app.lai_chau_enumerator("dtv.v1", "dev-v1").await;
    let at = |village: &str, j: i64, gps: Option<(f64, f64)>| {
        let mut f = form(&varied(400 + j as u64), morning(j * 60), 30, gps);
        f.units.village = village.into();
        f
    };
    // ~140 m away, ~45 km away, far but in the unlocated village, no fix.
    let near = at("V01", 0, Some((22.401, 103.451)));
    let far = at("v01", 1, Some((22.10, 103.10)));
    let unlocated = at("V02", 2, Some((22.10, 103.10)));
    let no_fix = at("V01", 3, None);
    push_all(
        &app,
        &dtv,
        &[near.clone(), far.clone(), unlocated.clone(), no_fix.clone()],
    )
    .await;
    let r = app.get_ok(&admin, &format!("{QUALITY}?level=form")).await;
    assert!(signals_of(&r, near.id).is_empty(), "{r}");
    assert_eq!(signals_of(&r, far.id), ["far_from_village"], "{r}");
    assert!(signals_of(&r, unlocated.id).is_empty(), "{r}");
    assert_eq!(signals_of(&r, no_fix.id), ["gps_missing"]);
    assert_eq!(r["signals"].as_array().unwrap().len(), 18);
    // A round that wants its forms within 100 m flags the near one too.
    let (st, body) =
        put_settings(&app, &admin, serde_json::json!({"far_from_village_m": 100})).await;
    assert_eq!(st, 200, "{body}");
    let r = app.get_ok(&admin, &format!("{QUALITY}?level=form")).await;
    assert_eq!(signals_of(&r, near.id), ["far_from_village"], "{r}");
}

async fn read_csv_put(app: &TestApp, token: &str, path: &str, body: &str) -> (u16, Value) {
    e2e::read(
        app.request(reqwest::Method::PUT, path, Some(token))
            .header(reqwest::header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .body(body.to_owned())
            .send()
            .await
            .expect("request"),
    )
    .await
}
