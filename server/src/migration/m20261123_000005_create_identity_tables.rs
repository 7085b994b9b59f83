//! Identity: users with a role and a geographic scope, refresh tokens (hashed, in rotation
//! families), enumerators' devices, and the append-only audit log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(string_len_uniq(Users::Username, 64))
                    .col(text(Users::FullName))
                    .col(string_len(Users::Role, 32))
                    .col(string_len_null(Users::GeographyCode, 32))
                    .col(string_len_null(Users::UnitCode, 16))
                    .col(string_len_null(Users::Team, 64))
                    .col(text(Users::PasswordHash))
                    .col(integer(Users::TokenGeneration))
                    .col(boolean(Users::Active))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(big_pk_auto(RefreshTokens::Id))
                    .col(big_integer(RefreshTokens::UserId))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(string_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(string_len_null(RefreshTokens::DeviceId, 128))
                    .col(timestamp_with_time_zone(RefreshTokens::IssuedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_user")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Devices::Table)
                    .col(string_len(Devices::Id, 128).primary_key())
                    .col(big_integer(Devices::UserId))
                    .col(string_len_null(Devices::AppVersion, 64))
                    .col(timestamp_with_time_zone(Devices::FirstSeenAt))
                    .col(timestamp_with_time_zone(Devices::LastSeenAt))
                    .col(timestamp_with_time_zone_null(Devices::LastHandshakeAt))
                    .col(timestamp_with_time_zone_null(Devices::LastPushAt))
                    .col(integer_null(Devices::ProtocolVersion))
                    .col(big_integer_null(Devices::ClockSkewMs))
                    .col(big_integer(Devices::FormsPushed).default(0))
                    .col(big_integer(Devices::FormsAccepted).default(0))
                    .col(timestamp_with_time_zone_null(Devices::RevokedAt))
                    .col(big_integer_null(Devices::RevokedBy))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Devices::Table, Devices::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string_len(AuditLog::Event, 64))
                    .col(big_integer_null(AuditLog::ActorId))
                    .col(string_len_null(AuditLog::ActorUsername, 64))
                    .col(string_len_null(AuditLog::Target, 256))
                    .col(string_len_null(AuditLog::Ip, 64))
                    .col(text(AuditLog::Details))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_event")
                    .table(AuditLog::Table)
                    .col(AuditLog::Event)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AuditLog::Table.into_iden(),
            Devices::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    FullName,
    Role,
    GeographyCode,
    UnitCode,
    Team,
    PasswordHash,
    TokenGeneration,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    DeviceId,
    IssuedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    UserId,
    AppVersion,
    FirstSeenAt,
    LastSeenAt,
    LastHandshakeAt,
    LastPushAt,
    ProtocolVersion,
    ClockSkewMs,
    FormsPushed,
    FormsAccepted,
    RevokedAt,
    RevokedBy,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    Event,
    ActorId,
    ActorUsername,
    Target,
    Ip,
    Details,
}
