//! One entry of the change log devices pull from.

use sea_orm::entity::prelude::*;

/// One row of `sync_changes`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_changes")]
pub struct Model {
    /// Position in the log; pull cursors point here.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// `questionnaire_published`, `round_changed`, ...
    pub kind: String,
    /// Round it concerns, if any.
    pub round_code: Option<String>,
    /// The one user it is for (a returned form), if any; none means everyone.
    pub user_id: Option<i64>,
    /// JSON payload.
    pub payload: String,
    /// When.
    pub at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
