//! The protocol over HTTP: login, token refresh with rotation, and [`HttpTransport`], the
//! [`Transport`] the engine uses against a real server.

use std::time::Duration;

use reqwest::{Method, Url};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sync_protocol::{
    HandshakeRequest, HandshakeResponse, PROTOCOL_HEADER, PROTOCOL_VERSION, Problem, PullResponse,
    PushRequest, PushResponse, StatusRequest, StatusResponse,
    engine::{ErrorClass, Transport, TransportError},
};
use tokio::sync::Mutex;

use crate::store::{Store, StoreError, key};

/// Connection timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout (a 500-form push over a slow rural link fits well within it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// The access and refresh tokens of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Bearer token for API calls (short-lived).
    pub access: String,
    /// Single-use token exchanged for a new pair.
    pub refresh: String,
}

/// Token answer of `/auth/login` and `/auth/refresh`.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
}

impl From<TokenResponse> for Tokens {
    fn from(t: TokenResponse) -> Tokens {
        Tokens {
            access: t.access_token,
            refresh: t.refresh_token,
        }
    }
}

/// A client with the reference client's timeouts.
pub fn client() -> Result<reqwest::Client, TransportError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("sipas-collect/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| TransportError::Network(describe(&e)))
}

/// A reqwest error with its causes (reqwest's own message omits them).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// `base` + `path` as a URL (`base` may end with `/`).
fn url(base: &str, path: &str) -> Result<Url, TransportError> {
    let full = format!("{}{}", base.trim_end_matches('/'), path);
    Url::parse(&full).map_err(|e| {
        TransportError::Network(format!("địa chỉ máy chủ sai / bad server URL {full}: {e}"))
    })
}

/// Reads a JSON answer: a success body, or the problem of an error status.
async fn read<R: DeserializeOwned>(resp: reqwest::Response) -> Result<R, TransportError> {
    let status = resp.status();
    // A body cut off mid-way is a lost answer (the request may have been processed).
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| TransportError::Network(describe(&e)))?;
    if status.is_success() {
        serde_json::from_slice(&bytes).map_err(|e| {
            TransportError::Network(format!(
                "câu trả lời không đọc được / unreadable answer: {e}"
            ))
        })
    } else {
        Err(TransportError::Http {
            status: status.as_u16(),
            problem: serde_json::from_slice::<Problem>(&bytes).ok(),
        })
    }
}

#[derive(Serialize)]
struct LoginBody<'a> {
    username: &'a str,
    password: &'a str,
    device_id: &'a str,
    app_version: &'a str,
}

/// `POST /api/v1/auth/login` with the device id (which registers the device at its first login).
pub async fn login(
    client: &reqwest::Client,
    server: &str,
    username: &str,
    password: &str,
    device_id: &str,
    app_version: &str,
) -> Result<Tokens, TransportError> {
    let resp = client
        .post(url(server, "/api/v1/auth/login")?)
        .json(&LoginBody {
            username,
            password,
            device_id,
            app_version,
        })
        .send()
        .await
        .map_err(|e| TransportError::Network(describe(&e)))?;
    read::<TokenResponse>(resp).await.map(Tokens::from)
}

/// `POST /api/v1/auth/refresh`: spends `refresh` and returns a new pair.
pub async fn refresh(
    client: &reqwest::Client,
    server: &str,
    refresh: &str,
) -> Result<Tokens, TransportError> {
    let resp = client
        .post(url(server, "/api/v1/auth/refresh")?)
        .json(&serde_json::json!({ "refresh_token": refresh }))
        .send()
        .await
        .map_err(|e| TransportError::Network(describe(&e)))?;
    read::<TokenResponse>(resp).await.map(Tokens::from)
}

/// The sync protocol over HTTP with bearer authentication. Refreshes the access token once per
/// call on 401 `token_expired`, storing the rotated refresh token durably before using the new
/// access token (a refresh token is single-use: losing the new one would end the session).
#[derive(Debug)]
pub struct HttpTransport {
    client: reqwest::Client,
    server: String,
    tokens: Mutex<Tokens>,
    store: Option<Store>,
}

impl HttpTransport {
    /// A transport for `server` with these tokens; rotated tokens are saved to `store` if given.
    pub fn new(
        server: &str,
        tokens: Tokens,
        store: Option<Store>,
    ) -> Result<HttpTransport, TransportError> {
        url(server, "/")?;
        Ok(HttpTransport {
            client: client()?,
            server: server.trim_end_matches('/').to_owned(),
            tokens: Mutex::new(tokens),
            store,
        })
    }

