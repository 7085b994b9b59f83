//! Enumerators' devices: listing (ministry, supervisors) and revocation.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, TransactionTrait, sea_query::Expr,
};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    entities::{device, refresh_token, user},
    error::{ApiError, ApiPath, ApiQuery},
    state::AppState,
    text::rfc3339,
};

/// `/devices...`
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/devices", get(list_devices))
        .route("/devices/{id}/revoke", post(revoke_device))
}

fn device_view(d: &device::Model, owner: Option<&user::Model>) -> Value {
    json!({
        "id": d.id,
        "user": owner.map(|u| json!({ "id": u.id, "username": u.username, "full_name": u.full_name, "team": u.team })),
        "app_version": d.app_version,
        "first_seen_at": rfc3339(&d.first_seen_at),
        "last_seen_at": rfc3339(&d.last_seen_at),
        "last_handshake_at": d.last_handshake_at.as_ref().and_then(rfc3339),
        "last_push_at": d.last_push_at.as_ref().and_then(rfc3339),
        "protocol_version": d.protocol_version,
        "clock_skew_ms": d.clock_skew_ms,
        "forms_pushed": d.forms_pushed,
        "forms_accepted": d.forms_accepted,
        "revoked_at": d.revoked_at.as_ref().and_then(rfc3339),
    })
}

/// Filters for the device list.
#[derive(Debug, Deserialize)]
struct DeviceQuery {
    /// Only devices that have not synced (handshake or push) for at least this many days,
    /// including devices that never synced.
    not_synced_for_days: Option<u32>,
    /// Include revoked devices (default false when filtering by sync age).
    include_revoked: Option<bool>,
}

/// Devices the caller may manage: all for the ministry, their scope's and team's for a supervisor;
/// `?not_synced_for_days=N` lists those silent for N days or more (who has not synced).
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn list_devices(
    State(state): State<AppState>,
    me: AuthUser,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<Value>, ApiError> {
    policy::can_list_devices(&me)?;
    let mut select = device::Entity::find();
    if let Some(days) = q.not_synced_for_days {
        // A century: past it the cutoff would leave the calendar.
        const MAX_DAYS: u32 = 36_500;
        if days > MAX_DAYS {
            return Err(ApiError::out_of_range(
                "not_synced_for_days",
                u64::from(MAX_DAYS),
            ));
        }
        let cutoff = OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
        select = select.filter(
            Condition::all()
                .add(
                    Condition::any()
                        .add(device::Column::LastHandshakeAt.is_null())
                        .add(device::Column::LastHandshakeAt.lt(cutoff)),
                )
                .add(
                    Condition::any()
                        .add(device::Column::LastPushAt.is_null())
                        .add(device::Column::LastPushAt.lt(cutoff)),
                ),
        );
        if !q.include_revoked.unwrap_or(false) {
            select = select.filter(device::Column::RevokedAt.is_null());
        }
    }
    let rows = select
        .find_also_related(user::Entity)
        .order_by_desc(device::Column::LastSeenAt)
        .all(&state.db)
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .filter(|(_, owner)| {
            owner
                .as_ref()
                .is_some_and(|o| policy::can_manage_device_of(&me, o))
        })
        .map(|(d, owner)| device_view(d, owner.as_ref()))
        .collect();
    Ok(Json(json!({ "devices": list })))
}

/// Revokes a device: it can no longer log in, refresh or sync, and its sessions end now. A device
/// the caller may not manage is answered as not found.
#[tracing::instrument(skip_all, fields(user = %me.username, device = %id))]
async fn revoke_device(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    policy::can_list_devices(&me)?;
    let not_found = || ApiError::not_found("thiết bị", "Device");
    let (d, owner) = device::Entity::find_by_id(id.clone())
        .find_also_related(user::Entity)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let owner = owner.ok_or_else(not_found)?;
    if !policy::can_manage_device_of(&me, &owner) {
        return Err(not_found());
    }
    let now = OffsetDateTime::now_utc();
    let txn = state.db.begin().await?;
    device::Entity::update_many()
        .col_expr(device::Column::RevokedAt, Expr::value(now))
        .col_expr(device::Column::RevokedBy, Expr::value(me.id))
        .filter(device::Column::Id.eq(id.clone()))
        .filter(device::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::DeviceId.eq(id.clone()))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        event::DEVICE_REVOKED,
        &Actor::user(&me, ip),
        Some(format!("device:{id}")),
        json!({ "owner": owner.username, "was_revoked": d.revoked_at.is_some() }),
    )
    .await?;
    txn.commit().await?;
    let d = device::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(device_view(&d, Some(&owner))))
}
