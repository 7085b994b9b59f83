//! A province's frame for a round: the hash of its village list.

use sea_orm::entity::prelude::*;

/// One row of `frames`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "frames")]
pub struct Model {
    /// Round.
    #[sea_orm(primary_key, auto_increment = false)]
    pub round_code: String,
    /// Province.
    #[sea_orm(primary_key, auto_increment = false)]
    pub province_code: String,
    /// Hash of the village list as stored (see `sampling::store`).
    pub villages_hash: String,
    /// Villages listed.
    pub villages: i64,
    /// Who uploaded it last.
    pub updated_by: String,
    /// When.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
