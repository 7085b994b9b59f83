//! Index reports of a round: satisfaction indices, perception, expectations, and the comparison of
//! two rounds, for one unit or every unit at a level under it. Read from the per-village stats,
//! never by scanning forms. Full precision, with the counts behind every figure.

use ::indices::{Estimates, difference, rank_change};
use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use std::collections::HashSet;

use sea_orm::{ColumnTrait, Condition, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{AuthUser, policy},
    entities::{form, round},
    error::{ApiError, ApiPath, ApiQuery},
    index_stats,
    quality::{self, Signal},
    reports::{self, Combine, RoundStats, UnitLevel, UnitRef},
    routes::openapi::Failure,
    state::AppState,
};

/// Section of the questionnaire whose choices and level rows are the perception report.
pub(crate) const PERCEPTION_SECTION: &str = "part1";
/// The multiple-choice question of citizens' expectations.
pub(crate) const EXPECTATIONS_QUESTION: &str = "expectations";

/// `/rounds/{round}/indices`, `/perception`, `/expectations`, `/compare`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_indices))
        .routes(routes!(get_perception))
        .routes(routes!(get_expectations))
        .routes(routes!(compare_rounds))
}

/// Which unit (or units) a report is about.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// Unit code; absent or `VN` for the nation.
    pub(crate) unit: Option<String>,
    /// List every unit at this level under `unit` instead of `unit` itself.
    pub(crate) level: Option<String>,
    /// For the nation: `mean_of_provinces` (default, as published) or `pooled`.
    pub(crate) method: Option<String>,
    /// `compare` only: the round to compare with.
    pub(crate) with: Option<String>,
    /// `indices` only: signal codes (see `GET .../quality`), comma-separated. The answer then
    /// also holds the figures without the forms raising any of them, recomputed from the forms.
    pub(crate) exclude_flagged: Option<String>,
}

/// What a request asks for, checked.
pub(crate) struct Ask {
    /// The unit.
    pub(crate) unit: UnitRef,
    /// The level listed under it, if any.
    pub(crate) level: Option<UnitLevel>,
    /// How the nation is combined.
    pub(crate) combine: Combine,
}

/// A round, its geography and questionnaire, before any statistics are read.
pub(crate) struct RoundInfo {
    pub(crate) round: round::Model,
    pub(crate) geo: &'static ::geography::Geography,
    pub(crate) definition: std::sync::Arc<crate::definitions::Definition>,
}

pub(crate) async fn round_info(state: &AppState, code: &str) -> Result<RoundInfo, ApiError> {
    let r = round::Entity::find_by_id(code.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("đợt khảo sát", "Survey round"))?;
    let geo = ::geography::by_code(&r.geography_code).ok_or_else(|| {
        ApiError::internal(format!(
            "round {} uses unknown geography {}",
            r.code, r.geography_code
        ))
    })?;
    let version = u32::try_from(r.questionnaire_version).unwrap_or(0);
    let definition = state
        .definitions
        .get(&state.db, &r.questionnaire_code, version)
        .await?
        .ok_or_else(|| ApiError::internal(format!("round {} has no questionnaire", r.code)))?;
    Ok(RoundInfo {
        round: r,
        geo,
        definition,
    })
}

/// The province a `unit` parameter lies in, so that only its villages are read; `None` for the
/// nation or a code the geography does not know (resolved, and refused, later).
pub(crate) fn province_of(geo: &::geography::Geography, unit: Option<&str>) -> Option<String> {
    let code = unit.map(str::trim).filter(|c| !c.is_empty())?;
    let code = code.split_once('/').map_or(code, |(commune, _)| commune);
    geo.path(code)
        .first()
        .filter(|u| u.level == ::geography::Level::Province)
        .map(|u| u.code.clone())
}

