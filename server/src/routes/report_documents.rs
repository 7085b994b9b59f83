//! `GET /rounds/{round}/reports/{unit}`: the provincial (or national) report as HTML or DOCX,
//! written from the same estimates `/indices`, `/perception`, `/expectations` and `/compare`
//! answer (the same internal calls), so that its numbers are the API's.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use indices::{Estimates, difference};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::index_reports::{self, Ask, EXPECTATIONS_QUESTION, PERCEPTION_SECTION, ReportQuery};
use crate::{
    auth::{AuthUser, policy},
    entities::form,
    error::{ApiError, ApiPath, ApiQuery},
    report::{self, Inputs, Lang, ProvinceInput, Sample},
    reports::{self, Combine, RoundStats, UnitLevel, UnitRef},
    routes::openapi::Failure,
    state::AppState,
};

/// `/rounds/{round}/reports/{unit}`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_report))
}

/// How the report is written.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DocumentQuery {
    /// `html` (default) or `docx`.
    format: Option<String>,
    /// The round to compare with (last year's).
    with: Option<String>,
    /// `vi` (default) or `en`.
    lang: Option<String>,
}

/// The report of a province (or `VN`, the nation) for a round: headline (SIPAS, change, rank,
/// rank change), Part 1 perception, Part 2 every group and item with this year, last year, the
/// change and its significance and the rank among provinces, Part 3 expectations, the weakest and
/// most improved items, the units below, the provinces' league table, targets and plans, and the
/// sample. HTML with inline SVG charts (no script, nothing external) or DOCX.
#[utoipa::path(get, path = "/rounds/{round}/reports/{unit}", tag = "indices",
    params(
        ("round" = String, Path, description = "Round code", example = "sipas-2025"),
        ("unit" = String, Path, description = "Province code, or `VN` for the nation", example = "12"),
        DocumentQuery),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The report: `text/html` or the DOCX (`application/vnd.openxmlformats-officedocument.wordprocessingml.document`).",
            content(("text/html"), ("application/vnd.openxmlformats-officedocument.wordprocessingml.document"))),
        Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code, unit = %unit))]
async fn get_report(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath((round_code, unit)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<DocumentQuery>,
) -> Result<Response, ApiError> {
    let docx = match q.format.as_deref().unwrap_or("html") {
        "html" => false,
        "docx" => true,
        other => {
            return Err(ApiError::bad_request(
                "bad_format",
                format!("Định dạng '{other}' không hợp lệ (html, docx)."),
                format!("Unknown format '{other}' (html, docx)."),
            ));
        }
    };
    let lang = match q.lang.as_deref() {
        None => Lang::Vi,
        Some(l) => Lang::parse(l).ok_or_else(|| {
            ApiError::bad_request(
                "bad_lang",
                format!("Ngôn ngữ '{l}' không hợp lệ (vi, en)."),
                format!("Unknown language '{l}' (vi, en)."),
            )
        })?,
    };
    let with = q
        .with
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned);
    let rep = build_report(&state, &me, &round_code, &unit, with.as_deref(), lang).await?;
    if docx {
        let bytes = report::docx::render(&rep).map_err(ApiError::internal)?;
        let name = format!("sipas-{}-{}.docx", rep.round, rep.unit.code);
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    ),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                        .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
                ),
            ],
            bytes,
        )
            .into_response())
    } else {
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                    ),
                ),
            ],
            report::html::render(&rep),
        )
            .into_response())
    }
}

