//! What the `sipas-collect` commands do, as library functions (the binary only parses arguments
//! and prints; tests and the simulator call these directly).

use std::path::Path;

use schema::{Answers, FieldError};
use sync_protocol::{
    FormStatus, FormSubmission, FormUnits, Gps, MAX_BATCH_FORMS, StatusQuery, StatusRequest,
    UnitRef,
    engine::{
        Engine, Outbox, OutboxEntry, SyncConfig, SyncError, SyncErrorKind, SyncReport, Transport,
        TransportError,
    },
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    http::{self, HttpTransport},
    store::{Store, StoreError, key},
};

/// The app version sent at login and in the handshake.
pub const APP_VERSION: &str = concat!("sipas-collect/", env!("CARGO_PKG_VERSION"));

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Local storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No session saved.
    #[error(
        "chưa đăng nhập: hãy chạy `sipas-collect login` / not logged in: run `sipas-collect login`"
    )]
    NotLoggedIn,
    /// A call to the server failed.
    #[error("{0}")]
    Transport(#[from] TransportError),
    /// A sync stopped early (boxed: it carries the partial report).
    #[error("{0}")]
    Sync(Box<SyncError>),
    /// Bad input (bilingual message).
    #[error("{0}")]
    Input(String),
    /// The answers do not pass the questionnaire's validation.
    #[error("phiếu không hợp lệ ({n} lỗi) / the form is not valid ({n} errors)", n = .0.len())]
    Invalid(Vec<FieldError>),
}

impl From<SyncError> for AppError {
    fn from(e: SyncError) -> AppError {
        AppError::Sync(Box::new(e))
    }
}

fn input(vi: &str, en: &str) -> AppError {
    AppError::Input(format!("{vi} / {en}"))
}

/// What a device knows about a round: from the last handshake, or built into the app before any
/// pull (so forms can be filled on a device that has never been online).
#[derive(Debug, Clone, PartialEq)]
pub struct RoundInfo {
    /// Round code.
    pub code: String,
    /// Geography code (`vn-2023`, `vn-2025`).
    pub geography: String,
    /// Questionnaire code.
    pub questionnaire_code: String,
    /// Questionnaire version new forms use.
    pub questionnaire_version: u32,
    /// `open` or `closed`.
    pub status: String,
    /// Units of the user's scope (empty when not known yet).
    pub units: Vec<UnitRef>,
    /// Whether this comes from the server (a handshake) rather than the built-in defaults.
    pub from_server: bool,
}

/// Rounds the app knows without a server: code, geography.
const BUILTIN_ROUNDS: &[(&str, &str)] = &[
    ("sipas-2023", geography::VN_2023),
    ("sipas-2025", geography::VN_2025),
];

/// The round as the last handshake described it, else the built-in default.
pub async fn round_info(store: &Store, round: &str) -> Result<RoundInfo, AppError> {
    if let Some(hs) = store.handshake().await?
        && let Some(r) = hs.rounds.iter().find(|r| r.code == round)
    {
        return Ok(RoundInfo {
            code: r.code.clone(),
            geography: r.geography.clone(),
            questionnaire_code: r.questionnaire_code.clone(),
            questionnaire_version: r.questionnaire_version,
            status: r.status.clone(),
            units: r.units.clone(),
            from_server: true,
        });
    }
    let Some((code, geo)) = BUILTIN_ROUNDS.iter().find(|(c, _)| *c == round) else {
        return Err(AppError::Input(format!(
            "không biết đợt khảo sát {round}; hãy chạy `sipas-collect pull` / unknown survey round {round}; run `sipas-collect pull`"
        )));
    };
    let q = schema::builtin::sipas();
    Ok(RoundInfo {
        code: (*code).to_owned(),
        geography: (*geo).to_owned(),
        questionnaire_code: q.code.clone(),
        questionnaire_version: q.version,
        status: "open".into(),
        units: Vec::new(),
        from_server: false,
    })
}

