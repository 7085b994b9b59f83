//! Index reports of a round: satisfaction indices, perception, expectations, and the comparison of
//! two rounds, for one unit or every unit at a level under it. Read from the per-village stats,
//! never by scanning forms. Full precision, with the counts behind every figure.

use ::indices::{Estimates, difference, rank, rank_change};
use axum::{Json, Router, extract::State, routing::get};
use sea_orm::EntityTrait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    auth::{AuthUser, policy},
    entities::round,
    error::{ApiError, ApiPath, ApiQuery},
    index_stats,
    reports::{self, Combine, RoundStats, UnitLevel, UnitRef},
    state::AppState,
};

/// Section of the questionnaire whose choices and level rows are the perception report.
const PERCEPTION_SECTION: &str = "part1";
/// The multiple-choice question of citizens' expectations.
const EXPECTATIONS_QUESTION: &str = "expectations";

/// `/rounds/{round}/indices`, `/perception`, `/expectations`, `/compare`
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rounds/{round}/indices", get(get_indices))
        .route("/rounds/{round}/perception", get(get_perception))
        .route("/rounds/{round}/expectations", get(get_expectations))
        .route("/rounds/{round}/compare", get(compare_rounds))
}

#[derive(Deserialize)]
struct ReportQuery {
    /// Unit code; absent or `VN` for the nation.
    unit: Option<String>,
    /// List every unit at this level under `unit` instead of `unit` itself.
    level: Option<String>,
    /// For the nation: `mean_of_provinces` (default, as published) or `pooled`.
    method: Option<String>,
    /// `compare` only: the round to compare with.
    with: Option<String>,
}

/// What a request asks for, checked.
struct Ask {
    unit: UnitRef,
    level: Option<UnitLevel>,
    combine: Combine,
}

/// The province a `unit` parameter lies in, so that only its villages are read; `None` for the
/// nation or a code the geography does not know (resolved, and refused, later).
fn province_of(geo: &::geography::Geography, unit: Option<&str>) -> Option<Vec<String>> {
    let code = unit.map(str::trim).filter(|c| !c.is_empty())?;
    let code = code.split_once('/').map_or(code, |(commune, _)| commune);
    geo.path(code)
        .first()
        .filter(|u| u.level == ::geography::Level::Province)
        .map(|u| vec![u.code.clone()])
}

/// Loads a round's village stats: all of them, or only those of the province `unit` lies in.
async fn load_round(
    state: &AppState,
    code: &str,
    unit: Option<&str>,
) -> Result<RoundStats, ApiError> {
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
    let q = state
        .questionnaires
        .get(&state.db, &r.questionnaire_code, version)
        .await?
        .ok_or_else(|| ApiError::internal(format!("round {} has no questionnaire", r.code)))?;
    let layout = state.layouts.get(&q);
    let provinces = province_of(geo, unit);
    let rows = index_stats::load(
        &state.db,
        &state.questionnaires,
        &state.layouts,
        &r.code,
        provinces.as_deref(),
    )
    .await?;
    RoundStats::new(r, geo, layout, rows)
}

/// Reads and checks `unit`, `level` and `method`, and the caller's right to see them.
fn ask(
    me: &AuthUser,
    data: &RoundStats,
    q: &ReportQuery,
    allow_level: bool,
) -> Result<Ask, ApiError> {
    let unit = data.unit(q.unit.as_deref())?;
    let level = match (&q.level, allow_level) {
        (None, _) => None,
        (Some(l), true) => {
            let level = UnitLevel::parse(l).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_level",
                    format!("Cấp '{l}' không hợp lệ (province, district, commune, village)."),
                    format!("Unknown level '{l}' (province, district, commune, village)."),
                )
            })?;
            reports::check_level(data.geo, &unit, level)?;
            Some(level)
        }
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
    let nation = unit.level == UnitLevel::Nation;
    policy::can_read_indices(
        me,
        data.geo.code,
        (!nation).then(|| unit.scope_code()),
        nation && matches!(level, None | Some(UnitLevel::Province)),
    )?;
    Ok(Ask {
        unit,
        level,
        combine,
    })
}

/// The units a request covers with their estimates: `unit` itself, or every unit at `level` under
/// it (ranked by the overall index).
fn unit_rows(
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
            let values: Vec<Option<f64>> = by.values().map(reports::ranking_value).collect();
            let ranks = rank(&values);
            Ok(by
                .into_iter()
                .zip(ranks)
                .map(|((code, est), r): ((String, Estimates), Option<u32>)| {
                    (
                        reports::unit_ref(data.geo, &data.villages, level, &code),
                        est,
                        r,
                    )
                })
                .collect())
        }
    }
}

fn header(data: &RoundStats, ask: &Ask) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("round".into(), json!(data.round.code));
    m.insert("geography".into(), json!(data.geo.code));
    m.insert(
        "questionnaire".into(),
        json!({ "code": data.round.questionnaire_code, "version": data.round.questionnaire_version }),
    );
    m.insert("unit".into(), json!(ask.unit));
    m.insert("level".into(), json!(ask.level));
    m.insert(
        "method".into(),
        json!(
            if ask.unit.level == UnitLevel::Nation && ask.level.is_none() {
                ask.combine
            } else {
                Combine::Pooled
            }
        ),
    );
    m.insert("min_cell".into(), json!(data.round.min_cell_size));
    m.insert("excluded_versions".into(), json!(data.excluded));
    m
}

