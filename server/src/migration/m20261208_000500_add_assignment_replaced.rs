//! `assignments.replaced_refs`: the households taken off an assignment's list and replaced by a
//! reserve (JSON array of `{household, reserve, reason}`), so that a reserve released once, or a
//! household that refused, is never handed out again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Assignments {
    Table,
    ReplacedRefs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Assignments::Table)
                    .add_column(ColumnDef::new(Assignments::ReplacedRefs).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Assignments::Table)
                    .drop_column(Assignments::ReplacedRefs)
                    .to_owned(),
            )
            .await
    }
}
