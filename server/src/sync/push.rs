//! `push`: decides each form's outcome, stores accepted forms and quarantines the rest in one
//! transaction, and answers only after it committed.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use indices::{FormDigest, StatsLayout};
use schema::{Questionnaire, json::JsonObject};

use axum::http::HeaderMap;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, SqlErr,
    sea_query::{Expr, ExprTrait, PostgresQueryBuilder, Query, UnionType},
};
use serde_json::{Value, value::RawValue};
use sync_protocol::{FieldProblem, FormResult, FormSubmission, MAX_BATCH_FORMS, Outcome};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    auth::{AuthUser, policy},
    entities::{form, quarantined_form, questionnaire_version, round},
    error::{ApiError, JsonBytes},
    index_stats::{COUNTED_STATUS, FormPlace, PendingStats},
    registry::STATUS_OPEN,
    state::AppState,
};

use super::writer::{DeviceCount, Write, WriteError, inserts, write_all};

/// A form headed for the `forms` table.
struct Accept<'a> {
    idx: usize,
    id: Uuid,
    hash: &'a String,
    row: form::ActiveModel,
    /// What the form adds to its village's index stats.
    stats: (&'a Arc<StatsLayout>, &'a FormDigest),
    /// The form, for its place in the stats.
    form: &'a FormSubmission,
}

/// How many times a push is tried, after its lookups, when another push stores one of its forms
/// first.
const ATTEMPTS: usize = 5;

/// Forms per run when a lone push's preparation is shared among cores: a push is split into at
/// most its forms divided by this many runs (the last may hold fewer). Smaller pushes are
/// prepared on one thread: for a few forms, the extra pass that splits the body and the handover
/// to another thread would cost about what they save.
const MIN_PART_FORMS: usize = 16;

/// The most parts a lone push's preparation is split into.
const MAX_PARTS: usize = 8;

/// How many pushes the server is handling, so that one alone can use the idle cores.
///
/// A device that syncs alone waits for each push in turn: its forms' parsing, hashing,
/// validation and encoding (half of the bench process's CPU per push with 1 device, perf) would
/// run on one core while the others idle. A push that finds no other in flight, holds 32 to
/// [`MAX_BATCH_FORMS`] forms and is not refused as a whole is prepared in runs of at least
/// [`MIN_PART_FORMS`] forms (the last run may hold fewer), one per core up to [`MAX_PARTS`] (see
/// [`PushBody::read`]); under load, each push stays on one core, where the pushes already share
/// them.
///
/// It also sums where the pushes' time went ([`PushLoad::times`]).
pub struct PushLoad {
    in_flight: AtomicUsize,
    cores: AtomicUsize,
    split: AtomicU64,
    raced: AtomicU64,
    /// Pushes handled, and nanoseconds spent in their phases (see [`PushTimes`]).
    handled: AtomicU64,
    handling_ns: AtomicU64,
    preparing_ns: AtomicU64,
    writing_ns: AtomicU64,
}

/// Where the pushes handled since the server started spent their time, summed over them (wall
/// clock, as each push waits for it). The push bench divides the difference between two readings
/// by the pushes handled in between, to show how a push's time splits between preparing its forms
/// and storing them, and how the storing compares with a plain insert of the same rows.
#[derive(Clone, Copy, Debug)]
pub struct PushTimes {
    /// Pushes handled, refused ones included.
    pub pushes: u64,
    /// In [`push`]: from reading the received body until the results are ready (not the HTTP
    /// transfer, the sign-in, nor writing the answer).
    pub handling: Duration,
    /// Reading the body and preparing its forms (parsing, hashing, validating, encoding).
    pub preparing: Duration,
    /// Storing: from handing the rows to SQLite's writer thread (or beginning the transaction on
    /// PostgreSQL) until the commit, over every attempt.
    pub writing: Duration,
}

impl PushLoad {
    /// Counts nothing yet; the cores are what the process may use.
    pub fn new() -> PushLoad {
        PushLoad {
            in_flight: AtomicUsize::new(0),
            cores: AtomicUsize::new(std::thread::available_parallelism().map_or(1, usize::from)),
            split: AtomicU64::new(0),
            raced: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            handling_ns: AtomicU64::new(0),
            preparing_ns: AtomicU64::new(0),
            writing_ns: AtomicU64::new(0),
        }
    }

    /// Where the pushes handled so far spent their time.
    pub fn times(&self) -> PushTimes {
        let d = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        PushTimes {
            pushes: self.handled.load(Ordering::Relaxed),
            handling: d(&self.handling_ns),
            preparing: d(&self.preparing_ns),
            writing: d(&self.writing_ns),
        }
    }

    /// Adds the time since `since` to a phase's total.
    fn add(counter: &AtomicU64, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counter.fetch_add(ns, Ordering::Relaxed);
    }

    /// Sets how many cores a lone push may prepare its forms on (one: never split). The tests
    /// use it to compare the split preparation with the single-core one on the same pushes.
    pub fn set_cores(&self, cores: usize) {
        self.cores.store(cores.max(1), Ordering::Relaxed);
    }

    /// How many pushes had their preparation split among cores since the server started.
    pub fn split_pushes(&self) -> u64 {
        self.split.load(Ordering::Relaxed)
    }

    /// How many attempts at storing a push met a form or quarantined payload that another push
    /// stored meanwhile (or, for an attempt without lookups, before), and were tried again.
    pub fn races(&self) -> u64 {
        self.raced.load(Ordering::Relaxed)
    }

    /// Counts a push in until the guard drops; the guard tells how many parts its body may be
    /// prepared in.
    fn enter(&self) -> InFlight<'_> {
        let before = self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            load: self,
            started: Instant::now(),
            parts: if before == 0 {
                self.cores.load(Ordering::Relaxed).min(MAX_PARTS)
            } else {
                1
            },
        }
    }
}

