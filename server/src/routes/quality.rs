//! Field-quality report of a round (see [`crate::quality`]): per signal how many forms raise it,
//! per enumerator a score with the forms behind it, per village or per form on request. Scoped
//! like every read of forms: supervisors see their team's, reviewers their province's, the
//! ministry everything; enumerators are refused. Signals inform review; nothing is dropped.
//!
//! The thresholds are the round's (`GET`/`PUT .../quality/settings`; the ministry sets them).

use std::collections::{BTreeMap, HashMap};

use axum::{Json, extract::State};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, event},
    auth::{AuthUser, extract::ClientIp, policy},
    entities::{form, round_quality_setting, user},
    error::{ApiError, ApiJson, ApiPath, ApiQuery},
    quality::{self, QualitySettings, Signal, SignalCounts},
    routes::openapi::Failure,
    state::AppState,
};

/// `/rounds/{round}/quality`
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(show_quality))
        .routes(utoipa_axum::routes!(
            show_quality_settings,
            update_quality_settings
        ))
}

/// `GET /rounds/{round}/quality` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QualityQuery {
    /// Only inside this unit (province, district or commune code of the round's geography).
    pub unit: Option<String>,
    /// `enumerator` (default: totals and enumerators), `village` (also per village) or `form`
    /// (also every form raising a signal, with its signals).
    pub level: Option<String>,
}

/// How many forms raise one signal.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SignalRate {
    /// The signal.
    pub signal: Signal,
    /// Forms raising it.
    pub forms: u64,
    /// Their share of the forms counted.
    pub rate: f64,
}

/// One enumerator's signals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnumeratorQuality {
    /// User id.
    pub id: i64,
    /// Username.
    pub username: Option<String>,
    /// Team.
    pub team: Option<String>,
    /// Forms with measures.
    pub forms: u64,
    /// Score 0–100, higher first looked at (see `quality::score`).
    pub score: f64,
    /// Local days with forms.
    pub days: u64,
    /// Most forms in one day.
    pub max_per_day: u64,
    /// Jensen–Shannon divergence of their levels from their communes' other enumerators'
    /// (absent with too few forms on either side).
    pub distribution_js: Option<f64>,
    /// Per signal raised.
    pub signals: Vec<SignalRate>,
    /// The forms raising at least one signal other than `gps_missing`.
    pub flagged_forms: Vec<Uuid>,
}

/// One village's signals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VillageQuality {
    /// `commune/village`.
    pub code: String,
    /// Forms with measures.
    pub forms: u64,
    /// Per signal raised.
    pub signals: Vec<SignalRate>,
}

/// One form's signals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FormQuality {
    /// Form id.
    pub id: Uuid,
    /// Who submitted it.
    pub enumerator: Option<i64>,
    /// `commune/village`.
    pub village: String,
    /// Finished − started, seconds.
    pub duration_s: Option<i64>,
    /// Its signals.
    pub signals: Vec<Signal>,
}

/// `GET /rounds/{round}/quality` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QualityResponse {
    /// Round.
    pub round: String,
    /// The unit asked about.
    pub unit: Option<String>,
    /// The level asked for.
    pub level: String,
    /// The thresholds applied: the round's (see `.../quality/settings`).
    pub settings: QualitySettings,
    /// `round` when the round set its own thresholds, `default` otherwise.
    pub settings_source: String,
    /// Forms counted (with measures).
    pub forms: u64,
    /// Forms in scope without measures (stored before they were computed): not counted.
    pub unmeasured: u64,
    /// Median duration of the counted forms, seconds.
    pub median_duration_s: Option<f64>,
    /// Per signal, over every form counted (every signal listed, also at 0).
    pub signals: Vec<SignalRate>,
    /// Per enumerator, highest score first.
    pub enumerators: Vec<EnumeratorQuality>,
    /// Per village (`level=village`).
    pub villages: Vec<VillageQuality>,
    /// Forms raising a signal (`level=form`).
    pub form_signals: Vec<FormQuality>,
}

const LEVELS: [&str; 3] = ["enumerator", "village", "form"];

fn rates(counts: &SignalCounts, n: u64, every: bool) -> Vec<SignalRate> {
    Signal::ALL
        .into_iter()
        .filter_map(|s| {
            let c = counts.get(&s).copied().unwrap_or(0);
            (every || c > 0).then(|| SignalRate {
                signal: s,
                forms: c,
                rate: if n == 0 { 0.0 } else { c as f64 / n as f64 },
            })
        })
        .collect()
}

