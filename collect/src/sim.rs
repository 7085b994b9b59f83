//! The field simulator: N enumerator devices, each with its own durable outbox, filling forms
//! offline and syncing through an unreliable network (dropped requests and answers, resent
//! batches, app restarts mid-sync), then checking against the server that every form arrived
//! exactly once.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    future::Future,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use geography::Level;
use serde_json::json;
use sync_protocol::{
    FieldProblem, Gps, HandshakeRequest, HandshakeResponse, Outcome, PullResponse, PushRequest,
    PushResponse, StatusRequest, StatusResponse,
    engine::{
        Engine, LocalState, Outbox, SyncConfig, SyncError, SyncReport, Transport, TransportError,
    },
};
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    app::{self, AppError, NewForm},
    http::{self, HttpTransport},
    store::Store,
};

/// A small deterministic generator (SplitMix64): reproducible runs from `--seed` without a
/// random-number crate.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// How often the simulated network and phone misbehave (each a probability per call).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultRates {
    /// The request is lost before reaching the server.
    pub drop_request: f64,
    /// The server processes the request; the answer is lost.
    pub drop_response: f64,
    /// A push is sent twice (the first answer discarded).
    pub duplicate: f64,
    /// The app is killed during a call (before or after the server processed it) and restarted
    /// from its durable outbox.
    pub restart: f64,
}

/// Counters of injected faults.
#[derive(Debug, Default)]
pub struct FaultCounts {
    /// Calls made while online.
    pub calls: AtomicUsize,
    /// Requests dropped.
    pub dropped_requests: AtomicUsize,
    /// Answers dropped.
    pub dropped_responses: AtomicUsize,
    /// Pushes sent twice.
    pub duplicated_pushes: AtomicUsize,
    /// Kills.
    pub restarts: AtomicUsize,
    /// Calls refused because the device was offline.
    pub offline_calls: AtomicUsize,
}

/// A [`Transport`] wrapper that injects [`FaultRates`], an offline switch and kills.
#[derive(Debug)]
pub struct FlakyTransport<T> {
    inner: T,
    rng: Mutex<SplitMix64>,
    rates: FaultRates,
    /// While set, every call fails as a network error without reaching the server.
    pub offline: AtomicBool,
    /// Notified when the app is "killed"; the killed call never returns.
    pub kill: Arc<Notify>,
    counts: Arc<FaultCounts>,
}

impl<T: Transport> FlakyTransport<T> {
    /// Wraps `inner`.
    pub fn new(
        inner: T,
        rng: SplitMix64,
        rates: FaultRates,
        counts: Arc<FaultCounts>,
    ) -> FlakyTransport<T> {
        FlakyTransport {
            inner,
            rng: Mutex::new(rng),
            rates,
            offline: AtomicBool::new(false),
            kill: Arc::new(Notify::new()),
            counts,
        }
    }

    /// The generator's state (to continue the sequence after a restart).
    pub fn rng(&self) -> SplitMix64 {
        self.rng
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn roll(&self, p: f64) -> bool {
        match self.rng.lock() {
            Ok(mut r) => r.chance(p),
            Err(e) => e.into_inner().chance(p),
        }
    }

    async fn faulty<R, F, Fut>(&self, mut send: F) -> Result<R, TransportError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R, TransportError>>,
    {
        if self.offline.load(Ordering::Relaxed) {
            self.counts.offline_calls.fetch_add(1, Ordering::Relaxed);
            return Err(TransportError::Network("simulated: offline".into()));
        }
        self.counts.calls.fetch_add(1, Ordering::Relaxed);
        if self.roll(self.rates.restart) {
            self.counts.restarts.fetch_add(1, Ordering::Relaxed);
            if self.roll(0.5) {
                let _ = send().await;
            }
            self.kill.notify_one();
            return std::future::pending().await;
        }
        if self.roll(self.rates.drop_request) {
            self.counts.dropped_requests.fetch_add(1, Ordering::Relaxed);
            return Err(TransportError::Network("simulated: request lost".into()));
        }
        let r = send().await;
        if self.roll(self.rates.drop_response) {
            self.counts
                .dropped_responses
                .fetch_add(1, Ordering::Relaxed);
            return Err(TransportError::Network("simulated: answer lost".into()));
        }
        r
    }
}

impl<T: Transport> Transport for FlakyTransport<T> {
    async fn handshake(&self, req: &HandshakeRequest) -> Result<HandshakeResponse, TransportError> {
        self.faulty(|| self.inner.handshake(req)).await
    }

    async fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.faulty(|| async {
            if self.roll(self.rates.duplicate) {
                self.counts
                    .duplicated_pushes
                    .fetch_add(1, Ordering::Relaxed);
                let _ = self.inner.push(req).await;
            }
            self.inner.push(req).await
        })
        .await
    }

    async fn status(&self, req: &StatusRequest) -> Result<StatusResponse, TransportError> {
        self.faulty(|| self.inner.status(req)).await
    }

    async fn pull(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<PullResponse, TransportError> {
        self.faulty(|| self.inner.pull(cursor, limit)).await
    }

    async fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration).await;
    }
}

/// Settings of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Server base URL.
    pub server: String,
    /// Ministry account that creates the enumerators and reads the forms back.
    pub admin_user: String,
    /// Its password.
    pub admin_password: String,
    /// Round code.
    pub round: String,
    /// Province code (the enumerators' scope).
    pub province: String,
    /// Communes used: the first N of the province by code.
    pub communes: usize,
    /// Devices.
    pub devices: usize,
    /// Forms per device.
    pub forms_per_device: usize,
    /// Fault rates.
    pub rates: FaultRates,
    /// Offline rounds before the device gets a network.
    pub offline_rounds: usize,
    /// Seed.
    pub seed: u64,
    /// Satisfaction level (0 = don't know, 1..=5) per commune or district code.
    pub levels: HashMap<String, u8>,
    /// Level for units not in `levels`.
    pub default_level: u8,
    /// Forms per push.
    pub batch_size: usize,
    /// Where device outboxes live (a new temporary folder when `None`).
    pub work_dir: Option<PathBuf>,
    /// Play in a new practice round of this code, copied from `round`, instead of `round` itself;
    /// the simulated enumerators are deactivated at the end. The ministry deletes the round with
    /// its forms afterwards (`DELETE /api/v1/rounds/{code}`), so a real round stays clean.
    pub practice: Option<String>,
    /// Share of the forms a supervisor sends back (0 to 1): after the first delivery a
    /// supervisor of the devices' team rejects this share and approves the rest, the devices
    /// pull the returns, correct and resend, and the supervisor approves the corrected
    /// revisions. 0 skips review.
    pub reject_share: f64,
    /// Share of the enumerators who fabricate (0 to 1, rounded to whole enumerators). Above 0
    /// the honest enumerators' forms also look like fieldwork (see [`Fabricate`]).
    pub fabricate_rate: f64,
    /// How the fabricating enumerators fabricate (every kind at once for each of them).
    pub fabricate_kinds: Vec<Fabricate>,
}

