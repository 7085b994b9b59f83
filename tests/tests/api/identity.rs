//! Identity and access against the real server: every role on every endpoint, geographic scope
//! across the 2023 and 2025 geographies, forged tokens, refresh rotation and reuse detection,
//! immediate revocation (deactivation, password change, device), login throttling, the password
//! policy, the first ministry account and the audit log.

use std::collections::BTreeSet;

use e2e::{
    ADMIN, ADMIN_PASSWORD, TestApp, USER_PASSWORD, assert_problem, claims,
    places::{commune_2025, predecessor_2023},
    reports::sipas_version,
    spawn_app, spawn_app_with,
};
use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};
use sipas_server::{
    Settings,
    auth::tokens::{Claims, TokenKeys, now_unix},
    settings::Secret,
};
use sync_protocol::sample::SipasForm;
use uuid::Uuid;

/// What one caller should get from one request.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// This success status.
    Ok(u16),
    /// A problem+json with this status and code.
    Problem(u16, &'static str),
}

const OK: Want = Want::Ok(200);
const CREATED: Want = Want::Ok(201);
const FORBIDDEN: Want = Want::Problem(403, "forbidden");
const OUT_OF_SCOPE: Want = Want::Problem(403, "out_of_scope");
const NOT_FOUND: Want = Want::Problem(404, "not_found");
const UNAUTHENTICATED: Want = Want::Problem(401, "unauthenticated");

/// Sends one request and checks the answer against `want`; returns the body.
async fn expect(
    app: &TestApp,
    who: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    want: Want,
) -> Value {
    let (s, headers, b) = app.call_full(method.clone(), path, token, body).await;
    match want {
        Want::Ok(status) => assert_eq!(s, status, "{who}: {method} {path}: {b}"),
        Want::Problem(status, code) => {
            assert_eq!(
                (s, b["code"].as_str()),
                (status, Some(code)),
                "{who}: {method} {path}: {b}"
            );
            assert_problem(s, &b, status, code);
            if status == 401 {
                assert_bearer_challenge(&headers);
            }
        }
    }
    b
}

fn assert_bearer_challenge(headers: &HeaderMap) {
    let challenge = headers
        .get("www-authenticate")
        .expect("a 401 carries WWW-Authenticate")
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

fn ids(body: &Value, list: &str) -> BTreeSet<String> {
    body[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} in {body}"))
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_owned())
        .collect()
}

/// A form of the matrix fixture and which of the four roles may read it.
struct FormCase {
    label: &'static str,
    round: &'static str,
    id: Uuid,
    /// ministry, province_reviewer, supervisor, enumerator.
    visible: [bool; 4],
}

/// One endpoint of the matrix with the answer of each role and of a caller without a token.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    /// ministry, province_reviewer, supervisor, enumerator.
    want: [Want; 4],
    anonymous: Want,
}

impl Row {
    fn new(method: Method, path: impl Into<String>, want: [Want; 4], anonymous: Want) -> Row {
        Row {
            method,
            path: path.into(),
            body: None,
            want,
            anonymous,
        }
    }

    fn with_body(mut self, body: Value) -> Row {
        self.body = Some(body);
        self
    }
}

