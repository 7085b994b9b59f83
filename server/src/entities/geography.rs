//! An administrative geography loaded into the database (e.g. `vn-2023`).

use sea_orm::entity::prelude::*;

/// One row of `geographies`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "geographies")]
pub struct Model {
    /// Geography code, e.g. `vn-2025`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: Option<String>,
    /// JSON array of the level names, top first.
    pub levels: String,
    /// SHA-256 of the loaded data, so a changed data file is reloaded.
    pub data_hash: String,
    /// When the data was loaded.
    pub loaded_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
