//! Forms (accepted submissions) and quarantined payloads.
//!
//! `forms.seq` is the physical primary key (append-only, so inserts stay sequential whatever ids
//! clients send: random v4 UUIDs as a clustered key cost SQLite ~5x in batch ingest); `forms.id`, the
//! client's UUID, is the logical key and is unique. Answers are stored in the `schema` crate's compact
//! binary encoding (~150 bytes a form instead of ~4 KB of JSON).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Forms::Table)
                    .col(big_pk_auto(Forms::Seq))
                    .col(uuid_uniq(Forms::Id))
                    .col(string_len(Forms::RoundCode, 64))
                    .col(string_len(Forms::QuestionnaireCode, 64))
                    .col(integer(Forms::QuestionnaireVersion))
                    .col(string_len(Forms::ProvinceCode, 16))
                    .col(string_len_null(Forms::DistrictCode, 16))
                    .col(string_len(Forms::CommuneCode, 16))
                    .col(string_len(Forms::VillageCode, 64))
                    .col(string_len(Forms::HouseholdRef, 64))
                    .col(string_len(Forms::Status, 16))
                    .col(integer(Forms::Revision))
                    .col(string_len(Forms::ContentHash, 64))
                    .col(string_len_null(Forms::DeviceId, 128))
                    .col(big_integer_null(Forms::SubmittedBy))
                    .col(timestamp_with_time_zone_null(Forms::StartedAt))
                    .col(timestamp_with_time_zone_null(Forms::FinishedAt))
                    .col(timestamp_with_time_zone(Forms::ReceivedAt))
                    .col(timestamp_with_time_zone(Forms::UpdatedAt))
                    .col(double_null(Forms::GpsLat))
                    .col(double_null(Forms::GpsLon))
                    .col(blob(Forms::Answers))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Forms::Table, Forms::RoundCode)
                            .to(Rounds::Table, Rounds::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_forms_round_units")
                    .table(Forms::Table)
                    .col(Forms::RoundCode)
                    .col(Forms::ProvinceCode)
                    .col(Forms::DistrictCode)
                    .col(Forms::CommuneCode)
                    .col(Forms::VillageCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(QuarantinedForms::Table)
                    .col(big_pk_auto(QuarantinedForms::Seq))
                    .col(uuid_null(QuarantinedForms::FormId))
                    .col(string_len_null(QuarantinedForms::RoundCode, 64))
                    .col(string_len(QuarantinedForms::Reason, 32))
                    .col(string_len_null(QuarantinedForms::ContentHash, 64))
                    .col(text(QuarantinedForms::Errors))
                    .col(text(QuarantinedForms::Payload))
                    .col(string_len_null(QuarantinedForms::DeviceId, 128))
                    .col(big_integer_null(QuarantinedForms::SubmittedBy))
                    .col(timestamp_with_time_zone(QuarantinedForms::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_quarantined_forms_form_id")
                    .table(QuarantinedForms::Table)
                    .col(QuarantinedForms::FormId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(QuarantinedForms::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Forms::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Forms {
    Table,
    Seq,
    Id,
    RoundCode,
    QuestionnaireCode,
    QuestionnaireVersion,
    ProvinceCode,
    DistrictCode,
    CommuneCode,
    VillageCode,
    HouseholdRef,
    Status,
    Revision,
    ContentHash,
    DeviceId,
    SubmittedBy,
    StartedAt,
    FinishedAt,
    ReceivedAt,
    UpdatedAt,
    GpsLat,
    GpsLon,
    Answers,
}

#[derive(DeriveIden)]
enum QuarantinedForms {
    Table,
    Seq,
    FormId,
    RoundCode,
    Reason,
    ContentHash,
    Errors,
    Payload,
    DeviceId,
    SubmittedBy,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Rounds {
    Table,
    Code,
}
