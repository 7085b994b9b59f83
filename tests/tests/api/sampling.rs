//! The sample end to end: a round's design, the frames a province uploads (all or nothing,
//! idempotent, names kept exactly), the reproducible draw pinned through the API on both
//! databases, scope, immutability once forms arrive, and redraws that keep history.

use e2e::{Place, TestApp, assert_problem, places::communes_in, read, spawn_app};
use reqwest::{Method, header};
use serde_json::{Value, json};

const R25: &str = "sipas-2025";
const LAI_CHAU: &str = "12";
const SON_LA: &str = "14";

/// A small design for the tests: 3 communes at random, 2 villages each by size, 3 households
/// per village with 2 reserves.
fn small_design() -> Value {
    json!({
        "strata": "province",
        "stages": [
            { "level": "commune", "per_parent": 3, "selection": "srs" },
            { "level": "village", "per_parent": 2, "selection": "pps" },
            { "level": "household", "per_parent": 3, "selection": "srs", "reserves": 2 },
        ]
    })
}

/// The first five Lai Châu communes, each with three villages of 6, 8 and 10 + i households.
fn communes() -> Vec<String> {
    communes_in(geography::vn_2025(), LAI_CHAU)
        .into_iter()
        .take(5)
        .collect()
}

/// A village name with marks in decomposed form (NFD), to check names are kept as sent.
const NFD_NAME: &str = "Tho\u{302}n \u{110}oa\u{300}n Ke\u{302}\u{301}t";

fn village_name(c: usize, v: usize) -> String {
    match v {
        0 => format!("Bản Nà Khương {c}"),
        1 => format!("{NFD_NAME} {c}"),
        _ => format!("Tổ dân phố số {c}, \"Pa So\""),
    }
}

fn villages_csv() -> String {
    let mut s = String::from("commune_code,village_code,village_name,households\n");
    for (i, c) in communes().iter().enumerate() {
        for v in 0..3 {
            let name = village_name(i, v).replace('"', "\"\"");
            s.push_str(&format!("{c},Bản {v},\"{name}\",{}\n", 6 + 2 * v + i));
        }
    }
    s
}

fn households_csv() -> String {
    let mut s = String::from("commune_code,village_code,household_ref,head_name\n");
    for (i, c) in communes().iter().enumerate() {
        for v in 0..3 {
            for h in 0..(6 + 2 * v + i) {
                s.push_str(&format!("{c},Bản {v},H{h:02},Lò Văn Ánh {i}{v}{h}\n"));
            }
        }
    }
    s
}

async fn put_csv(app: &TestApp, token: &str, path: &str, body: &str) -> (u16, Value) {
    read(
        app.request(Method::PUT, path, Some(token))
            .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .body(body.to_owned())
            .send()
            .await
            .expect("request"),
    )
    .await
}

fn frame_path(list: &str) -> String {
    format!("/api/v1/rounds/{R25}/frames/{LAI_CHAU}/{list}")
}

/// Sets the small design and uploads both lists as `token`.
async fn set_up(app: &TestApp, admin: &str, token: &str) {
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/rounds/{R25}/design"),
            Some(admin),
            Some(&small_design()),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["recorded"], true);
    assert_eq!(body["psu"], "commune");
    let (s, body) = put_csv(app, token, &frame_path("villages"), &villages_csv()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["villages"], 15);
    let (s, body) = put_csv(app, token, &frame_path("households"), &households_csv()).await;
    assert_eq!(s, 200, "{body}");
}

async fn draw(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.post_as(token, &format!("/api/v1/rounds/{R25}/samples"), &body)
        .await
}

/// The selection of a draw, one line per unit and household, probabilities and weights in full.
fn selection(d: &Value) -> Vec<String> {
    let p = |x: &Value| format!("{}/{}", x["num"], x["den"]);
    let mut out: Vec<String> = d["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{} {} {}<{} #{} {} pi={}",
                u["stage"],
                u["level"].as_str().unwrap(),
                u["code"].as_str().unwrap(),
                u["parent_code"].as_str().unwrap(),
                u["order"],
                p(&u["stage_probability"]),
                u["inclusion_probability"]
            )
        })
        .collect();
    out.extend(d["households"].as_array().unwrap().iter().map(|h| {
        format!(
            "{}/{} {} {}{} {} w={}",
            h["commune_code"].as_str().unwrap(),
            h["village_code"].as_str().unwrap(),
            h["household_ref"].as_str().unwrap(),
            if h["reserve"] == true { "r" } else { "#" },
            h["order"],
            p(&h["stage_probability"]),
            h["weight"]
        )
    }));
    out
}

