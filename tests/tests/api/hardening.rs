//! Hostile and oversized input: every one gets a clear 4xx problem or a per-form outcome, never a
//! 500, and the same answer on SQLite and PostgreSQL (which refuses a NUL in text, and a text
//! longer than its column, where SQLite stores both).

use e2e::{assert_problem, places::son_la_commune, spawn_app, spawn_app_with_enumerator};
use reqwest::Method;
use serde_json::json;
use sync_protocol::{Outcome, sample::SipasForm};

/// A NUL or another control character in a pushed form's codes is that form's `invalid`, not the
/// whole push's 500: the device's outbox is never stuck behind it, and resending it gets the same
/// answer. A round naming one is `unknown_round`, its payload filed with no round.
#[tokio::test]
async fn control_characters_in_a_pushed_form_are_that_forms_problem() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let forms = [
        SipasForm::new().household("HH\u{0}1").build(),
        SipasForm::new().village("V\u{1}01").build(),
        SipasForm::new().round("sipas\u{0}2025").build(),
        SipasForm::new().round("r".repeat(10_000)).build(),
        SipasForm::new().build(),
    ];
    for attempt in 0..2 {
        let r = device.push(&forms).await;
        let got: Vec<(Outcome, String)> = r
            .results
            .iter()
            .map(|r| {
                (
                    r.outcome,
                    r.errors.first().map(|e| e.code.clone()).unwrap_or_default(),
                )
            })
            .collect();
        let accepted = if attempt == 0 {
            Outcome::Accepted
        } else {
            Outcome::Duplicate
        };
        assert_eq!(
            got,
            [
                (Outcome::Invalid, "invalid_characters".into()),
                (Outcome::Invalid, "invalid_characters".into()),
                (Outcome::UnknownRound, "unknown_round".into()),
                (Outcome::UnknownRound, "unknown_round".into()),
                (accepted, String::new()),
            ],
            "attempt {attempt}"
        );
    }
    assert_eq!(app.form_count().await, 1);
    let quarantined = app.quarantined().await;
    assert_eq!(quarantined.len(), 4, "each payload filed once");
    // The payloads are kept whole; only the filing field is left empty.
    assert!(
        quarantined
            .iter()
            .filter(|q| q.round_code.is_none())
            .count()
            >= 2
    );
    assert!(quarantined.iter().any(|q| q.payload.contains("\\u0000")));
}

/// A NUL in a query or path parameter is 400, on routes that need no login too; in a JSON body too.
#[tokio::test]
async fn control_characters_in_parameters_and_bodies_are_400() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/geographies/vn-2025/units?q=lai%00chau",
        "/api/v1/geographies/vn%00-2025/units",
        "/api/v1/rounds/sipas%002025",
        "/api/v1/questionnaires/sipas%1F/versions/1",
    ] {
        let (s, body) = app.get_json(path).await;
        assert_problem(s, &body, 400, "invalid_characters");
    }
    let (s, body) = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"username": "admin\u{0}", "password": "x"}),
        )
        .await;
    assert_problem(s, &body, 400, "invalid_characters");
    let admin = app.admin_token().await;
    let (s, body) = app
        .post_as(
            &admin,
            "/api/v1/users",
            &json!({"username": "dtv.nul", "full_name": "Nguyễn\u{0}A", "role": "enumerator",
                "geography": "vn-2025", "unit_code": "12", "team": "A", "password": e2e::USER_PASSWORD}),
        )
        .await;
    assert_problem(s, &body, 400, "invalid_characters");
}

/// Integer parameters past what they can mean are 400, not a panic.
#[tokio::test]
async fn integer_parameters_past_their_range_are_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for path in [
        "/api/v1/geographies/vn-2025/units?offset=18446744073709551615",
        "/api/v1/users?offset=9223372036854775808",
        "/api/v1/devices?not_synced_for_days=4294967295",
    ] {
        let (s, body) = app.get_as(&admin, path).await;
        assert_problem(s, &body, 400, "out_of_range");
    }
    for path in [
        "/api/v1/geographies/vn-2025/units?offset=99999999999999999999999",
        "/api/v1/users?limit=-1",
    ] {
        let (s, body) = app.get_as(&admin, path).await;
        assert_eq!(s, 400, "{path}: {body}");
    }
    // In range, they still work.
    let (s, body) = app
        .get_as(
            &admin,
            "/api/v1/geographies/vn-2025/units?offset=1000000000",
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

/// Every stored text has a maximum, enforced alike on both databases; a login with a username
/// longer than any account's is a failed login, audited.
#[tokio::test]
async fn texts_have_documented_maxima() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = |full_name: String, team: String| {
        json!({"username": "dtv.long", "full_name": full_name, "role": "enumerator",
            "geography": "vn-2025", "unit_code": "12", "team": team, "password": e2e::USER_PASSWORD})
    };
    let (s, body) = app
        .post_as(&admin, "/api/v1/users", &user("A".repeat(201), "T".into()))
        .await;
    assert_problem(s, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "full_name", "{body}");
    assert_eq!(body["errors"][0]["code"], "too_long");
    let (s, body) = app
        .post_as(
            &admin,
            "/api/v1/users",
            &user("Nguyễn Văn A".into(), "T".repeat(100_000)),
        )
        .await;
    assert_problem(s, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "team", "{body}");
    // At the maxima, in Vietnamese letters (characters, not bytes), it is stored.
    let (s, body) = app
        .post_as(
            &admin,
            "/api/v1/users",
            &user("Ễ".repeat(200), "Đ".repeat(64)),
        )
        .await;
    assert_eq!(s, 201, "{body}");

    let long = "u".repeat(10_000);
    let (s, body) = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"username": long, "password": "x"}),
        )
        .await;
    assert_problem(s, &body, 401, "invalid_credentials");
    let failed = app.audit_events(&admin, "event=login_failed").await;
    let name = failed[0]["actor"].as_str().expect("audited");
    assert_eq!(name.chars().count(), 64);
}

