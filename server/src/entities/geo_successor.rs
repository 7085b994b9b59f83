//! A successor link from a unit of one geography to a unit of a later one.

use sea_orm::entity::prelude::*;

/// One row of `geo_successors`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "geo_successors")]
pub struct Model {
    /// The older geography.
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_geography: String,
    /// The unit in the older geography.
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_code: String,
    /// The newer geography.
    #[sea_orm(primary_key, auto_increment = false)]
    pub to_geography: String,
    /// A successor unit in the newer geography.
    #[sea_orm(primary_key, auto_increment = false)]
    pub to_code: String,
    /// Whether this is the one default successor of `from_code`.
    pub is_default: bool,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
