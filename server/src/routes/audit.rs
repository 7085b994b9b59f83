//! The audit log, read by the ministry with filters and keyset paging.

use axum::{Json, Router, extract::State, routing::get};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    auth::{AuthUser, policy},
    entities::audit_event,
    error::{ApiError, ApiQuery},
    state::AppState,
    text::rfc3339,
};

/// `/audit`
pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list_audit_events))
}

#[derive(Deserialize)]
struct AuditQuery {
    /// Only this event.
    event: Option<String>,
    /// Only events by this username.
    actor: Option<String>,
    /// Only events on this target (`user:12`).
    target: Option<String>,
    /// Only events at or after (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
    /// Only events before (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
    /// Page cursor: events with a smaller id (from `next_before`).
    before: Option<i64>,
    limit: Option<u64>,
}

/// Newest first; `next_before` continues the listing.
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn list_audit_events(
    State(state): State<AppState>,
    me: AuthUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let events: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": rfc3339(&r.at),
                "event": r.event,
                "actor_id": r.actor_id,
                "actor": r.actor_username,
                "target": r.target,
                "ip": r.ip,
                "details": serde_json::from_str::<Value>(&r.details).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({ "events": events, "next_before": next })))
}
