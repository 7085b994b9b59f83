//! A household drawn (main or reserve).

use sea_orm::entity::prelude::*;

/// One row of `sample_households`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sample_households")]
pub struct Model {
    /// Draw.
    #[sea_orm(primary_key, auto_increment = false)]
    pub draw_id: i64,
    /// Commune of its village.
    #[sea_orm(primary_key, auto_increment = false)]
    pub commune_code: String,
    /// The village's normalised code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub village_key: String,
    /// The household's reference.
    #[sea_orm(primary_key, auto_increment = false)]
    pub household_ref: String,
    /// The village's code as listed.
    pub village_code: String,
    /// Name of the head, as listed.
    pub head_name: String,
    /// 1-based order among the main households, or among the reserves.
    pub ord: i32,
    /// A reserve.
    pub reserve: bool,
    /// Household-stage probability, numerator.
    pub prob_num: i64,
    /// Household-stage probability, denominator.
    pub prob_den: i64,
    /// Probability of being in the sample.
    pub inclusion_probability: f64,
    /// Design weight (`1 / inclusion_probability`).
    pub weight: f64,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