/// Reads and assembles everything the report of `unit` shows, through the index API's own calls.
pub(crate) async fn build_report(
    state: &AppState,
    me: &AuthUser,
    round_code: &str,
    unit: &str,
    with: Option<&str>,
    lang: Lang,
) -> Result<report::Report, ApiError> {
    policy::can_read_any_indices(me)?;
    let info = index_reports::round_info(state, round_code).await?;
    let uq = ReportQuery {
        unit: Some(unit.to_owned()),
        level: None,
        method: None,
        with: with.map(str::to_owned),
        exclude_flagged: None,
    };
    let checked = index_reports::authorize(me, &info, &uq, false)?;
    // The whole round: the ranks need every province (published anyway).
    let data = index_reports::load_stats(state, &info, None).await?;
    let unit_ask = index_reports::resolve(&data, &uq, checked)?;
    if !matches!(unit_ask.unit.level, UnitLevel::Nation | UnitLevel::Province) {
        return Err(ApiError::bad_request(
            "bad_unit",
            "Báo cáo được lập cho một tỉnh, thành phố hoặc toàn quốc (VN).",
            "A report is made for a province or the nation (VN).",
        ));
    }
    let nation_ask = Ask {
        unit: data.unit(None)?,
        level: Some(UnitLevel::Province),
        combine: Combine::MeanOfProvinces,
    };
    // The unit and the provinces, this round and (when compared) the previous one.
    let (current, previous, provinces): (Estimates, Option<Estimates>, Vec<ProvinceRow>) =
        match with {
            Some(w) => {
                let mut one =
                    index_reports::compare_units(state, &data, &unit_ask, Some(unit), w).await?;
                let table =
                    index_reports::compare_units(state, &data, &nation_ask, None, w).await?;
                let row = one
                    .rows
                    .pop()
                    .ok_or_else(|| ApiError::internal("no compared unit"))?;
                let provinces = table
                    .rows
                    .into_iter()
                    .map(|r| ProvinceRow {
                        unit: r.unit,
                        current: r.current,
                        previous: Some(r.previous),
                        rank: r.rank,
                        previous_rank: r.previous_rank,
                    })
                    .collect();
                (row.current, Some(row.previous), provinces)
            }
            None => {
                let mut one = index_reports::unit_rows(&data, &unit_ask)?;
                let (_, est, _) = one.pop().ok_or_else(|| ApiError::internal("no estimate"))?;
                let provinces = index_reports::unit_rows(&data, &nation_ask)?
                    .into_iter()
                    .map(|(u, e, r)| ProvinceRow {
                        unit: u,
                        current: e,
                        previous: None,
                        rank: r,
                        previous_rank: None,
                    })
                    .collect();
                (est, None, provinces)
            }
        };
    let changes = previous
        .as_ref()
        .map(|p| difference(&current, p))
        .unwrap_or_default();
    // The units below: districts (or communes where there are none) of a province; provinces of
    // the nation.
    let sub_level = match unit_ask.unit.level {
        UnitLevel::Nation => UnitLevel::Province,
        _ if data.geo.levels.contains(&::geography::Level::District) => UnitLevel::District,
        _ => UnitLevel::Commune,
    };
    let sub_ask = Ask {
        unit: unit_ask.unit.clone(),
        level: Some(sub_level),
        combine: Combine::Pooled,
    };
    let subunits = index_reports::unit_rows(&data, &sub_ask)?;
    let sample = sample_of(state, &data, &unit_ask.unit).await?;
    let (targets, tasks) = crate::routes::plans::evaluated_for_report(
        state,
        &info,
        &unit_ask.unit,
        &current,
        &changes,
    )
    .await?;
    let province_inputs: Vec<ProvinceInput<'_>> = provinces
        .iter()
        .map(|p| ProvinceInput {
            unit: &p.unit,
            current: &p.current,
            previous: p.previous.as_ref(),
            rank: p.rank,
            previous_rank: p.previous_rank,
        })
        .collect();
    let title = match lang {
        Lang::Vi => info.round.title_vi.clone(),
        Lang::En => info
            .round
            .title_en
            .clone()
            .unwrap_or_else(|| info.round.title_vi.clone()),
    };
    Ok(report::build(Inputs {
        lang,
        round: &info.round.code,
        round_title: &title,
        with,
        questionnaire: &info.definition.questionnaire,
        perception_section: PERCEPTION_SECTION,
        expectations_question: EXPECTATIONS_QUESTION,
        unit: &unit_ask.unit,
        current: &current,
        previous: previous.as_ref(),
        changes: &changes,
        provinces: &province_inputs,
        subunits: &subunits,
        subunit_level: Some(sub_level),
        sample,
        targets,
        tasks,
    }))
}

/// A province's row of the league table, owned.
struct ProvinceRow {
    unit: UnitRef,
    current: Estimates,
    previous: Option<Estimates>,
    rank: Option<u32>,
    previous_rank: Option<u32>,
}

/// The sample of `unit`: forms, villages and communes from the village stats the estimates use,
/// the dates its counted forms were first and last received.
async fn sample_of(
    state: &AppState,
    data: &RoundStats,
    unit: &UnitRef,
) -> Result<Sample, ApiError> {
    let inside: Vec<&reports::Village> = data
        .villages
        .iter()
        .filter(|v| reports::contains(unit, v))
        .collect();
    let communes: std::collections::BTreeSet<&str> =
        inside.iter().map(|v| v.path.commune.as_str()).collect();
    let n_forms: u64 = inside.iter().map(|v| u64::from(v.stats.n_forms())).sum();
    let counted = crate::review::Counted::of_round(&state.db, &data.round.code).await?;
    let base = || {
        let q = form::Entity::find()
            .filter(form::Column::RoundCode.eq(data.round.code.clone()))
            .filter(form::Column::Status.is_in(counted.statuses()));
        match unit.level {
            UnitLevel::Province => q.filter(form::Column::ProvinceCode.eq(unit.code.clone())),
            _ => q,
        }
    };
    let date_of = |at: Option<time::OffsetDateTime>| at.map(|at| at.date().to_string());
    let first = base()
        .select_only()
        .column(form::Column::ReceivedAt)
        .order_by_asc(form::Column::ReceivedAt)
        .limit(1)
        .into_tuple::<time::OffsetDateTime>()
        .one(&state.db)
        .await?;
    let last = base()
        .select_only()
        .column(form::Column::ReceivedAt)
        .order_by_desc(form::Column::ReceivedAt)
        .limit(1)
        .into_tuple::<time::OffsetDateTime>()
        .one(&state.db)
        .await?;
    Ok(Sample {
        n_forms,
        n_villages: inside.len() as u64,
        n_communes: communes.len() as u64,
        first: date_of(first),
        last: date_of(last),
    })
}
