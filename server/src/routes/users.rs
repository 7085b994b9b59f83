//! User administration by the ministry.

use axum::{Json, extract::State, http::StatusCode};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    entities::user,
    error::{ApiError, ApiJson, ApiPath, ApiQuery},
    routes::openapi::Failure,
    state::AppState,
    text::rfc3339,
    users::{self, NewUser, UserChanges},
};

/// `/users...`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(unlock_user))
}

/// A user's scope: the unit of a geography their role is limited to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeView {
    /// Geography code.
    geography: Option<String>,
    /// Unit code.
    unit_code: String,
    /// The unit's full name, with its parents.
    unit_name: Option<String>,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    id: i64,
    /// Login name (lowercase).
    username: String,
    /// Full name.
    full_name: String,
    /// `ministry`, `province_reviewer`, `supervisor` or `enumerator`.
    role: String,
    /// Absent for the ministry.
    scope: Option<ScopeView>,
    /// Field team.
    team: Option<String>,
    /// Whether the account may log in.
    active: bool,
    /// RFC 3339.
    created_at: Option<String>,
    /// RFC 3339.
    updated_at: Option<String>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
struct UserList {
    /// Users matching the filters, in all pages.
    total: u64,
    /// This page.
    users: Vec<UserView>,
}

/// A user as the API shows it (never the password hash).
pub fn user_view(u: &user::Model) -> UserView {
    let unit_name = match (&u.geography_code, &u.unit_code) {
        (Some(g), Some(c)) => ::geography::by_code(g)
            .and_then(|geo| geo.unit(c))
            .map(|unit| unit.full_name()),
        _ => None,
    };
    UserView {
        id: u.id,
        username: u.username.clone(),
        full_name: u.full_name.clone(),
        role: u.role.clone(),
        scope: u.unit_code.as_ref().map(|c| ScopeView {
            geography: u.geography_code.clone(),
            unit_code: c.clone(),
            unit_name,
        }),
        team: u.team.clone(),
        active: u.active,
        created_at: rfc3339(&u.created_at),
        updated_at: rfc3339(&u.updated_at),
    }
}

/// The user of this id, or 404.
async fn find_user(state: &AppState, id: i64) -> Result<user::Model, ApiError> {
    user::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("người dùng", "User"))
}

/// Filters of the user list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserQuery {
    /// Only this role.
    role: Option<String>,
    /// Only active (or inactive) accounts.
    active: Option<bool>,
    /// Only this team.
    team: Option<String>,
    /// Usernames containing this text.
    q: Option<String>,
    /// Page size, 1–1000 (default 100).
    limit: Option<u64>,
    /// Rows to skip (at most 1,000,000,000).
    offset: Option<u64>,
}

/// Lists users (ministry).
#[utoipa::path(get, path = "/users", tag = "users", params(UserQuery),
    security(("bearer" = [])), responses((status = OK, body = UserList), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn list_users(
    State(state): State<AppState>,
    me: AuthUser,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> Result<Json<UserList>, ApiError> {
    policy::can_administer(&me)?;
    let mut cond = Condition::all();
    if let Some(r) = &q.role {
        cond = cond.add(user::Column::Role.eq(r.clone()));
    }
    if let Some(a) = q.active {
        cond = cond.add(user::Column::Active.eq(a));
    }
    if let Some(t) = &q.team {
        cond = cond.add(user::Column::Team.eq(t.clone()));
    }
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        cond = cond.add(user::Column::Username.contains(text.to_lowercase()));
    }
    let select = user::Entity::find().filter(cond);
    let total = select.clone().count(&state.db).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = select
        .order_by_asc(user::Column::Id)
        .limit(limit)
        .offset(super::offset(q.offset)?)
        .all(&state.db)
        .await?;
    Ok(Json(UserList {
        total,
        users: rows.iter().map(user_view).collect(),
    }))
}

/// Creates a user (ministry).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    security(("bearer" = [])), responses((status = CREATED, body = UserView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn create_user(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    policy::can_administer(&me)?;
    let created = users::create(&state.db, &state.passwords, body, &Actor::user(&me, ip)).await?;
    Ok((StatusCode::CREATED, Json(user_view(&created))))
}

/// One user (ministry).
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])), responses((status = OK, body = UserView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn get_user(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<UserView>, ApiError> {
    policy::can_administer(&me)?;
    let u = find_user(&state, id).await?;
    Ok(Json(user_view(&u)))
}

/// Changes a user (ministry): name, role and scope, team, activation, password.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    request_body = UserChanges,
    security(("bearer" = [])), responses((status = OK, body = UserView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn update_user(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UserChanges>,
) -> Result<Json<UserView>, ApiError> {
    policy::can_administer(&me)?;
    let updated =
        users::update(&state.db, &state.passwords, id, body, &Actor::user(&me, ip)).await?;
    Ok(Json(user_view(&updated)))
}

/// Lifts the login throttle of a user (ministry): after too many failed logins the account is
/// refused for a while (`too_many_attempts`); this lets its owner try again at once. Audited.
#[utoipa::path(post, path = "/users/{id}/unlock", tag = "users", params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])), responses((status = OK, body = UserView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, target = id))]
async fn unlock_user(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<UserView>, ApiError> {
    policy::can_administer(&me)?;
    let u = find_user(&state, id).await?;
    state.throttle.clear(&format!("user:{}", u.username));
    audit::record(
        &state.db,
        event::LOGIN_UNLOCKED,
        &Actor::user(&me, ip),
        Some(format!("user:{}", u.id)),
        serde_json::json!({ "username": u.username }),
    )
    .await?;
    Ok(Json(user_view(&u)))
}
