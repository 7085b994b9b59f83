//! An enumerator's device, registered at its first login.

use sea_orm::entity::prelude::*;

/// One row of `devices`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    /// Device id chosen by the client (stable per installation).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The user it registered with (last login).
    pub user_id: i64,
    /// App version last reported.
    pub app_version: Option<String>,
    /// First login from it.
    pub first_seen_at: TimeDateTimeWithTimeZone,
    /// Last login, refresh or sync from it.
    pub last_seen_at: TimeDateTimeWithTimeZone,
    /// Last sync handshake.
    pub last_handshake_at: Option<TimeDateTimeWithTimeZone>,
    /// Last push of forms.
    pub last_push_at: Option<TimeDateTimeWithTimeZone>,
    /// Protocol version agreed at the last handshake.
    pub protocol_version: Option<i32>,
    /// Server clock minus device clock at the last handshake, in milliseconds.
    pub clock_skew_ms: Option<i64>,
    /// Forms pushed from it (every outcome).
    pub forms_pushed: i64,
    /// Forms accepted from it.
    pub forms_accepted: i64,
    /// Set when revoked: it can no longer log in, refresh or sync.
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
    /// Who revoked it.
    pub revoked_by: Option<i64>,
}

/// A device belongs to the user it last logged in with.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owner.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
