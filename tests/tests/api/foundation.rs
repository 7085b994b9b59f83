//! Server foundation: health, the questionnaire registry, geography, rounds, and the problem+json
//! error format, against the real server on a fresh database.

use e2e::{
    assert_problem, query_escape,
    reports::{sipas_json, sipas_version},
    spawn_app, spawn_app_with,
};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let (s, body) = app.get_json("/healthz").await;
    assert_eq!(s, 200);
    assert_eq!(body["status"], "ok");
    let (s, body) = app.get_json("/readyz").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], e2e::backend_name());
}

#[tokio::test]
async fn the_builtin_questionnaire_is_registered_with_its_hash() {
    let app = spawn_app().await;
    let builtin = schema::builtin::sipas();
    let (s, body) = app.get_json("/api/v1/questionnaires").await;
    assert_eq!(s, 200);
    let list = body["questionnaires"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    let sipas = &list[0];
    assert_eq!(sipas["code"], "sipas");
    assert_eq!(sipas["latest_version"], 1);
    let versions = sipas["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["status"], "open");
    assert_eq!(versions[0]["content_hash"], builtin.content_hash());

    let resp = app
        .request(Method::GET, "/api/v1/questionnaires/sipas/versions/1", None)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", builtin.content_hash()));
    let body: Value = resp.json().await.unwrap();
    let served: schema::Questionnaire =
        serde_json::from_value(body["definition"].clone()).expect("definition parses");
    assert_eq!(&served, builtin);
    assert_eq!(served.content_hash(), builtin.content_hash());

    let (s, body) = app
        .get_json("/api/v1/questionnaires/sipas/versions/9")
        .await;
    assert_problem(s, &body, 404, "not_found");
    let (s, body) = app.get_json("/api/v1/questionnaires/nope/versions/1").await;
    assert_problem(s, &body, 404, "not_found");
}

#[tokio::test]
async fn publishing_is_idempotent_and_versions_are_immutable() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // The same content again: a no-op.
    let (s, body) = app.publish(&admin, &sipas_json()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["version"], 1);

    // Same version, one label changed: 409, and the stored version is untouched.
    let mut changed = sipas_version(1, Some("Tiêu đề khác"));
    let (s, body) = app.publish(&admin, &changed).await;
    assert_problem(s, &body, 409, "questionnaire_version_conflict");
    let (_, v1) = app
        .get_json("/api/v1/questionnaires/sipas/versions/1")
        .await;
    assert_eq!(v1["content_hash"], schema::builtin::sipas().content_hash());

    // As version 2 it is published, with a Location.
    changed["version"] = json!(2);
    let resp = app
        .request(Method::POST, "/api/v1/questionnaires", Some(&admin))
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.headers()["location"],
        "/api/v1/questionnaires/sipas/versions/2"
    );
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["status"], "open");
    assert_ne!(created["content_hash"], v1["content_hash"]);
    // Publishing it again is a no-op (200).
    let (s, _) = app.publish(&admin, &changed).await;
    assert_eq!(s, 200);

    // A version below the latest is refused.
    let older = sipas_version(0, Some("Cũ hơn"));
    let (s, body) = app.publish(&admin, &older).await;
    assert!(s == 409 || s == 422, "{s} {body}");

    let (_, list) = app.get_json("/api/v1/questionnaires").await;
    let versions = list["questionnaires"][0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(list["questionnaires"][0]["latest_version"], 2);
}

#[tokio::test]
async fn publishing_a_lower_version_than_the_latest_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (s, _) = app
        .publish(&admin, &sipas_version(3, Some("Phiên bản 3")))
        .await;
    assert_eq!(s, 201);
    let (s, body) = app
        .publish(&admin, &sipas_version(2, Some("Phiên bản 2")))
        .await;
    assert_problem(s, &body, 409, "questionnaire_version_not_increasing");
}