/// The pinned draw: this frame, seed 20250701 and `sipas-draw-1` give exactly this sample, on
/// SQLite and on PostgreSQL, in every release. A change here is a change of algorithm.
#[tokio::test]
async fn a_pinned_draw_is_the_same_on_every_database() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    set_up(&app, &admin, &admin).await;
    let (s, d) = draw(
        &app,
        &admin,
        json!({ "province": LAI_CHAU, "seed": 20250701 }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["algorithm"], "sipas-draw-1");
    assert_eq!(d["status"], "active");
    assert_eq!(d["used"], false);
    let got = selection(&d);
    let want: Vec<String> = PINNED.iter().map(|l| l.to_string()).collect();
    assert_eq!(got, want, "{}", got.join("\n"));
    // Every main household's weight is the inverse of the product of its stages' probabilities.
    for h in d["households"].as_array().unwrap() {
        let w = h["weight"].as_f64().unwrap();
        let pi = h["inclusion_probability"].as_f64().unwrap();
        assert!((w * pi - 1.0).abs() < 1e-12);
    }
    // Names kept exactly as sent, decomposed marks included.
    let names: Vec<&str> = d["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["level"] == "village")
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| (0..5).any(|i| (0..3).any(|v| *n == village_name(i, v)))),
        "{names:?}"
    );
    // Read back: the same draw.
    let again = app
        .get_ok(&admin, &format!("/api/v1/rounds/{R25}/samples/{}", d["id"]))
        .await;
    assert_eq!(selection(&again), got);
    // The library listing the assignments will use.
    let listing =
        sipas_server::sampling::store::sampled_units(&app.state.db, d["id"].as_i64().unwrap())
            .await
            .unwrap();
    assert_eq!(listing.villages.len(), 6);
    assert!(listing.villages.iter().all(|v| v.quota == 3));
    assert_eq!(listing.households.iter().filter(|h| h.reserve).count(), 12);
}

/// Lai Châu's communes 03388, 03394 and 03408 of the 2025 geography are among the five listed;
/// villages by size within them (equal households per village: self-weighting within a commune).
const PINNED: &[&str] = &[
    "0 commune 03394<12 #1 3/5 pi=0.6",
    "0 commune 03388<12 #2 3/5 pi=0.6",
    "0 commune 03408<12 #3 3/5 pi=0.6",
    "1 village Bản 1<03388 #1 2/3 pi=0.39999999999999997",
    "1 village Bản 2<03388 #2 5/6 pi=0.5",
    "1 village Bản 0<03394 #1 8/15 pi=0.32",
    "1 village Bản 1<03394 #2 2/3 pi=0.39999999999999997",
    "1 village Bản 1<03408 #1 2/3 pi=0.39999999999999997",
    "1 village Bản 2<03408 #2 7/9 pi=0.4666666666666667",
    "03388/Bản 1 H04 #1 3/8 w=6.666666666666667",
    "03388/Bản 1 H05 #2 3/8 w=6.666666666666667",
    "03388/Bản 1 H07 #3 3/8 w=6.666666666666667",
    "03388/Bản 1 H00 r1 3/8 w=6.666666666666667",
    "03388/Bản 1 H06 r2 3/8 w=6.666666666666667",
    "03388/Bản 2 H04 #1 3/10 w=6.666666666666667",
    "03388/Bản 2 H06 #2 3/10 w=6.666666666666667",
    "03388/Bản 2 H00 #3 3/10 w=6.666666666666667",
    "03388/Bản 2 H09 r1 3/10 w=6.666666666666667",
    "03388/Bản 2 H08 r2 3/10 w=6.666666666666667",
    "03394/Bản 0 H02 #1 3/8 w=8.333333333333334",
    "03394/Bản 0 H06 #2 3/8 w=8.333333333333334",
    "03394/Bản 0 H07 #3 3/8 w=8.333333333333334",
    "03394/Bản 0 H05 r1 3/8 w=8.333333333333334",
    "03394/Bản 0 H00 r2 3/8 w=8.333333333333334",
    "03394/Bản 1 H00 #1 3/10 w=8.333333333333334",
    "03394/Bản 1 H08 #2 3/10 w=8.333333333333334",
    "03394/Bản 1 H09 #3 3/10 w=8.333333333333334",
    "03394/Bản 1 H02 r1 3/10 w=8.333333333333334",
    "03394/Bản 1 H04 r2 3/10 w=8.333333333333334",
    "03408/Bản 1 H09 #1 1/4 w=10.0",
    "03408/Bản 1 H11 #2 1/4 w=10.0",
    "03408/Bản 1 H08 #3 1/4 w=10.0",
    "03408/Bản 1 H01 r1 1/4 w=10.0",
    "03408/Bản 1 H00 r2 1/4 w=10.0",
    "03408/Bản 2 H12 #1 3/14 w=10.0",
    "03408/Bản 2 H13 #2 3/14 w=10.0",
    "03408/Bản 2 H06 #3 3/14 w=10.0",
    "03408/Bản 2 H00 r1 3/14 w=10.0",
    "03408/Bản 2 H04 r2 3/14 w=10.0",
];

