//! A payload that was not accepted, kept with its reason so nothing is lost.

use sea_orm::entity::prelude::*;

/// One row of `quarantined_forms`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quarantined_forms")]
pub struct Model {
    /// Physical key.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The form id the payload claimed, if it had a readable one.
    pub form_id: Option<Uuid>,
    /// The round it claimed.
    pub round_code: Option<String>,
    /// Why it was quarantined (`invalid`, `conflict`, ...).
    pub reason: String,
    /// Hash of the submission's content, when it was readable (to answer a resend the same way).
    pub content_hash: Option<String>,
    /// JSON array of the errors found.
    pub errors: String,
    /// The payload as received (JSON).
    pub payload: String,
    /// Device that sent it.
    pub device_id: Option<String>,
    /// User who sent it.
    pub submitted_by: Option<i64>,
    /// When it arrived.
    pub received_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
