//! Storing a push's rows: one transaction per push on PostgreSQL, and on SQLite one writer thread
//! that commits the pushes waiting together.
//!
//! SQLite has a single write lock. Pushes that each take it in turn spend most of their time
//! waiting for it: a transaction that finds it taken sleeps in SQLite's busy handler (1 ms, then
//! longer) while the lock may already stand free, and between its statements it waits for an
//! async worker, busy preparing other pushes, to send the next one. Measured with 8 devices, a
//! push's 100 forms held or waited for the lock about three times as long as a plain insert of
//! them. Here the writer thread takes every push that is waiting and stores them all in one
//! transaction: one commit, and each village's index stats read and written once.
//!
//! Every push still waits for the commit before it answers, so nothing is acknowledged before
//! it is durable. If the group's transaction fails, nothing of it is kept. When one push can have
//! caused it (a constraint: a form id already held, a resend), each push of the group is tried
//! again alone ([`WriteError::Regroup`]), so the cause reaches only the push it belongs to. Any
//! other failure (a busy or broken database) is every push's answer.

use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityName, EntityTrait, IdenStatic, Iterable, QueryFilter, QueryTrait, Statement,
    TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::{entities::device, index_stats::PendingStats};

/// Rows per `INSERT` statement.
const ROWS_PER_STATEMENT: usize = 200;

/// The writer stops adding pushes to a group once it holds this many rows (forms and quarantined
/// payloads), so that no push waits behind an arbitrarily long transaction.
const GROUP_ROWS: usize = 1_000;

/// Pushes waiting for the writer before senders wait to hand theirs over.
const QUEUE: usize = 256;

/// What one push writes, all or nothing.
///
/// Its `INSERT` statements are built by the push, before it is handed over: building them from
/// the rows is most of the work outside the database, and the pushes do it in parallel.
pub(crate) struct Write {
    /// Number of rows: accepted forms and quarantined payloads.
    pub rows_count: usize,
    /// The accepted forms' `INSERT`s (see [`inserts`]).
    pub rows: Vec<Statement>,
    /// The quarantined payloads' `INSERT`s.
    pub quarantined: Vec<Statement>,
    /// The `UPDATE`s replacing rejected forms with their corrected revisions: each must change
    /// exactly one row, or the write fails with [`DbErr::RecordNotUpdated`] (the form was
    /// reviewed or replaced since the push read it).
    pub updates: Vec<Statement>,
    /// The review-history `INSERT`s of those replacements.
    pub history: Vec<Statement>,
    /// The accepted forms' `form_signals` rows (see [`crate::quality`]): a `DELETE` of the
    /// rows of forms replaced by a corrected revision, then the `INSERT`s; after the forms.
    pub signals: Vec<Statement>,
    /// What the accepted forms add to their villages' index stats.
    pub stats: PendingStats,
    /// The sending device's counters.
    pub device: Option<DeviceCount>,
    /// When this attempt at the push was decided: the device's last push and the stats rows'
    /// update time.
    pub now: OffsetDateTime,
}

/// What a push adds to its device's counters.
pub(crate) struct DeviceCount {
    /// Device id.
    pub id: String,
    /// Forms sent.
    pub pushed: i64,
    /// Forms accepted.
    pub accepted: i64,
}

/// `INSERT` statements for `rows`, [`ROWS_PER_STATEMENT`] rows each.
///
/// The statement is the one sea-orm's `insert_many(rows).build(backend)` makes (the tests compare
/// them), but the values are moved out of the rows: sea-orm copies every value twice on the way
/// (into its query, then into the statement), and for a push of 100 forms that building was 8%
/// of the server process's CPU (perf, PostgreSQL, 8 devices). Rows whose set columns differ, a
/// column that needs a cast, or a backend other than SQLite and PostgreSQL go through sea-orm.
///
/// Values are bound as they are: right for the scalar, text, bytes, UUID and time columns of the
/// tables written here (the tests compare each table's statements with sea-orm's), not for a
/// PostgreSQL enum or array value, to which sea-query adds a type cast.
pub(crate) fn inserts<A: ActiveModelTrait>(backend: DbBackend, mut rows: Vec<A>) -> Vec<Statement> {
    let mut out = Vec::with_capacity(rows.len().div_ceil(ROWS_PER_STATEMENT));
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(ROWS_PER_STATEMENT));
        let chunk = std::mem::replace(&mut rows, rest);
        out.push(insert(backend, chunk));
    }
    out
}

