//! Exports for analysts: a round's forms in the wide layout ([`layout`]) as CSV, JSON Lines,
//! XLSX or a zip bundle with codebook and Stata/SPSS/R scripts ([`format`], [`scripts`]), and
//! the quarantine with each payload's reason. One code path for HTTP (`routes::exports`) and the
//! command line (`sipas export`): [`prepare_forms`] checks the request and fixes what is
//! exported, [`run`] streams it.
//!
//! Streaming: [`run`] reads the rows in storage order from one database cursor and hands the
//! encoded bytes to a bounded channel in chunks of about [`CHUNK`] bytes; the first chunk (the
//! header) leaves before the first row is read, memory stays at a few chunks whatever the size,
//! and when the receiver goes (the client disconnected) the next send fails and the read stops.

pub mod format;
pub mod layout;
pub mod scripts;
mod sqlite_rows;
pub mod zip;

use std::{collections::HashMap, sync::Arc};

use axum::body::Bytes;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
    sea_query::{Expr, Func},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use crate::{
    auth::{AuthUser, policy},
    definitions::{Definition, Definitions},
    entities::{form, quarantined_form, round, user},
    error::ApiError,
    registry,
    text::rfc3339,
};
use format::{Encoder, Format};
use layout::{Cell, Column, ColumnKind, Layout, Row};

/// Bytes gathered before a chunk is sent.
pub const CHUNK: usize = 64 * 1024;

/// Chunks in flight between the reader and the client: with [`CHUNK`], the export's memory.
pub const CHANNEL_CHUNKS: usize = 8;

/// Version of the layout's rules, part of every ETag: a server that lays rows out differently
/// never answers 304 for an export made by an older one.
pub const LAYOUT_VERSION: u32 = 1;

/// The query of a forms export.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormsExportQuery {
    /// `csv` (default), `jsonl`, `xlsx` or `zip` (CSV with codebook and scripts).
    #[param(inline)]
    pub format: Option<Format>,
    /// Only forms inside this unit (a province, district or commune code of the round's
    /// geography).
    pub unit: Option<String>,
    /// Only forms in this review state (`accepted`, `rejected`, ...).
    pub status: Option<String>,
    /// Only forms received or changed at or after this time (RFC 3339): an incremental pull.
    /// Use the `Sipas-Export-Next-Since` of the previous export; a form may appear in two
    /// pulls (keep the row with the latest `updated_at` per `form_id`).
    pub since: Option<String>,
    /// Language of the labels in the scripts (`vi`, default, or `en`); the codebook has both.
    pub lang: Option<String>,
}

/// The query of a quarantine export.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineExportQuery {
    /// `csv` (default), `jsonl` or `xlsx`.
    #[param(inline)]
    pub format: Option<Format>,
    /// Only payloads filed under this round.
    pub round: Option<String>,
    /// Only payloads received at or after this time (RFC 3339).
    pub since: Option<String>,
}

/// A questionnaire version in an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedQuestionnaire {
    /// Its code.
    pub code: String,
    /// Its version.
    pub version: u32,
    /// SHA-256 of its canonical definition.
    pub content_hash: String,
}

/// The filters an export was made with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFilters {
    /// Unit filter.
    pub unit: Option<String>,
    /// Status filter.
    pub status: Option<String>,
    /// Incremental pull: received or changed at or after this time.
    pub since: Option<String>,
}

/// What an export is: written beside the data (`about.json`, the XLSX "about" sheet) so the
/// file says where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct About {
    /// The round.
    pub round: String,
    /// When the export started (RFC 3339, UTC).
    pub generated_at: String,
    /// Who asked.
    pub requested_by: String,
    /// The format.
    pub format: Format,
    /// Language of the scripts' labels.
    pub lang: String,
    /// The filters.
    pub filters: ExportFilters,
    /// The questionnaire versions whose columns the export has.
    pub questionnaires: Vec<ExportedQuestionnaire>,
    /// The `since` to pass for the next incremental pull.
    pub next_since: String,
    /// Forms written (known when the export ends).
    pub forms: u64,
    /// Forms whose stored answers did not decode (written with their fields, answers empty).
    pub undecodable: u64,
    /// The layout's rules version.
    pub layout_version: u32,
}

