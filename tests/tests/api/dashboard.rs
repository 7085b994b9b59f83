//! The dashboard under `/dashboard/`: its files with their types and CSP, and the page itself in
//! headless Chromium (tests/js/dashboard.mjs) as a province reviewer, at 1366 × 768 and 360 × 800,
//! with every number it shows compared with the API's answer for the same round and unit.

use e2e::browser::{browser_missing, run_story};
use e2e::exports::{read_csv, unzip};
use e2e::{Place, TestApp, USER_PASSWORD, figure, spawn_app};
use schema::sample::sipas_answers_with_levels;
use serde_json::Value;

const R23: &str = "sipas-2023";
const R25: &str = "sipas-2025";

#[tokio::test]
async fn dashboard_files_are_served_with_their_types_and_a_strict_csp() {
    let app = spawn_app().await;
    for (path, ty) in [
        ("/dashboard/", "text/html; charset=utf-8"),
        ("/dashboard/dashboard.js", "text/javascript; charset=utf-8"),
        ("/dashboard/api.js", "text/javascript; charset=utf-8"),
        ("/dashboard/charts.js", "text/javascript; charset=utf-8"),
        ("/dashboard/text.js", "text/javascript; charset=utf-8"),
        ("/dashboard/dashboard.css", "text/css; charset=utf-8"),
        ("/dashboard/icon.svg", "image/svg+xml"),
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert_eq!(h["content-type"], ty, "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h["x-frame-options"], "DENY");
    }
    for path in ["/dashboard/package.json", "/dashboard/nope.js"] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = app
        .client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.url().path(), "/dashboard/");
}

/// 36 forms in each of Lai Châu and Sơn La in both rounds: 3 communes × 2 villages × 6 forms, the
/// levels varying by form and item so groups, provinces and years differ. A commune's 12 forms
/// are below the small-cell threshold (30), so the communes table has withheld rows.
async fn seed(app: &TestApp) {
    for (round, shift) in [(R23, 0usize), (R25, 2)] {
        for (k, province) in ["12", "14"].into_iter().enumerate() {
            for c in 0..3 {
                let place = Place::nth(round, province, c);
                for v in 0..2 {
                    for i in 0..6 {
                        let levels: Vec<u8> = (0..39)
                            .map(|j| ((i + j + c + v + shift + 2 * k) % 5 + 1) as u8)
                            .map(|l| if shift > 0 && l < 3 { l + 1 } else { l })
                            .collect();
                        let f = place
                            .form()
                            .village(format!("Thôn {c}-{v}"))
                            .household(format!("HH-{round}-{province}-{c}-{v}-{i}"))
                            .answers(sipas_answers_with_levels(&levels))
                            .build();
                        app.insert_form(f, None).await;
                    }
                }
            }
        }
    }
}

/// The value the API gives for `key` in `result` (`None` when withheld or absent).
fn api_value(result: &Value, key: &str) -> Option<f64> {
    figure(result, key)["value"].as_f64()
}

/// What the page showed (a `data-value`, `""`/`null` when withheld) as a number.
fn shown_value(v: &Value) -> Option<f64> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a number"))
}

/// Every row the page showed for a table equals the API's figure, exactly (the page prints the
/// number it was given); the page showed as many rows as the API answered.
fn same_rows(
    what: &str,
    shown: &Value,
    api: &Value,
    key_of: impl Fn(&Value) -> (String, Option<f64>),
) {
    let shown = shown
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {shown}"));
    let results = api["results"].as_array().expect("results");
    assert_eq!(shown.len(), results.len(), "{what}: rows");
    for r in results {
        let (key, want) = key_of(r);
        let got = shown
            .get(&key)
            .unwrap_or_else(|| panic!("{what}: {key} not shown"));
        assert_eq!(shown_value(got), want, "{what}: {key}");
    }
}

