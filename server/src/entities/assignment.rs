//! A supervisor's assignment of a village (or of households in it) to one enumerator.

use sea_orm::entity::prelude::*;

/// One row of `assignments`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assignments")]
pub struct Model {
    /// Assignment id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The round.
    pub round_code: String,
    /// The enumerator it is for.
    pub enumerator_id: i64,
    /// Province code.
    pub province_code: String,
    /// District code (geographies with districts).
    pub district_code: Option<String>,
    /// Commune code.
    pub commune_code: String,
    /// Village code.
    pub village_code: String,
    /// JSON array of household refs, when the assignment names households.
    pub household_refs: Option<String>,
    /// How many forms are expected; 0 withdraws the assignment.
    pub quantity: i32,
    /// The supervisor (or ministry user) who made or last changed it.
    pub created_by: Option<i64>,
    /// When it was made.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
    /// JSON array of the households replaced by a reserve (`{household, reserve, reason}`).
    pub replaced_refs: Option<String>,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
