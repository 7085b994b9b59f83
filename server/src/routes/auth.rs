//! Login, token refresh with rotation and reuse detection, logout, and the current user.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    audit::{self, Actor, event},
    auth::{
        AuthUser,
        extract::{ClientIp, unauthorized},
        password,
        tokens::{Claims, ISSUER, hash_refresh_token, new_refresh_token, now_unix},
    },
    entities::{device, refresh_token, user},
    error::{ApiError, ApiJson},
    routes::{openapi::Failure, users::UserView},
    state::AppState,
};

/// `/auth/...`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(show_me))
        .routes(routes!(change_own_password))
}

/// Login body.
#[derive(Deserialize, ToSchema)]
struct LoginRequest {
    /// Login name (case does not matter).
    username: String,
    /// Password.
    password: String,
    /// Stable id of the device's installation; registers the device at first login.
    #[serde(default)]
    device_id: Option<String>,
    /// App version, recorded on the device.
    #[serde(default)]
    app_version: Option<String>,
}

/// OAuth2-style token answer.
#[derive(Serialize, ToSchema)]
struct TokenResponse {
    /// A JWT for `Authorization: Bearer`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token is valid.
    expires_in: u64,
    /// Exchanged at `/auth/refresh` for a new pair; single use.
    refresh_token: String,
    /// Seconds the refresh token is valid.
    refresh_expires_in: u64,
}

fn invalid_credentials() -> ApiError {
    unauthorized(
        "invalid_credentials",
        "Tên đăng nhập hoặc mật khẩu không đúng.",
        "Wrong username or password.",
    )
}

fn throttled(retry: std::time::Duration) -> ApiError {
    let secs = retry.as_secs().max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("Đăng nhập sai quá nhiều lần. Hãy thử lại sau {secs} giây."),
        format!("Too many failed logins. Try again in {secs} seconds."),
    )
    .with_header(
        header::RETRY_AFTER,
        HeaderValue::from_str(&secs.to_string()).unwrap_or(HeaderValue::from_static("60")),
    )
}

/// 503 `busy`: every password hasher is busy and their queue is full (a login storm). Not a
/// failed login: the throttle does not count it, and the client tries again after `Retry-After`.
/// Nor is it audited: a storm would write a row for each of thousands of them.
fn busy(b: password::Busy) -> ApiError {
    let secs = b.retry_after.as_secs().max(1);
    ApiError::busy(
        secs,
        format!("Máy chủ đang bận vì nhiều người đăng nhập cùng lúc. Hãy thử lại sau {secs} giây."),
        format!("The server is busy with many logins at once. Try again in {secs} seconds."),
    )
}

/// Checks the password and answers with a new session. Unknown users, wrong passwords and inactive
/// accounts get the same answer after the same work. When the password checks are all taken
/// (see [`password::Passwords::try_enter`]) it answers 503 `busy` at once.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = OK, body = TokenResponse), Failure))]
#[tracing::instrument(skip_all, fields(username = tracing::field::Empty))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    // At most one character past the longest username: enough to match no account, and the
    // throttle's keys stay small whatever was sent.
    let username: String = crate::users::normalize_username(&body.username)
        .chars()
        .take(crate::text::max::USERNAME + 1)
        .collect();
    tracing::Span::current().record("username", username.as_str());
    let user_key = format!("user:{username}");
    let ip_key = format!("ip:{}", ip.as_deref().unwrap_or("-"));
    let s = &state.settings;
    let actor = Actor {
        id: None,
        username: Some(username.clone()),
        ip: ip.clone(),
    };
    for (key, max) in [
        (&user_key, s.login_max_failures_per_user),
        (&ip_key, s.login_max_failures_per_ip),
    ] {
        if let Err(retry) = state.throttle.check(key, max) {
            audit::record(
                &state.db,
                event::LOGIN_THROTTLED,
                &actor,
                None,
                json!({ "key": key.split(':').next() }),
            )
            .await?;
            return Err(throttled(retry));
        }
    }
    // A place among the password checks before the lookup: a login turned away costs no query.
    let place = state.passwords.try_enter().map_err(busy)?;
    // A username no account can have (too long, or with a control character, which PostgreSQL
    // could not even compare) is an unknown user: the same answer after the same work.
    let possible = username.chars().count() <= crate::text::max::USERNAME
        && !crate::text::has_control(&username);
    let found = if possible {
        user::Entity::find()
            .filter(user::Column::Username.eq(&username))
            .one(&state.db)
            .await?
    } else {
        None
    };
    let ok = place
        .verify(
            body.password,
            found.as_ref().map(|u| u.password_hash.clone()),
        )
        .await;
    let u = match found {
        Some(u) if ok && u.active => u,
        other => {
            state.throttle.fail(&user_key);
            state.throttle.fail(&ip_key);
            let reason = match other {
                None => "unknown_user",
                Some(u) if !u.active => "inactive",
                Some(_) => "wrong_password",
            };
            audit::record(
                &state.db,
                event::LOGIN_FAILED,
                &actor,
                None,
                json!({ "reason": reason }),
            )
            .await?;
            return Err(invalid_credentials());
        }
    };
    let device_id = body
        .device_id
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if let Some(dev) = &device_id {
        if dev.len() > crate::text::max::DEVICE_ID || crate::text::has_control(dev) {
            return Err(ApiError::bad_request(
                "invalid_device_id",
                "Mã thiết bị tối đa 128 ký tự, không có ký tự điều khiển.",
                "The device id has at most 128 characters, no control characters.",
            ));
        }
        if let Err(e) =
            register_device(&state.db, &u, dev, body.app_version.as_deref(), &actor).await
        {
            if e.code() == "device_revoked" {
                audit::record(
                    &state.db,
                    event::LOGIN_FAILED,
                    &actor,
                    Some(format!("device:{dev}")),
                    json!({ "reason": "device_revoked" }),
                )
                .await?;
            }
            return Err(e);
        }
    }
    state.throttle.clear(&user_key);
    let actor = Actor {
        id: Some(u.id),
        ..actor
    };
    let tokens = issue_session(&state, &u, device_id.clone(), Uuid::new_v4()).await?;
    audit::record(
        &state.db,
        event::LOGIN_SUCCEEDED,
        &actor,
        Some(format!("user:{}", u.id)),
        json!({ "device_id": device_id }),
    )
    .await?;
    Ok(no_store(Json(tokens)))
}