#[tokio::test]
async fn every_role_gets_exactly_its_access_on_every_endpoint() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let lc25 = commune_2025("12");
    let sl25 = commune_2025("14");
    let (lc23_district, lc23) = predecessor_2023(&lc25);
    let (sl23_district, sl23) = predecessor_2023(&sl25);
    assert!(geography::vn_2023().is_within(&lc23, "12"));
    assert!(geography::vn_2023().is_within(&sl23, "14"));

    let reviewer_id = app
        .create_reviewer(&admin, "lc.reviewer", "vn-2025", "12")
        .await;
    app.create_supervisor(&admin, "lc.supervisor", "vn-2025", "12", "lc-team-1")
        .await;
    let enumerator_id = app
        .create_enumerator(&admin, "lc.enumerator", "vn-2025", &lc25, "lc-team-1")
        .await;
    // Same province as the supervisor, another team.
    let other_team_id = app
        .create_enumerator(&admin, "lc.enumerator.two", "vn-2025", "12", "lc-team-2")
        .await;
    let son_la_id = app
        .create_enumerator(&admin, "sl.enumerator", "vn-2025", "14", "sl-team-1")
        .await;
    let tokens = [
        admin.clone(),
        app.user_token("lc.reviewer").await,
        app.user_token("lc.supervisor").await,
        app.user_token("lc.enumerator").await,
    ];
    let roles = ["ministry", "province_reviewer", "supervisor", "enumerator"];
    // Device sessions are separate logins, so revoking the devices below leaves `tokens` valid.
    for (user, device) in [
        ("lc.enumerator", "tab-lc-1"),
        ("lc.enumerator.two", "tab-lc-2"),
        ("sl.enumerator", "tab-sl-1"),
    ] {
        app.login_full(user, USER_PASSWORD, Some(device)).await;
    }

    // A form of the round at these units, submitted by `by`.
    let insert = |round: &str, units: (&str, Option<&str>, &str), by: i64| {
        let (province, district, commune) = units;
        let f = SipasForm::new()
            .round(round)
            .province(province)
            .commune(commune);
        let f = match district {
            Some(d) => f.district(d),
            None => f,
        };
        app.insert_form(f.build(), Some(by))
    };
    let forms = [
        FormCase {
            label: "Lai Châu 2025, own",
            round: "sipas-2025",
            id: insert("sipas-2025", ("12", None, &lc25), enumerator_id).await,
            visible: [true, true, true, true],
        },
        FormCase {
            label: "Lai Châu 2025, other team",
            round: "sipas-2025",
            id: insert("sipas-2025", ("12", None, &lc25), other_team_id).await,
            visible: [true, true, false, false],
        },
        FormCase {
            label: "Sơn La 2025",
            round: "sipas-2025",
            id: insert("sipas-2025", ("14", None, &sl25), son_la_id).await,
            visible: [true, false, false, false],
        },
        FormCase {
            label: "Lai Châu 2023, own",
            round: "sipas-2023",
            id: insert(
                "sipas-2023",
                ("12", Some(&lc23_district), &lc23),
                enumerator_id,
            )
            .await,
            visible: [true, true, true, true],
        },
        FormCase {
            label: "Lai Châu 2023, other team",
            round: "sipas-2023",
            id: insert(
                "sipas-2023",
                ("12", Some(&lc23_district), &lc23),
                other_team_id,
            )
            .await,
            visible: [true, true, false, false],
        },
        FormCase {
            label: "Sơn La 2023",
            round: "sipas-2023",
            id: insert("sipas-2023", ("14", Some(&sl23_district), &sl23), son_la_id).await,
            visible: [true, false, false, false],
        },
    ];

    let v2 = sipas_version(2, Some("Phiếu SIPAS phiên bản 2"));
    let public = [OK; 4];
    let ministry_only = |ok: Want| [ok, FORBIDDEN, FORBIDDEN, FORBIDDEN];
    let listing = |round: &str, unit: &str| format!("/api/v1/rounds/{round}/forms?unit={unit}");
    let rows = vec![
        Row::new(Method::GET, "/api/v1/auth/me", public, UNAUTHENTICATED),
        Row::new(Method::GET, "/api/v1/questionnaires", public, OK),
        Row::new(
            Method::GET,
            "/api/v1/questionnaires/sipas/versions/1",
            public,
            OK,
        ),
        Row::new(Method::GET, "/api/v1/geographies", public, OK),
        Row::new(
            Method::GET,
            "/api/v1/geographies/vn-2025/units?parent=12&limit=1",
            public,
            OK,
        ),
        Row::new(Method::GET, "/api/v1/rounds", public, OK),
        Row::new(
            Method::POST,
            "/api/v1/questionnaires",
            ministry_only(CREATED),
            UNAUTHENTICATED,
        )
        .with_body(v2),
        Row::new(
            Method::GET,
            "/api/v1/users",
            ministry_only(OK),
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::POST,
            "/api/v1/users",
            ministry_only(CREATED),
            UNAUTHENTICATED,
        )
        .with_body(json!({
            "username": "sl.reviewer", "full_name": "Người xem Sơn La", "role": "province_reviewer",
            "geography": "vn-2025", "unit_code": "14", "password": USER_PASSWORD,
        })),
        Row::new(
            Method::GET,
            format!("/api/v1/users/{enumerator_id}"),
            ministry_only(OK),
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::PATCH,
            format!("/api/v1/users/{reviewer_id}"),
            ministry_only(OK),
            UNAUTHENTICATED,
        )
        .with_body(json!({ "full_name": "Người xem Lai Châu" })),
        Row::new(
            Method::GET,
            "/api/v1/audit",
            ministry_only(OK),
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::GET,
            "/api/v1/devices",
            [OK, FORBIDDEN, OK, FORBIDDEN],
            UNAUTHENTICATED,
        ),
        // Roles run from the enumerator up to the ministry, so the supervisor's revocation of
        // its own team's device is the one that takes effect (the ministry's repeats it).
        Row::new(
            Method::POST,
            "/api/v1/devices/tab-lc-1/revoke",
            [OK, FORBIDDEN, OK, FORBIDDEN],
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::POST,
            "/api/v1/devices/tab-lc-2/revoke",
            [OK, FORBIDDEN, NOT_FOUND, FORBIDDEN],
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::POST,
            "/api/v1/devices/tab-sl-1/revoke",
            [OK, FORBIDDEN, NOT_FOUND, FORBIDDEN],
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::POST,
            "/api/v1/devices/no-such-device/revoke",
            [NOT_FOUND, FORBIDDEN, NOT_FOUND, FORBIDDEN],
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::GET,
            "/api/v1/rounds/sipas-2025/forms",
            public,
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::GET,
            "/api/v1/rounds/sipas-2023/forms",
            public,
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::GET,
            listing("sipas-2025", "14"),
            [OK, OUT_OF_SCOPE, OUT_OF_SCOPE, OUT_OF_SCOPE],
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::GET,
            listing("sipas-2023", "14"),
            [OK, OUT_OF_SCOPE, OUT_OF_SCOPE, OUT_OF_SCOPE],
            UNAUTHENTICATED,
        ),
        // The enumerator is scoped to one commune: its province is wider than its scope.
        Row::new(
            Method::GET,
            listing("sipas-2025", "12"),
            [OK, OK, OK, OUT_OF_SCOPE],
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::GET,
            listing("sipas-2025", &lc25),
            public,
            UNAUTHENTICATED,
        ),
        Row::new(
            Method::GET,
            listing("sipas-2023", &lc23),
            public,
            UNAUTHENTICATED,
        ),
    ];
    for row in &rows {
        expect(
            &app,
            "no token",
            row.method.clone(),
            &row.path,
            None,
            row.body.as_ref(),
            row.anonymous,
        )
        .await;
        for i in (0..4).rev() {
            expect(
                &app,
                roles[i],
                row.method.clone(),
                &row.path,
                Some(&tokens[i]),
                row.body.as_ref(),
                row.want[i],
            )
            .await;
        }
    }

    // Who each token belongs to.
    for (i, role) in roles.iter().enumerate() {
        let (s, me) = app.get_as(&tokens[i], "/api/v1/auth/me").await;
        assert_eq!(s, 200, "{me}");
        assert_eq!(me["role"], *role, "{me}");
    }
    let (_, me) = app.get_as(&tokens[1], "/api/v1/auth/me").await;
    assert_eq!(me["username"], "lc.reviewer");
    assert_eq!(me["scope"]["geography"], "vn-2025");
    assert_eq!(me["scope"]["unit_code"], "12");
    assert_eq!(me["scope"]["unit_name"], "tỉnh Lai Châu");
    assert_eq!(
        me["full_name"], "Người xem Lai Châu",
        "the ministry's PATCH"
    );
    assert!(me.get("password_hash").is_none(), "{me}");

    // Forms: each role lists exactly what it may read, in both rounds.
    for (i, role) in roles.iter().enumerate() {
        for round in ["sipas-2025", "sipas-2023"] {
            let (s, body) = app
                .get_as(&tokens[i], &format!("/api/v1/rounds/{round}/forms"))
                .await;
            assert_eq!(s, 200, "{role} {round}: {body}");
            let want: BTreeSet<String> = forms
                .iter()
                .filter(|f| f.round == round && f.visible[i])
                .map(|f| f.id.to_string())
                .collect();
            assert_eq!(ids(&body, "forms"), want, "{role} lists {round}");
            assert_eq!(body["total"], want.len(), "{role} {round}: {body}");
        }
    }
    // ... and reads each one it can see; the others do not exist for it.
    for f in &forms {
        for (i, role) in roles.iter().enumerate() {
            let who = format!("{role} reading {}", f.label);
            let path = format!("/api/v1/forms/{}", f.id);
            if f.visible[i] {
                let body = expect(&app, &who, Method::GET, &path, Some(&tokens[i]), None, OK).await;
                assert_eq!(body["id"], f.id.to_string(), "{who}");
                assert_eq!(body["round"], f.round, "{who}");
                assert!(
                    body["answers"].as_object().is_some_and(|a| !a.is_empty()),
                    "{who}: {body}"
                );
            } else {
                expect(
                    &app,
                    &who,
                    Method::GET,
                    &path,
                    Some(&tokens[i]),
                    None,
                    NOT_FOUND,
                )
                .await;
            }
        }
        expect(
            &app,
            "no token",
            Method::GET,
            &format!("/api/v1/forms/{}", f.id),
            None,
            None,
            UNAUTHENTICATED,
        )
        .await;
    }
    // The ministry's unit filter narrows to the unit.
    for (round, sl_label) in [("sipas-2025", "Sơn La 2025"), ("sipas-2023", "Sơn La 2023")] {
        let (_, body) = app.get_as(&admin, &listing(round, "14")).await;
        let sl: BTreeSet<String> = forms
            .iter()
            .filter(|f| f.label == sl_label)
            .map(|f| f.id.to_string())
            .collect();
        assert_eq!(ids(&body, "forms"), sl, "{round}");
    }

    // Devices: the ministry lists all, the supervisor its team's in its province only.
    let (_, all) = app.get_as(&admin, "/api/v1/devices").await;
    assert_eq!(
        ids(&all, "devices"),
        BTreeSet::from(["tab-lc-1".into(), "tab-lc-2".into(), "tab-sl-1".into()])
    );
    let (_, mine) = app.get_as(&tokens[2], "/api/v1/devices").await;
    assert_eq!(ids(&mine, "devices"), BTreeSet::from(["tab-lc-1".into()]));
    assert!(
        all["devices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["revoked_at"].is_string()),
        "every device was revoked by someone allowed to: {all}"
    );
    let revocations = app.audit_events(&admin, "event=device_revoked").await;
    assert!(
        revocations
            .iter()
            .any(|e| e["actor"] == "lc.supervisor" && e["target"] == "device:tab-lc-1"),
        "{revocations:?}"
    );
    assert!(
        !revocations
            .iter()
            .any(|e| e["actor"] == "lc.supervisor" && e["target"] != "device:tab-lc-1"),
        "the supervisor revoked nothing outside its team: {revocations:?}"
    );
}

