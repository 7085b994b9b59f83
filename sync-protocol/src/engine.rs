//! The client-side sync engine: pure protocol logic over two traits the app implements.
//!
//! - [`Outbox`]: the device's durable storage (forms with their state, pull cursor, pulled changes).
//!   The reference implementation is SQLite in the `collect` crate; [`memory::MemoryOutbox`] is an
//!   in-memory one for tests.
//! - [`Transport`]: the four protocol calls and a `sleep` (so the engine owns no runtime).
//!
//! [`Engine::sync`] runs one sync: handshake, reconcile, push, pull.
//!
//! # Guarantees
//! Nothing is lost and nothing is counted twice, whatever fails and wherever the process dies:
//! - A form is marked in flight, durably, *before* its batch is sent. A form found in flight at the
//!   start of a sync (the previous run died or lost the answer) is never resent blindly: the engine
//!   first asks the server (`status`) whether it holds it, and with which content.
//! - After a push whose answer is lost (network error, timeout, 5xx), the batch is reconciled
//!   through `status` before anything is resent. Even if a resend happens (a status answer lost
//!   too, a second device), the server answers `duplicate` and stores nothing twice; the report
//!   counts those.
//! - A permanent outcome (`invalid`, `conflict`, `forbidden`, `unknown_*`, …) is stored with its
//!   problems and never retried: resending the same content gets the same answer until something
//!   changes on the server (a version published, a round opened, the enumerator's area widened),
//!   which is for a person to see to, not for a retry loop.
//! - The pull cursor is saved together with each page of changes, so a pull resumes where it
//!   stopped; a cursor the server no longer knows (410 `cursor_invalid`) is dropped and the pull
//!   restarts from scratch (changes are keyed by `seq`, so a repeat overwrites).
//!
//! # Retries
//! Transient errors ([`ErrorClass::Transient`]) are retried up to [`SyncConfig::max_attempts`]
//! times per call with exponential backoff and full jitter ([`backoff_delay`]). A 401 stops the run
//! with [`SyncErrorKind::Unauthorized`] so the caller can refresh its token once and run again;
//! other errors stop it with [`SyncErrorKind::Rejected`]. Forms left in flight by a stopped run are
//! reconciled by the next one.

use std::{collections::HashMap, fmt, future::Future, time::Duration};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Change, FieldProblem, FormState, FormSubmission, HandshakeRequest, HandshakeResponse,
    MAX_BATCH_FORMS, Outcome, Problem, PullResponse, PushRequest, PushResponse,
    SUPPORTED_PROTOCOL_VERSIONS, StatusQuery, StatusRequest, StatusResponse,
};

/// Where a form stands on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalState {
    /// Waiting to be sent.
    Pending,
    /// Sent (or about to be) without a known answer: must be reconciled before any resend.
    InFlight,
    /// The server holds it (accepted, duplicate or updated): the device may forget it.
    Synced,
    /// The server gave a permanent answer (invalid, conflict, …): shown to the user, not resent.
    Failed,
}

