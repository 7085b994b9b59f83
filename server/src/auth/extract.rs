//! The `AuthUser` extractor: a valid bearer access token of an active user whose tokens have not
//! been revoked since, from a device that has not been revoked.

use axum::{
    extract::FromRequestParts,
    http::{HeaderValue, StatusCode, header, request::Parts},
};
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QuerySelect,
    sea_query::{Expr, Query},
};

use crate::{
    entities::{device, user},
    error::ApiError,
    state::AppState,
};

use super::policy::{Role, Scope};

/// The authenticated caller, re-read from the database on every request so that deactivation and
/// password changes take effect immediately.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// User id.
    pub id: i64,
    /// Username.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Scope (none for the ministry).
    pub scope: Option<Scope>,
    /// Field team.
    pub team: Option<String>,
    /// Device of this session.
    pub device_id: Option<String>,
}

/// 401 with `WWW-Authenticate: Bearer`.
pub fn unauthorized(code: &'static str, vi: &str, en: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, vi, en).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"sipas\""),
    )
}

impl AuthUser {
    /// Builds the caller from a user row.
    pub fn from_model(u: &user::Model, device_id: Option<String>) -> Option<AuthUser> {
        let role = Role::parse(&u.role)?;
        let scope = match (&u.geography_code, &u.unit_code) {
            (Some(g), Some(c)) => Some(Scope {
                geography: g.clone(),
                unit: c.clone(),
            }),
            _ => None,
        };
        Some(AuthUser {
            id: u.id,
            username: u.username.clone(),
            role,
            scope,
            team: u.team.clone(),
            device_id,
        })
    }
}

/// A user row with the device check of the same query.
#[derive(FromQueryResult)]
struct UserAndDevice {
    #[sea_orm(nested)]
    user: user::Model,
    device_ok: bool,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "unauthenticated",
                "Cần đăng nhập.",
                "Authentication required.",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unauthorized(
                    "invalid_token",
                    "Mã truy cập không hợp lệ.",
                    "Invalid access token.",
                )
            })?;
        let claims = state.tokens.verify(token).map_err(|e| {
            let expired = matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature);
            if expired {
                unauthorized(
                    "token_expired",
                    "Mã truy cập đã hết hạn, hãy làm mới.",
                    "The access token has expired; refresh it.",
                )
            } else {
                unauthorized(
                    "invalid_token",
                    "Mã truy cập không hợp lệ.",
                    "Invalid access token.",
                )
            }
        })?;
        let revoked = || {
            unauthorized(
                "token_revoked",
                "Phiên đăng nhập đã bị thu hồi. Hãy đăng nhập lại.",
                "This session has been revoked. Log in again.",
            )
        };
        let id: i64 = claims.sub.parse().map_err(|_| revoked())?;
        // One round trip: the user row, and whether the session's device exists unrevoked.
        let device_ok = match &claims.dev {
            Some(dev) => Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from(device::Entity)
                    .and_where(device::Column::Id.eq(dev.clone()))
                    .and_where(device::Column::RevokedAt.is_null())
                    .to_owned(),
            ),
            None => Expr::val(true),
        };
        let row = user::Entity::find_by_id(id)
            .expr_as(device_ok, "device_ok")
            .into_model::<UserAndDevice>()
            .one(&state.db)
            .await?
            .ok_or_else(revoked)?;
        let u = row.user;
        if !u.active || u.token_generation != claims.tgen || !row.device_ok {
            return Err(revoked());
        }
        AuthUser::from_model(&u, claims.dev).ok_or_else(revoked)
    }
}

/// The client's IP address, when the server knows it (absent for in-process calls).
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}
