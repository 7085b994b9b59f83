//! A user: ministry staff, a province reviewer, a supervisor or an enumerator.

use sea_orm::entity::prelude::*;

/// One row of `users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Surrogate id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Login name, lowercase.
    #[sea_orm(unique)]
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// `ministry`, `province_reviewer`, `supervisor` or `enumerator`.
    pub role: String,
    /// Geography of the scope unit (none for the ministry).
    pub geography_code: Option<String>,
    /// Scope unit code (none for the ministry).
    pub unit_code: Option<String>,
    /// Field team (supervisors and enumerators).
    pub team: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Bumped to invalidate every access token issued before.
    pub token_generation: i32,
    /// False once deactivated.
    pub active: bool,
    /// Created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// Last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