impl About {
    /// The description as key/value text pairs (the XLSX "about" sheet).
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("key".to_owned(), "value".to_owned()),
            ("round".into(), self.round.clone()),
            ("generated_at".into(), self.generated_at.clone()),
            ("requested_by".into(), self.requested_by.clone()),
            ("format".into(), self.format.extension().to_owned()),
            ("lang".into(), self.lang.clone()),
            (
                "filter_unit".into(),
                self.filters.unit.clone().unwrap_or_default(),
            ),
            (
                "filter_status".into(),
                self.filters.status.clone().unwrap_or_default(),
            ),
            (
                "filter_since".into(),
                self.filters.since.clone().unwrap_or_default(),
            ),
            ("next_since".into(), self.next_since.clone()),
            ("forms".into(), self.forms.to_string()),
            ("undecodable".into(), self.undecodable.to_string()),
            ("layout_version".into(), self.layout_version.to_string()),
        ];
        for q in &self.questionnaires {
            v.push((
                format!("questionnaire {} v{}", q.code, q.version),
                q.content_hash.clone(),
            ));
        }
        v
    }
}

/// What to read and how to lay it out.
enum Source {
    /// Forms of a round.
    Forms {
        geography: &'static ::geography::Geography,
        definitions: Vec<Arc<Definition>>,
    },
    /// Quarantined payloads.
    Quarantine,
}

/// An export checked and fixed, ready to [`run`].
pub struct Prepared {
    /// The columns.
    pub layout: Arc<Layout>,
    /// The description (its counts filled in as the export runs).
    pub about: About,
    /// The weak ETag of the data this export would send.
    pub etag: String,
    /// A file name for the download.
    pub file_name: String,
    cond: Condition,
    source: Source,
    now: OffsetDateTime,
}

/// How far back the next `since` reaches before this export's start: a form written by a
/// transaction that began before the export and committed after its read is in the next pull.
const SINCE_OVERLAP: time::Duration = time::Duration::minutes(5);

fn parse_since(since: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    let Some(s) = since.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(Some)
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_since",
                format!("“since” phải là thời điểm RFC 3339, ví dụ 2025-07-01T00:00:00Z; nhận được “{s}”."),
                format!("“since” must be an RFC 3339 time such as 2025-07-01T00:00:00Z; got “{s}”."),
            )
        })
}

fn parse_lang(lang: Option<&str>) -> Result<String, ApiError> {
    match lang.unwrap_or("vi") {
        l @ ("vi" | "en") => Ok(l.to_owned()),
        other => Err(ApiError::bad_request(
            "invalid_lang",
            format!("“lang” phải là vi hoặc en; nhận được “{other}”."),
            format!("“lang” must be vi or en; got “{other}”."),
        )),
    }
}