#[tokio::test]
async fn a_file_with_bad_lines_stores_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let c = communes();
    let son_la = communes_in(geography::vn_2025(), SON_LA)[0].clone();
    let bad = format!(
        "commune_code,village_code,village_name,households\n\
         {0},Bản 1,Bản Một,40\n\
         {0},BẢN 1,Bản Một lặp,40\n\
         {son_la},Bản 2,Bản Hai,30\n\
         99999,Bản 3,Bản Ba,30\n\
         {0},Bản 4,,mười\n",
        c[0]
    );
    let (s, body) = put_csv(&app, &admin, &frame_path("villages"), &bad).await;
    assert_problem(s, &body, 422, "frame_invalid");
    let lines: Vec<(u64, Vec<String>)> = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                l["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["code"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        lines,
        vec![
            (3, s(&["duplicate_village"])),
            (4, s(&["commune_outside_province"])),
            (5, s(&["unknown_commune"])),
            (6, s(&["required", "not_a_number"])),
        ]
    );
    let frame = app
        .get_ok(&admin, &format!("/api/v1/rounds/{R25}/frames/{LAI_CHAU}"))
        .await;
    assert_eq!(frame["villages"], json!([]), "nothing stored");
    // Not CSV, not UTF-8, no header: refused whole.
    let (s, body) = read(
        app.request(Method::PUT, &frame_path("villages"), Some(&admin))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(vec![b'a', 0xff, b'\n'])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &body, 400, "invalid_encoding");
    let (s, body) = app
        .call(
            Method::PUT,
            &frame_path("villages"),
            Some(&admin),
            Some(&json!({})),
        )
        .await;
    assert_problem(s, &body, 415, "unsupported_media_type");
    let (s, body) = put_csv(&app, &admin, &frame_path("villages"), "commune,village\n").await;
    assert_problem(s, &body, 400, "frame_format");
    // A good village list, then household lists with one bad line: none of them stored.
    let (s, _) = put_csv(&app, &admin, &frame_path("villages"), &villages_csv()).await;
    assert_eq!(s, 200);
    let mut hh = households_csv();
    hh.push_str(&format!("{},Bản 9,H01,Lò Văn Ánh\n", c[0]));
    let (s, body) = put_csv(&app, &admin, &frame_path("households"), &hh).await;
    assert_problem(s, &body, 422, "frame_invalid");
    assert_eq!(body["lines"][0]["errors"][0]["code"], "unknown_village");
    let frame = app
        .get_ok(&admin, &format!("/api/v1/rounds/{R25}/frames/{LAI_CHAU}"))
        .await;
    assert_eq!(frame["villages_with_households"], 0);
    assert_eq!(frame["villages"].as_array().unwrap().len(), 15);
}

#[tokio::test]
async fn the_same_upload_twice_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_reviewer(&admin, "sonv.laichau", "vn-2025", LAI_CHAU)
        .await;
    let reviewer = app.user_token("sonv.laichau").await;
    for list in ["villages", "households"] {
        let csv = if list == "villages" {
            villages_csv()
        } else {
            households_csv()
        };
        let (s, first) = put_csv(&app, &reviewer, &frame_path(list), &csv).await;
        assert_eq!(s, 200, "{first}");
        assert_eq!(first["changed"], true);
        assert_eq!(first["villages_changed"], 15);
        let (s, second) = put_csv(&app, &reviewer, &frame_path(list), &csv).await;
        assert_eq!(s, 200, "{second}");
        assert_eq!(second["changed"], false, "{second}");
        assert_eq!(second["villages_changed"], 0);
        let events = app
            .audit_events(&admin, &format!("event=frame_{list}_uploaded"))
            .await;
        assert_eq!(events.len(), 1, "one change audited: {events:?}");
    }
    let frame = app
        .get_ok(
            &reviewer,
            &format!("/api/v1/rounds/{R25}/frames/{LAI_CHAU}"),
        )
        .await;
    assert_eq!(frame["villages_with_households"], 15);
    let names: Vec<&str> = frame["villages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["village_name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&format!("{NFD_NAME} 0").as_str()),
        "decomposed marks kept: {names:?}"
    );
    assert!(names.contains(&"Tổ dân phố số 0, \"Pa So\""));
    // One village's count changes: only that village is rewritten; its household list stays.
    let changed = villages_csv().replacen(",6\n", ",7\n", 1);
    let (s, body) = put_csv(&app, &reviewer, &frame_path("villages"), &changed).await;
    assert_eq!(s, 200);
    assert_eq!(body["villages_changed"], 1, "{body}");
    let frame = app
        .get_ok(
            &reviewer,
            &format!("/api/v1/rounds/{R25}/frames/{LAI_CHAU}"),
        )
        .await;
    assert_eq!(frame["villages_with_households"], 15);
}

