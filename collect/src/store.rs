//! The device's durable storage: one SQLite file (`outbox.db` in the data folder) in WAL mode with
//! `synchronous=FULL`, so every committed transaction survives the process being killed or the
//! phone losing power. Every state change is its own committed transaction.
//!
//! Tables: `forms` (the outbox), `meta` (server, user, device id, tokens, pull cursor, last
//! handshake) and `changes` (pulled changes by `seq`).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use sqlx::{
    Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use sync_protocol::{
    Change, FieldProblem, FormSubmission, HandshakeResponse, Outcome,
    engine::{FailedForm, LocalState, Outbox, OutboxEntry, OutboxForm},
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// The data folder could not be created.
    #[error("thư mục dữ liệu / data folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A stored value does not parse (the file was edited or is from a newer app).
    #[error("dữ liệu hỏng / corrupt data: {0}")]
    Corrupt(String),
    /// A form with this id is already stored with other content.
    #[error("phiếu {0} đã có với nội dung khác / form {0} is already stored with other content")]
    IdClash(Uuid),
}

/// Schema version in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS forms (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        round TEXT NOT NULL,
        household_ref TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        submission TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'synced', 'failed')),
        outcome TEXT,
        problems TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS forms_by_state ON forms (state, seq)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        at TEXT NOT NULL,
        received_at TEXT NOT NULL
    )",
];

/// Keys of the `meta` table.
pub mod key {
    /// Server base URL.
    pub const SERVER: &str = "server_url";
    /// Username logged in.
    pub const USERNAME: &str = "username";
    /// Device id (UUIDv4, generated once).
    pub const DEVICE_ID: &str = "device_id";
    /// Access token.
    pub const ACCESS_TOKEN: &str = "access_token";
    /// Refresh token (rotated at every refresh).
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// Pull cursor.
    pub const CURSOR: &str = "cursor";
    /// Last handshake answer (JSON).
    pub const HANDSHAKE: &str = "handshake";
}

/// File name of the database inside the data folder.
pub const DB_FILE: &str = "outbox.db";

/// The device's storage. Cheap to clone (a connection pool of one connection, so writes are
/// serialised in order).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn parse_time(s: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| StoreError::Corrupt(format!("time {s}: {e}")))
}

fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("id {s}: {e}")))
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let opts = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        let store = Store { pool, path };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&self.pool)
            .await?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "database schema {version} is newer than this app ({SCHEMA_VERSION})"
            )));
        }
        let mut tx = self.pool.begin().await?;
        for stmt in SCHEMA {
            sqlx::query(*stmt).execute(&mut *tx).await?;
        }
        sqlx::query("PRAGMA user_version = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connections (waits for them to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A `meta` value.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Sets (or with `None` deletes) several `meta` values in one transaction.
    pub async fn set_meta(&self, values: &[(&str, Option<&str>)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (k, v) in values {
            match v {
                Some(v) => {
                    sqlx::query(
                        "INSERT INTO meta (key, value) VALUES (?, ?)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )
                    .bind(k)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM meta WHERE key = ?")
                        .bind(k)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The device id: a UUIDv4 generated at the first call and kept for the life of the data folder.
    pub async fn device_id(&self) -> Result<String, StoreError> {
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)")
            .bind(key::DEVICE_ID)
            .bind(Uuid::new_v4().to_string())
            .execute(&self.pool)
            .await?;
        self.meta(key::DEVICE_ID)
            .await?
            .ok_or_else(|| StoreError::Corrupt("device id missing".into()))
    }

    /// The last handshake answer, if any.
    pub async fn handshake(&self) -> Result<Option<HandshakeResponse>, StoreError> {
        self.meta(key::HANDSHAKE)
            .await?
            .map(|s| serde_json::from_str(&s).map_err(corrupt))
            .transpose()
    }

    /// Number of pulled changes stored.
    pub async fn change_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM changes")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Number of forms per local state.
    pub async fn counts(&self) -> Result<BTreeMap<&'static str, i64>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM forms GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut out = BTreeMap::new();
        for r in rows {
            let state: String = r.try_get("state")?;
            let state = LocalState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("state {state}")))?;
            out.insert(state.as_str(), r.try_get::<i64, _>("n")?);
        }
        Ok(out)
    }

    /// Every form with its submission, oldest first.
    pub async fn all_forms(&self) -> Result<Vec<OutboxForm>, StoreError> {
        self.forms_where("1 = 1", None).await
    }

    async fn forms_where(
        &self,
        condition: &'static str,
        limit: Option<usize>,
    ) -> Result<Vec<OutboxForm>, StoreError> {
        let sql = format!(
            "SELECT submission, content_hash FROM forms WHERE {condition} ORDER BY seq LIMIT ?"
        );
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let json: String = r.try_get("submission")?;
                Ok(OutboxForm {
                    submission: serde_json::from_str(&json).map_err(corrupt)?,
                    content_hash: r.try_get("content_hash")?,
                })
            })
            .collect()
    }

    async fn set_state(
        &self,
        changes: Vec<(Uuid, Option<Outcome>, Option<String>)>,
        from: &'static str,
        to: LocalState,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE forms SET state = ?, outcome = COALESCE(?, outcome), problems = ?, updated_at = ?
             WHERE id = ? AND state IN ({from})"
        );
        let at = now();
        let mut tx = self.pool.begin().await?;
        for (id, outcome, problems) in changes {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(to.as_str())
                .bind(outcome.map(Outcome::as_str))
                .bind(problems)
                .bind(&at)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A form a reviewer sent back, as pulled, with what the device holds of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    /// The return as pulled.
    pub returned: sync_protocol::FormReturned,
    /// When it was sent back.
    pub at: OffsetDateTime,
    /// The revision the device holds now (`None`: not on this device).
    pub local_revision: Option<u32>,
    /// Whether the device already holds a corrected revision (higher than the one returned).
    pub corrected: bool,
}

/// An assignment as pulled, with how many of this device's forms count against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentProgress {
    /// The assignment.
    pub assignment: sync_protocol::Assignment,
    /// Forms on this device for its village (and its listed households, when it lists them).
    pub forms: u32,
}