impl Default for PushLoad {
    fn default() -> Self {
        Self::new()
    }
}

/// A push counted in [`PushLoad`], and timed until it is answered.
struct InFlight<'l> {
    load: &'l PushLoad,
    started: Instant,
    /// Parts its body may be prepared in: the cores when no other push was in flight, else one.
    parts: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.load.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.load.handled.fetch_add(1, Ordering::Relaxed);
        PushLoad::add(&self.load.handling_ns, self.started);
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
    /// An attempt without the lookups (see [`store`]) met a form it would not accept: its outcome
    /// depends on whether the same payload was quarantined before. Nothing was written.
    Unsure,
    /// The group of pushes it was written with failed (see [`super::writer`]); nothing was
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

/// A form that parsed, with what was worked out from it before the lookups.
struct Parsed {
    idx: usize,
    f: FormSubmission,
    hash: String,
    /// Its questionnaire version's stats layout (when the version is published) and the
    /// validation outcome.
    checked: Option<(Arc<StatsLayout>, Checked)>,
}

/// A form's validation outcome: what its answers add to the index stats and their stored encoding,
/// or the field errors.
type Checked = Result<(FormDigest, Vec<u8>), Vec<schema::FieldError>>;

/// A questionnaire version with its stats layout.
type Definition = (Arc<Questionnaire>, Arc<StatsLayout>);

/// A payload headed for quarantine.
#[derive(Clone)]
struct Quarantine {
    idx: usize,
    id: Option<Uuid>,
    round: Option<String>,
    outcome: Outcome,
    errors: Vec<FieldProblem>,
    payload: String,
    hash: Option<String>,
}

fn outcome_name(o: Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn parse_outcome(s: &str) -> Outcome {
    serde_json::from_value(Value::String(s.to_owned())).unwrap_or(Outcome::Unknown)
}

fn problem(field: &str, code: &str, vi: impl Into<String>, en: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        code: code.into(),
        message: vi.into(),
        message_en: Some(en.into()),
    }
}

/// Checks the form's units against the round's geography: each exists, at the right level, inside
/// its parent; the district is given exactly when the geography has districts.
fn check_units(geo: &::geography::Geography, f: &FormSubmission, errors: &mut Vec<FieldProblem>) {
    use ::geography::Level;
    let u = &f.units;
    let has_districts = geo.levels.contains(&Level::District);
    let unit_at = |code: &str, level: Level| geo.unit(code).filter(|x| x.level == level);
    if unit_at(&u.province, Level::Province).is_none() {
        errors.push(problem(
            "units.province",
            "unknown_unit",
            format!("Không có tỉnh mã '{}' trong {}.", u.province, geo.code),
            format!("No province '{}' in {}.", u.province, geo.code),
        ));
    }
    let commune_parent = match (has_districts, &u.district) {
        (true, Some(d)) => match unit_at(d, Level::District) {
            Some(dist) if dist.parent.as_deref() == Some(u.province.as_str()) => Some(d.as_str()),
            Some(_) => {
                errors.push(problem(
                    "units.district",
                    "unit_mismatch",
                    format!("Huyện '{d}' không thuộc tỉnh '{}'.", u.province),
                    format!("District '{d}' is not in province '{}'.", u.province),
                ));
                None
            }
            None => {
                errors.push(problem(
                    "units.district",
                    "unknown_unit",
                    format!("Không có huyện mã '{d}' trong {}.", geo.code),
                    format!("No district '{d}' in {}.", geo.code),
                ));
                None
            }
        },
        (true, None) => {
            errors.push(problem(
                "units.district",
                "required",
                "Đợt khảo sát này cần mã huyện.",
                "This round needs a district code.",
            ));
            None
        }
        (false, Some(_)) => {
            errors.push(problem(
                "units.district",
                "not_relevant",
                "Địa giới của đợt này không có cấp huyện.",
                "This round's geography has no district level.",
            ));
            None
        }
        (false, None) => Some(u.province.as_str()),
    };
    match unit_at(&u.commune, Level::Commune) {
        None => errors.push(problem(
            "units.commune",
            "unknown_unit",
            format!("Không có xã mã '{}' trong {}.", u.commune, geo.code),
            format!("No commune '{}' in {}.", u.commune, geo.code),
        )),
        Some(c) => {
            if let Some(parent) = commune_parent
                && c.parent.as_deref() != Some(parent)
            {
                errors.push(problem(
                    "units.commune",
                    "unit_mismatch",
                    format!("Xã '{}' không thuộc đơn vị '{parent}'.", u.commune),
                    format!("Commune '{}' is not in unit '{parent}'.", u.commune),
                ));
            }
        }
    }
    for (field, value) in [
        ("units.village", &u.village),
        ("household_ref", &f.household_ref),
    ] {
        if value.trim().is_empty() || value.chars().count() > 64 {
            errors.push(problem(
                field,
                if value.trim().is_empty() {
                    "required"
                } else {
                    "too_long"
                },
                "Cần mã (tối đa 64 ký tự).",
                "A code of at most 64 characters is required.",
            ));
        }
    }
    if f.revision == 0 {
        errors.push(problem(
            "revision",
            "out_of_range",
            "Số lần sửa phải từ 1 trở lên.",
            "The revision must be 1 or more.",
        ));
    }
}

/// A push body as read: when every form has the protocol's shape (the common case), each form
/// parsed and prepared (see [`prepare`]) in one pass over the body; otherwise each form's text,
/// to parse alone, so that a malformed form fails alone.
struct PushBody<'b> {
    forms: Forms<'b>,
    payloads: Payloads<'b>,
}

enum Forms<'b> {
    /// Every form parsed: prepared, or (its questionnaire version not in memory yet) still to be.
    Parsed {
        prepared: Vec<Parsed>,
        pending: Vec<(usize, FormSubmission<JsonObject<'b>>)>,
        n: usize,
    },
    /// At least one form does not have the protocol's shape: each form is parsed alone, from its
    /// text in [`Payloads`].
    Texts,
}