/// Limits below the routes answer problem+json too: a URI or header section too long, and a body
/// over the limit, whose 413 the client reads rather than finding its connection dropped.
#[tokio::test]
async fn limits_below_the_routes_are_problems_too() {
    let app = e2e::spawn_app_with(|s| s.body_limit_bytes = 64 * 1024).await;
    let (s, body) = app
        .get_json(&format!(
            "/api/v1/geographies/vn-2025/units?q={}",
            "a".repeat(9_000)
        ))
        .await;
    assert_problem(s, &body, 414, "uri_too_long");
    let resp = app
        .request(Method::GET, "/api/v1/rounds", None)
        .header("x-filler", "f".repeat(40 * 1024))
        .send()
        .await
        .expect("request");
    let (s, body) = e2e::read(resp).await;
    assert_problem(s, &body, 431, "headers_too_large");
    let resp = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024])
        .send()
        .await
        .expect("the 413 is read, not a reset connection");
    let (s, body) = e2e::read(resp).await;
    assert_problem(s, &body, 413, "payload_too_large");
}

/// A form of 100,000 made-up answer keys gets a bounded answer: the first keys by name and a count,
/// in the response and in quarantine.
#[tokio::test]
async fn a_form_of_made_up_keys_gets_a_bounded_answer() {
    let (app, token) = spawn_app_with_enumerator().await;
    let mut f = SipasForm::new().build();
    for i in 0..100_000 {
        f.answers.insert(format!("k{i:06}"), json!(1));
    }
    let resp = app
        .sync(&token)
        .request(Method::POST, e2e::sync::PUSH)
        .json(&json!({ "forms": [f] }))
        .send()
        .await
        .expect("push");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    assert!(text.len() < 16 * 1024, "{} bytes answered", text.len());
    let r: sync_protocol::PushResponse = serde_json::from_str(&text).expect("a push response");
    assert_eq!(r.results[0].outcome, Outcome::Invalid);
    assert_eq!(r.results[0].errors.len(), schema::MAX_UNKNOWN_REPORTED + 1);
    let q = app.quarantined().await;
    assert!(
        q[0].errors.len() < 16 * 1024,
        "{} bytes of errors kept",
        q[0].errors.len()
    );
}

/// Scope is decided before anything about an existing id: an enumerator pushing a copy of another
/// province's stored form is told `forbidden`, as for any form there, not `duplicate` or
/// `conflict`, which would tell that the id exists.
#[tokio::test]
async fn another_provinces_form_id_is_forbidden_not_a_duplicate() {
    let (app, token) = spawn_app_with_enumerator().await;
    let son_la = SipasForm::new()
        .province("14")
        .commune(son_la_commune())
        .build();
    app.insert_form(son_la.clone(), None).await;
    let mut changed = son_la.clone();
    changed.household_ref = "HH-other".into();
    let r = app.sync(&token).push(&[son_la, changed]).await;
    for result in &r.results {
        assert_eq!(result.outcome, Outcome::Forbidden, "{result:?}");
        assert_eq!(result.errors[0].code, "out_of_scope");
    }
}

/// The units a form must answer follow the round's geography: a 2025 form (no districts) needs no
/// district answer, and one given is still checked; without it the form is stored, read back and
/// counted like any other.
#[tokio::test]
async fn a_2025_form_need_not_answer_the_district_question() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let mut without = SipasForm::new().household("HH-no-district").build();
    assert!(without.units.district.is_none());
    without.answers.remove(schema::DISTRICT_QUESTION);
    let mut too_long = SipasForm::new().household("HH-bad-district").build();
    too_long
        .answers
        .insert(schema::DISTRICT_QUESTION.into(), json!("x".repeat(200)));
    let r = device.push(&[without.clone(), too_long]).await;
    assert_eq!(
        r.results[0].outcome,
        Outcome::Accepted,
        "{:?}",
        r.results[0]
    );
    assert_eq!(r.results[1].outcome, Outcome::Invalid);
    assert_eq!(r.results[1].errors[0].field, schema::DISTRICT_QUESTION);
    let admin = app.admin_token().await;
    let form = app
        .get_ok(&admin, &format!("/api/v1/forms/{}", without.id))
        .await;
    assert!(form["answers"].get(schema::DISTRICT_QUESTION).is_none());
    assert_eq!(
        form["answers"]["commune_code"],
        without.answers["commune_code"]
    );
}
