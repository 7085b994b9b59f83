//! User administration by the ministry.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    audit::Actor,
    auth::{AuthUser, extract::ClientIp, policy},
    entities::user,
    error::{ApiError, ApiJson, ApiPath, ApiQuery},
    state::AppState,
    text::rfc3339,
    users::{self, NewUser, UserChanges},
};

/// `/users...`
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).patch(update_user))
}

/// A user as the API shows it (never the password hash).
pub fn user_view(u: &user::Model) -> Value {
    let unit_name = match (&u.geography_code, &u.unit_code) {
        (Some(g), Some(c)) => ::geography::by_code(g)
            .and_then(|geo| geo.unit(c))
            .map(|unit| unit.full_name()),
        _ => None,
    };
    json!({
        "id": u.id,
        "username": u.username,
        "full_name": u.full_name,
        "role": u.role,
        "scope": u.unit_code.as_ref().map(|c| json!({
            "geography": u.geography_code,
            "unit_code": c,
            "unit_name": unit_name,
        })),
        "team": u.team,
        "active": u.active,
        "created_at": rfc3339(&u.created_at),
        "updated_at": rfc3339(&u.updated_at),
    })
}

#[derive(Deserialize)]
struct UserQuery {
    role: Option<String>,
    active: Option<bool>,
    team: Option<String>,
    q: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
}

/// Lists users (ministry).
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn list_users(
    State(state): State<AppState>,
    me: AuthUser,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "total": total,
        "users": rows.iter().map(user_view).collect::<Vec<_>>(),
    })))
}

/// Creates a user (ministry).
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn create_user(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    policy::can_administer(&me)?;
    let created = users::create(&state.db, &state.passwords, body, &Actor::user(&me, ip)).await?;
    Ok((StatusCode::CREATED, Json(user_view(&created))))
}

/// One user (ministry).
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn get_user(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    policy::can_administer(&me)?;
    let u = user::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("người dùng", "User"))?;
    Ok(Json(user_view(&u)))
}

/// Changes a user (ministry): name, role and scope, team, activation, password.
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn update_user(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UserChanges>,
) -> Result<Json<Value>, ApiError> {
    policy::can_administer(&me)?;
    let updated =
        users::update(&state.db, &state.passwords, id, body, &Actor::user(&me, ip)).await?;
    Ok(Json(user_view(&updated)))
}