#[tokio::test]
async fn an_inconsistent_questionnaire_is_rejected_naming_the_place() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut bad = sipas_version(5, None);
    // Duplicate the first question of the first section.
    let first = bad["sections"][0]["questions"][0].clone();
    bad["sections"][0]["questions"]
        .as_array_mut()
        .unwrap()
        .push(first.clone());
    let (s, body) = app.publish(&admin, &bad).await;
    assert_problem(s, &body, 422, "invalid_questionnaire");
    let code = first["code"].as_str().unwrap();
    assert!(
        body["detail_en"].as_str().unwrap().contains(code),
        "the error names the duplicated question: {body}"
    );
    // Not a questionnaire at all.
    let (s, body) = app.publish(&admin, &json!({"hello": "world"})).await;
    assert_problem(s, &body, 422, "invalid_questionnaire");
    // Nothing was stored.
    let (_, list) = app.get_json("/api/v1/questionnaires").await;
    assert_eq!(
        list["questionnaires"][0]["versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn every_error_is_problem_json() {
    let app = spawn_app_with(|s| s.body_limit_bytes = 64 * 1024).await;
    let admin = app.admin_token().await;
    let check_type = |resp: &reqwest::Response| {
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{:?}",
            resp.url()
        );
    };
    let post = |content_type: &str, body: String| {
        app.request(Method::POST, "/api/v1/questionnaires", Some(&admin))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // Malformed JSON.
    let resp = post("application/json", "{\"code\": ".into())
        .await
        .unwrap();
    check_type(&resp);
    let (s, body) = e2e::read(resp).await;
    assert_problem(s, &body, 400, "malformed_json");
    // Wrong content type.
    let resp = post("text/plain", "{}".into()).await.unwrap();
    check_type(&resp);
    let (s, body) = e2e::read(resp).await;
    assert_problem(s, &body, 415, "unsupported_media_type");
    // Oversized body.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(200 * 1024));
    let resp = post("application/json", big).await.unwrap();
    check_type(&resp);
    let (s, body) = e2e::read(resp).await;
    assert_problem(s, &body, 413, "payload_too_large");
    // Unknown route, and unknown route under the API prefix.
    for path in ["/nope", "/api/v1/nope", "/api/v2/rounds"] {
        let resp = app.request(Method::GET, path, None).send().await.unwrap();
        check_type(&resp);
        let (s, body) = e2e::read(resp).await;
        assert_problem(s, &body, 404, "route_not_found");
    }
    // Wrong method keeps the Allow header.
    let resp = app
        .request(Method::DELETE, "/api/v1/rounds", None)
        .send()
        .await
        .unwrap();
    check_type(&resp);
    assert!(resp.headers().contains_key("allow"));
    let (s, body) = e2e::read(resp).await;
    assert_problem(s, &body, 405, "method_not_allowed");
    // Bad path and query parameters.
    let (s, body) = app
        .get_json("/api/v1/questionnaires/sipas/versions/abc")
        .await;
    assert_problem(s, &body, 400, "invalid_path");
    let (s, body) = app
        .get_json("/api/v1/geographies/vn-2023/units?limit=lots")
        .await;
    assert_problem(s, &body, 400, "invalid_query");
    // A body of the wrong shape.
    let (s, body) = app.publish(&admin, &json!([1, 2])).await;
    assert_problem(s, &body, 422, "invalid_questionnaire");
}

#[tokio::test]
async fn geographies_are_listed_with_their_counts() {
    let app = spawn_app().await;
    let (s, body) = app.get_json("/api/v1/geographies").await;
    assert_eq!(s, 200);
    let geos = body["geographies"].as_array().unwrap();
    assert_eq!(geos.len(), 2, "{body}");
    let g23 = geos.iter().find(|g| g["code"] == "vn-2023").unwrap();
    let g25 = geos.iter().find(|g| g["code"] == "vn-2025").unwrap();
    assert_eq!(g23["levels"], json!(["province", "district", "commune"]));
    assert_eq!(g23["counts"]["province"], 63);
    assert_eq!(g23["counts"]["district"], 696);
    assert_eq!(g25["levels"], json!(["province", "commune"]));
    assert_eq!(g25["counts"]["province"], 34);
    assert_eq!(g25["counts"]["commune"], 3321);
}

#[tokio::test]
async fn unit_search_ignores_case_and_diacritics() {
    let app = spawn_app().await;
    for q in [
        "lai chau",
        "LAI CHÂU",
        "Lai Châu",
        "tinh lai chau",
        "tỉnh lai châu",
    ] {
        let (s, body) = app
            .get_json(&format!(
                "/api/v1/geographies/vn-2023/units?level=province&q={}",
                query_escape(q)
            ))
            .await;
        assert_eq!(s, 200, "{body}");
        let units = body["units"].as_array().unwrap();
        assert_eq!(units.len(), 1, "{q}: {body}");
        assert_eq!(units[0]["code"], "12");
        assert_eq!(units[0]["name"], "Lai Châu");
        assert_eq!(units[0]["type"], "tỉnh");
    }
    // "đ" folds to "d".
    let (_, body) = app
        .get_json("/api/v1/geographies/vn-2025/units?level=province&q=dak%20lak")
        .await;
    assert_eq!(body["units"][0]["name"], "Đắk Lắk", "{body}");
    // Without a level, the city of Lai Châu (a district) is found too.
    let (_, body) = app
        .get_json("/api/v1/geographies/vn-2023/units?q=lai%20chau")
        .await;
    let levels: Vec<&str> = body["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["level"].as_str().unwrap())
        .collect();
    assert!(
        levels.contains(&"province") && levels.contains(&"district"),
        "{body}"
    );
    // Sơn La keeps its code in 2025.
    let (_, body) = app
        .get_json("/api/v1/geographies/vn-2025/units?level=province&q=son%20la")
        .await;
    assert_eq!(body["units"][0]["code"], "14");
    // A code finds its unit; LIKE wildcards are literal.
    let (_, body) = app.get_json("/api/v1/geographies/vn-2023/units?q=12").await;
    assert!(
        body["units"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["code"] == "12")
    );
    let (_, body) = app
        .get_json("/api/v1/geographies/vn-2023/units?q=%25")
        .await;
    assert_eq!(body["total"], 0, "{body}");
}

#[tokio::test]
async fn units_are_listed_by_parent_and_level_with_paging() {
    let app = spawn_app().await;
    let (s, body) = app
        .get_json("/api/v1/geographies/vn-2023/units?parent=12")
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["total"], 8, "Lai Châu had 8 districts: {body}");
    assert!(
        body["units"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["level"] == "district" && u["parent_code"] == "12")
    );
    let (_, body) = app
        .get_json("/api/v1/geographies/vn-2023/units?level=province&limit=10&offset=60")
        .await;
    assert_eq!(body["total"], 63);
    assert_eq!(body["units"].as_array().unwrap().len(), 3);
    let (s, body) = app
        .get_json("/api/v1/geographies/vn-2025/units?level=district")
        .await;
    assert_problem(s, &body, 400, "invalid_level");
    let (s, body) = app.get_json("/api/v1/geographies/vn-1999/units").await;
    assert_problem(s, &body, 404, "not_found");
}

#[tokio::test]
async fn a_unit_shows_ancestors_successors_and_predecessors() {
    let app = spawn_app().await;
    // A 2023 commune of Lai Châu: its ancestors and its 2025 successor(s).
    let (_, body) = app
        .get_json("/api/v1/geographies/vn-2023/units?parent=105")
        .await;
    let commune = body["units"][0]["code"].as_str().unwrap().to_owned();
    let (s, body) = app
        .get_json(&format!("/api/v1/geographies/vn-2023/units/{commune}"))
        .await;
    assert_eq!(s, 200, "{body}");
    let ancestors: Vec<&str> = body["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(ancestors, ["12", "105"]);
    let successors = body["successors"].as_array().unwrap();
    assert!(!successors.is_empty());
    assert_eq!(
        successors
            .iter()
            .filter(|s| s["is_default"] == true)
            .count(),
        1
    );
    assert!(successors.iter().all(|s| s["geography"] == "vn-2025"));
    // The 2025 province Phú Thọ (25) merged Hòa Bình (17), Phú Thọ (25), Vĩnh Phúc (26).
    let (_, body) = app.get_json("/api/v1/geographies/vn-2025/units/25").await;
    let mut preds: Vec<&str> = body["predecessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    preds.sort();
    assert_eq!(preds, ["17", "25", "26"], "{body}");
    let (s, body) = app
        .get_json("/api/v1/geographies/vn-2025/units/99999")
        .await;
    assert_problem(s, &body, 404, "not_found");
}

#[tokio::test]
async fn both_rounds_are_seeded() {
    let app = spawn_app().await;
    let (s, body) = app.get_json("/api/v1/rounds").await;
    assert_eq!(s, 200);
    let rounds = body["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2, "{body}");
    let r23 = rounds.iter().find(|r| r["code"] == "sipas-2023").unwrap();
    let r25 = rounds.iter().find(|r| r["code"] == "sipas-2025").unwrap();
    assert_eq!(r23["geography"], "vn-2023");
    assert_eq!(r23["year"], 2023);
    assert_eq!(
        r23["sampling_levels"],
        json!(["province", "district", "commune", "village"])
    );
    assert_eq!(r25["geography"], "vn-2025");
    assert_eq!(
        r25["sampling_levels"],
        json!(["province", "commune", "village"])
    );
    for r in [r23, r25] {
        assert_eq!(r["questionnaire"]["code"], "sipas");
        assert_eq!(r["questionnaire"]["version"], 1);
        assert_eq!(
            r["questionnaire"]["content_hash"],
            schema::builtin::sipas().content_hash()
        );
        assert_eq!(r["min_cell_size"], 30);
    }
    let (s, body) = app.get_json("/api/v1/rounds/sipas-2025").await;
    assert_eq!(s, 200);
    assert_eq!(body["code"], "sipas-2025");
    let (s, body) = app.get_json("/api/v1/rounds/sipas-1999").await;
    assert_problem(s, &body, 404, "not_found");
}

#[tokio::test]
async fn a_second_start_on_the_same_database_duplicates_nothing() {
    let app = spawn_app().await;
    let (_, before_geo) = app.get_json("/api/v1/geographies").await;
    let (_, before_q) = app.get_json("/api/v1/questionnaires").await;
    let (_, before_r) = app.get_json("/api/v1/rounds").await;
    let app = app.restart().await;
    let (_, after_geo) = app.get_json("/api/v1/geographies").await;
    let (_, after_q) = app.get_json("/api/v1/questionnaires").await;
    let (_, after_r) = app.get_json("/api/v1/rounds").await;
    assert_eq!(before_geo, after_geo);
    assert_eq!(before_q, after_q);
    assert_eq!(before_r, after_r);
    let (_, body) = app
        .get_json("/api/v1/geographies/vn-2023/units?level=province&limit=1")
        .await;
    assert_eq!(body["total"], 63);
}

/// Practice rounds: the ministry creates one like a real round, forms flow into it as into any
/// round, and deleting it removes its forms, quarantine and statistics; a real round cannot be
/// deleted, and nobody but the ministry creates or deletes.
#[tokio::test]
async fn practice_rounds_are_created_used_and_deleted_by_the_ministry() {
    use sync_protocol::{Outcome, sample::SipasForm};
    let app = e2e::spawn_app().await;
    let admin = app.admin_token().await;
    let enumerator = app
        .lai_chau_enumerator("dtv.practice", "device-practice")
        .await;
    let body = json!({ "code": "tap-huan-2025", "based_on": "sipas-2025", "title_vi": "Tập huấn điều tra viên" });
    let (s, _) = app.post_as(&enumerator, "/api/v1/rounds", &body).await;
    assert_eq!(s, 403);
    let (s, round) = app.post_as(&admin, "/api/v1/rounds", &body).await;
    assert_eq!(s, 201, "{round}");
    assert_eq!(
        (
            round["practice"].as_bool(),
            round["geography"].as_str(),
            round["status"].as_str()
        ),
        (Some(true), Some("vn-2025"), Some("open"))
    );
    assert_eq!(round["title_vi"], "Tập huấn điều tra viên");
    let (s, body2) = app.post_as(&admin, "/api/v1/rounds", &body).await;
    e2e::assert_problem(s, &body2, 409, "round_exists");
    let (s, body2) = app
        .post_as(
            &admin,
            "/api/v1/rounds",
            &json!({ "code": "Bad Code", "based_on": "sipas-2025" }),
        )
        .await;
    e2e::assert_problem(s, &body2, 422, "validation_failed");

    let device = app.sync(&enumerator);
    let good = SipasForm::new().round("tap-huan-2025").build();
    let mut bad = SipasForm::new()
        .round("tap-huan-2025")
        .household("HH-bad")
        .build();
    bad.answers.remove("gender");
    let r = device.push(&[good.clone(), bad]).await;
    assert_eq!(
        r.results.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [Outcome::Accepted, Outcome::Invalid]
    );
    let indices = app
        .get_ok(&admin, "/api/v1/rounds/tap-huan-2025/indices?unit=12")
        .await;
    assert_eq!(indices["results"][0]["n_forms"], 1);
    assert_eq!(app.form_count().await, 1);
    // What else a round holds: a target, a plan with a task and a progress note, thresholds.
    let practice = "/api/v1/rounds/tap-huan-2025";
    let (s, t) = app
        .post_as(
            &admin,
            &format!("{practice}/targets"),
            &json!({"province": "12", "key": "overall/sipas", "value": 90.0}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let (s, plan) = app
        .post_as(
            &admin,
            &format!("{practice}/plans"),
            &json!({"province": "12", "title": "Kế hoạch tập huấn"}),
        )
        .await;
    assert_eq!(s, 201, "{plan}");
    let plan_path = format!("{practice}/plans/{}", plan["id"]);
    let (s, task) = app
        .post_as(
            &admin,
            &format!("{plan_path}/tasks"),
            &e2e::plans::son_la_tasks()[0],
        )
        .await;
    assert_eq!(s, 201, "{task}");
    let (s, note) = app
        .post_as(
            &admin,
            &format!("{plan_path}/tasks/{}/progress", task["id"]),
            &json!({"period": "2025-Q3", "note": "Đã tập huấn."}),
        )
        .await;
    assert_eq!(s, 201, "{note}");
    let (s, q) = app
        .call(
            Method::PUT,
            &format!("{practice}/quality/settings"),
            Some(&admin),
            Some(&json!({"min_duration_s": 900})),
        )
        .await;
    assert_eq!(s, 200, "{q}");

    let (s, body2) = app
        .call(
            Method::DELETE,
            "/api/v1/rounds/sipas-2025",
            Some(&admin),
            None,
        )
        .await;
    e2e::assert_problem(s, &body2, 409, "not_a_practice_round");
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/rounds/tap-huan-2025",
            Some(&enumerator),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/rounds/tap-huan-2025",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(app.form_count().await, 0);
    assert!(app.quarantined().await.is_empty());
    let (s, _) = app.get_json("/api/v1/rounds/tap-huan-2025").await;
    assert_eq!(s, 404);
    let events = app.audit_events(&admin, "event=round_deleted").await;
    assert_eq!(events[0]["details"]["forms"], 1);
    // Created again under the same code, the round starts empty.
    let (s, _) = app.post_as(&admin, "/api/v1/rounds", &body).await;
    assert_eq!(s, 201);
    let targets = app.get_ok(&admin, &format!("{practice}/targets")).await;
    assert_eq!(targets["targets"], json!([]), "{targets}");
    let plans = app.get_ok(&admin, &format!("{practice}/plans")).await;
    assert_eq!(plans["plans"], json!([]), "{plans}");
    let q = app
        .get_ok(&admin, &format!("{practice}/quality/settings"))
        .await;
    assert_eq!(q["source"], "default");
    let (s, _) = app.call(Method::DELETE, practice, Some(&admin), None).await;
    assert_eq!(s, 204);
    // A push to the deleted round is kept, as for any unknown round.
    let again = SipasForm::new()
        .round("tap-huan-2025")
        .household("HH-late")
        .build();
    let r = device.push(&[again]).await;
    assert_eq!(r.results[0].outcome, Outcome::UnknownRound);
}