#[tokio::test]
async fn only_the_province_and_the_ministry_reach_its_sample() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_reviewer(&admin, "sonv.sonla", "vn-2025", SON_LA)
        .await;
    app.create_supervisor(&admin, "gs.laichau", "vn-2025", LAI_CHAU, "LC-1")
        .await;
    app.create_enumerator(&admin, "dtv.laichau", "vn-2025", LAI_CHAU, "LC-1")
        .await;
    let other = app.user_token("sonv.sonla").await;
    let supervisor = app.user_token("gs.laichau").await;
    let enumerator = app.user_token("dtv.laichau").await;
    for token in [&other, &enumerator] {
        let code = if token == &other {
            "out_of_scope"
        } else {
            "forbidden"
        };
        let (s, body) = put_csv(&app, token, &frame_path("villages"), &villages_csv()).await;
        assert_problem(s, &body, 403, code);
    }
    set_up(&app, &admin, &supervisor).await;
    // Only the ministry sets the design.
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/rounds/{R25}/design"),
            Some(&supervisor),
            Some(&small_design()),
        )
        .await;
    assert_problem(s, &body, 403, "forbidden");
    let (s, body) = draw(&app, &other, json!({ "province": LAI_CHAU, "seed": 1 })).await;
    assert_problem(s, &body, 403, "out_of_scope");
    let (s, d) = draw(
        &app,
        &supervisor,
        json!({ "province": LAI_CHAU, "seed": 1 }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let id = d["id"].as_i64().unwrap();
    for (token, status, code) in [
        (&other, 403, "out_of_scope"),
        (&enumerator, 403, "forbidden"),
    ] {
        let (s, body) = app
            .get_as(token, &format!("/api/v1/rounds/{R25}/samples/{id}"))
            .await;
        assert_problem(s, &body, status, code);
        let (s, body) = app
            .get_as(token, &format!("/api/v1/rounds/{R25}/frames/{LAI_CHAU}"))
            .await;
        assert_problem(s, &body, status, code);
    }
    // Another province's list of draws shows none of Lai Châu's.
    let list = app
        .get_ok(&other, &format!("/api/v1/rounds/{R25}/samples"))
        .await;
    assert_eq!(list["draws"], json!([]));
    let list = app
        .get_ok(
            &supervisor,
            &format!("/api/v1/rounds/{R25}/samples?province={LAI_CHAU}"),
        )
        .await;
    assert_eq!(list["draws"].as_array().unwrap().len(), 1);
    // Everyone signed in reads the design.
    let design = app
        .get_ok(&enumerator, &format!("/api/v1/rounds/{R25}/design"))
        .await;
    assert_eq!(design["design"], small_design());
    let (s, body) = draw(&app, &admin, json!({ "province": "99", "seed": 1 })).await;
    assert_problem(s, &body, 404, "unknown_province");
    let (s, body) = draw(
        &app,
        &admin,
        json!({ "province": LAI_CHAU, "seed": 9007199254740992u64 }),
    )
    .await;
    assert_problem(s, &body, 422, "validation_failed");
}

#[tokio::test]
async fn a_used_draw_is_immutable_and_redraws_keep_history() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_supervisor(&admin, "gs.laichau", "vn-2025", LAI_CHAU, "LC-1")
        .await;
    let supervisor = app.user_token("gs.laichau").await;
    // The built-in designs are recorded; 2025 draws 9 communes: the frame has 5 only.
    let design = app
        .get_ok(&admin, &format!("/api/v1/rounds/{R25}/design"))
        .await;
    assert_eq!(design["recorded"], true);
    assert_eq!(design["design"]["stages"][0]["per_parent"], 9);
    set_up(&app, &admin, &supervisor).await;
    // Every village renamed: none has a household list. The draw names the villages it selected
    // that lack one, and stores nothing.
    let renamed = villages_csv().replace(",Bản ", ",Thôn ");
    let (s, body) = put_csv(&app, &supervisor, &frame_path("villages"), &renamed).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = draw(
        &app,
        &supervisor,
        json!({ "province": LAI_CHAU, "seed": 5 }),
    )
    .await;
    assert_problem(s, &body, 409, "household_lists_missing");
    let missing = body["villages"].as_array().unwrap();
    assert_eq!(missing.len(), 6, "{body}");
    assert!(
        missing
            .iter()
            .all(|v| v["village_code"].as_str().unwrap().starts_with("Thôn "))
    );
    let list = app
        .get_ok(&admin, &format!("/api/v1/rounds/{R25}/samples"))
        .await;
    assert_eq!(list["draws"], json!([]));
    for (list, csv) in [
        ("villages", villages_csv()),
        ("households", households_csv()),
    ] {
        let (s, body) = put_csv(&app, &supervisor, &frame_path(list), &csv).await;
        assert_eq!(s, 200, "{body}");
    }
    let (s, first) = draw(
        &app,
        &supervisor,
        json!({ "province": LAI_CHAU, "seed": 5 }),
    )
    .await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["drawn_by"], "gs.laichau");
    let first_id = first["id"].as_i64().unwrap();
    // A redraw: the ministry, with a reason.
    let (s, body) = draw(
        &app,
        &supervisor,
        json!({ "province": LAI_CHAU, "seed": 6 }),
    )
    .await;
    assert_problem(s, &body, 403, "redraw_needs_ministry");
    let (s, body) = draw(&app, &admin, json!({ "province": LAI_CHAU, "seed": 6 })).await;
    assert_problem(s, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "reason");
    let (s, second) = draw(
        &app,
        &admin,
        json!({ "province": LAI_CHAU, "seed": 6, "reason": "Khung mẫu cập nhật" }),
    )
    .await;
    assert_eq!(s, 201, "{second}");
    assert_eq!(second["replaces"], first_id);
    let list = app
        .get_ok(
            &admin,
            &format!("/api/v1/rounds/{R25}/samples?province={LAI_CHAU}"),
        )
        .await;
    let statuses: Vec<(i64, &str)> = list["draws"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_i64().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            (second["id"].as_i64().unwrap(), "active"),
            (first_id, "superseded")
        ]
    );
    let old = app
        .get_ok(&admin, &format!("/api/v1/rounds/{R25}/samples/{first_id}"))
        .await;
    assert_eq!(old["superseded_by"], "admin");
    assert_eq!(selection(&old), selection(&first), "history kept as drawn");
    // The design is locked once a draw exists.
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/rounds/{R25}/design"),
            Some(&admin),
            Some(&small_design()),
        )
        .await;
    assert_problem(s, &body, 409, "design_locked");
    // A form arrives in a sampled village: the draw is used, and no one can redraw it.
    let village = &second["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["level"] == "village")
        .unwrap()
        .clone();
    let commune = village["parent_code"].as_str().unwrap();
    let hh = second["households"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| {
            h["commune_code"] == commune
                && h["village_code"] == village["code"]
                && h["reserve"] == false
        })
        .unwrap()
        .clone();
    let enumerator = app.lai_chau_enumerator("dtv.laichau", "phone-1").await;
    let form = Place::of(R25, commune)
        .form()
        .village(village["code"].as_str().unwrap())
        .household(hh["household_ref"].as_str().unwrap())
        .build();
    app.sync(&enumerator).push_accepted(&[form]).await;
    let d = app
        .get_ok(
            &admin,
            &format!("/api/v1/rounds/{R25}/samples/{}", second["id"]),
        )
        .await;
    assert_eq!(d["used"], true);
    assert_eq!(selection(&d), selection(&second));
    let (s, body) = draw(
        &app,
        &admin,
        json!({ "province": LAI_CHAU, "seed": 7, "reason": "thử lại" }),
    )
    .await;
    assert_problem(s, &body, 409, "sample_in_use");
    assert_eq!(body["draw_id"], second["id"]);
}