impl LocalState {
    /// Storage code: `pending`, `in_flight`, `synced`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalState::Pending => "pending",
            LocalState::InFlight => "in_flight",
            LocalState::Synced => "synced",
            LocalState::Failed => "failed",
        }
    }

    /// Parses a storage code written by [`LocalState::as_str`].
    pub fn parse(code: &str) -> Option<LocalState> {
        Some(match code {
            "pending" => LocalState::Pending,
            "in_flight" => LocalState::InFlight,
            "synced" => LocalState::Synced,
            "failed" => LocalState::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for LocalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A form the engine sends or reconciles: the submission and the hash of its content.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxForm {
    /// The form as sent.
    pub submission: FormSubmission,
    /// [`FormSubmission::content_hash`], stored when the form was added.
    pub content_hash: String,
}

impl OutboxForm {
    /// Wraps a submission with its content hash.
    pub fn new(submission: FormSubmission) -> OutboxForm {
        let content_hash = submission.content_hash();
        OutboxForm {
            submission,
            content_hash,
        }
    }

    /// The form's id.
    pub fn id(&self) -> Uuid {
        self.submission.id
    }
}

/// One form of the outbox as listed for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Form id.
    pub id: Uuid,
    /// Round code.
    pub round: String,
    /// Household reference.
    pub household_ref: String,
    /// Content hash.
    pub content_hash: String,
    /// Local state.
    pub state: LocalState,
    /// Last outcome from the server (for synced and failed forms).
    pub outcome: Option<Outcome>,
    /// Problems the server reported (for failed forms).
    pub problems: Vec<FieldProblem>,
    /// When the form was stored on the device.
    pub created_at: OffsetDateTime,
    /// Last state change.
    pub updated_at: OffsetDateTime,
}

/// A permanent answer about one form.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedForm {
    /// Form id.
    pub id: Uuid,
    /// The outcome (never a stored one).
    pub outcome: Outcome,
    /// What the server found (may be empty, e.g. for a conflict found through `status`).
    pub problems: Vec<FieldProblem>,
}

/// Durable device storage used by the engine. Every method is one committed transaction: when it
/// returns `Ok`, the change survives the process being killed.
///
/// Implementations must keep these invariants: `add` stores a form as pending; `pending` and
/// `in_flight` return forms in a stable order (oldest first); the `mark_*` methods and
/// `return_to_pending` ignore unknown ids.
// `async fn` in a public trait: the engine is generic (no `dyn`), so callers that spawn a sync on a
// multi-threaded runtime get `Send` futures whenever their concrete implementations are `Send`.
#[allow(async_fn_in_trait)]
pub trait Outbox {
    /// Storage error (shown to the user as is).
    type Error: fmt::Display;

    /// Stores a new form as pending and returns its content hash. Adding an id already stored
    /// with the same content is a no-op; with different content it is an error.
    async fn add(&mut self, form: &FormSubmission) -> Result<String, Self::Error>;
    /// Up to `limit` pending forms, oldest first.
    async fn pending(&mut self, limit: usize) -> Result<Vec<OutboxForm>, Self::Error>;
    /// Every form in flight (sent or about to be sent, answer unknown).
    async fn in_flight(&mut self) -> Result<Vec<OutboxForm>, Self::Error>;
    /// Marks pending forms in flight. Called before their batch is sent.
    async fn mark_in_flight(&mut self, ids: &[Uuid]) -> Result<(), Self::Error>;
    /// Marks forms held by the server, with the outcome that says so.
    async fn mark_synced(&mut self, forms: &[(Uuid, Outcome)]) -> Result<(), Self::Error>;
    /// Marks forms with a permanent outcome and its problems.
    async fn mark_failed(&mut self, forms: &[FailedForm]) -> Result<(), Self::Error>;
    /// Returns in-flight forms to pending (the server does not hold them).
    async fn return_to_pending(&mut self, ids: &[Uuid]) -> Result<(), Self::Error>;
    /// The saved pull cursor.
    async fn cursor(&mut self) -> Result<Option<String>, Self::Error>;
    /// Replaces (or with `None` drops) the pull cursor.
    async fn set_cursor(&mut self, cursor: Option<&str>) -> Result<(), Self::Error>;
    /// Stores one page of pulled changes and the cursor after it, together (a change already
    /// stored under the same `seq` is replaced).
    async fn store_changes(&mut self, changes: &[Change], cursor: &str) -> Result<(), Self::Error>;
    /// Stores the latest handshake answer (questionnaires, rounds, units of the user's scope).
    async fn save_handshake(&mut self, handshake: &HandshakeResponse) -> Result<(), Self::Error>;
    /// Every form with its state, oldest first.
    async fn list(&mut self) -> Result<Vec<OutboxEntry>, Self::Error>;
}

/// Why a protocol call got no usable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportError {
    /// No answer: refused, timed out, connection dropped, answer lost or unreadable. Transient;
    /// the request may or may not have been processed.
    Network(String),
    /// The server answered with an error status (and usually a problem body).
    Http {
        /// HTTP status.
        status: u16,
        /// The problem+json body, when there was one.
        problem: Option<Problem>,
    },
}

/// What the engine does about a [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry with backoff: network errors, 408, 429, 500, 502, 503, 504.
    Transient,
    /// 401: the access token must be refreshed (or the user must log in again).
    Unauthorized,
    /// 410 `cursor_invalid`: drop the pull cursor and pull from scratch.
    CursorInvalid,
    /// Anything else (426 `protocol_too_old`/`protocol_too_new`, 403, 413, 422, …): retrying in
    /// this run cannot help.
    Permanent,
}

