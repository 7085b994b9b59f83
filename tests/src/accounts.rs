//! Accounts and sessions: logging in (the ministry, a created user, an enumerator on a device),
//! creating users of each role, refreshing, tokens signed with the server's key, the devices list
//! and the audit log.

use serde_json::{Value, json};
use sipas_server::auth::tokens::{Claims, ISSUER, TokenKeys};

use crate::{ADMIN, ADMIN_PASSWORD, TestApp, USER_PASSWORD, spawn_app};

/// The login path.
pub const LOGIN: &str = "/api/v1/auth/login";

/// The login body every test sends (app version `test-1.0`).
fn login_body(username: &str, password: &str, device: Option<&str>) -> Value {
    json!({ "username": username, "password": password, "device_id": device, "app_version": "test-1.0" })
}

/// Starts the app on a fresh database with a Lai Châu enumerator (`dtv.laichau`, see
/// [`TestApp::lai_chau_enumerator`]) logged in from device `device-lc-1`; returns the app and the
/// enumerator's access token.
pub async fn spawn_app_with_enumerator() -> (TestApp, String) {
    let app = spawn_app().await;
    let token = app.lai_chau_enumerator("dtv.laichau", "device-lc-1").await;
    (app, token)
}

/// Access-token claims of user `sub` (`name`, `role`), issued by this server at `iat` and
/// expiring at `exp` (Unix seconds), of token generation 0 and no device.
pub fn claims(sub: i64, name: &str, role: &str, iat: u64, exp: u64) -> Claims {
    Claims {
        sub: sub.to_string(),
        name: name.into(),
        role: role.into(),
        tgen: 0,
        dev: None,
        iss: ISSUER.into(),
        iat,
        exp,
    }
}

impl TestApp {
    /// Logs in; returns the whole token answer (panics unless 200).
    pub async fn login_full(&self, username: &str, password: &str, device: Option<&str>) -> Value {
        let (s, body) = self
            .post_json(LOGIN, &login_body(username, password, device))
            .await;
        assert_eq!(s, 200, "login of {username}: {body}");
        body
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        access_token(&self.login_full(username, password, None).await)
    }

    /// Logs in a user created by this harness (password [`USER_PASSWORD`]); returns the access
    /// token.
    pub async fn user_token(&self, username: &str) -> String {
        self.login(username, USER_PASSWORD).await
    }

    /// Logs in a user created by this harness from `device`; returns the access token.
    pub async fn device_token(&self, username: &str, device: &str) -> String {
        access_token(&self.login_full(username, USER_PASSWORD, Some(device)).await)
    }

    /// The ministry account's access token.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN, ADMIN_PASSWORD).await
    }

    /// Attempts a login whatever the outcome; returns status, headers and body.
    pub async fn try_login(
        &self,
        username: &str,
        password: &str,
        device: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.call_full(
            reqwest::Method::POST,
            LOGIN,
            None,
            Some(&login_body(username, password, device)),
        )
        .await
    }

    /// Exchanges a refresh token; returns status and body.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// Creates a user through the API as the ministry (password [`USER_PASSWORD`], full name
    /// `Người dùng {username}`); returns its id.
    pub async fn create_user(
        &self,
        admin: &str,
        username: &str,
        role: &str,
        geography: &str,
        unit: Option<&str>,
        team: Option<&str>,
    ) -> i64 {
        let (s, body) = self
            .post_as(
                admin,
                "/api/v1/users",
                &json!({
                    "username": username, "full_name": format!("Người dùng {username}"), "role": role,
                    "geography": geography, "unit_code": unit, "team": team, "password": USER_PASSWORD,
                }),
            )
            .await;
        assert_eq!(s, 201, "create {username}: {body}");
        body["id"].as_i64().expect("id")
    }

    /// Creates an enumerator of `team` scoped to `unit` of `geography`; returns its id.
    pub async fn create_enumerator(
        &self,
        admin: &str,
        username: &str,
        geography: &str,
        unit: &str,
        team: &str,
    ) -> i64 {
        self.create_user(
            admin,
            username,
            "enumerator",
            geography,
            Some(unit),
            Some(team),
        )
        .await
    }

    /// Creates a supervisor of `team` scoped to `unit` of `geography`; returns its id.
    pub async fn create_supervisor(
        &self,
        admin: &str,
        username: &str,
        geography: &str,
        unit: &str,
        team: &str,
    ) -> i64 {
        self.create_user(
            admin,
            username,
            "supervisor",
            geography,
            Some(unit),
            Some(team),
        )
        .await
    }

    /// Creates a province reviewer (a Sở Nội vụ) of province `unit` of `geography`; returns its id.
    pub async fn create_reviewer(
        &self,
        admin: &str,
        username: &str,
        geography: &str,
        unit: &str,
    ) -> i64 {
        self.create_user(
            admin,
            username,
            "province_reviewer",
            geography,
            Some(unit),
            None,
        )
        .await
    }

    /// Creates an enumerator of team `LC-1` scoped to Lai Châu (province 12 of the 2025 geography)
    /// and logs them in from `device`; returns the access token.
    pub async fn lai_chau_enumerator(&self, username: &str, device: &str) -> String {
        let admin = self.admin_token().await;
        self.create_enumerator(&admin, username, "vn-2025", "12", "LC-1")
            .await;
        self.device_token(username, device).await
    }

    /// An access token with these claims, signed with this server's key.
    pub fn sign(&self, claims: &Claims) -> String {
        TokenKeys::new(&self.settings)
            .sign(claims)
            .expect("sign a token")
    }

    /// `GET /api/v1/devices{query}` as `token` (e.g. `?not_synced_for_days=3`), asserting 200;
    /// returns the devices listed.
    pub async fn devices(&self, token: &str, query: &str) -> Vec<Value> {
        let body = self.get_ok(token, &format!("/api/v1/devices{query}")).await;
        body["devices"].as_array().expect("devices").clone()
    }

    /// The audit events matching `query` (e.g. `event=logout`), newest first, as the ministry sees them.
    pub async fn audit_events(&self, admin: &str, query: &str) -> Vec<Value> {
        let (s, body) = self
            .get_as(admin, &format!("/api/v1/audit?limit=1000&{query}"))
            .await;
        assert_eq!(s, 200, "audit {query}: {body}");
        body["events"].as_array().expect("events").clone()
    }
}

/// The access token of a login answer.
pub fn access_token(login: &Value) -> String {
    login["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}