/// Reads a round's village stats: only those of `provinces`, or all of them — the whole round
/// through the cache, after checking it is current.
pub(crate) async fn load_stats(
    state: &AppState,
    info: &RoundInfo,
    provinces: Option<Vec<String>>,
) -> Result<Arc<RoundStats>, ApiError> {
    // The design and draws weigh the villages: read first, so that a draw in between makes the
    // cached entry stale rather than wrong.
    let sample = crate::sampling::store::design_weights(&state.db, &info.round.code).await?;
    let stamp = match provinces {
        Some(_) => None,
        None => {
            let stamp = index_stats::stamp(&state.db, &info.round.code).await?;
            if let Some(data) = state
                .round_stats
                .get(&info.round, stamp)
                .filter(|d| d.design_stamp == sample.stamp)
            {
                return Ok(data);
            }
            Some(stamp)
        }
    };
    let rows = index_stats::load(
        &state.db,
        &state.definitions,
        &info.round.code,
        provinces.as_deref(),
    )
    .await?;
    let data = Arc::new(RoundStats::new(
        info.round.clone(),
        info.geo,
        info.definition.layout.clone(),
        rows,
        &sample,
    )?);
    if let Some(stamp) = stamp {
        state.round_stats.put(stamp, data.clone());
    }
    Ok(data)
}

/// Checks `level` and `method` and the caller's right to read `unit` — before any statistics are
/// read, and before a village code is looked up (so its existence is not revealed out of scope).
pub(crate) fn authorize(
    me: &AuthUser,
    info: &RoundInfo,
    q: &ReportQuery,
    allow_level: bool,
) -> Result<(Option<UnitLevel>, Combine), ApiError> {
    let level = match (&q.level, allow_level) {
        (None, _) => None,
        (Some(l), true) => Some(UnitLevel::parse(l).ok_or_else(|| {
            ApiError::bad_request(
                "bad_level",
                format!("Cấp '{l}' không hợp lệ (province, district, commune, village)."),
                format!("Unknown level '{l}' (province, district, commune, village)."),
            )
        })?),
        (Some(_), false) => {
            return Err(ApiError::bad_request(
                "bad_level",
                "Báo cáo này chỉ dành cho một đơn vị: bỏ tham số 'level'.",
                "This report is for one unit: drop the 'level' parameter.",
            ));
        }
    };
    let combine = match q.method.as_deref() {
        None => Combine::MeanOfProvinces,
        Some(m) => Combine::parse(m).ok_or_else(|| {
            ApiError::bad_request(
                "bad_method",
                format!("Cách tính '{m}' không hợp lệ (mean_of_provinces, pooled)."),
                format!("Unknown method '{m}' (mean_of_provinces, pooled)."),
            )
        })?,
    };
    let raw = q
        .unit
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(reports::NATION));
    let scope_code = raw.map(|c| c.split_once('/').map_or(c, |(commune, _)| commune));
    policy::can_read_indices(
        me,
        info.geo.code,
        scope_code,
        scope_code.is_none() && matches!(level, None | Some(UnitLevel::Province)),
    )?;
    Ok((level, combine))
}

/// Resolves the unit among the loaded villages and checks the level lies below it.
pub(crate) fn resolve(
    data: &RoundStats,
    q: &ReportQuery,
    (level, combine): (Option<UnitLevel>, Combine),
) -> Result<Ask, ApiError> {
    let unit = data.unit(q.unit.as_deref())?;
    if let Some(level) = level {
        reports::check_level(data.geo, &unit, level)?;
    }
    Ok(Ask {
        unit,
        level,
        combine,
    })
}

/// Authorises, loads what the request needs and resolves it.
async fn prepare(
    state: &AppState,
    me: &AuthUser,
    round_code: &str,
    q: &ReportQuery,
    allow_level: bool,
) -> Result<(RoundInfo, Arc<RoundStats>, Ask), ApiError> {
    policy::can_read_any_indices(me)?;
    let info = round_info(state, round_code).await?;
    let checked = authorize(me, &info, q, allow_level)?;
    let provinces = province_of(info.geo, q.unit.as_deref()).map(|p| vec![p]);
    let data = load_stats(state, &info, provinces).await?;
    let ask = resolve(&data, q, checked)?;
    Ok((info, data, ask))
}

