//! The reference offline SIPAS client — what a mobile app embeds — and its tools.
//!
//! - [`store::Store`]: the durable outbox (SQLite, WAL, `synchronous=FULL`), implementing the
//!   sync engine's [`Outbox`](sync_protocol::engine::Outbox).
//! - [`http::HttpTransport`]: the protocol over HTTP with bearer tokens, the protocol header and
//!   transparent token refresh; implements [`Transport`](sync_protocol::engine::Transport).
//! - [`app`]: the `sipas-collect` commands as functions (login, new, outbox, pull, sync, status).
//! - [`sim`]: the `sipas-sim` field simulator (many devices, an unreliable network, restarts).
//!
//! Forms are filled and validated offline against the built-in questionnaire
//! ([`schema::builtin`]) and the built-in geographies, so a device that has never been online can
//! collect; `sync` sends them when a network is available.
//!
//! The HTTP client is built without TLS (as the workspace's other clients), so the server URL is
//! `http://`; a field deployment terminates TLS in front of the server and adds a TLS feature here.

pub mod app;
pub mod http;
pub mod messages;
pub mod sim;
pub mod store;

// Compile-time guard: a sync over the SQLite outbox and the HTTP transport is a `Send` future, so
// apps (and the simulator) can spawn it on a multi-threaded runtime. Holding a borrowing iterator
// across an await in the store once broke this (rust-lang/rust#110338).
#[allow(dead_code)]
fn sync_future_is_send(
    store: &'static mut store::Store,
    transport: &'static http::HttpTransport,
    config: &'static sync_protocol::engine::SyncConfig,
) {
    fn is_send<T: Send>(_: T) {}
    is_send(sync_protocol::engine::Engine::sync(
        store, transport, config,
    ));
}
