//! One listed household of a village of a round's frame.

use sea_orm::entity::prelude::*;

/// One row of `frame_households`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "frame_households")]
pub struct Model {
    /// Round.
    #[sea_orm(primary_key, auto_increment = false)]
    pub round_code: String,
    /// Commune of the village.
    #[sea_orm(primary_key, auto_increment = false)]
    pub commune_code: String,
    /// The village's normalised code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub village_key: String,
    /// The household's reference (what forms carry).
    #[sea_orm(primary_key, auto_increment = false)]
    pub household_ref: String,
    /// Name of the head, as listed.
    pub head_name: String,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
