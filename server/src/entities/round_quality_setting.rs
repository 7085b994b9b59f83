//! A round's field-quality thresholds.

use sea_orm::entity::prelude::*;

/// One row of `round_quality_settings`: the thresholds (JSON of `quality::QualitySettings`)
/// a round applies instead of the defaults.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "round_quality_settings")]
pub struct Model {
    /// Round.
    #[sea_orm(primary_key, auto_increment = false)]
    pub round_code: String,
    /// The thresholds as JSON (every field; fields added later take their defaults on read).
    pub settings: String,
    /// Who set them.
    pub updated_by: String,
    /// When.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
