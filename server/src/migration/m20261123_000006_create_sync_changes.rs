//! The change log devices pull from: questionnaire versions, rounds, units, returned forms.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncChanges::Table)
                    .col(big_pk_auto(SyncChanges::Seq))
                    .col(string_len(SyncChanges::Kind, 32))
                    .col(string_len_null(SyncChanges::RoundCode, 64))
                    .col(big_integer_null(SyncChanges::UserId))
                    .col(text(SyncChanges::Payload))
                    .col(timestamp_with_time_zone(SyncChanges::At))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncChanges::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SyncChanges {
    Table,
    Seq,
    Kind,
    RoundCode,
    UserId,
    Payload,
    At,
}
