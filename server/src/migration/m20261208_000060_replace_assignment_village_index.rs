//! An assignment is one enumerator's work in one village *of one commune*: village codes repeat
//! from commune to commune ("Bản 1"), and the unique index on `(round_code, enumerator_id,
//! village_code)` made a second commune's "Bản 1" overwrite the first's. The unique index is now
//! on `(round_code, enumerator_id, commune_code, village_code)`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD: &str = "idx_assignments_enumerator_village";
const NEW: &str = "idx_assignments_enumerator_commune_village";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NEW)
                    .table(Assignments::Table)
                    .col(Assignments::RoundCode)
                    .col(Assignments::EnumeratorId)
                    .col(Assignments::CommuneCode)
                    .col(Assignments::VillageCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(OLD).table(Assignments::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD)
                    .table(Assignments::Table)
                    .col(Assignments::RoundCode)
                    .col(Assignments::EnumeratorId)
                    .col(Assignments::VillageCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(NEW).table(Assignments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    RoundCode,
    EnumeratorId,
    CommuneCode,
    VillageCode,
}