impl TransportError {
    /// How the engine treats this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            TransportError::Network(_) => ErrorClass::Transient,
            TransportError::Http { status, .. } => match status {
                408 | 429 | 500 | 502 | 503 | 504 => ErrorClass::Transient,
                401 => ErrorClass::Unauthorized,
                410 if self.code() == Some("cursor_invalid") => ErrorClass::CursorInvalid,
                _ => ErrorClass::Permanent,
            },
        }
    }

    /// The problem's machine code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        self.problem().map(|p| p.code.as_str())
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            TransportError::Http { status, .. } => Some(*status),
            TransportError::Network(_) => None,
        }
    }

    /// The problem body, if the server sent one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            TransportError::Http { problem, .. } => problem.as_ref(),
            TransportError::Network(_) => None,
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Network(m) => {
                write!(f, "lỗi mạng / network error: {m}")
            }
            TransportError::Http {
                status,
                problem: Some(p),
            } => {
                write!(f, "HTTP {status} {}: {}", p.code, p.detail)?;
                if let Some(en) = &p.detail_en {
                    write!(f, " / {en}")?;
                }
                Ok(())
            }
            TransportError::Http {
                status,
                problem: None,
            } => write!(f, "HTTP {status}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// The protocol calls, as the device makes them. The implementation adds authentication and the
/// protocol header, and owns the runtime (`sleep`).
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// `POST /api/v1/sync/handshake`.
    async fn handshake(&self, req: &HandshakeRequest) -> Result<HandshakeResponse, TransportError>;
    /// `POST /api/v1/sync/push`.
    async fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError>;
    /// `POST /api/v1/sync/status`.
    async fn status(&self, req: &StatusRequest) -> Result<StatusResponse, TransportError>;
    /// `GET /api/v1/sync/pull?cursor=&limit=` (no `cursor` parameter when `None`).
    async fn pull(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<PullResponse, TransportError>;
    /// Waits (between retries).
    async fn sleep(&self, duration: Duration);
}

/// Settings of one sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Stable id of the app installation (sent in the handshake).
    pub device_id: String,
    /// App version (sent in the handshake).
    pub app_version: String,
    /// Push pending forms (after reconciling in-flight ones).
    pub push: bool,
    /// Pull changes.
    pub pull: bool,
    /// Most forms per push (further capped by the server's `max_batch_forms` and bytes).
    pub batch_size: usize,
    /// Most changes per pull page.
    pub pull_limit: usize,
    /// Attempts per call before giving up on transient errors (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry (upper bound; full jitter).
    pub backoff_base: Duration,
    /// Largest backoff.
    pub backoff_cap: Duration,
}

impl SyncConfig {
    /// Defaults: push and pull, batches of 100, pages of 200, 6 attempts, backoff 500 ms … 30 s.
    pub fn new(device_id: impl Into<String>, app_version: impl Into<String>) -> SyncConfig {
        SyncConfig {
            device_id: device_id.into(),
            app_version: app_version.into(),
            push: true,
            pull: true,
            batch_size: 100,
            pull_limit: 200,
            max_attempts: 6,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
        }
    }
}

/// The delay before retry number `attempt` (0 for the first retry): uniformly random in
/// `[0, min(cap, base × 2^attempt)]` ("full jitter", so many devices coming back online at once do
/// not retry in lockstep). `random` is the source of randomness (any 64 random bits).
pub fn backoff_delay(attempt: u32, base: Duration, cap: Duration, random: u64) -> Duration {
    let exp = base.saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
    let ceiling = exp.min(cap).as_nanos();
    let nanos = (u128::from(random) * (ceiling + 1)) >> 64;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// 64 random bits from a v4 UUID (its 122 random bits, skipping the version and variant bits), so
/// the engine needs no random-number crate.
fn random_u64() -> u64 {
    let b = Uuid::new_v4().into_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[9], b[10]])
}

/// What one sync run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    /// Protocol version the handshake agreed.
    pub protocol_version: Option<u32>,
    /// Server clock minus device clock, in milliseconds.
    pub clock_skew_ms: Option<i64>,
    /// Forms sent in push requests (a form sent twice counts twice).
    pub pushed: usize,
    /// Push requests answered.
    pub batches: usize,
    /// Forms the server stored now.
    pub accepted: usize,
    /// Forms that replaced a lower revision.
    pub updated: usize,
    /// Forms the server already held with the same content (a resend).
    pub duplicates: usize,
    /// In-flight forms whose fate was settled through `status` (held, missing or quarantined).
    pub reconciled: usize,
    /// Forms with a permanent outcome in this run, with their problems.
    pub failed: Vec<FailedForm>,
    /// Retries after transient errors.
    pub retries: usize,
    /// Changes pulled.
    pub pulled: usize,
    /// Times the pull cursor was dropped (410 `cursor_invalid`).
    pub cursor_resets: usize,
    /// Warnings the server gave about stored forms (outside the assignments, a second form for
    /// a household), by form: shown to the user, nothing to resend.
    pub warnings: Vec<(Uuid, FieldProblem)>,
}