#[tokio::test]
async fn a_lai_chau_reviewer_reads_no_son_la_form_in_either_geography() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // One reviewer scoped in each geography: the successor mapping translates both ways.
    for (name, geo) in [
        ("lc.reviewer.2025", "vn-2025"),
        ("lc.reviewer.2023", "vn-2023"),
    ] {
        app.create_reviewer(&admin, name, geo, "12").await;
    }
    let reviewers = [
        ("vn-2025 reviewer", app.user_token("lc.reviewer.2025").await),
        ("vn-2023 reviewer", app.user_token("lc.reviewer.2023").await),
    ];
    // (round, id) for two communes of each province in each round.
    let mut lai_chau = Vec::new();
    let mut son_la = Vec::new();
    for (province, bucket) in [("12", &mut lai_chau), ("14", &mut son_la)] {
        for c in geography::vn_2025().children(province).take(2) {
            let f = SipasForm::new().province(province).commune(&c.code);
            let id = app.insert_form(f.build(), None).await;
            bucket.push(("sipas-2025", id));
        }
        for d in geography::vn_2023().children(province).take(2) {
            let c = geography::vn_2023().children(&d.code).next().unwrap();
            let f = SipasForm::new()
                .round("sipas-2023")
                .province(province)
                .district(&d.code)
                .commune(&c.code);
            let id = app.insert_form(f.build(), None).await;
            bucket.push(("sipas-2023", id));
        }
    }
    let in_round = |forms: &[(&str, Uuid)], round: &str| -> BTreeSet<String> {
        forms
            .iter()
            .filter(|(r, _)| *r == round)
            .map(|(_, id)| id.to_string())
            .collect()
    };
    let sl_district_2023 = geography::vn_2023()
        .children("14")
        .next()
        .unwrap()
        .code
        .clone();

    for (who, token) in &reviewers {
        for round in ["sipas-2025", "sipas-2023"] {
            let want = in_round(&lai_chau, round);
            assert_eq!(want.len(), 2);
            let (s, body) = app
                .get_as(token, &format!("/api/v1/rounds/{round}/forms"))
                .await;
            assert_eq!(s, 200, "{who} {round}: {body}");
            assert_eq!(ids(&body, "forms"), want, "{who} lists {round}");
            assert_eq!(body["total"], 2);
            let (s, body) = app
                .get_as(token, &format!("/api/v1/rounds/{round}/forms?unit=12"))
                .await;
            assert_eq!(s, 200, "{who} {round}: {body}");
            assert_eq!(ids(&body, "forms"), want, "{who} {round} ?unit=12");
            let (s, body) = app
                .get_as(token, &format!("/api/v1/rounds/{round}/forms?unit=14"))
                .await;
            assert_problem(s, &body, 403, "out_of_scope");
        }
        let (s, body) = app
            .get_as(
                token,
                &format!("/api/v1/rounds/sipas-2023/forms?unit={sl_district_2023}"),
            )
            .await;
        assert_problem(s, &body, 403, "out_of_scope");
        let (_, unknown) = app
            .get_as(token, &format!("/api/v1/forms/{}", Uuid::now_v7()))
            .await;
        for (round, id) in &son_la {
            let (s, body) = app.get_as(token, &format!("/api/v1/forms/{id}")).await;
            assert_problem(s, &body, 404, "not_found");
            assert_eq!(
                body, unknown,
                "{who}: a Sơn La form ({round}) answers like a form that does not exist"
            );
        }
        for (round, id) in &lai_chau {
            let (s, body) = app.get_as(token, &format!("/api/v1/forms/{id}")).await;
            assert_eq!(s, 200, "{who} reads Lai Châu {round}: {body}");
            assert_eq!(body["units"]["province"], "12");
        }
    }
    // Control: the ministry sees all eight.
    for round in ["sipas-2025", "sipas-2023"] {
        let (_, body) = app
            .get_as(&admin, &format!("/api/v1/rounds/{round}/forms"))
            .await;
        let mut all = in_round(&lai_chau, round);
        all.extend(in_round(&son_la, round));
        assert_eq!(ids(&body, "forms"), all, "ministry {round}");
    }
}