/// The body's shape, `{"forms": [...]}`, with each form left as its text (borrowed while the
/// body is split, owned to explain a body that is not this shape).
#[derive(serde::Deserialize)]
struct Shape<F> {
    forms: Vec<F>,
}

/// Each form's text as sent: what a quarantined form keeps as its payload.
struct Payloads<'b> {
    body: &'b [u8],
    texts: std::sync::OnceLock<Vec<&'b str>>,
}

impl<'b> Payloads<'b> {
    /// The forms' texts. When the forms were parsed in one pass, the body is split the first
    /// time they are needed: only a quarantined form needs its text.
    fn texts(&self) -> &[&'b str] {
        self.texts
            .get_or_init(|| split(self.body).unwrap_or_default())
    }

    /// Form `idx`'s text.
    fn get(&self, idx: usize) -> String {
        match self.texts().get(idx) {
            Some(t) => (*t).to_owned(),
            // Cannot happen (the body parsed before); keep the whole body rather than nothing.
            None => String::from_utf8_lossy(self.body).into_owned(),
        }
    }
}

/// The texts of a push body's forms, as sent.
fn split(body: &[u8]) -> Result<Vec<&str>, serde_json::Error> {
    serde_json::from_slice::<Shape<&RawValue>>(body)
        .map(|r| r.forms.into_iter().map(RawValue::get).collect())
}

/// What a [`Stream`] makes of the forms: prepared, pending (their questionnaire version not in
/// memory yet), and how many there are.
struct Sink<'p, 's, 'b> {
    prep: &'p mut Preparer<'s>,
    prepared: Vec<Parsed>,
    pending: Vec<(usize, FormSubmission<JsonObject<'b>>)>,
    n: usize,
}

impl<'b> Sink<'_, '_, 'b> {
    /// Prepares form `idx` if its questionnaire version is in memory, else keeps it pending.
    fn add(&mut self, idx: usize, f: FormSubmission<JsonObject<'b>>) {
        match self
            .prep
            .known(&f.questionnaire_code, f.questionnaire_version)
        {
            Some(def) => self.prepared.push(prepare(def, idx, f)),
            None => self.pending.push((idx, f)),
        }
    }
}

/// Reads `{"forms": [...]}`, handing each form to the [`Preparer`] as soon as it is parsed, while
/// its JSON tree is still in this core's cache: the tree is built, hashed, validated, encoded
/// and freed before the next form is read (parsing the whole body into trees first, then
/// preparing them, was measured slower: the trees of a hundred forms outgrow the cache).
struct Stream<'x, 'p, 's, 'b>(&'x mut Sink<'p, 's, 'b>);

/// The `forms` array of a [`Stream`].
struct Elements<'x, 'p, 's, 'b>(&'x mut Sink<'p, 's, 'b>);

impl<'b> serde::de::DeserializeSeed<'b> for Stream<'_, '_, '_, 'b> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'b>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'b> serde::de::Visitor<'b> for Stream<'_, '_, '_, 'b> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a push: an object with a `forms` array")
    }

    fn visit_map<A: serde::de::MapAccess<'b>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'b, str>>()? {
            if key != "forms" {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            if seen {
                return Err(serde::de::Error::duplicate_field("forms"));
            }
            seen = true;
            map.next_value_seed(Elements(&mut *self.0))?;
        }
        if seen {
            Ok(())
        } else {
            Err(serde::de::Error::missing_field("forms"))
        }
    }
}

impl<'b> serde::de::DeserializeSeed<'b> for Elements<'_, '_, '_, 'b> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'b>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'b> serde::de::Visitor<'b> for Elements<'_, '_, '_, 'b> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of forms")
    }

    fn visit_seq<A: serde::de::SeqAccess<'b>>(self, mut seq: A) -> Result<(), A::Error> {
        let sink = self.0;
        while let Some(f) = seq.next_element::<FormSubmission<JsonObject<'b>>>()? {
            let idx = sink.n;
            sink.n += 1;
            // A push refused before its forms count (too many, or not the sender's to make) is
            // only read, to report a body that is not a push first.
            if !sink.prep.enabled || idx >= MAX_BATCH_FORMS {
                continue;
            }
            sink.add(idx, f);
        }
        Ok(())
    }
}