#[tokio::test]
async fn a_wrong_design_is_refused_field_by_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bad = json!({
        "strata": "province",
        "stages": [
            { "level": "district", "per_parent": 0, "selection": "srs" },
            { "level": "village", "per_parent": 2, "selection": "pps", "reserves": 3 },
            { "level": "household", "per_parent": 3, "selection": "pps" },
        ]
    });
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/rounds/{R25}/design"),
            Some(&admin),
            Some(&bad),
        )
        .await;
    assert_problem(s, &body, 422, "validation_failed");
    let errors: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            ("stages[0].level", "level_not_in_geography"),
            ("stages[0].per_parent", "out_of_range"),
            ("stages[1].reserves", "reserves_not_households"),
            ("stages[2].selection", "pps_without_size"),
        ]
    );
    // Unknown fields are refused too, and the recorded design is unchanged.
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/rounds/{R25}/design"),
            Some(&admin),
            Some(&json!({"strata": "province", "stages": [], "extra": 1})),
        )
        .await;
    assert_eq!(s, 422);
    let design = app
        .get_ok(&admin, &format!("/api/v1/rounds/{R25}/design"))
        .await;
    assert_eq!(design["set_by"], "builtin");
    assert_eq!(design["psu"], "commune");
    let d23 = app.get_ok(&admin, "/api/v1/rounds/sipas-2023/design").await;
    assert_eq!(d23["psu"], "district");
    assert_eq!(d23["strata"], "province");
}

#[tokio::test]
async fn two_draws_at_once_leave_one_active_draw() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    set_up(&app, &admin, &admin).await;
    let body = json!({ "province": LAI_CHAU, "seed": 11 });
    let ((s1, b1), (s2, b2)) =
        tokio::join!(draw(&app, &admin, body.clone()), draw(&app, &admin, body));
    let mut statuses = [(s1, b1["code"].clone()), (s2, b2["code"].clone())];
    statuses.sort_by_key(|s| s.0);
    assert_eq!(statuses[0].0, 201, "{b1} {b2}");
    assert!(
        matches!(&statuses[1], (409, c) if c == "draw_conflict")
            || matches!(&statuses[1], (422, _)),
        "{b1} {b2}"
    );
    let list = app
        .get_ok(
            &admin,
            &format!("/api/v1/rounds/{R25}/samples?province={LAI_CHAU}"),
        )
        .await;
    let active = list["draws"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "active")
        .count();
    assert_eq!(active, 1, "{list}");
}

