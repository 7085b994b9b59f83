//! Administrative geographies: list them, list and search their units, read one unit with its
//! ancestors and its successors or predecessors in other geographies.

use axum::{Json, extract::State};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait, LikeExpr},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    entities::{geo_successor, geo_unit, geography},
    error::{ApiError, ApiPath, ApiQuery},
    routes::openapi::Failure,
    state::AppState,
};

/// `/geographies...`
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_geographies))
        .routes(routes!(list_units))
        .routes(routes!(get_unit))
}

/// A unit as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitView {
    /// Official code.
    code: String,
    /// `province`, `district` or `commune`.
    level: String,
    /// The unit's kind (tỉnh, thành phố, huyện, xã, phường, ...).
    #[serde(rename = "type")]
    unit_type: String,
    /// Name with diacritics.
    name: String,
    /// The unit above it.
    parent_code: Option<String>,
}

impl From<geo_unit::Model> for UnitView {
    fn from(m: geo_unit::Model) -> Self {
        UnitView {
            code: m.code,
            level: m.level,
            unit_type: m.unit_type,
            name: m.name,
            parent_code: m.parent_code,
        }
    }
}

/// A geography: a year's list of administrative units.
#[derive(Debug, Serialize, ToSchema)]
struct GeographyView {
    /// `vn-2023`, `vn-2025`.
    code: String,
    /// Name, Vietnamese.
    name_vi: String,
    /// Name, English.
    name_en: Option<String>,
    /// Levels, top first.
    levels: Vec<String>,
    /// Units per level.
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    counts: serde_json::Map<String, serde_json::Value>,
}

/// Every geography.
#[derive(Debug, Serialize, ToSchema)]
struct GeographyList {
    /// By code.
    geographies: Vec<GeographyView>,
}

#[derive(Debug, FromQueryResult)]
struct LevelCount {
    geography_code: String,
    level: String,
    n: i64,
}

/// Every geography with its levels and unit counts per level.
#[utoipa::path(get, path = "/geographies", tag = "geographies", security(()),
    responses((status = OK, body = GeographyList), Failure))]
#[tracing::instrument(skip_all)]
async fn list_geographies(State(state): State<AppState>) -> Result<Json<GeographyList>, ApiError> {
    let geos = geography::Entity::find()
        .order_by_asc(geography::Column::Code)
        .all(&state.db)
        .await?;
    let counts = geo_unit::Entity::find()
        .select_only()
        .column(geo_unit::Column::GeographyCode)
        .column(geo_unit::Column::Level)
        .column_as(Expr::col(geo_unit::Column::Code).count(), "n")
        .group_by(geo_unit::Column::GeographyCode)
        .group_by(geo_unit::Column::Level)
        .into_model::<LevelCount>()
        .all(&state.db)
        .await?;
    let list: Vec<GeographyView> = geos
        .into_iter()
        .map(|g| {
            let levels: Vec<String> = serde_json::from_str(&g.levels).unwrap_or_default();
            let mut map = serde_json::Map::new();
            for l in &levels {
                let n = counts
                    .iter()
                    .find(|c| c.geography_code == g.code && &c.level == l)
                    .map_or(0, |c| c.n);
                map.insert(l.clone(), n.into());
            }
            GeographyView {
                code: g.code,
                name_vi: g.name_vi,
                name_en: g.name_en,
                levels,
                counts: map,
            }
        })
        .collect();
    Ok(Json(GeographyList { geographies: list }))
}

/// Filters for listing units.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UnitQuery {
    /// `province`, `district` or `commune`.
    level: Option<String>,
    /// Only the direct children of this unit.
    parent: Option<String>,
    /// Text to find in the name, ignoring case and diacritics ("lai chau" finds "Lai Châu").
    q: Option<String>,
    /// Page size, 1–5000 (default 100).
    limit: Option<u64>,
    /// Rows to skip (at most 1,000,000,000).
    offset: Option<u64>,
}

/// A page of units.
#[derive(Debug, Serialize, ToSchema)]
struct UnitList {
    /// The geography.
    geography: String,
    /// Units matching, in all pages.
    total: u64,
    /// Page size used.
    limit: u64,
    /// Rows skipped.
    offset: u64,
    /// This page, by code.
    units: Vec<UnitView>,
}

/// One unit in full.
#[derive(Debug, Serialize, ToSchema)]
struct UnitDetail {
    /// The geography.
    geography: String,
    /// The unit.
    unit: UnitView,
    /// Its ancestors, province first.
    ancestors: Vec<UnitView>,
    /// How many units it has directly below it.
    children: u64,
    /// Its successors in later geographies.
    successors: Vec<Link>,
    /// Its predecessors in earlier geographies.
    predecessors: Vec<Link>,
}

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 5000;

async fn require_geography(state: &AppState, geo: &str) -> Result<geography::Model, ApiError> {
    geography::Entity::find_by_id(geo.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("bộ danh mục địa giới", "Geography"))
}

/// Lists or searches the units of a geography, ordered by code, paged.
#[utoipa::path(get, path = "/geographies/{geo}/units", tag = "geographies",
    params(("geo" = String, Path, description = "Geography code", example = "vn-2025"), UnitQuery), security(()),
    responses((status = OK, body = UnitList), Failure))]