impl SyncReport {
    /// Adds the counts of a later run (e.g. the rerun after a token refresh, or another device of a
    /// simulation) to this one; failed forms keep their order, this run's first.
    pub fn absorb(&mut self, later: SyncReport) {
        self.protocol_version = later.protocol_version.or(self.protocol_version);
        self.clock_skew_ms = later.clock_skew_ms.or(self.clock_skew_ms);
        self.pushed += later.pushed;
        self.batches += later.batches;
        self.accepted += later.accepted;
        self.updated += later.updated;
        self.duplicates += later.duplicates;
        self.reconciled += later.reconciled;
        self.retries += later.retries;
        self.pulled += later.pulled;
        self.cursor_resets += later.cursor_resets;
        self.failed.extend(later.failed);
        self.warnings.extend(later.warnings);
    }
}

/// How a sync run stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncErrorKind {
    /// 401: refresh the access token (once) and run again, or ask the user to log in.
    Unauthorized(Option<Problem>),
    /// Transient errors persisted through every attempt: try again later (forms are safe).
    Unavailable {
        /// Attempts made on the last call.
        attempts: u32,
        /// The last error.
        last: TransportError,
    },
    /// The server refused the run (426 protocol too old/new, 403, 413, 422, …).
    Rejected(TransportError),
    /// The server agreed a protocol version this build does not speak.
    Incompatible {
        /// The version the server answered.
        server_version: u32,
    },
    /// The outbox failed (the message of its error).
    Outbox(String),
}

impl fmt::Display for SyncErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncErrorKind::Unauthorized(p) => {
                write!(
                    f,
                    "phiên đăng nhập không hợp lệ / not authorised ({})",
                    p.as_ref().map_or("401", |p| p.code.as_str())
                )
            }
            SyncErrorKind::Unavailable { attempts, last } => write!(
                f,
                "máy chủ không phản hồi sau {attempts} lần thử / server unavailable after {attempts} attempts: {last}"
            ),
            SyncErrorKind::Rejected(e) => {
                write!(f, "máy chủ từ chối / refused by the server: {e}")
            }
            SyncErrorKind::Incompatible { server_version } => write!(
                f,
                "phiên bản giao thức {server_version} không được hỗ trợ, hãy cập nhật ứng dụng / protocol version {server_version} is not supported: update the app"
            ),
            SyncErrorKind::Outbox(m) => write!(f, "lỗi bộ nhớ thiết bị / outbox error: {m}"),
        }
    }
}

/// A sync run that stopped early, with what it did before stopping.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncError {
    /// Why it stopped.
    pub kind: SyncErrorKind,
    /// What it did before.
    pub report: SyncReport,
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for SyncError {}

/// One sync run over an outbox and a transport. Holds no state between runs: everything durable
/// is in the outbox, so dropping an engine at any await point (the process being killed) loses
/// nothing; the next run reconciles.
pub struct Engine<'a, O, T> {
    outbox: &'a mut O,
    transport: &'a T,
    config: &'a SyncConfig,
    report: SyncReport,
}

fn outbox_err(e: impl fmt::Display) -> SyncErrorKind {
    SyncErrorKind::Outbox(e.to_string())
}

fn stop(e: TransportError, attempts: u32) -> SyncErrorKind {
    match e.class() {
        ErrorClass::Transient => SyncErrorKind::Unavailable { attempts, last: e },
        ErrorClass::Unauthorized => SyncErrorKind::Unauthorized(e.problem().cloned()),
        ErrorClass::CursorInvalid | ErrorClass::Permanent => SyncErrorKind::Rejected(e),
    }
}

impl<'a, O: Outbox, T: Transport> Engine<'a, O, T> {
    /// Runs one sync: handshake; reconcile forms left in flight; push pending forms in batches;
    /// pull changes until none are left. Returns what it did, or why it stopped with what it did
    /// before stopping.
    pub async fn sync(
        outbox: &'a mut O,
        transport: &'a T,
        config: &'a SyncConfig,
    ) -> Result<SyncReport, SyncError> {
        let mut engine = Engine {
            outbox,
            transport,
            config,
            report: SyncReport::default(),
        };
        match engine.run().await {
            Ok(()) => Ok(engine.report),
            Err(kind) => Err(SyncError {
                kind,
                report: engine.report,
            }),
        }
    }

    async fn run(&mut self) -> Result<(), SyncErrorKind> {
        let hs = self.handshake().await?;
        if self.config.push {
            let in_flight = self.outbox.in_flight().await.map_err(outbox_err)?;
            if !in_flight.is_empty() {
                self.reconcile(&in_flight, hs.max_batch_forms).await?;
            }
            self.push_pending(&hs).await?;
        }
        if self.config.pull {
            self.pull().await?;
        }
        Ok(())
    }

