//! Enumerators' devices: listing (ministry, supervisors) and revocation.

use axum::{Json, extract::State};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    entities::{device, refresh_token, user},
    error::{ApiError, ApiPath, ApiQuery},
    routes::openapi::Failure,
    state::AppState,
    text::rfc3339,
};

/// `/devices...`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices))
        .routes(routes!(revoke_device))
}

/// The user a device belongs to.
#[derive(Serialize, ToSchema)]
struct DeviceOwner {
    /// User id.
    id: i64,
    /// Login name.
    username: String,
    /// Full name.
    full_name: String,
    /// Field team.
    team: Option<String>,
}

/// A device: one installation of a client app.
#[derive(Serialize, ToSchema)]
struct DeviceView {
    /// The installation's id, chosen by the app.
    id: String,
    /// Who uses it.
    user: Option<DeviceOwner>,
    /// The app's version at its last login.
    app_version: Option<String>,
    /// RFC 3339.
    first_seen_at: Option<String>,
    /// RFC 3339.
    last_seen_at: Option<String>,
    /// RFC 3339.
    last_handshake_at: Option<String>,
    /// RFC 3339.
    last_push_at: Option<String>,
    /// Protocol version of its last handshake.
    protocol_version: Option<i32>,
    /// Server time minus device time at its last handshake, ms.
    clock_skew_ms: Option<i64>,
    /// Forms it pushed.
    forms_pushed: i64,
    /// Forms of those the server stored.
    forms_accepted: i64,
    /// When it was revoked, RFC 3339.
    revoked_at: Option<String>,
}

/// Devices.
#[derive(Serialize, ToSchema)]
struct DeviceList {
    /// Most recently seen first.
    devices: Vec<DeviceView>,
}

fn device_view(d: &device::Model, owner: Option<&user::Model>) -> DeviceView {
    DeviceView {
        id: d.id.clone(),
        user: owner.map(|u| DeviceOwner {
            id: u.id,
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            team: u.team.clone(),
        }),
        app_version: d.app_version.clone(),
        first_seen_at: rfc3339(&d.first_seen_at),
        last_seen_at: rfc3339(&d.last_seen_at),
        last_handshake_at: d.last_handshake_at.as_ref().and_then(rfc3339),
        last_push_at: d.last_push_at.as_ref().and_then(rfc3339),
        protocol_version: d.protocol_version,
        clock_skew_ms: d.clock_skew_ms,
        forms_pushed: d.forms_pushed,
        forms_accepted: d.forms_accepted,
        revoked_at: d.revoked_at.as_ref().and_then(rfc3339),
    }
}

/// Filters for the device list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeviceQuery {
    /// Only devices that have not synced (handshake or push) for at least this many days,
    /// including devices that never synced.
    not_synced_for_days: Option<u32>,
    /// Include revoked devices (default false when filtering by sync age).
    include_revoked: Option<bool>,
}

/// Devices the caller may manage: all for the ministry, their scope's and team's for a supervisor;
/// `?not_synced_for_days=N` lists those silent for N days or more (who has not synced).
#[utoipa::path(get, path = "/devices", tag = "devices", params(DeviceQuery),
    security(("bearer" = [])), responses((status = OK, body = DeviceList), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username))]
async fn list_devices(
    State(state): State<AppState>,
    me: AuthUser,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<DeviceList>, ApiError> {
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
    let list: Vec<DeviceView> = rows
        .iter()
        .filter(|(_, owner)| {
            owner
                .as_ref()
                .is_some_and(|o| policy::can_manage_device_of(&me, o))
        })
        .map(|(d, owner)| device_view(d, owner.as_ref()))
        .collect();
    Ok(Json(DeviceList { devices: list }))
}

/// Revokes a device: it can no longer log in, refresh or sync, and its sessions end now. A device
/// the caller may not manage is answered as not found.
#[utoipa::path(post, path = "/devices/{id}/revoke", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    security(("bearer" = [])), responses((status = OK, body = DeviceView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, device = %id))]
async fn revoke_device(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeviceView>, ApiError> {
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