/// Base64url without padding, as in a JWT.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn forged_expired_and_unsigned_tokens_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, me) = app.get_as(&admin, "/api/v1/auth/me").await;
    let admin_id = me["id"].as_i64().unwrap();
    let enumerator_id = app
        .create_enumerator(&admin, "lc.enumerator", "vn-2025", "12", "team-1")
        .await;
    let now = now_unix();
    let other_keys = TokenKeys::new(&Settings {
        jwt_secret: Some(Secret::new(
            "another-deployment-key-0123456789abcdef".into(),
        )),
        ..Settings::default()
    });

    // Control: a token this test signs with the server's key is accepted, so each refusal below is
    // due to the one thing changed.
    let genuine_claims = claims(enumerator_id, "lc.enumerator", "enumerator", now, now + 600);
    let genuine = app.sign(&genuine_claims);
    let (s, body) = app.get_as(&genuine, "/api/v1/auth/me").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["username"], "lc.enumerator");
    let parts: Vec<&str> = genuine.split('.').collect();
    assert_eq!(
        parts[1],
        b64url(&serde_json::to_vec(&genuine_claims).unwrap()),
        "the hand encoding matches the library's"
    );

    let escalated = claims(admin_id, ADMIN, "ministry", now, now + 600);
    let escalated_payload = b64url(&serde_json::to_vec(&escalated).unwrap());
    let cases = [
        (
            "expired",
            app.sign(&claims(
                enumerator_id,
                "lc.enumerator",
                "enumerator",
                now - 7200,
                now - 3600,
            )),
            "token_expired",
        ),
        (
            "signed with another key",
            other_keys.sign(&escalated).unwrap(),
            "invalid_token",
        ),
        (
            "payload changed after signing",
            format!("{}.{}.{}", parts[0], escalated_payload, parts[2]),
            "invalid_token",
        ),
        (
            "alg none, no signature",
            format!(
                "{}.{}.",
                b64url(br#"{"alg":"none","typ":"JWT"}"#),
                escalated_payload
            ),
            "invalid_token",
        ),
        (
            "alg none with the genuine signature",
            format!(
                "{}.{}.{}",
                b64url(br#"{"alg":"none","typ":"JWT"}"#),
                parts[1],
                parts[2]
            ),
            "invalid_token",
        ),
        (
            "another issuer",
            app.sign(&Claims {
                iss: "someone-else".into(),
                ..escalated.clone()
            }),
            "invalid_token",
        ),
        (
            "a user that does not exist",
            app.sign(&claims(987_654, "ghost", "ministry", now, now + 600)),
            "token_revoked",
        ),
        ("not a JWT", "not-a-jwt".to_owned(), "invalid_token"),
    ];
    for (what, token, code) in &cases {
        for path in ["/api/v1/auth/me", "/api/v1/users", "/api/v1/audit"] {
            let (s, headers, body) = app.call_full(Method::GET, path, Some(token), None).await;
            assert_eq!(
                (s, body["code"].as_str()),
                (401, Some(*code)),
                "{what} on {path}: {body}"
            );
            assert_problem(s, &body, 401, code);
            assert_bearer_challenge(&headers);
        }
    }
    // Another scheme than Bearer.
    let resp = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", format!("Basic {}", b64url(b"admin:x")))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("www-authenticate"));
    let (s, body) = e2e::read(resp).await;
    assert_problem(s, &body, 401, "invalid_token");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_its_family() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user_id = app
        .create_enumerator(&admin, "field.user", "vn-2025", "12", "team-1")
        .await;
    let first = app.login_full("field.user", USER_PASSWORD, None).await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], app.settings.access_token_ttl_secs);
    assert_eq!(
        first["refresh_expires_in"],
        app.settings.refresh_token_ttl_days * 86_400
    );
    // A second, independent session of the same user.
    let other_session = app.login_full("field.user", USER_PASSWORD, None).await;

    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (s, headers, second) = app
        .call_full(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({ "refresh_token": r1 })),
        )
        .await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(headers["cache-control"], "no-store");
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r2, r1);
    // Sliding: every refresh grants the full lifetime again.
    assert_eq!(
        second["refresh_expires_in"],
        app.settings.refresh_token_ttl_days * 86_400
    );
    let (s, me) = app
        .get_as(second["access_token"].as_str().unwrap(), "/api/v1/auth/me")
        .await;
    assert_eq!((s, me["id"].as_i64()), (200, Some(user_id)), "{me}");

    let (s, third) = app.refresh(&r2).await;
    assert_eq!(s, 200, "{third}");
    let r3 = third["refresh_token"].as_str().unwrap().to_owned();

    // r1 was spent: presenting it again is theft, and the whole family goes.
    let (s, body) = app.refresh(&r1).await;
    assert_problem(s, &body, 401, "refresh_token_reused");
    let (s, body) = app.refresh(&r3).await;
    assert_problem(s, &body, 401, "invalid_refresh_token");
    let (s, body) = app.refresh(&r2).await;
    assert!(s == 401, "{body}");

    // The other login is another family and lives on.
    let (s, body) = app
        .refresh(other_session["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(s, 200, "{body}");

    let (s, body) = app.refresh("rt_not-a-token").await;
    assert_problem(s, &body, 401, "invalid_refresh_token");

    let reuse = app.audit_events(&admin, "event=token_reuse_detected").await;
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    assert_eq!(reuse[0]["target"], format!("user:{user_id}"));
    assert_eq!(reuse[0]["actor_id"], user_id);
}

#[tokio::test]
async fn logout_revokes_the_session_and_is_idempotent() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let session = app.login_full(ADMIN, ADMIN_PASSWORD, None).await;
    let refresh_token = session["refresh_token"].as_str().unwrap();
    let (s, rotated) = app.refresh(refresh_token).await;
    assert_eq!(s, 200, "{rotated}");
    let current = rotated["refresh_token"].as_str().unwrap();

    let logout = json!({ "refresh_token": current });
    let (s, _) = app.post_json("/api/v1/auth/logout", &logout).await;
    assert_eq!(s, 204);
    let (s, body) = app.refresh(current).await;
    assert_problem(s, &body, 401, "invalid_refresh_token");
    let (s, _) = app.post_json("/api/v1/auth/logout", &logout).await;
    assert_eq!(s, 204, "logging out twice is harmless");
    let (s, _) = app
        .post_json(
            "/api/v1/auth/logout",
            &json!({ "refresh_token": "rt_unknown" }),
        )
        .await;
    assert_eq!(s, 204);

    let events = app.audit_events(&admin, "event=logout").await;
    assert_eq!(
        events.len(),
        2,
        "one per logout of a known token: {events:?}"
    );
}

