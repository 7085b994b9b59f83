//! Database migrations, in order. A migration that has landed is never edited: changes come as new
//! migrations named `mYYYYMMDD_NNNNNN_verb_noun`.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_questionnaire_versions;
mod m20261123_000002_create_geography_tables;
mod m20261123_000003_create_rounds;
mod m20261123_000004_create_forms;
mod m20261123_000005_create_identity_tables;
mod m20261123_000006_create_sync_changes;
mod m20261130_000001_create_index_cluster_stats;
mod m20261201_000001_create_quarantined_payload_index;
mod m20261207_000001_create_review_tables;
mod m20261207_000050_create_sampling_tables;
mod m20261207_000100_add_round_practice;
mod m20261208_000050_create_forms_updated_index;
mod m20261208_000060_replace_assignment_village_index;
mod m20261208_000100_create_form_signals;
mod m20261208_000200_create_plan_tables;
mod m20261208_000300_create_round_quality_settings;
mod m20261208_000400_add_village_location;
mod m20261208_000500_add_assignment_replaced;

/// Runs the migrations above; used at server start and by `sipas migrate`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_questionnaire_versions::Migration),
            Box::new(m20261123_000002_create_geography_tables::Migration),
            Box::new(m20261123_000003_create_rounds::Migration),
            Box::new(m20261123_000004_create_forms::Migration),
            Box::new(m20261123_000005_create_identity_tables::Migration),
            Box::new(m20261123_000006_create_sync_changes::Migration),
            Box::new(m20261130_000001_create_index_cluster_stats::Migration),
            Box::new(m20261201_000001_create_quarantined_payload_index::Migration),
            Box::new(m20261207_000001_create_review_tables::Migration),
            Box::new(m20261207_000050_create_sampling_tables::Migration),
            Box::new(m20261207_000100_add_round_practice::Migration),
            Box::new(m20261208_000050_create_forms_updated_index::Migration),
            Box::new(m20261208_000060_replace_assignment_village_index::Migration),
            Box::new(m20261208_000100_create_form_signals::Migration),
            Box::new(m20261208_000200_create_plan_tables::Migration),
            Box::new(m20261208_000300_create_round_quality_settings::Migration),
            Box::new(m20261208_000400_add_village_location::Migration),
            Box::new(m20261208_000500_add_assignment_replaced::Migration),
        ]
    }
}