fn unit_condition(geo: &str, unit: &str) -> Option<Condition> {
    let u = ::geography::by_code(geo)?.unit(unit)?;
    Some(Condition::all().add(match u.level {
        ::geography::Level::Province => form::Column::ProvinceCode.eq(unit),
        ::geography::Level::District => form::Column::DistrictCode.eq(unit),
        ::geography::Level::Commune => form::Column::CommuneCode.eq(unit),
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Checks a forms export of `round_code` for `me` and fixes what it contains: the caller's
/// scope (enumerators may not export: 403), the filters, the columns of every published
/// version of the round's questionnaire (so that incremental pulls of one round share their
/// columns), and the ETag of the rows it would send.
pub async fn prepare_forms(
    db: &DatabaseConnection,
    definitions: &Definitions,
    me: &AuthUser,
    round_code: &str,
    q: &FormsExportQuery,
) -> Result<Prepared, ApiError> {
    policy::can_export_forms(me)?;
    let format = q.format.unwrap_or(Format::Csv);
    let lang = parse_lang(q.lang.as_deref())?;
    let since = parse_since(q.since.as_deref())?;
    let r = round::Entity::find_by_id(round_code.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("đợt khảo sát", "Survey round"))?;
    let geography = ::geography::by_code(&r.geography_code)
        .ok_or_else(|| ApiError::internal("the round's geography is not built in"))?;
    let round_cond = match db.get_database_backend() {
        // SQLite would read `round_code = ?` through the units index and then sort a whole
        // round by `seq` (most of an export's time, measured); the unary `+` keeps it on the
        // table's own `seq` order, which is the order wanted.
        DbBackend::Sqlite => Expr::cust_with_values("+\"forms\".\"round_code\" = ?", [round_code]),
        _ => form::Column::RoundCode.eq(round_code),
    };
    let mut cond = Condition::all()
        .add(round_cond)
        .add(policy::readable_forms(me, &r.geography_code));
    let unit = q.unit.clone().filter(|u| !u.is_empty());
    if let Some(unit) = &unit {
        let uc = unit_condition(&r.geography_code, unit)
            .ok_or_else(|| ApiError::not_found("đơn vị hành chính", "Administrative unit"))?;
        policy::require_unit(me, &r.geography_code, unit)?;
        cond = cond.add(uc);
    }
    let status = q.status.clone().filter(|s| !s.is_empty());
    if let Some(s) = &status {
        cond = cond.add(form::Column::Status.eq(s.clone()));
    }
    if let Some(t) = since {
        cond = cond.add(form::Column::UpdatedAt.gte(t));
    }
    // The versions: every published version of the round's questionnaire (push stores no
    // other in a round; a form of another, imported, is exported with its fields and counted
    // as undecodable).
    let wanted: Vec<(String, i32)> = registry::list(db)
        .await?
        .into_iter()
        .filter(|v| v.code == r.questionnaire_code)
        .map(|v| (v.code, v.version))
        .collect();
    let mut defs = Vec::new();
    for (code, version) in &wanted {
        defs.push(definitions.stored(db, code, *version).await?);
    }
    let qs: Vec<&schema::Questionnaire> = defs.iter().map(|d| &d.questionnaire).collect();
    let layout = Layout::new(&qs);
    // Keep the definitions in the layout's version order.
    let defs: Vec<Arc<Definition>> = layout
        .versions
        .iter()
        .map(|(c, v, _)| {
            defs.iter()
                .find(|d| d.questionnaire.code == *c && d.questionnaire.version == *v)
                .cloned()
                .expect("a layout version comes from a definition")
        })
        .collect();
    // What the rows are now, without reading them (the first byte must not wait for a count of
    // a million rows): the round's last change, one lookup at the end of the
    // `(round_code, updated_at)` index, and the last form stored anywhere, the end of the primary
    // key. Every write that changes what an export sends (a form stored, a revision, a review)
    // sets `updated_at`; a new form also moves the last `seq`, so a clock stepped back cannot
    // hide it. A round's forms are deleted only with the (practice) round itself.
    let max_updated: Option<String> = form::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(\"updated_at\" AS TEXT)"), "u")
        .filter(form::Column::RoundCode.eq(round_code))
        .order_by_desc(form::Column::UpdatedAt)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let max_seq: Option<i64> = form::Entity::find()
        .select_only()
        .column(form::Column::Seq)
        .order_by_desc(form::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let now = OffsetDateTime::now_utc();
    let filters = ExportFilters {
        unit,
        status,
        since: since.and_then(|t| rfc3339(&t)),
    };
    let mut h = Sha256::new();
    h.update(
        format!(
            "forms|{LAYOUT_VERSION}|{round_code}|{format:?}|{lang}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{max_seq:?}|{:?}",
            me.id,
            // What the caller may read: a changed scope is another export.
            me.role,
            me.scope,
            me.team,
            filters.unit,
            filters.status,
            filters.since,
            max_updated
        )
        .as_bytes(),
    );
    for (c, v, hash) in &layout.versions {
        h.update(format!("|{c}:{v}:{hash}").as_bytes());
    }
    let etag = format!("W/\"{}\"", &hex(&h.finalize())[..32]);
    let about = About {
        round: round_code.to_owned(),
        generated_at: rfc3339(&now).unwrap_or_default(),
        requested_by: me.username.clone(),
        format,
        lang,
        filters,
        questionnaires: layout
            .versions
            .iter()
            .map(|(code, version, content_hash)| ExportedQuestionnaire {
                code: code.clone(),
                version: *version,
                content_hash: content_hash.clone(),
            })
            .collect(),
        next_since: rfc3339(&(now - SINCE_OVERLAP)).unwrap_or_default(),
        forms: 0,
        undecodable: 0,
        layout_version: LAYOUT_VERSION,
    };
    Ok(Prepared {
        layout: Arc::new(layout),
        about,
        etag,
        file_name: format!("{round_code}-forms.{}", format.extension()),
        cond,
        source: Source::Forms {
            geography,
            definitions: defs,
        },
        now,
    })
}

/// The columns of a quarantine export.
fn quarantine_layout() -> Layout {
    let col = |name: &str, kind, vi: &str, en: &str| Column {
        name: name.to_owned(),
        kind,
        question: None,
        label: schema::Label::new(vi, en),
        values: Vec::new(),
    };
    Layout::plain(vec![
        col("seq", ColumnKind::Integer, "Số thứ tự", "Sequence"),
        col(
            "form_id",
            ColumnKind::Text,
            "Mã phiếu (nếu đọc được)",
            "Form id (if readable)",
        ),
        col("round", ColumnKind::Text, "Đợt khảo sát", "Survey round"),
        col("reason", ColumnKind::Text, "Lý do", "Reason"),
        col(
            "errors",
            ColumnKind::Text,
            "Các lỗi (JSON)",
            "Problems found (JSON)",
        ),
        col("device_id", ColumnKind::Text, "Thiết bị", "Device"),
        col(
            "submitted_by",
            ColumnKind::Integer,
            "Người gửi",
            "Sent by (user id)",
        ),
        col(
            "sender",
            ColumnKind::Text,
            "Tên đăng nhập người gửi",
            "Sender's username",
        ),
        col(
            "received_at",
            ColumnKind::DateTime,
            "Máy chủ nhận",
            "Received",
        ),
        col(
            "content_hash",
            ColumnKind::Text,
            "Mã băm nội dung",
            "Content hash",
        ),
        col(
            "payload",
            ColumnKind::Text,
            "Nội dung gửi (JSON)",
            "Payload as received (JSON)",
        ),
    ])
}

/// Checks a quarantine export (the ministry only) and fixes what it contains.
pub async fn prepare_quarantine(
    db: &DatabaseConnection,
    me: &AuthUser,
    q: &QuarantineExportQuery,
) -> Result<Prepared, ApiError> {
    policy::can_export_quarantine(me)?;
    let format = q.format.unwrap_or(Format::Csv);
    let since = parse_since(q.since.as_deref())?;
    let mut cond = Condition::all();
    let round = q.round.clone().filter(|r| !r.is_empty());
    if let Some(r) = &round {
        cond = cond.add(quarantined_form::Column::RoundCode.eq(r.clone()));
    }
    if let Some(t) = since {
        cond = cond.add(quarantined_form::Column::ReceivedAt.gte(t));
    }
    let (count, max_seq): (i64, Option<i64>) = quarantined_form::Entity::find()
        .select_only()
        .column_as(
            Expr::from(Func::count(Expr::col(quarantined_form::Column::Seq))),
            "n",
        )
        .column_as(
            Expr::from(Func::max(Expr::col(quarantined_form::Column::Seq))),
            "max_seq",
        )
        .filter(cond.clone())
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or((0, None));
    let now = OffsetDateTime::now_utc();
    let filters = ExportFilters {
        unit: None,
        status: None,
        since: since.and_then(|t| rfc3339(&t)),
    };
    let etag = {
        let mut h = Sha256::new();
        h.update(
            format!(
                "quarantine|{LAYOUT_VERSION}|{round:?}|{format:?}|{:?}|{count}|{max_seq:?}",
                filters.since
            )
            .as_bytes(),
        );
        format!("W/\"{}\"", &hex(&h.finalize())[..32])
    };
    let about = About {
        round: round.clone().unwrap_or_default(),
        generated_at: rfc3339(&now).unwrap_or_default(),
        requested_by: me.username.clone(),
        format,
        lang: "vi".into(),
        filters,
        questionnaires: Vec::new(),
        next_since: rfc3339(&(now - SINCE_OVERLAP)).unwrap_or_default(),
        forms: 0,
        undecodable: 0,
        layout_version: LAYOUT_VERSION,
    };
    Ok(Prepared {
        layout: Arc::new(quarantine_layout()),
        about,
        etag,
        file_name: format!(
            "{}quarantine.{}",
            round.map(|r| format!("{r}-")).unwrap_or_default(),
            format.extension()
        ),
        cond,
        source: Source::Quarantine,
        now,
    })
}

/// Why an export stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The receiver is gone: the client disconnected.
    #[error("the client went away")]
    Gone,
    /// The database failed mid-read.
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

/// What the reader hands on: a chunk, or the error that cut the export short (so that the
/// response is aborted, not ended as if complete).
pub type Chunk = Result<Bytes, std::io::Error>;

/// Sends `out` if it holds a chunk's worth (or `force`).
async fn flush(tx: &mpsc::Sender<Chunk>, out: &mut Vec<u8>, force: bool) -> Result<(), RunError> {
    if out.is_empty() || (!force && out.len() < CHUNK) {
        return Ok(());
    }
    let chunk = Bytes::from(std::mem::replace(out, Vec::with_capacity(CHUNK * 2)));
    tx.send(Ok(chunk)).await.map_err(|_| RunError::Gone)
}

/// Streams a prepared export into `tx`; returns its description with the counts filled in.
/// Stops with [`RunError::Gone`] as soon as the receiver is dropped. On a database error the
/// caller sends it on (see [`spawn`]), so the reader knows the export is incomplete.
pub async fn run(
    db: &DatabaseConnection,
    prepared: Prepared,
    tx: &mpsc::Sender<Chunk>,
) -> Result<About, RunError> {
    let Prepared {
        layout,
        mut about,
        cond,
        source,
        now,
        ..
    } = prepared;
    let mut enc = Encoder::new(about.format, &layout, now);
    let mut out = Vec::with_capacity(CHUNK * 2);
    enc.start(&layout, &mut out);
    flush(tx, &mut out, true).await?;
    let users: Vec<(i64, String)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Username)
        .into_tuple()
        .all(db)
        .await?;
    let users: HashMap<i64, String> = users.into_iter().collect();
    let n = layout.columns.len();
    let mut row = Row::default();
    match source {
        Source::Forms {
            geography,
            definitions,
        } => {
            let mut w = FormWriter {
                layout: &layout,
                definitions: &definitions,
                users: &users,
                names: UnitNames::new(geography),
                last_version: None,
                row: Row::default(),
            };
            // One transaction: every row from one snapshot, and on SQLite one pinned connection
            // whose page cache is small while it reads the round once in order (restored before
            // the connection goes back to the pool, whatever happened).
            let sqlite = db.get_database_backend() == DbBackend::Sqlite;
            let mut done = false;
            if sqlite {
                let stmt = form::Entity::find()
                    .select_only()
                    .columns(sqlite_rows::COLUMNS)
                    .filter(cond.clone())
                    .order_by_asc(form::Column::Seq)
                    .build(DbBackend::Sqlite);
                let values = stmt.values.map(|v| v.0).unwrap_or_default();
                let mut conn = db
                    .get_sqlite_connection_pool()
                    .acquire()
                    .await
                    .map_err(|e| sea_orm::DbErr::Custom(format!("sqlite connection: {e}")))?;
                let mut locked = conn
                    .lock_handle()
                    .await
                    .map_err(|e| sea_orm::DbErr::Custom(format!("sqlite connection: {e}")))?;
                // Safety: the connection is locked for this task until `locked` drops, after
                // `rows` (declared after it, so dropped first on every path).
                let opened = unsafe {
                    sqlite_rows::Rows::open(
                        locked.as_raw_handle(),
                        &stmt.sql,
                        &values,
                        crate::db::SQLITE_EXPORT_CACHE_KIB,
                        crate::db::SQLITE_CACHE_KIB,
                    )
                }?;
                if let Some(mut rows) = opened {
                    while let Some(f) = rows.next()? {
                        w.write(&f, &mut enc, &mut about, &mut out);
                        flush(tx, &mut out, false).await?;
                    }
                    rows.finish()?;
                    done = true;
                }
            }
            if !done {
                let txn = db.begin().await?;
                if sqlite {
                    txn.execute_unprepared(&format!(
                        "PRAGMA cache_size = -{}",
                        crate::db::SQLITE_EXPORT_CACHE_KIB
                    ))
                    .await?;
                }
                let streamed: Result<(), RunError> = async {
                    let mut stream = form::Entity::find()
                        .filter(cond)
                        .order_by_asc(form::Column::Seq)
                        .stream(&txn)
                        .await?;
                    while let Some(f) = stream.next().await {
                        w.write(&f?, &mut enc, &mut about, &mut out);
                        flush(tx, &mut out, false).await?;
                    }
                    Ok(())
                }
                .await;
                if sqlite {
                    let restore = format!("PRAGMA cache_size = -{}", crate::db::SQLITE_CACHE_KIB);
                    if let Err(e) = txn.execute_unprepared(&restore).await {
                        tracing::warn!(error = %e, "could not restore the connection's page cache");
                    }
                }
                streamed?;
                txn.commit().await?;
            }
        }
        Source::Quarantine => {
            let mut stream = quarantined_form::Entity::find()
                .filter(cond)
                .order_by_asc(quarantined_form::Column::Seq)
                .stream(db)
                .await?;
            while let Some(qf) = stream.next().await {
                let qf = qf?;
                row.reset(n);
                row.cells[0] = Cell::Int(qf.seq);
                if let Some(id) = qf.form_id {
                    row.set_with(1, |s| {
                        use std::fmt::Write as _;
                        let _ = write!(s, "{id}");
                    });
                }
                if let Some(r) = &qf.round_code {
                    row.set_text(2, r);
                }
                row.set_text(3, &qf.reason);
                row.set_text(4, &qf.errors);
                if let Some(d) = &qf.device_id {
                    row.set_text(5, d);
                }
                if let Some(u) = qf.submitted_by {
                    row.cells[6] = Cell::Int(u);
                    if let Some(name) = users.get(&u) {
                        row.set_text(7, name);
                    }
                }
                if let Some(t) = rfc3339(&qf.received_at) {
                    row.set_text(8, &t);
                }
                if let Some(h) = &qf.content_hash {
                    row.set_text(9, h);
                }
                row.set_text(10, &qf.payload);
                enc.row(&layout, &row, &mut out);
                flush(tx, &mut out, false).await?;
            }
        }
    }
    about.forms = enc.rows;
    enc.finish(&layout, &about, &mut out);
    flush(tx, &mut out, true).await?;
    Ok(about)
}

/// Writes a round's forms one by one: each form's own fields, then its answers laid out by its
/// questionnaire version (an unreadable form keeps its own fields, its answers left empty, and
/// is counted as undecodable).
struct FormWriter<'a> {
    layout: &'a Layout,
    definitions: &'a [Arc<Definition>],
    users: &'a HashMap<i64, String>,
    names: UnitNames,
    /// The last form's (questionnaire, version) and its index in the layout.
    last_version: Option<(String, i32, Option<usize>)>,
    row: Row,
}

impl FormWriter<'_> {
    fn write(&mut self, f: &form::Model, enc: &mut Encoder, about: &mut About, out: &mut Vec<u8>) {
        let layout = self.layout;
        self.row.reset(layout.columns.len());
        fill_meta(f, self.users, &mut self.names, &mut self.row);
        let vi = match &self.last_version {
            Some((c, v, i)) if *c == f.questionnaire_code && *v == f.questionnaire_version => *i,
            _ => {
                let i = u32::try_from(f.questionnaire_version)
                    .ok()
                    .and_then(|v| layout.version_index(&f.questionnaire_code, v));
                self.last_version =
                    Some((f.questionnaire_code.clone(), f.questionnaire_version, i));
                i
            }
        };
        let filled = match vi {
            Some(i) => layout
                .fill_stored(
                    i,
                    &self.definitions[i].questionnaire,
                    &f.answers,
                    &mut self.row,
                )
                .map_err(|e| e.to_string()),
            None => Err("its questionnaire version is not in the export".to_owned()),
        };
        if let Err(e) = filled {
            about.undecodable += 1;
            // The form's own fields stay; its answers are cleared rather than half written.
            for c in &mut self.row.cells[layout::META.len()..] {
                *c = Cell::Empty;
            }
            tracing::warn!(form = %f.id, error = %e, "stored answers do not read; exported without them");
        }
        enc.row(layout, &self.row, out);
    }
}

/// Unit names by code, looked up once per code.
struct UnitNames {
    geography: &'static ::geography::Geography,
    cache: HashMap<String, Option<&'static str>>,
}

impl UnitNames {
    fn new(geography: &'static ::geography::Geography) -> UnitNames {
        UnitNames {
            geography,
            cache: HashMap::new(),
        }
    }

    fn name(&mut self, code: &str) -> Option<&'static str> {
        if let Some(hit) = self.cache.get(code) {
            return *hit;
        }
        let name = self.geography.unit(code).map(|u| u.name.as_str());
        self.cache.insert(code.to_owned(), name);
        name
    }
}

