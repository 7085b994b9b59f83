//! One draw of a province's sample.

use sea_orm::entity::prelude::*;

/// One row of `sample_draws`. Never changed once drawn but for being superseded.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sample_draws")]
pub struct Model {
    /// Draw id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Round.
    pub round_code: String,
    /// Province (the stratum).
    pub province_code: String,
    /// The seed.
    pub seed: i64,
    /// The algorithm (`sipas-draw-1`).
    pub algorithm: String,
    /// The design drawn with (JSON), as it was then.
    pub design: String,
    /// Hash of the frame drawn from (villages and the household lists used).
    pub frame_hash: String,
    /// `active` or `superseded`.
    pub status: String,
    /// Why it was drawn again (redraws).
    pub reason: Option<String>,
    /// The draw it replaced.
    pub replaces: Option<i64>,
    /// Who drew it.
    pub drawn_by: String,
    /// When.
    pub drawn_at: TimeDateTimeWithTimeZone,
    /// Who replaced it.
    pub superseded_by: Option<String>,
    /// When.
    pub superseded_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
