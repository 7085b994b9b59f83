//! `frame_villages.latitude` / `longitude`: where a listed village is, when the village list
//! gives it (optional columns of the upload), so that a form's GPS point can be checked against
//! its village (`far_from_village`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FrameVillages {
    Table,
    Latitude,
    Longitude,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [FrameVillages::Latitude, FrameVillages::Longitude] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FrameVillages::Table)
                        .add_column(ColumnDef::new(col).double().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [FrameVillages::Latitude, FrameVillages::Longitude] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FrameVillages::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