impl AssignmentProgress {
    /// Forms still to fill.
    pub fn remaining(&self) -> u32 {
        self.assignment.quantity.saturating_sub(self.forms)
    }
}

impl Store {
    /// The pulled changes of `kind`, oldest first.
    async fn changes_of(&self, kind: &str) -> Result<Vec<(serde_json::Value, String)>, StoreError> {
        let rows = sqlx::query("SELECT payload, at FROM changes WHERE kind = ? ORDER BY seq")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let payload: String = r.try_get("payload")?;
                Ok((
                    serde_json::from_str(&payload).map_err(corrupt)?,
                    r.try_get("at")?,
                ))
            })
            .collect()
    }

    /// The forms reviewers sent back, latest return of each form, with whether the device
    /// holds a corrected revision yet. A payload this app cannot read is skipped.
    pub async fn returned(&self) -> Result<Vec<Returned>, StoreError> {
        let mut latest: BTreeMap<Uuid, (sync_protocol::FormReturned, String)> = BTreeMap::new();
        for (payload, at) in self.changes_of("form_returned").await? {
            if let Ok(r) = serde_json::from_value::<sync_protocol::FormReturned>(payload) {
                latest.insert(r.form_id, (r, at));
            }
        }
        let held: BTreeMap<Uuid, u32> = self
            .all_forms()
            .await?
            .into_iter()
            .map(|f| (f.id(), f.submission.revision))
            .collect();
        latest
            .into_values()
            .map(|(returned, at)| {
                let local_revision = held.get(&returned.form_id).copied();
                Ok(Returned {
                    corrected: local_revision.is_some_and(|r| r > returned.revision),
                    local_revision,
                    at: parse_time(&at)?,
                    returned,
                })
            })
            .collect()
    }

    /// The enumerator's assignments (latest version of each, withdrawn ones left out), each with
    /// how many of this device's forms count against it: forms of its round and village, and of
    /// its households when it lists them.
    pub async fn assignments(&self) -> Result<Vec<AssignmentProgress>, StoreError> {
        let mut latest: BTreeMap<i64, sync_protocol::Assignment> = BTreeMap::new();
        for (payload, _) in self.changes_of("assignment_changed").await? {
            if let Ok(a) = serde_json::from_value::<sync_protocol::Assignment>(payload) {
                latest.insert(a.id, a);
            }
        }
        let forms = self.all_forms().await?;
        Ok(latest
            .into_values()
            .filter(|a| a.quantity > 0)
            .map(|a| {
                let n = forms
                    .iter()
                    .filter(|f| {
                        let s = &f.submission;
                        s.round == a.round
                            && s.units.village == a.units.village
                            && s.units.commune == a.units.commune
                            && (a.household_refs.is_empty()
                                || a.household_refs.contains(&s.household_ref))
                    })
                    .count();
                AssignmentProgress {
                    assignment: a,
                    forms: u32::try_from(n).unwrap_or(u32::MAX),
                }
            })
            .collect())
    }

    /// One form on this device.
    pub async fn form(&self, id: Uuid) -> Result<Option<OutboxForm>, StoreError> {
        let row = sqlx::query("SELECT submission, content_hash FROM forms WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let json: String = r.try_get("submission")?;
            Ok(OutboxForm {
                submission: serde_json::from_str(&json).map_err(corrupt)?,
                content_hash: r.try_get("content_hash")?,
            })
        })
        .transpose()
    }

    /// Replaces a form the server holds (synced) or refused (failed) with its corrected
    /// revision, to be sent again: the form returned by review, edited. Refused
    /// ([`StoreError::Corrupt`]) unless the new revision is higher than the one stored and the
    /// form is not waiting to be sent (pending or in flight).
    pub async fn resubmit(&self, form: &FormSubmission) -> Result<String, StoreError> {
        let Some(held) = self.form(form.id).await? else {
            return Err(StoreError::Corrupt(format!(
                "phiếu {} không có trên máy / form {} is not on this device",
                form.id, form.id
            )));
        };
        if form.revision <= held.submission.revision {
            return Err(StoreError::Corrupt(format!(
                "lần sửa {} phải lớn hơn {} / revision {} must be above {}",
                form.revision, held.submission.revision, form.revision, held.submission.revision
            )));
        }
        let hash = form.content_hash();
        let json = serde_json::to_string(form).map_err(corrupt)?;
        let changed = sqlx::query(
            "UPDATE forms SET submission = ?, content_hash = ?, household_ref = ?, state = 'pending',
             outcome = NULL, problems = NULL, updated_at = ?
             WHERE id = ? AND state IN ('synced', 'failed')",
        )
        .bind(&json)
        .bind(&hash)
        .bind(&form.household_ref)
        .bind(now())
        .bind(form.id.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Corrupt(format!(
                "phiếu {} đang chờ gửi / form {} is waiting to be sent",
                form.id, form.id
            )));
        }
        Ok(hash)
    }
}

