//! Targets and action plans of a province for a round: targets (`SIPAS`, a component, a group or
//! an item `>=` a value), plans made of tasks (content, lead and cooperating agencies, deadline,
//! linked criteria, status) and the tasks' progress notes by period.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PlanTargets::Table)
                    .col(big_integer(PlanTargets::Id).primary_key().auto_increment())
                    .col(string_len(PlanTargets::RoundCode, 64))
                    .col(string_len(PlanTargets::ProvinceCode, 16))
                    .col(string_len(PlanTargets::FigureKey, 128))
                    .col(double(PlanTargets::Value))
                    .col(text_null(PlanTargets::Note))
                    .col(string_len(PlanTargets::UpdatedBy, 64))
                    .col(timestamp_with_time_zone(PlanTargets::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PlanTargets::Table, PlanTargets::RoundCode)
                            .to(Rounds::Table, Rounds::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_plan_targets_province")
                    .table(PlanTargets::Table)
                    .col(PlanTargets::RoundCode)
                    .col(PlanTargets::ProvinceCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .col(big_integer(Plans::Id).primary_key().auto_increment())
                    .col(string_len(Plans::RoundCode, 64))
                    .col(string_len(Plans::ProvinceCode, 16))
                    .col(text(Plans::Title))
                    .col(string_len(Plans::UpdatedBy, 64))
                    .col(timestamp_with_time_zone(Plans::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Plans::Table, Plans::RoundCode)
                            .to(Rounds::Table, Rounds::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_plans_province")
                    .table(Plans::Table)
                    .col(Plans::RoundCode)
                    .col(Plans::ProvinceCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlanTasks::Table)
                    .col(big_integer(PlanTasks::Id).primary_key().auto_increment())
                    .col(big_integer(PlanTasks::PlanId))
                    .col(integer(PlanTasks::Position))
                    .col(text(PlanTasks::Content))
                    .col(text(PlanTasks::LeadAgency))
                    .col(text(PlanTasks::CooperatingAgencies))
                    .col(string_len(PlanTasks::Deadline, 64))
                    .col(text(PlanTasks::Criteria))
                    .col(string_len(PlanTasks::Status, 16))
                    .col(string_len(PlanTasks::UpdatedBy, 64))
                    .col(timestamp_with_time_zone(PlanTasks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PlanTasks::Table, PlanTasks::PlanId)
                            .to(Plans::Table, Plans::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_plan_tasks_plan")
                    .table(PlanTasks::Table)
                    .col(PlanTasks::PlanId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlanProgress::Table)
                    .col(big_integer(PlanProgress::Id).primary_key().auto_increment())
                    .col(big_integer(PlanProgress::TaskId))
                    .col(string_len(PlanProgress::Period, 16))
                    .col(text(PlanProgress::Note))
                    .col(string_len(PlanProgress::RecordedBy, 64))
                    .col(timestamp_with_time_zone(PlanProgress::RecordedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PlanProgress::Table, PlanProgress::TaskId)
                            .to(PlanTasks::Table, PlanTasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_plan_progress_task")
                    .table(PlanProgress::Table)
                    .col(PlanProgress::TaskId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            PlanProgress::Table.into_iden(),
            PlanTasks::Table.into_iden(),
            Plans::Table.into_iden(),
            PlanTargets::Table.into_iden(),
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
enum PlanTargets {
    Table,
    Id,
    RoundCode,
    ProvinceCode,
    FigureKey,
    Value,
    Note,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Plans {
    Table,
    Id,
    RoundCode,
    ProvinceCode,
    Title,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlanTasks {
    Table,
    Id,
    PlanId,
    Position,
    Content,
    LeadAgency,
    CooperatingAgencies,
    Deadline,
    Criteria,
    Status,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlanProgress {
    Table,
    Id,
    TaskId,
    Period,
    Note,
    RecordedBy,
    RecordedAt,
}