#[tokio::test]
async fn deactivation_takes_effect_on_the_next_request() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app
        .create_supervisor(&admin, "leaving.user", "vn-2025", "14", "sl-team-1")
        .await;
    let session = app.login_full("leaving.user", USER_PASSWORD, None).await;
    let access = session["access_token"].as_str().unwrap();
    let refresh_token = session["refresh_token"].as_str().unwrap();
    let (s, _) = app.get_as(access, "/api/v1/devices").await;
    assert_eq!(s, 200);

    let (s, body) = app
        .patch_as(
            &admin,
            &format!("/api/v1/users/{id}"),
            &json!({ "active": false }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["active"], false);

    for path in ["/api/v1/auth/me", "/api/v1/devices"] {
        expect(
            &app,
            "deactivated",
            Method::GET,
            path,
            Some(access),
            None,
            Want::Problem(401, "token_revoked"),
        )
        .await;
    }
    let (s, body) = app.refresh(refresh_token).await;
    assert_problem(s, &body, 401, "invalid_refresh_token");
    let (s, _, inactive) = app.try_login("leaving.user", USER_PASSWORD, None).await;
    assert_problem(s, &inactive, 401, "invalid_credentials");
    let (_, _, unknown) = app.try_login("nobody.here", USER_PASSWORD, None).await;
    assert_eq!(inactive, unknown, "an inactive account is not revealed");

    let events = app.audit_events(&admin, "event=user_deactivated").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target"], format!("user:{id}"));
    assert_eq!(events[0]["actor"], ADMIN);
    assert_eq!(events[0]["details"]["sessions_revoked"], true);

    // Reactivated, the account logs in again; the old token stays dead.
    let (s, _) = app
        .patch_as(
            &admin,
            &format!("/api/v1/users/{id}"),
            &json!({ "active": true }),
        )
        .await;
    assert_eq!(s, 200);
    let fresh = app.user_token("leaving.user").await;
    let (s, _) = app.get_as(&fresh, "/api/v1/auth/me").await;
    assert_eq!(s, 200);
    let (s, body) = app.get_as(access, "/api/v1/auth/me").await;
    assert_problem(s, &body, 401, "token_revoked");
}

#[tokio::test]
async fn a_password_change_revokes_earlier_sessions() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app
        .create_enumerator(&admin, "field.user", "vn-2025", "12", "team-1")
        .await;
    let session = app.login_full("field.user", USER_PASSWORD, None).await;
    let access = session["access_token"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");

    // A refused change changes nothing.
    let (s, body) = app
        .patch_as(&admin, &path, &json!({ "password": "short" }))
        .await;
    assert_problem(s, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "password");
    assert_eq!(body["errors"][0]["code"], "weak_password");
    let (s, _) = app.get_as(access, "/api/v1/auth/me").await;
    assert_eq!(s, 200);

    let new_password = "another-Field-passphrase-77";
    let (s, body) = app
        .patch_as(&admin, &path, &json!({ "password": new_password }))
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app.get_as(access, "/api/v1/auth/me").await;
    assert_problem(s, &body, 401, "token_revoked");
    let (s, body) = app
        .refresh(session["refresh_token"].as_str().unwrap())
        .await;
    assert_problem(s, &body, 401, "invalid_refresh_token");
    let (s, _, body) = app.try_login("field.user", USER_PASSWORD, None).await;
    assert_problem(s, &body, 401, "invalid_credentials");
    let fresh = app.login("field.user", new_password).await;
    let (s, _) = app.get_as(&fresh, "/api/v1/auth/me").await;
    assert_eq!(s, 200);

    let events = app.audit_events(&admin, "event=password_changed").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target"], format!("user:{id}"));
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(new_password), "no password in the audit log");
}