/// The units a request covers with their estimates: `unit` itself, or every unit at `level` under
/// it (ranked by the overall index).
pub(crate) fn unit_rows(
    data: &RoundStats,
    ask: &Ask,
) -> Result<Vec<(UnitRef, Estimates, Option<u32>)>, ApiError> {
    let opts = data.options();
    match ask.level {
        None => {
            let est = reports::unit_estimates(
                &data.layout,
                &data.villages,
                &ask.unit,
                ask.combine,
                &opts,
            )?;
            Ok(vec![(ask.unit.clone(), est, None)])
        }
        Some(level) => {
            let inside = data
                .villages
                .iter()
                .filter(|v| reports::contains(&ask.unit, v));
            let by = reports::by_unit(&data.layout, inside, level, &opts)?;
            let names = reports::village_names(&data.villages);
            let ranks = reports::ranks(&by.values().collect::<Vec<_>>());
            Ok(by
                .into_iter()
                .zip(ranks)
                .map(|((code, est), r): ((String, Estimates), Option<u32>)| {
                    (reports::unit_ref(data.geo, &names, level, &code), est, r)
                })
                .collect())
        }
    }
}

/// The estimates of the one unit a perception or expectations request is about.
fn one_unit(data: &RoundStats, ask: &Ask) -> Result<Estimates, ApiError> {
    unit_rows(data, ask)?
        .into_iter()
        .next()
        .map(|(_, est, _)| est)
        .ok_or_else(|| ApiError::internal("no estimate"))
}

fn header(data: &RoundStats, ask: &Ask) -> serde_json::Map<String, Value> {
    match serde_json::to_value(report_header(data, ask)) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// The header every report starts with, typed so that large responses serialise straight to bytes.
#[derive(Serialize)]
struct ReportHeader<'a> {
    round: &'a str,
    geography: &'a str,
    questionnaire: QuestionnaireRef<'a>,
    unit: &'a UnitRef,
    level: Option<UnitLevel>,
    method: Combine,
    min_cell: i32,
    excluded_versions: &'a [reports::ExcludedVersion],
    /// The sampling design the estimates follow.
    design: &'a reports::DesignNote,
}

#[derive(Serialize)]
struct QuestionnaireRef<'a> {
    code: &'a str,
    version: i32,
}

/// `GET .../indices`: the header and one entry per unit.
#[derive(Serialize)]
struct IndicesResponse<'a> {
    #[serde(flatten)]
    header: ReportHeader<'a>,
    results: Vec<UnitIndices<'a>>,
    /// With `exclude_flagged`: the same figures without the flagged forms.
    #[serde(skip_serializing_if = "Option::is_none")]
    without_flagged: Option<WithoutFlagged<'a>>,
}

/// The figures without the forms raising any of `signals`.
#[derive(Serialize)]
struct WithoutFlagged<'a> {
    signals: Vec<Signal>,
    /// Forms of the loaded provinces raising one of them (counted or not).
    forms_flagged: u64,
    results: Vec<UnitWithout<'a>>,
}

/// One unit's figures without the flagged forms, and how far its SIPAS moved.
#[derive(Serialize)]
struct UnitWithout<'a> {
    #[serde(flatten)]
    indices: UnitIndices<'a>,
    /// SIPAS without minus SIPAS with the flagged forms.
    overall_change: Option<f64>,
    /// Whether the SIPAS without them falls outside the 95% interval of the normal figure.
    outside_ci: Option<bool>,
}