impl<'b> PushBody<'b> {
    /// Reads a push body; fails (with the error [`crate::error::ApiJson`] gives) only when the body
    /// is not a JSON object with a `forms` array.
    ///
    /// With `parts` above one (the push is alone on the server), the body is first split into
    /// its forms' texts, and these are prepared in up to `parts` runs of consecutive forms, on as
    /// many threads (in one run when there are too few forms to share).
    async fn read(
        body: &'b JsonBytes,
        prep: &mut Preparer<'_>,
        parts: usize,
    ) -> Result<Self, ApiError> {
        let bytes: &'b [u8] = &body.0;
        let payloads = |texts| Payloads { body: bytes, texts };
        // The whole body's UTF-8 checked at once (vectorised) rather than string by string as
        // the parser reads bytes. A body that is not UTF-8 is refused below, as before: splitting
        // it into the forms' texts checks the bytes too.
        let utf8 = std::str::from_utf8(bytes);
        if parts > 1
            && prep.enabled
            && utf8.is_ok()
            && let Ok(texts) = split(bytes)
        {
            // Split once, the texts serve however the forms are read: in runs on several
            // threads, in one run here (too few forms to share), or not at all (too many: the
            // push is refused before its forms are read).
            let n = texts.len();
            let parts = parts.min(n / MIN_PART_FORMS);
            let run = if n > MAX_BATCH_FORMS {
                None
            } else if parts > 1 {
                prep.state.pushes.split.fetch_add(1, Ordering::Relaxed);
                prepare_in_parts(&body.0, &texts, prep, parts).await
            } else {
                prepare_run(&texts, 0, prep)
            };
            let forms = match run {
                Some((prepared, pending)) => Forms::Parsed {
                    prepared,
                    pending,
                    n,
                },
                None => Forms::Texts,
            };
            return Ok(PushBody {
                forms,
                payloads: payloads(std::sync::OnceLock::from(texts)),
            });
        }
        if let Ok(text) = utf8 {
            let mut sink = Sink {
                prep: &mut *prep,
                prepared: Vec::new(),
                pending: Vec::new(),
                n: 0,
            };
            let mut de = serde_json::Deserializer::from_str(text);
            if serde::de::DeserializeSeed::deserialize(Stream(&mut sink), &mut de)
                .and_then(|()| de.end())
                .is_ok()
            {
                let Sink {
                    prepared,
                    pending,
                    n,
                    ..
                } = sink;
                return Ok(PushBody {
                    forms: Forms::Parsed {
                        prepared,
                        pending,
                        n,
                    },
                    payloads: payloads(std::sync::OnceLock::new()),
                });
            }
        }
        let texts = split(bytes).map_err(|_| body.rejection::<Shape<Box<RawValue>>>())?;
        Ok(PushBody {
            forms: Forms::Texts,
            payloads: payloads(std::sync::OnceLock::from(texts)),
        })
    }

    /// Number of forms in the push.
    fn len(&self) -> usize {
        match &self.forms {
            Forms::Parsed { n, .. } => *n,
            Forms::Texts => self.payloads.texts().len(),
        }
    }
}

/// Prepared forms, and forms still to prepare (their questionnaire version not in memory yet),
/// by their index in the body.
type Prepared<'b> = (Vec<Parsed>, Vec<(usize, FormSubmission<JsonObject<'b>>)>);

/// Parses and prepares the forms `texts` (slices of `body`) as [`Stream`] does, in `parts` runs of
/// consecutive forms: the first on this thread, the others on the blocking pool's threads. `None`
/// when a form does not have the protocol's shape: every form is then parsed alone (see
/// [`Forms::Texts`]).
///
/// The pool's threads are kept between pushes: a scoped thread started per run took 0.65 ms on
/// average to begin (push bench, 1 device, two parts), against 0.94 ms for the run itself.
async fn prepare_in_parts<'b>(
    body: &axum::body::Bytes,
    texts: &[&'b str],
    prep: &mut Preparer<'_>,
    parts: usize,
) -> Option<Prepared<'b>> {
    let per_part = texts.len().div_ceil(parts);
    let base = body.as_ptr() as usize;
    let helpers: Vec<_> = texts
        .chunks(per_part)
        .enumerate()
        .skip(1)
        .map(|(i, chunk)| {
            // Each text as a range of the body, which the helper shares (reference-counted).
            let ranges: Vec<std::ops::Range<usize>> = chunk
                .iter()
                .map(|t| {
                    let start = t.as_ptr() as usize - base;
                    start..start + t.len()
                })
                .collect();
            let body = body.clone();
            let state = prep.state.clone();
            tokio::task::spawn_blocking(move || {
                let mut prep = Preparer {
                    state: &state,
                    enabled: true,
                    definitions: HashMap::new(),
                };
                let texts: Vec<&str> = ranges
                    .into_iter()
                    // The ranges are of UTF-8 text split at JSON values: always valid.
                    .map(|r| std::str::from_utf8(&body[r]).unwrap_or_default())
                    .collect();
                prepare_run(&texts, i * per_part, &mut prep).map(|(prepared, pending)| {
                    (
                        prepared,
                        pending
                            .into_iter()
                            .map(|(idx, _)| idx)
                            .collect::<Vec<usize>>(),
                    )
                })
            })
        })
        .collect();
    let (mut prepared, mut pending) = prepare_run(&texts[..per_part.min(texts.len())], 0, prep)?;
    for h in helpers {
        // A helper that panicked (a bug) fails the push as the same panic here would; one
        // cancelled (the runtime shutting down) counts as a failed run: the forms are then read
        // one by one on this thread. Runs still going on are left to finish unread.
        let (p, q) = match h.await {
            Ok(run) => run?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return None,
        };
        prepared.extend(p);
        // Parsed again here: a parsed form borrows the body, and cannot come back.
        for idx in q {
            pending.push((idx, serde_json::from_str(texts[idx]).ok()?));
        }
    }
    Some((prepared, pending))
}

/// One run of [`prepare_in_parts`] (or a lone push's only run): forms `first..` of the body.
/// `None` when a form does not have the protocol's shape.
fn prepare_run<'b>(
    texts: &[&'b str],
    first: usize,
    prep: &mut Preparer<'_>,
) -> Option<Prepared<'b>> {
    let mut sink = Sink {
        prep,
        prepared: Vec::with_capacity(texts.len()),
        pending: Vec::new(),
        n: 0,
    };
    for (i, raw) in texts.iter().enumerate() {
        sink.add(first + i, serde_json::from_str(raw).ok()?);
    }
    Some((sink.prepared, sink.pending))
}

/// The questionnaire versions a push's forms name, as it found them: the definition and stats
/// layout of a published version, `None` for one not published.
struct Preparer<'s> {
    state: &'s AppState,
    /// Whether forms are prepared at all (not when the push is refused whatever its forms).
    enabled: bool,
    definitions: HashMap<(String, u32), Option<Definition>>,
}