    /// One call with retries on transient errors. Returns the last error and the attempts made.
    async fn call<R, F, Fut>(&mut self, mut op: F) -> Result<R, (TransportError, u32)>
    where
        F: FnMut(&'a T) -> Fut,
        Fut: Future<Output = Result<R, TransportError>>,
    {
        let max = self.config.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            match op(self.transport).await {
                Ok(r) => return Ok(r),
                Err(e) if e.class() == ErrorClass::Transient && attempt + 1 < max => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err((e, attempt + 1)),
            }
        }
    }

    async fn backoff(&mut self, attempt: u32) {
        self.report.retries += 1;
        let d = backoff_delay(
            attempt,
            self.config.backoff_base,
            self.config.backoff_cap,
            random_u64(),
        );
        self.transport.sleep(d).await;
    }

    async fn handshake(&mut self) -> Result<HandshakeResponse, SyncErrorKind> {
        let req = HandshakeRequest {
            protocol_versions: SUPPORTED_PROTOCOL_VERSIONS.to_vec(),
            app_version: self.config.app_version.clone(),
            device_id: self.config.device_id.clone(),
            device_time: Some(OffsetDateTime::now_utc()),
        };
        let hs = self
            .call(|t| t.handshake(&req))
            .await
            .map_err(|(e, n)| stop(e, n))?;
        if !SUPPORTED_PROTOCOL_VERSIONS.contains(&hs.protocol_version) {
            return Err(SyncErrorKind::Incompatible {
                server_version: hs.protocol_version,
            });
        }
        self.report.protocol_version = Some(hs.protocol_version);
        self.report.clock_skew_ms = hs.clock_skew_ms;
        self.outbox.save_handshake(&hs).await.map_err(outbox_err)?;
        Ok(hs)
    }

    /// Asks the server about in-flight forms and settles each: held with the same content →
    /// synced; missing → pending; quarantined → failed with the reason; held with other content →
    /// failed `conflict`. Forms the answer does not mention stay in flight for the next run.
    async fn reconcile(
        &mut self,
        forms: &[OutboxForm],
        max_batch: usize,
    ) -> Result<(), SyncErrorKind> {
        let chunk_size = max_batch.clamp(1, MAX_BATCH_FORMS);
        for chunk in forms.chunks(chunk_size) {
            let req = StatusRequest {
                forms: chunk
                    .iter()
                    .map(|f| StatusQuery {
                        id: f.id(),
                        content_hash: Some(f.content_hash.clone()),
                    })
                    .collect(),
            };
            let resp = self
                .call(|t| t.status(&req))
                .await
                .map_err(|(e, n)| stop(e, n))?;
            let by_id: HashMap<Uuid, _> = resp.forms.iter().map(|s| (s.id, s)).collect();
            let (mut synced, mut failed, mut missing) = (Vec::new(), Vec::new(), Vec::new());
            for f in chunk {
                let Some(s) = by_id.get(&f.id()) else {
                    continue;
                };
                match s.state {
                    FormState::Missing => missing.push(f.id()),
                    FormState::Quarantined => {
                        let outcome = Outcome::from_code(s.reason.as_deref().unwrap_or("unknown"));
                        // A quarantine reason that reads as "stored" would be a server bug; keep
                        // the form visible rather than forgetting it.
                        let outcome = if outcome.is_stored() {
                            Outcome::Unknown
                        } else {
                            outcome
                        };
                        failed.push(FailedForm {
                            id: f.id(),
                            outcome,
                            problems: vec![FieldProblem::new(
                                "form",
                                "quarantined",
                                "Máy chủ đã nhận phiếu nhưng đưa vào khu cách ly.",
                                "The server received the form but quarantined it.",
                            )],
                        });
                    }
                    FormState::Accepted
                    | FormState::Approved
                    | FormState::Rejected
                    | FormState::Unknown => {
                        let same = s
                            .same_content
                            .or_else(|| s.content_hash.as_ref().map(|h| *h == f.content_hash))
                            .unwrap_or(true);
                        // A corrected revision of a form review sent back, that the
                        // server does not hold yet: send it (again).
                        let correction_unsent = s.state == FormState::Rejected
                            && s.revision.is_some_and(|r| r < f.submission.revision);
                        if same {
                            synced.push((f.id(), Outcome::Accepted));
                        } else if correction_unsent {
                            missing.push(f.id());
                        } else {
                            failed.push(FailedForm {
                                id: f.id(),
                                outcome: Outcome::Conflict,
                                problems: vec![FieldProblem::new(
                                    "id",
                                    "conflict",
                                    "Máy chủ đã có một phiếu cùng mã với nội dung khác.",
                                    "The server holds a form with this id and different content.",
                                )],
                            });
                        }
                    }
                }
            }
            self.report.reconciled += synced.len() + failed.len() + missing.len();
            self.outbox.mark_synced(&synced).await.map_err(outbox_err)?;
            self.outbox.mark_failed(&failed).await.map_err(outbox_err)?;
            self.outbox
                .return_to_pending(&missing)
                .await
                .map_err(outbox_err)?;
            self.report.failed.extend(failed);
        }
        Ok(())
    }

