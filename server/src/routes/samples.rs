//! The sample of a round: its design, the provinces' frames and the draws.
//!
//! - `GET|PUT /rounds/{round}/design`: the design (set by the ministry, before any draw);
//! - `PUT /rounds/{round}/frames/{province}/villages` and `.../households` (`text/csv`): the
//!   frames, all or nothing, idempotent; `GET /rounds/{round}/frames/{province}`;
//! - `POST /rounds/{round}/samples`: draw a province; `GET /rounds/{round}/samples[?province=]`:
//!   the draws, history included; `GET /rounds/{round}/samples/{id}`: one draw with its units and
//!   households.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::find_round;
use crate::{
    audit::Actor,
    auth::{AuthUser, extract::ClientIp, policy},
    entities::{round, round_design, sample_draw, sample_household, sample_unit},
    error::{ApiError, ApiJson, ApiPath, ApiQuery, FieldError},
    routes::openapi::Failure,
    sampling::{
        Design, StageLevel, Strata,
        draw::ALGORITHM,
        frame::{self, FrameError},
        store::{self, DrawRequest, SampleError, UploadOutcome},
    },
    state::AppState,
    text::{check_field, rfc3339},
};

/// `/rounds/{round}/design`, `/rounds/{round}/frames...`, `/rounds/{round}/samples...`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_design, set_design))
        .routes(routes!(get_frame))
        .routes(routes!(upload_villages))
        .routes(routes!(upload_households))
        .routes(routes!(list_samples, draw_sample))
        .routes(routes!(get_sample))
}

/// The largest seed: the largest integer every JSON client reads exactly (2^53 − 1).
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// Longest reason for a redraw.
pub const MAX_REASON: usize = 500;

fn geography_of(r: &round::Model) -> Result<&'static ::geography::Geography, ApiError> {
    ::geography::by_code(&r.geography_code).ok_or_else(|| {
        ApiError::internal(format!(
            "round {} has unknown geography {}",
            r.code, r.geography_code
        ))
    })
}

/// The province, checked to be one of the round's geography.
fn check_province(geo: &::geography::Geography, province: &str) -> Result<(), ApiError> {
    match geo.unit(province) {
        Some(u) if u.level == ::geography::Level::Province => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_province",
            format!("Không có tỉnh mã {province} trong địa giới của đợt khảo sát."),
            format!("No province {province} in the round's geography."),
        )),
    }
}

fn sample_error(e: SampleError) -> ApiError {
    match e {
        SampleError::Db(e) => ApiError::internal(e),
        SampleError::DesignLocked => ApiError::new(
            StatusCode::CONFLICT,
            "design_locked",
            "Đợt khảo sát đã có mẫu được chọn: không đổi được thiết kế mẫu.",
            "The round already has draws: its design can no longer change.",
        ),
        SampleError::NoDesign => ApiError::new(
            StatusCode::CONFLICT,
            "no_design",
            "Đợt khảo sát chưa có thiết kế mẫu.",
            "The round has no sampling design.",
        ),
        SampleError::BadDesign => ApiError::new(
            StatusCode::CONFLICT,
            "design_invalid",
            "Thiết kế mẫu của đợt khảo sát không hợp lệ.",
            "The round's sampling design is not valid.",
        ),
        SampleError::EmptyFrame => ApiError::new(
            StatusCode::CONFLICT,
            "frame_empty",
            "Tỉnh chưa tải lên danh sách thôn.",
            "The province has no village list.",
        ),
        SampleError::MissingHouseholds(m) => {
            let villages: Vec<VillageRef> = m
                .into_iter()
                .map(|(commune_code, village_code)| VillageRef {
                    commune_code,
                    village_code,
                })
                .collect();
            ApiError::new(
                StatusCode::CONFLICT,
                "household_lists_missing",
                format!(
                    "{} thôn được chọn chưa có danh sách hộ: tải lên rồi chọn lại với cùng hạt giống (sẽ ra cùng các thôn).",
                    villages.len()
                ),
                format!(
                    "{} selected villages have no household list: upload them and draw again with the same seed (the same villages come out).",
                    villages.len()
                ),
            )
            .with_extra(
                "villages",
                serde_json::to_value(villages).unwrap_or_default(),
            )
        }
        SampleError::InUse(id) => ApiError::new(
            StatusCode::CONFLICT,
            "sample_in_use",
            "Đã có phiếu cho mẫu này: không chọn lại được.",
            "Forms have arrived for this sample: it can no longer be redrawn.",
        )
        .with_extra("draw_id", id),
        SampleError::RedrawNeedsMinistry => ApiError::new(
            StatusCode::FORBIDDEN,
            "redraw_needs_ministry",
            "Tỉnh đã có mẫu: chỉ Bộ Nội vụ được chọn lại.",
            "The province already has a sample: only the ministry may draw again.",
        ),
        SampleError::ReasonRequired => ApiError::validation(vec![FieldError::new(
            "reason",
            "required",
            "Chọn lại mẫu phải nêu lý do.",
            "A redraw needs a reason.",
        )]),
        SampleError::Concurrent => ApiError::new(
            StatusCode::CONFLICT,
            "draw_conflict",
            "Một lần chọn mẫu khác cho tỉnh này vừa được lưu; hãy xem lại.",
            "Another draw for this province was stored at the same moment; look again.",
        ),
    }
}