impl<'s> Preparer<'s> {
    /// The version's definition if it is known without the database: looked up before in this
    /// push, or held in the server's cache.
    fn known(&mut self, code: &str, version: u32) -> Option<Option<Definition>> {
        // Nearly every form of a push names the same version: a hit costs no key allocation.
        if let Some((_, def)) = self
            .definitions
            .iter()
            .find(|((c, v), _)| c == code && *v == version)
        {
            return Some(def.clone());
        }
        let def = Some(self.with_layout(self.state.questionnaires.cached(code, version)?));
        self.definitions
            .insert((code.to_owned(), version), def.clone());
        Some(def)
    }

    /// A definition with its stats layout.
    fn with_layout(&self, q: Arc<Questionnaire>) -> Definition {
        let layout = self.state.layouts.get(&q);
        (q, layout)
    }

    /// The version's definition, read from the database if need be.
    async fn resolve(&mut self, code: &str, version: u32) -> Result<Option<Definition>, ApiError> {
        if let Some(def) = self.known(code, version) {
            return Ok(def);
        }
        let def = self
            .state
            .questionnaires
            .get(&self.state.db, code, version)
            .await?
            .map(|q| self.with_layout(q));
        self.definitions
            .insert((code.to_owned(), version), def.clone());
        Ok(def)
    }
}

/// Hashes a parsed form, validates it against its questionnaire version (if published) and
/// encodes it, then drops its answers.
fn prepare(def: Option<Definition>, idx: usize, f: FormSubmission<JsonObject<'_>>) -> Parsed {
    let hash = f.content_hash();
    let checked = def.map(|(q, layout)| {
        let valid = schema::validate_json(&q, &f.answers)
            .map(|v| (FormDigest::of(&layout, &v), v.encode(&q)));
        (layout, valid)
    });
    Parsed {
        idx,
        f: f.without_answers(),
        hash,
        checked,
    }
}

/// Handles one push: every form gets an outcome, and nothing is answered before it is committed.
///
/// The errors that refuse the whole push come in the order a client is told them: a body that
/// is not a push, the protocol header, too many forms, a sender who may not submit forms.
#[tracing::instrument(skip_all, fields(forms = tracing::field::Empty))]
pub async fn push(
    state: &AppState,
    user: &AuthUser,
    headers: &HeaderMap,
    body: &JsonBytes,
) -> Result<Vec<FormResult>, ApiError> {
    let header = super::check_header(headers);
    let allowed = policy::can_submit_forms(user);
    let mut prep = Preparer {
        state,
        enabled: header.is_ok() && allowed.is_ok(),
        definitions: HashMap::new(),
    };
    let load = state.pushes.enter();
    let body = PushBody::read(body, &mut prep, load.parts).await?;
    let n = body.len();
    tracing::Span::current().record("forms", n);
    header?;
    if n > MAX_BATCH_FORMS {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("Tối đa {MAX_BATCH_FORMS} phiếu mỗi lần gửi."),
            format!("At most {MAX_BATCH_FORMS} forms per push."),
        ));
    }
    allowed?;
    let payloads = body.payloads;
    let mut quarantines: Vec<Quarantine> = Vec::new();

    // Each form is hashed, validated against its questionnaire version (if published) and
    // encoded in turn, and its JSON tree dropped at once, before the lookups below.
    let parsed: Vec<Parsed> = match body.forms {
        Forms::Parsed {
            mut prepared,
            pending,
            n: _,
        } => {
            if !pending.is_empty() {
                for (idx, f) in pending {
                    let def = prep
                        .resolve(&f.questionnaire_code, f.questionnaire_version)
                        .await?;
                    prepared.push(prepare(def, idx, f));
                }
                // In the body's order: of two forms with one id, the first is the one stored.
                prepared.sort_by_key(|p| p.idx);
            }
            prepared
        }
        Forms::Texts => {
            let texts = payloads.texts();
            let mut parsed = Vec::with_capacity(texts.len());
            // Parse every form on its own: one malformed form does not fail the others.
            for (idx, &raw) in texts.iter().enumerate() {
                match serde_json::from_str::<FormSubmission<JsonObject<'_>>>(raw) {
                    Ok(f) => {
                        let def = prep
                            .resolve(&f.questionnaire_code, f.questionnaire_version)
                            .await?;
                        parsed.push(prepare(def, idx, f));
                    }
                    Err(e) => {
                        // Salvage what can be read, to file the payload under its id and round.
                        let loose: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                        let id = loose
                            .get("id")
                            .and_then(Value::as_str)
                            .and_then(|s| Uuid::parse_str(s).ok());
                        quarantines.push(Quarantine {
                            idx,
                            id,
                            round: loose
                                .get("round")
                                .and_then(Value::as_str)
                                .map(str::to_owned),
                            outcome: Outcome::Invalid,
                            errors: vec![problem(
                                "form",
                                "malformed",
                                "Phiếu không đúng cấu trúc của giao thức đồng bộ.",
                                format!("The form does not have the sync protocol's shape: {e}"),
                            )],
                            payload: raw.to_owned(),
                            hash: None,
                        });
                    }
                }
            }
            parsed
        }
    };
    PushLoad::add(&state.pushes.preparing_ns, load.started);

    // The forms are inserted with a plain INSERT (no ON CONFLICT: about a fifth cheaper on
    // PostgreSQL, measured in `benches/push.rs`). The first attempt assumes every id is new, as
    // nearly every push's are, and reads nothing about them: if every form is accepted, the
    // unique index alone stands between a held id and a second copy. If it fires (a resend, or
    // another push storing the same id meanwhile), or a form is not accepted (whether it was
    // quarantined before is then needed), the push is decided again after looking its ids up,
    // and a held form answers `duplicate` or `conflict`. The database, not a lock in this
    // process, keeps every form once.
    let mut mode = Mode::default();
    let mut races = 0;
    loop {
        match store(state, user, n, &parsed, &quarantines, &payloads, mode).await {
            Ok(results) => return Ok(results),
            Err(Attempt::Unsure) => mode.look_up = true,
            Err(Attempt::Regroup) => mode.alone = true,
            Err(Attempt::Raced) => {
                state.pushes.raced.fetch_add(1, Ordering::Relaxed);
                if !mode.look_up {
                    mode.look_up = true;
                    continue;
                }
                races += 1;
                if races == ATTEMPTS {
                    break;
                }
                tracing::info!(
                    attempt = races,
                    "a form of this push was stored meanwhile; trying again"
                );
            }
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "Máy chủ đang bận nhận các phiếu này từ nơi khác; hãy đồng bộ lại sau.",
        "The server is busy storing these forms from elsewhere; sync again later.",
    ))
}