/// Satisfaction indices (items, groups, components, SIPAS) with 95% intervals and counts.
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn get_indices(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let data = load_round(&state, &round_code, q.unit.as_deref()).await?;
    let ask = ask(&me, &data, &q, true)?;
    let rows = unit_rows(&data, &ask)?;
    let mut out = header(&data, &ask);
    let results: Vec<Value> = rows
        .into_iter()
        .map(|(unit, est, r)| {
            json!({
                "unit": unit,
                "rank": r,
                "n_forms": est.n_forms,
                "withheld": est.withheld,
                "estimates": {
                    "method": est.method,
                    "variance": est.variance,
                    "n_clusters": est.n_clusters,
                    "n_strata": est.n_strata,
                    "df": est.df,
                    "t": est.t,
                    "overall": est.overall,
                    "components": est.components,
                    "groups": est.groups,
                    "items": est.items,
                },
            })
        })
        .collect();
    out.insert("results".into(), Value::Array(results));
    Ok(Json(Value::Object(out)))
}

/// Part 1 (perception): the share choosing each option of the 8 criteria (multi-select shares over
/// respondents) and, per area or channel, the share at the top two levels and the mean level.
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn get_perception(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let data = load_round(&state, &round_code, q.unit.as_deref()).await?;
    let ask = ask(&me, &data, &q, false)?;
    let qn = state
        .questionnaires
        .get(
            &state.db,
            &data.round.questionnaire_code,
            u32::try_from(data.round.questionnaire_version).unwrap_or(0),
        )
        .await?
        .ok_or_else(|| ApiError::internal("round questionnaire vanished"))?;
    let in_part1: std::collections::HashSet<&str> = qn
        .sections
        .iter()
        .filter(|s| s.code == PERCEPTION_SECTION)
        .flat_map(|s| s.questions.iter().map(|q| q.code.as_str()))
        .collect();
    let (_, est, _) = unit_rows(&data, &ask)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("no estimate"))?;
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
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn get_expectations(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let data = load_round(&state, &round_code, q.unit.as_deref()).await?;
    let ask = ask(&me, &data, &q, false)?;
    let (_, est, _) = unit_rows(&data, &ask)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("no estimate"))?;
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
    let data = load_round(&state, &round_code, q.unit.as_deref()).await?;
    let ask = ask(&me, &data, &q, true)?;
    // Across a geography change the unit's codes differ: read the previous round whole.
    let prev = load_round(&state, with, None).await?;
    if prev.layout.questionnaire != data.layout.questionnaire
        || prev.layout.items.len() != data.layout.items.len()
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
            codes
                .iter()
                .map(|c| reports::unit_ref(data.geo, &data.villages, level, c))
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
        let old = if unit.level == UnitLevel::Nation && ask.combine == Combine::MeanOfProvinces {
            // The national figure as the previous round published it: mean over its own provinces.
            reports::unit_estimates(
                &prev.layout,
                &prev.villages,
                unit,
                Combine::MeanOfProvinces,
                &prev_opts,
            )?
        } else {
            reports::pooled(
                &prev.layout,
                placed.iter().filter(|v| reports::contains(unit, v)),
                &prev_opts,
            )?
        };
        previous.push(old);
    }
    let cur_ranks = rank(
        &current
            .iter()
            .map(reports::ranking_value)
            .collect::<Vec<_>>(),
    );
    let prev_ranks = rank(
        &previous
            .iter()
            .map(reports::ranking_value)
            .collect::<Vec<_>>(),
    );
    let mapping = ::geography::mapping(prev.geo.code, data.geo.code);
    let results: Vec<Value> = units
        .into_iter()
        .zip(current)
        .zip(previous)
        .zip(cur_ranks.into_iter().zip(prev_ranks))
        .map(|(((unit, cur), old), (r, old_r))| {
            let predecessors: Vec<&str> = match (mapping, unit.level) {
                (Some(m), UnitLevel::Province | UnitLevel::Commune) => m.predecessors(&unit.code),
                _ => Vec::new(),
            };
            json!({
                "unit": unit,
                "predecessors": predecessors,
                "current": { "n_forms": cur.n_forms, "withheld": cur.withheld, "method": cur.method },
                "previous": { "n_forms": old.n_forms, "withheld": old.withheld, "method": old.method },
                "rank": if ask.level.is_some() {
                    json!({ "current": r, "previous": old_r, "change": rank_change(r, old_r) })
                } else {
                    Value::Null
                },
                "changes": difference(&cur, &old),
            })
        })
        .collect();
    let mut out = header(&data, &ask);
    out.insert("with".into(), json!(prev.round.code));
    out.insert("with_geography".into(), json!(prev.geo.code));
    out.insert("comparison".into(), json!(placement));
    out.insert("unplaced_forms".into(), json!(unplaced));
    out.insert("previous_min_cell".into(), json!(prev_opts.min_cell));
    out.insert("results".into(), Value::Array(results));
    Ok(Json(Value::Object(out)))
}
