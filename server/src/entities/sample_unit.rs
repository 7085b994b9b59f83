//! An area unit drawn at one stage of a draw.

use sea_orm::entity::prelude::*;

/// One row of `sample_units`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sample_units")]
pub struct Model {
    /// Draw.
    #[sea_orm(primary_key, auto_increment = false)]
    pub draw_id: i64,
    /// Stage index in the design (0: the first stage, the PSUs).
    #[sea_orm(primary_key, auto_increment = false)]
    pub stage: i32,
    /// The selected unit it was drawn under (the province for the first stage; a village's
    /// commune; `commune/village` keys are never parents here since households are elsewhere).
    #[sea_orm(primary_key, auto_increment = false)]
    pub parent_code: String,
    /// Its code (a village: as listed).
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_code: String,
    /// `district`, `commune` or `village`.
    pub level: String,
    /// Villages: the commune.
    pub commune_code: Option<String>,
    /// Villages: the normalised code.
    pub village_key: Option<String>,
    /// Villages: the name as listed.
    pub name: Option<String>,
    /// 1-based order among the units drawn under the same parent.
    pub ord: i32,
    /// Taken with certainty.
    pub certainty: bool,
    /// Size used (households of its listed villages).
    pub size: i64,
    /// Stage probability, numerator.
    pub prob_num: i64,
    /// Stage probability, denominator.
    pub prob_den: i64,
    /// Probability of being in the sample (product over its stages).
    pub inclusion_probability: f64,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
