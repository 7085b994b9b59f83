//! The append-only audit log of security-relevant events. Nothing updates or deletes its rows.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use serde_json::Value;
use time::OffsetDateTime;

use crate::{
    auth::AuthUser,
    entities::audit_event,
    text::{self, max},
};

/// Event names (stable; filtered on by the API).
pub mod event {
    /// A login succeeded.
    pub const LOGIN_SUCCEEDED: &str = "login_succeeded";
    /// A login failed (unknown user, wrong password, inactive user, revoked device).
    pub const LOGIN_FAILED: &str = "login_failed";
    /// A login was refused by throttling.
    pub const LOGIN_THROTTLED: &str = "login_throttled";
    /// A rotated refresh token was presented again: its family was revoked.
    pub const TOKEN_REUSE_DETECTED: &str = "token_reuse_detected";
    /// A user logged out.
    pub const LOGOUT: &str = "logout";
    /// A user was created.
    pub const USER_CREATED: &str = "user_created";
    /// A user was changed.
    pub const USER_CHANGED: &str = "user_changed";
    /// A user was deactivated.
    pub const USER_DEACTIVATED: &str = "user_deactivated";
    /// A user's password was changed.
    pub const PASSWORD_CHANGED: &str = "password_changed";
    /// Users were imported in bulk.
    pub const USERS_IMPORTED: &str = "users_imported";
    /// The ministry lifted a user's login throttle.
    pub const LOGIN_UNLOCKED: &str = "login_unlocked";
    /// A device registered at its first login.
    pub const DEVICE_REGISTERED: &str = "device_registered";
    /// A device was revoked.
    pub const DEVICE_REVOKED: &str = "device_revoked";
    /// A questionnaire version was published.
    pub const QUESTIONNAIRE_PUBLISHED: &str = "questionnaire_published";
    /// A questionnaire version was closed to new forms.
    pub const QUESTIONNAIRE_CLOSED: &str = "questionnaire_closed";
    /// The ministry created a practice round.
    pub const ROUND_CREATED: &str = "round_created";
    /// The ministry deleted a practice round and what was collected in it.
    pub const ROUND_DELETED: &str = "round_deleted";
    /// A form was approved in review.
    pub const FORM_APPROVED: &str = "form_approved";
    /// A form was rejected (sent back to its enumerator) in review.
    pub const FORM_REJECTED: &str = "form_rejected";
    /// An assignment was made, changed or withdrawn.
    pub const ASSIGNMENT_CHANGED: &str = "assignment_changed";
    /// A round's counted states (received or approved only) were changed.
    pub const ROUND_COUNTING_CHANGED: &str = "round_counting_changed";
    /// A province's target was set, changed or deleted.
    pub const TARGET_CHANGED: &str = "target_changed";
    /// A plan, one of its tasks or a progress note was created, changed or deleted.
    pub const PLAN_CHANGED: &str = "plan_changed";
    /// A round's field-quality thresholds were set or reset to the defaults.
    pub const QUALITY_SETTINGS_CHANGED: &str = "quality_settings_changed";
}

/// Who did something, as far as known.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// User id.
    pub id: Option<i64>,
    /// Username.
    pub username: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
}

impl Actor {
    /// The authenticated caller from `ip`.
    pub fn user(u: &AuthUser, ip: Option<String>) -> Actor {
        Actor {
            id: Some(u.id),
            username: Some(u.username.clone()),
            ip,
        }
    }

    /// The command line (`sipas user ...`) or the server itself.
    pub fn system(name: &str) -> Actor {
        Actor {
            id: None,
            username: Some(name.to_owned()),
            ip: None,
        }
    }
}

/// Appends one event. The texts given are fitted to their columns ([`text::fit`]): an attempt
/// with a hostile username is audited all the same, not refused. `details` is JSON text, which
/// escapes any control character.
pub async fn record(
    db: &impl ConnectionTrait,
    event: &str,
    actor: &Actor,
    target: Option<String>,
    details: Value,
) -> Result<(), DbErr> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        at: Set(OffsetDateTime::now_utc()),
        event: Set(event.to_owned()),
        actor_id: Set(actor.id),
        actor_username: Set(actor
            .username
            .as_deref()
            .map(|u| text::fit(u, max::USERNAME))),
        target: Set(target.as_deref().map(|t| text::fit(t, max::AUDIT_TARGET))),
        ip: Set(actor.ip.as_deref().map(|ip| text::fit(ip, max::IP))),
        details: Set(details.to_string()),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}