/// What the server already holds under a push's form ids (see [`held`]).
#[derive(Default)]
struct Held {
    /// Content hash of each stored form.
    stored: HashMap<Uuid, String>,
    /// Reason and field errors (JSON) of each quarantined payload, by id and content hash.
    quarantined: HashMap<(Uuid, String), (String, String)>,
}

/// What the server already holds under these form ids: stored forms and quarantined payloads,
/// in one statement (per 500 ids).
///
/// On PostgreSQL the statement is sent unprepared, ids inlined (uuids, rendered by sea-query), so
/// it is planned for the table as it is now. A prepared statement switches, after five runs, to a
/// generic plan that it keeps until the table is analyzed: prepared while `forms` was nearly empty
/// (a new server's first pushes, before autovacuum first analyzes the table), it kept a
/// sequential scan, and as the table grew each push read all of it (measured: 3 ms per push at
/// 20,000 forms, more than the insert; 0.2 ms planned afresh). Forcing custom plans for the whole
/// connection instead (`plan_cache_mode`) re-planned every 100-row INSERT too, and was no faster.
async fn held(db: &sea_orm::DatabaseConnection, ids: &[Uuid]) -> Result<Held, DbErr> {
    let mut out = Held::default();
    for chunk in ids.chunks(500) {
        let forms = Query::select()
            .column(form::Column::Id)
            .column(form::Column::ContentHash)
            .expr_as(Expr::cust("NULL"), "reason")
            .expr_as(Expr::cust("NULL"), "errors")
            .from(form::Entity)
            .and_where(form::Column::Id.is_in(chunk.iter().copied()))
            .to_owned();
        let stmt = Query::select()
            .column(quarantined_form::Column::FormId)
            .column(quarantined_form::Column::ContentHash)
            .column(quarantined_form::Column::Reason)
            .column(quarantined_form::Column::Errors)
            .from(quarantined_form::Entity)
            .and_where(quarantined_form::Column::FormId.is_in(chunk.iter().copied()))
            .and_where(quarantined_form::Column::ContentHash.is_not_null())
            .union(UnionType::All, forms)
            .to_owned();
        // A stored form's row has no reason (a quarantined one always has).
        let mut add =
            |id: Uuid, hash: String, reason: Option<String>, errors: Option<String>| match reason
                .zip(errors)
            {
                None => {
                    out.stored.insert(id, hash);
                }
                Some(q) => {
                    out.quarantined.insert((id, hash), q);
                }
            };
        if db.get_database_backend() == DbBackend::Postgres {
            use sea_orm::sqlx::{AssertSqlSafe, Row};
            let sql = stmt.to_string(PostgresQueryBuilder);
            let rows = sea_orm::sqlx::raw_sql(AssertSqlSafe(sql))
                .fetch_all(db.get_postgres_connection_pool())
                .await
                .map_err(|e| DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into())))?;
            let get = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("held forms: {e}"));
            for r in rows {
                add(
                    r.try_get(0).map_err(get)?,
                    r.try_get(1).map_err(get)?,
                    r.try_get(2).map_err(get)?,
                    r.try_get(3).map_err(get)?,
                );
            }
        } else {
            for r in db.query_all(&stmt).await? {
                add(
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                    r.try_get_by_index(3)?,
                );
            }
        }
    }
    Ok(out)
}

/// What a push checks forms against: the rounds by code, and the status of every version of the
/// questionnaires they use.
struct Registry {
    rounds: HashMap<String, RoundRow>,
    statuses: HashMap<(String, i32), String>,
}

/// The columns of a round a push needs.
struct RoundRow {
    code: String,
    status: String,
    questionnaire_code: String,
    geography_code: String,
}

/// Reads the [`Registry`] in one statement: rounds joined with their questionnaire's versions. A
/// version of a questionnaire no round uses is left out; no form could be accepted under it.
async fn registry(db: &sea_orm::DatabaseConnection) -> Result<Registry, DbErr> {
    use questionnaire_version::Column as V;
    use round::Column as R;
    let stmt = Query::select()
        .columns([
            (round::Entity, R::Code),
            (round::Entity, R::Status),
            (round::Entity, R::QuestionnaireCode),
            (round::Entity, R::GeographyCode),
        ])
        .columns([
            (questionnaire_version::Entity, V::Version),
            (questionnaire_version::Entity, V::Status),
        ])
        .from(round::Entity)
        .left_join(
            questionnaire_version::Entity,
            Expr::col((questionnaire_version::Entity, V::Code))
                .equals((round::Entity, R::QuestionnaireCode)),
        )
        .to_owned();
    let mut out = Registry {
        rounds: HashMap::new(),
        statuses: HashMap::new(),
    };
    for r in db.query_all(&stmt).await? {
        let round = RoundRow {
            code: r.try_get_by_index(0)?,
            status: r.try_get_by_index(1)?,
            questionnaire_code: r.try_get_by_index(2)?,
            geography_code: r.try_get_by_index(3)?,
        };
        let version: Option<i32> = r.try_get_by_index(4)?;
        let status: Option<String> = r.try_get_by_index(5)?;
        if let (Some(v), Some(s)) = (version, status) {
            out.statuses
                .insert((round.questionnaire_code.clone(), v), s);
        }
        out.rounds.insert(round.code.clone(), round);
    }
    Ok(out)
}