/// After a draw, the province's indices are weighted by the draw (inverse inclusion
/// probabilities) and their variance is between the sampled communes (the PSUs) as ultimate
/// clusters: the figures equal the estimator computed here by hand, the formula R's
/// `svydesign(ids = ~commune, strata = ~province, weights = ~w)` uses (checked against R itself in
/// `indices/tests/r_reference.rs`).
#[tokio::test]
async fn indices_follow_the_draw_weights_and_its_psus() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    set_up(&app, &admin, &admin).await;
    let design = json!({
        "strata": "province",
        "stages": [
            { "level": "commune", "per_parent": 3, "selection": "srs" },
            { "level": "village", "per_parent": 2, "selection": "srs" },
            { "level": "household", "per_parent": 5, "selection": "srs", "reserves": 1 },
        ]
    });
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/rounds/{R25}/design"),
            Some(&admin),
            Some(&design),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, d) = draw(&app, &admin, json!({ "province": LAI_CHAU, "seed": 77 })).await;
    assert_eq!(s, 201, "{d}");
    // Every main household answers; in the i-th village, i + 1 of the 5 at the top level.
    let mut forms = Vec::new();
    let mut villages: Vec<(String, String, f64, f64)> = Vec::new(); // commune, code, weight, tops
    let mains: Vec<&Value> = d["households"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["reserve"] == false)
        .collect();
    let mut keys: Vec<(String, String)> = mains
        .iter()
        .map(|h| {
            (
                h["commune_code"].as_str().unwrap().to_owned(),
                h["village_code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    keys.dedup();
    for (i, (commune, village)) in keys.iter().enumerate() {
        let tops = (i % 5) + 1;
        let hh: Vec<&&Value> = mains
            .iter()
            .filter(|h| {
                h["commune_code"] == commune.as_str() && h["village_code"] == village.as_str()
            })
            .collect();
        assert_eq!(hh.len(), 5);
        for (j, h) in hh.iter().enumerate() {
            let level = if j < tops { 5 } else { 3 };
            forms.push(
                Place::of(R25, commune)
                    .form()
                    .village(village)
                    .household(h["household_ref"].as_str().unwrap())
                    .answers(schema::sample::sipas_answers_with_levels(&[level; 39]))
                    .build(),
            );
        }
        villages.push((
            commune.clone(),
            village.clone(),
            hh[0]["weight"].as_f64().unwrap(),
            tops as f64,
        ));
    }
    assert_eq!(villages.len(), 6);
    app.sync(&admin).push_accepted(&forms).await;
    let body = app
        .get_ok(
            &admin,
            &e2e::report(R25, "indices", &format!("unit={LAI_CHAU}")),
        )
        .await;
    assert_eq!(body["design"]["weights"], "design", "{}", body["design"]);
    assert_eq!(body["design"]["provinces_drawn"], 1);
    let res = &body["results"][0];
    assert_eq!(res["estimates"]["variance"], "ultimate_clusters");
    assert_eq!(res["estimates"]["n_psus"], 3);
    assert_eq!(res["estimates"]["df"], json!(2.0));
    // By hand: R = Σ w y / Σ w n; z_v = w (y − R n) / Σ w n; z summed per commune (PSU);
    // V = 3/2 Σ (z_p − z̄)².
    let (sy, sn): (f64, f64) = villages
        .iter()
        .map(|(_, _, w, t)| (w * 100.0 * t, w * 5.0))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let r = sy / sn;
    let mut by_commune: std::collections::BTreeMap<&str, f64> = Default::default();
    for (c, _, w, t) in &villages {
        *by_commune.entry(c).or_default() += w * (100.0 * t - r * 5.0) / sn;
    }
    let zs: Vec<f64> = by_commune.values().copied().collect();
    assert_eq!(zs.len(), 3);
    let mean = zs.iter().sum::<f64>() / 3.0;
    let se = (1.5 * zs.iter().map(|z| (z - mean).powi(2)).sum::<f64>()).sqrt();
    for key in ["overall/sipas", "item/p1.info_forms", "component/service"] {
        let f = e2e::figure(res, key);
        assert!((e2e::value(f) - r).abs() < 1e-9, "{key}: {f} vs {r}");
        assert!(
            (f["se"].as_f64().unwrap() - se).abs() < 1e-9,
            "{key}: {f} vs se {se}"
        );
    }
    // Unweighted, the value would differ: the weights matter here.
    let plain = villages.iter().map(|v| v.3 * 100.0).sum::<f64>() / (5.0 * 6.0);
    assert!((plain - r).abs() > 1e-6, "{plain} {r}");
}

/// The drawn sample becomes assignments: one per sampled village, its drawn households (not the
/// reserves) in draw order, shared among the team's enumerators; a second call keeps them; the
/// devices pull them; other teams, other provinces and provinces without a draw are refused.
/// Progress then counts against the sample's quota.
#[tokio::test]
async fn the_drawn_sample_is_assigned_and_counted_against() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    set_up(&app, &admin, &admin).await;
    let (s, d) = draw(
        &app,
        &admin,
        json!({ "province": LAI_CHAU, "seed": 20250701 }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    app.create_supervisor(&admin, "gs.lc1", "vn-2025", LAI_CHAU, "LC-1")
        .await;
    app.create_supervisor(&admin, "gs.lc2", "vn-2025", LAI_CHAU, "LC-2")
        .await;
    let e1 = app
        .create_enumerator(&admin, "dtv.s1", "vn-2025", LAI_CHAU, "LC-1")
        .await;
    let e2 = app
        .create_enumerator(&admin, "dtv.s2", "vn-2025", LAI_CHAU, "LC-1")
        .await;
    let gs1 = app.login("gs.lc1", e2e::USER_PASSWORD).await;
    let gs2 = app.login("gs.lc2", e2e::USER_PASSWORD).await;
    let path = format!("/api/v1/rounds/{R25}/assignments/from-sample");
    let body = json!({ "province": LAI_CHAU, "enumerator_ids": [e1, e2] });

    // Another team's supervisor may not give this team's enumerators work.
    let (s, b) = app.post_as(&gs2, &path, &body).await;
    assert_problem(s, &b, 403, "other_team");
    // A province without a draw.
    let (s, b) = app
        .post_as(
            &admin,
            &path,
            &json!({ "province": SON_LA, "enumerator_ids": [e1] }),
        )
        .await;
    assert_problem(s, &b, 409, "no_draw");

    let (s, made) = app.post_as(&gs1, &path, &body).await;
    assert_eq!(s, 200, "{made}");
    let created = made["created"].as_array().unwrap();
    // 3 communes × 2 villages, each with its 3 drawn households.
    assert_eq!(created.len(), 6, "{made}");
    assert!(made["kept"].as_array().unwrap().is_empty());
    let drawn = d["households"].as_array().unwrap();
    for (i, a) in created.iter().enumerate() {
        assert_eq!(a["enumerator_id"], if i % 2 == 0 { e1 } else { e2 }, "{a}");
        let want: Vec<&Value> = drawn
            .iter()
            .filter(|h| {
                h["reserve"] == false
                    && h["commune_code"] == a["units"]["commune"]
                    && h["village_code"] == a["units"]["village"]
            })
            .map(|h| &h["household_ref"])
            .collect();
        let mut want: Vec<String> = want
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        want.sort();
        let got: Vec<String> = a["household_refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, want, "{a}");
        assert_eq!(a["quantity"], 3);
    }
    // Again: nothing new, the six kept.
    let (s, again) = app.post_as(&gs1, &path, &body).await;
    assert_eq!(s, 200, "{again}");
    assert!(again["created"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(again["kept"].as_array().unwrap().len(), 6);
    // The first enumerator's device pulls its three.
    let token = app.device_token("dtv.s1", "dev-s1").await;
    let pulled = app.sync(&token).pull("").await;
    let mine: Vec<&sync_protocol::Change> = pulled
        .changes
        .iter()
        .filter(|c| c.kind == sync_protocol::ChangeKind::AssignmentChanged)
        .collect();
    assert_eq!(mine.len(), 3, "{pulled:?}");

    // Progress against the sample: 6 villages × 3 drawn households.
    let progress = |token: String| {
        let app = &app;
        async move {
            app.get_ok(
                &token,
                &format!("/api/v1/rounds/{R25}/progress?unit={LAI_CHAU}&level=commune"),
            )
            .await
        }
    };
    let p = progress(gs1.clone()).await;
    assert_eq!(p["totals"]["quota"], 18, "{p}");
    assert_eq!(p["totals"]["outstanding_quota"], 18);
    assert_eq!(p["quota"]["provinces_drawn"], json!([LAI_CHAU]));
    assert_eq!(
        p["quota"]["planned_per_province"], 18,
        "3 communes × 2 villages × 3"
    );
    // Two forms in the first assignment's village (its commune's village code typed in
    // capitals: the same village), and one in an unsampled village.
    let first = &created[0];
    let commune = first["units"]["commune"].as_str().unwrap();
    let village = first["units"]["village"].as_str().unwrap();
    let place = Place::of(R25, commune);
    let forms: Vec<sync_protocol::FormSubmission> = first["household_refs"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|h| {
            place
                .form()
                .village(village.to_uppercase())
                .household(h.as_str().unwrap())
                .build()
        })
        .chain(std::iter::once(
            place
                .form()
                .village("Bản ngoài mẫu")
                .household("X1")
                .build(),
        ))
        .collect();
    app.sync(&token).push_accepted(&forms).await;
    let p = progress(gs1.clone()).await;
    assert_eq!(p["totals"]["quota"], 18, "{p}");
    assert_eq!(p["totals"]["outstanding_quota"], 16, "{p}");
    assert_eq!(p["totals"]["received"], 3);
    let row = p["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["code"] == commune)
        .expect("the commune's row");
    assert_eq!(
        (row["quota"].as_u64(), row["outstanding_quota"].as_u64()),
        (Some(6), Some(4)),
        "{row}"
    );
    // Another province's supervisor sees none of this sample.
    app.create_supervisor(&admin, "gs.sl", "vn-2025", SON_LA, "SL-1")
        .await;
    let sl = app.login("gs.sl", e2e::USER_PASSWORD).await;
    let p = app
        .get_ok(&sl, &format!("/api/v1/rounds/{R25}/progress"))
        .await;
    assert_eq!(p["totals"]["quota"], 0, "{p}");
    assert_eq!(p["quota"]["provinces_drawn"], json!([]));

    // A household of the first assignment refuses: its village's reserves come in the draw's
    // order, one each time; a household a form came from is not replaced; nor by a third time.
    let reserves: Vec<&str> = drawn
        .iter()
        .filter(|h| {
            h["reserve"] == true
                && h["commune_code"] == first["units"]["commune"]
                && h["village_code"] == first["units"]["village"]
        })
        .map(|h| h["household_ref"].as_str().unwrap())
        .collect();
    assert_eq!(reserves.len(), 2, "{d}");
    let listed: Vec<&str> = first["household_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    let reserve_path = format!("/api/v1/rounds/{R25}/assignments/{}/reserve", first["id"]);
    let (s, b) = app
        .post_as(
            &gs1,
            &reserve_path,
            &json!({ "replaces": listed[0], "reason": "Hộ từ chối phỏng vấn" }),
        )
        .await;
    assert_problem(s, &b, 409, "household_has_form");
    let (s, b) = app
        .post_as(
            &gs1,
            &reserve_path,
            &json!({ "replaces": "HH-nope", "reason": "" }),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app
        .post_as(
            &gs2,
            &reserve_path,
            &json!({ "replaces": listed[2], "reason": "Hộ từ chối" }),
        )
        .await;
    assert_eq!(s, 404, "another team's supervisor: {b}");
    let (s, b) = app
        .post_as(
            &gs1,
            &reserve_path,
            &json!({ "replaces": listed[2], "reason": "Hộ từ chối phỏng vấn" }),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["replaced"].as_str(), b["reserve"].as_str()),
        (Some(listed[2]), Some(reserves[0]))
    );
    let now: Vec<&str> = b["assignment"]["household_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(
        now.contains(&reserves[0]) && !now.contains(&listed[2]),
        "{b}"
    );
    assert_eq!(b["assignment"]["quantity"], 3);
    // The reserve, refused in turn, gives way to the second; then none is left.
    let (s, b) = app
        .post_as(
            &gs1,
            &reserve_path,
            &json!({ "replaces": reserves[0], "reason": "Đã chuyển đi" }),
        )
        .await;
    assert_eq!((s, b["reserve"].as_str()), (200, Some(reserves[1])), "{b}");
    let (s, b) = app
        .post_as(
            &gs1,
            &reserve_path,
            &json!({ "replaces": reserves[1], "reason": "Không tìm thấy" }),
        )
        .await;
    assert_problem(s, &b, 409, "no_reserve_left");
    // The assignment names what was replaced, by what and why.
    let list = app
        .get_ok(&gs1, &format!("/api/v1/rounds/{R25}/assignments"))
        .await;
    let mine = list["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == first["id"])
        .unwrap();
    assert_eq!(
        mine["replaced"],
        json!([
            { "household": listed[2], "reserve": reserves[0], "reason": "Hộ từ chối phỏng vấn" },
            { "household": reserves[0], "reserve": reserves[1], "reason": "Đã chuyển đi" },
        ]),
        "{mine}"
    );
    // The device pulls the change; the audit keeps the reason.
    let pulled = app.sync(&token).pull("").await;
    let last = pulled
        .changes
        .iter()
        .rev()
        .find(|c| c.kind == sync_protocol::ChangeKind::AssignmentChanged)
        .expect("an assignment change");
    let a: sync_protocol::Assignment = serde_json::from_value(last.payload.clone()).unwrap();
    assert!(a.household_refs.contains(&reserves[1].to_owned()), "{a:?}");
    let events = app.audit_events(&admin, "event=assignment_changed").await;
    assert_eq!(
        events[0]["details"]["replacement"]["reason"], "Đã chuyển đi",
        "{events:?}"
    );
    // Progress still asks 3 forms of the village.
    let p = progress(gs1.clone()).await;
    assert_eq!(p["totals"]["quota"], 18, "{p}");
}
