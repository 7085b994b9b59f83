//! The SIPAS sync protocol, version 1: the wire types shared by the server and every client, and
//! the client-side engine ([`engine`]) that a mobile app embeds (durable outbox, retries with
//! backoff, reconciliation after a lost acknowledgement, pull cursors).
//!
//! # Compatibility rules (all versions)
//! - Every request carries the header [`PROTOCOL_HEADER`] with the version the handshake agreed.
//! - A receiver ignores JSON fields it does not know. A sender may omit every field marked
//!   `#[serde(default)]`; each such field says which clients omit it.
//! - Enumerations a peer may extend later ([`Outcome`], [`FormState`], [`ChangeKind`]) have an
//!   `Unknown` catch-all: a v1 client treats an unknown outcome as permanent and shows it.
//! - A v2 would be a new number in [`HandshakeRequest::protocol_versions`]; a server speaking 1 and 2
//!   answers the highest both speak, and keeps the v1 routes and types unchanged while any v1
//!   client is in the field. Breaking changes never reuse a v1 field name with a new meaning.
//!
//! See `docs/sync-protocol.md` for the whole protocol with examples.

pub mod engine;
/// Sample SIPAS forms: the builder tests, benches and tools make their forms with.
pub mod sample;
mod units;
mod wire;

pub use units::{MAX_CODE_CHARS, check_units};
pub use wire::*;
