//! Sufficient statistics of one village (cluster) for the index engine.

use sea_orm::entity::prelude::*;

/// One row of `index_cluster_stats`: the counts of `indices::ClusterStats` for one round,
/// questionnaire version and village.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "index_cluster_stats")]
pub struct Model {
    /// Round.
    #[sea_orm(primary_key, auto_increment = false)]
    pub round_code: String,
    /// Questionnaire the forms were filled on.
    #[sea_orm(primary_key, auto_increment = false)]
    pub questionnaire_code: String,
    /// Its version (stats of different versions have different layouts).
    #[sea_orm(primary_key, auto_increment = false)]
    pub questionnaire_version: i32,
    /// Commune of the village: the stratum.
    #[sea_orm(primary_key, auto_increment = false)]
    pub commune_code: String,
    /// The village's normalised code (see `indices::cluster_key`): the cluster.
    #[sea_orm(primary_key, auto_increment = false)]
    pub cluster_key: String,
    /// Province of the commune.
    pub province_code: String,
    /// District of the commune, in geographies that have districts.
    pub district_code: Option<String>,
    /// The village code as the first form spelled it, for display.
    pub village_label: String,
    /// Forms counted.
    pub n_forms: i64,
    /// `ClusterStats::to_bytes`.
    pub counts: Vec<u8>,
    /// Bumped by every change of the row, so that a cache of a round's stats can tell cheaply
    /// whether it is still current (see `index_stats::stamp`).
    pub version: i64,
    /// Last change.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
