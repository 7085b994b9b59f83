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

use sea_orm::SqlErr;
use sync_protocol::{FormResult, Outcome};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use super::{
    body::Forms,
    lookup::{Held, held, registry},
    verdict::{Accepted, UnknownGeography, Verdict, verdict},
};
use crate::{
    auth::AuthUser,
    error::ApiError,
    forms::{Quarantine, Sender, accepted_row, quarantined_row},
    index_stats::{FormPlace, PendingStats},
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
    let mut mode = Mode::default();
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
    // What the server holds under these ids, and the rounds: independent reads, sent together
    // (each on its own pooled connection).
    let (mut held, registry) = if mode.look_up {
        let ids: Vec<Uuid> = forms.prepared.iter().map(|p| p.f.id).collect();
        tokio::try_join!(held(&state.db, &ids), registry(&state.db))?
    } else {
        (Held::default(), registry(&state.db).await?)
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
    let mut accepts: Vec<(&super::body::Prepared, Accepted<'_>)> = Vec::new();
    for p in &forms.prepared {
        let id = Some(p.f.id);
        let hash = Some(p.hash.as_str());
        match verdict(p, &held, &registry, user).map_err(misconfigured)? {
            Verdict::Duplicate => results[p.idx] = answer(id, Outcome::Duplicate, vec![], hash),
            Verdict::Accept(a) => {
                // A second copy later in this push is a duplicate (or a conflict) of this one.
                held.stored.insert(p.f.id, p.hash.clone());
                accepts.push((p, a));
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
    accepts.sort_by_key(|(p, _)| p.f.id);
    let mut stats = PendingStats::default();
    let mut rows = Vec::with_capacity(accepts.len());
    for (p, a) in &accepts {
        stats
            .add(a.layout, FormPlace::of(&p.f), a.digest)
            .map_err(|e| ApiError::internal(format!("index stats of form {}: {e}", p.f.id)))?;
        rows.push(accepted_row(&p.f, &p.hash, a.encoded.to_vec(), by, now));
    }
    let backend = state.db.get_database_backend();
    let write = Write {
        rows_count: rows.len() + quarantined.len(),
        rows: inserts(backend, rows),
        quarantined: inserts(backend, quarantined),
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
        WriteError::Db(e) => Attempt::Failed(e.into()),
    })?;
    for (p, _) in &accepts {
        results[p.idx] = answer(Some(p.f.id), Outcome::Accepted, vec![], Some(&p.hash));
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
            })
        })
        .collect())
}

/// A round on a geography this server does not know: the push fails (500), and says why in the
/// log only.
fn misconfigured(e: UnknownGeography) -> Attempt {
    Attempt::Failed(ApiError::internal(format!(
        "round {} uses unknown geography {}",
        e.round, e.geography
    )))
}