fn frame_error(e: FrameError) -> ApiError {
    match e {
        FrameError::Format(msg) => ApiError::bad_request(
            "frame_format",
            format!("Tệp CSV không đúng dạng: {msg}"),
            format!("The CSV file is not in the expected form: {msg}"),
        ),
        FrameError::Empty => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "frame_no_lines",
            "Tệp không có dòng dữ liệu nào.",
            "The file has no data line.",
        ),
        FrameError::BadLines(lines) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "frame_invalid",
            format!("{} dòng sai; không lưu gì.", lines.len()),
            format!("{} bad line(s); nothing was stored.", lines.len()),
        )
        .with_extra("lines", serde_json::to_value(&lines).unwrap_or_default()),
    }
}

/// A village named in an error.
#[derive(Debug, Serialize, ToSchema)]
struct VillageRef {
    commune_code: String,
    village_code: String,
}

/// A round's design as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DesignView {
    round: String,
    /// Whether a design is recorded (`false`: none is, and `design` is the one assumed).
    recorded: bool,
    design: Design,
    /// Level of the first stage's units: the primary sampling units.
    psu: Option<StageLevel>,
    strata: Strata,
    set_by: Option<String>,
    set_at: Option<String>,
}

fn design_view(r: &round::Model, d: Option<(Design, round_design::Model)>) -> DesignView {
    let (recorded, design, set_by, set_at) = match d {
        Some((d, row)) => (true, d, Some(row.set_by), rfc3339(&row.set_at)),
        None => (false, assumed_design(r), None, None),
    };
    DesignView {
        round: r.code.clone(),
        recorded,
        psu: design.psu_level(),
        strata: design.strata,
        design,
        set_by,
        set_at,
    }
}

/// The design assumed for a round with none recorded: the SIPAS design of its geography.
pub fn assumed_design(r: &round::Model) -> Design {
    if r.geography_code == ::geography::VN_2023 {
        Design::sipas_2023()
    } else {
        Design::sipas_2025()
    }
}

/// The round's design (any signed-in user: the design is no secret).
#[utoipa::path(get, path = "/rounds/{round}/design", tag = "samples", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), security(("bearer" = [])),
    responses((status = OK, body = DesignView), Failure))]
#[tracing::instrument(skip_all, fields(round = %code))]
async fn get_design(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<DesignView>, ApiError> {
    let r = find_round(&state, &code).await?;
    let d = store::design_of(&state.db, &code).await?;
    Ok(Json(design_view(&r, d)))
}

/// Sets the round's design: the ministry, before any draw.
#[utoipa::path(put, path = "/rounds/{round}/design", tag = "samples", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), request_body = Design, security(("bearer" = [])),
    responses((status = OK, body = DesignView), Failure))]
