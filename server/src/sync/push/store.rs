//! Deciding and storing a prepared push, tried again when another push stored one of its forms
//! first.
//!
//! The forms are inserted with a plain INSERT (no ON CONFLICT: about a fifth cheaper on
//! PostgreSQL, measured in `benches/push.rs`). The first attempt assumes every id is new, as
//! nearly every push's are, and reads nothing about them: if every form is accepted, the unique
//! index alone stands between a held id and a second copy. If it fires (a resend, or another push
//! storing the same id meanwhile), or a form is not accepted (whether it was quarantined before is
//! then needed), the push is decided again after looking its ids up, and a held form answers
//! `duplicate` or `conflict`. The database, not a lock in this process, keeps every form once.

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ActiveModelTrait, ActiveValue::Set, DbErr, SqlErr, Statement};
use sync_protocol::{FormResult, Outcome};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use super::{
    body::Forms,
    lookup::{Held, HeldForm, HouseholdKey, held, household_key, households, registry},
    verdict::{Accepted, Notes, UnknownGeography, Verdict, notes, verdict},
};
use crate::{
    auth::AuthUser,
    entities::form,
    error::ApiError,
    forms::{Quarantine, Sender, accepted_row, quarantined_row},
    index_stats::{FormPlace, PendingStats},
    review::Status,
    state::AppState,
    writer::{DeviceCount, Write, WriteError, inserts, write_all},
};

/// How many times a push is tried, after its lookups, when another push stores one of its forms
/// first.
const ATTEMPTS: usize = 5;

/// How many attempts at storing a push met a form or quarantined payload that another push stored
/// meanwhile (or, for an attempt without lookups, before), and were tried again: a sign of
/// devices resending, or of several servers receiving the same forms.
#[derive(Debug, Default)]
pub struct PushRaces(AtomicU64);