/// One `INSERT` of `rows` (not empty): see [`inserts`].
fn insert<A: ActiveModelTrait>(backend: DbBackend, mut rows: Vec<A>) -> Statement {
    let columns: Vec<<A::Entity as EntityTrait>::Column> =
        <A::Entity as EntityTrait>::Column::iter()
            .filter(|&c| !rows[0].is_not_set(c))
            .collect();
    let plain = matches!(backend, DbBackend::Postgres | DbBackend::Sqlite)
        && !columns.is_empty()
        && columns
            .iter()
            .all(|c| c.save_as(Expr::value(0)) == Expr::value(0))
        && rows[1..].iter().all(|r| {
            <A::Entity as EntityTrait>::Column::iter()
                .all(|c| r.is_not_set(c) == rows[0].is_not_set(c))
        });
    if !plain {
        return A::Entity::insert_many(rows).build(backend);
    }
    let entity = A::Entity::default();
    let mut sql = String::with_capacity(64 + columns.len() * (24 + rows.len() * 7));
    sql.push_str("INSERT INTO ");
    if let Some(schema) = entity.schema_name() {
        quoted(schema, &mut sql);
        sql.push('.');
    }
    quoted(entity.table_name(), &mut sql);
    sql.push_str(" (");
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        quoted(c.as_str(), &mut sql);
    }
    sql.push_str(") VALUES ");
    let mut values = Vec::with_capacity(rows.len() * columns.len());
    for (r, row) in rows.iter_mut().enumerate() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for (i, &c) in columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            match row.take(c) {
                ActiveValue::Set(v) | ActiveValue::Unchanged(v) => values.push(v),
                // Checked above: every row sets these columns.
                ActiveValue::NotSet => unreachable!("a row without a column the first row sets"),
            }
            if backend == DbBackend::Postgres {
                sql.push('$');
                sql.push_str(itoa::Buffer::new().format(values.len()));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    Statement::from_sql_and_values(backend, sql, values)
}

/// Appends `name` as a quoted identifier, as sea-query quotes it for SQLite and PostgreSQL.
fn quoted(name: &str, sql: &mut String) {
    sql.push('"');
    if name.contains('"') {
        sql.push_str(&name.replace('"', "\"\""));
    } else {
        sql.push_str(name);
    }
    sql.push('"');
}

/// Why a write handed to the [`Writer`] was not stored. Nothing of it was written.
pub(crate) enum WriteError {
    /// The group this push was written with was refused by a constraint; trying again alone
    /// tells whether the cause was this push.
    Regroup,
    /// The database refused this push, or failed.
    Db(DbErr),
}