/// A way of fabricating forms (`--fabricate-kinds`).
///
/// With fabricators in a run, honest forms vary as answers do: each item at the commune's level
/// (60%), one below or above (20% each), "don't know" 3%; 20–45 minutes each, eight a day from
/// 08:00 local time on past days; GPS within about a kilometre of the commune's point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fabricate {
    /// Every item at one level.
    Straight,
    /// Each form a copy of the enumerator's first with one answer changed.
    Copy,
    /// Two to four minutes a form, one after the other.
    Speed,
    /// Every form at the same GPS point (filled at a desk).
    DeskGps,
}

impl Fabricate {
    /// Every kind.
    pub const ALL: [Fabricate; 4] = [
        Fabricate::Straight,
        Fabricate::Copy,
        Fabricate::Speed,
        Fabricate::DeskGps,
    ];

    /// Parses `straight,copy,speed,desk-gps`.
    pub fn parse_list(s: &str) -> Result<Vec<Fabricate>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p {
                "straight" => Ok(Fabricate::Straight),
                "copy" => Ok(Fabricate::Copy),
                "speed" => Ok(Fabricate::Speed),
                "desk-gps" => Ok(Fabricate::DeskGps),
                other => Err(format!(
                    "kiểu gian lận không rõ / unknown kind {other} (straight, copy, speed, desk-gps)"
                )),
            })
            .collect()
    }
}

impl SimConfig {
    /// Defaults for a server and admin account: `sipas-2025`, province 12, 4 devices × 25 forms,
    /// no faults, level 4 everywhere.
    pub fn new(server: &str, admin_user: &str, admin_password: &str) -> SimConfig {
        SimConfig {
            server: server.trim_end_matches('/').to_owned(),
            admin_user: admin_user.into(),
            admin_password: admin_password.into(),
            round: "sipas-2025".into(),
            province: "12".into(),
            communes: 5,
            devices: 4,
            forms_per_device: 25,
            rates: FaultRates::default(),
            offline_rounds: 0,
            seed: 1,
            levels: HashMap::new(),
            default_level: 4,
            batch_size: 10,
            work_dir: None,
            practice: None,
            reject_share: 0.0,
            fabricate_rate: 0.0,
            fabricate_kinds: Fabricate::ALL.to_vec(),
        }
    }

    /// How many enumerators fabricate.
    pub fn fabricators(&self) -> usize {
        ((self.fabricate_rate.clamp(0.0, 1.0) * self.devices as f64).round() as usize)
            .min(self.devices)
    }

    /// Whether device `n` fabricates: the [`Self::fabricators`] devices from a seed-chosen
    /// start, so that they are not always the first.
    pub fn fabricates(&self, n: usize) -> bool {
        let k = self.fabricators();
        k > 0 && (n + self.devices - (self.seed as usize % self.devices)) % self.devices < k
    }
}

/// Parses `CODE=LEVEL,CODE=LEVEL` (levels 0..=5, 0 = don't know).
pub fn parse_levels(s: &str) -> Result<HashMap<String, u8>, String> {
    let mut out = HashMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (code, level) = part
            .split_once('=')
            .ok_or_else(|| format!("cần MÃ=MỨC / expected CODE=LEVEL, got {part}"))?;
        let level: u8 = level
            .trim()
            .parse()
            .ok()
            .filter(|l| *l <= 5)
            .ok_or_else(|| format!("mức phải từ 0 đến 5 / level must be 0..=5 in {part}"))?;
        out.insert(code.trim().to_owned(), level);
    }
    Ok(out)
}

/// What the forms of one commune should produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// District (rounds with districts).
    pub district: Option<String>,
    /// Forms generated.
    pub forms: usize,
    /// Level of every satisfaction item (0 = don't know).
    pub level: u8,
    /// The resulting index of every item (`None` when all answers are "don't know").
    pub item_index: Option<f64>,
}

/// A form that ended with a permanent outcome on a device.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedOnDevice {
    /// Device number.
    pub device: usize,
    /// Form id.
    pub id: Uuid,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Problems.
    pub problems: Vec<FieldProblem>,
}

/// The result of a simulation.
#[derive(Debug, Default)]
pub struct SimReport {
    /// Forms generated (all valid).
    pub generated: usize,
    /// Sync totals over every run of every device.
    pub sync: SyncReport,
    /// Sync runs.
    pub sync_runs: usize,
    /// Sync runs that stopped early (offline, gave up, …).
    pub sync_errors: usize,
    /// Injected faults.
    pub faults: FaultCounts,
    /// Forms left pending or in flight on devices.
    pub unsent: usize,
    /// Forms that ended failed on a device.
    pub failed: Vec<FailedOnDevice>,
    /// Forms of the simulated devices on the server.
    pub on_server: usize,
    /// Forms of the round on the server (all devices).
    pub server_total: usize,
    /// Generated but not on the server.
    pub missing: Vec<Uuid>,
    /// Listed more than once by the server.
    pub duplicated: Vec<Uuid>,
    /// On the server from a simulated device but never generated.
    pub unexpected: Vec<Uuid>,
    /// What each commune should show.
    pub expected: BTreeMap<String, Expected>,
    /// The review loop, when [`SimConfig::reject_share`] is above 0.
    pub review: Option<ReviewReport>,
    /// User ids of the fabricating enumerators.
    pub fabricators: Vec<i64>,
    /// The ids of the forms they fabricated.
    pub fabricated: Vec<Uuid>,
}

