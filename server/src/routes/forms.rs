//! Reading forms, filtered by the access policy: the ministry sees all, a reviewer or supervisor
//! their scope, an enumerator their own. A form outside the caller's view is "not found".

use axum::{Json, extract::State};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::{AuthUser, policy},
    entities::{form, round},
    error::{ApiError, ApiPath, ApiQuery},
    registry,
    routes::openapi::Failure,
    state::AppState,
    text::rfc3339,
};

/// `/rounds/{round}/forms`, `/forms/{id}`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_forms))
        .routes(routes!(get_form))
}

/// Filters and paging of the form list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FormQuery {
    /// Only forms inside this unit (province, district or commune code of the round's geography).
    unit: Option<String>,
    /// Only forms in this state (`accepted`, `rejected`, ...).
    status: Option<String>,
    /// Page cursor: forms after this sequence number (from `next_after`).
    after: Option<i64>,
    /// Page size, 1–1000 (default 100).
    limit: Option<u64>,
}

/// The questionnaire version a form was filled on.
#[derive(Serialize, ToSchema)]
struct FormQuestionnaire {
    /// Code.
    code: String,
    /// Version.
    version: i32,
}

/// The units a form was collected in.
#[derive(Serialize, ToSchema)]
struct FormUnitsView {
    /// Province code.
    province: String,
    /// District code (geographies with districts).
    district: Option<String>,
    /// Commune code.
    commune: String,
    /// Village code.
    village: String,
}

/// A stored form; with its answers when read on its own.
#[derive(Serialize, ToSchema)]
struct FormView {
    /// The form's id (chosen by the device).
    id: Uuid,
    /// Order of arrival on the server.
    seq: i64,
    /// Round code.
    round: String,
    /// Questionnaire version.
    questionnaire: FormQuestionnaire,
    /// Units down to the village.
    units: FormUnitsView,
    /// The household's reference in the village frame.
    household_ref: String,
    /// `accepted`, `rejected`, ...
    status: String,
    /// Revision held.
    revision: i32,
    /// SHA-256 of the submission's canonical JSON.
    content_hash: String,
    /// The device that sent it.
    device_id: Option<String>,
    /// The user who sent it.
    submitted_by: Option<i64>,
    /// Device clock, RFC 3339.
    started_at: Option<String>,
    /// Device clock, RFC 3339.
    finished_at: Option<String>,
    /// Server clock, RFC 3339.
    received_at: Option<String>,
    /// Last change on the server (a new revision, a review), RFC 3339.
    updated_at: Option<String>,
    /// Sent by an enumerator with assignments in the round, for a household outside them.
    unassigned: bool,
    /// Another form of the round was already held for the same household when it arrived.
    duplicate_household: bool,
    /// Answers keyed by question code (only when one form is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    answers: Option<serde_json::Map<String, serde_json::Value>>,
    /// Its field-quality signals, for the reviewer deciding on it (only when one form is read,
    /// by a supervisor, a reviewer or the ministry; measured among its province's forms with the
    /// round's thresholds, as `GET .../quality?unit=<province>&level=form` lists them). Absent
    /// for a form stored before its measures were.
    #[serde(skip_serializing_if = "Option::is_none")]
    signals: Option<Vec<crate::quality::Signal>>,
}

/// A page of forms.
#[derive(Serialize, ToSchema)]
struct FormList {
    /// Round code.
    round: String,
    /// Forms matching, in all pages.
    total: u64,
    /// This page, oldest first.
    forms: Vec<FormView>,
    /// Cursor of the next page (`after`), absent on the last.
    next_after: Option<i64>,
}

