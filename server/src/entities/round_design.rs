//! A round's sampling design.

use sea_orm::entity::prelude::*;

/// One row of `round_designs`: the design (JSON of `sampling::Design`) a round draws with.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "round_designs")]
pub struct Model {
    /// Round.
    #[sea_orm(primary_key, auto_increment = false)]
    pub round_code: String,
    /// The design as JSON.
    pub design: String,
    /// Who set it (`builtin` for the seeded designs).
    pub set_by: String,
    /// When.
    pub set_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