/// The estimates of the forms in scope of `ask` without those raising any of `list`'s signals;
/// the flagged forms are found among the round's forms of the provinces the report loads.
async fn without_flagged(
    state: &AppState,
    info: &RoundInfo,
    q: &ReportQuery,
    ask: &Ask,
    list: &str,
) -> Result<(Vec<Signal>, u64, UnitRows), ApiError> {
    let mut signals = Vec::new();
    for code in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        signals.push(Signal::parse(code).ok_or_else(|| {
            ApiError::bad_request(
                "bad_signal",
                format!("Tín hiệu '{code}' không có (xem GET .../quality)."),
                format!("Unknown signal '{code}' (see GET .../quality)."),
            )
        })?);
    }
    let provinces = province_of(info.geo, q.unit.as_deref()).map(|p| vec![p]);
    let mut cond = Condition::all().add(form::Column::RoundCode.eq(&info.round.code));
    if let Some(p) = &provinces {
        cond = cond.add(form::Column::ProvinceCode.is_in(p.clone()));
    }
    let (rows, _) = quality::store::rows(&state.db, &info.round.code, cond).await?;
    let (settings, _) = quality::store::settings_of(&state.db, &info.round.code).await?;
    let a = quality::assess(&rows, &settings);
    let flagged: HashSet<uuid::Uuid> = rows
        .iter()
        .zip(&a.flags)
        .filter(|(_, f)| f.iter().any(|s| signals.contains(s)))
        .map(|(r, _)| r.id)
        .collect();
    let villages = index_stats::compute_from_forms_without(
        &state.db,
        &state.definitions,
        &info.round.code,
        provinces.as_deref(),
        &flagged,
    )
    .await?;
    let sample = crate::sampling::store::design_weights(&state.db, &info.round.code).await?;
    let data = RoundStats::new(
        info.round.clone(),
        info.geo,
        info.definition.layout.clone(),
        villages,
        &sample,
    )?;
    // A unit left without forms has no figures.
    let rows = match resolve(&data, q, (ask.level, ask.combine)) {
        Ok(ask) => unit_rows(&data, &ask)?,
        Err(_) => Vec::new(),
    };
    Ok((signals, flagged.len() as u64, rows))
}

/// Units with their estimates and rank.
type UnitRows = Vec<(UnitRef, Estimates, Option<u32>)>;

fn unit_indices<'a>((unit, est, rank): &'a (UnitRef, Estimates, Option<u32>)) -> UnitIndices<'a> {
    UnitIndices {
        unit,
        rank: *rank,
        n_forms: est.n_forms,
        withheld: est.withheld,
        estimates: IndexFigures {
            method: &est.method,
            variance: &est.variance,
            n_clusters: est.n_clusters,
            n_strata: est.n_strata,
            n_psus: est.n_psus,
            df: est.df,
            t: est.t,
            overall: &est.overall,
            components: &est.components,
            groups: &est.groups,
            items: &est.items,
        },
    }
}

/// One unit's satisfaction indices.
#[derive(Serialize)]
struct UnitIndices<'a> {
    unit: &'a UnitRef,
    rank: Option<u32>,
    n_forms: u64,
    withheld: bool,
    estimates: IndexFigures<'a>,
}

/// The index part of [`Estimates`] (perception and expectations have their own reports).
#[derive(Serialize)]
struct IndexFigures<'a> {
    method: &'a ::indices::Method,
    variance: &'a ::indices::VarianceMethod,
    n_clusters: u32,
    n_strata: u32,
    n_psus: u32,
    df: Option<f64>,
    t: Option<f64>,
    overall: &'a Option<::indices::IndexEstimate>,
    components: &'a [::indices::IndexEstimate],
    groups: &'a [::indices::IndexEstimate],
    items: &'a [::indices::ItemEstimate],
}

fn report_header<'a>(data: &'a RoundStats, ask: &'a Ask) -> ReportHeader<'a> {
    ReportHeader {
        round: &data.round.code,
        geography: data.geo.code,
        questionnaire: QuestionnaireRef {
            code: &data.round.questionnaire_code,
            version: data.round.questionnaire_version,
        },
        unit: &ask.unit,
        level: ask.level,
        method: if ask.unit.level == UnitLevel::Nation && ask.level.is_none() {
            ask.combine
        } else {
            Combine::Pooled
        },
        min_cell: data.round.min_cell_size,
        excluded_versions: &data.excluded,
        design: &data.design,
    }
}

/// A JSON response written straight from typed data (no intermediate `Value` tree: a national
/// village table is megabytes).
fn json_response(body: &impl Serialize) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(ApiError::internal)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response())
}

