//! Reading an export's forms from SQLite through the connection's own handle, in one snapshot.
//!
//! Why not sqlx's row stream: its SQLite driver steps the statement on a worker thread and hands
//! every row to the runtime through a channel, one wake-up per row. At census scale that hand-off,
//! not SQLite, bounded the export: `perf` put about a third of the server's samples in futex
//! wake/wait between the two threads, and the CSV ran at 23% of `sqlite3`'s own read of the same
//! rows. Here the export's task locks the pooled connection (sqlx's worker leaves it alone while
//! locked) and steps the statement itself, between writing rows.
//!
//! The statement is the one sea-query builds for the export's condition; its values are bound
//! as sqlx binds them (text, integers, reals, blobs; times as RFC 3339 text), and a value of a
//! kind not bound here sends the export back to the sqlx stream ([`Rows::open`] answers `None`).
//! Rows are decoded as sqlx decodes them into [`form::Model`], so everything after is shared.

use std::{
    ffi::{CStr, CString, c_int},
    ptr::NonNull,
};

use libsqlite3_sys as ffi;
use sea_orm::{DbErr, sea_query::Value};
use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::entities::form;

/// The columns read, in this order (what [`Rows::next`] decodes).
pub const COLUMNS: [form::Column; 24] = [
    form::Column::Seq,
    form::Column::Id,
    form::Column::RoundCode,
    form::Column::QuestionnaireCode,
    form::Column::QuestionnaireVersion,
    form::Column::ProvinceCode,
    form::Column::DistrictCode,
    form::Column::CommuneCode,
    form::Column::VillageCode,
    form::Column::HouseholdRef,
    form::Column::Status,
    form::Column::Revision,
    form::Column::ContentHash,
    form::Column::DeviceId,
    form::Column::SubmittedBy,
    form::Column::StartedAt,
    form::Column::FinishedAt,
    form::Column::ReceivedAt,
    form::Column::UpdatedAt,
    form::Column::GpsLat,
    form::Column::GpsLon,
    form::Column::Answers,
    form::Column::Unassigned,
    form::Column::DuplicateHousehold,
];

/// A statement being stepped inside its own read transaction on a locked connection. Dropped
/// before the end (the client went away, an error), it finalizes the statement, rolls the
/// transaction back and restores the page cache.
pub struct Rows {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
    /// `PRAGMA cache_size` to run when done.
    restore_cache: String,
    open: bool,
}

// Safety: the handle is used only through `&mut self`, by one task at a time, while the
// caller holds the connection's lock (`LockedSqliteHandle`), so sqlx's worker does not use it
// meanwhile; SQLite connections may move between threads when not used concurrently (sqlx
// opens them in multi-thread mode).
unsafe impl Send for Rows {}

fn error(db: NonNull<ffi::sqlite3>, what: &str) -> DbErr {
    // Safety: `db` is an open connection; the message is copied before any other call.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) }
        .to_string_lossy()
        .into_owned();
    DbErr::Custom(format!("sqlite export read ({what}): {msg}"))
}

