//! The sync protocol as a device speaks it: [`TestApp::sync`] gives a [`SyncClient`] that sends
//! each request with the caller's token and the protocol header, and reads the answers as the wire
//! types of [`sync_protocol`] (asserting 200), or raw (status and JSON body) for the requests a test
//! sends to be refused.

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use sync_protocol::{
    FormSubmission, HandshakeRequest, HandshakeResponse, Outcome, PROTOCOL_HEADER, PullResponse,
    PushResponse, StatusQuery, StatusRequest, StatusResponse,
};

use crate::{TestApp, read};

/// `POST`: who the device is and what it speaks.
pub const HANDSHAKE: &str = "/api/v1/sync/handshake";
/// `POST`: forms.
pub const PUSH: &str = "/api/v1/sync/push";
/// `POST`: which forms the server holds.
pub const STATUS: &str = "/api/v1/sync/status";
/// `GET`: changes after a cursor.
pub const PULL: &str = "/api/v1/sync/pull";

/// A device's side of the sync protocol against one server, as one user: cheap to clone and
/// `'static`, so a test can push from tasks of its own.
#[derive(Debug, Clone)]
pub struct SyncClient {
    client: reqwest::Client,
    base: String,
    token: String,
    protocol: Option<String>,
}

impl TestApp {
    /// The sync protocol against this app as the holder of `token`.
    pub fn sync(&self, token: &str) -> SyncClient {
        SyncClient::new(self.client.clone(), &self.address, token)
    }
}

impl SyncClient {
    /// A client of the server at `base` (`http://127.0.0.1:PORT`) sending `token`, speaking
    /// protocol 1.
    pub fn new(client: reqwest::Client, base: &str, token: &str) -> SyncClient {
        SyncClient {
            client,
            base: base.to_owned(),
            token: token.to_owned(),
            protocol: Some("1".into()),
        }
    }

    /// The same client with another protocol header value, or none (to see it refused).
    pub fn protocol(mut self, header: Option<&str>) -> SyncClient {
        self.protocol = header.map(str::to_owned);
        self
    }

    /// A request to `path` with the token and the protocol header, for a test to finish.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        match &self.protocol {
            Some(v) => req.header(PROTOCOL_HEADER, v),
            None => req,
        }
    }

    /// Sends `body` (if any) as JSON to `path`; returns status and JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        read(req.send().await.expect("request")).await
    }

    /// Posts `body` as JSON to `path` and reads the answer as `T`, asserting 200.
    async fn post_ok<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> T {
        let body = serde_json::to_value(body).expect("serialise");
        let (s, answer) = self.call(Method::POST, path, Some(&body)).await;
        assert_eq!(s, 200, "POST {path}: {answer}");
        serde_json::from_value(answer).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// The handshake, asserting 200.
    pub async fn handshake(&self, request: &HandshakeRequest) -> HandshakeResponse {
        self.post_ok(HANDSHAKE, request).await
    }

    /// The handshake with any body; returns status and JSON body.
    pub async fn handshake_raw(&self, body: &Value) -> (u16, Value) {
        self.call(Method::POST, HANDSHAKE, Some(body)).await
    }

    /// Pushes these forms in one push, asserting 200.
    pub async fn push(&self, forms: &[FormSubmission]) -> PushResponse {
        self.post_ok(PUSH, &json!({ "forms": forms })).await
    }

    /// Pushes these JSON values as the push's forms (to send malformed ones), asserting 200.
    pub async fn push_values(&self, forms: &[Value]) -> PushResponse {
        self.post_ok(PUSH, &json!({ "forms": forms })).await
    }

    /// Posts `body` as the push body with this content type, as it is; returns status and JSON body.
    pub async fn push_raw(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let req = self
            .request(Method::POST, PUSH)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        read(req.send().await.expect("request")).await
    }

    /// Pushes push bodies serialised ahead ([`push_bodies`]), one after the other, asserting 200
    /// each time; returns every form's outcome in order.
    pub async fn push_serialised(&self, bodies: Vec<Vec<u8>>) -> Vec<Outcome> {
        let mut out = Vec::new();
        for body in bodies {
            let (s, answer) = self.push_raw("application/json", body).await;
            assert_eq!(s, 200, "push: {answer}");
            let r: PushResponse = serde_json::from_value(answer).expect("push response");
            out.extend(r.results.into_iter().map(|r| r.outcome));
        }
        out
    }

    /// Pushes forms in pushes of at most `batch`; returns every form's outcome in order.
    pub async fn push_in_batches(&self, forms: &[FormSubmission], batch: usize) -> Vec<Outcome> {
        self.push_serialised(push_bodies(forms, batch)).await
    }

    /// Pushes forms in pushes of 100 and asserts every one is accepted.
    pub async fn push_accepted(&self, forms: &[FormSubmission]) {
        let outcomes = self.push_in_batches(forms, 100).await;
        assert_eq!(outcomes.len(), forms.len());
        assert!(
            outcomes.iter().all(|o| *o == Outcome::Accepted),
            "{outcomes:?}"
        );
    }

    /// Asks where these forms stand, asserting 200.
    pub async fn status(&self, forms: Vec<StatusQuery>) -> StatusResponse {
        self.post_ok(STATUS, &StatusRequest { forms }).await
    }

    /// Pulls with this query (`cursor=…&limit=…`, or empty), asserting 200.
    pub async fn pull(&self, query: &str) -> PullResponse {
        let (s, body) = self.pull_raw(query).await;
        assert_eq!(s, 200, "pull {query}: {body}");
        serde_json::from_value(body).expect("pull response")
    }

    /// Pulls with this query; returns status and JSON body.
    pub async fn pull_raw(&self, query: &str) -> (u16, Value) {
        let path = match query {
            "" => PULL.to_owned(),
            q => format!("{PULL}?{q}"),
        };
        self.call(Method::GET, &path, None).await
    }
}

/// A handshake of `device` running app `app_version`, speaking protocol 1, without its clock.
pub fn handshake_of(device: &str, app_version: &str) -> HandshakeRequest {
    HandshakeRequest {
        protocol_versions: vec![1],
        app_version: app_version.into(),
        device_id: device.into(),
        device_time: None,
    }
}

/// The status query of a form the device holds: its id and content hash.
pub fn query_of(form: &FormSubmission) -> StatusQuery {
    StatusQuery {
        id: form.id,
        content_hash: Some(form.content_hash()),
    }
}

/// A status query naming only an id.
pub fn query_id(id: uuid::Uuid) -> StatusQuery {
    StatusQuery {
        id,
        content_hash: None,
    }
}

/// Push bodies (`{"forms": [...]}`) of at most `batch` forms each, serialised ahead (which keeps
/// bulk loads fast and lets a test drop the forms before it pushes).
pub fn push_bodies(forms: &[FormSubmission], batch: usize) -> Vec<Vec<u8>> {
    forms
        .chunks(batch)
        .map(|c| serde_json::to_vec(&json!({ "forms": c })).expect("serialise"))
        .collect()
}

/// Forms as JSON values (to put a malformed one among them).
pub fn values(forms: &[FormSubmission]) -> Vec<Value> {
    forms
        .iter()
        .map(|f| serde_json::to_value(f).expect("serialise"))
        .collect()
}