/// What the review loop of a simulation did.
#[derive(Debug, Default)]
pub struct ReviewReport {
    /// Forms the supervisor rejected.
    pub rejected: usize,
    /// Forms approved at their first revision.
    pub approved_first: usize,
    /// Returns the devices pulled (`form_returned`).
    pub returned_on_devices: usize,
    /// Forms corrected and queued again on the devices.
    pub corrected: usize,
    /// Corrected forms the server answered `updated`.
    pub updated: usize,
    /// Corrected revisions approved.
    pub approved_corrected: usize,
    /// Review requests refused (bulk results not ok).
    pub refused: usize,
    /// Forms not approved at the end.
    pub not_approved: Vec<Uuid>,
    /// Rejected forms whose revision on the server is not 2 at the end (or others not 1).
    pub wrong_revision: Vec<Uuid>,
}

impl ReviewReport {
    /// Every rejection came back, was corrected and approved, and nothing else moved.
    pub fn ok(&self) -> bool {
        self.refused == 0
            && self.not_approved.is_empty()
            && self.wrong_revision.is_empty()
            && self.returned_on_devices == self.rejected
            && self.corrected == self.rejected
            && self.updated == self.rejected
            && self.approved_corrected == self.rejected
    }
}

impl SimReport {
    /// Every form arrived exactly once and none failed.
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.unexpected.is_empty()
            && self.failed.is_empty()
            && self.on_server == self.generated
            && self.review.as_ref().is_none_or(ReviewReport::ok)
    }
}

struct Shared {
    cfg: SimConfig,
    work_dir: PathBuf,
    communes: Vec<(String, Option<String>)>,
    counts: Arc<FaultCounts>,
}

/// One device's results.
struct DeviceResult {
    device_id: String,
    generated: Vec<Uuid>,
    fabricated: bool,
    sync: SyncReport,
    runs: usize,
    errors: usize,
    unsent: usize,
    failed: Vec<FailedOnDevice>,
}

fn level_for(cfg: &SimConfig, commune: &str, district: Option<&str>) -> u8 {
    cfg.levels
        .get(commune)
        .or_else(|| district.and_then(|d| cfg.levels.get(d)))
        .copied()
        .unwrap_or(cfg.default_level)
}

/// The valid answers of a simulated form: every satisfaction item at `level`, the address
/// questions matching the units.
fn answers(
    levels: &[u8; 39],
    province: &str,
    district: Option<&str>,
    commune: &str,
    village: &str,
) -> schema::Answers {
    let mut a = schema::sample::sipas_answers_with_levels(levels);
    a.insert("province_code".into(), json!(province));
    if let Some(d) = district {
        a.insert("district_code".into(), json!(d));
    }
    a.insert("commune_code".into(), json!(commune));
    a.insert("village_code".into(), json!(village));
    a
}

/// What a form of a run with fabricators looks like (see [`Fabricate`]).
struct FieldForm {
    levels: [u8; 39],
    started_at: OffsetDateTime,
    finished_at: OffsetDateTime,
    gps: Gps,
}

/// One device's state while it fills forms with fabricators in the run.
struct FieldState {
    /// The first fabricated form's levels (copied by [`Fabricate::Copy`]).
    first: Option<[u8; 39]>,
    /// When the last form finished.
    last: Option<OffsetDateTime>,
}

/// Form `j` of device `n` at commune number `k` of level `level`.
fn field_form(
    cfg: &SimConfig,
    n: usize,
    j: usize,
    k: usize,
    level: u8,
    rng: &mut SplitMix64,
    state: &mut FieldState,
) -> FieldForm {
    let fabricates = cfg.fabricates(n);
    let kind = |f: Fabricate| fabricates && cfg.fabricate_kinds.contains(&f);
    let mut draw = |m: u64| rng.next_u64() % m;
    let honest_level = |u: u64| -> u8 {
        if level == 0 {
            return 0;
        }
        match u {
            0..=2 => 0,
            3..=22 => level.saturating_sub(1).max(1),
            23..=82 => level,
            _ => (level + 1).min(5),
        }
    };
    let mut levels = [0u8; 39];
    for l in &mut levels {
        *l = honest_level(draw(100));
    }
    if kind(Fabricate::Straight) {
        levels = [level; 39];
    }
    if kind(Fabricate::Copy) {
        match state.first {
            Some(first) => {
                levels = first;
                let at = draw(39) as usize;
                levels[at] = if levels[at] >= 4 { 3 } else { 4 };
            }
            None => state.first = Some(levels),
        }
    }
    // Honest days: eight forms from 08:00 local (01:00 UTC), on days before today.
    let days = cfg.forms_per_device.div_ceil(8) as i64 + 1;
    let today = OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400)
        * 86_400;
    let day = today - (days - (j / 8) as i64) * 86_400;
    let duration = if kind(Fabricate::Speed) {
        120 + draw(120) as i64
    } else {
        1200 + draw(1500) as i64
    };
    let finished = if kind(Fabricate::Speed) {
        // One after the other, from the device's first honest slot.
        let prev = state.last.unwrap_or_else(|| {
            OffsetDateTime::from_unix_timestamp(day + 3600).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        });
        prev + time::Duration::seconds(duration + 30 + draw(60) as i64)
    } else {
        let slot = (j % 8) as i64 * 3300 + draw(600) as i64;
        OffsetDateTime::from_unix_timestamp(day + 3600 + 2700 + slot)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    };
    state.last = Some(finished);
    let base = (22.0 + 0.05 * k as f64, 103.0 + 0.05 * k as f64);
    let gps = if kind(Fabricate::DeskGps) {
        // One desk per enumerator, whichever commune the form names.
        Gps {
            lat: 22.0 + 0.001 * n as f64,
            lon: 103.3,
            accuracy_m: Some(5.0),
        }
    } else {
        let off = |u: u64| (u as f64 / 1000.0 - 0.5) * 0.02;
        Gps {
            lat: base.0 + off(draw(1000)),
            lon: base.1 + off(draw(1000)),
            accuracy_m: Some(8.0),
        }
    };
    FieldForm {
        levels,
        started_at: finished - time::Duration::seconds(duration),
        finished_at: finished,
        gps,
    }
}

