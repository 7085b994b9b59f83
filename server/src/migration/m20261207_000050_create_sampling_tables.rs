//! The sample: each round's design, the frames provinces upload (village lists, household lists),
//! and the draws with every unit's selection probability at each stage.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RoundDesigns::Table)
                    .col(string_len(RoundDesigns::RoundCode, 64).primary_key())
                    .col(text(RoundDesigns::Design))
                    .col(string_len(RoundDesigns::SetBy, 64))
                    .col(timestamp_with_time_zone(RoundDesigns::SetAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RoundDesigns::Table, RoundDesigns::RoundCode)
                            .to(Rounds::Table, Rounds::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Frames::Table)
                    .col(string_len(Frames::RoundCode, 64))
                    .col(string_len(Frames::ProvinceCode, 16))
                    .col(string_len(Frames::VillagesHash, 64))
                    .col(big_integer(Frames::Villages))
                    .col(string_len(Frames::UpdatedBy, 64))
                    .col(timestamp_with_time_zone(Frames::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Frames::RoundCode)
                            .col(Frames::ProvinceCode),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Frames::Table, Frames::RoundCode)
                            .to(Rounds::Table, Rounds::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FrameVillages::Table)
                    .col(string_len(FrameVillages::RoundCode, 64))
                    .col(string_len(FrameVillages::CommuneCode, 16))
                    .col(string_len(FrameVillages::VillageKey, 64))
                    .col(string_len(FrameVillages::ProvinceCode, 16))
                    .col(string_len_null(FrameVillages::DistrictCode, 16))
                    .col(string_len(FrameVillages::VillageCode, 64))
                    .col(text(FrameVillages::VillageName))
                    .col(big_integer(FrameVillages::Households))
                    .col(big_integer(FrameVillages::HouseholdsListed))
                    .col(string_len_null(FrameVillages::HouseholdsHash, 64))
                    .primary_key(
                        Index::create()
                            .col(FrameVillages::RoundCode)
                            .col(FrameVillages::CommuneCode)
                            .col(FrameVillages::VillageKey),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_frame_villages_province")
                    .table(FrameVillages::Table)
                    .col(FrameVillages::RoundCode)
                    .col(FrameVillages::ProvinceCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FrameHouseholds::Table)
                    .col(string_len(FrameHouseholds::RoundCode, 64))
                    .col(string_len(FrameHouseholds::CommuneCode, 16))
                    .col(string_len(FrameHouseholds::VillageKey, 64))
                    .col(string_len(FrameHouseholds::HouseholdRef, 64))
                    .col(text(FrameHouseholds::HeadName))
                    .primary_key(
                        Index::create()
                            .col(FrameHouseholds::RoundCode)
                            .col(FrameHouseholds::CommuneCode)
                            .col(FrameHouseholds::VillageKey)
                            .col(FrameHouseholds::HouseholdRef),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SampleDraws::Table)
                    .col(big_integer(SampleDraws::Id).primary_key().auto_increment())
                    .col(string_len(SampleDraws::RoundCode, 64))
                    .col(string_len(SampleDraws::ProvinceCode, 16))
                    .col(big_integer(SampleDraws::Seed))
                    .col(string_len(SampleDraws::Algorithm, 32))
                    .col(text(SampleDraws::Design))
                    .col(string_len(SampleDraws::FrameHash, 64))
                    .col(string_len(SampleDraws::Status, 16))
                    .col(text_null(SampleDraws::Reason))
                    .col(big_integer_null(SampleDraws::Replaces))
                    .col(string_len(SampleDraws::DrawnBy, 64))
                    .col(timestamp_with_time_zone(SampleDraws::DrawnAt))
                    .col(string_len_null(SampleDraws::SupersededBy, 64))
                    .col(timestamp_with_time_zone_null(SampleDraws::SupersededAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SampleDraws::Table, SampleDraws::RoundCode)
                            .to(Rounds::Table, Rounds::Code),
                    )
                    .to_owned(),
            )
            .await?;
        // One active draw per round and province: two draws racing for it, one wins. Partial
        // unique indexes read the same on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_sample_draws_active ON sample_draws (round_code, province_code) WHERE status = 'active'",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SampleUnits::Table)
                    .col(big_integer(SampleUnits::DrawId))
                    .col(integer(SampleUnits::Stage))
                    .col(string_len(SampleUnits::ParentCode, 96))
                    .col(string_len(SampleUnits::UnitCode, 64))
                    .col(string_len(SampleUnits::Level, 16))
                    .col(string_len_null(SampleUnits::CommuneCode, 16))
                    .col(string_len_null(SampleUnits::VillageKey, 64))
                    .col(text_null(SampleUnits::Name))
                    .col(integer(SampleUnits::Ord))
                    .col(boolean(SampleUnits::Certainty))
                    .col(big_integer(SampleUnits::Size))
                    .col(big_integer(SampleUnits::ProbNum))
                    .col(big_integer(SampleUnits::ProbDen))
                    .col(double(SampleUnits::InclusionProbability))
                    .primary_key(
                        Index::create()
                            .col(SampleUnits::DrawId)
                            .col(SampleUnits::Stage)
                            .col(SampleUnits::ParentCode)
                            .col(SampleUnits::UnitCode),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SampleUnits::Table, SampleUnits::DrawId)
                            .to(SampleDraws::Table, SampleDraws::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SampleHouseholds::Table)
                    .col(big_integer(SampleHouseholds::DrawId))
                    .col(string_len(SampleHouseholds::CommuneCode, 16))
                    .col(string_len(SampleHouseholds::VillageKey, 64))
                    .col(string_len(SampleHouseholds::HouseholdRef, 64))
                    .col(string_len(SampleHouseholds::VillageCode, 64))
                    .col(text(SampleHouseholds::HeadName))
                    .col(integer(SampleHouseholds::Ord))
                    .col(boolean(SampleHouseholds::Reserve))
                    .col(big_integer(SampleHouseholds::ProbNum))
                    .col(big_integer(SampleHouseholds::ProbDen))
                    .col(double(SampleHouseholds::InclusionProbability))
                    .col(double(SampleHouseholds::Weight))
                    .primary_key(
                        Index::create()
                            .col(SampleHouseholds::DrawId)
                            .col(SampleHouseholds::CommuneCode)
                            .col(SampleHouseholds::VillageKey)
                            .col(SampleHouseholds::HouseholdRef),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SampleHouseholds::Table, SampleHouseholds::DrawId)
                            .to(SampleDraws::Table, SampleDraws::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            SampleHouseholds::Table.into_iden(),
            SampleUnits::Table.into_iden(),
            SampleDraws::Table.into_iden(),
            FrameHouseholds::Table.into_iden(),
            FrameVillages::Table.into_iden(),
            Frames::Table.into_iden(),
            RoundDesigns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Rounds {
    Table,
    Code,
}

#[derive(DeriveIden)]
enum RoundDesigns {
    Table,
    RoundCode,
    Design,
    SetBy,
    SetAt,
}

#[derive(DeriveIden)]
enum Frames {
    Table,
    RoundCode,
    ProvinceCode,
    VillagesHash,
    Villages,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FrameVillages {
    Table,
    RoundCode,
    CommuneCode,
    VillageKey,
    ProvinceCode,
    DistrictCode,
    VillageCode,
    VillageName,
    Households,
    HouseholdsListed,
    HouseholdsHash,
}

#[derive(DeriveIden)]
enum FrameHouseholds {
    Table,
    RoundCode,
    CommuneCode,
    VillageKey,
    HouseholdRef,
    HeadName,
}

#[derive(DeriveIden)]
enum SampleDraws {
    Table,
    Id,
    RoundCode,
    ProvinceCode,
    Seed,
    Algorithm,
    Design,
    FrameHash,
    Status,
    Reason,
    Replaces,
    DrawnBy,
    DrawnAt,
    SupersededBy,
    SupersededAt,
}

#[derive(DeriveIden)]
enum SampleUnits {
    Table,
    DrawId,
    Stage,
    ParentCode,
    UnitCode,
    Level,
    CommuneCode,
    VillageKey,
    Name,
    Ord,
    Certainty,
    Size,
    ProbNum,
    ProbDen,
    InclusionProbability,
}

#[derive(DeriveIden)]
enum SampleHouseholds {
    Table,
    DrawId,
    CommuneCode,
    VillageKey,
    HouseholdRef,
    VillageCode,
    HeadName,
    Ord,
    Reserve,
    ProbNum,
    ProbDen,
    InclusionProbability,
    Weight,
}
