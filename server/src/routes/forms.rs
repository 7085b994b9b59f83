//! Reading forms, filtered by the access policy: the ministry sees all, a reviewer or supervisor
//! their scope, an enumerator their own. A form outside the caller's view is "not found".

use axum::{Json, Router, extract::State, routing::get};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    auth::{AuthUser, policy},
    entities::{form, round},
    error::{ApiError, ApiPath, ApiQuery},
    registry,
    state::AppState,
    text::rfc3339,
};

/// `/rounds/{round}/forms`, `/forms/{id}`
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rounds/{round}/forms", get(list_forms))
        .route("/forms/{id}", get(get_form))
}

#[derive(Deserialize)]
struct FormQuery {
    /// Only forms inside this unit (province, district or commune code of the round's geography).
    unit: Option<String>,
    status: Option<String>,
    /// Page cursor: forms after this sequence number.
    after: Option<i64>,
    limit: Option<u64>,
}

fn summary(f: &form::Model) -> Value {
    json!({
        "id": f.id,
        "seq": f.seq,
        "round": f.round_code,
        "questionnaire": { "code": f.questionnaire_code, "version": f.questionnaire_version },
        "units": {
            "province": f.province_code,
            "district": f.district_code,
            "commune": f.commune_code,
            "village": f.village_code,
        },
        "household_ref": f.household_ref,
        "status": f.status,
        "revision": f.revision,
        "content_hash": f.content_hash,
        "device_id": f.device_id,
        "submitted_by": f.submitted_by,
        "started_at": f.started_at.as_ref().and_then(rfc3339),
        "finished_at": f.finished_at.as_ref().and_then(rfc3339),
        "received_at": rfc3339(&f.received_at),
        "updated_at": rfc3339(&f.updated_at),
        "unassigned": f.unassigned,
        "duplicate_household": f.duplicate_household,
    })
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
#[tracing::instrument(skip_all, fields(user = %me.username, round = %round_code))]
async fn list_forms(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<FormQuery>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "round": round_code,
        "total": total,
        "forms": rows.iter().map(summary).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

/// One form with its answers, if the caller may read it (404 otherwise, so a form's existence does
/// not leak across scopes).
#[tracing::instrument(skip_all, fields(user = %me.username, form = %id))]
async fn get_form(
    State(state): State<AppState>,
    me: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Value>, ApiError> {
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
        .filter(policy::readable_forms(&me, &r.geography_code))
        .count(&state.db)
        .await?
        > 0;
    if !visible {
        return Err(not_found());
    }
    let qv = registry::find(&state.db, &f.questionnaire_code, f.questionnaire_version)
        .await?
        .ok_or_else(|| ApiError::internal("questionnaire version of a stored form is missing"))?;
    let q: schema::Questionnaire =
        serde_json::from_str(&qv.definition).map_err(ApiError::internal)?;
    let answers = schema::ValidAnswers::decode(&q, &f.answers)
        .map_err(|e| ApiError::internal(format!("stored answers do not decode: {e}")))?
        .to_json();
    let mut body = summary(&f);
    body["answers"] = Value::Object(answers);
    Ok(Json(body))
}