#[tracing::instrument(skip_all, fields(geo = %geo))]
async fn list_units(
    State(state): State<AppState>,
    ApiPath(geo): ApiPath<String>,
    ApiQuery(query): ApiQuery<UnitQuery>,
) -> Result<Json<UnitList>, ApiError> {
    let g = require_geography(&state, &geo).await?;
    let levels: Vec<String> = serde_json::from_str(&g.levels).unwrap_or_default();
    let mut cond = Condition::all().add(geo_unit::Column::GeographyCode.eq(&geo));
    if let Some(level) = query.level.as_deref().filter(|s| !s.is_empty()) {
        if !levels.iter().any(|l| l == level) {
            return Err(ApiError::bad_request(
                "invalid_level",
                format!(
                    "Cấp '{level}' không có trong bộ danh mục {geo} (có: {}).",
                    levels.join(", ")
                ),
                format!(
                    "Level '{level}' does not exist in geography {geo} (levels: {}).",
                    levels.join(", ")
                ),
            ));
        }
        cond = cond.add(geo_unit::Column::Level.eq(level));
    }
    if let Some(parent) = query.parent.as_deref().filter(|s| !s.is_empty()) {
        cond = cond.add(geo_unit::Column::ParentCode.eq(parent));
    }
    let folded = query
        .q
        .as_deref()
        .map(::geography::fold)
        .filter(|s| !s.is_empty());
    if let Some(q) = &folded {
        let pattern = format!("%{}%", escape_like(q));
        // A code typed into the search box finds its unit too.
        cond = cond.add(
            Condition::any()
                .add(
                    Expr::col(geo_unit::Column::SearchKey)
                        .like(LikeExpr::new(pattern).escape('\\')),
                )
                .add(geo_unit::Column::Code.eq(q.as_str())),
        );
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = super::offset(query.offset)?;
    let select = geo_unit::Entity::find().filter(cond);
    let total = select.clone().count(&state.db).await?;
    let units: Vec<UnitView> = select
        .order_by_asc(geo_unit::Column::Code)
        .limit(limit)
        .offset(offset)
        .all(&state.db)
        .await?
        .into_iter()
        .map(UnitView::from)
        .collect();
    Ok(Json(UnitList {
        geography: geo,
        total,
        limit,
        offset,
        units,
    }))
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A link to a unit of another geography.
#[derive(Debug, Serialize, ToSchema)]
struct Link {
    /// The other geography.
    geography: String,
    /// The unit's code there.
    code: String,
    /// Its name.
    name: Option<String>,
    /// The link a form's unit follows by default when a unit split.
    is_default: bool,
}

/// One unit with its ancestors (province first), its number of children, and its successors (in a
/// later geography) or predecessors (in an earlier one).
#[utoipa::path(get, path = "/geographies/{geo}/units/{code}", tag = "geographies",
    params(("geo" = String, Path, description = "Geography code", example = "vn-2025"),
           ("code" = String, Path, description = "Unit code", example = "12")), security(()),
    responses((status = OK, body = UnitDetail), Failure))]
#[tracing::instrument(skip_all, fields(geo = %geo, code = %code))]
async fn get_unit(
    State(state): State<AppState>,
    ApiPath((geo, code)): ApiPath<(String, String)>,
) -> Result<Json<UnitDetail>, ApiError> {
    require_geography(&state, &geo).await?;
    let find = |code: String| {
        let db = state.db.clone();
        let geo = geo.clone();
        async move { geo_unit::Entity::find_by_id((geo, code)).one(&db).await }
    };
    let unit = find(code.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("đơn vị hành chính", "Administrative unit"))?;
    let mut ancestors = Vec::new();
    let mut parent = unit.parent_code.clone();
    while let Some(p) = parent {
        match find(p).await? {
            Some(u) => {
                parent = u.parent_code.clone();
                ancestors.push(UnitView::from(u));
            }
            None => break,
        }
    }
    ancestors.reverse();
    let children = geo_unit::Entity::find()
        .filter(geo_unit::Column::GeographyCode.eq(&geo))
        .filter(geo_unit::Column::ParentCode.eq(&code))
        .count(&state.db)
        .await?;
    let successors = links(&state, &geo, &code, true).await?;
    let predecessors = links(&state, &geo, &code, false).await?;
    Ok(Json(UnitDetail {
        geography: geo,
        unit: UnitView::from(unit),
        ancestors,
        children,
        successors,
        predecessors,
    }))
}

async fn links(
    state: &AppState,
    geo: &str,
    code: &str,
    forward: bool,
) -> Result<Vec<Link>, ApiError> {
    use geo_successor::Column as C;
    let (geo_col, code_col) = if forward {
        (C::FromGeography, C::FromCode)
    } else {
        (C::ToGeography, C::ToCode)
    };
    let rows = geo_successor::Entity::find()
        .filter(geo_col.eq(geo))
        .filter(code_col.eq(code))
        .order_by_desc(C::IsDefault)
        .order_by_asc(if forward { C::ToCode } else { C::FromCode })
        .all(&state.db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (g, c) = if forward {
            (r.to_geography, r.to_code)
        } else {
            (r.from_geography, r.from_code)
        };
        let name = geo_unit::Entity::find_by_id((g.clone(), c.clone()))
            .one(&state.db)
            .await?
            .map(|u| u.name);
        out.push(Link {
            geography: g,
            code: c,
            name,
            is_default: r.is_default,
        });
    }
    Ok(out)
}
