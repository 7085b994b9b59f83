//! Handshake, status and pull.

use std::collections::HashMap;

use axum::http::StatusCode;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use sync_protocol::{
    Change, ChangeKind, FormState, FormStatus, HandshakeRequest, HandshakeResponse, PullResponse,
    QuestionnaireRef, RoundAssignment, StatusQuery, UnitRef,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    auth::{AuthUser, policy},
    entities::{device, form, quarantined_form, questionnaire_version, round, sync_change},
    error::ApiError,
    state::AppState,
};

use super::negotiate;

/// Most forms one status call may ask about.
pub const MAX_STATUS_FORMS: usize = 1000;

fn device_revoked() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "device_revoked",
        "Thiết bị này đã bị thu hồi quyền truy cập. Liên hệ giám sát viên.",
        "This device has been revoked. Contact your supervisor.",
    )
}

/// The units of the user's scope in a geography, down to communes (provinces only for the
/// ministry, whose scope is the whole country).
fn scope_units(user: &AuthUser, geo: &::geography::Geography) -> Vec<UnitRef> {
    let to_ref = |u: &::geography::Unit| UnitRef {
        code: u.code.clone(),
        level: u.level.as_str().to_owned(),
        name: u.name.clone(),
        parent: u.parent.clone(),
    };
    match &user.scope {
        None => geo
            .units()
            .iter()
            .filter(|u| u.level == ::geography::Level::Province)
            .map(to_ref)
            .collect(),
        Some(_) => geo
            .units()
            .iter()
            .filter(|u| policy::covers_unit(user, geo.code, &u.code))
            .map(to_ref)
            .collect(),
    }
}

