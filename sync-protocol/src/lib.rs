//! Wire types of the SIPAS sync protocol and the client-side engine.
//!
//! The protocol itself lands with its own issue; this crate exists now so the workspace has its final
//! shape and the server can depend on it.

/// The protocol versions this build speaks, oldest first.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[u32] = &[1];