/// Runs one sync that may be "killed"; `None` when it was.
async fn killable_sync(
    store: &mut Store,
    transport: &FlakyTransport<HttpTransport>,
    config: &SyncConfig,
) -> Option<Result<SyncReport, SyncError>> {
    let kill = transport.kill.clone();
    tokio::select! {
        r = app_sync(store, transport, config) => Some(r),
        () = kill.notified() => None,
    }
}

/// The engine with one token refresh after a 401 (as `sipas-collect sync`).
async fn app_sync(
    store: &mut Store,
    transport: &FlakyTransport<HttpTransport>,
    config: &SyncConfig,
) -> Result<SyncReport, SyncError> {
    let first = Engine::sync(store, transport, config).await;
    match first {
        Err(e)
            if matches!(
                e.kind,
                sync_protocol::engine::SyncErrorKind::Unauthorized(_)
            ) =>
        {
            if transport.inner.refresh().await.is_err() {
                return Err(e);
            }
            Engine::sync(store, transport, config).await
        }
        other => other,
    }
}

async fn open_transport(
    shared: &Shared,
    store: &Store,
    rng: SplitMix64,
) -> Result<FlakyTransport<HttpTransport>, AppError> {
    let inner = app::transport(store).await?;
    Ok(FlakyTransport::new(
        inner,
        rng,
        shared.cfg.rates,
        shared.counts.clone(),
    ))
}

