//! A province's action plan for a round.

use sea_orm::entity::prelude::*;

/// One row of `plans`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    /// Plan id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Round.
    pub round_code: String,
    /// Province.
    pub province_code: String,
    /// Title, e.g. "Kế hoạch nâng cao Chỉ số SIPAS năm 2023".
    pub title: String,
    /// Who changed it last.
    pub updated_by: String,
    /// When.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