// States the engine may settle; a late answer never reopens a settled form.
const OPEN: &str = "'pending', 'in_flight'";

impl Outbox for Store {
    type Error = StoreError;

    async fn add(&mut self, form: &FormSubmission) -> Result<String, StoreError> {
        let hash = form.content_hash();
        let json = serde_json::to_string(form).map_err(corrupt)?;
        let at = now();
        let inserted = sqlx::query(
            "INSERT INTO forms (id, round, household_ref, content_hash, submission, state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(form.id.to_string())
        .bind(&form.round)
        .bind(&form.household_ref)
        .bind(&hash)
        .bind(&json)
        .bind(&at)
        .bind(&at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 0 {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT content_hash FROM forms WHERE id = ?")
                    .bind(form.id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
            if stored.as_deref() != Some(hash.as_str()) {
                return Err(StoreError::IdClash(form.id));
            }
        }
        Ok(hash)
    }

    async fn pending(&mut self, limit: usize) -> Result<Vec<OutboxForm>, StoreError> {
        self.forms_where("state = 'pending'", Some(limit)).await
    }

    async fn in_flight(&mut self) -> Result<Vec<OutboxForm>, StoreError> {
        self.forms_where("state = 'in_flight'", None).await
    }

    async fn mark_in_flight(&mut self, ids: &[Uuid]) -> Result<(), StoreError> {
        self.set_state(
            ids.iter().map(|id| (*id, None, None)).collect(),
            "'pending'",
            LocalState::InFlight,
        )
        .await
    }

    async fn mark_synced(&mut self, forms: &[(Uuid, Outcome)]) -> Result<(), StoreError> {
        self.set_state(
            forms.iter().map(|(id, o)| (*id, Some(*o), None)).collect(),
            OPEN,
            LocalState::Synced,
        )
        .await
    }

    async fn mark_failed(&mut self, forms: &[FailedForm]) -> Result<(), StoreError> {
        let mut changes = Vec::with_capacity(forms.len());
        for f in forms {
            let problems = serde_json::to_string(&f.problems).map_err(corrupt)?;
            changes.push((f.id, Some(f.outcome), Some(problems)));
        }
        self.set_state(changes, OPEN, LocalState::Failed).await
    }

    async fn return_to_pending(&mut self, ids: &[Uuid]) -> Result<(), StoreError> {
        self.set_state(
            ids.iter().map(|id| (*id, None, None)).collect(),
            "'in_flight'",
            LocalState::Pending,
        )
        .await
    }

    async fn cursor(&mut self) -> Result<Option<String>, StoreError> {
        self.meta(key::CURSOR).await
    }

    async fn set_cursor(&mut self, cursor: Option<&str>) -> Result<(), StoreError> {
        self.set_meta(&[(key::CURSOR, cursor)]).await
    }

    async fn store_changes(&mut self, changes: &[Change], cursor: &str) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        for c in changes {
            let kind = serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown".into());
            sqlx::query(
                "INSERT INTO changes (seq, kind, payload, at, received_at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (seq) DO UPDATE SET kind = excluded.kind, payload = excluded.payload,
                 at = excluded.at, received_at = excluded.received_at",
            )
            .bind(c.seq)
            .bind(kind)
            .bind(c.payload.to_string())
            .bind(c.at.format(&Rfc3339).unwrap_or_default())
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key::CURSOR)
        .bind(cursor)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_handshake(&mut self, handshake: &HandshakeResponse) -> Result<(), StoreError> {
        let json = serde_json::to_string(handshake).map_err(corrupt)?;
        self.set_meta(&[(key::HANDSHAKE, Some(&json))]).await
    }

    async fn list(&mut self) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, round, household_ref, content_hash, state, outcome, problems, created_at, updated_at
             FROM forms ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                let outcome: Option<String> = r.try_get("outcome")?;
                let problems: Option<String> = r.try_get("problems")?;
                let problems: Vec<FieldProblem> = match problems {
                    Some(p) => serde_json::from_str(&p).map_err(corrupt)?,
                    None => Vec::new(),
                };
                Ok(OutboxEntry {
                    id: parse_uuid(&r.try_get::<String, _>("id")?)?,
                    round: r.try_get("round")?,
                    household_ref: r.try_get("household_ref")?,
                    content_hash: r.try_get("content_hash")?,
                    state: LocalState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("state {state}")))?,
                    outcome: outcome.as_deref().map(Outcome::from_code),
                    problems,
                    created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
                    updated_at: parse_time(&r.try_get::<String, _>("updated_at")?)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use sync_protocol::FormUnits;

    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("sipas-collect-store-{}", Uuid::new_v4().simple()))
    }

    fn form(n: u32) -> FormSubmission {
        FormSubmission {
            id: Uuid::now_v7(),
            round: "sipas-2025".into(),
            questionnaire_code: "sipas".into(),
            questionnaire_version: 1,
            revision: 1,
            units: FormUnits {
                province: "12".into(),
                district: None,
                commune: "03430".into(),
                village: "V01".into(),
            },
            household_ref: format!("HH-{n}"),
            started_at: None,
            finished_at: None,
            gps: None,
            answers: schema::sample::complete_sipas_answers(),
        }
    }

    #[tokio::test]
    async fn states_survive_reopening_and_transitions_are_guarded() {
        let dir = temp_dir();
        let mut s = Store::open(&dir).await.expect("open");
        let device = s.device_id().await.expect("device id");
        let forms: Vec<FormSubmission> = (0..4).map(form).collect();
        for f in &forms {
            s.add(f).await.expect("add");
        }
        // Same content again is a no-op; other content under the same id is refused.
        s.add(&forms[0]).await.expect("idempotent add");
        let mut other = forms[0].clone();
        other.household_ref = "HH-X".into();
        assert!(matches!(s.add(&other).await, Err(StoreError::IdClash(_))));
        let ids: Vec<Uuid> = forms.iter().map(|f| f.id).collect();
        s.mark_in_flight(&ids[..3]).await.expect("in flight");
        s.mark_synced(&[(ids[0], Outcome::Accepted)])
            .await
            .expect("synced");
        s.mark_failed(&[FailedForm {
            id: ids[1],
            outcome: Outcome::Invalid,
            problems: vec![FieldProblem {
                field: "age".into(),
                code: "out_of_range".into(),
                message: "Tuổi".into(),
                message_en: None,
            }],
        }])
        .await
        .expect("failed");
        // A settled form is not reopened by a late answer.
        s.return_to_pending(&ids[..2]).await.expect("noop");
        s.mark_synced(&[(ids[1], Outcome::Duplicate)])
            .await
            .expect("noop");
        s.store_changes(&[], "c9").await.expect("cursor");
        s.close().await;

        let mut s = Store::open(&dir).await.expect("reopen");
        assert_eq!(s.device_id().await.expect("device id"), device);
        let listed = s.list().await.expect("list");
        let states: Vec<LocalState> = listed.iter().map(|e| e.state).collect();
        assert_eq!(
            states,
            [
                LocalState::Synced,
                LocalState::Failed,
                LocalState::InFlight,
                LocalState::Pending
            ]
        );
        assert_eq!(listed[1].outcome, Some(Outcome::Invalid));
        assert_eq!(listed[1].problems[0].code, "out_of_range");
        assert_eq!(s.in_flight().await.expect("in flight").len(), 1);
        assert_eq!(s.pending(10).await.expect("pending")[0].id(), ids[3]);
        assert_eq!(s.cursor().await.expect("cursor").as_deref(), Some("c9"));
        let f = &s.all_forms().await.expect("all")[2];
        assert_eq!(f.submission, forms[2]);
        assert_eq!(f.content_hash, forms[2].content_hash());
        s.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