/// Checks one view against the API; answers whether a lower-level unit was withheld.
fn check_view(view: &Value, api: &Value, league: &Value, communes: &Value) -> bool {
    let result = &api["results"][0];
    assert_eq!(
        shown_value(&view["sipas"]),
        api_value(result, "overall/sipas"),
        "headline"
    );
    let indices = view["indices"].as_object().expect("indices rows");
    let items = view["items"].as_object().expect("item rows");
    assert_eq!(indices.len(), 1 + 2 + 9, "SIPAS, 2 components, 9 groups");
    assert_eq!(items.len(), 39, "39 items");
    for (key, v) in indices.iter().chain(items) {
        assert_eq!(shown_value(v), api_value(result, key), "{key}");
    }
    assert_eq!(view["chart_bars"], 9, "a bar per group");
    same_rows("league", &view["league"], league, |r| {
        (
            r["unit"]["code"].as_str().unwrap().to_owned(),
            api_value(r, "overall/sipas"),
        )
    });
    same_rows("communes", &view["subunits"], communes, |r| {
        (
            r["unit"]["code"].as_str().unwrap().to_owned(),
            api_value(r, "overall/sipas"),
        )
    });
    // A unit withheld by the API is said to be so in words.
    let withheld = communes["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["withheld"] == true);
    assert_eq!(
        view["withheld_notes"].as_u64().unwrap() >= 1,
        withheld,
        "small cells are said to be withheld"
    );
    withheld
}

#[tokio::test]
async fn a_province_reviewer_reads_the_dashboard_in_chromium() {
    if browser_missing().is_some() {
        return;
    }
    let app = spawn_app().await;
    seed(&app).await;
    let admin = app.admin_token().await;
    app.create_reviewer(&admin, "snv.laichau", "vn-2025", "12")
        .await;
    // The reviewer's target (SIPAS ≥ 90, far above this province's figure: not met) and a plan
    // with one task linked to two groups.
    let reviewer = app.login("snv.laichau", USER_PASSWORD).await;
    let (s, target) = app
        .post_as(
            &reviewer,
            &format!("/api/v1/rounds/{R25}/targets"),
            &serde_json::json!({ "province": "12", "key": "overall/sipas", "value": 90.0 }),
        )
        .await;
    assert_eq!(s, 201, "{target}");
    let (s, plan) = app
        .post_as(
            &reviewer,
            &format!("/api/v1/rounds/{R25}/plans"),
            &serde_json::json!({ "province": "12", "title": "Kế hoạch nâng cao Chỉ số SIPAS năm 2025" }),
        )
        .await;
    assert!(s == 200 || s == 201, "{plan}");
    // The round's own thresholds (a longer straight line than the default's 15 items).
    let (s, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/rounds/{R25}/quality/settings"),
            Some(&admin),
            Some(&serde_json::json!({ "straight_run": 20 })),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let mut task = e2e::plans::son_la_tasks().remove(1);
    task["criteria"] = serde_json::json!(["group/p2", "overall/sipas"]);
    let (s, body) = app
        .post_as(
            &reviewer,
            &format!("/api/v1/rounds/{R25}/plans/{}/tasks", plan["id"]),
            &task,
        )
        .await;
    assert!(s == 200 || s == 201, "{body}");
    let report = run_story(
        "dashboard.mjs",
        &[
            ("SIPAS_URL", app.address.clone()),
            ("SIPAS_USER", "snv.laichau".into()),
            ("SIPAS_PASSWORD", USER_PASSWORD.into()),
            ("SIPAS_PROVINCE", "12".into()),
        ],
    )
    .await;
    let reviewer = app.login("snv.laichau", USER_PASSWORD).await;
    let targets = app
        .get_ok(
            &reviewer,
            &format!("/api/v1/rounds/{R25}/targets?province=12"),
        )
        .await;
    let quality = app
        .get_ok(
            &reviewer,
            &format!("/api/v1/rounds/{R25}/quality?unit=12&level=enumerator"),
        )
        .await;
    let read = |path: String| {
        let app = &app;
        let token = reviewer.clone();
        async move { app.get_ok(&token, &path).await }
    };
    let mut wants = Vec::new();
    for round in [R25, R23] {
        let level = if round == R23 { "district" } else { "commune" };
        wants.push((
            read(format!("/api/v1/rounds/{round}/indices?unit=12")).await,
            read(format!("/api/v1/rounds/{round}/indices?level=province")).await,
            read(format!(
                "/api/v1/rounds/{round}/indices?unit=12&level={level}"
            ))
            .await,
        ));
    }
    let views = report["views"].as_array().expect("views");
    assert_eq!(views.len(), 2, "1366 × 768 and 360 × 800");
    for view in views {
        let first = &view["first"];
        assert_eq!(first["round"], R25, "the newest round first");
        assert_eq!(first["with"], R23, "compared with the previous one");
        assert_eq!(first["unit"], "12");
        // The reviewer is offered the nation and their province, nothing else.
        assert_eq!(first["units"], serde_json::json!(["VN", "12"]));
        let change = first["change"].as_str().expect("the change is shown");
        assert!(change.contains(',') || change.contains('='), "{change}");
        let (ind, league, sub) = &wants[0];
        assert!(
            check_view(first, ind, league, sub),
            "the 2025 communes of 12 forms are withheld"
        );
        let second = &view["second"];
        assert_eq!(second["round"], R23);
        let (ind, league, sub) = &wants[1];
        // 2023: the lower level is the district (one row per district with forms).
        check_view(second, ind, league, sub);
        // The target as the API judges it, and the plan's task with its criteria.
        let t = &targets["targets"][0];
        assert_eq!(
            first["targets"],
            serde_json::json!({ t["id"].to_string(): t["evaluation"]["status"] }),
            "{first}"
        );
        assert_eq!(t["evaluation"]["status"], "not_met", "{t}");
        assert_eq!(first["tasks"], 1, "{first}");
        // The quality signals: each flagged signal's count as the API gives it (the seeded forms
        // have no GPS and no device times, so some signals are raised).
        let flagged: serde_json::Map<String, Value> = quality["signals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["forms"].as_u64().unwrap() > 0)
            .map(|x| {
                (
                    x["signal"].as_str().unwrap().to_owned(),
                    Value::String(x["forms"].to_string()),
                )
            })
            .collect();
        assert!(!flagged.is_empty(), "{quality}");
        assert_eq!(first["quality_signals"], Value::Object(flagged), "{first}");
        assert_eq!(quality["settings_source"], "round");
        assert_eq!(
            first["quality_thresholds"], "Ngưỡng do Bộ đặt cho đợt khảo sát này.",
            "{first}"
        );
        // The downloads: the report of the province (HTML) and its forms (the CSV zip), as the
        // API answers them for the reviewer.
        let downloads = view["downloads"].as_array().expect("downloads");
        assert_eq!(downloads.len(), 2);
        for dl in downloads {
            let bytes = std::fs::read(dl["path"].as_str().unwrap()).expect("downloaded file");
            let name = dl["name"].as_str().unwrap();
            if name.ends_with(".zip") {
                let rows = read_csv(&unzip(&bytes)["forms.csv"]).rows.len();
                assert_eq!(rows, 36, "{name}: the 2023 forms of Lai Châu");
            } else {
                assert!(name.ends_with(".html"), "{name}");
                let html = String::from_utf8(bytes).expect("utf-8");
                assert!(
                    html.contains("Lai Châu") && html.contains("SIPAS"),
                    "{name}"
                );
                let sipas =
                    api_value(&wants[1].0["results"][0], "overall/sipas").expect("2023 SIPAS");
                let shown = format!("{sipas:.2}").replace('.', ",");
                assert!(html.contains(&shown), "{name}: the 2023 SIPAS {shown}");
            }
        }
    }
}