#[tokio::test]
async fn a_revoked_device_loses_its_session_and_cannot_log_in_again() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_enumerator(&admin, "field.user", "vn-2025", "12", "team-1")
        .await;
    let on_device = app
        .login_full("field.user", USER_PASSWORD, Some("tablet-0001"))
        .await;
    let elsewhere = app.user_token("field.user").await;

    let devices = app.devices(&admin, "").await;
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["id"], "tablet-0001");
    assert_eq!(devices[0]["user"]["username"], "field.user");
    assert_eq!(devices[0]["app_version"], "test-1.0");
    assert!(devices[0]["revoked_at"].is_null());
    let registered = app.audit_events(&admin, "event=device_registered").await;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["target"], "device:tablet-0001");

    let (s, body) = app
        .post_as(&admin, "/api/v1/devices/tablet-0001/revoke", &json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["revoked_at"].is_string(), "{body}");

    let (s, body) = app
        .get_as(
            on_device["access_token"].as_str().unwrap(),
            "/api/v1/auth/me",
        )
        .await;
    assert_problem(s, &body, 401, "token_revoked");
    let (s, body) = app
        .refresh(on_device["refresh_token"].as_str().unwrap())
        .await;
    assert_problem(s, &body, 401, "invalid_refresh_token");
    let (s, _, body) = app
        .try_login("field.user", USER_PASSWORD, Some("tablet-0001"))
        .await;
    assert_problem(s, &body, 403, "device_revoked");
    // Only that device is cut off: the user's other session and a new device still work.
    let (s, _) = app.get_as(&elsewhere, "/api/v1/auth/me").await;
    assert_eq!(s, 200);
    app.login_full("field.user", USER_PASSWORD, Some("tablet-0002"))
        .await;

    let devices = app.devices(&admin, "").await;
    let revoked: Vec<&str> = devices
        .iter()
        .filter(|d| d["revoked_at"].is_string())
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(revoked, ["tablet-0001"], "{devices:?}");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_identical_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_enumerator(&admin, "field.user", "vn-2025", "12", "team-1")
        .await;
    let (s1, h1, unknown) = app
        .try_login("nobody.here", "some-Guess-passphrase-1", None)
        .await;
    let (s2, h2, wrong) = app
        .try_login("field.user", "some-Guess-passphrase-1", None)
        .await;
    assert_problem(s1, &unknown, 401, "invalid_credentials");
    assert_eq!(s1, s2);
    assert_eq!(unknown, wrong);
    assert_eq!(h1["www-authenticate"], h2["www-authenticate"]);
    assert_eq!(h1["content-type"], h2["content-type"]);

    // Only the audit log tells them apart.
    let failed = app.audit_events(&admin, "event=login_failed").await;
    let reasons: BTreeSet<&str> = failed
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, BTreeSet::from(["unknown_user", "wrong_password"]));
}

#[tokio::test]
async fn repeated_failures_lock_one_username_with_retry_after() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for name in ["field.one", "field.two"] {
        app.create_enumerator(&admin, name, "vn-2025", "12", "team-1")
            .await;
    }
    let max = app.settings.login_max_failures_per_user;
    assert_eq!(max, 5, "the default");
    for _ in 0..max {
        let (s, _, body) = app
            .try_login("field.one", "wrong-Guess-passphrase", None)
            .await;
        assert_problem(s, &body, 401, "invalid_credentials");
    }
    // Locked now, even with the right password.
    for password in [USER_PASSWORD, "wrong-Guess-passphrase"] {
        let (s, headers, body) = app.try_login("field.one", password, None).await;
        assert_problem(s, &body, 429, "too_many_attempts");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(
            (1..=app.settings.login_throttle_secs).contains(&retry),
            "{retry}"
        );
    }
    // Usernames are throttled one by one.
    app.user_token("field.two").await;
    app.login(ADMIN, ADMIN_PASSWORD).await;

    let throttled = app.audit_events(&admin, "event=login_throttled").await;
    assert_eq!(throttled.len(), 2, "{throttled:?}");
    assert!(throttled.iter().all(|e| e["actor"] == "field.one"));
    assert!(throttled.iter().all(|e| e["details"]["key"] == "user"));
}

#[tokio::test]
async fn repeated_failures_from_one_address_lock_every_username() {
    let app = spawn_app_with(|s| s.login_max_failures_per_ip = 3).await;
    let admin = app.admin_token().await;
    // Three usernames, one failure each: under the per-user limit, at the per-address limit.
    for name in ["ghost.one", "ghost.two", "ghost.three"] {
        let (s, _, body) = app.try_login(name, "wrong-Guess-passphrase", None).await;
        assert_problem(s, &body, 401, "invalid_credentials");
    }
    for (name, password) in [
        (ADMIN, ADMIN_PASSWORD),
        ("ghost.four", "wrong-Guess-passphrase"),
    ] {
        let (s, headers, body) = app.try_login(name, password, None).await;
        assert_problem(s, &body, 429, "too_many_attempts");
        assert!(headers.contains_key("retry-after"), "{headers:?}");
    }
    let throttled = app.audit_events(&admin, "event=login_throttled").await;
    assert_eq!(throttled.len(), 2, "{throttled:?}");
    assert!(throttled.iter().all(|e| e["details"]["key"] == "ip"));
}

