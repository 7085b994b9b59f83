//! Field operations: supervisors' assignments, the review of forms and what a round counts.
//!
//! - `forms` gains `unassigned` (the household was not in the sender's assignments when it
//!   arrived) and `duplicate_household` (another form for the same household of the same round
//!   was held already), both set by push and shown in reads;
//! - `rounds` gains `counted_states`: `received` (every form not rejected counts in the
//!   indices, as before) or `approved` (only approved forms count);
//! - `form_reviews`: the append-only history of every form's status changes (who, when, from,
//!   to, comment);
//! - `assignments`: a village (optionally a list of households in it) with a quantity, given by a
//!   supervisor to one enumerator of their team.
//!
//! An index on `forms (round_code, household_ref)` serves push's one lookup of the households a
//! push names.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too: a crash half-way would otherwise leave columns added
    /// that a second run would try to add again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Forms::Table)
                    .add_column(boolean(Forms::Unassigned).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Forms::Table)
                    .add_column(boolean(Forms::DuplicateHousehold).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Rounds::Table)
                    .add_column(string_len(Rounds::CountedStates, 16).default("received"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_forms_round_household")
                    .table(Forms::Table)
                    .col(Forms::RoundCode)
                    .col(Forms::HouseholdRef)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FormReviews::Table)
                    .col(big_pk_auto(FormReviews::Seq))
                    .col(uuid(FormReviews::FormId))
                    .col(string_len(FormReviews::RoundCode, 64))
                    .col(integer(FormReviews::Revision))
                    .col(string_len(FormReviews::FromStatus, 16))
                    .col(string_len(FormReviews::ToStatus, 16))
                    .col(text_null(FormReviews::Comment))
                    .col(big_integer_null(FormReviews::ByUser))
                    .col(string_len_null(FormReviews::ByUsername, 64))
                    .col(timestamp_with_time_zone(FormReviews::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_form_reviews_form")
                    .table(FormReviews::Table)
                    .col(FormReviews::FormId)
                    .col(FormReviews::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Assignments::Table)
                    .col(big_pk_auto(Assignments::Id))
                    .col(string_len(Assignments::RoundCode, 64))
                    .col(big_integer(Assignments::EnumeratorId))
                    .col(string_len(Assignments::ProvinceCode, 16))
                    .col(string_len_null(Assignments::DistrictCode, 16))
                    .col(string_len(Assignments::CommuneCode, 16))
                    .col(string_len(Assignments::VillageCode, 64))
                    .col(text_null(Assignments::HouseholdRefs))
                    .col(integer(Assignments::Quantity))
                    .col(big_integer_null(Assignments::CreatedBy))
                    .col(timestamp_with_time_zone(Assignments::CreatedAt))
                    .col(timestamp_with_time_zone(Assignments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Assignments::Table, Assignments::RoundCode)
                            .to(Rounds::Table, Rounds::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_assignments_enumerator_village")
                    .table(Assignments::Table)
                    .col(Assignments::RoundCode)
                    .col(Assignments::EnumeratorId)
                    .col(Assignments::VillageCode)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Assignments::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(FormReviews::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_forms_round_household")
                    .table(Forms::Table)
                    .to_owned(),
            )
            .await?;
        for (table, col) in [
            (Forms::Table.into_iden(), Forms::Unassigned.into_iden()),
            (
                Forms::Table.into_iden(),
                Forms::DuplicateHousehold.into_iden(),
            ),
            (Rounds::Table.into_iden(), Rounds::CountedStates.into_iden()),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Forms {
    Table,
    RoundCode,
    HouseholdRef,
    Unassigned,
    DuplicateHousehold,
}

#[derive(DeriveIden)]
enum Rounds {
    Table,
    Code,
    CountedStates,
}

#[derive(DeriveIden)]
enum FormReviews {
    Table,
    Seq,
    FormId,
    RoundCode,
    Revision,
    FromStatus,
    ToStatus,
    Comment,
    ByUser,
    ByUsername,
    At,
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    Id,
    RoundCode,
    EnumeratorId,
    ProvinceCode,
    DistrictCode,
    CommuneCode,
    VillageCode,
    HouseholdRefs,
    Quantity,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}
