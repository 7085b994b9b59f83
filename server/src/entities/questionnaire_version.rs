//! A published questionnaire version (immutable once published).

use sea_orm::entity::prelude::*;

/// One row of `questionnaire_versions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "questionnaire_versions")]
pub struct Model {
    /// Questionnaire code, e.g. `sipas`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// Version number, increasing.
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    /// Title in Vietnamese.
    pub title_vi: String,
    /// Title in English.
    pub title_en: Option<String>,
    /// `open` (accepting forms) or `closed`.
    pub status: String,
    /// SHA-256 (hex) of the canonical definition.
    pub content_hash: String,
    /// The canonical JSON definition.
    pub definition: String,
    /// When it was published.
    pub published_at: TimeDateTimeWithTimeZone,
    /// Who published it (`builtin` for the shipped questionnaire).
    pub published_by: Option<String>,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