/// How [`store`] makes an attempt.
#[derive(Clone, Copy, Default)]
struct Mode {
    /// Look the push's ids up first.
    look_up: bool,
    /// Have SQLite's writer thread write this push in a transaction of its own (see
    /// [`super::writer`]).
    alone: bool,
}

/// One attempt at deciding and storing a parsed push (see [`push`]). Without `look_up` the
/// attempt assumes the server holds none of these ids, and goes on to store the push only if
/// every form that parsed is accepted (malformed ones are quarantined either way: they have no
/// content hash to look up).
async fn store(
    state: &AppState,
    user: &AuthUser,
    n: usize,
    parsed: &[Parsed],
    malformed: &[Quarantine],
    payloads: &Payloads<'_>,
    mode: Mode,
) -> Result<Vec<FormResult>, Attempt> {
    let mut results: Vec<Option<FormResult>> = vec![None; n];
    let mut accepts: Vec<Accept<'_>> = Vec::new();
    let mut quarantines: Vec<Quarantine> = malformed.to_vec();

    // What the server already holds for these ids, and the rounds and questionnaire statuses:
    // independent reads, sent together (each on its own pooled connection).
    let (held, registry) = if mode.look_up {
        let ids: Vec<Uuid> = parsed.iter().map(|p| p.f.id).collect();
        tokio::try_join!(held(&state.db, &ids), registry(&state.db))?
    } else {
        (Held::default(), registry(&state.db).await?)
    };
    let Held {
        stored,
        quarantined,
    } = held;
    let Registry { rounds, statuses } = registry;

    let now = OffsetDateTime::now_utc();
    // Ids decided earlier in this same batch (a form sent twice in one push).
    let mut in_batch: HashMap<Uuid, String> = HashMap::new();
    // Payloads this push quarantines, by id and content hash: the same payload twice in one
    // batch gets one row, and the second the first one's answer.
    let mut filed: HashMap<(Uuid, &str), usize> = HashMap::new();
    for Parsed {
        idx,
        f,
        hash,
        checked,
    } in parsed
    {
        let idx = *idx;
        let held = stored.get(&f.id).or_else(|| in_batch.get(&f.id));
        // Already held with this content: the original outcome again.
        if held == Some(hash) {
            results[idx] = Some(FormResult {
                id: Some(f.id),
                outcome: Outcome::Duplicate,
                errors: vec![],
                content_hash: Some(hash.clone()),
            });
            continue;
        }
        // The form's verdict: accepted (its stats, encoding and questionnaire version), or the
        // outcome and errors it is quarantined with.
        let verdict = 'verdict: {
            if held.is_some() {
                break 'verdict Err((
                    Outcome::Conflict,
                    vec![problem(
                        "id",
                        "conflict",
                        "Máy chủ đã có một phiếu khác với cùng mã phiếu và số lần sửa. Cả hai được giữ lại để kiểm tra.",
                        "The server already holds a different form with this id and revision. Both are kept for review.",
                    )],
                ));
            }
            let Some(r) = rounds.get(&f.round).filter(|r| r.status == STATUS_OPEN) else {
                break 'verdict Err((
                    Outcome::UnknownRound,
                    vec![problem(
                        "round",
                        "unknown_round",
                        format!("Không có đợt khảo sát '{}' đang mở.", f.round),
                        format!("No open survey round '{}'.", f.round),
                    )],
                ));
            };
            let version = i32::try_from(f.questionnaire_version).unwrap_or(i32::MAX);
            let status = statuses.get(&(f.questionnaire_code.clone(), version));
            let checked = match status {
                Some(_) if f.questionnaire_code != r.questionnaire_code => None,
                Some(_) => checked.as_ref(),
                None => None,
            };
            let Some((layout, valid)) = checked else {
                break 'verdict Err((
                    Outcome::UnknownQuestionnaire,
                    vec![problem(
                        "questionnaire_version",
                        "unknown_questionnaire",
                        format!(
                            "Đợt '{}' không dùng bảng hỏi {} phiên bản {}.",
                            f.round, f.questionnaire_code, f.questionnaire_version
                        ),
                        format!(
                            "Round '{}' does not use questionnaire {} version {}.",
                            f.round, f.questionnaire_code, f.questionnaire_version
                        ),
                    )],
                ));
            };
            if status.map(String::as_str) != Some(STATUS_OPEN) {
                break 'verdict Err((
                    Outcome::QuestionnaireClosed,
                    vec![problem(
                        "questionnaire_version",
                        "questionnaire_closed",
                        format!(
                            "Bảng hỏi {} phiên bản {} đã đóng, không nhận phiếu mới.",
                            f.questionnaire_code, f.questionnaire_version
                        ),
                        format!(
                            "Questionnaire {} version {} is closed to new forms.",
                            f.questionnaire_code, f.questionnaire_version
                        ),
                    )],
                ));
            }
            let Some(geo) = ::geography::by_code(&r.geography_code) else {
                return Err(Attempt::Failed(ApiError::internal(format!(
                    "round {} uses unknown geography {}",
                    r.code, r.geography_code
                ))));
            };
            let mut errors = Vec::new();
            check_units(geo, f, &mut errors);
            if errors.is_empty() && !policy::covers_unit(user, &r.geography_code, &f.units.commune)
            {
                break 'verdict Err((
                    Outcome::Forbidden,
                    vec![problem(
                        "units.commune",
                        "out_of_scope",
                        "Xã này nằm ngoài địa bàn được phân công cho bạn.",
                        "This commune is outside your assigned area.",
                    )],
                ));
            }
            match valid {
                Ok(valid) if errors.is_empty() => Ok((layout, valid, version)),
                Ok(_) => Err((Outcome::Invalid, errors)),
                Err(field_errors) => {
                    errors.extend(field_errors.iter().map(|e| FieldProblem {
                        field: e.question.clone(),
                        code: e.code.as_str().to_owned(),
                        message: e.message.vi.clone(),
                        message_en: e.message.en.clone(),
                    }));
                    Err((Outcome::Invalid, errors))
                }
            }
        };
        let (layout, (digest, encoded), version) = match verdict {
            Ok(accepted) => accepted,
            // Whether this payload was quarantined before is not known without the lookups.
            Err(_) if !mode.look_up => return Err(Attempt::Unsure),
            Err((outcome, errors)) => {
                if let Some((reason, errors)) = quarantined.get(&(f.id, hash.clone())) {
                    // Quarantined before: its first outcome again, and no second row.
                    results[idx] = Some(FormResult {
                        id: Some(f.id),
                        outcome: parse_outcome(reason),
                        errors: serde_json::from_str(errors).unwrap_or_default(),
                        content_hash: Some(hash.clone()),
                    });
                } else if let Some(&first) = filed.get(&(f.id, hash.as_str())) {
                    let q: &Quarantine = &quarantines[first];
                    results[idx] = Some(FormResult {
                        id: q.id,
                        outcome: q.outcome,
                        errors: q.errors.clone(),
                        content_hash: q.hash.clone(),
                    });
                } else {
                    filed.insert((f.id, hash.as_str()), quarantines.len());
                    quarantines.push(Quarantine {
                        idx,
                        id: Some(f.id),
                        round: Some(f.round.clone()),
                        outcome,
                        errors,
                        payload: payloads.get(idx),
                        hash: Some(hash.clone()),
                    });
                }
                continue;
            }
        };
        in_batch.insert(f.id, hash.clone());
        accepts.push(Accept {
            idx,
            id: f.id,
            hash,
            row: form::ActiveModel {
                id: Set(f.id),
                round_code: Set(f.round.clone()),
                questionnaire_code: Set(f.questionnaire_code.clone()),
                questionnaire_version: Set(version),
                province_code: Set(f.units.province.clone()),
                district_code: Set(f.units.district.clone()),
                commune_code: Set(f.units.commune.clone()),
                village_code: Set(f.units.village.clone()),
                household_ref: Set(f.household_ref.clone()),
                status: Set(COUNTED_STATUS.into()),
                revision: Set(i32::try_from(f.revision).unwrap_or(i32::MAX)),
                content_hash: Set(hash.clone()),
                device_id: Set(user.device_id.clone()),
                submitted_by: Set(Some(user.id)),
                started_at: Set(f.started_at),
                finished_at: Set(f.finished_at),
                received_at: Set(now),
                updated_at: Set(now),
                gps_lat: Set(f.gps.map(|g| g.lat)),
                gps_lon: Set(f.gps.map(|g| g.lon)),
                answers: Set(encoded.clone()),
                ..Default::default()
            },
            stats: (layout, digest),
            form: f,
        });
    }

    // Rows in id order: two processes inserting overlapping batches take the unique-index locks in
    // the same order, so PostgreSQL cannot deadlock them against each other.
    accepts.sort_by_key(|a| a.id);
    // Everything that needs no database, the statements included, is worked out before the
    // transaction, so the locks it takes (SQLite's one write lock above all) are held for the
    // statements only.
    let mut stats = PendingStats::default();
    for a in &accepts {
        let f = a.form;
        let place = FormPlace {
            round: &f.round,
            province: &f.units.province,
            district: f.units.district.as_deref(),
            commune: &f.units.commune,
            village: &f.units.village,
        };
        stats
            .add(a.stats.0, place, a.stats.1)
            .map_err(|e| ApiError::internal(format!("index stats of form {}: {e}", a.id)))?;
    }
    let quarantined: Vec<quarantined_form::ActiveModel> = quarantines
        .iter()
        .map(|q| quarantined_form::ActiveModel {
            form_id: Set(q.id),
            round_code: Set(q.round.clone()),
            reason: Set(outcome_name(q.outcome)),
            content_hash: Set(q.hash.clone()),
            errors: Set(serde_json::to_string(&q.errors).unwrap_or_else(|_| "[]".into())),
            payload: Set(q.payload.clone()),
            device_id: Set(user.device_id.clone()),
            submitted_by: Set(Some(user.id)),
            received_at: Set(now),
            ..Default::default()
        })
        .collect();
    let backend = state.db.get_database_backend();
    let write = Write {
        rows_count: accepts.len() + quarantined.len(),
        // Moved out of the accepts, not copied.
        rows: inserts(
            backend,
            accepts
                .iter_mut()
                .map(|a| std::mem::take(&mut a.row))
                .collect(),
        ),
        quarantined: inserts(backend, quarantined),
        stats,
        device: user.device_id.as_ref().map(|id| DeviceCount {
            id: id.clone(),
            pushed: n as i64,
            accepted: accepts.len() as i64,
        }),
        now,
    };
    let writing = Instant::now();
    let written = match &state.writer {
        Some(writer) => writer.write(write, mode.alone).await,
        None => write_all(&state.db, vec![write])
            .await
            .map_err(WriteError::Db),
    };
    PushLoad::add(&state.pushes.writing_ns, writing);
    written.map_err(|e| match e {
        WriteError::Regroup => Attempt::Regroup,
        WriteError::Db(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Attempt::Raced
        }
        WriteError::Db(e) => Attempt::Failed(e.into()),
    })?;
    for a in &accepts {
        results[a.idx] = Some(FormResult {
            id: Some(a.id),
            outcome: Outcome::Accepted,
            errors: vec![],
            content_hash: Some(a.hash.to_owned()),
        });
    }
    for q in quarantines {
        if results[q.idx].is_none() {
            results[q.idx] = Some(FormResult {
                id: q.id,
                outcome: q.outcome,
                errors: q.errors,
                content_hash: q.hash,
            });
        }
    }
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