/// The forms of `round` inside the caller's scope (and `unit`), as a condition; checks the
/// unit and the caller's right to it.
pub(crate) async fn scoped(
    state: &AppState,
    me: &AuthUser,
    round_code: &str,
    unit: Option<&str>,
) -> Result<Condition, ApiError> {
    let r = super::find_round(state, round_code).await?;
    let geo = ::geography::by_code(&r.geography_code)
        .ok_or_else(|| ApiError::internal(format!("round {round_code} on unknown geography")))?;
    let mut cond = Condition::all()
        .add(form::Column::RoundCode.eq(round_code))
        .add(policy::readable_forms(me, &r.geography_code));
    if let Some(u) = unit {
        let found = geo
            .unit(u)
            .ok_or_else(|| ApiError::not_found("đơn vị hành chính", "Administrative unit"))?;
        policy::require_unit(me, geo.code, u)?;
        cond = cond.add(match found.level {
            ::geography::Level::Province => form::Column::ProvinceCode.eq(u),
            ::geography::Level::District => form::Column::DistrictCode.eq(u),
            ::geography::Level::Commune => form::Column::CommuneCode.eq(u),
        });
    }
    Ok(cond)
}

/// The field-quality signals of a round's forms inside the caller's scope.
#[utoipa::path(get, path = "/rounds/{round}/quality", tag = "quality", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), QualityQuery), security(("bearer" = [])),
    responses((status = OK, body = QualityResponse), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn show_quality(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<QualityQuery>,
) -> Result<Json<QualityResponse>, ApiError> {
    policy::can_read_quality(&me)?;
    let level = match q.level.as_deref().filter(|l| !l.is_empty()) {
        None => "enumerator".to_owned(),
        Some(l) if LEVELS.contains(&l) => l.to_owned(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_level",
                format!("Cấp phải là một trong: {}.", LEVELS.join(", ")),
                format!("The level must be one of: {}.", LEVELS.join(", ")),
            ));
        }
    };
    let unit = q.unit.as_deref().filter(|u| !u.is_empty());
    let cond = scoped(&state, &me, &round_code, unit).await?;
    let (rows, unmeasured) = quality::store::rows(&state.db, &round_code, cond).await?;
    let (settings, own) = quality::store::settings_of(&state.db, &round_code).await?;
    let a = quality::assess(&rows, &settings);

    let mut totals = SignalCounts::new();
    let mut by_enumerator: BTreeMap<i64, (SignalCounts, Vec<Uuid>)> = BTreeMap::new();
    let mut by_village: BTreeMap<&str, (u64, SignalCounts)> = BTreeMap::new();
    let mut form_signals = Vec::new();
    for (r, flags) in rows.iter().zip(&a.flags) {
        let v = by_village.entry(r.village.as_str()).or_default();
        v.0 += 1;
        let e = r.enumerator.map(|e| by_enumerator.entry(e).or_default());
        for s in flags {
            *totals.entry(*s).or_default() += 1;
            *v.1.entry(*s).or_default() += 1;
        }
        if let Some((counts, flagged)) = e {
            for s in flags {
                *counts.entry(*s).or_default() += 1;
            }
            if flags.iter().any(|s| *s != Signal::GpsMissing) {
                flagged.push(r.id);
            }
        }
        if level == "form" && !flags.is_empty() {
            form_signals.push(FormQuality {
                id: r.id,
                enumerator: r.enumerator,
                village: r.village.clone(),
                duration_s: r.measures.duration_s,
                signals: flags.clone(),
            });
        }
    }
    let ids: Vec<i64> = a.enumerators.keys().copied().collect();
    let mut users: HashMap<i64, user::Model> = HashMap::new();
    for chunk in ids.chunks(500) {
        for u in user::Entity::find()
            .filter(user::Column::Id.is_in(chunk.to_vec()))
            .all(&state.db)
            .await?
        {
            users.insert(u.id, u);
        }
    }
    let mut enumerators: Vec<EnumeratorQuality> = a
        .enumerators
        .iter()
        .map(|(&id, facts)| {
            let (counts, flagged) = by_enumerator.remove(&id).unwrap_or_default();
            let u = users.get(&id);
            EnumeratorQuality {
                id,
                username: u.map(|u| u.username.clone()),
                team: u.and_then(|u| u.team.clone()),
                forms: facts.forms as u64,
                score: quality::score(facts.forms, &counts),
                days: facts.days as u64,
                max_per_day: facts.max_per_day as u64,
                distribution_js: facts.distribution_js,
                signals: rates(&counts, facts.forms as u64, false),
                flagged_forms: flagged,
            }
        })
        .collect();
    enumerators.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.id.cmp(&y.id)));
    let villages = if level == "village" {
        by_village
            .into_iter()
            .map(|(code, (n, counts))| VillageQuality {
                code: code.to_owned(),
                forms: n,
                signals: rates(&counts, n, false),
            })
            .collect()
    } else {
        Vec::new()
    };
    let n = rows.len() as u64;
    Ok(Json(QualityResponse {
        round: round_code,
        unit: unit.map(str::to_owned),
        level,
        settings,
        settings_source: source(own.is_some()).to_owned(),
        forms: n,
        unmeasured,
        median_duration_s: a.median_duration_s,
        signals: rates(&totals, n, true),
        enumerators,
        villages,
        form_signals,
    }))
}

