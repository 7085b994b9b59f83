//! An administrative unit of a geography.

use sea_orm::entity::prelude::*;

/// One row of `geo_units`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "geo_units")]
pub struct Model {
    /// The geography the unit belongs to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub geography_code: String,
    /// Official GSO code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// `province`, `district` or `commune`.
    pub level: String,
    /// Unit type with diacritics (tỉnh, huyện, xã, ...).
    pub unit_type: String,
    /// Name with diacritics.
    pub name: String,
    /// `type name` folded (lowercase, no diacritics) for search.
    pub search_key: String,
    /// Code of the parent unit (none for a province).
    pub parent_code: Option<String>,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
