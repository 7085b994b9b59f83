//! `form_signals`: the field-quality measures of each stored form (see `crate::quality`), one row
//! per form id, written with the form and recomputed when a corrected revision replaces it. No
//! index beyond the key: the quality report reads the rows of the forms it selects by their id,
//! and a second index would cost every push (deleting a practice round scans the table).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FormSignals::Table)
                    .col(uuid(FormSignals::FormId).primary_key())
                    .col(string_len(FormSignals::RoundCode, 64))
                    .col(big_integer_null(FormSignals::DurationS))
                    .col(big_integer_null(FormSignals::DeviceAheadS))
                    .col(integer_null(FormSignals::LocalHour))
                    .col(integer(FormSignals::LongestRun))
                    .col(integer(FormSignals::Answered))
                    .col(double_null(FormSignals::Variance))
                    .col(double_null(FormSignals::DontKnowShare))
                    .col(boolean(FormSignals::GpsMissing))
                    .col(string_len(FormSignals::Items, 255))
                    .col(timestamp_with_time_zone(FormSignals::ComputedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FormSignals::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum FormSignals {
    Table,
    FormId,
    RoundCode,
    DurationS,
    DeviceAheadS,
    LocalHour,
    LongestRun,
    Answered,
    Variance,
    DontKnowShare,
    GpsMissing,
    Items,
    ComputedAt,
}