    /// The transport of the session saved in `store` (`None` if nobody logged in).
    pub async fn from_store(store: &Store) -> Result<Option<HttpTransport>, StoreError> {
        let (Some(server), Some(access), Some(refresh)) = (
            store.meta(key::SERVER).await?,
            store.meta(key::ACCESS_TOKEN).await?,
            store.meta(key::REFRESH_TOKEN).await?,
        ) else {
            return Ok(None);
        };
        Ok(HttpTransport::new(&server, Tokens { access, refresh }, Some(store.clone())).ok())
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The current tokens.
    pub async fn tokens(&self) -> Tokens {
        self.tokens.lock().await.clone()
    }

    /// Exchanges the refresh token now (e.g. after the engine stopped with a 401).
    pub async fn refresh(&self) -> Result<(), TransportError> {
        let stale = self.tokens.lock().await.access.clone();
        self.refresh_unless_done(&stale).await
    }

    /// Refreshes unless another call already replaced `stale` (one refresh for concurrent 401s:
    /// a second refresh with the spent token would be taken as theft and end the session).
    async fn refresh_unless_done(&self, stale: &str) -> Result<(), TransportError> {
        let mut tokens = self.tokens.lock().await;
        if tokens.access != stale {
            return Ok(());
        }
        let fresh = refresh(&self.client, &self.server, &tokens.refresh).await?;
        if let Some(store) = &self.store {
            store
                .set_meta(&[
                    (key::REFRESH_TOKEN, Some(&fresh.refresh)),
                    (key::ACCESS_TOKEN, Some(&fresh.access)),
                ])
                .await
                .map_err(|e| {
                    TransportError::Network(format!(
                        "không lưu được phiên đăng nhập / could not save the session: {e}"
                    ))
                })?;
        }
        *tokens = fresh;
        Ok(())
    }

    async fn send_once<B: Serialize, R: DeserializeOwned>(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&B>,
        token: &str,
    ) -> Result<R, TransportError> {
        let mut req = self
            .client
            .request(method.clone(), url.clone())
            .bearer_auth(token)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| TransportError::Network(describe(&e)))?;
        read(resp).await
    }

    /// Sends a sync call; on 401 `token_expired` refreshes and sends it once more.
    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<R, TransportError> {
        let token = self.tokens.lock().await.access.clone();
        match self.send_once(&method, &url, body, &token).await {
            Err(e)
                if e.class() == ErrorClass::Unauthorized && e.code() == Some("token_expired") =>
            {
                self.refresh_unless_done(&token).await?;
                let token = self.tokens.lock().await.access.clone();
                self.send_once(&method, &url, body, &token).await
            }
            other => other,
        }
    }
}

impl Transport for HttpTransport {
    async fn handshake(&self, req: &HandshakeRequest) -> Result<HandshakeResponse, TransportError> {
        let u = url(&self.server, "/api/v1/sync/handshake")?;
        self.call(Method::POST, u, Some(req)).await
    }

    async fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        let u = url(&self.server, "/api/v1/sync/push")?;
        self.call(Method::POST, u, Some(req)).await
    }

    async fn status(&self, req: &StatusRequest) -> Result<StatusResponse, TransportError> {
        let u = url(&self.server, "/api/v1/sync/status")?;
        self.call(Method::POST, u, Some(req)).await
    }

    async fn pull(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<PullResponse, TransportError> {
        let mut u = url(&self.server, "/api/v1/sync/pull")?;
        {
            let mut q = u.query_pairs_mut();
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
            }
            q.append_pair("limit", &limit.to_string());
        }
        self.call::<(), _>(Method::GET, u, None).await
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// GETs JSON with a bearer token (for tools and tests).
pub async fn get_json(
    client: &reqwest::Client,
    server: &str,
    path: &str,
    token: &str,
) -> Result<serde_json::Value, TransportError> {
    let resp = client
        .get(url(server, path)?)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| TransportError::Network(describe(&e)))?;
    read(resp).await
}

/// POSTs JSON with a bearer token and reads the answer (for tools and tests).
pub async fn post_json(
    client: &reqwest::Client,
    server: &str,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, TransportError> {
    send_json(client, reqwest::Method::POST, server, path, token, body).await
}

/// PATCHes JSON with a bearer token and reads the answer (for tools and tests).
pub async fn patch_json(
    client: &reqwest::Client,
    server: &str,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, TransportError> {
    send_json(client, reqwest::Method::PATCH, server, path, token, body).await
}

async fn send_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    server: &str,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, TransportError> {
    let resp = client
        .request(method, url(server, path)?)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|e| TransportError::Network(describe(&e)))?;
    read(resp).await
}
