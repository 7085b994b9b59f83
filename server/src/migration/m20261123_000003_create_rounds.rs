//! Survey rounds: a year, a questionnaire version, a geography and the sampling levels.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Rounds::Table)
                    .col(string_len(Rounds::Code, 64).primary_key())
                    .col(integer(Rounds::Year))
                    .col(text(Rounds::TitleVi))
                    .col(text_null(Rounds::TitleEn))
                    .col(string_len(Rounds::QuestionnaireCode, 64))
                    .col(integer(Rounds::QuestionnaireVersion))
                    .col(string_len(Rounds::GeographyCode, 32))
                    .col(text(Rounds::SamplingLevels))
                    .col(integer(Rounds::MinCellSize))
                    .col(string_len(Rounds::Status, 16))
                    .col(timestamp_with_time_zone(Rounds::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Rounds::Table, Rounds::GeographyCode)
                            .to(Geographies::Table, Geographies::Code),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Rounds::Table)
                            .from_col(Rounds::QuestionnaireCode)
                            .from_col(Rounds::QuestionnaireVersion)
                            .to_tbl(QuestionnaireVersions::Table)
                            .to_col(QuestionnaireVersions::Code)
                            .to_col(QuestionnaireVersions::Version),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Rounds::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Rounds {
    Table,
    Code,
    Year,
    TitleVi,
    TitleEn,
    QuestionnaireCode,
    QuestionnaireVersion,
    GeographyCode,
    SamplingLevels,
    MinCellSize,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Geographies {
    Table,
    Code,
}

#[derive(DeriveIden)]
enum QuestionnaireVersions {
    Table,
    Code,
    Version,
}