/// Agrees the version, records the device's handshake and tells it what it should hold.
pub async fn handshake(
    state: &AppState,
    user: &AuthUser,
    req: HandshakeRequest,
) -> Result<HandshakeResponse, ApiError> {
    let version = negotiate(&req.protocol_versions)?;
    let device_id = req.device_id.trim().to_owned();
    if device_id.is_empty()
        || device_id.len() > crate::text::max::DEVICE_ID
        || crate::text::has_control(&device_id)
    {
        return Err(ApiError::bad_request(
            "invalid_device_id",
            "Mã thiết bị phải có 1–128 ký tự, không có ký tự điều khiển.",
            "The device id must have 1–128 characters, no control characters.",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let skew = req.device_time.map(|t| {
        (now - t)
            .whole_milliseconds()
            .clamp(i64::MIN as i128, i64::MAX as i128) as i64
    });
    let app_version: String = req
        .app_version
        .chars()
        .filter(|c| !c.is_control())
        .take(crate::text::max::APP_VERSION)
        .collect();
    match device::Entity::find_by_id(device_id.clone())
        .one(&state.db)
        .await?
    {
        Some(d) if d.revoked_at.is_some() => return Err(device_revoked()),
        Some(d) => {
            let mut m: device::ActiveModel = d.into();
            m.user_id = Set(user.id);
            m.app_version = Set(Some(app_version));
            m.last_seen_at = Set(now);
            m.last_handshake_at = Set(Some(now));
            m.protocol_version = Set(Some(version as i32));
            m.clock_skew_ms = Set(skew);
            m.update(&state.db).await?;
        }
        None => {
            device::ActiveModel {
                id: Set(device_id),
                user_id: Set(user.id),
                app_version: Set(Some(app_version)),
                first_seen_at: Set(now),
                last_seen_at: Set(now),
                last_handshake_at: Set(Some(now)),
                protocol_version: Set(Some(version as i32)),
                clock_skew_ms: Set(skew),
                forms_pushed: Set(0),
                forms_accepted: Set(0),
                ..Default::default()
            }
            .insert(&state.db)
            .await?;
        }
    }
    let questionnaires = questionnaire_version::Entity::find()
        .order_by_asc(questionnaire_version::Column::Code)
        .order_by_asc(questionnaire_version::Column::Version)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|q| QuestionnaireRef {
            code: q.code,
            version: q.version.max(0) as u32,
            content_hash: q.content_hash,
            status: q.status,
        })
        .collect();
    let rounds = round::Entity::find()
        .order_by_desc(round::Column::Year)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| RoundAssignment {
            units: ::geography::by_code(&r.geography_code)
                .map(|g| scope_units(user, g))
                .unwrap_or_default(),
            sampling_levels: serde_json::from_str(&r.sampling_levels).unwrap_or_default(),
            code: r.code,
            year: r.year,
            geography: r.geography_code,
            questionnaire_code: r.questionnaire_code,
            questionnaire_version: r.questionnaire_version.max(0) as u32,
            status: r.status,
        })
        .collect();
    Ok(HandshakeResponse {
        protocol_version: version,
        server_time: now,
        clock_skew_ms: skew,
        questionnaires,
        rounds,
        max_batch_forms: sync_protocol::MAX_BATCH_FORMS,
        max_batch_bytes: state.settings.body_limit_bytes,
    })
}

/// Where each asked-about form stands. Forms the caller may not read are `missing`, so status
/// reveals nothing across scopes.
pub async fn status(
    state: &AppState,
    user: &AuthUser,
    queries: Vec<StatusQuery>,
) -> Result<Vec<FormStatus>, ApiError> {
    if queries.len() > MAX_STATUS_FORMS {
        return Err(ApiError::bad_request(
            "too_many_forms",
            format!("Tối đa {MAX_STATUS_FORMS} phiếu mỗi lần hỏi."),
            format!("At most {MAX_STATUS_FORMS} forms per status call."),
        ));
    }
    let ids: Vec<Uuid> = queries.iter().map(|q| q.id).collect();
    let rounds: HashMap<String, String> = round::Entity::find()
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| (r.code, r.geography_code))
        .collect();
    // What the caller may read, round by round (each on its own geography), in one condition:
    // one statement per chunk of ids, however many rounds there are.
    let readable = rounds
        .iter()
        .fold(Condition::any(), |any, (round_code, geo)| {
            any.add(
                Condition::all()
                    .add(form::Column::RoundCode.eq(round_code.clone()))
                    .add(policy::readable_forms(user, geo)),
            )
        });
    let mut held: HashMap<Uuid, form::Model> = HashMap::new();
    // With no round at all, no form is readable: nothing to ask the database.
    for chunk in ids.chunks(500).filter(|_| !rounds.is_empty()) {
        let rows = form::Entity::find()
            .filter(form::Column::Id.is_in(chunk.to_vec()))
            .filter(readable.clone())
            .all(&state.db)
            .await?;
        held.extend(rows.into_iter().map(|f| (f.id, f)));
    }
    // The content each query names, by id.
    let asked: HashMap<Uuid, &str> = queries
        .iter()
        .filter_map(|q| Some((q.id, q.content_hash.as_deref()?)))
        .collect();
    // A quarantined payload is shown to whoever sent it, to the ministry, and to a device that
    // names its content hash: holding the same payload, it was told that row's outcome when it
    // pushed it (a payload is filed once, under its first sender).
    // Reason, content hash, and whether the query named that hash.
    let mut quarantined: HashMap<Uuid, (String, Option<String>, bool)> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<QuarantineRow> = quarantined_form::Entity::find()
            .select_only()
            .column(quarantined_form::Column::FormId)
            .column(quarantined_form::Column::Reason)
            .column(quarantined_form::Column::ContentHash)
            .column(quarantined_form::Column::SubmittedBy)
            .filter(quarantined_form::Column::FormId.is_in(chunk.to_vec()))
            .order_by_asc(quarantined_form::Column::Seq)
            .into_tuple()
            .all(&state.db)
            .await?;
        for (id, reason, hash, by) in rows {
            let Some(id) = id else { continue };
            let names_it = hash.is_some() && asked.get(&id).copied() == hash.as_deref();
            let shown = user.role == policy::Role::Ministry || by == Some(user.id) || names_it;
            if !shown {
                continue;
            }
            // The latest row, unless an earlier one holds the content the device asks about.
            if names_it || !quarantined.get(&id).is_some_and(|q| q.2) {
                quarantined.insert(id, (reason, hash, names_it));
            }
        }
    }
    Ok(queries
        .into_iter()
        .map(|q| {
            if let Some(f) = held.get(&q.id) {
                FormStatus {
                    id: q.id,
                    state: match crate::review::Status::parse(&f.status) {
                        Some(crate::review::Status::Rejected) => FormState::Rejected,
                        Some(crate::review::Status::Approved) => FormState::Approved,
                        _ => FormState::Accepted,
                    },
                    revision: Some(f.revision.max(0) as u32),
                    same_content: q.content_hash.as_ref().map(|h| *h == f.content_hash),
                    content_hash: Some(f.content_hash.clone()),
                    reason: None,
                }
            } else if let Some((reason, hash, _)) = quarantined.get(&q.id) {
                FormStatus {
                    id: q.id,
                    state: FormState::Quarantined,
                    revision: None,
                    same_content: match (&q.content_hash, hash) {
                        (Some(a), Some(b)) => Some(a == b),
                        _ => None,
                    },
                    content_hash: hash.clone(),
                    reason: Some(reason.clone()),
                }
            } else {
                FormStatus {
                    id: q.id,
                    state: FormState::Missing,
                    revision: None,
                    content_hash: None,
                    same_content: None,
                    reason: None,
                }
            }
        })
        .collect())
}