fn summary(f: &form::Model) -> FormView {
    FormView {
        id: f.id,
        seq: f.seq,
        round: f.round_code.clone(),
        questionnaire: FormQuestionnaire {
            code: f.questionnaire_code.clone(),
            version: f.questionnaire_version,
        },
        units: FormUnitsView {
            province: f.province_code.clone(),
            district: f.district_code.clone(),
            commune: f.commune_code.clone(),
            village: f.village_code.clone(),
        },
        household_ref: f.household_ref.clone(),
        status: f.status.clone(),
        revision: f.revision,
        content_hash: f.content_hash.clone(),
        device_id: f.device_id.clone(),
        submitted_by: f.submitted_by,
        started_at: f.started_at.as_ref().and_then(rfc3339),
        finished_at: f.finished_at.as_ref().and_then(rfc3339),
        received_at: rfc3339(&f.received_at),
        updated_at: rfc3339(&f.updated_at),
        unassigned: f.unassigned,
        duplicate_household: f.duplicate_household,
        answers: None,
        signals: None,
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

/// The forms of a round the caller may read, optionally inside one unit, oldest first, paged by
/// `after`.
#[utoipa::path(get, path = "/rounds/{round}/forms", tag = "forms",
    params(("round" = String, Path, description = "Round code", example = "sipas-2025"), FormQuery),
    security(("bearer" = [])), responses((status = OK, body = FormList), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn list_forms(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<FormQuery>,
) -> Result<Json<FormList>, ApiError> {
    let r = round::Entity::find_by_id(round_code.clone())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("đợt khảo sát", "Survey round"))?;
    let mut cond = Condition::all()
        .add(form::Column::RoundCode.eq(&round_code))
        .add(policy::readable_forms(&me, &r.geography_code));
    if let Some(unit) = q.unit.as_deref().filter(|u| !u.is_empty()) {
        let uc = unit_condition(&r.geography_code, unit)
            .ok_or_else(|| ApiError::not_found("đơn vị hành chính", "Administrative unit"))?;
        policy::require_unit(&me, &r.geography_code, unit)?;
        cond = cond.add(uc);
    }
    if let Some(s) = &q.status {
        cond = cond.add(form::Column::Status.eq(s.clone()));
    }
    let select = form::Entity::find().filter(cond.clone());
    let total = select.clone().count(&state.db).await?;
    let mut page = select;
    if let Some(after) = q.after {
        page = page.filter(form::Column::Seq.gt(after));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = page
        .order_by_asc(form::Column::Seq)
        .limit(limit)
        .all(&state.db)
        .await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|f| f.seq))
        .flatten();
    Ok(Json(FormList {
        round: round_code,
        total,
        forms: rows.iter().map(summary).collect(),
        next_after: next,
    }))
}

/// The form of this id if the caller may read it; 404 otherwise, so that a form's existence does
/// not leak across scopes.
pub(crate) async fn find_readable(
    state: &AppState,
    me: &AuthUser,
    id: Uuid,
) -> Result<form::Model, ApiError> {
    let not_found = || ApiError::not_found("phiếu khảo sát", "Form");
    let f = form::Entity::find()
        .filter(form::Column::Id.eq(id))
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let r = round::Entity::find_by_id(f.round_code.clone())
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let visible = form::Entity::find()
        .filter(form::Column::Seq.eq(f.seq))
        .filter(policy::readable_forms(me, &r.geography_code))
        .count(&state.db)
        .await?
        > 0;
    if visible { Ok(f) } else { Err(not_found()) }
}

/// One form with its answers, if the caller may read it (404 otherwise, so a form's existence does
/// not leak across scopes).
#[utoipa::path(get, path = "/forms/{id}", tag = "forms",
    params(("id" = Uuid, Path, description = "Form id")),
    security(("bearer" = [])), responses((status = OK, body = FormView), Failure))]
#[tracing::instrument(skip_all, fields(user = %me.username, form = %id))]
async fn get_form(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<FormView>, ApiError> {
    let f = find_readable(&state, &me, id).await?;
    let qv = registry::find(&state.db, &f.questionnaire_code, f.questionnaire_version)
        .await?
        .ok_or_else(|| ApiError::internal("questionnaire version of a stored form is missing"))?;
    let q: schema::Questionnaire =
        serde_json::from_str(&qv.definition).map_err(ApiError::internal)?;
    let answers = schema::ValidAnswers::decode(&q, &f.answers)
        .map_err(|e| ApiError::internal(format!("stored answers do not decode: {e}")))?
        .to_json();
    let mut body = summary(&f);
    body.answers = Some(answers);
    // Enumerators are not shown what flags a form: signals guide review, not the filling in.
    if policy::can_read_quality(&me).is_ok() {
        body.signals = crate::quality::store::signals_of_form(&state.db, &f).await?;
    }
    Ok(Json(body))
}
