//! Identity and access: password hashing, tokens, login throttling, the `AuthUser` extractor and the
//! access policy (roles and geographic scope), which is the one place scope is decided.

pub mod extract;
pub mod password;
pub mod policy;
pub mod throttle;
pub mod tokens;

pub use extract::AuthUser;
pub use policy::{Role, Scope};
