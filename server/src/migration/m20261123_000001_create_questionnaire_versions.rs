//! Published questionnaire versions: immutable definitions with their content hash.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QuestionnaireVersions::Table)
                    .col(string_len(QuestionnaireVersions::Code, 64))
                    .col(integer(QuestionnaireVersions::Version))
                    .col(text(QuestionnaireVersions::TitleVi))
                    .col(text_null(QuestionnaireVersions::TitleEn))
                    .col(string_len(QuestionnaireVersions::Status, 16))
                    .col(string_len(QuestionnaireVersions::ContentHash, 64))
                    .col(text(QuestionnaireVersions::Definition))
                    .col(timestamp_with_time_zone(QuestionnaireVersions::PublishedAt))
                    .col(string_len_null(QuestionnaireVersions::PublishedBy, 128))
                    .primary_key(
                        Index::create()
                            .col(QuestionnaireVersions::Code)
                            .col(QuestionnaireVersions::Version),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(QuestionnaireVersions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum QuestionnaireVersions {
    Table,
    Code,
    Version,
    TitleVi,
    TitleEn,
    Status,
    ContentHash,
    Definition,
    PublishedAt,
    PublishedBy,
}
