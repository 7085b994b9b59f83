//! Forms: storing one accepted form (validated, answers compactly encoded, counted in the index
//! statistics) outside the sync protocol, e.g. for imports and tests, and the content hash of a
//! stored form. The sync protocol's push stores batches itself (`sync::push`), with the same rules.

use std::sync::Arc;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, TransactionSession,
    TransactionTrait,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    entities::form,
    index_stats::{COUNTED_STATUS, FormPlace, PendingStats},
};

/// A form to store, already checked against its round and the submitter's scope.
#[derive(Debug, Clone)]
pub struct NewForm {
    /// Client-generated id.
    pub id: Uuid,
    /// Round code.
    pub round_code: String,
    /// Province code.
    pub province_code: String,
    /// District code (2023-style geographies).
    pub district_code: Option<String>,
    /// Commune code.
    pub commune_code: String,
    /// Village code.
    pub village_code: String,
    /// Household reference.
    pub household_ref: String,
    /// Revision (1 for a first submission).
    pub revision: i32,
    /// Submitting device.
    pub device_id: Option<String>,
    /// Submitting user.
    pub submitted_by: Option<i64>,
    /// Device clock: started.
    pub started_at: Option<OffsetDateTime>,
    /// Device clock: finished.
    pub finished_at: Option<OffsetDateTime>,
    /// GPS (lat, lon).
    pub gps: Option<(f64, f64)>,
    /// The answers as received.
    pub answers: schema::Answers,
}

/// Why a form could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The answers are invalid for the questionnaire.
    #[error("invalid answers")]
    Invalid(Vec<schema::FieldError>),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// SHA-256 (hex) of what a form says, exactly as the sync protocol defines it
/// ([`sync_protocol::FormSubmission::content_hash`]), so a device can reproduce it.
pub fn content_hash(q: &schema::Questionnaire, f: &NewForm) -> String {
    sync_protocol::FormSubmission {
        id: f.id,
        round: f.round_code.clone(),
        questionnaire_code: q.code.clone(),
        questionnaire_version: q.version,
        revision: u32::try_from(f.revision).unwrap_or(0),
        units: sync_protocol::FormUnits {
            province: f.province_code.clone(),
            district: f.district_code.clone(),
            commune: f.commune_code.clone(),
            village: f.village_code.clone(),
        },
        household_ref: f.household_ref.clone(),
        started_at: f.started_at,
        finished_at: f.finished_at,
        gps: f.gps.map(|(lat, lon)| sync_protocol::Gps {
            lat,
            lon,
            accuracy_m: None,
        }),
        answers: f.answers.clone(),
    }
    .content_hash()
}

/// Validates the answers against `q` and stores the form as `accepted`, adding it to its village's
/// index statistics in the same transaction.
pub async fn store_accepted(
    db: &(impl ConnectionTrait + TransactionTrait),
    q: &schema::Questionnaire,
    f: NewForm,
) -> Result<form::Model, StoreError> {
    let valid = schema::validate(q, &f.answers).map_err(StoreError::Invalid)?;
    let now = OffsetDateTime::now_utc();
    let hash = content_hash(q, &f);
    let layout = Arc::new(indices::StatsLayout::new(q));
    let digest = indices::FormDigest::of(&layout, &valid);
    let mut stats = PendingStats::default();
    stats
        .add(
            &layout,
            FormPlace {
                round: &f.round_code,
                province: &f.province_code,
                district: f.district_code.as_deref(),
                commune: &f.commune_code,
                village: &f.village_code,
            },
            &digest,
        )
        .map_err(|e| StoreError::Db(DbErr::Custom(format!("index stats: {e}"))))?;
    let row = form::ActiveModel {
        id: Set(f.id),
        round_code: Set(f.round_code),
        questionnaire_code: Set(q.code.clone()),
        questionnaire_version: Set(q.version as i32),
        province_code: Set(f.province_code),
        district_code: Set(f.district_code),
        commune_code: Set(f.commune_code),
        village_code: Set(f.village_code),
        household_ref: Set(f.household_ref),
        status: Set(COUNTED_STATUS.into()),
        revision: Set(f.revision),
        content_hash: Set(hash),
        device_id: Set(f.device_id),
        submitted_by: Set(f.submitted_by),
        started_at: Set(f.started_at),
        finished_at: Set(f.finished_at),
        received_at: Set(now),
        updated_at: Set(now),
        gps_lat: Set(f.gps.map(|g| g.0)),
        gps_lon: Set(f.gps.map(|g| g.1)),
        answers: Set(valid.encode(q)),
        ..Default::default()
    };
    let txn = db.begin().await?;
    let stored = row.insert(&txn).await?;
    stats.apply(&txn, now).await?;
    txn.commit().await?;
    Ok(stored)
}

/// Changes a stored form's status (e.g. a supervisor rejecting an accepted form) and keeps the
/// index statistics right in the same transaction: leaving the counted status
/// ([`crate::index_stats::COUNTED_STATUS`]) takes the form's answers out of its village's counts,
/// entering it adds them. Returns the previous status, or `None` when no form has this id.
///
/// The row is re-read inside the transaction, so two concurrent changes of one form cannot both
/// add (or both remove) it: on PostgreSQL the status update locks the row first.
pub async fn change_status(
    db: &(impl ConnectionTrait + TransactionTrait),
    questionnaires: &crate::sync::QuestionnaireCache,
    layouts: &crate::index_stats::Layouts,
    id: Uuid,
    status: &str,
) -> Result<Option<String>, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    let txn = db.begin().await?;
    let now = OffsetDateTime::now_utc();
    // Lock the row (a write) before reading what it holds.
    let touched = form::Entity::update_many()
        .col_expr(form::Column::UpdatedAt, Expr::value(now))
        .filter(form::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    if touched.rows_affected == 0 {
        return Ok(None);
    }
    let Some(f) = form::Entity::find()
        .filter(form::Column::Id.eq(id))
        .one(&txn)
        .await?
    else {
        return Ok(None);
    };
    let was = f.status.clone();
    let (counted_before, counted_after) = (was == COUNTED_STATUS, status == COUNTED_STATUS);
    if counted_before != counted_after {
        let version = u32::try_from(f.questionnaire_version).unwrap_or(0);
        let q = questionnaires
            .get(&txn, &f.questionnaire_code, version)
            .await?
            .ok_or_else(|| {
                DbErr::Custom(format!(
                    "form {id} uses unknown questionnaire {} v{}",
                    f.questionnaire_code, f.questionnaire_version
                ))
            })?;
        let valid = schema::ValidAnswers::decode(&q, &f.answers)
            .map_err(|e| DbErr::Custom(format!("form {id} answers do not decode: {e}")))?;
        let place = FormPlace {
            round: &f.round_code,
            province: &f.province_code,
            district: f.district_code.as_deref(),
            commune: &f.commune_code,
            village: &f.village_code,
        };
        let layout = layouts.get(&q);
        let digest = indices::FormDigest::of(&layout, &valid);
        let mut stats = PendingStats::default();
        let changed = if counted_after {
            stats.add(&layout, place, &digest)
        } else {
            stats.remove(&layout, place, &digest)
        };
        changed.map_err(|e| DbErr::Custom(format!("index stats of form {id}: {e}")))?;
        stats.apply(&txn, now).await?;
    }
    form::Entity::update_many()
        .col_expr(form::Column::Status, Expr::value(status))
        .filter(form::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(was))
}
