//! The audit log, read by the ministry with filters and keyset paging.

use axum::{Json, extract::State};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{AuthUser, policy},
    entities::audit_event,
    error::{ApiError, ApiQuery},
    routes::openapi::Failure,
    state::AppState,
    text::rfc3339,
};

/// `/audit`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

/// Filters and paging of the audit log.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this event.
    event: Option<String>,
    /// Only events by this username.
    actor: Option<String>,
    /// Only events on this target (`user:12`).
    target: Option<String>,
    /// Only events at or after (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<OffsetDateTime>,
    /// Only events before (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<OffsetDateTime>,
    /// Page cursor: events with a smaller id (from `next_before`).
    before: Option<i64>,
    /// Page size, 1–1000 (default 100).
    limit: Option<u64>,
}

/// One audited event.
#[derive(Serialize, ToSchema)]
struct AuditEventView {
    /// Id (newer events have larger ids).
    id: i64,
    /// When, RFC 3339.
    at: Option<String>,
    /// What happened (`login_failed`, `user_created`, ...).
    event: String,
    /// Who did it.
    actor_id: Option<i64>,
    /// Their username (or the one tried, for a failed login).
    actor: Option<String>,
    /// What it was done to (`user:12`, `device:…`).
    target: Option<String>,
    /// From which address.
    ip: Option<String>,
    /// Details, by event.
    #[schema(value_type = Object)]
    details: Value,
}

/// A page of the audit log.
#[derive(Serialize, ToSchema)]
struct AuditPage {
    /// Newest first.
    events: Vec<AuditEventView>,
    /// Cursor of the next page (`before`), absent on the last.
    next_before: Option<i64>,
}

/// Newest first; `next_before` continues the listing.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])), responses((status = OK, body = AuditPage), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn list_audit_events(
    State(state): State<AppState>,
    me: AuthUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    policy::can_administer(&me)?;
    let mut cond = Condition::all();
    if let Some(e) = &q.event {
        cond = cond.add(audit_event::Column::Event.eq(e.clone()));
    }
    if let Some(a) = &q.actor {
        cond = cond.add(audit_event::Column::ActorUsername.eq(a.to_lowercase()));
    }
    if let Some(t) = &q.target {
        cond = cond.add(audit_event::Column::Target.eq(t.clone()));
    }
    if let Some(s) = q.since {
        cond = cond.add(audit_event::Column::At.gte(s));
    }
    if let Some(u) = q.until {
        cond = cond.add(audit_event::Column::At.lt(u));
    }
    if let Some(b) = q.before {
        cond = cond.add(audit_event::Column::Id.lt(b));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = audit_event::Entity::find()
        .filter(cond)
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let events = rows
        .into_iter()
        .map(|r| AuditEventView {
            id: r.id,
            at: rfc3339(&r.at),
            event: r.event,
            actor_id: r.actor_id,
            actor: r.actor_username,
            target: r.target,
            ip: r.ip,
            details: serde_json::from_str::<Value>(&r.details).unwrap_or(Value::Null),
        })
        .collect();
    Ok(Json(AuditPage {
        events,
        next_before: next,
    }))
}