async fn run_device(
    shared: Arc<Shared>,
    n: usize,
    username: String,
    password: String,
) -> Result<DeviceResult, AppError> {
    let cfg = &shared.cfg;
    let dir = shared.work_dir.join(format!("device-{n:03}"));
    let mut store = Store::open(&dir).await?;
    // Many devices logging in at once may find the server's password checks busy (503 `busy`):
    // each tries again after a second, as the app does after `Retry-After`.
    let mut tries = 0;
    loop {
        match app::login(&store, &cfg.server, &username, &password).await {
            Err(AppError::Transport(TransportError::Http { status: 503, .. })) if tries < 60 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500 + 37 * n as u64 % 500)).await;
            }
            other => {
                other?;
                break;
            }
        }
    }
    if cfg.practice.is_some() {
        // A round the app does not ship: learnt at a first sync, at the office, before going out.
        let plain = app::transport(&store).await?;
        let mut office = app::sync_config(&store).await?;
        office.push = false;
        app::run_sync(&mut store, &plain, &office).await?;
    }
    let device_id = store.device_id().await?;
    let mut rng = SplitMix64::new(cfg.seed ^ (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut transport = open_transport(&shared, &store, SplitMix64::new(rng.next_u64())).await?;
    let mut config = SyncConfig::new(device_id.clone(), app::APP_VERSION);
    config.batch_size = cfg.batch_size;
    config.max_attempts = 8;
    config.backoff_base = Duration::from_millis(10);
    config.backoff_cap = Duration::from_millis(200);

    let mut result = DeviceResult {
        device_id,
        generated: Vec::new(),
        fabricated: false,
        sync: SyncReport::default(),
        runs: 0,
        errors: 0,
        unsent: 0,
        failed: Vec::new(),
    };
    result.fabricated = cfg.fabricates(n);
    // Its own well-mixed stream: the devices' fault generators are shifted copies of one
    // sequence, which would make their answers near-duplicates of each other.
    let mut field_rng = SplitMix64::new(
        SplitMix64::new(cfg.seed.wrapping_mul(31).wrapping_add(n as u64)).next_u64(),
    );
    let mut field = FieldState {
        first: None,
        last: None,
    };
    let rounds = cfg.offline_rounds + 1;
    for round in 0..rounds {
        let from = cfg.forms_per_device * round / rounds;
        let to = cfg.forms_per_device * (round + 1) / rounds;
        for j in from..to {
            let k = (n * cfg.forms_per_device + j) % shared.communes.len().max(1);
            let Some((commune, district)) = shared.communes.get(k) else {
                break;
            };
            let level = level_for(cfg, commune, district.as_deref());
            let village = format!("V{:02}", 1 + rng.next_u64() % 3);
            let (levels, gps, started_at, finished_at) = if cfg.fabricate_rate > 0.0 {
                let f = field_form(cfg, n, j, k, level, &mut field_rng, &mut field);
                (
                    f.levels,
                    Some(f.gps),
                    Some(f.started_at),
                    Some(f.finished_at),
                )
            } else {
                ([level; 39], None, None, None)
            };
            let id = app::add_form(
                &mut store,
                NewForm {
                    round: cfg.round.clone(),
                    province: cfg.province.clone(),
                    district: district.clone(),
                    commune: commune.clone(),
                    village: village.clone(),
                    household: format!("HH-{n:03}-{j:04}"),
                    answers: answers(
                        &levels,
                        &cfg.province,
                        district.as_deref(),
                        commune,
                        &village,
                    ),
                    gps,
                    started_at,
                    finished_at,
                },
            )
            .await?;
            result.generated.push(id);
        }
        let online = round + 1 == rounds;
        syncs(
            &shared,
            &dir,
            &mut store,
            &mut transport,
            &config,
            online,
            &mut result,
        )
        .await?;
    }
    settle(&mut store, n, &mut result).await?;
    store.close().await;
    Ok(result)
}

/// Syncs a device: offline, one attempt that fails; online, until nothing is left to send. A
/// "killed" app restarts from what is on disk.
async fn syncs(
    shared: &Shared,
    dir: &std::path::Path,
    store: &mut Store,
    transport: &mut FlakyTransport<HttpTransport>,
    config: &SyncConfig,
    online: bool,
    result: &mut DeviceResult,
) -> Result<(), AppError> {
    transport.offline.store(!online, Ordering::Relaxed);
    let attempts = if online { 40 } else { 1 };
    for _ in 0..attempts {
        result.runs += 1;
        match killable_sync(store, transport, config).await {
            Some(Ok(r)) => result.sync.absorb(r),
            Some(Err(e)) => {
                result.errors += 1;
                result.sync.absorb(e.report);
            }
            None => {
                // Killed: restart the "app" from what is on disk.
                let rng = transport.rng();
                store.close().await;
                *store = Store::open(dir).await?;
                *transport = open_transport(shared, store, rng).await?;
                transport.offline.store(!online, Ordering::Relaxed);
                continue;
            }
        }
        if !online {
            break;
        }
        let counts = store.counts().await?;
        let open = counts
            .get(LocalState::Pending.as_str())
            .copied()
            .unwrap_or(0)
            + counts
                .get(LocalState::InFlight.as_str())
                .copied()
                .unwrap_or(0);
        if open == 0 {
            break;
        }
    }
    Ok(())
}

/// Counts what is left unsent or failed on a device.
async fn settle(store: &mut Store, n: usize, result: &mut DeviceResult) -> Result<(), AppError> {
    result.unsent = 0;
    result.failed.clear();
    for e in store.list().await? {
        match e.state {
            LocalState::Pending | LocalState::InFlight => result.unsent += 1,
            LocalState::Failed => result.failed.push(FailedOnDevice {
                device: n,
                id: e.id,
                outcome: e.outcome,
                problems: e.problems,
            }),
            LocalState::Synced => {}
        }
    }
    Ok(())
}

/// One device after review: pulls the returned forms (`form_returned`), corrects each (its next
/// revision, answers unchanged: the enumerator checked them) and syncs until it is sent.
async fn correct_device(
    shared: Arc<Shared>,
    n: usize,
) -> Result<(DeviceResult, usize, usize), AppError> {
    let cfg = &shared.cfg;
    let dir = shared.work_dir.join(format!("device-{n:03}"));
    let mut store = Store::open(&dir).await?;
    let device_id = store.device_id().await?;
    let rng = SplitMix64::new(cfg.seed ^ (n as u64 + 101).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut transport = open_transport(&shared, &store, rng).await?;
    let mut config = SyncConfig::new(device_id.clone(), app::APP_VERSION);
    config.batch_size = cfg.batch_size;
    config.max_attempts = 8;
    config.backoff_base = Duration::from_millis(10);
    config.backoff_cap = Duration::from_millis(200);
    let mut result = DeviceResult {
        device_id,
        generated: Vec::new(),
        fabricated: false,
        sync: SyncReport::default(),
        runs: 0,
        errors: 0,
        unsent: 0,
        failed: Vec::new(),
    };
    // Pull until a run completes (faults may stop one early).
    for _ in 0..40 {
        let before = result.errors;
        syncs(
            &shared,
            &dir,
            &mut store,
            &mut transport,
            &config,
            true,
            &mut result,
        )
        .await?;
        if result.errors == before {
            break;
        }
    }
    let returned = store.returned().await?;
    let mut corrected = 0;
    for r in returned.iter().filter(|r| !r.corrected) {
        let Some(held) = store.form(r.returned.form_id).await? else {
            continue;
        };
        let next = app::corrected(&held.submission, schema::Answers::new())?;
        store.resubmit(&next).await?;
        corrected += 1;
    }
    syncs(
        &shared,
        &dir,
        &mut store,
        &mut transport,
        &config,
        true,
        &mut result,
    )
    .await?;
    settle(&mut store, n, &mut result).await?;
    store.close().await;
    Ok((result, returned.len(), corrected))
}

/// The round's forms the caller reads, by id: (revision, status), page by page.
async fn read_forms(
    client: &reqwest::Client,
    cfg: &SimConfig,
    token: &str,
    status: Option<&str>,
) -> Result<BTreeMap<Uuid, (u32, String)>, AppError> {
    let mut out = BTreeMap::new();
    let mut after: Option<i64> = None;
    let filter = status.map_or_else(String::new, |s| format!("&status={s}"));
    loop {
        let path = match after {
            Some(a) => format!(
                "/api/v1/rounds/{}/forms?limit=1000&after={a}{filter}",
                cfg.round
            ),
            None => format!("/api/v1/rounds/{}/forms?limit=1000{filter}", cfg.round),
        };
        let page = http::get_json(client, &cfg.server, &path, token)
            .await
            .map_err(|e| api_err("đọc phiếu / reading forms", e))?;
        for f in page["forms"].as_array().map_or(&[][..], Vec::as_slice) {
            if let Some(id) = f["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                let revision = f["revision"].as_u64().unwrap_or(0) as u32;
                let status = f["status"].as_str().unwrap_or_default().to_owned();
                out.insert(id, (revision, status));
            }
        }
        match page["next_after"].as_i64() {
            Some(a) if Some(a) != after => after = Some(a),
            _ => break,
        }
    }
    Ok(out)
}

/// Reviews `forms` (id, revision) with one action in bulk calls; returns (done, refused).
async fn review(
    client: &reqwest::Client,
    cfg: &SimConfig,
    token: &str,
    action: &str,
    forms: &[(Uuid, u32)],
) -> Result<(usize, usize), AppError> {
    let (mut done, mut refused) = (0, 0);
    for chunk in forms.chunks(500) {
        let body = json!({
            "action": action,
            "comment": (action == "reject").then_some("Mô phỏng: hãy kiểm tra lại các câu trả lời / simulation: check the answers again"),
            "forms": chunk.iter().map(|(id, revision)| json!({ "id": id, "revision": revision })).collect::<Vec<_>>(),
        });
        let answer = http::post_json(
            client,
            &cfg.server,
            &format!("/api/v1/rounds/{}/reviews", cfg.round),
            token,
            &body,
        )
        .await
        .map_err(|e| api_err("duyệt phiếu / reviewing forms", e))?;
        done += answer["reviewed"].as_u64().unwrap_or(0) as usize;
        refused += answer["refused"].as_u64().unwrap_or(0) as usize;
    }
    Ok((done, refused))
}

/// The review loop (see [`SimConfig::reject_share`]), after every device delivered its forms.
async fn review_loop(
    client: &reqwest::Client,
    shared: &Arc<Shared>,
    geography: &str,
    password: &str,
    run_id: &str,
    generated: &HashSet<Uuid>,
    report: &mut SimReport,
) -> Result<(), AppError> {
    let cfg = &shared.cfg;
    let admin = admin_login(client, cfg).await?;
    let supervisor = format!("sim-{}-gs", &run_id[..8]);
    http::post_json(
        client,
        &cfg.server,
        "/api/v1/users",
        &admin,
        &json!({
            "username": supervisor,
            "full_name": "Giám sát viên mô phỏng",
            "role": "supervisor",
            "geography": geography,
            "unit_code": cfg.province,
            "team": "sim",
            "password": password,
        }),
    )
    .await
    .map_err(|e| api_err("tạo giám sát viên / creating a supervisor", e))?;
    let token = http::login(
        client,
        &cfg.server,
        &supervisor,
        password,
        &format!("sipas-sim-supervisor-{}", Uuid::new_v4()),
        app::APP_VERSION,
    )
    .await
    .map_err(|e| api_err("đăng nhập giám sát viên / supervisor login", e))?
    .access;
    let mut r = ReviewReport::default();
    // The supervisor's choice: a reproducible share of the forms, by id order.
    let mut rng = SplitMix64::new(cfg.seed ^ 0x5EED_0F4E_71E3);
    let held = read_forms(client, cfg, &token, None).await?;
    let (mut reject, mut approve) = (Vec::new(), Vec::new());
    for (id, (revision, _)) in held.iter().filter(|(id, _)| generated.contains(id)) {
        if rng.chance(cfg.reject_share) {
            reject.push((*id, *revision));
        } else {
            approve.push((*id, *revision));
        }
    }
    let (done, refused) = review(client, cfg, &token, "reject", &reject).await?;
    (r.rejected, r.refused) = (done, refused);
    let (done, refused) = review(client, cfg, &token, "approve", &approve).await?;
    r.approved_first = done;
    r.refused += refused;
    // The devices pull the returns, correct and resend.
    let mut tasks = Vec::new();
    for n in 0..cfg.devices {
        tasks.push(tokio::spawn(correct_device(shared.clone(), n)));
    }
    for t in tasks {
        let (d, returned, corrected) = t
            .await
            .map_err(|e| AppError::Input(format!("device task failed: {e}")))??;
        r.returned_on_devices += returned;
        r.corrected += corrected;
        r.updated += d.sync.updated;
        report.sync.absorb(d.sync);
        report.sync_runs += d.runs;
        report.sync_errors += d.errors;
        report.unsent += d.unsent;
        report.failed.extend(d.failed);
    }
    // The corrected revisions, received again, are approved.
    let received: Vec<(Uuid, u32)> = read_forms(client, cfg, &token, Some("accepted"))
        .await?
        .into_iter()
        .filter(|(id, _)| generated.contains(id))
        .map(|(id, (revision, _))| (id, revision))
        .collect();
    let (done, refused) = review(client, cfg, &token, "approve", &received).await?;
    r.approved_corrected = done;
    r.refused += refused;
    let rejected: HashSet<Uuid> = reject.iter().map(|(id, _)| *id).collect();
    for (id, (revision, status)) in read_forms(client, cfg, &admin, None).await? {
        if !generated.contains(&id) {
            continue;
        }
        if status != "approved" {
            r.not_approved.push(id);
        }
        let want = if rejected.contains(&id) { 2 } else { 1 };
        if revision != want {
            r.wrong_revision.push(id);
        }
    }
    report.review = Some(r);
    Ok(())
}

fn api_err(what: &str, e: TransportError) -> AppError {
    AppError::Input(format!("{what}: {e}"))
}

/// Logs in as the simulation's admin account, as a device of its own; answers its access token.
async fn admin_login(client: &reqwest::Client, cfg: &SimConfig) -> Result<String, AppError> {
    Ok(http::login(
        client,
        &cfg.server,
        &cfg.admin_user,
        &cfg.admin_password,
        &format!("sipas-sim-admin-{}", Uuid::new_v4()),
        app::APP_VERSION,
    )
    .await
    .map_err(|e| api_err("đăng nhập quản trị / admin login", e))?
    .access)
}

/// Runs a simulation and checks the server's forms against what the devices generated.
pub async fn run(mut cfg: SimConfig) -> Result<SimReport, AppError> {
    let client = http::client()?;
    let admin = admin_login(&client, &cfg).await?;
    if let Some(code) = cfg.practice.clone() {
        http::post_json(
            &client,
            &cfg.server,
            "/api/v1/rounds",
            &admin,
            &json!({ "code": code, "based_on": cfg.round }),
        )
        .await
        .map_err(|e| api_err("tạo đợt thực hành / creating the practice round", e))?;
        cfg.round = code;
    }
    let round = http::get_json(
        &client,
        &cfg.server,
        &format!("/api/v1/rounds/{}", cfg.round),
        &admin,
    )
    .await
    .map_err(|e| api_err("đợt khảo sát / round", e))?;
    let geography = round["geography"]
        .as_str()
        .ok_or_else(|| AppError::Input("round without geography".into()))?
        .to_owned();
    let geo = geography::by_code(&geography).ok_or_else(|| {
        AppError::Input(format!("geography {geography} is not built into this app"))
    })?;
    let mut communes: Vec<(String, Option<String>)> = geo
        .units()
        .iter()
        .filter(|u| u.level == Level::Commune && geo.is_within(&u.code, &cfg.province))
        .map(|u| {
            let district = geo
                .levels
                .contains(&Level::District)
                .then(|| u.parent.clone())
                .flatten();
            (u.code.clone(), district)
        })
        .collect();
    communes.sort();
    communes.truncate(cfg.communes.max(1));
    if communes.is_empty() {
        return Err(AppError::Input(format!(
            "tỉnh {} không có xã nào trong {geography} / province {} has no communes in {geography}",
            cfg.province, cfg.province
        )));
    }

    let run_id = Uuid::new_v4().simple().to_string();
    let work_dir = cfg
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("sipas-sim-{}", &run_id[..12])));
    let password = format!("Sim-field-{}-Pass42", &run_id[..16]);
    let mut users = Vec::with_capacity(cfg.devices);
    let mut user_ids = Vec::with_capacity(cfg.devices);
    for n in 0..cfg.devices {
        let username = format!("sim-{}-{n:03}", &run_id[..8]);
        let created = http::post_json(
            &client,
            &cfg.server,
            "/api/v1/users",
            &admin,
            &json!({
                "username": username,
                "full_name": format!("Điều tra viên mô phỏng {n}"),
                "role": "enumerator",
                "geography": geography,
                "unit_code": cfg.province,
                "team": "sim",
                "password": password,
            }),
        )
        .await
        .map_err(|e| api_err("tạo điều tra viên / creating an enumerator", e))?;
        user_ids.extend(created["id"].as_i64());
        users.push(username);
    }

    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        work_dir: work_dir.clone(),
        communes,
        counts: Arc::new(FaultCounts::default()),
    });
    let mut tasks = Vec::with_capacity(users.len());
    for (n, username) in users.into_iter().enumerate() {
        tasks.push(tokio::spawn(run_device(
            shared.clone(),
            n,
            username,
            password.clone(),
        )));
    }
    let mut report = SimReport {
        fabricators: (0..cfg.devices)
            .filter(|&n| cfg.fabricates(n))
            .filter_map(|n| user_ids.get(n).copied())
            .collect(),
        ..SimReport::default()
    };
    let mut generated = HashSet::new();
    let mut device_ids = HashSet::new();
    for t in tasks {
        let d = t
            .await
            .map_err(|e| AppError::Input(format!("device task failed: {e}")))??;
        report.generated += d.generated.len();
        if d.fabricated {
            report.fabricated.extend(d.generated.iter().copied());
        }
        generated.extend(d.generated);
        device_ids.insert(d.device_id);
        report.sync.absorb(d.sync);
        report.sync_runs += d.runs;
        report.sync_errors += d.errors;
        report.unsent += d.unsent;
        report.failed.extend(d.failed);
    }
    if cfg.reject_share > 0.0 {
        review_loop(
            &client,
            &shared,
            &geography,
            &password,
            &run_id,
            &generated,
            &mut report,
        )
        .await?;
    }
    for (commune, district) in &shared.communes {
        let level = level_for(&cfg, commune, district.as_deref());
        // Varied answers (a run with fabricators) have no exact expected index.
        let item_index = (level > 0 && cfg.fabricate_rate == 0.0).then(|| {
            schema::builtin::sipas()
                .index
                .as_ref()
                .map_or(0.0, |i| i.scoring.score(level, 5))
        });
        report.expected.insert(
            commune.clone(),
            Expected {
                district: district.clone(),
                forms: 0,
                level,
                item_index,
            },
        );
    }
    for n in 0..cfg.devices {
        for j in 0..cfg.forms_per_device {
            let k = (n * cfg.forms_per_device + j) % shared.communes.len();
            if let Some(e) = shared
                .communes
                .get(k)
                .and_then(|(c, _)| report.expected.get_mut(c))
            {
                e.forms += 1;
            }
        }
    }
    let counts = &shared.counts;
    for (from, to) in [
        (&counts.calls, &report.faults.calls),
        (&counts.dropped_requests, &report.faults.dropped_requests),
        (&counts.dropped_responses, &report.faults.dropped_responses),
        (&counts.duplicated_pushes, &report.faults.duplicated_pushes),
        (&counts.restarts, &report.faults.restarts),
        (&counts.offline_calls, &report.faults.offline_calls),
    ] {
        to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    // What the server holds, read as the ministry, page by page.
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    let mut after: Option<i64> = None;
    loop {
        let path = match after {
            Some(a) => format!("/api/v1/rounds/{}/forms?limit=1000&after={a}", cfg.round),
            None => format!("/api/v1/rounds/{}/forms?limit=1000", cfg.round),
        };
        let page = http::get_json(&client, &cfg.server, &path, &admin)
            .await
            .map_err(|e| api_err("đọc phiếu / reading forms", e))?;
        for f in page["forms"].as_array().map_or(&[][..], Vec::as_slice) {
            report.server_total += 1;
            let Some(id) = f["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
                continue;
            };
            let ours = generated.contains(&id)
                || f["device_id"]
                    .as_str()
                    .is_some_and(|d| device_ids.contains(d));
            if ours {
                *seen.entry(id).or_default() += 1;
            }
        }
        match page["next_after"].as_i64() {
            Some(a) if Some(a) != after => after = Some(a),
            _ => break,
        }
    }
    report.on_server = seen.values().sum();
    report.missing = generated
        .iter()
        .filter(|id| !seen.contains_key(id))
        .copied()
        .collect();
    report.duplicated = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    report.unexpected = seen
        .keys()
        .filter(|id| !generated.contains(id))
        .copied()
        .collect();
    if cfg.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    if cfg.practice.is_some() {
        for id in user_ids {
            http::patch_json(
                &client,
                &cfg.server,
                &format!("/api/v1/users/{id}"),
                &admin,
                &json!({ "active": false }),
            )
            .await
            .map_err(|e| {
                api_err(
                    "khoá điều tra viên mô phỏng / deactivating a simulated enumerator",
                    e,
                )
            })?;
        }
    }
    Ok(report)
}

