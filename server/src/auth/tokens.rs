//! Access tokens (short-lived HS256 JWTs) and refresh tokens (opaque random strings stored hashed).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::settings::Settings;

/// Issuer written into and required from every access token.
pub const ISSUER: &str = "sipas";

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Username, for logs.
    pub name: String,
    /// Role at issue time (the user row is re-read on each request; this is informational).
    pub role: String,
    /// The user's token generation: a token from an older generation is refused.
    pub tgen: i32,
    /// Device the session belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires (Unix seconds).
    pub exp: u64,
}

/// Signing and verification keys with the access-token lifetime. Lives in the app state.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Access-token lifetime in seconds.
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime in days.
    pub refresh_ttl_days: u64,
}

impl TokenKeys {
    /// Keys from `settings.jwt_secret`, or a random per-process key in development.
    pub fn new(settings: &Settings) -> TokenKeys {
        let secret = match &settings.jwt_secret {
            Some(s) => s.expose().clone(),
            None => {
                tracing::warn!(
                    "SIPAS_JWT_SECRET is not set: using a random key for this process; access tokens will not survive a restart (refresh tokens do)"
                );
                super::password::random_token(32)
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            access_ttl_secs: settings.access_token_ttl_secs,
            refresh_ttl_days: settings.refresh_token_ttl_days,
        }
    }

    /// Signs an access token for these claims.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Verifies signature, algorithm (HS256 only: `none` and others are refused), issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }
}

/// Current Unix time in seconds.
pub fn now_unix() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64
}

/// A new opaque refresh token (256 random bits).
pub fn new_refresh_token() -> String {
    format!("rt_{}", super::password::random_token(32))
}

/// SHA-256 (hex) of a refresh token: only this is stored.
pub fn hash_refresh_token(token: &str) -> String {
    crate::text::hex(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(&Settings {
            jwt_secret: Some(secret.into()),
            ..Settings::default()
        })
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "1".into(),
            name: "an".into(),
            role: "ministry".into(),
            tgen: 0,
            dev: None,
            iss: ISSUER.into(),
            iat: now_unix(),
            exp,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let k = keys("0123456789abcdef0123456789abcdef");
        let c = claims(now_unix() + 60);
        let t = k.sign(&c).unwrap();
        assert_eq!(k.verify(&t).unwrap(), c);
        // Wrong key.
        assert!(keys("ffffffffffffffffffffffffffffffff").verify(&t).is_err());
        // Expired.
        let old = k.sign(&claims(now_unix() - 3600)).unwrap();
        assert!(k.verify(&old).is_err());
        // Tampered payload.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].chars().rev().collect();
        assert!(k.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        assert_ne!(a, new_refresh_token());
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
    }
}