/// Registers the device at its first login, or records the login on it. A revoked device cannot log
/// in again.
async fn register_device(
    db: &DatabaseConnection,
    u: &user::Model,
    dev: &str,
    app_version: Option<&str>,
    actor: &Actor,
) -> Result<(), ApiError> {
    let now = OffsetDateTime::now_utc();
    match device::Entity::find_by_id(dev.to_owned()).one(db).await? {
        Some(d) if d.revoked_at.is_some() => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "device_revoked",
            "Thiết bị này đã bị thu hồi quyền truy cập. Liên hệ giám sát viên.",
            "This device has been revoked. Contact your supervisor.",
        )),
        Some(d) => {
            let mut m: device::ActiveModel = d.into();
            m.user_id = Set(u.id);
            m.last_seen_at = Set(now);
            if let Some(v) = app_version {
                m.app_version = Set(Some(v.chars().take(64).collect()));
            }
            m.update(db).await?;
            Ok(())
        }
        None => {
            device::ActiveModel {
                id: Set(dev.to_owned()),
                user_id: Set(u.id),
                app_version: Set(app_version.map(|v| v.chars().take(64).collect())),
                first_seen_at: Set(now),
                last_seen_at: Set(now),
                forms_pushed: Set(0),
                forms_accepted: Set(0),
                ..Default::default()
            }
            .insert(db)
            .await?;
            audit::record(
                db,
                event::DEVICE_REGISTERED,
                actor,
                Some(format!("device:{dev}")),
                json!({ "user_id": u.id, "app_version": app_version }),
            )
            .await?;
            Ok(())
        }
    }
}

/// Issues an access token and a new refresh token in `family`.
async fn issue_session(
    state: &AppState,
    u: &user::Model,
    device_id: Option<String>,
    family: Uuid,
) -> Result<TokenResponse, ApiError> {
    let now = now_unix();
    let keys = &state.tokens;
    let claims = Claims {
        sub: u.id.to_string(),
        name: u.username.clone(),
        role: u.role.clone(),
        tgen: u.token_generation,
        dev: device_id.clone(),
        iss: ISSUER.into(),
        iat: now,
        exp: now + keys.access_ttl_secs,
    };
    let access = keys.sign(&claims).map_err(ApiError::internal)?;
    let refresh = new_refresh_token();
    let refresh_ttl = time::Duration::days(keys.refresh_ttl_days as i64);
    let issued = OffsetDateTime::now_utc();
    refresh_token::ActiveModel {
        user_id: Set(u.id),
        family_id: Set(family),
        token_hash: Set(hash_refresh_token(&refresh)),
        device_id: Set(device_id),
        issued_at: Set(issued),
        expires_at: Set(issued + refresh_ttl),
        used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: keys.access_ttl_secs,
        refresh_token: refresh,
        refresh_expires_in: keys.refresh_ttl_days * 86_400,
    })
}

fn no_store(body: impl IntoResponse) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Refresh or logout body.
#[derive(Deserialize, ToSchema)]
struct RefreshRequest {
    /// The refresh token of the session.
    refresh_token: String,
}

fn invalid_refresh() -> ApiError {
    unauthorized(
        "invalid_refresh_token",
        "Phiên đăng nhập không còn hiệu lực. Hãy đăng nhập lại.",
        "The refresh token is not valid. Log in again.",
    )
}

/// Revokes every token of a family.
async fn revoke_family(db: &impl sea_orm::ConnectionTrait, family: Uuid) -> Result<(), ApiError> {
    refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(OffsetDateTime::now_utc()),
        )
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Exchanges a refresh token for a new pair. The old token is spent; presenting a spent token
/// again is taken as theft and revokes the whole family (every token rotated from that login).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest, security(()),
    responses((status = OK, body = TokenResponse), Failure))]