/// The report as printed by `sipas-sim`.
pub fn render(cfg: &SimConfig, r: &SimReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let f = &r.faults;
    let load = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    let _ = writeln!(
        s,
        "Mô phỏng / simulation: {} thiết bị / devices × {} phiếu / forms, đợt / round {}, tỉnh / province {}",
        cfg.devices,
        cfg.forms_per_device,
        match &cfg.practice {
            Some(p) => format!("{p} (thực hành / practice, như / like {})", cfg.round),
            None => cfg.round.clone(),
        },
        cfg.province
    );
    let _ = writeln!(
        s,
        "Lỗi giả lập / injected faults: {} lần gọi / calls, {} yêu cầu mất / requests lost, {} trả lời mất / answers lost, {} gửi trùng / pushes resent, {} khởi động lại / restarts, {} lần gọi khi ngoại tuyến / offline calls",
        load(&f.calls),
        load(&f.dropped_requests),
        load(&f.dropped_responses),
        load(&f.duplicated_pushes),
        load(&f.restarts),
        load(&f.offline_calls)
    );
    if !r.fabricators.is_empty() {
        let kinds: Vec<String> = cfg
            .fabricate_kinds
            .iter()
            .map(|k| format!("{k:?}").to_lowercase())
            .collect();
        let _ = writeln!(
            s,
            "Gian lận giả lập / fabricating: {} điều tra viên / enumerators (id {:?}), {} phiếu / forms, kiểu / kinds {}",
            r.fabricators.len(),
            r.fabricators,
            r.fabricated.len(),
            kinds.join(",")
        );
    }
    let y = &r.sync;
    let _ = writeln!(
        s,
        "Đồng bộ / sync: {} lần chạy / runs ({} dừng sớm / stopped early), đã gửi / pushed {}, nhận / accepted {}, trùng / duplicates {}, đối chiếu / reconciled {}, thử lại / retries {}, thay đổi kéo về / changes pulled {}",
        r.sync_runs,
        r.sync_errors,
        y.pushed,
        y.accepted,
        y.duplicates,
        y.reconciled,
        y.retries,
        y.pulled
    );
    let _ = writeln!(
        s,
        "Đã tạo / generated: {}; trên máy chủ / on the server: {} (cả đợt / whole round: {}); thiếu / missing: {}; trùng / duplicated: {}; lạ / unexpected: {}; chưa gửi / unsent: {}; bị từ chối / failed: {}",
        r.generated,
        r.on_server,
        r.server_total,
        r.missing.len(),
        r.duplicated.len(),
        r.unexpected.len(),
        r.unsent,
        r.failed.len()
    );
    let _ = writeln!(
        s,
        "Kết quả dự kiến theo xã / expected per commune (mức / level → chỉ số mỗi tiêu chí / item index):"
    );
    for (code, e) in &r.expected {
        let index = e
            .item_index
            .map_or_else(|| "—".to_owned(), |i| format!("{i:.1}"));
        let _ = writeln!(
            s,
            "  {}{code}: {} phiếu / forms, mức / level {}, chỉ số / index {index}",
            e.district
                .as_ref()
                .map_or_else(String::new, |d| format!("{d}/")),
            e.forms,
            e.level
        );
    }
    if let Some(v) = &r.review {
        let _ = writeln!(
            s,
            "Duyệt / review: {} trả lại / rejected, {} duyệt ngay / approved at once; máy kéo về / pulled by devices {}, sửa / corrected {}, cập nhật / updated {}, duyệt sau sửa / approved after correction {}; bị từ chối / refused {}; chưa duyệt / not approved {}; sai lần sửa / wrong revision {}",
            v.rejected,
            v.approved_first,
            v.returned_on_devices,
            v.corrected,
            v.updated,
            v.approved_corrected,
            v.refused,
            v.not_approved.len(),
            v.wrong_revision.len()
        );
    }
    for id in &r.missing {
        let _ = writeln!(s, "THIẾU / MISSING: {id}");
    }
    for id in &r.duplicated {
        let _ = writeln!(s, "TRÙNG / DUPLICATED: {id}");
    }
    for id in &r.unexpected {
        let _ = writeln!(s, "LẠ / UNEXPECTED: {id}");
    }
    for x in &r.failed {
        let _ = writeln!(
            s,
            "BỊ TỪ CHỐI / FAILED: thiết bị / device {} phiếu / form {} ({})",
            x.device,
            x.id,
            x.outcome.map_or("?", Outcome::as_str)
        );
        for p in &x.problems {
            let _ = writeln!(s, "    {}", crate::messages::problem(p));
        }
    }
    let _ = writeln!(
        s,
        "{}",
        if r.ok() {
            "ĐẠT: mọi phiếu có trên máy chủ đúng một lần / PASS: every form is on the server exactly once"
        } else {
            "KHÔNG ĐẠT / FAIL"
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every call with 503 at once.
    struct Down;

    fn down<R>() -> Result<R, TransportError> {
        Err(TransportError::Http {
            status: 503,
            problem: None,
        })
    }

    impl Transport for Down {
        async fn handshake(
            &self,
            _: &HandshakeRequest,
        ) -> Result<HandshakeResponse, TransportError> {
            down()
        }
        async fn push(&self, _: &PushRequest) -> Result<PushResponse, TransportError> {
            down()
        }
        async fn status(&self, _: &StatusRequest) -> Result<StatusResponse, TransportError> {
            down()
        }
        async fn pull(&self, _: Option<&str>, _: usize) -> Result<PullResponse, TransportError> {
            down()
        }
        async fn sleep(&self, _: Duration) {}
    }

    #[tokio::test]
    async fn faults_are_injected_at_the_configured_rates() {
        let counts = Arc::new(FaultCounts::default());
        let t = FlakyTransport::new(
            Down,
            SplitMix64::new(42),
            FaultRates {
                drop_request: 0.2,
                drop_response: 0.2,
                duplicate: 0.0,
                restart: 0.0,
            },
            counts.clone(),
        );
        let req = StatusRequest { forms: vec![] };
        for _ in 0..2000 {
            let _ = t.status(&req).await;
        }
        let req_lost = counts.dropped_requests.load(Ordering::Relaxed);
        let ans_lost = counts.dropped_responses.load(Ordering::Relaxed);
        // 2000 × 0.2 = 400; 1600 × 0.2 = 320.
        assert!((320..480).contains(&req_lost), "{req_lost}");
        assert!((250..390).contains(&ans_lost), "{ans_lost}");
        t.offline.store(true, Ordering::Relaxed);
        assert_eq!(
            t.status(&req).await,
            Err(TransportError::Network("simulated: offline".into()))
        );
    }

    #[test]
    fn levels_parse() {
        let l = parse_levels("03430=5, 105=0").expect("levels");
        assert_eq!(l.get("03430"), Some(&5));
        assert_eq!(l.get("105"), Some(&0));
        assert!(parse_levels("03430=6").is_err());
        assert!(parse_levels("03430").is_err());
        assert!(parse_levels("").expect("empty").is_empty());
    }
}