/// Satisfaction indices (items, groups, components, SIPAS) with 95% intervals and counts.
#[utoipa::path(get, path = "/rounds/{round}/indices", tag = "indices",
    params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ReportQuery),
    security(("bearer" = [])),
    responses((status = OK, body = Object, description = "The report header (round, geography, questionnaire, unit, level, method, min_cell) and `results`: per unit its rank, forms, `withheld` and the estimates with 95% intervals."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn get_indices(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let (info, data, ask) = prepare(&state, &me, &round_code, &q, true).await?;
    let rows = unit_rows(&data, &ask)?;
    let without = match q
        .exclude_flagged
        .as_deref()
        .filter(|l| !l.trim().is_empty())
    {
        Some(list) => Some(without_flagged(&state, &info, &q, &ask, list).await?),
        None => None,
    };
    let results = rows.iter().map(unit_indices).collect();
    let without_flagged = without.as_ref().map(|(signals, n, w)| WithoutFlagged {
        signals: signals.clone(),
        forms_flagged: *n,
        results: w
            .iter()
            .map(|row| {
                let normal = rows
                    .iter()
                    .find(|r| r.0.code == row.0.code)
                    .and_then(|r| r.1.overall.as_ref());
                let value = row.1.overall.as_ref().and_then(|o| o.figure.value);
                let overall_change = value
                    .zip(normal.and_then(|n| n.figure.value))
                    .map(|(a, b)| a - b);
                let outside_ci = value.zip(normal).and_then(|(v, n)| {
                    n.figure
                        .ci_low
                        .zip(n.figure.ci_high)
                        .map(|(lo, hi)| v < lo || v > hi)
                });
                UnitWithout {
                    indices: unit_indices(row),
                    overall_change,
                    outside_ci,
                }
            })
            .collect(),
    });
    json_response(&IndicesResponse {
        header: report_header(&data, &ask),
        results,
        without_flagged,
    })
}

/// Part 1 (perception): the share choosing each option of the 8 criteria (multi-select shares over
/// respondents) and, per area or channel, the share at the top two levels and the mean level.
#[utoipa::path(get, path = "/rounds/{round}/perception", tag = "indices",
    params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ReportQuery),
    security(("bearer" = [])),
    responses((status = OK, body = Object, description = "The report header and the perception shares of the unit."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn get_perception(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let (info, data, ask) = prepare(&state, &me, &round_code, &q, false).await?;
    let in_part1: std::collections::HashSet<&str> = info
        .definition
        .questionnaire
        .sections
        .iter()
        .filter(|s| s.code == PERCEPTION_SECTION)
        .flat_map(|s| s.questions.iter().map(|q| q.code.as_str()))
        .collect();
    let est = one_unit(&data, &ask)?;
    let mut out = header(&data, &ask);
    out.insert("n_forms".into(), json!(est.n_forms));
    out.insert("withheld".into(), json!(est.withheld));
    out.insert(
        "choices".into(),
        json!(
            est.choices
                .iter()
                .filter(|c| in_part1.contains(&*c.question))
                .collect::<Vec<_>>()
        ),
    );
    out.insert(
        "levels".into(),
        json!(
            est.rows
                .iter()
                .filter(|r| in_part1.contains(&*r.question))
                .collect::<Vec<_>>()
        ),
    );
    Ok(Json(Value::Object(out)))
}

/// Part 3 (expectations): the share of respondents choosing each of the 10 items, ranked.
#[utoipa::path(get, path = "/rounds/{round}/expectations", tag = "indices",
    params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ReportQuery),
    security(("bearer" = [])),
    responses((status = OK, body = Object, description = "The report header and the expectations ranked."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn get_expectations(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let (_, data, ask) = prepare(&state, &me, &round_code, &q, false).await?;
    let est = one_unit(&data, &ask)?;
    let mut out = header(&data, &ask);
    out.insert("n_forms".into(), json!(est.n_forms));
    out.insert("withheld".into(), json!(est.withheld));
    out.insert(
        "n_answered".into(),
        json!(
            est.choice(EXPECTATIONS_QUESTION)
                .map_or(0, |c| c.n_answered)
        ),
    );
    out.insert(
        "options".into(),
        json!(est.ranked_options(EXPECTATIONS_QUESTION)),
    );
    Ok(Json(Value::Object(out)))
}

/// Year over year: every index of `unit` (or of every unit at `level` under it) in this round and
/// in `with`, the change with its 95% interval (flagged when it excludes zero), and the ranks this
/// year and last among the units listed, with the rank change.
#[utoipa::path(get, path = "/rounds/{round}/compare", tag = "indices",
    params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ReportQuery),
    security(("bearer" = [])),
    responses((status = OK, body = Object, description = "Both rounds' indices, the changes with 95% intervals and the ranks."), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn compare_rounds(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let Some(with) = q.with.as_deref().map(str::trim).filter(|w| !w.is_empty()) else {
        return Err(ApiError::bad_request(
            "missing_parameter",
            "Cần tham số 'with': mã đợt khảo sát để so sánh.",
            "The 'with' parameter (the round to compare with) is required.",
        ));
    };
    let (_, data, ask) = prepare(&state, &me, &round_code, &q, true).await?;
    let cmp = compare_units(&state, &data, &ask, q.unit.as_deref(), with).await?;
    let results: Vec<Value> = cmp
        .rows
        .iter()
        .map(|row| {
            json!({
                "unit": row.unit,
                "predecessors": row.predecessors,
                "current": { "n_forms": row.current.n_forms, "withheld": row.current.withheld, "method": row.current.method },
                "previous": { "n_forms": row.previous.n_forms, "withheld": row.previous.withheld, "method": row.previous.method },
                "rank": if ask.level.is_some() {
                    json!({ "current": row.rank, "previous": row.previous_rank, "change": rank_change(row.rank, row.previous_rank) })
                } else {
                    Value::Null
                },
                "changes": difference(&row.current, &row.previous),
            })
        })
        .collect();
    let (prev, placement, unplaced, prev_opts) = (
        &cmp.previous,
        &cmp.placement,
        cmp.unplaced,
        cmp.previous.options(),
    );
    let mut out = header(&data, &ask);
    out.insert("with".into(), json!(prev.round.code));
    out.insert("with_geography".into(), json!(prev.geo.code));
    out.insert("comparison".into(), json!(placement));
    out.insert("unplaced_forms".into(), json!(unplaced));
    out.insert("previous_min_cell".into(), json!(prev_opts.min_cell));
    out.insert("results".into(), Value::Array(results));
    Ok(Json(Value::Object(out)))
}

/// Two rounds compared for the units of a request: what `/compare` answers and the report is
/// written from, so that both show the same numbers.
pub(crate) struct Compared {
    /// The previous round's stats.
    pub(crate) previous: Arc<RoundStats>,
    /// How its villages were placed in the current geography.
    pub(crate) placement: reports::Placement,
    /// Its forms that could not be placed.
    pub(crate) unplaced: u64,
    /// One row per unit compared.
    pub(crate) rows: Vec<ComparedUnit>,
}

/// One unit compared: both rounds' estimates and ranks among the units listed.
pub(crate) struct ComparedUnit {
    /// The unit.
    pub(crate) unit: UnitRef,
    /// The old units whose forms were pooled into the previous figure.
    pub(crate) predecessors: Vec<String>,
    /// This round.
    pub(crate) current: Estimates,
    /// The previous round.
    pub(crate) previous: Estimates,
    /// Rank this round among the units listed.
    pub(crate) rank: Option<u32>,
    /// Rank in the previous round among the units listed.
    pub(crate) previous_rank: Option<u32>,
}

/// Compares `data` (the current round, loaded for `ask`) with round `with` for the units of `ask`
/// (`unit_param` as given, to read only the previous villages that can fall in it).
pub(crate) async fn compare_units(
    state: &AppState,
    data: &RoundStats,
    ask: &Ask,
    unit_param: Option<&str>,
    with: &str,
) -> Result<Compared, ApiError> {
    let prev_info = round_info(state, with).await?;
    let same_geography = prev_info.geo.code == data.geo.code;
    if !same_geography
        && (ask.unit.level == UnitLevel::Village || ask.level == Some(UnitLevel::Village))
    {
        return Err(ApiError::bad_request(
            "bad_level",
            "Hai đợt dùng hai danh mục đơn vị khác nhau: không so sánh được ở cấp thôn.",
            "The rounds use different geographies: villages cannot be compared across them.",
        ));
    }
    // Only the previous villages that can fall in the unit: its province, or across the geography
    // change the old provinces it was formed from (whole or in part).
    let prev_provinces = province_of(data.geo, unit_param).map(|p| {
        if same_geography {
            vec![p]
        } else {
            ::geography::mapping(prev_info.geo.code, data.geo.code)
                .map(|m| m.predecessors(&p).into_iter().map(str::to_owned).collect())
                .unwrap_or_default()
        }
    });
    let prev = load_stats(state, &prev_info, prev_provinces).await?;
    if prev.layout.questionnaire != data.layout.questionnaire
        || prev.layout.items != data.layout.items
    {
        return Err(ApiError::bad_request(
            "incomparable_rounds",
            "Hai đợt dùng bảng hỏi khác nhau: không so sánh được.",
            "The two rounds use different questionnaires: they cannot be compared.",
        ));
    }
    let (placed, placement, unplaced) = reports::place_previous(data.geo, &prev)?;
    let opts = data.options();
    let prev_opts = prev.options();
    // The units compared: `unit`, or every unit at `level` under it with forms in either round.
    let units: Vec<UnitRef> = match ask.level {
        None => vec![ask.unit.clone()],
        Some(level) => {
            let codes: std::collections::BTreeSet<String> = data
                .villages
                .iter()
                .chain(&placed)
                .filter(|v| reports::contains(&ask.unit, v))
                .filter_map(|v| reports::unit_code_at(level, v))
                .collect();
            let names = reports::village_names(&data.villages);
            codes
                .iter()
                .map(|c| reports::unit_ref(data.geo, &names, level, c))
                .collect()
        }
    };
    let mut current: Vec<Estimates> = Vec::with_capacity(units.len());
    let mut previous: Vec<Estimates> = Vec::with_capacity(units.len());
    for unit in &units {
        current.push(reports::unit_estimates(
            &data.layout,
            &data.villages,
            unit,
            ask.combine,
            &opts,
        )?);
        let old = if unit.level == UnitLevel::Nation {
            // The nation is the nation in both geographies: every previous form counts, and the
            // mean of provinces is over the previous round's own provinces, as it published it.
            reports::unit_estimates(&prev.layout, &prev.villages, unit, ask.combine, &prev_opts)?
        } else {
            reports::pooled(
                &prev.layout,
                placed.iter().filter(|v| reports::contains(unit, v)),
                &prev_opts,
            )?
        };
        previous.push(old);
    }
    let cur_ranks = reports::ranks(&current.iter().collect::<Vec<_>>());
    let prev_ranks = reports::ranks(&previous.iter().collect::<Vec<_>>());
    let mapping = ::geography::mapping(prev.geo.code, data.geo.code);
    let rows = units
        .into_iter()
        .zip(current)
        .zip(previous)
        .zip(cur_ranks.into_iter().zip(prev_ranks))
        .map(|(((unit, cur), old), (r, old_r))| {
            // The old units whose forms were pooled into the previous figure.
            let predecessors: Vec<String> = match (mapping, unit.level) {
                (Some(m), UnitLevel::Commune) => m
                    .default_predecessors(&unit.code)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                (Some(_), UnitLevel::Province | UnitLevel::District) => placed
                    .iter()
                    .filter(|v| reports::contains(&unit, v))
                    .map(|v| v.origin_province.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            };
            ComparedUnit {
                unit,
                predecessors,
                current: cur,
                previous: old,
                rank: r,
                previous_rank: old_r,
            }
        })
        .collect();
    Ok(Compared {
        previous: prev,
        placement,
        unplaced,
        rows,
    })
}