/// A form as the enumerator enters it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewForm {
    /// Round code.
    pub round: String,
    /// Province code.
    pub province: String,
    /// District code (rounds on geographies with districts only).
    pub district: Option<String>,
    /// Commune code.
    pub commune: String,
    /// Village code or name.
    pub village: String,
    /// Household reference in the village frame.
    pub household: String,
    /// Answers keyed by question code.
    pub answers: Answers,
    /// GPS fix.
    pub gps: Option<Gps>,
    /// When filling started.
    pub started_at: Option<OffsetDateTime>,
    /// When filling finished (`None`: now, as the app records it).
    pub finished_at: Option<OffsetDateTime>,
}

/// Checks the units against the round's geography, as the server will (see
/// [`sync_protocol::check_units`]), and the user's scope when known.
fn check_units(info: &RoundInfo, f: &FormSubmission) -> Result<(), AppError> {
    // A geography this build does not ship (published later): the server checks the units.
    let geo = geography::by_code(&info.geography);
    if let Some(p) = sync_protocol::check_units(geo, f).into_iter().next() {
        return Err(input(
            &p.message,
            p.message_en.as_deref().unwrap_or(&p.code),
        ));
    }
    // The scope's units (a province and what is under it, or every province for the ministry).
    if let Some(geo) = geo
        && !info.units.is_empty()
        && !info
            .units
            .iter()
            .any(|u| geo.is_within(&f.units.commune, &u.code))
    {
        return Err(AppError::Input(format!(
            "xã {} nằm ngoài địa bàn được giao / commune {} is outside your assignment",
            f.units.commune, f.units.commune
        )));
    }
    Ok(())
}

/// The answers with the questions that record the household's units (`province_code`,
/// `district_code`, `commune_code`, `village_code`) set from the form's units, which are the ones
/// checked against the round's geography: an answers file reused for another household cannot
/// contradict them. Without a district (2025 on) the district answer is dropped.
pub fn with_unit_answers(
    mut answers: Answers,
    province: &str,
    district: Option<&str>,
    commune: &str,
    village: &str,
) -> Answers {
    use serde_json::Value;
    answers.insert("province_code".into(), Value::String(province.to_owned()));
    match district {
        Some(d) => answers.insert(
            schema::DISTRICT_QUESTION.into(),
            Value::String(d.to_owned()),
        ),
        None => answers.remove(schema::DISTRICT_QUESTION),
    };
    answers.insert("commune_code".into(), Value::String(commune.to_owned()));
    answers.insert(
        "village_code".into(),
        Value::String(village.trim().to_owned()),
    );
    answers
}

/// Validates a new form against its round (units, questionnaire) and builds the submission, with a
/// fresh UUIDv7 id. No network.
pub fn build_submission(info: &RoundInfo, f: NewForm) -> Result<FormSubmission, AppError> {
    if info.status != "open" {
        return Err(AppError::Input(format!(
            "đợt {} đã đóng / round {} is closed",
            info.code, info.code
        )));
    }
    let Some(q) = schema::builtin::find(&info.questionnaire_code, info.questionnaire_version)
    else {
        return Err(AppError::Input(format!(
            "ứng dụng chưa có bảng hỏi {} phiên bản {}; hãy cập nhật ứng dụng / this app does not have questionnaire {} version {}; update the app",
            info.questionnaire_code,
            info.questionnaire_version,
            info.questionnaire_code,
            info.questionnaire_version
        )));
    };
    let answers = with_unit_answers(
        f.answers,
        &f.province,
        f.district.as_deref(),
        &f.commune,
        &f.village,
    );
    let submission = FormSubmission {
        id: Uuid::now_v7(),
        round: info.code.clone(),
        questionnaire_code: q.code.clone(),
        questionnaire_version: q.version,
        revision: 1,
        units: FormUnits {
            province: f.province,
            district: f.district,
            commune: f.commune,
            village: f.village.trim().to_owned(),
        },
        household_ref: f.household.trim().to_owned(),
        started_at: f.started_at,
        finished_at: Some(f.finished_at.unwrap_or_else(OffsetDateTime::now_utc)),
        gps: f.gps,
        answers,
    };
    check_units(info, &submission)?;
    schema::validate_with(q, &submission.answers, submission.not_required_answers())
        .map_err(AppError::Invalid)?;
    Ok(submission)
}