    async fn push_pending(&mut self, hs: &HandshakeResponse) -> Result<(), SyncErrorKind> {
        let mut limit = self
            .config
            .batch_size
            .clamp(1, hs.max_batch_forms.clamp(1, MAX_BATCH_FORMS));
        let max_bytes = if hs.max_batch_bytes == 0 {
            usize::MAX
        } else {
            hs.max_batch_bytes
        };
        let max_attempts = self.config.max_attempts.max(1);
        // Consecutive pushes without a usable answer; reset by every answered push.
        let mut failures = 0u32;
        loop {
            let pending = self.outbox.pending(limit).await.map_err(outbox_err)?;
            if pending.is_empty() {
                return Ok(());
            }
            let batch = fit_bytes(pending, max_bytes);
            let ids: Vec<Uuid> = batch.iter().map(OutboxForm::id).collect();
            self.outbox.mark_in_flight(&ids).await.map_err(outbox_err)?;
            let req = PushRequest {
                forms: batch.iter().map(|f| f.submission.clone()).collect(),
            };
            self.report.pushed += batch.len();
            match self.transport.push(&req).await {
                Ok(resp) => {
                    self.report.batches += 1;
                    if self.apply(&batch, &resp, hs.max_batch_forms).await? {
                        failures = 0;
                    } else {
                        failures += 1;
                    }
                }
                Err(e) if e.class() == ErrorClass::Transient => {
                    failures += 1;
                    if failures >= max_attempts {
                        return Err(SyncErrorKind::Unavailable {
                            attempts: failures,
                            last: e,
                        });
                    }
                    self.backoff(failures - 1).await;
                    // The answer is lost, not necessarily the request: ask before resending.
                    self.reconcile(&batch, hs.max_batch_forms).await?;
                }
                Err(e) if e.status() == Some(413) => {
                    // Too large for the server: nothing was stored. Halve the batch; a single form
                    // that is too large on its own can never be sent.
                    self.outbox
                        .return_to_pending(&ids)
                        .await
                        .map_err(outbox_err)?;
                    if batch.len() > 1 {
                        limit = (batch.len() / 2).max(1);
                    } else {
                        let f = FailedForm {
                            id: ids[0],
                            outcome: Outcome::Unknown,
                            problems: vec![FieldProblem::new(
                                "form",
                                "too_large",
                                "Phiếu quá lớn để gửi lên máy chủ.",
                                "The form is too large for the server.",
                            )],
                        };
                        self.outbox
                            .mark_failed(std::slice::from_ref(&f))
                            .await
                            .map_err(outbox_err)?;
                        self.report.failed.push(f);
                    }
                }
                // Left in flight: the next run reconciles them.
                Err(e) => return Err(stop(e, 1)),
            }
            if failures >= max_attempts {
                return Err(SyncErrorKind::Unavailable {
                    attempts: failures,
                    last: TransportError::Network(
                        "incomplete push answers / câu trả lời không đầy đủ".into(),
                    ),
                });
            }
        }
    }

    /// Applies a push answer. Forms the answer does not cover are reconciled; returns whether the
    /// answer covered the whole batch.
    async fn apply(
        &mut self,
        batch: &[OutboxForm],
        resp: &PushResponse,
        max_batch: usize,
    ) -> Result<bool, SyncErrorKind> {
        let mut results = HashMap::new();
        for (i, r) in resp.results.iter().enumerate() {
            // Results come in order; `id` is absent only for an unreadable element.
            if let Some(id) = r.id.or_else(|| batch.get(i).map(OutboxForm::id)) {
                results.insert(id, r);
            }
        }
        let (mut synced, mut failed, mut uncovered) = (Vec::new(), Vec::new(), Vec::new());
        for f in batch {
            match results.get(&f.id()) {
                Some(r) if r.outcome.is_stored() => {
                    match r.outcome {
                        Outcome::Duplicate => self.report.duplicates += 1,
                        Outcome::Updated => self.report.updated += 1,
                        _ => self.report.accepted += 1,
                    }
                    self.report
                        .warnings
                        .extend(r.warnings.iter().map(|w| (f.id(), w.clone())));
                    synced.push((f.id(), r.outcome));
                }
                Some(r) => failed.push(FailedForm {
                    id: f.id(),
                    outcome: r.outcome,
                    problems: r.errors.clone(),
                }),
                None => uncovered.push(f.clone()),
            }
        }
        self.outbox.mark_synced(&synced).await.map_err(outbox_err)?;
        self.outbox.mark_failed(&failed).await.map_err(outbox_err)?;
        self.report.failed.extend(failed);
        if uncovered.is_empty() {
            return Ok(true);
        }
        self.reconcile(&uncovered, max_batch).await?;
        Ok(false)
    }

