//! A loaded successor mapping between two geographies (its hash, so it is reloaded only on change).

use sea_orm::entity::prelude::*;

/// One row of `geo_mappings`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "geo_mappings")]
pub struct Model {
    /// The older geography.
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_geography: String,
    /// The newer geography.
    #[sea_orm(primary_key, auto_increment = false)]
    pub to_geography: String,
    /// SHA-256 of the loaded links.
    pub data_hash: String,
    /// When the links were loaded.
    pub loaded_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
