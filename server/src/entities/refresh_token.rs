//! A refresh token (only its SHA-256 is stored), part of a rotation family.

use sea_orm::entity::prelude::*;

/// One row of `refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Surrogate id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// All tokens rotated from one login share a family; reuse revokes the family.
    pub family_id: Uuid,
    /// SHA-256 (hex) of the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Device the login came from.
    pub device_id: Option<String>,
    /// Issued.
    pub issued_at: TimeDateTimeWithTimeZone,
    /// Expires (sliding: each rotation issues a token with a fresh lifetime).
    pub expires_at: TimeDateTimeWithTimeZone,
    /// Set when rotated; a second use is a reuse.
    pub used_at: Option<TimeDateTimeWithTimeZone>,
    /// Set when revoked (logout, reuse, deactivation, password change).
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are navigated through the ORM.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
