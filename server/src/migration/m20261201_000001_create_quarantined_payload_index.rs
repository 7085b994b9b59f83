//! One quarantine row per payload: a unique index on (`form_id`, `content_hash`) of
//! `quarantined_forms`, so that the database, not a lookup in one server process, keeps a payload
//! from being filed twice when two servers (or two pushes) receive it at the same moment. The push
//! that meets the index tries again, finds the row, and answers its first outcome.
//!
//! Malformed payloads have no content hash (NULL): they are not constrained, as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The index this migration creates.
const PAYLOAD_INDEX: &str = "idx_quarantined_forms_payload";

/// The index on `form_id` alone, which the new one (led by `form_id`) replaces.
const FORM_ID_INDEX: &str = "idx_quarantined_forms_form_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too: a crash between creating the index and recording the
    /// migration would otherwise leave a migration that cannot run again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    /// Deletes the rows a payload was filed in twice before the index existed (later copies of
    /// a payload with the same form id and content hash: the same form sent again, its text
    /// differing at most in spacing or key order), keeping the first, then creates the index.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            // A server of the previous version still running (a rolling deploy) could file a
            // copy between the DELETE and the index; this lock holds its inserts until the
            // migration commits. SQLite's write lock, taken by the DELETE, does the same.
            db.execute_unprepared("LOCK TABLE quarantined_forms IN SHARE ROW EXCLUSIVE MODE")
                .await?;
        }
        db.execute_unprepared(
            "DELETE FROM quarantined_forms \
             WHERE form_id IS NOT NULL AND content_hash IS NOT NULL \
             AND EXISTS (SELECT 1 FROM quarantined_forms AS earlier \
               WHERE earlier.form_id = quarantined_forms.form_id \
               AND earlier.content_hash = quarantined_forms.content_hash \
               AND earlier.seq < quarantined_forms.seq)",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name(PAYLOAD_INDEX)
                    .table(QuarantinedForms::Table)
                    .col(QuarantinedForms::FormId)
                    .col(QuarantinedForms::ContentHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(FORM_ID_INDEX)
                    .table(QuarantinedForms::Table)
                    .to_owned(),
            )
            .await
    }

    /// Brings the `form_id` index back and drops the unique one; the copies `up` deleted are not
    /// brought back.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(FORM_ID_INDEX)
                    .table(QuarantinedForms::Table)
                    .col(QuarantinedForms::FormId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(PAYLOAD_INDEX)
                    .table(QuarantinedForms::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum QuarantinedForms {
    Table,
    FormId,
    ContentHash,
}
