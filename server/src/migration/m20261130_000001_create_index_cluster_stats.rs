//! Per-cluster sufficient statistics of the index engine: one row per round, questionnaire version
//! and village (cluster), kept up to date in the same transaction that accepts (or later removes)
//! a form, so indices never scan the forms.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IndexClusterStats::Table)
                    .col(string_len(IndexClusterStats::RoundCode, 64))
                    .col(string_len(IndexClusterStats::QuestionnaireCode, 64))
                    .col(integer(IndexClusterStats::QuestionnaireVersion))
                    .col(string_len(IndexClusterStats::CommuneCode, 16))
                    .col(string_len(IndexClusterStats::ClusterKey, 64))
                    .col(string_len(IndexClusterStats::ProvinceCode, 16))
                    .col(string_len_null(IndexClusterStats::DistrictCode, 16))
                    .col(string_len(IndexClusterStats::VillageLabel, 64))
                    .col(big_integer(IndexClusterStats::NForms))
                    .col(blob(IndexClusterStats::Counts))
                    .col(big_integer(IndexClusterStats::Version))
                    .col(timestamp_with_time_zone(IndexClusterStats::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(IndexClusterStats::RoundCode)
                            .col(IndexClusterStats::QuestionnaireCode)
                            .col(IndexClusterStats::QuestionnaireVersion)
                            .col(IndexClusterStats::CommuneCode)
                            .col(IndexClusterStats::ClusterKey),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IndexClusterStats::Table, IndexClusterStats::RoundCode)
                            .to(Rounds::Table, Rounds::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_index_cluster_stats_round_province")
                    .table(IndexClusterStats::Table)
                    .col(IndexClusterStats::RoundCode)
                    .col(IndexClusterStats::ProvinceCode)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            // The counts are rewritten by every push that touches the village and are already
            // compact (varints): compressing them on each write would cost more CPU than it saves.
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE index_cluster_stats ALTER COLUMN counts SET STORAGE EXTERNAL",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IndexClusterStats::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IndexClusterStats {
    Table,
    RoundCode,
    QuestionnaireCode,
    QuestionnaireVersion,
    CommuneCode,
    ClusterKey,
    ProvinceCode,
    DistrictCode,
    VillageLabel,
    NForms,
    Counts,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Rounds {
    Table,
    Code,
}