#[tracing::instrument(skip_all)]
async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let hash = hash_refresh_token(body.refresh_token.trim());
    let row = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(&hash))
        .one(&state.db)
        .await?
        .ok_or_else(invalid_refresh)?;
    let actor = Actor {
        id: Some(row.user_id),
        username: None,
        ip,
    };
    if row.revoked_at.is_some() {
        return Err(invalid_refresh());
    }
    let now = OffsetDateTime::now_utc();
    let reuse = |state: AppState, row: refresh_token::Model, actor: Actor| async move {
        revoke_family(&state.db, row.family_id).await?;
        audit::record(
            &state.db,
            event::TOKEN_REUSE_DETECTED,
            &actor,
            Some(format!("user:{}", row.user_id)),
            json!({ "family_id": row.family_id.to_string(), "device_id": row.device_id }),
        )
        .await?;
        tracing::warn!(
            user_id = row.user_id,
            "refresh token reuse detected: family revoked"
        );
        Err::<Response, ApiError>(unauthorized(
            "refresh_token_reused",
            "Phiên đăng nhập đã bị dùng lại và bị thu hồi. Hãy đăng nhập lại.",
            "This refresh token was already used; the session has been revoked. Log in again.",
        ))
    };
    if row.used_at.is_some() {
        return reuse(state.clone(), row, actor).await;
    }
    if row.expires_at <= now {
        return Err(unauthorized(
            "refresh_token_expired",
            "Phiên đăng nhập đã hết hạn. Hãy đăng nhập lại.",
            "The session has expired. Log in again.",
        ));
    }
    let u = user::Entity::find_by_id(row.user_id)
        .one(&state.db)
        .await?
        .filter(|u| u.active)
        .ok_or_else(invalid_refresh)?;
    if let Some(dev) = &row.device_id {
        let d = device::Entity::find_by_id(dev.clone())
            .one(&state.db)
            .await?;
        if d.as_ref().is_none_or(|d| d.revoked_at.is_some()) {
            return Err(invalid_refresh());
        }
    }
    // Spend the token; the condition makes two concurrent refreshes with one token a reuse.
    let txn = state.db.begin().await?;
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(row.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        drop(txn);
        return reuse(state.clone(), row, actor).await;
    }
    txn.commit().await?;
    if let Some(dev) = &row.device_id {
        device::Entity::update_many()
            .col_expr(device::Column::LastSeenAt, Expr::value(now))
            .filter(device::Column::Id.eq(dev.clone()))
            .exec(&state.db)
            .await?;
    }
    let tokens = issue_session(&state, &u, row.device_id.clone(), row.family_id).await?;
    Ok(no_store(Json(tokens)))
}

/// Ends the session: revokes the refresh token's family. Idempotent.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest, security(()),
    responses((status = NO_CONTENT, description = "The session is over."), Failure))]
#[tracing::instrument(skip_all)]
async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let hash = hash_refresh_token(body.refresh_token.trim());
    if let Some(row) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(&hash))
        .one(&state.db)
        .await?
    {
        revoke_family(&state.db, row.family_id).await?;
        let actor = Actor {
            id: Some(row.user_id),
            username: None,
            ip,
        };
        audit::record(
            &state.db,
            event::LOGOUT,
            &actor,
            Some(format!("user:{}", row.user_id)),
            json!({}),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The current user, role and scope.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = OK, body = UserView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn show_me(State(state): State<AppState>, me: AuthUser) -> Result<Json<UserView>, ApiError> {
    let u = user::Entity::find_by_id(me.id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("người dùng", "User"))?;
    Ok(Json(super::users::user_view(&u)))
}

/// A user's change of their own password.
#[derive(Deserialize, ToSchema)]
struct PasswordChange {
    /// The password they log in with now.
    current_password: String,
    /// The new one (at least 12 characters, not containing the username).
    new_password: String,
}

/// Changes the caller's own password after checking the current one. Every session of the user
/// ends, this one too: the app logs in again with the new password. A wrong current password
/// counts as a failed login (the same throttle).
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = PasswordChange,
    security(("bearer" = [])),
    responses((status = NO_CONTENT, description = "Changed; log in again."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn change_own_password(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let user_key = format!("user:{}", me.username);
    if let Err(retry) = state
        .throttle
        .check(&user_key, state.settings.login_max_failures_per_user)
    {
        return Err(throttled(retry));
    }
    let u = user::Entity::find_by_id(me.id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("người dùng", "User"))?;
    let place = state.passwords.try_enter().map_err(busy)?;
    if !place
        .verify(body.current_password, Some(u.password_hash.clone()))
        .await
    {
        state.throttle.fail(&user_key);
        return Err(ApiError::validation(vec![crate::error::FieldError::new(
            "current_password",
            "wrong_password",
            "Mật khẩu hiện tại không đúng.",
            "The current password is wrong.",
        )]));
    }
    let changes = crate::users::UserChanges {
        password: Some(body.new_password),
        ..Default::default()
    };
    crate::users::update(
        &state.db,
        &state.passwords,
        u.id,
        changes,
        &Actor::user(&me, ip),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