#[tracing::instrument(skip_all, fields(round = %code, user = %user.username))]
async fn set_design(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(code): ApiPath<String>,
    ApiJson(design): ApiJson<Design>,
) -> Result<Json<DesignView>, ApiError> {
    policy::can_set_design(&user)?;
    let r = find_round(&state, &code).await?;
    design
        .validate(geography_of(&r)?)
        .map_err(ApiError::validation)?;
    let row = store::set_design(&state.db, &code, &design, &Actor::user(&user, ip))
        .await
        .map_err(sample_error)?;
    Ok(Json(design_view(&r, Some((design, row)))))
}

/// The CSV text of an upload: `text/csv` (or `text/plain`), UTF-8.
pub(crate) fn csv_text(headers: &HeaderMap, body: &Bytes) -> Result<String, ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == "text" && matches!(m.subtype().as_str(), "csv" | "plain"));
    if !ok {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Gửi tệp CSV với Content-Type: text/csv.",
            "Send the CSV file with Content-Type: text/csv.",
        ));
    }
    String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::bad_request(
            "invalid_encoding",
            format!(
                "Tệp không phải UTF-8 (byte {}): lưu lại tệp với mã UTF-8.",
                e.utf8_error().valid_up_to()
            ),
            format!(
                "The file is not UTF-8 (byte {}): save it as UTF-8.",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// What an upload did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    round: String,
    province: String,
    /// `villages` or `households`.
    list: &'static str,
    /// `false` when the same list was stored already: nothing was written.
    changed: bool,
    villages: u64,
    households: u64,
    villages_changed: u64,
}

fn upload_view(round: &str, province: &str, list: &'static str, o: UploadOutcome) -> UploadView {
    UploadView {
        round: round.to_owned(),
        province: province.to_owned(),
        list,
        changed: o.changed,
        villages: o.villages,
        households: o.households,
        villages_changed: o.villages_changed,
    }
}

/// Uploads the province's village list (columns `commune_code,village_code,village_name,households`,
/// optionally `latitude,longitude` of the village, which checks forms' GPS points), replacing the
/// one before.
#[utoipa::path(put, path = "/rounds/{round}/frames/{province}/villages", tag = "samples", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ("province" = String, Path, description = "Province code", example = "12")),
    request_body(content = String, content_type = "text/csv", description = "commune_code,village_code,village_name,households[,latitude,longitude]"), security(("bearer" = [])),
    responses((status = OK, body = UploadView), Failure))]
#[tracing::instrument(skip_all, fields(round = %round_code, province = %province, user = %user.username))]
async fn upload_villages(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, province)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<UploadView>, ApiError> {
    let r = find_round(&state, &round_code).await?;
    let geo = geography_of(&r)?;
    check_province(geo, &province)?;
    policy::can_upload_frame(&user, geo.code, &province)?;
    let text = csv_text(&headers, &body)?;
    let villages = frame::parse_villages(geo, &province, &text).map_err(frame_error)?;
    let o = store::upload_villages(
        &state.db,
        &round_code,
        &province,
        &villages,
        &Actor::user(&user, ip),
    )
    .await?;
    Ok(Json(upload_view(&round_code, &province, "villages", o)))
}

/// Uploads household lists (columns `commune_code,village_code,household_ref,head_name`): each
/// village in the file gets exactly its lines; the villages must be in the province's list.
#[utoipa::path(put, path = "/rounds/{round}/frames/{province}/households", tag = "samples", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ("province" = String, Path, description = "Province code", example = "12")),
    request_body(content = String, content_type = "text/csv", description = "A household list per village (see the README)."), security(("bearer" = [])),
    responses((status = OK, body = UploadView), Failure))]
