//! The enumerator app under `/app/`: the embedded files with their types, caching headers and
//! Content-Security-Policy; and the app itself in headless Chromium (tests/js/browser.mjs).

use e2e::browser::{browser_missing, run_story};
use e2e::{ADMIN, ADMIN_PASSWORD, USER_PASSWORD, spawn_app_with};

#[tokio::test]
async fn app_files_are_served_with_their_types_and_a_strict_csp() {
    let app = e2e::spawn_app().await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    for (path, ty) in [
        ("/app/", "text/html; charset=utf-8"),
        ("/app/index.html", "text/html; charset=utf-8"),
        ("/app/app.js", "text/javascript; charset=utf-8"),
        ("/app/rules.js", "text/javascript; charset=utf-8"),
        ("/app/sw.js", "text/javascript; charset=utf-8"),
        ("/app/app.css", "text/css; charset=utf-8"),
        ("/app/manifest.webmanifest", "application/manifest+json"),
        ("/app/icon.svg", "image/svg+xml"),
        ("/app/icon-192.png", "image/png"),
        ("/app/icon-512.png", "image/png"),
        ("/app/icon-180.png", "image/png"),
    ] {
        let r = get(path).await.expect("GET");
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert_eq!(h["content-type"], ty, "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-cache");
        let etag = h["etag"].to_str().unwrap().to_owned();
        // Revalidation: unchanged → 304, with no body.
        let again = app
            .client
            .get(format!("{}{path}", app.address))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    // A browser that accepts gzip gets each file gzipped, with its own ETag; it unzips to the
    // very bytes served plain.
    for path in ["/app/app.js", "/app/rules.js", "/app/app.css", "/app/"] {
        let plain = get(path).await.expect("GET");
        let plain_tag = plain.headers()["etag"].to_str().unwrap().to_owned();
        let plain = plain.bytes().await.unwrap();
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .header("accept-encoding", "gzip, deflate, br")
            .send()
            .await
            .expect("GET gzip");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-encoding"], "gzip", "{path}");
        assert_eq!(r.headers()["vary"], "accept-encoding", "{path}");
        let tag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert_ne!(
            tag, plain_tag,
            "{path}: another representation, another ETag"
        );
        let gz = r.bytes().await.unwrap();
        assert!(
            gz.len() < plain.len(),
            "{path}: {} < {}",
            gz.len(),
            plain.len()
        );
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
            .expect("gunzip");
        assert_eq!(out, plain, "{path}");
        let again = app
            .client
            .get(format!("{}{path}", app.address))
            .header("accept-encoding", "gzip")
            .header("if-none-match", &tag)
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), 304, "{path}");
    }
    // Not an app file: the test helpers and package.json are not served.
    for path in ["/app/package.json", "/app/nope.js", "/app/sub/app.js"] {
        let r = get(path).await.expect("GET");
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().contains_key("content-security-policy"));
    }
    let r = app
        .client
        .get(format!("{}/app", app.address))
        .send()
        .await
        .expect("GET /app");
    assert_eq!(r.url().path(), "/app/", "/app redirects to /app/");
}

/// The whole field story in Chromium at 360 × 800 (see tests/js/browser.mjs and
/// [`e2e::browser`] for what it needs and when it skips).
#[tokio::test]
async fn the_app_logs_in_works_offline_and_syncs_in_chromium() {
    if browser_missing().is_some() {
        return;
    }
    // Access tokens of 3 s: the session must survive their expiry and refresh at the next sync.
    let app = spawn_app_with(|s| s.access_token_ttl_secs = 3).await;
    let admin = app.admin_token().await;
    let enumerator_id = app
        .create_enumerator(&admin, "dtv.app", "vn-2025", "12", "LC-1")
        .await;
    let report = run_story(
        "browser.mjs",
        &[
            ("SIPAS_URL", app.address.clone()),
            ("SIPAS_USER", "dtv.app".into()),
            ("SIPAS_USER_ID", enumerator_id.to_string()),
            ("SIPAS_PASSWORD", USER_PASSWORD.into()),
            ("SIPAS_ADMIN", ADMIN.into()),
            ("SIPAS_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ],
    )
    .await;
    println!("{report:#}");
    assert!(
        report["refreshes"].as_u64().unwrap_or(0) >= 1,
        "the expired access token was refreshed"
    );

    // Tokens last 3 s here: the ministry logs in again.
    let admin = app.admin_token().await;
    // What the server holds: the five forms accepted, with the answers the enumerator tapped
    // (HH-002 as corrected after its return); the one changed in flight is quarantined, not
    // stored.
    assert_eq!(app.form_count().await, 5);
    assert_eq!(app.quarantine_count().await, 1);
    let list = app
        .get_ok(&admin, "/api/v1/rounds/sipas-2025/forms?limit=100")
        .await;
    let held = list["forms"].as_array().expect("forms");
    for want in report["forms"].as_array().expect("report forms") {
        let hh = want["household"].as_str().unwrap();
        let f = held
            .iter()
            .find(|f| f["household_ref"] == hh)
            .unwrap_or_else(|| panic!("{hh} not on the server"));
        let full = app
            .get_ok(
                &admin,
                &format!("/api/v1/forms/{}", f["id"].as_str().unwrap()),
            )
            .await;
        let a = &full["answers"];
        assert_eq!(a["age"], want["age"], "{hh}: {full}");
        assert_eq!(a["gender"], want["gender"], "{hh}");
        assert_eq!(a["p1"]["info_forms"], want["level"], "{hh}");
        let desk = want["desk"].as_bool().unwrap();
        assert_eq!(a.get("s1").is_some_and(|v| !v.is_null()), desk, "{hh}: s1");
        assert_eq!(f["device_id"], report["device_id"], "{hh}");
        // The form a reviewer returned was corrected on the device and resent as revision 2.
        let revision = want["revision"].as_u64().unwrap_or(1);
        assert_eq!(full["revision"], revision, "{hh}: {full}");
    }
}