fn exec(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<(), DbErr> {
    let c = CString::new(sql).map_err(|e| DbErr::Custom(e.to_string()))?;
    // Safety: `db` is open; no callback; the error message is not asked for.
    let rc = unsafe {
        ffi::sqlite3_exec(
            db.as_ptr(),
            c.as_ptr(),
            None,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(error(db, sql))
    }
}

impl Rows {
    /// Begins a read transaction on `db`, sets its page cache to `cache_kib` (restored to
    /// `restore_kib` when done), and prepares `sql` with `values` bound. `None` when a value is
    /// of a kind not bound here (the caller reads through sqlx instead).
    ///
    /// # Safety
    /// `db` must be an open connection that nothing else uses until the answer is dropped.
    pub unsafe fn open(
        db: NonNull<ffi::sqlite3>,
        sql: &str,
        values: &[Value],
        cache_kib: u32,
        restore_kib: u32,
    ) -> Result<Option<Rows>, DbErr> {
        if !values.iter().all(bindable) {
            return Ok(None);
        }
        exec(db, "BEGIN")?;
        let mut rows = Rows {
            db,
            stmt: NonNull::dangling(),
            restore_cache: format!("PRAGMA cache_size = -{restore_kib}"),
            open: false,
        };
        // From here on, dropping `rows` rolls back (the statement is not finalized until set).
        let prepared = (|| {
            exec(db, &format!("PRAGMA cache_size = -{cache_kib}"))?;
            let c = CString::new(sql).map_err(|e| DbErr::Custom(e.to_string()))?;
            let mut stmt = std::ptr::null_mut();
            // Safety: `db` is open, `c` is NUL-terminated, `stmt` receives the statement.
            let rc = unsafe {
                ffi::sqlite3_prepare_v2(
                    db.as_ptr(),
                    c.as_ptr(),
                    -1,
                    &mut stmt,
                    std::ptr::null_mut(),
                )
            };
            NonNull::new(stmt)
                .filter(|_| rc == ffi::SQLITE_OK)
                .ok_or_else(|| error(db, "prepare"))
        })();
        let stmt = match prepared {
            Ok(s) => s,
            Err(e) => {
                rows.close_quietly();
                return Err(e);
            }
        };
        rows.stmt = stmt;
        rows.open = true;
        for (i, v) in values.iter().enumerate() {
            rows.bind(i as c_int + 1, v)?;
        }
        Ok(Some(rows))
    }

    fn bind(&mut self, i: c_int, v: &Value) -> Result<(), DbErr> {
        let s = self.stmt.as_ptr();
        // Safety: `s` is a prepared statement of this connection; text and blobs are copied by
        // SQLite (SQLITE_TRANSIENT) before the call returns.
        let rc = unsafe {
            let int = |x: i64| ffi::sqlite3_bind_int64(s, i, x);
            let text = |t: &str| {
                ffi::sqlite3_bind_text(
                    s,
                    i,
                    t.as_ptr().cast(),
                    t.len() as c_int,
                    ffi::SQLITE_TRANSIENT(),
                )
            };
            let blob = |b: &[u8]| {
                ffi::sqlite3_bind_blob(
                    s,
                    i,
                    b.as_ptr().cast(),
                    b.len() as c_int,
                    ffi::SQLITE_TRANSIENT(),
                )
            };
            match v {
                Value::Bool(Some(b)) => int(i64::from(*b)),
                Value::TinyInt(Some(x)) => int(i64::from(*x)),
                Value::SmallInt(Some(x)) => int(i64::from(*x)),
                Value::Int(Some(x)) => int(i64::from(*x)),
                Value::BigInt(Some(x)) => int(*x),
                Value::TinyUnsigned(Some(x)) => int(i64::from(*x)),
                Value::SmallUnsigned(Some(x)) => int(i64::from(*x)),
                Value::Unsigned(Some(x)) => int(i64::from(*x)),
                Value::Double(Some(x)) => ffi::sqlite3_bind_double(s, i, *x),
                Value::Float(Some(x)) => ffi::sqlite3_bind_double(s, i, f64::from(*x)),
                Value::String(Some(t)) => text(t),
                Value::Bytes(Some(b)) => blob(b),
                Value::Uuid(Some(u)) => blob(u.as_bytes()),
                Value::TimeDateTimeWithTimeZone(Some(t)) => {
                    let t = t
                        .format(&Rfc3339)
                        .map_err(|e| DbErr::Custom(e.to_string()))?;
                    text(&t)
                }
                _ => ffi::sqlite3_bind_null(s, i),
            }
        };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(error(self.db, "bind"))
        }
    }

    /// The next form, `None` after the last.
    pub fn next(&mut self) -> Result<Option<form::Model>, DbErr> {
        // Safety: the statement is prepared and not finalized while `self.open`.
        let rc = unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) };
        match rc {
            ffi::SQLITE_ROW => self.decode().map(Some),
            ffi::SQLITE_DONE => Ok(None),
            _ => Err(error(self.db, "step")),
        }
    }

    /// Ends the read: finalizes the statement, commits, restores the page cache.
    pub fn finish(mut self) -> Result<(), DbErr> {
        self.finalize();
        self.open = false;
        let done = exec(self.db, "COMMIT");
        if done.is_err() {
            let _ = exec(self.db, "ROLLBACK");
        }
        let restored = exec(self.db, &self.restore_cache);
        done.and(restored)
    }

    fn finalize(&mut self) {
        if self.open {
            // Safety: finalized once, here; `open` is cleared by the callers.
            unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
        }
    }

    fn close_quietly(&mut self) {
        self.finalize();
        self.open = false;
        if let Err(e) = exec(self.db, "ROLLBACK") {
            tracing::warn!(error = %e, "could not roll back an export's read");
        }
        if let Err(e) = exec(self.db, &self.restore_cache) {
            tracing::warn!(error = %e, "could not restore the connection's page cache");
        }
    }

    fn kind(&self, i: c_int) -> c_int {
        // Safety: a row is current (called from `decode` only).
        unsafe { ffi::sqlite3_column_type(self.stmt.as_ptr(), i) }
    }

    fn int(&self, i: c_int) -> i64 {
        // Safety: as `kind`.
        unsafe { ffi::sqlite3_column_int64(self.stmt.as_ptr(), i) }
    }

    fn bytes(&self, i: c_int) -> &[u8] {
        // Safety: as `kind`; the pointer is valid until the next step, and `&self` borrows the
        // row for no longer than that (`next` takes `&mut self`). The blob call is made before
        // the length call, as SQLite documents.
        unsafe {
            let p = ffi::sqlite3_column_blob(self.stmt.as_ptr(), i);
            let n = ffi::sqlite3_column_bytes(self.stmt.as_ptr(), i);
            if p.is_null() || n <= 0 {
                &[]
            } else {
                std::slice::from_raw_parts(p.cast::<u8>(), n as usize)
            }
        }
    }

    fn text(&self, i: c_int) -> Result<Option<String>, DbErr> {
        if self.kind(i) == ffi::SQLITE_NULL {
            return Ok(None);
        }
        // Safety: as `bytes` (text read as its bytes: SQLite's UTF-8, checked here).
        let b = unsafe {
            let p = ffi::sqlite3_column_text(self.stmt.as_ptr(), i);
            let n = ffi::sqlite3_column_bytes(self.stmt.as_ptr(), i);
            if p.is_null() || n <= 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(p.cast::<u8>(), n as usize)
            }
        };
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| DbErr::Custom(format!("column {i} is not UTF-8")))
    }

    fn string(&self, i: c_int) -> Result<String, DbErr> {
        self.text(i)?
            .ok_or_else(|| DbErr::Custom(format!("column {i} is NULL")))
    }

    fn opt_int(&self, i: c_int) -> Option<i64> {
        (self.kind(i) != ffi::SQLITE_NULL).then(|| self.int(i))
    }

    fn opt_real(&self, i: c_int) -> Option<f64> {
        // Safety: as `kind`.
        (self.kind(i) != ffi::SQLITE_NULL)
            .then(|| unsafe { ffi::sqlite3_column_double(self.stmt.as_ptr(), i) })
    }

    fn int32(&self, i: c_int) -> Result<i32, DbErr> {
        i32::try_from(self.int(i)).map_err(|e| DbErr::Custom(format!("column {i}: {e}")))
    }

    fn time(&self, i: c_int) -> Result<Option<OffsetDateTime>, DbErr> {
        match self.kind(i) {
            ffi::SQLITE_NULL => Ok(None),
            ffi::SQLITE_INTEGER => OffsetDateTime::from_unix_timestamp(self.int(i))
                .map(Some)
                .map_err(|e| DbErr::Custom(format!("column {i}: {e}"))),
            _ => {
                let t = self.string(i)?;
                parse_time(&t)
                    .map(Some)
                    .ok_or_else(|| DbErr::Custom(format!("column {i}: not a time: {t}")))
            }
        }
    }

    fn decode(&self) -> Result<form::Model, DbErr> {
        let id = match self.kind(1) {
            ffi::SQLITE_TEXT => Uuid::parse_str(&self.string(1)?).ok(),
            _ => Uuid::from_slice(self.bytes(1)).ok(),
        }
        .ok_or_else(|| DbErr::Custom("column 1 is not a form id".into()))?;
        let required = |t: Option<OffsetDateTime>, i| {
            t.ok_or_else(|| DbErr::Custom(format!("column {i} is NULL")))
        };
        Ok(form::Model {
            seq: self.int(0),
            id,
            round_code: self.string(2)?,
            questionnaire_code: self.string(3)?,
            questionnaire_version: self.int32(4)?,
            province_code: self.string(5)?,
            district_code: self.text(6)?,
            commune_code: self.string(7)?,
            village_code: self.string(8)?,
            household_ref: self.string(9)?,
            status: self.string(10)?,
            revision: self.int32(11)?,
            content_hash: self.string(12)?,
            device_id: self.text(13)?,
            submitted_by: self.opt_int(14),
            started_at: self.time(15)?,
            finished_at: self.time(16)?,
            received_at: required(self.time(17)?, 17)?,
            updated_at: required(self.time(18)?, 18)?,
            gps_lat: self.opt_real(19),
            gps_lon: self.opt_real(20),
            answers: self.bytes(21).to_vec(),
            unassigned: self.int(22) != 0,
            duplicate_household: self.int(23) != 0,
        })
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        if self.open {
            self.close_quietly();
        }
    }
}