/// Validates and stores a new form in the outbox; returns its id. No network.
pub async fn add_form(store: &mut Store, f: NewForm) -> Result<Uuid, AppError> {
    let info = round_info(store, &f.round).await?;
    let submission = build_submission(&info, f)?;
    store.add(&submission).await?;
    Ok(submission.id)
}

/// Who logged in where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginInfo {
    /// Server URL.
    pub server: String,
    /// Username.
    pub username: String,
    /// This device's id (registered at login).
    pub device_id: String,
}

/// Logs in (registering the device id) and saves the session.
pub async fn login(
    store: &Store,
    server: &str,
    username: &str,
    password: &str,
) -> Result<LoginInfo, AppError> {
    let device_id = store.device_id().await?;
    let client = http::client()?;
    let server = server.trim_end_matches('/');
    let tokens = http::login(&client, server, username, password, &device_id, APP_VERSION).await?;
    store
        .set_meta(&[
            (key::SERVER, Some(server)),
            (key::USERNAME, Some(username)),
            (key::ACCESS_TOKEN, Some(&tokens.access)),
            (key::REFRESH_TOKEN, Some(&tokens.refresh)),
        ])
        .await?;
    Ok(LoginInfo {
        server: server.to_owned(),
        username: username.to_owned(),
        device_id,
    })
}

/// The sync settings of this device (engine defaults).
pub async fn sync_config(store: &Store) -> Result<SyncConfig, AppError> {
    Ok(SyncConfig::new(store.device_id().await?, APP_VERSION))
}

/// The transport of the saved session.
pub async fn transport(store: &Store) -> Result<HttpTransport, AppError> {
    HttpTransport::from_store(store)
        .await?
        .ok_or(AppError::NotLoggedIn)
}

/// Runs the engine; after a 401 refreshes the token once and runs again (forms left in flight by
/// the first run are reconciled by the second).
pub async fn run_sync(
    store: &mut Store,
    transport: &HttpTransport,
    config: &SyncConfig,
) -> Result<SyncReport, SyncError> {
    match Engine::sync(store, transport, config).await {
        Err(SyncError {
            kind: SyncErrorKind::Unauthorized(problem),
            report,
        }) => {
            if let Err(e) = transport.refresh().await {
                let kind = match e.class() {
                    sync_protocol::engine::ErrorClass::Transient => SyncErrorKind::Unavailable {
                        attempts: 1,
                        last: e,
                    },
                    _ => SyncErrorKind::Unauthorized(e.problem().cloned().or(problem)),
                };
                return Err(SyncError { kind, report });
            }
            Engine::sync(store, transport, config).await.map(|r| {
                let mut total = report;
                total.absorb(r);
                total
            })
        }
        other => other,
    }
}

/// `sync`: handshake, reconcile, push, pull.
pub async fn sync(data: &Path) -> Result<SyncReport, AppError> {
    let mut store = Store::open(data).await?;
    let transport = transport(&store).await?;
    let config = sync_config(&store).await?;
    let r = run_sync(&mut store, &transport, &config).await;
    store.close().await;
    Ok(r?)
}

/// `pull`: handshake and pull only (saves questionnaires, rounds and units).
pub async fn pull(data: &Path) -> Result<SyncReport, AppError> {
    let mut store = Store::open(data).await?;
    let transport = transport(&store).await?;
    let mut config = sync_config(&store).await?;
    config.push = false;
    let r = run_sync(&mut store, &transport, &config).await;
    store.close().await;
    Ok(r?)
}