#[tracing::instrument(skip_all, fields(round = %round_code, province = %province, user = %user.username))]
async fn upload_households(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath((round_code, province)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<UploadView>, ApiError> {
    let r = find_round(&state, &round_code).await?;
    let geo = geography_of(&r)?;
    check_province(geo, &province)?;
    policy::can_upload_frame(&user, geo.code, &province)?;
    let text = csv_text(&headers, &body)?;
    let known = store::village_keys(&state.db, &round_code, &province).await?;
    let lists = frame::parse_households(&known, &text).map_err(frame_error)?;
    let o = store::upload_households(
        &state.db,
        &round_code,
        &province,
        &lists,
        &Actor::user(&user, ip),
    )
    .await?;
    Ok(Json(upload_view(&round_code, &province, "households", o)))
}

/// A listed village.
#[derive(Debug, Serialize, ToSchema)]
pub struct FrameVillageView {
    commune_code: String,
    district_code: Option<String>,
    village_code: String,
    village_name: String,
    households: i64,
    /// Households in its uploaded household list (0: none yet).
    households_listed: i64,
    /// Where it is (WGS 84 degrees), when the list gives it.
    latitude: Option<f64>,
    /// See `latitude`.
    longitude: Option<f64>,
}

/// A province's frame.
#[derive(Debug, Serialize, ToSchema)]
pub struct FrameView {
    round: String,
    province: String,
    villages: Vec<FrameVillageView>,
    /// Villages with a household list.
    villages_with_households: u64,
}

/// The province's frame: its villages and how many households each lists.
#[utoipa::path(get, path = "/rounds/{round}/frames/{province}", tag = "samples", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ("province" = String, Path, description = "Province code", example = "12")), security(("bearer" = [])),
    responses((status = OK, body = FrameView), Failure))]
#[tracing::instrument(skip_all, fields(round = %round_code, province = %province))]
async fn get_frame(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((round_code, province)): ApiPath<(String, String)>,
) -> Result<Json<FrameView>, ApiError> {
    let r = find_round(&state, &round_code).await?;
    let geo = geography_of(&r)?;
    check_province(geo, &province)?;
    policy::can_read_sample(&user, geo.code, &province)?;
    let rows = store::frame_villages(&state.db, &round_code, &province).await?;
    Ok(Json(FrameView {
        round: round_code,
        province,
        villages_with_households: rows.iter().filter(|v| v.households_listed > 0).count() as u64,
        villages: rows
            .into_iter()
            .map(|v| FrameVillageView {
                commune_code: v.commune_code,
                district_code: v.district_code,
                village_code: v.village_code,
                village_name: v.village_name,
                households: v.households,
                households_listed: v.households_listed,
                latitude: v.latitude,
                longitude: v.longitude,
            })
            .collect(),
    }))
}

/// A draw request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawBody {
    /// Province code of the round's geography.
    province: String,
    /// The seed (0 to 2^53 − 1): announce it before the draw, and anyone can check the sample.
    seed: u64,
    /// Why the province is drawn again (required for a redraw).
    #[serde(default)]
    reason: Option<String>,
}

/// An exact probability.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbabilityView {
    num: i64,
    den: i64,
    value: f64,
}

fn prob(num: i64, den: i64) -> ProbabilityView {
    ProbabilityView {
        num,
        den,
        value: num as f64 / den.max(1) as f64,
    }
}

/// A drawn area unit.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SampleUnitView)]
pub struct UnitView {
    /// Stage index (0: the first stage, whose units are the PSUs).
    stage: i32,
    level: String,
    code: String,
    name: Option<String>,
    /// The unit it was drawn under (the province for the first stage; a village's commune).
    parent_code: String,
    /// 1-based order among the units drawn under the same parent.
    order: i32,
    certainty: bool,
    /// Households of its listed villages.
    size: i64,
    /// Probability at this stage, given the parent.
    stage_probability: ProbabilityView,
    /// Probability of being in the sample.
    inclusion_probability: f64,
}

