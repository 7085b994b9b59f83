//! Forms: the one builder of a form's row, storing one accepted form (validated, answers compactly
//! encoded, counted in the index statistics) outside the sync protocol, e.g. for imports and tests,
//! and changing a stored form's status. The sync protocol's push stores batches itself
//! (`sync::push`), with the same row builder and rules.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, TransactionSession,
    TransactionTrait,
};
use sync_protocol::{FieldProblem, FormSubmission, Outcome};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    definitions::Definitions,
    entities::{form, quarantined_form},
    index_stats::{FormPlace, PendingStats},
    text,
};

/// Who sent a form: the signed-in user and their device, as stored beside it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sender<'a> {
    /// The user's id.
    pub user: Option<i64>,
    /// The device's id.
    pub device: Option<&'a str>,
}

/// Why a form could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The answers are invalid for the questionnaire.
    #[error("invalid answers")]
    Invalid(Vec<schema::FieldError>),
    /// The form names a questionnaire version that is not published.
    #[error("questionnaire {0} v{1} is not published")]
    UnknownQuestionnaire(String, u32),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The `forms` row of an accepted form: `hash` is its content hash, `answers` the stored encoding
/// of its validated answers. The one place a form's fields become columns: push and
/// [`store_accepted`] both build rows here.
pub fn accepted_row<A>(
    f: &FormSubmission<A>,
    hash: &str,
    answers: Vec<u8>,
    by: Sender<'_>,
    now: OffsetDateTime,
) -> form::ActiveModel {
    form::ActiveModel {
        id: Set(f.id),
        round_code: Set(f.round.clone()),
        questionnaire_code: Set(f.questionnaire_code.clone()),
        questionnaire_version: Set(i32::try_from(f.questionnaire_version).unwrap_or(i32::MAX)),
        province_code: Set(f.units.province.clone()),
        district_code: Set(f.units.district.clone()),
        commune_code: Set(f.units.commune.clone()),
        village_code: Set(f.units.village.clone()),
        household_ref: Set(f.household_ref.clone()),
        status: Set(crate::review::Status::Received.as_str().into()),
        revision: Set(i32::try_from(f.revision).unwrap_or(i32::MAX)),
        content_hash: Set(hash.to_owned()),
        device_id: Set(by.device.map(str::to_owned)),
        submitted_by: Set(by.user),
        started_at: Set(f.started_at),
        finished_at: Set(f.finished_at),
        received_at: Set(now),
        updated_at: Set(now),
        gps_lat: Set(f.gps.map(|g| g.lat)),
        gps_lon: Set(f.gps.map(|g| g.lon)),
        answers: Set(answers),
        ..Default::default()
    }
}

/// What a quarantined payload is filed with.
#[derive(Debug, Clone, Copy)]
pub struct Quarantine<'a> {
    /// The form id it claims, if readable.
    pub id: Option<Uuid>,
    /// The round it claims, if readable.
    pub round: Option<&'a str>,
    /// Why it was not accepted.
    pub outcome: Outcome,
    /// The problems found.
    pub problems: &'a [FieldProblem],
    /// The payload as received.
    pub payload: &'a str,
    /// Its content hash, when it parsed (to answer a resend the same way).
    pub hash: Option<&'a str>,
}

/// The `quarantined_forms` row of a payload that was not accepted: nothing sent is lost.
pub fn quarantined_row(
    q: Quarantine<'_>,
    by: Sender<'_>,
    now: OffsetDateTime,
) -> quarantined_form::ActiveModel {
    quarantined_form::ActiveModel {
        form_id: Set(q.id),
        // Filed under the round it names only when that could be a round code: the payload
        // keeps whatever it says.
        round_code: Set(q
            .round
            .filter(|r| r.chars().count() <= text::max::ROUND && !text::has_control(r))
            .map(str::to_owned)),
        reason: Set(q.outcome.as_str().to_owned()),
        content_hash: Set(q.hash.map(str::to_owned)),
        errors: Set(serde_json::to_string(q.problems).unwrap_or_else(|_| "[]".into())),
        payload: Set(q.payload.to_owned()),
        device_id: Set(by.device.map(str::to_owned)),
        submitted_by: Set(by.user),
        received_at: Set(now),
        ..Default::default()
    }
}

/// Validates a form's answers against its questionnaire version and stores it as `accepted`,
/// adding it to its village's index statistics in the same transaction: a form that reaches the
/// server other than by push (an import, a test). Its round, units and the sender's scope are the
/// caller's to have checked; push decides those itself (`sync::push`).
pub async fn store_accepted(
    db: &(impl ConnectionTrait + TransactionTrait),
    definitions: &Definitions,
    f: &FormSubmission,
    by: Sender<'_>,
) -> Result<form::Model, StoreError> {
    let def = definitions
        .get(db, &f.questionnaire_code, f.questionnaire_version)
        .await?
        .ok_or_else(|| {
            StoreError::UnknownQuestionnaire(f.questionnaire_code.clone(), f.questionnaire_version)
        })?;
    let q = &def.questionnaire;
    let valid = schema::validate_with(q, &f.answers, f.not_required_answers())
        .map_err(StoreError::Invalid)?;
    let now = OffsetDateTime::now_utc();
    let digest = indices::FormDigest::of(&def.layout, &valid);
    let mut stats = PendingStats::default();
    stats
        .add(&def.layout, FormPlace::of(f), &digest)
        .map_err(|e| StoreError::Db(DbErr::Custom(format!("index stats: {e}"))))?;
    let measures =
        crate::quality::store::measures_of_submission(f, &def.layout.item_answers(&valid), now);
    let row = accepted_row(f, &f.content_hash(), valid.encode(q), by, now);
    let txn = db.begin().await?;
    let counted = crate::review::Counted::of_round(&txn, &f.round).await?;
    let stored = row.insert(&txn).await?;
    crate::quality::store::signal_row(f.id, &f.round, measures, now)
        .insert(&txn)
        .await?;
    if counted.counts(crate::review::Status::Received) {
        stats.apply(&txn, now).await?;
    }
    txn.commit().await?;
    Ok(stored)
}

/// Changes a stored form's status outside review (a repair, a test) and keeps the index
/// statistics right in the same transaction: a form entering or leaving the statuses its round
/// counts ([`crate::review::Counted`]) has its answers added to or taken out of its village's
/// counts. Returns the previous status, or `None` when no form has this id. Reviews go through
/// [`crate::review::apply`], which also keeps the history.
///
/// The row is locked (written) inside the transaction before it is read, so two concurrent
/// changes of one form cannot both add (or both remove) it.
pub async fn change_status(
    db: &sea_orm::DatabaseConnection,
    definitions: &Definitions,
    id: Uuid,
    status: &str,
) -> Result<Option<String>, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    let txn = db.begin().await?;
    let now = OffsetDateTime::now_utc();
    let Some(f) = crate::review::lock_form(&txn, id, now).await? else {
        return Ok(None);
    };
    let was = f.status.clone();
    let counted = crate::review::Counted::of_round(&txn, &f.round_code).await?;
    let counts = |s: &str| crate::review::Status::parse(s).is_some_and(|s| counted.counts(s));
    crate::review::restat(&txn, definitions, &f, counts(&was), counts(status), now).await?;
    form::Entity::update_many()
        .col_expr(form::Column::Status, Expr::value(status))
        .filter(form::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(was))
}