fn set_time(row: &mut Row, i: usize, t: &OffsetDateTime) {
    let t = t.to_offset(time::UtcOffset::UTC);
    row.set_with(i, |s| {
        use std::fmt::Write as _;
        let _ = write!(
            s,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        if t.nanosecond() != 0 {
            let _ = write!(s, ".{:06}", t.microsecond());
        }
        s.push('Z');
    });
}

/// The form's own fields, in the order of [`layout::META`].
fn fill_meta(f: &form::Model, users: &HashMap<i64, String>, names: &mut UnitNames, row: &mut Row) {
    row.set_with(0, |s| {
        use std::fmt::Write as _;
        let _ = write!(s, "{}", f.id);
    });
    row.cells[1] = Cell::Int(i64::from(f.revision));
    row.set_text(2, &f.round_code);
    row.set_text(3, &f.questionnaire_code);
    row.cells[4] = Cell::Int(i64::from(f.questionnaire_version));
    row.set_text(5, &f.province_code);
    if let Some(n) = names.name(&f.province_code) {
        row.set_text(6, n);
    }
    if let Some(d) = &f.district_code {
        row.set_text(7, d);
        if let Some(n) = names.name(d) {
            row.set_text(8, n);
        }
    }
    row.set_text(9, &f.commune_code);
    if let Some(n) = names.name(&f.commune_code) {
        row.set_text(10, n);
    }
    row.set_text(11, &f.village_code);
    row.set_text(12, &f.household_ref);
    if let Some(u) = f.submitted_by {
        row.cells[13] = Cell::Int(u);
        if let Some(name) = users.get(&u) {
            row.set_text(14, name);
        }
    }
    if let Some(d) = &f.device_id {
        row.set_text(15, d);
    }
    if let Some(t) = &f.started_at {
        set_time(row, 16, t);
    }
    if let Some(t) = &f.finished_at {
        set_time(row, 17, t);
    }
    set_time(row, 18, &f.received_at);
    set_time(row, 19, &f.updated_at);
    if let Some(v) = f.gps_lat {
        row.cells[20] = Cell::Num(v);
    }
    if let Some(v) = f.gps_lon {
        row.cells[21] = Cell::Num(v);
    }
    row.set_text(22, &f.status);
    row.set_text(23, &f.content_hash);
    row.cells[24] = Cell::Int(f.seq);
}

/// The user the command line exports as: the ministry's view, all forms.
pub fn command_line_user() -> AuthUser {
    AuthUser {
        id: 0,
        username: "cli".into(),
        role: policy::Role::Ministry,
        scope: None,
        team: None,
        device_id: None,
    }
}

/// Runs an export in a task of its own and returns the receiving end of its chunks (what the
/// HTTP body and the command line read). `turn`, the export's place at the server's export gate,
/// is held until the task ends.
pub fn spawn(
    db: DatabaseConnection,
    prepared: Prepared,
    turn: Option<tokio::sync::OwnedSemaphorePermit>,
) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let round = prepared.about.round.clone();
    tokio::spawn(async move {
        // The export's turn at the gate ends with this task.
        let _turn = turn;
        let started = std::time::Instant::now();
        match run(&db, prepared, &tx).await {
            Ok(about) => tracing::info!(
                round = %round,
                forms = about.forms,
                secs = started.elapsed().as_secs_f64(),
                "export done"
            ),
            Err(RunError::Gone) => {
                tracing::info!(round = %round, "export stopped: the client went away")
            }
            Err(RunError::Db(e)) => {
                tracing::error!(round = %round, error = %e, "export failed mid-stream")
            }
        }
    });
    rx
}
