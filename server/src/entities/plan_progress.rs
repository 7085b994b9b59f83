//! A progress note of a plan task for a reporting period.

use sea_orm::entity::prelude::*;

/// One row of `plan_progress`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_progress")]
pub struct Model {
    /// Note id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Its task.
    pub task_id: i64,
    /// The period: `2023-Q1`…`2023-Q4`, `2023-H1`, `2023-H2` or `2023`.
    pub period: String,
    /// What was done.
    pub note: String,
    /// Who wrote it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
