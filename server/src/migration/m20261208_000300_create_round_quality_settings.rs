//! `round_quality_settings`: the field-quality thresholds a round sets (see
//! `crate::quality::QualitySettings`), one row per round that departs from the defaults. The
//! thresholds apply when signals are read, so changing them recomputes nothing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RoundQualitySettings::Table)
                    .col(string_len(RoundQualitySettings::RoundCode, 64).primary_key())
                    .col(text(RoundQualitySettings::Settings))
                    .col(string_len(RoundQualitySettings::UpdatedBy, 64))
                    .col(timestamp_with_time_zone(RoundQualitySettings::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RoundQualitySettings::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RoundQualitySettings {
    Table,
    RoundCode,
    Settings,
    UpdatedBy,
    UpdatedAt,
}
