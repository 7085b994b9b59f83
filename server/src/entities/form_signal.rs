//! A stored form's field-quality measures (see `crate::quality::Measures`).

use sea_orm::entity::prelude::*;

/// One row of `form_signals`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "form_signals")]
pub struct Model {
    /// The form (`forms.id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub form_id: Uuid,
    /// Its round.
    pub round_code: String,
    /// Finished − started, seconds.
    pub duration_s: Option<i64>,
    /// Latest device time − received time, seconds.
    pub device_ahead_s: Option<i64>,
    /// Local hour it started at.
    pub local_hour: Option<i32>,
    /// Longest run of one level over the index items.
    pub longest_run: i32,
    /// Index items answered with a level.
    pub answered: i32,
    /// Variance of those levels.
    pub variance: Option<f64>,
    /// Share of special answers ("don't know").
    pub dont_know_share: Option<f64>,
    /// No GPS fix.
    pub gps_missing: bool,
    /// The index items' answers, one character each (`crate::quality::items_text`).
    pub items: String,
    /// When computed.
    pub computed_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