/// What status reads of a quarantine row: form id, reason, content hash and sender.
type QuarantineRow = (Option<Uuid>, String, Option<String>, Option<i64>);

/// Prefix of every cursor this server issues.
const CURSOR_PREFIX: &str = "c1.";

fn cursor_invalid() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "cursor_invalid",
        "Con trỏ đồng bộ không còn hợp lệ. Hãy đồng bộ lại từ đầu.",
        "The sync cursor is no longer valid. Resync from scratch (pull without a cursor).",
    )
}

/// The changes after `cursor` that concern the caller (global ones, and those addressed to them).
pub async fn pull(
    state: &AppState,
    user: &AuthUser,
    cursor: Option<&str>,
    limit: u64,
) -> Result<PullResponse, ApiError> {
    let after: i64 = match cursor.filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(cursor_invalid)?,
    };
    let newest: Option<i64> = sync_change::Entity::find()
        .select_only()
        .column_as(sync_change::Column::Seq.max(), "m")
        .into_tuple::<Option<i64>>()
        .one(&state.db)
        .await?
        .flatten();
    if after > newest.unwrap_or(0) {
        // A cursor from the future: another server's, or a database restored from backup.
        return Err(cursor_invalid());
    }
    let limit = limit.clamp(1, 1000);
    let rows = sync_change::Entity::find()
        .filter(sync_change::Column::Seq.gt(after))
        .filter(
            Condition::any()
                .add(sync_change::Column::UserId.is_null())
                .add(sync_change::Column::UserId.eq(user.id)),
        )
        .order_by_asc(sync_change::Column::Seq)
        .limit(limit + 1)
        .all(&state.db)
        .await?;
    let more = rows.len() as u64 > limit;
    let rows: Vec<sync_change::Model> = rows.into_iter().take(limit as usize).collect();
    let last = rows.last().map(|r| r.seq).unwrap_or(if more {
        after
    } else {
        newest.unwrap_or(after).max(after)
    });
    let changes = rows
        .into_iter()
        .map(|r| Change {
            seq: r.seq,
            kind: serde_json::from_value(serde_json::Value::String(r.kind))
                .unwrap_or(ChangeKind::Unknown),
            payload: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
            at: r.at,
        })
        .collect();
    Ok(PullResponse {
        changes,
        cursor: format!("{CURSOR_PREFIX}{last}"),
        more,
    })
}