/// Writes `writes` in one transaction: all of them, or none.
///
/// On PostgreSQL, call it with one write: a push's rows come in id order, so that two processes
/// inserting overlapping pushes take the unique-index locks in the same order; rows of several
/// pushes would not be.
pub(crate) async fn write_all(db: &DatabaseConnection, writes: Vec<Write>) -> Result<(), DbErr> {
    let mut rows: Vec<Statement> = Vec::new();
    let mut quarantined: Vec<Statement> = Vec::new();
    let mut updates: Vec<Statement> = Vec::new();
    let mut signals: Vec<Statement> = Vec::new();
    let mut stats = PendingStats::default();
    // Each device's counters, with its latest push's time.
    let mut devices: Vec<(DeviceCount, OffsetDateTime)> = Vec::new();
    let mut now = None;
    for w in writes {
        rows.extend(w.rows);
        quarantined.extend(w.quarantined);
        updates.extend(w.updates);
        quarantined.extend(w.history);
        signals.extend(w.signals);
        stats
            .merge(w.stats)
            .map_err(|e| DbErr::Custom(format!("index stats: {e}")))?;
        if let Some(d) = w.device {
            match devices.iter_mut().find(|(x, _)| x.id == d.id) {
                Some((x, at)) => {
                    x.pushed += d.pushed;
                    x.accepted += d.accepted;
                    *at = Ord::max(*at, w.now);
                }
                None => devices.push((d, w.now)),
            }
        }
        now = Ord::max(now, Some(w.now));
    }
    let now = now.unwrap_or_else(OffsetDateTime::now_utc);

    // Its first statement writes, so SQLite takes the write lock up front.
    let txn = db.begin().await?;
    for insert in rows.into_iter().chain(quarantined) {
        if let Err(e) = txn.execute_raw(insert).await {
            txn.rollback().await?;
            return Err(e);
        }
    }
    for update in updates {
        match txn.execute_raw(update).await {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                txn.rollback().await?;
                return Err(DbErr::RecordNotUpdated);
            }
            Err(e) => {
                txn.rollback().await?;
                return Err(e);
            }
        }
    }
    for statement in signals {
        if let Err(e) = txn.execute_raw(statement).await {
            txn.rollback().await?;
            return Err(e);
        }
    }
    stats.apply(&txn, now).await?;
    for (d, at) in devices {
        device::Entity::update_many()
            .col_expr(device::Column::LastPushAt, Expr::value(at))
            .col_expr(device::Column::LastSeenAt, Expr::value(at))
            .col_expr(
                device::Column::FormsPushed,
                Expr::col(device::Column::FormsPushed).add(d.pushed),
            )
            .col_expr(
                device::Column::FormsAccepted,
                Expr::col(device::Column::FormsAccepted).add(d.accepted),
            )
            .filter(device::Column::Id.eq(d.id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A push handed to the writer thread.
struct Job {
    write: Write,
    /// Not to be grouped: tried again alone after its group failed.
    alone: bool,
    reply: oneshot::Sender<Result<(), WriteError>>,
}

/// The SQLite writer thread: pushes hand it their rows, and it writes the pushes waiting together
/// in one transaction, answering each after the commit (SQLite has one write lock, which pushes
/// would otherwise queue for one by one). It stops when the last handle is dropped.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    /// For writing a push directly should the thread have stopped (it only would by a panic).
    db: DatabaseConnection,
}

impl Writer {
    /// Starts the writer thread on `db`, with its own single-threaded runtime: between two
    /// statements of a transaction it waits for SQLite alone, never for a busy async worker.
    pub fn spawn(db: DatabaseConnection) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let thread_db = db.clone();
        std::thread::Builder::new()
            .name("sipas-writer".into())
            .spawn(move || {
                // Built here, not by the caller: a runtime must not be dropped inside another.
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(run(thread_db, queue)),
                    // The queue is dropped with this thread: pushes are written directly.
                    Err(e) => tracing::error!(error = %e, "could not start the SQLite writer"),
                }
            })?;
        Ok(Writer { jobs, db })
    }

    /// Writes `write` (with the pushes waiting beside it, unless `alone`) and returns once it is
    /// committed.
    pub(crate) async fn write(&self, write: Write, alone: bool) -> Result<(), WriteError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            write,
            alone,
            reply,
        };
        if let Err(refused) = self.jobs.send(job).await {
            // The thread is gone: this push takes the write lock on its own, as without it.
            tracing::error!("the SQLite writer thread has stopped; writing the push directly");
            return write_all(&self.db, vec![refused.0.write])
                .await
                .map_err(WriteError::Db);
        }
        // No answer: the thread stopped while writing it, which may or may not have committed.
        // The device is told to try again; a resend is then answered from what is stored.
        answer.await.unwrap_or_else(|_| {
            Err(WriteError::Db(DbErr::Custom(
                "the SQLite writer thread stopped while writing a push".to_owned(),
            )))
        })
    }
}