    async fn pull(&mut self) -> Result<(), SyncErrorKind> {
        let mut cursor = self.outbox.cursor().await.map_err(outbox_err)?;
        let limit = self.config.pull_limit.max(1);
        let mut reset = false;
        loop {
            let page = self.call(|t| t.pull(cursor.as_deref(), limit)).await;
            match page {
                Ok(page) => {
                    self.outbox
                        .store_changes(&page.changes, &page.cursor)
                        .await
                        .map_err(outbox_err)?;
                    self.report.pulled += page.changes.len();
                    let stalled =
                        page.changes.is_empty() && cursor.as_deref() == Some(page.cursor.as_str());
                    cursor = Some(page.cursor);
                    // `more` without progress would loop forever; the next run continues.
                    if !page.more || stalled {
                        return Ok(());
                    }
                }
                Err((e, _)) if e.class() == ErrorClass::CursorInvalid && !reset => {
                    reset = true;
                    self.report.cursor_resets += 1;
                    self.outbox.set_cursor(None).await.map_err(outbox_err)?;
                    cursor = None;
                    // The server lost our place: what the handshake says may have changed too.
                    self.handshake().await?;
                }
                Err((e, n)) => return Err(stop(e, n)),
            }
        }
    }
}

/// The longest prefix of `forms` whose push body stays under `max_bytes` (at least one form).
fn fit_bytes(forms: Vec<OutboxForm>, max_bytes: usize) -> Vec<OutboxForm> {
    // `{"forms":[` + `]}` and a comma per form.
    let mut total = 12usize;
    let mut out = Vec::with_capacity(forms.len());
    for f in forms {
        let size = serde_json::to_vec(&f.submission).map_or(0, |v| v.len()) + 1;
        if !out.is_empty() && total.saturating_add(size) > max_bytes {
            break;
        }
        total = total.saturating_add(size);
        out.push(f);
    }
    out
}

pub mod memory {
    //! An in-memory [`Outbox`] for tests and prototypes. Not durable: a real app
    //! uses storage that survives the process (the `collect` crate's SQLite outbox).

    use std::collections::BTreeMap;

    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::{FailedForm, LocalState, Outbox, OutboxEntry, OutboxForm};
    use crate::{Change, FieldProblem, FormSubmission, HandshakeResponse, Outcome};

    /// One stored form.
    #[derive(Debug, Clone)]
    struct Stored {
        form: OutboxForm,
        state: LocalState,
        outcome: Option<Outcome>,
        problems: Vec<FieldProblem>,
        order: u64,
        created_at: OffsetDateTime,
        updated_at: OffsetDateTime,
    }

    /// Forms, cursor, changes and handshake in memory.
    #[derive(Debug, Clone, Default)]
    pub struct MemoryOutbox {
        forms: BTreeMap<Uuid, Stored>,
        next: u64,
        /// The pull cursor.
        pub cursor: Option<String>,
        /// Pulled changes by `seq`.
        pub changes: BTreeMap<i64, Change>,
        /// The latest handshake answer.
        pub handshake: Option<HandshakeResponse>,
    }

    /// Adding a form whose id is stored with other content.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct IdClash(pub Uuid);

