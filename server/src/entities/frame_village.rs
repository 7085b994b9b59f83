//! One listed village of a round's frame.

use sea_orm::entity::prelude::*;

/// One row of `frame_villages`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "frame_villages")]
pub struct Model {
    /// Round.
    #[sea_orm(primary_key, auto_increment = false)]
    pub round_code: String,
    /// Commune.
    #[sea_orm(primary_key, auto_increment = false)]
    pub commune_code: String,
    /// The village's normalised code (`indices::cluster_key`), the key its forms are counted under.
    #[sea_orm(primary_key, auto_increment = false)]
    pub village_key: String,
    /// Province of the commune.
    pub province_code: String,
    /// District of the commune (geographies with districts).
    pub district_code: Option<String>,
    /// The code as listed.
    pub village_code: String,
    /// The name as listed.
    pub village_name: String,
    /// Households the village list gives.
    pub households: i64,
    /// Households in its uploaded household list (0: none uploaded).
    pub households_listed: i64,
    /// Hash of its household list, when one is uploaded.
    pub households_hash: Option<String>,
    /// Where the village is (WGS 84 degrees), when the village list gives it.
    pub latitude: Option<f64>,
    /// See `latitude`.
    pub longitude: Option<f64>,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