/// The writer thread's loop: takes the pushes waiting, up to [`GROUP_ROWS`] rows, and writes
/// them in one transaction.
async fn run(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>) {
    let mut next: Option<Job> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut rows = first.write.rows_count;
        let mut group = vec![first];
        while !group[0].alone && rows < GROUP_ROWS {
            match queue.try_recv() {
                Ok(job) if job.alone => {
                    next = Some(job);
                    break;
                }
                Ok(job) => {
                    rows += job.write.rows_count;
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let (writes, mut replies): (Vec<Write>, Vec<_>) =
            group.into_iter().map(|j| (j.write, j.reply)).unzip();
        match write_all(&db, writes).await {
            Ok(()) => {
                for r in replies {
                    let _ = r.send(Ok(()));
                }
            }
            Err(e) if replies.len() == 1 => {
                if let Some(r) = replies.pop() {
                    let _ = r.send(Err(WriteError::Db(e)));
                }
            }
            Err(e) if e.sql_err().is_some() || matches!(e, DbErr::RecordNotUpdated) => {
                tracing::debug!(error = %e, "a group of pushes was refused; each is written again alone");
                for r in replies {
                    let _ = r.send(Err(WriteError::Regroup));
                }
            }
            Err(e) => {
                tracing::error!(pushes = replies.len(), error = %e, "writing a group of pushes failed");
                for r in replies {
                    let _ = r.send(Err(WriteError::Db(DbErr::Custom(format!(
                        "writing a group of pushes: {e}"
                    )))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, QueryTrait, Set};
    use uuid::Uuid;

    use super::inserts;
    use crate::entities::{form, quarantined_form};

    fn form_row(i: u8, district: Option<&str>) -> form::ActiveModel {
        let at = time::macros::datetime!(2025-09-01 08:00 +7);
        form::ActiveModel {
            id: Set(Uuid::from_bytes([i; 16])),
            round_code: Set("sipas-2025".into()),
            questionnaire_code: Set("sipas".into()),
            questionnaire_version: Set(1),
            province_code: Set("12".into()),
            district_code: Set(district.map(Into::into)),
            commune_code: Set("03388".into()),
            village_code: Set(format!("V{i}")),
            household_ref: Set(format!("HH-\"{i}")),
            status: Set("accepted".into()),
            revision: Set(1),
            content_hash: Set("ab".repeat(32)),
            device_id: Set(None),
            submitted_by: Set(Some(7)),
            started_at: Set(Some(at)),
            finished_at: Set(None),
            received_at: Set(at),
            updated_at: Set(at),
            gps_lat: Set(Some(22.39)),
            gps_lon: Set(None),
            answers: Set(vec![1, 2, i]),
            ..Default::default()
        }
    }

    fn quarantined_row(i: u8) -> quarantined_form::ActiveModel {
        quarantined_form::ActiveModel {
            form_id: Set(Some(Uuid::from_bytes([i; 16]))),
            round_code: Set(None),
            reason: Set("invalid".into()),
            content_hash: Set(Some("cd".repeat(32))),
            errors: Set("[]".into()),
            payload: Set(format!("{{\"n\":{i}}}")),
            device_id: Set(Some("dev".into())),
            submitted_by: Set(None),
            received_at: Set(time::macros::datetime!(2025-09-01 08:00 UTC)),
            ..Default::default()
        }
    }

    /// The statements are sea-orm's own, chunk for chunk, values and nulls included.
    #[test]
    fn statements_equal_the_ones_sea_orm_builds() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let forms: Vec<_> = (0..203u8)
                .map(|i| form_row(i, (i % 2 == 0).then_some("105")))
                .collect();
            let built = inserts(backend, forms.clone());
            let expected: Vec<_> = forms
                .chunks(super::ROWS_PER_STATEMENT)
                .map(|c| form::Entity::insert_many(c.to_vec()).build(backend))
                .collect();
            assert_eq!(built.len(), 2);
            assert_eq!(built, expected, "{backend:?}");

            let quarantined: Vec<_> = (0..3).map(quarantined_row).collect();
            assert_eq!(
                inserts(backend, quarantined.clone()),
                vec![quarantined_form::Entity::insert_many(quarantined).build(backend)],
                "{backend:?}"
            );
            assert!(inserts::<form::ActiveModel>(backend, Vec::new()).is_empty());
        }
    }

    /// Rows that do not all set the same columns are left to sea-orm, which fills the gaps.
    #[test]
    fn rows_setting_different_columns_are_built_by_sea_orm() {
        let mut rows = vec![form_row(1, None), form_row(2, None)];
        rows[1].gps_lat = sea_orm::ActiveValue::NotSet;
        let expected = form::Entity::insert_many(rows.clone()).build(DbBackend::Postgres);
        assert_eq!(inserts(DbBackend::Postgres, rows), vec![expected]);
    }
}
