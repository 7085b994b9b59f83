//! Administrative geographies, their units and the successor mapping between geographies.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Geographies::Table)
                    .col(string_len(Geographies::Code, 32).primary_key())
                    .col(text(Geographies::NameVi))
                    .col(text_null(Geographies::NameEn))
                    .col(text(Geographies::Levels))
                    .col(string_len(Geographies::DataHash, 64))
                    .col(timestamp_with_time_zone(Geographies::LoadedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GeoUnits::Table)
                    .col(string_len(GeoUnits::GeographyCode, 32))
                    .col(string_len(GeoUnits::Code, 16))
                    .col(string_len(GeoUnits::Level, 16))
                    .col(string_len(GeoUnits::UnitType, 64))
                    .col(text(GeoUnits::Name))
                    .col(text(GeoUnits::SearchKey))
                    .col(string_len_null(GeoUnits::ParentCode, 16))
                    .primary_key(
                        Index::create()
                            .col(GeoUnits::GeographyCode)
                            .col(GeoUnits::Code),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GeoUnits::Table, GeoUnits::GeographyCode)
                            .to(Geographies::Table, Geographies::Code)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_geo_units_parent")
                    .table(GeoUnits::Table)
                    .col(GeoUnits::GeographyCode)
                    .col(GeoUnits::ParentCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_geo_units_level")
                    .table(GeoUnits::Table)
                    .col(GeoUnits::GeographyCode)
                    .col(GeoUnits::Level)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GeoSuccessors::Table)
                    .col(string_len(GeoSuccessors::FromGeography, 32))
                    .col(string_len(GeoSuccessors::FromCode, 16))
                    .col(string_len(GeoSuccessors::ToGeography, 32))
                    .col(string_len(GeoSuccessors::ToCode, 16))
                    .col(boolean(GeoSuccessors::IsDefault))
                    .primary_key(
                        Index::create()
                            .col(GeoSuccessors::FromGeography)
                            .col(GeoSuccessors::FromCode)
                            .col(GeoSuccessors::ToGeography)
                            .col(GeoSuccessors::ToCode),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GeoMappings::Table)
                    .col(string_len(GeoMappings::FromGeography, 32))
                    .col(string_len(GeoMappings::ToGeography, 32))
                    .col(string_len(GeoMappings::DataHash, 64))
                    .col(timestamp_with_time_zone(GeoMappings::LoadedAt))
                    .primary_key(
                        Index::create()
                            .col(GeoMappings::FromGeography)
                            .col(GeoMappings::ToGeography),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_geo_successors_to")
                    .table(GeoSuccessors::Table)
                    .col(GeoSuccessors::ToGeography)
                    .col(GeoSuccessors::ToCode)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(GeoMappings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(GeoSuccessors::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(GeoUnits::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Geographies::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Geographies {
    Table,
    Code,
    NameVi,
    NameEn,
    Levels,
    DataHash,
    LoadedAt,
}

#[derive(DeriveIden)]
enum GeoUnits {
    Table,
    GeographyCode,
    Code,
    Level,
    UnitType,
    Name,
    SearchKey,
    ParentCode,
}

#[derive(DeriveIden)]
enum GeoSuccessors {
    Table,
    FromGeography,
    FromCode,
    ToGeography,
    ToCode,
    IsDefault,
}

#[derive(DeriveIden)]
enum GeoMappings {
    Table,
    FromGeography,
    ToGeography,
    DataHash,
    LoadedAt,
}