/// `outbox`: every form with its state. No network.
pub async fn outbox(data: &Path) -> Result<Vec<OutboxEntry>, AppError> {
    let mut store = Store::open(data).await?;
    let list = store.list().await?;
    store.close().await;
    Ok(list)
}

/// `status`: what the server says about every form in the outbox (the outbox is not changed).
pub async fn status(data: &Path) -> Result<Vec<(OutboxEntry, Option<FormStatus>)>, AppError> {
    let mut store = Store::open(data).await?;
    let transport = transport(&store).await?;
    let entries = store.list().await?;
    store.close().await;
    let mut out = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(MAX_BATCH_FORMS) {
        let req = StatusRequest {
            forms: chunk
                .iter()
                .map(|e| StatusQuery {
                    id: e.id,
                    content_hash: Some(e.content_hash.clone()),
                })
                .collect(),
        };
        let resp = match transport.status(&req).await {
            Err(e) if e.class() == sync_protocol::engine::ErrorClass::Unauthorized => {
                transport.refresh().await?;
                transport.status(&req).await?
            }
            r => r?,
        };
        for e in chunk {
            let s = resp.forms.iter().find(|s| s.id == e.id).cloned();
            out.push((e.clone(), s));
        }
    }
    Ok(out)
}

/// `returned`: the forms reviewers sent back, with their comments and whether a corrected
/// revision is on this device yet. No network (run `pull` or `sync` first).
pub async fn returned(data: &Path) -> Result<Vec<crate::store::Returned>, AppError> {
    let store = Store::open(data).await?;
    let r = store.returned().await;
    store.close().await;
    Ok(r?)
}

/// `assignments`: the enumerator's assignments as pulled, each with the forms on this device
/// that count against it. No network.
pub async fn assignments(data: &Path) -> Result<Vec<crate::store::AssignmentProgress>, AppError> {
    let store = Store::open(data).await?;
    let r = store.assignments().await;
    store.close().await;
    Ok(r?)
}

/// The corrected revision of a form: its answers with `changes` applied (a `null` value removes
/// an answer), the next revision number and a new finishing time, validated against its
/// questionnaire. No network, nothing stored.
pub fn corrected(form: &FormSubmission, changes: Answers) -> Result<FormSubmission, AppError> {
    let Some(q) = schema::builtin::find(&form.questionnaire_code, form.questionnaire_version)
    else {
        return Err(AppError::Input(format!(
            "ứng dụng chưa có bảng hỏi {} phiên bản {} / this app does not have questionnaire {} version {}",
            form.questionnaire_code,
            form.questionnaire_version,
            form.questionnaire_code,
            form.questionnaire_version
        )));
    };
    let mut next = form.clone();
    for (k, v) in changes {
        if v.is_null() {
            next.answers.remove(&k);
        } else {
            next.answers.insert(k, v);
        }
    }
    next.revision = form.revision.saturating_add(1);
    next.finished_at = Some(OffsetDateTime::now_utc());
    schema::validate_with(q, &next.answers, next.not_required_answers())
        .map_err(AppError::Invalid)?;
    Ok(next)
}

/// `correct`: edits a form on this device (one a reviewer sent back) and queues its corrected
/// revision to be sent at the next sync. Returns the new revision. No network.
pub async fn correct(data: &Path, id: Uuid, changes: Answers) -> Result<u32, AppError> {
    let store = Store::open(data).await?;
    let result = async {
        let held = store.form(id).await?.ok_or_else(|| {
            AppError::Input(format!(
                "phiếu {id} không có trên máy này / form {id} is not on this device"
            ))
        })?;
        let next = corrected(&held.submission, changes)?;
        store.resubmit(&next).await?;
        Ok(next.revision)
    }
    .await;
    store.close().await;
    result
}
