//! A survey round.

use sea_orm::entity::prelude::*;

/// One row of `rounds`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rounds")]
pub struct Model {
    /// Round code, e.g. `sipas-2023`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// Survey year.
    pub year: i32,
    /// Title in Vietnamese.
    pub title_vi: String,
    /// Title in English.
    pub title_en: Option<String>,
    /// The questionnaire used.
    pub questionnaire_code: String,
    /// The questionnaire version used.
    pub questionnaire_version: i32,
    /// The geography the round samples from.
    pub geography_code: String,
    /// JSON array of sampling levels, top first, ending with `village`.
    pub sampling_levels: String,
    /// Units with fewer valid forms than this show counts but no indices.
    pub min_cell_size: i32,
    /// `open` or `closed`.
    pub status: String,
    /// Which forms count in the indices: `received` (all not rejected) or `approved` only.
    pub counted_states: String,
    /// When the round was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// A practice round (training, simulations), deletable with what was collected in it.
    pub practice: bool,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