/// A drawn household.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SampleHouseholdView)]
pub struct HouseholdView {
    commune_code: String,
    village_code: String,
    household_ref: String,
    head_name: String,
    /// 1-based order among the main households of the village, or among its reserves.
    order: i32,
    /// A reserve, used in order when a main household refuses.
    reserve: bool,
    stage_probability: ProbabilityView,
    inclusion_probability: f64,
    /// Design weight: `1 / inclusion_probability`.
    weight: f64,
}

/// A draw without its units.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawSummary {
    id: i64,
    round: String,
    province: String,
    seed: i64,
    algorithm: String,
    /// `active` or `superseded`.
    status: String,
    reason: Option<String>,
    /// The draw this one replaced.
    replaces: Option<i64>,
    drawn_by: String,
    drawn_at: Option<String>,
    superseded_by: Option<String>,
    superseded_at: Option<String>,
    /// Hash of the frame drawn from.
    frame_hash: String,
}

fn summary(d: &sample_draw::Model) -> DrawSummary {
    DrawSummary {
        id: d.id,
        round: d.round_code.clone(),
        province: d.province_code.clone(),
        seed: d.seed,
        algorithm: d.algorithm.clone(),
        status: d.status.clone(),
        reason: d.reason.clone(),
        replaces: d.replaces,
        drawn_by: d.drawn_by.clone(),
        drawn_at: rfc3339(&d.drawn_at),
        superseded_by: d.superseded_by.clone(),
        superseded_at: d.superseded_at.as_ref().and_then(rfc3339),
        frame_hash: d.frame_hash.clone(),
    }
}

/// A draw with everything drawn.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawView {
    #[serde(flatten)]
    draw: DrawSummary,
    /// The design drawn with.
    design: Option<Design>,
    /// Whether forms arrived for it (it can no longer be redrawn).
    used: bool,
    units: Vec<UnitView>,
    households: Vec<HouseholdView>,
}

async fn draw_view(
    state: &AppState,
    geo: &::geography::Geography,
    d: sample_draw::Model,
) -> Result<DrawView, ApiError> {
    let units = store::sample_units(&state.db, d.id).await?;
    let households = store::sample_households(&state.db, d.id).await?;
    let used = store::is_used(&state.db, &d).await?;
    Ok(DrawView {
        design: serde_json::from_str(&d.design).ok(),
        draw: summary(&d),
        used,
        units: units
            .into_iter()
            .map(|u: sample_unit::Model| UnitView {
                name: u
                    .name
                    .clone()
                    .or_else(|| geo.unit(&u.unit_code).map(|g| g.full_name())),
                stage: u.stage,
                level: u.level,
                code: u.unit_code,
                parent_code: u.parent_code,
                order: u.ord,
                certainty: u.certainty,
                size: u.size,
                stage_probability: prob(u.prob_num, u.prob_den),
                inclusion_probability: u.inclusion_probability,
            })
            .collect(),
        households: households
            .into_iter()
            .map(|h: sample_household::Model| HouseholdView {
                commune_code: h.commune_code,
                village_code: h.village_code,
                household_ref: h.household_ref,
                head_name: h.head_name,
                order: h.ord,
                reserve: h.reserve,
                stage_probability: prob(h.prob_num, h.prob_den),
                inclusion_probability: h.inclusion_probability,
                weight: h.weight,
            })
            .collect(),
    })
}

/// Draws a province's sample with a seed (`sipas-draw-1`). A province that has one is drawn again
/// only by the ministry, with a reason, while no forms arrived for it; the old draw is kept.
#[utoipa::path(post, path = "/rounds/{round}/samples", tag = "samples", params(("round" = String, Path, description = "Round code", example = "sipas-2025")), request_body = DrawBody, security(("bearer" = [])),
    responses((status = CREATED, body = DrawView), Failure))]