/// Whether [`Rows::open`] binds a value of this kind as sqlx would.
fn bindable(v: &Value) -> bool {
    matches!(
        v,
        Value::Bool(_)
            | Value::TinyInt(_)
            | Value::SmallInt(_)
            | Value::Int(_)
            | Value::BigInt(_)
            | Value::TinyUnsigned(_)
            | Value::SmallUnsigned(_)
            | Value::Unsigned(_)
            | Value::Float(_)
            | Value::Double(_)
            | Value::String(_)
            | Value::Bytes(_)
            | Value::Uuid(_)
            | Value::TimeDateTimeWithTimeZone(_)
    )
}

/// A stored time, read as sqlx reads one: RFC 3339 (what it writes), else
/// `YYYY-MM-DD HH:MM:SS[.f]` taken as UTC.
pub fn parse_time(t: &str) -> Option<OffsetDateTime> {
    if let Ok(x) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(x);
    }
    let plain = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(t, &plain)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    use sea_orm::{
        ColumnTrait, Condition, ConnectionTrait, Database, DbBackend, EntityTrait, QueryFilter,
        QueryOrder, QuerySelect, QueryTrait,
    };
    use sea_orm_migration::MigratorTrait;
    use sync_protocol::sample::SipasForm;

    /// Every form of the round since `t0` through [`Rows`] and through sea-orm: the same models.
    #[tokio::test]
    async fn rows_decode_as_sea_orm_does_and_leave_the_connection_clean() {
        let path = std::env::temp_dir().join(format!("sipas-rows-{}.db", Uuid::now_v7()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = Database::connect(&url).await.unwrap();
        crate::migration::Migrator::up(&db, None).await.unwrap();
        crate::seed::run(&db).await.unwrap();
        let definitions = crate::definitions::Definitions::default();
        let t0 = OffsetDateTime::now_utc() - time::Duration::seconds(5);
        let t = time::macros::datetime!(2025-09-01 09:30:00.123456 +07:00);
        let forms = [
            SipasForm::new().build(),
            SipasForm::new()
                .village("Bản Nà Khương, \"Tổ 3\"")
                .started_at(t - time::Duration::minutes(31))
                .finished_at(t)
                .gps(sync_protocol::Gps {
                    lat: 22.396_428_123_456_78,
                    lon: 103.458_201_987_654_3,
                    accuracy_m: Some(4.0),
                })
                .build(),
            SipasForm::new().build(),
        ];
        for f in &forms {
            crate::forms::store_accepted(
                &db,
                &definitions,
                f,
                crate::forms::Sender {
                    user: None,
                    device: Some("dev-rows"),
                },
            )
            .await
            .unwrap();
        }
        let cond = Condition::all()
            .add(form::Column::RoundCode.eq("sipas-2025"))
            .add(form::Column::UpdatedAt.gte(t0))
            .add(form::Column::Seq.gt(0));
        let want = form::Entity::find()
            .filter(cond.clone())
            .order_by_asc(form::Column::Seq)
            .all(&db)
            .await
            .unwrap();
        assert_eq!(want.len(), 3);
        let stmt = form::Entity::find()
            .select_only()
            .columns(COLUMNS)
            .filter(cond)
            .order_by_asc(form::Column::Seq)
            .build(DbBackend::Sqlite);
        let values = stmt.values.map(|v| v.0).unwrap_or_default();
        let mut conn = db.get_sqlite_connection_pool().acquire().await.unwrap();
        {
            let mut locked = conn.lock_handle().await.unwrap();
            // Safety: locked for this block.
            let mut rows =
                unsafe { Rows::open(locked.as_raw_handle(), &stmt.sql, &values, 1024, 2048) }
                    .unwrap()
                    .expect("every value bindable");
            let mut got = Vec::new();
            while let Some(f) = rows.next().unwrap() {
                got.push(f);
            }
            rows.finish().unwrap();
            assert_eq!(got, want);
            // Dropped after one row: rolled back, nothing left open.
            let mut rows =
                unsafe { Rows::open(locked.as_raw_handle(), &stmt.sql, &values, 1024, 2048) }
                    .unwrap()
                    .unwrap();
            assert!(rows.next().unwrap().is_some());
            drop(rows);
            // A value of a kind not bound here: the caller reads through sqlx.
            let json = [Value::Json(None)];
            assert!(
                unsafe { Rows::open(locked.as_raw_handle(), "SELECT ?", &json, 1024, 2048) }
                    .unwrap()
                    .is_none()
            );
        }
        use sea_orm::sqlx::Row as _;
        let cache: i64 = sea_orm::sqlx::query("PRAGMA cache_size")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(cache, -2048);
        // No transaction left open: a new one begins.
        sea_orm::sqlx::query("BEGIN")
            .execute(&mut *conn)
            .await
            .unwrap();
        sea_orm::sqlx::query("ROLLBACK")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        db.execute_unprepared("SELECT 1").await.unwrap();
        db.close().await.unwrap();
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn times_read_as_sqlx_writes_and_reads_them() {
        let t = time::macros::datetime!(2025-09-01 02:03:04.5 UTC);
        assert_eq!(parse_time(&t.format(&Rfc3339).unwrap()), Some(t));
        assert_eq!(
            parse_time("2025-09-01T09:03:04+07:00"),
            Some(time::macros::datetime!(2025-09-01 02:03:04 UTC))
        );
        assert_eq!(
            parse_time("2025-09-01 02:03:04"),
            Some(time::macros::datetime!(2025-09-01 02:03:04 UTC))
        );
        assert_eq!(parse_time("1 Sept 2025"), None);
    }
}
