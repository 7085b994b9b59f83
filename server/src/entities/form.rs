//! An accepted form (submission).

use sea_orm::entity::prelude::*;

/// One row of `forms`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "forms")]
pub struct Model {
    /// Physical key, append-only.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The client-generated UUID: the form's identity.
    #[sea_orm(unique)]
    pub id: Uuid,
    /// The round.
    pub round_code: String,
    /// The questionnaire the form was filled on.
    pub questionnaire_code: String,
    /// Its version.
    pub questionnaire_version: i32,
    /// Province code.
    pub province_code: String,
    /// District code (rounds whose geography has districts).
    pub district_code: Option<String>,
    /// Commune code.
    pub commune_code: String,
    /// Village code (per round).
    pub village_code: String,
    /// The household's reference in the village frame.
    pub household_ref: String,
    /// Review status: `accepted` (received), `approved` or `rejected` (see `crate::review`).
    pub status: String,
    /// Revision number, 1 for the first submission.
    pub revision: i32,
    /// SHA-256 (hex) of the submitted content.
    pub content_hash: String,
    /// Device that submitted it.
    pub device_id: Option<String>,
    /// User who submitted it.
    pub submitted_by: Option<i64>,
    /// Device clock: started filling.
    pub started_at: Option<TimeDateTimeWithTimeZone>,
    /// Device clock: finished filling.
    pub finished_at: Option<TimeDateTimeWithTimeZone>,
    /// Server clock: first received.
    pub received_at: TimeDateTimeWithTimeZone,
    /// Server clock: last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
    /// GPS latitude.
    pub gps_lat: Option<f64>,
    /// GPS longitude.
    pub gps_lon: Option<f64>,
    /// Answers in the `schema` crate's compact encoding.
    pub answers: Vec<u8>,
    /// The household was not in the sender's assignments when the form arrived.
    pub unassigned: bool,
    /// Another form for the same household of the round was held when this one arrived.
    pub duplicate_household: bool,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