impl PushRaces {
    /// The races met since the server started.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why one attempt at storing a push did not finish.
enum Attempt {
    /// The insert met a form id the server holds: stored before the push's lookup (when it made
    /// none), or by another push (of this or another server process) since. The transaction was
    /// rolled back; trying again with the lookups finds that form stored, and answers `duplicate`
    /// or `conflict` for it. Likewise for a payload another push quarantined since the lookup
    /// (the unique index on id and content hash): the retry answers that row's outcome.
    Raced,
    /// An attempt without the lookups met a form it would not accept: its outcome depends on
    /// whether the same payload was quarantined before. Nothing was written.
    Unsure,
    /// The group of pushes it was written with failed (see [`crate::writer`]); nothing was
    /// written. It is tried again alone.
    Regroup,
    /// Anything else: the push fails.
    Failed(ApiError),
}

impl<E: Into<ApiError>> From<E> for Attempt {
    fn from(e: E) -> Self {
        Attempt::Failed(e.into())
    }
}

/// How an attempt is made.
#[derive(Clone, Copy, Default)]
struct Mode {
    /// Look the push's ids up first.
    look_up: bool,
    /// Have SQLite's writer thread write this push in a transaction of its own.
    alone: bool,
}

/// Decides and stores `forms` (read from `texts`, the push's forms as sent), answering every form
/// only after its transaction committed.
pub(super) async fn store(
    state: &AppState,
    user: &AuthUser,
    texts: &[&str],
    forms: &Forms,
) -> Result<Vec<FormResult>, ApiError> {
    // A corrected form (a revision above 1) replaces one the server holds: look it up at once
    // rather than meet the unique index first.
    let mut mode = Mode {
        look_up: forms.prepared.iter().any(|p| p.f.revision > 1),
        ..Mode::default()
    };
    let mut races = 0;
    loop {
        match attempt(state, user, texts, forms, mode).await {
            Ok(results) => return Ok(results),
            Err(Attempt::Unsure) => mode.look_up = true,
            Err(Attempt::Regroup) => mode.alone = true,
            Err(Attempt::Raced) => {
                state.push_races.0.fetch_add(1, Ordering::Relaxed);
                if !mode.look_up {
                    mode.look_up = true;
                    continue;
                }
                races += 1;
                if races == ATTEMPTS {
                    return Err(ApiError::new(
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        "Máy chủ đang bận nhận các phiếu này từ nơi khác; hãy đồng bộ lại sau.",
                        "The server is busy storing these forms from elsewhere; sync again later.",
                    ));
                }
                tracing::info!(
                    attempt = races,
                    "a form of this push was stored meanwhile; trying again"
                );
            }
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
}

/// One attempt: the lookups (see the module docs), a [`verdict`] per form, then every row, the
/// index stats and the device's counters in one transaction.
async fn attempt(
    state: &AppState,
    user: &AuthUser,
    texts: &[&str],
    forms: &Forms,
    mode: Mode,
) -> Result<Vec<FormResult>, Attempt> {
    // What is held about the push's households (and the sender's assignments), for the
    // warnings of the forms stored: one statement, whatever the push's size.
    let keys: Vec<HouseholdKey> = forms
        .prepared
        .iter()
        .map(|p| {
            household_key(
                &p.f.round,
                &p.f.units.commune,
                &p.f.units.village,
                &p.f.household_ref,
            )
        })
        .collect();
    let enumerator = (user.role == crate::auth::policy::Role::Enumerator).then_some(user.id);
    // What the server holds under these ids, the rounds and the households: independent reads,
    // sent together (each on its own pooled connection).
    let (mut held, registry, mut households) = if mode.look_up {
        let ids: Vec<Uuid> = forms.prepared.iter().map(|p| p.f.id).collect();
        tokio::try_join!(
            held(&state.db, &ids),
            registry(&state.db),
            households(&state.db, &keys, enumerator)
        )?
    } else {
        let (registry, households) = tokio::try_join!(
            registry(&state.db),
            households(&state.db, &keys, enumerator)
        )?;
        (Held::default(), registry, households)
    };
    let by = Sender {
        user: Some(user.id),
        device: user.device_id.as_deref(),
    };
    let now = OffsetDateTime::now_utc();
    let mut results: Vec<Option<FormResult>> = vec![None; texts.len()];
    let answer = |id, outcome, errors, hash: Option<&str>| {
        Some(FormResult {
            id,
            outcome,
            errors,
            content_hash: hash.map(str::to_owned),
            warnings: vec![],
        })
    };
    let mut quarantined = Vec::new();
    // Malformed forms are quarantined whatever the mode: they have no content hash to look up.
    for m in &forms.malformed {
        let problems = std::slice::from_ref(&m.problem);
        quarantined.push(quarantined_row(
            Quarantine {
                id: m.id,
                round: m.round.as_deref(),
                outcome: Outcome::Invalid,
                problems,
                payload: texts[m.idx],
                hash: None,
            },
            by,
            now,
        ));
        results[m.idx] = answer(m.id, Outcome::Invalid, problems.to_vec(), None);
    }
    // Each form to store: the revision it replaces (an update), and its notes.
    let mut accepts: Vec<(&super::body::Prepared, Accepted<'_>, Option<i32>, Notes)> = Vec::new();
    for p in &forms.prepared {
        let id = Some(p.f.id);
        let hash = Some(p.hash.as_str());
        match verdict(p, &held, &registry, user).map_err(misconfigured)? {
            Verdict::Duplicate => results[p.idx] = answer(id, Outcome::Duplicate, vec![], hash),
            v @ (Verdict::Accept(_) | Verdict::Update(..)) => {
                let (a, replaces) = match v {
                    Verdict::Accept(a) => (a, None),
                    Verdict::Update(a, revision) => (a, Some(revision)),
                    _ => unreachable!("matched above"),
                };
                // A second copy later in this push is a duplicate (or a conflict) of this one.
                held.stored.insert(
                    p.f.id,
                    HeldForm {
                        hash: p.hash.clone(),
                        revision: i32::try_from(p.f.revision).unwrap_or(i32::MAX),
                        status: Status::Received.as_str().to_owned(),
                    },
                );
                let n = notes(p, &households, user);
                // A second form for this household later in this push is flagged too.
                households
                    .forms
                    .entry(household_key(
                        &p.f.round,
                        &p.f.units.commune,
                        &p.f.units.village,
                        &p.f.household_ref,
                    ))
                    .or_default()
                    .push(p.f.id);
                accepts.push((p, a, replaces, n));
            }
            Verdict::Quarantine(..) if !mode.look_up => return Err(Attempt::Unsure),
            Verdict::Quarantine(outcome, problems) => {
                quarantined.push(quarantined_row(
                    Quarantine {
                        id,
                        round: Some(&p.f.round),
                        outcome,
                        problems: &problems,
                        payload: texts[p.idx],
                        hash,
                    },
                    by,
                    now,
                ));
                // The same payload later in this push gets this answer, and no second row.
                held.quarantined
                    .insert((p.f.id, p.hash.clone()), (outcome, problems.clone()));
                results[p.idx] = answer(id, outcome, problems, hash);
            }
            Verdict::AsBefore(outcome, problems) => {
                results[p.idx] = answer(id, outcome, problems, hash);
            }
        }
    }

    // Rows in id order: two processes inserting overlapping batches take the unique-index locks in
    // the same order, so PostgreSQL cannot deadlock them against each other. Everything that
    // needs no database, the statements included, is worked out before the transaction, so the
    // locks it takes (SQLite's one write lock above all) are held for the statements only.
    accepts.sort_by_key(|(p, ..)| p.f.id);
    let backend = state.db.get_database_backend();
    let mut stats = PendingStats::default();
    let mut rows = Vec::with_capacity(accepts.len());
    let (mut updates, mut history) = (Vec::new(), Vec::new());
    let mut signals = Vec::with_capacity(accepts.len());
    let mut replaced = Vec::new();
    for (p, a, replaces, n) in &accepts {
        let items = p.checked.as_ref().map_or(&[][..], |c| c.items.as_slice());
        let measures = crate::quality::store::measures_of_submission(&p.f, items, now);
        signals.push(crate::quality::store::signal_row(
            p.f.id, &p.f.round, measures, now,
        ));
        if replaces.is_some() {
            replaced.push(p.f.id);
        }
        if a.counted {
            stats
                .add(a.layout, FormPlace::of(&p.f), a.digest)
                .map_err(|e| ApiError::internal(format!("index stats of form {}: {e}", p.f.id)))?;
        }
        let mut row = accepted_row(&p.f, &p.hash, a.encoded.to_vec(), by, now);
        row.unassigned = Set(n.unassigned);
        row.duplicate_household = Set(n.duplicate_household);
        match replaces {
            None => rows.push(row),
            Some(revision) => {
                updates.push(replacement(backend, row, *revision));
                history.push(crate::review::history_row(
                    p.f.id,
                    &p.f.round,
                    i32::try_from(p.f.revision).unwrap_or(i32::MAX),
                    (Status::Rejected.as_str(), Status::Received.as_str()),
                    None,
                    Some((user.id, &user.username)),
                    now,
                ));
            }
        }
    }
    let write = Write {
        rows_count: rows.len() + quarantined.len() + updates.len(),
        rows: inserts(backend, rows),
        quarantined: inserts(backend, quarantined),
        updates,
        history: inserts(backend, history),
        signals: if replaced.is_empty() {
            inserts(backend, signals)
        } else {
            std::iter::once(crate::quality::store::delete_rows(backend, replaced))
                .chain(inserts(backend, signals))
                .collect()
        },
        stats,
        device: user.device_id.as_ref().map(|id| DeviceCount {
            id: id.clone(),
            pushed: texts.len() as i64,
            accepted: accepts.len() as i64,
        }),
        now,
    };
    let written = async {
        match &state.writer {
            Some(writer) => writer.write(write, mode.alone).await,
            None => write_all(&state.db, vec![write])
                .await
                .map_err(WriteError::Db),
        }
    }
    .instrument(tracing::debug_span!("push_store"))
    .await;
    written.map_err(|e| match e {
        WriteError::Regroup => Attempt::Regroup,
        WriteError::Db(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Attempt::Raced
        }
        // An update found the form no longer as it was read (reviewed or replaced meanwhile).
        WriteError::Db(DbErr::RecordNotUpdated) => Attempt::Raced,
        WriteError::Db(e) => Attempt::Failed(e.into()),
    })?;
    for (p, _, replaces, n) in accepts {
        let outcome = match replaces {
            Some(_) => Outcome::Updated,
            None => Outcome::Accepted,
        };
        results[p.idx] = answer(Some(p.f.id), outcome, vec![], Some(&p.hash));
        if let Some(r) = results[p.idx].as_mut() {
            r.warnings = n.warnings;
        }
    }
    // Every form got an answer above; `unknown` would say a form was skipped (a bug), not lost.
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or(FormResult {
                id: None,
                outcome: Outcome::Unknown,
                errors: vec![],
                content_hash: None,
                warnings: vec![],
            })
        })
        .collect())
}

/// The UPDATE replacing a rejected form (`revision`, as read) with its corrected revision `row`:
/// every column the row sets but its id, the time it was first received and who first sent it.
/// It changes no row if the form is no longer rejected at that revision (reviewed again or
/// replaced by another push meanwhile): the write then fails and the push is decided again.
fn replacement(
    backend: sea_orm::DbBackend,
    mut row: form::ActiveModel,
    revision: i32,
) -> Statement {
    use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, Iterable, QueryFilter, QueryTrait};
    let mut update = form::Entity::update_many();
    for c in form::Column::iter() {
        if matches!(
            c,
            form::Column::Seq
                | form::Column::Id
                | form::Column::ReceivedAt
                | form::Column::SubmittedBy
        ) {
            continue;
        }
        if let ActiveValue::Set(v) = row.take(c) {
            update = update.col_expr(c, sea_orm::sea_query::Expr::value(v));
        }
    }
    let id = match row.take(form::Column::Id) {
        ActiveValue::Set(v) | ActiveValue::Unchanged(v) => v,
        ActiveValue::NotSet => sea_orm::Value::Uuid(None),
    };
    update
        .filter(form::Column::Id.eq(id))
        .filter(form::Column::Status.eq(Status::Rejected.as_str()))
        .filter(form::Column::Revision.eq(revision))
        .build(backend)
}

/// A round on a geography this server does not know: the push fails (500), and says why in the
/// log only.
fn misconfigured(e: UnknownGeography) -> Attempt {
    Attempt::Failed(ApiError::internal(format!(
        "round {} uses unknown geography {}",
        e.round, e.geography
    )))
}