#[tokio::test]
async fn user_creation_enforces_the_password_policy_and_scope_rules() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = |username: &str,
                role: &str,
                unit: Option<&str>,
                team: Option<&str>,
                password: &str| {
        json!({
            "username": username, "full_name": "Nguyễn Văn A", "role": role, "geography": "vn-2025",
            "unit_code": unit, "team": team, "password": password,
        })
    };
    let lc_commune = commune_2025("12");
    let cases = [
        (
            "too short",
            user("nguyen.a", "enumerator", Some("12"), Some("t1"), "Ab1-xyz"),
            "password",
            "weak_password",
        ),
        (
            "common",
            user(
                "nguyen.a",
                "enumerator",
                Some("12"),
                Some("t1"),
                "password123",
            ),
            "password",
            "weak_password",
        ),
        (
            "common with a suffix",
            user(
                "nguyen.a",
                "enumerator",
                Some("12"),
                Some("t1"),
                "Matkhau123!",
            ),
            "password",
            "weak_password",
        ),
        (
            "containing the username",
            user(
                "nguyen.a",
                "enumerator",
                Some("12"),
                Some("t1"),
                "my-NGUYEN.A-passphrase",
            ),
            "password",
            "weak_password",
        ),
        (
            "a reviewer scoped to a commune",
            user(
                "nguyen.a",
                "province_reviewer",
                Some(&lc_commune),
                None,
                USER_PASSWORD,
            ),
            "unit_code",
            "province_required",
        ),
        (
            "an unknown unit",
            user(
                "nguyen.a",
                "enumerator",
                Some("99999"),
                Some("t1"),
                USER_PASSWORD,
            ),
            "unit_code",
            "unknown_unit",
        ),
        (
            "an enumerator without a team",
            user("nguyen.a", "enumerator", Some("12"), None, USER_PASSWORD),
            "team",
            "required",
        ),
        (
            "an unknown role",
            user("nguyen.a", "director", Some("12"), None, USER_PASSWORD),
            "role",
            "invalid_role",
        ),
    ];
    for (what, body, field, code) in &cases {
        let (s, answer) = app.post_as(&admin, "/api/v1/users", body).await;
        assert_eq!(s, 422, "{what}: {answer}");
        assert_problem(s, &answer, 422, "validation_failed");
        let errors = answer["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == *field && e["code"] == *code),
            "{what}: {answer}"
        );
    }

    let ok = user(
        "nguyen.a",
        "province_reviewer",
        Some("12"),
        None,
        USER_PASSWORD,
    );
    let (s, created) = app.post_as(&admin, "/api/v1/users", &ok).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["username"], "nguyen.a");
    assert_eq!(created["scope"]["unit_name"], "tỉnh Lai Châu");
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    for username in ["nguyen.a", "  Nguyen.A "] {
        let mut again = ok.clone();
        again["username"] = json!(username);
        let (s, body) = app.post_as(&admin, "/api/v1/users", &again).await;
        assert_problem(s, &body, 409, "username_taken");
    }
    let (_, list) = app.get_as(&admin, "/api/v1/users").await;
    assert_eq!(list["total"], 2, "the admin and nguyen.a only: {list}");
}

#[tokio::test]
async fn the_first_start_creates_the_ministry_account_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (s, list) = app.get_as(&admin, "/api/v1/users").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["total"], 1);
    let account = &list["users"][0];
    assert_eq!(account["username"], ADMIN);
    assert_eq!(account["role"], "ministry");
    assert!(account["scope"].is_null());
    assert_eq!(account["active"], true);
    let created = app.audit_events(&admin, "event=user_created").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["actor"], "bootstrap");
    assert!(created[0]["actor_id"].is_null());
    assert_eq!(created[0]["target"], format!("user:{}", account["id"]));
    assert_eq!(created[0]["details"]["username"], ADMIN);

    let app = app.restart().await;
    let admin = app.admin_token().await;
    let (_, list) = app.get_as(&admin, "/api/v1/users").await;
    assert_eq!(list["total"], 1, "a restart creates no second account");
    assert_eq!(
        app.audit_events(&admin, "actor=bootstrap").await.len(),
        1,
        "nor a second bootstrap event"
    );
}