#[tracing::instrument(skip_all, fields(round = %round_code, user = %user.username))]
async fn draw_sample(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    ApiPath(round_code): ApiPath<String>,
    ApiJson(body): ApiJson<DrawBody>,
) -> Result<(StatusCode, Json<DrawView>), ApiError> {
    let r = find_round(&state, &round_code).await?;
    let geo = geography_of(&r)?;
    check_province(geo, &body.province)?;
    policy::can_draw_sample(&user, geo.code, &body.province)?;
    let mut errors = Vec::new();
    if body.seed > MAX_SEED {
        errors.push(FieldError::new(
            "seed",
            "out_of_range",
            format!("Tối đa {MAX_SEED}."),
            format!("At most {MAX_SEED}."),
        ));
    }
    if let Some(reason) = &body.reason {
        check_field("reason", reason, MAX_REASON, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let req = DrawRequest {
        round: &round_code,
        province: &body.province,
        seed: body.seed,
        reason: body.reason.as_deref(),
        ministry: policy::may_redraw(&user),
    };
    let d = store::create_draw(&state.db, &req, &Actor::user(&user, ip))
        .await
        .map_err(sample_error)?;
    tracing::info!(draw = d.id, province = %d.province_code, seed = d.seed, algorithm = ALGORITHM, "drew a sample");
    Ok((StatusCode::CREATED, Json(draw_view(&state, geo, d).await?)))
}

/// Filters for listing draws.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SampleQuery {
    /// Only this province's draws.
    province: Option<String>,
}

/// The round's draws.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawList {
    draws: Vec<DrawSummary>,
}

/// The round's draws (newest first per province, superseded ones included), those of the
/// provinces the caller may read.
#[utoipa::path(get, path = "/rounds/{round}/samples", tag = "samples", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), SampleQuery), security(("bearer" = [])),
    responses((status = OK, body = DrawList), Failure))]
#[tracing::instrument(skip_all, fields(round = %round_code))]
async fn list_samples(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(round_code): ApiPath<String>,
    ApiQuery(q): ApiQuery<SampleQuery>,
) -> Result<Json<DrawList>, ApiError> {
    let r = find_round(&state, &round_code).await?;
    let geo = geography_of(&r)?;
    if let Some(p) = &q.province {
        check_province(geo, p)?;
        policy::can_read_sample(&user, geo.code, p)?;
    } else {
        policy::require_role(
            &user,
            &[
                policy::Role::Ministry,
                policy::Role::Supervisor,
                policy::Role::ProvinceReviewer,
            ],
        )?;
    }
    let draws = store::list_draws(&state.db, &round_code, q.province.as_deref()).await?;
    Ok(Json(DrawList {
        draws: draws
            .iter()
            .filter(|d| policy::can_read_sample(&user, geo.code, &d.province_code).is_ok())
            .map(summary)
            .collect(),
    }))
}

/// One draw with its units and households.
#[utoipa::path(get, path = "/rounds/{round}/samples/{id}", tag = "samples", params(("round" = String, Path, description = "Round code", example = "sipas-2025"), ("id" = i64, Path, description = "Draw id")), security(("bearer" = [])),
    responses((status = OK, body = DrawView), Failure))]
#[tracing::instrument(skip_all, fields(round = %round_code, draw = id))]
async fn get_sample(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((round_code, id)): ApiPath<(String, i64)>,
) -> Result<Json<DrawView>, ApiError> {
    let r = find_round(&state, &round_code).await?;
    let geo = geography_of(&r)?;
    policy::require_role(
        &user,
        &[
            policy::Role::Ministry,
            policy::Role::Supervisor,
            policy::Role::ProvinceReviewer,
        ],
    )?;
    let d = store::find_draw(&state.db, &round_code, id)
        .await?
        .ok_or_else(|| ApiError::not_found("lần chọn mẫu", "Sample draw"))?;
    policy::can_read_sample(&user, geo.code, &d.province_code)?;
    Ok(Json(draw_view(&state, geo, d).await?))
}
