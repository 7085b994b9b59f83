//! A task of an action plan.

use sea_orm::entity::prelude::*;

/// One row of `plan_tasks`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_tasks")]
pub struct Model {
    /// Task id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Its plan.
    pub plan_id: i64,
    /// Order in the plan's table (1-based).
    pub position: i32,
    /// What is to be done.
    pub content: String,
    /// Lead agency.
    pub lead_agency: String,
    /// Cooperating agencies, JSON array of strings.
    pub cooperating_agencies: String,
    /// Deadline as written ("Quý III/2023", "Thường xuyên", "2023-09-30").
    pub deadline: String,
    /// Linked criteria (figure keys), JSON array of strings.
    pub criteria: String,
    /// `planned`, `in_progress`, `done` or `cancelled`.
    pub status: String,
    /// Who changed it last.
    pub updated_by: String,
    /// When.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
