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
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Rows filed twice before the index existed: later copies of a payload with the same id
        // and the same content, which were answered with the first row's outcome anyway. The
        // first row is kept.
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM quarantined_forms \
                 WHERE form_id IS NOT NULL AND content_hash IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM quarantined_forms AS first \
                   WHERE first.form_id = quarantined_forms.form_id \
                   AND first.content_hash = quarantined_forms.content_hash \
                   AND first.seq < quarantined_forms.seq)",
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