fn source(own: bool) -> &'static str {
    if own { "round" } else { "default" }
}

/// A round's field-quality thresholds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QualitySettingsView {
    /// Round.
    pub round: String,
    /// `round` when the round set its own thresholds, `default` otherwise.
    pub source: String,
    /// The thresholds the round applies.
    pub settings: QualitySettings,
    /// The defaults, for comparison.
    pub defaults: QualitySettings,
    /// Who set the round's own (absent for the defaults).
    pub updated_by: Option<String>,
    /// When (RFC 3339).
    pub updated_at: Option<String>,
}

fn settings_view(
    round: String,
    settings: QualitySettings,
    row: Option<&round_quality_setting::Model>,
) -> QualitySettingsView {
    QualitySettingsView {
        round,
        source: source(row.is_some()).to_owned(),
        settings,
        defaults: QualitySettings::default(),
        updated_by: row.map(|r| r.updated_by.clone()),
        updated_at: row.and_then(|r| crate::text::rfc3339(&r.updated_at)),
    }
}

/// The field-quality thresholds a round applies.
#[utoipa::path(get, path = "/rounds/{round}/quality/settings", tag = "quality", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), security(("bearer" = [])),
    responses((status = OK, body = QualitySettingsView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn show_quality_settings(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
) -> Result<Json<QualitySettingsView>, ApiError> {
    policy::can_read_quality(&me)?;
    super::find_round(&state, &round_code).await?;
    let (settings, row) = quality::store::settings_of(&state.db, &round_code).await?;
    Ok(Json(settings_view(round_code, settings, row.as_ref())))
}

/// Sets a round's field-quality thresholds (the ministry). Fields left out take their defaults,
/// so `{}` goes back to the defaults; an unknown field or a value out of its range is refused.
/// The signals are read with them from the next request on: nothing is recomputed.
#[utoipa::path(put, path = "/rounds/{round}/quality/settings", tag = "quality", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), request_body = QualitySettings, security(("bearer" = [])),
    responses((status = OK, body = QualitySettingsView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn update_quality_settings(
    State(state): State<AppState>,
    me: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(round_code): ApiPath<String>,
    ApiJson(settings): ApiJson<QualitySettings>,
) -> Result<Json<QualitySettingsView>, ApiError> {
    policy::can_administer(&me)?;
    super::find_round(&state, &round_code).await?;
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let txn = state.db.begin().await?;
    let (before, _) = quality::store::settings_of(&txn, &round_code).await?;
    let row = if settings == QualitySettings::default() {
        round_quality_setting::Entity::delete_by_id(round_code.clone())
            .exec(&txn)
            .await?;
        None
    } else {
        let row = round_quality_setting::Model {
            round_code: round_code.clone(),
            settings: serde_json::to_string(&settings)
                .map_err(|e| ApiError::internal(format!("quality settings: {e}")))?,
            updated_by: me.username.clone(),
            updated_at: OffsetDateTime::now_utc(),
        };
        // An upsert: two ministry users saving at once both succeed, the last one stands.
        round_quality_setting::Entity::insert(round_quality_setting::ActiveModel {
            round_code: Set(row.round_code.clone()),
            settings: Set(row.settings.clone()),
            updated_by: Set(row.updated_by.clone()),
            updated_at: Set(row.updated_at),
        })
        .on_conflict(
            OnConflict::column(round_quality_setting::Column::RoundCode)
                .update_columns([
                    round_quality_setting::Column::Settings,
                    round_quality_setting::Column::UpdatedBy,
                    round_quality_setting::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(&txn)
        .await?;
        Some(row)
    };
    audit::record(
        &txn,
        event::QUALITY_SETTINGS_CHANGED,
        &Actor::user(&me, ip),
        Some(format!("round:{round_code}")),
        serde_json::json!({ "changed": changed_fields(&before, &settings) }),
    )
    .await?;
    txn.commit().await?;
    Ok(Json(settings_view(round_code, settings, row.as_ref())))
}

/// The fields whose value differs, as `{field: [before, after]}`.
fn changed_fields(before: &QualitySettings, after: &QualitySettings) -> serde_json::Value {
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (
        serde_json::to_value(before).unwrap_or_default(),
        serde_json::to_value(after).unwrap_or_default(),
    ) else {
        return serde_json::Value::Null;
    };
    b.into_iter()
        .filter(|(k, v)| a.get(k) != Some(v))
        .map(|(k, v)| {
            let old = a.get(&k).cloned().unwrap_or_default();
            (k, serde_json::json!([old, v]))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}
