//! One security-relevant event in the append-only audit log.

use sea_orm::entity::prelude::*;

/// One row of `audit_log`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Increasing id (also the paging cursor).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When.
    pub at: TimeDateTimeWithTimeZone,
    /// What (`login_succeeded`, `user_created`, ...).
    pub event: String,
    /// Who did it, if known.
    pub actor_id: Option<i64>,
    /// Their username (kept even if the user is renamed).
    pub actor_username: Option<String>,
    /// What it was done to (`user:12`, `device:abc`, `questionnaire:sipas/2`).
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// JSON object with details.
    pub details: String,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