#[tokio::test]
async fn the_audit_log_records_security_events_with_filters_and_paging() {
    let app = spawn_app().await;
    let (s, _, _) = app.try_login(ADMIN, "not-the-Admin-passphrase", None).await;
    assert_eq!(s, 401);
    let admin = app.admin_token().await;
    let (_, me) = app.get_as(&admin, "/api/v1/auth/me").await;
    let admin_target = format!("user:{}", me["id"]);
    let v2 = sipas_version(2, Some("Phiếu SIPAS phiên bản 2"));
    let (s, body) = app.publish(&admin, &v2).await;
    assert_eq!(s, 201, "{body}");
    let id = app
        .create_enumerator(&admin, "field.user", "vn-2025", "12", "team-1")
        .await;
    app.login_full("field.user", USER_PASSWORD, Some("tablet-0001"))
        .await;
    let (s, _) = app
        .post_as(&admin, "/api/v1/devices/tablet-0001/revoke", &json!({}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .patch_as(
            &admin,
            &format!("/api/v1/users/{id}"),
            &json!({ "active": false }),
        )
        .await;
    assert_eq!(s, 200);

    // (event, actor, target) of one event each filter must return.
    let expected = [
        ("user_created", "bootstrap", admin_target.clone()),
        ("user_created", ADMIN, format!("user:{id}")),
        ("login_failed", ADMIN, String::new()),
        ("login_succeeded", ADMIN, admin_target.clone()),
        ("login_succeeded", "field.user", format!("user:{id}")),
        (
            "questionnaire_published",
            ADMIN,
            "questionnaire:sipas/2".to_owned(),
        ),
        (
            "device_registered",
            "field.user",
            "device:tablet-0001".to_owned(),
        ),
        ("device_revoked", ADMIN, "device:tablet-0001".to_owned()),
        ("user_deactivated", ADMIN, format!("user:{id}")),
    ];
    for (event, actor, target) in &expected {
        let events = app.audit_events(&admin, &format!("event={event}")).await;
        assert!(
            events.iter().all(|e| e["event"] == *event),
            "only {event}: {events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| e["actor"] == *actor
                    && (target.is_empty() || e["target"] == target.as_str())),
            "{event} by {actor} on {target}: {events:?}"
        );
    }
    let succeeded = app.audit_events(&admin, "event=login_succeeded").await;
    assert_eq!(succeeded[0]["ip"], "127.0.0.1", "{succeeded:?}");

    let by_admin = app.audit_events(&admin, "actor=admin").await;
    assert!(by_admin.iter().all(|e| e["actor"] == ADMIN));
    let kinds: BTreeSet<&str> = by_admin
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for event in [
        "login_failed",
        "login_succeeded",
        "questionnaire_published",
        "user_created",
        "device_revoked",
        "user_deactivated",
    ] {
        assert!(kinds.contains(event), "{event} in {kinds:?}");
    }
    let combined = app
        .audit_events(&admin, "actor=admin&event=user_created")
        .await;
    assert_eq!(combined.len(), 1, "{combined:?}");
    assert_eq!(combined[0]["target"], format!("user:{id}"));

    // Paging two at a time walks the same events, newest first, without gaps or repeats.
    let all: Vec<i64> = app
        .audit_events(&admin, "")
        .await
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(all.len() >= expected.len(), "{all:?}");
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first: {all:?}");
    let mut paged = Vec::new();
    let mut path = "/api/v1/audit?limit=2".to_owned();
    loop {
        let (s, page) = app.get_as(&admin, &path).await;
        assert_eq!(s, 200, "{page}");
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        paged.extend(events.iter().map(|e| e["id"].as_i64().unwrap()));
        match page["next_before"].as_i64() {
            Some(before) => {
                assert_eq!(Some(before), paged.last().copied());
                path = format!("/api/v1/audit?limit=2&before={before}");
            }
            None => break,
        }
        assert!(paged.len() <= all.len(), "paging terminates");
    }
    assert_eq!(paged, all);
}

/// A reviewer scoped to a 2023 province that merged into a larger 2025 province sees, in the 2025
/// round, only the forms from communes that succeeded their old province's communes.
#[tokio::test]
async fn a_scope_in_a_merged_province_does_not_widen_to_the_whole_new_province() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (old, new) = (geography::vn_2023(), geography::vn_2025());
    let map = geography::vn_2023_to_2025();
    // Hà Giang (02) and Tuyên Quang (08) merged into the 2025 province Tuyên Quang (08).
    let successor_of_first_commune = |province: &str| {
        let commune = old
            .units()
            .iter()
            .find(|u| u.level == geography::Level::Commune && old.is_within(&u.code, province))
            .unwrap();
        map.default_successor(&commune.code).unwrap().to_owned()
    };
    let from_ha_giang = successor_of_first_commune("02");
    let from_tuyen_quang = successor_of_first_commune("08");
    assert!(new.is_within(&from_ha_giang, "08") && new.is_within(&from_tuyen_quang, "08"));
    let in_tuyen_quang = |commune: &str| SipasForm::new().province("08").commune(commune).build();
    let hg_form = app.insert_form(in_tuyen_quang(&from_ha_giang), None).await;
    let tq_form = app
        .insert_form(in_tuyen_quang(&from_tuyen_quang), None)
        .await;
    app.create_reviewer(&admin, "sonv.hagiang", "vn-2023", "02")
        .await;
    let reviewer = app.user_token("sonv.hagiang").await;
    let (s, body) = app
        .get_as(&reviewer, "/api/v1/rounds/sipas-2025/forms")
        .await;
    assert_eq!(s, 200, "{body}");
    let seen = ids(&body, "forms");
    assert!(seen.contains(&hg_form.to_string()), "{body}");
    assert!(!seen.contains(&tq_form.to_string()), "{body}");
    let (s, _) = app
        .get_as(&reviewer, &format!("/api/v1/forms/{tq_form}"))
        .await;
    assert_eq!(s, 404);
    let (s, body) = app
        .get_as(&reviewer, "/api/v1/rounds/sipas-2025/forms?unit=08")
        .await;
    assert_problem(s, &body, 403, "out_of_scope");
    let (s, _) = app
        .get_as(
            &reviewer,
            &format!("/api/v1/rounds/sipas-2025/forms?unit={from_ha_giang}"),
        )
        .await;
    assert_eq!(s, 200);
}

/// A user changes their own password with the current one: a wrong one is a field error (and a
/// failed login for the throttle); the change ends every session, the new password logs in.
#[tokio::test]
async fn users_change_their_own_password() {
    let app = e2e::spawn_app().await;
    let token = app.lai_chau_enumerator("dtv.own", "device-own-1").await;
    let (s, body) = app
        .post_as(
            &token,
            "/api/v1/auth/password",
            &serde_json::json!({ "current_password": "not it at all", "new_password": "a new field passphrase 7" }),
        )
        .await;
    e2e::assert_problem(s, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "current_password");
    let (s, body) = app
        .post_as(
            &token,
            "/api/v1/auth/password",
            &serde_json::json!({ "current_password": e2e::USER_PASSWORD, "new_password": "short" }),
        )
        .await;
    e2e::assert_problem(s, &body, 422, "validation_failed");
    let (s, _) = app
        .post_as(
            &token,
            "/api/v1/auth/password",
            &serde_json::json!({ "current_password": e2e::USER_PASSWORD, "new_password": "a new field passphrase 7" }),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get_as(&token, "/api/v1/auth/me").await;
    assert_eq!(s, 401, "the session ended with the change");
    let (s, _, _) = app.try_login("dtv.own", e2e::USER_PASSWORD, None).await;
    assert_eq!(s, 401);
    let (s, _, _) = app
        .try_login("dtv.own", "a new field passphrase 7", None)
        .await;
    assert_eq!(s, 200);
}

/// A throttled account (too many failed logins) is unlocked by the ministry at once, audited;
/// nobody else may unlock.
#[tokio::test]
async fn the_ministry_unlocks_a_throttled_login() {
    let app = e2e::spawn_app().await;
    let token = app
        .lai_chau_enumerator("dtv.locked", "device-locked-1")
        .await;
    let admin = app.admin_token().await;
    for _ in 0..6 {
        app.try_login("dtv.locked", "wrong password here", None)
            .await;
    }
    let (s, _, _) = app.try_login("dtv.locked", e2e::USER_PASSWORD, None).await;
    assert_eq!(s, 429, "throttled");
    let me = app.get_ok(&token, "/api/v1/auth/me").await;
    let id = me["id"].as_i64().unwrap();
    let (s, _) = app
        .post_as(
            &token,
            &format!("/api/v1/users/{id}/unlock"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, body) = app
        .post_as(
            &admin,
            &format!("/api/v1/users/{id}/unlock"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["username"], "dtv.locked");
    let (s, _, _) = app.try_login("dtv.locked", e2e::USER_PASSWORD, None).await;
    assert_eq!(s, 200);
    let events = app.audit_events(&admin, "event=login_unlocked").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], format!("user:{id}"));
}
