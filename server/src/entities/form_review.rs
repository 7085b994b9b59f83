//! One step of a form's review history (append-only).

use sea_orm::entity::prelude::*;

/// One row of `form_reviews`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "form_reviews")]
pub struct Model {
    /// Order of the steps.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The form.
    pub form_id: Uuid,
    /// Its round.
    pub round_code: String,
    /// The form's revision the step concerns.
    pub revision: i32,
    /// Status before.
    pub from_status: String,
    /// Status after.
    pub to_status: String,
    /// The reviewer's comment (required for a rejection).
    pub comment: Option<String>,
    /// Who (user id).
    pub by_user: Option<i64>,
    /// Who (username, kept if the user is renamed).
    pub by_username: Option<String>,
    /// When.
    pub at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