    impl std::fmt::Display for IdClash {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "form {} is already stored with other content", self.0)
        }
    }

    impl MemoryOutbox {
        /// An empty outbox.
        pub fn new() -> MemoryOutbox {
            MemoryOutbox::default()
        }

        /// The local state of a form.
        pub fn state(&self, id: Uuid) -> Option<LocalState> {
            self.forms.get(&id).map(|s| s.state)
        }

        /// How many forms are in `state`.
        pub fn count(&self, state: LocalState) -> usize {
            self.forms.values().filter(|s| s.state == state).count()
        }

        fn in_state(&self, state: LocalState) -> Vec<OutboxForm> {
            let mut v: Vec<&Stored> = self.forms.values().filter(|s| s.state == state).collect();
            v.sort_by_key(|s| s.order);
            v.into_iter().map(|s| s.form.clone()).collect()
        }

        fn set(
            &mut self,
            id: Uuid,
            from: &[LocalState],
            to: LocalState,
            outcome: Option<Outcome>,
            problems: Vec<FieldProblem>,
        ) {
            if let Some(s) = self.forms.get_mut(&id).filter(|s| from.contains(&s.state)) {
                s.state = to;
                if outcome.is_some() {
                    s.outcome = outcome;
                }
                s.problems = problems;
                s.updated_at = OffsetDateTime::now_utc();
            }
        }
    }

    // The engine settles only pending or in-flight forms; a late answer never reopens a settled one.
    const OPEN: &[LocalState] = &[LocalState::Pending, LocalState::InFlight];

    impl Outbox for MemoryOutbox {
        type Error = IdClash;

        async fn add(&mut self, form: &FormSubmission) -> Result<String, IdClash> {
            let f = OutboxForm::new(form.clone());
            if let Some(s) = self.forms.get(&form.id) {
                return if s.form.content_hash == f.content_hash {
                    Ok(f.content_hash)
                } else {
                    Err(IdClash(form.id))
                };
            }
            let hash = f.content_hash.clone();
            let now = OffsetDateTime::now_utc();
            self.next += 1;
            self.forms.insert(
                form.id,
                Stored {
                    form: f,
                    state: LocalState::Pending,
                    outcome: None,
                    problems: Vec::new(),
                    order: self.next,
                    created_at: now,
                    updated_at: now,
                },
            );
            Ok(hash)
        }

        async fn pending(&mut self, limit: usize) -> Result<Vec<OutboxForm>, IdClash> {
            let mut v = self.in_state(LocalState::Pending);
            v.truncate(limit);
            Ok(v)
        }

        async fn in_flight(&mut self) -> Result<Vec<OutboxForm>, IdClash> {
            Ok(self.in_state(LocalState::InFlight))
        }

        async fn mark_in_flight(&mut self, ids: &[Uuid]) -> Result<(), IdClash> {
            for id in ids {
                self.set(
                    *id,
                    &[LocalState::Pending],
                    LocalState::InFlight,
                    None,
                    Vec::new(),
                );
            }
            Ok(())
        }

        async fn mark_synced(&mut self, forms: &[(Uuid, Outcome)]) -> Result<(), IdClash> {
            for (id, outcome) in forms {
                self.set(*id, OPEN, LocalState::Synced, Some(*outcome), Vec::new());
            }
            Ok(())
        }

        async fn mark_failed(&mut self, forms: &[FailedForm]) -> Result<(), IdClash> {
            for f in forms {
                self.set(
                    f.id,
                    OPEN,
                    LocalState::Failed,
                    Some(f.outcome),
                    f.problems.clone(),
                );
            }
            Ok(())
        }

        async fn return_to_pending(&mut self, ids: &[Uuid]) -> Result<(), IdClash> {
            for id in ids {
                self.set(
                    *id,
                    &[LocalState::InFlight],
                    LocalState::Pending,
                    None,
                    Vec::new(),
                );
            }
            Ok(())
        }

        async fn cursor(&mut self) -> Result<Option<String>, IdClash> {
            Ok(self.cursor.clone())
        }

        async fn set_cursor(&mut self, cursor: Option<&str>) -> Result<(), IdClash> {
            self.cursor = cursor.map(str::to_owned);
            Ok(())
        }

        async fn store_changes(&mut self, changes: &[Change], cursor: &str) -> Result<(), IdClash> {
            for c in changes {
                self.changes.insert(c.seq, c.clone());
            }
            self.cursor = Some(cursor.to_owned());
            Ok(())
        }

        async fn save_handshake(&mut self, handshake: &HandshakeResponse) -> Result<(), IdClash> {
            self.handshake = Some(handshake.clone());
            Ok(())
        }

        async fn list(&mut self) -> Result<Vec<OutboxEntry>, IdClash> {
            let mut v: Vec<&Stored> = self.forms.values().collect();
            v.sort_by_key(|s| s.order);
            Ok(v.into_iter()
                .map(|s| OutboxEntry {
                    id: s.form.id(),
                    round: s.form.submission.round.clone(),
                    household_ref: s.form.submission.household_ref.clone(),
                    content_hash: s.form.content_hash.clone(),
                    state: s.state,
                    outcome: s.outcome,
                    problems: s.problems.clone(),
                    created_at: s.created_at,
                    updated_at: s.updated_at,
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests;
