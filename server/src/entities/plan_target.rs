//! A province's target for a round.

use sea_orm::entity::prelude::*;

/// One row of `plan_targets`: the figure `figure_key` of `province_code` should reach `value`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_targets")]
pub struct Model {
    /// Target id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Round.
    pub round_code: String,
    /// Province.
    pub province_code: String,
    /// The figure (`overall/sipas`, `component/policy`, `group/p1`, `item/p1.info_forms`).
    pub figure_key: String,
    /// The value to reach (`>=`, percent).
    pub value: f64,
    /// Free note (e.g. the plan's wording).
    pub note: Option<String>,
    /// Who set it last.
    pub updated_by: String,
    /// When.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
