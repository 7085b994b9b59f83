//! An index on `forms (round_code, updated_at)`: the last change of a round's forms is one index
//! lookup (an export's ETag reads it before the first byte is sent, instead of counting the
//! round's rows), and an incremental export (`since=`) reads only the forms changed since.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_forms_round_updated")
                    .table(Forms::Table)
                    .col(Forms::RoundCode)
                    .col(Forms::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_forms_round_updated")
                    .table(Forms::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Forms {
    Table,
    RoundCode,
    UpdatedAt,
}
