//! Index reports: which villages make up a unit, its estimates, a level's league table and the
//! comparison of two rounds — from the per-village stats (`index_stats`), never from the forms.
//!
//! Units are the round geography's provinces, districts and communes, the nation (`VN`) and the
//! villages (`{commune}/{normalised village}`, see [`indices::cluster_key`]). A unit's
//! figures pool the forms of all its villages, design-based from the round's sampling design
//! ([`DesignNote`]): strata = provinces, the first stage's units (districts, or communes) as
//! ultimate clusters, design weights from the province's draw; the national figure is by default
//! the mean over provinces, as published.

use std::{collections::BTreeMap, sync::Arc};

use ::geography::{Geography, Level};
use indices::{
    ClusterKey, ClusterStats, DesignCluster, Estimates, Options, StatsLayout, WeightedCluster,
    estimate_design, mean_of_units,
};
use serde::Serialize;

use crate::{
    entities::round,
    error::ApiError,
    index_stats::VillageStats,
    sampling::{Design, StageLevel, Strata, store::DesignWeights},
};

/// Whether counts on layout `a` mean the same as on `b` (same items with the same scoring, groups,
/// components, choices and level rows), so that they can be pooled or compared; the version number
/// alone does not matter.
pub fn same_shape(a: &StatsLayout, b: &StatsLayout) -> bool {
    a.questionnaire == b.questionnaire
        && a.len() == b.len()
        && a.items == b.items
        && a.groups == b.groups
        && a.components == b.components
        && a.overall == b.overall
        && a.choices == b.choices
        && a.rows == b.rows
}

/// The code of the whole country.
pub const NATION: &str = "VN";

/// The level of a reporting unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitLevel {
    /// The whole country.
    Nation,
    /// Province or centrally-run city.
    Province,
    /// District (geographies before July 2025).
    District,
    /// Commune, ward or special zone.
    Commune,
    /// Village (the survey's cluster).
    Village,
}

impl UnitLevel {
    /// Parses `province`, `district`, `commune`, `village` (the levels a report can list).
    pub fn parse(s: &str) -> Option<UnitLevel> {
        Some(match s {
            "province" => UnitLevel::Province,
            "district" => UnitLevel::District,
            "commune" => UnitLevel::Commune,
            "village" => UnitLevel::Village,
            _ => return None,
        })
    }

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitLevel::Nation => "nation",
            UnitLevel::Province => "province",
            UnitLevel::District => "district",
            UnitLevel::Commune => "commune",
            UnitLevel::Village => "village",
        }
    }

    fn of(level: Level) -> UnitLevel {
        match level {
            Level::Province => UnitLevel::Province,
            Level::District => UnitLevel::District,
            Level::Commune => UnitLevel::Commune,
        }
    }
}

/// A reporting unit as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitRef {
    /// Code (`VN`, a geography code, or `{commune}/{village}`).
    pub code: String,
    /// Level.
    pub level: UnitLevel,
    /// Name, e.g. "Tỉnh Lai Châu".
    pub name: String,
    /// The unit above, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl UnitRef {
    /// A unit of the geography (its parent is the nation for a province).
    fn of_unit(u: &::geography::Unit) -> UnitRef {
        UnitRef {
            code: u.code.clone(),
            level: UnitLevel::of(u.level),
            name: u.full_name(),
            parent: u.parent.clone().or_else(|| Some(NATION.into())),
        }
    }

    /// The commune a village unit belongs to, or the unit's own code: what scopes are checked on.
    pub fn scope_code(&self) -> &str {
        match self.level {
            UnitLevel::Village => self.code.split_once('/').map_or(&self.code, |(c, _)| c),
            _ => &self.code,
        }
    }
}

/// Where a village lies in the geography a report is made on (for a previous round compared across
/// a geography change: where its commune went).
#[derive(Debug, Clone)]
pub struct VillagePath {
    /// Province code.
    pub province: String,
    /// District code, if the geography has districts.
    pub district: Option<String>,
    /// Commune code.
    pub commune: String,
}

/// One village of a report: design key, stats and place.
#[derive(Debug, Clone)]
pub struct Village {
    /// Stratum and cluster as sampled in its own round.
    pub key: ClusterKey,
    /// Where it lies in the report's geography.
    pub path: VillagePath,
    /// Village code as first spelled.
    pub label: String,
    /// Its province in its own round's geography (where it was sampled).
    pub origin_province: String,
    /// Its counts on the report's layout.
    pub stats: ClusterStats,
    /// The first-stage unit it lies in, in its own round's design (its district or commune).
    pub psu: String,
    /// Its forms' design weight: from its province's draw, `1` where the province has none;
    /// `None` for a village outside its province's draw (left out of the estimates).
    pub weight: Option<f64>,
}

/// Forms left out because their questionnaire version's layout differs from the round's.
#[derive(Debug, Clone, Serialize)]
pub struct ExcludedVersion {
    /// Questionnaire code.
    pub questionnaire: String,
    /// Version.
    pub version: i32,
    /// Forms left out.
    pub n_forms: u64,
}

/// A round's villages ready for reporting.
pub struct RoundStats {
    /// The round.
    pub round: round::Model,
    /// Its geography.
    pub geo: &'static Geography,
    /// The layout of its questionnaire version: every village's stats are on it.
    pub layout: Arc<StatsLayout>,
    /// The villages with forms, ordered by key.
    pub villages: Vec<Village>,
    /// Forms of versions whose layout differs (they cannot be pooled).
    pub excluded: Vec<ExcludedVersion>,
    /// The design the estimates follow.
    pub design: DesignNote,
    /// [`DesignWeights::stamp`] of the design and draws these stats were weighted with.
    pub design_stamp: String,
}

/// The design every estimate of a report follows, named in the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignNote {
    /// `recorded` (the round's design), or `assumed` (none is recorded: the SIPAS design of the
    /// round's geography).
    pub source: &'static str,
    /// What the strata are.
    pub strata: Strata,
    /// The primary sampling units: the design's first-stage units, treated as ultimate clusters.
    pub psu: StageLevel,
    /// `with_replacement_ultimate_clusters`: Taylor linearisation, variance between the PSUs
    /// within strata, no finite population correction. A unit inside one PSU (a commune of a
    /// sampled district) is estimated from its villages as clusters; a village from its forms.
    pub variance: &'static str,
    /// `design` when some province's forms are weighted by its draw (inverse inclusion
    /// probabilities), `equal` when no province has a draw.
    pub weights: &'static str,
    /// Provinces with an active draw.
    pub provinces_drawn: u32,
    /// Forms of villages outside their province's draw: not in any estimate.
    pub forms_outside_sample: u64,
}

/// The design assumed for a round with none recorded: the SIPAS design of its geography.
pub fn assumed_design(geo: &Geography) -> Design {
    if geo.levels.contains(&Level::District) {
        Design::sipas_2023()
    } else {
        Design::sipas_2025()
    }
}

/// The first-stage unit of a village of `geo` under a design whose PSUs are at `level`.
fn psu_of(geo: &Geography, level: StageLevel, key: &ClusterKey) -> String {
    match level {
        StageLevel::District => geo
            .unit(&key.stratum)
            .and_then(|u| u.parent.as_deref())
            .and_then(|p| geo.unit(p))
            .filter(|p| p.level == Level::District)
            .map_or_else(|| key.stratum.clone(), |d| d.code.clone()),
        StageLevel::Commune => key.stratum.clone(),
        StageLevel::Village | StageLevel::Household => format!("{}/{}", key.stratum, key.cluster),
    }
}

impl RoundStats {
    /// Gathers the round's village stats on its own layout: stats of other versions of the same
    /// shape are pooled, others are listed in `excluded`.
    pub fn new(
        round: round::Model,
        geo: &'static Geography,
        layout: Arc<StatsLayout>,
        rows: Vec<VillageStats>,
        sample: &DesignWeights,
    ) -> Result<RoundStats, ApiError> {
        let design = sample.design.clone().unwrap_or_else(|| assumed_design(geo));
        let psu_level = design.psu_level().unwrap_or(StageLevel::Village);
        let mut by_key: BTreeMap<ClusterKey, Village> = BTreeMap::new();
        let mut excluded: BTreeMap<(String, i32), u64> = BTreeMap::new();
        for v in rows {
            if !same_shape(&v.layout, &layout) {
                *excluded.entry(v.questionnaire.clone()).or_default() +=
                    u64::from(v.stats.n_forms());
                continue;
            }
            match by_key.get_mut(&v.key) {
                Some(existing) => existing
                    .stats
                    .add(&v.stats)
                    .map_err(|e| ApiError::internal(format!("pooling versions: {e}")))?,
                None => {
                    let path = VillagePath {
                        province: v.place.province.clone(),
                        district: v.place.district,
                        commune: v.key.stratum.clone(),
                    };
                    let weight = if sample.drawn.contains(&v.place.province) {
                        sample
                            .weights
                            .get(&(v.key.stratum.clone(), v.key.cluster.clone()))
                            .copied()
                    } else {
                        Some(1.0)
                    };
                    by_key.insert(
                        v.key.clone(),
                        Village {
                            psu: psu_of(geo, psu_level, &v.key),
                            weight,
                            key: v.key,
                            path,
                            label: v.place.label,
                            origin_province: v.place.province,
                            stats: v.stats,
                        },
                    );
                }
            }
        }
        let villages: Vec<Village> = by_key.into_values().collect();
        let note = DesignNote {
            source: if sample.design.is_some() {
                "recorded"
            } else {
                "assumed"
            },
            strata: design.strata,
            psu: psu_level,
            variance: "with_replacement_ultimate_clusters",
            weights: if sample.drawn.is_empty() {
                "equal"
            } else {
                "design"
            },
            provinces_drawn: sample.drawn.len() as u32,
            forms_outside_sample: villages
                .iter()
                .filter(|v| v.weight.is_none())
                .map(|v| u64::from(v.stats.n_forms()))
                .sum(),
        };
        Ok(RoundStats {
            design: note,
            design_stamp: sample.stamp.clone(),
            round,
            geo,
            layout,
            villages,
            excluded: excluded
                .into_iter()
                .map(|((questionnaire, version), n_forms)| ExcludedVersion {
                    questionnaire,
                    version,
                    n_forms,
                })
                .collect(),
        })
    }

    /// Estimation options of the round (its small-cell minimum).
    pub fn options(&self) -> Options {
        Options {
            min_cell: u32::try_from(self.round.min_cell_size).unwrap_or(0),
        }
    }

    /// Resolves a `unit` parameter (absent or `VN` is the nation).
    pub fn unit(&self, code: Option<&str>) -> Result<UnitRef, ApiError> {
        resolve_unit(self.geo, &self.villages, code)
    }
}

/// Resolves a unit code of `geo` (a village as `{commune}/{village}`).
pub fn resolve_unit(
    geo: &Geography,
    villages: &[Village],
    code: Option<&str>,
) -> Result<UnitRef, ApiError> {
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    let Some(code) = code.filter(|c| !c.eq_ignore_ascii_case(NATION)) else {
        return Ok(UnitRef {
            code: NATION.into(),
            level: UnitLevel::Nation,
            name: "Toàn quốc".into(),
            parent: None,
        });
    };
    if let Some((commune, village)) = code.split_once('/') {
        let key = ClusterKey::new(commune, indices::cluster_key(village));
        return match villages.iter().find(|v| v.key == key) {
            Some(v) => Ok(UnitRef {
                code: format!("{}/{}", key.stratum, key.cluster),
                level: UnitLevel::Village,
                name: v.label.clone(),
                parent: Some(key.stratum.clone()),
            }),
            None => Err(unknown_unit(code, geo)),
        };
    }
    let u = geo.unit(code).ok_or_else(|| unknown_unit(code, geo))?;
    Ok(UnitRef::of_unit(u))
}

fn unknown_unit(code: &str, geo: &Geography) -> ApiError {
    ApiError::bad_request(
        "unknown_unit",
        format!("Không có đơn vị '{code}' trong {} của đợt này.", geo.code),
        format!("No unit '{code}' in this round's geography {}.", geo.code),
    )
}

/// Whether a village lies in `unit`.
pub fn contains(unit: &UnitRef, v: &Village) -> bool {
    match unit.level {
        UnitLevel::Nation => true,
        UnitLevel::Province => v.path.province == unit.code,
        UnitLevel::District => v.path.district.as_deref() == Some(unit.code.as_str()),
        UnitLevel::Commune => v.path.commune == unit.code,
        UnitLevel::Village => {
            unit.code.split_once('/') == Some((v.key.stratum.as_str(), v.key.cluster.as_str()))
        }
    }
}

/// The code of the unit at `level` a village belongs to.
pub fn unit_code_at(level: UnitLevel, v: &Village) -> Option<String> {
    match level {
        UnitLevel::Nation => Some(NATION.into()),
        UnitLevel::Province => Some(v.path.province.clone()),
        UnitLevel::District => v.path.district.clone(),
        UnitLevel::Commune => Some(v.path.commune.clone()),
        UnitLevel::Village => Some(format!("{}/{}", v.key.stratum, v.key.cluster)),
    }
}

/// Checks that `level` lies below `unit` in `geo`.
pub fn check_level(geo: &Geography, unit: &UnitRef, level: UnitLevel) -> Result<(), ApiError> {
    let exists = match level {
        UnitLevel::Nation => false,
        UnitLevel::Province => true,
        UnitLevel::District => geo.levels.contains(&Level::District),
        UnitLevel::Commune | UnitLevel::Village => true,
    };
    if exists && level > unit.level {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "bad_level",
            format!(
                "Cấp '{}' không nằm dưới đơn vị '{}' trong {}.",
                level.as_str(),
                unit.code,
                geo.code
            ),
            format!(
                "Level '{}' is not below unit '{}' in {}.",
                level.as_str(),
                unit.code,
                geo.code
            ),
        ))
    }
}

/// How the figures were combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The unweighted mean over provinces (the published national figure).
    MeanOfProvinces,
    /// All forms of the unit pooled into one design-based estimate.
    Pooled,
}

impl Combine {
    /// Parses `mean_of_provinces` / `pooled`.
    pub fn parse(s: &str) -> Option<Combine> {
        match s {
            "mean_of_provinces" => Some(Combine::MeanOfProvinces),
            "pooled" => Some(Combine::Pooled),
            _ => None,
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("estimating: {e}"))
}

/// Pooled estimate over the villages, by the round's design (see [`DesignNote`]).
pub fn pooled<'a>(
    layout: &StatsLayout,
    villages: impl IntoIterator<Item = &'a Village>,
    opts: &Options,
) -> Result<Estimates, ApiError> {
    estimate_design(
        layout,
        villages.into_iter().filter_map(|v| {
            Some(DesignCluster {
                cluster: WeightedCluster {
                    key: &v.key,
                    stats: &v.stats,
                    weight: v.weight?,
                },
                stratum: &v.origin_province,
                psu: &v.psu,
            })
        }),
        opts,
    )
    .map_err(internal)
}

/// The estimates of `unit`: pooled, or for the nation with [`Combine::MeanOfProvinces`] the mean
/// over the provinces that have forms.
pub fn unit_estimates(
    layout: &StatsLayout,
    villages: &[Village],
    unit: &UnitRef,
    combine: Combine,
    opts: &Options,
) -> Result<Estimates, ApiError> {
    let inside = villages.iter().filter(|v| contains(unit, v));
    if unit.level == UnitLevel::Nation && combine == Combine::MeanOfProvinces {
        let provinces = by_unit(layout, inside, UnitLevel::Province, opts)?;
        if provinces.is_empty() {
            return pooled(layout, [], opts);
        }
        let refs: Vec<&Estimates> = provinces.values().collect();
        return mean_of_units(&refs).map_err(internal);
    }
    pooled(layout, inside, opts)
}

/// Pooled estimates of every unit at `level` that has villages among `villages`, by code.
pub fn by_unit<'a>(
    layout: &StatsLayout,
    villages: impl IntoIterator<Item = &'a Village>,
    level: UnitLevel,
    opts: &Options,
) -> Result<BTreeMap<String, Estimates>, ApiError> {
    let mut groups: BTreeMap<String, Vec<&Village>> = BTreeMap::new();
    for v in villages {
        if let Some(code) = unit_code_at(level, v) {
            groups.entry(code).or_default().push(v);
        }
    }
    groups
        .into_iter()
        .map(|(code, vs)| Ok((code, pooled(layout, vs, opts)?)))
        .collect()
}

/// Display names of villages by unit code (`{commune}/{village}`).
pub fn village_names(villages: &[Village]) -> std::collections::HashMap<String, &str> {
    villages
        .iter()
        .map(|v| {
            (
                format!("{}/{}", v.key.stratum, v.key.cluster),
                v.label.as_str(),
            )
        })
        .collect()
}

/// The unit a code at `level` names, for display (`names` from [`village_names`]).
pub fn unit_ref(
    geo: &Geography,
    names: &std::collections::HashMap<String, &str>,
    level: UnitLevel,
    code: &str,
) -> UnitRef {
    if level == UnitLevel::Village {
        let label = names.get(code).map_or(code, |n| *n).to_owned();
        return UnitRef {
            code: code.to_owned(),
            level,
            name: label,
            parent: code.split_once('/').map(|(c, _)| c.to_owned()),
        };
    }
    match geo.unit(code) {
        Some(u) => UnitRef::of_unit(u),
        None => UnitRef {
            code: code.to_owned(),
            level,
            name: code.to_owned(),
            parent: None,
        },
    }
}

/// The overall index value used for league tables, rounded to the published two decimals so that
/// ties follow the published table.
pub fn ranking_value(e: &Estimates) -> Option<f64> {
    e.overall
        .as_ref()
        .and_then(|o| o.figure.value)
        .map(|v| (v * 100.0).round() / 100.0)
}

/// League-table ranks of the estimates by [`ranking_value`], in their order.
pub fn ranks(estimates: &[&Estimates]) -> Vec<Option<u32>> {
    let values: Vec<Option<f64>> = estimates.iter().map(|e| ranking_value(e)).collect();
    indices::rank(&values)
}

/// How a previous round's villages were placed in the current round's geography.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    /// `same_geography` or `successor_mapping`.
    pub method: &'static str,
    /// Vietnamese explanation.
    pub detail: String,
    /// English explanation.
    pub detail_en: String,
}

/// Places a previous round's villages in the current geography: unchanged when both rounds use
/// the same geography; otherwise through the successor mapping, each village going where its
/// commune's default successor lies (so every old form is counted once). Villages whose commune has
/// no successor are returned apart.
pub fn place_previous(
    current: &Geography,
    previous: &RoundStats,
) -> Result<(Vec<Village>, Placement, u64), ApiError> {
    if previous.geo.code == current.code {
        return Ok((
            previous.villages.clone(),
            Placement {
                method: "same_geography",
                detail: "Hai đợt dùng cùng một danh mục đơn vị hành chính: so sánh từng đơn vị với chính nó.".into(),
                detail_en: "Both rounds use the same geography: each unit is compared with itself.".into(),
            },
            0,
        ));
    }
    let Some(mapping) = ::geography::mapping(previous.geo.code, current.code) else {
        return Err(ApiError::bad_request(
            "incomparable_rounds",
            format!(
                "Không có bảng chuyển đổi từ {} sang {}: không so sánh được hai đợt.",
                previous.geo.code, current.code
            ),
            format!(
                "No successor mapping from {} to {}: the rounds cannot be compared.",
                previous.geo.code, current.code
            ),
        ));
    };
    let mut out = Vec::with_capacity(previous.villages.len());
    let mut unplaced = 0u64;
    for v in &previous.villages {
        // A commune's own mapping; an island district without communes maps as a whole.
        let successor = mapping
            .default_successor(&v.key.stratum)
            .or_else(|| {
                v.path
                    .district
                    .as_deref()
                    .and_then(|d| mapping.default_successor(d))
            })
            .and_then(|code| current.unit(code));
        let Some(new_commune) = successor.filter(|u| u.level == Level::Commune) else {
            unplaced += u64::from(v.stats.n_forms());
            continue;
        };
        let path = current.path(&new_commune.code);
        let at = |level: Level| {
            path.iter()
                .find(|u| u.level == level)
                .map(|u| u.code.clone())
        };
        let Some(province) = at(Level::Province) else {
            unplaced += u64::from(v.stats.n_forms());
            continue;
        };
        out.push(Village {
            key: v.key.clone(),
            path: VillagePath {
                province,
                district: at(Level::District),
                commune: new_commune.code.clone(),
            },
            label: v.label.clone(),
            origin_province: v.origin_province.clone(),
            stats: v.stats.clone(),
            psu: v.psu.clone(),
            weight: v.weight,
        });
    }
    Ok((
        out,
        Placement {
            method: "successor_mapping",
            detail: format!(
                "Đợt trước dùng danh mục {} và đợt này dùng {}: mỗi thôn của đợt trước được tính vào đơn vị mới chứa xã kế thừa mặc định của xã cũ, nên một tỉnh mới được so với toàn bộ phiếu đã gộp của các tỉnh cũ hợp thành nó. Thiết kế mẫu (tầng, cụm) của đợt trước được giữ nguyên. Thứ hạng năm trước là thứ hạng giữa các đơn vị mới tính lại như vậy, không phải thứ hạng đã công bố; chỉ số toàn quốc năm trước (trung bình các tỉnh) là trung bình các tỉnh cũ như đã công bố. Không so sánh được ở cấp thôn.",
                previous.geo.code, current.code
            ),
            detail_en: format!(
                "The previous round used {} and this one {}: each previous village counts in the new unit holding its old commune's default successor, so a new province is compared with the pooled forms of the old provinces it was formed from. The previous round's design (strata, clusters) is kept. Last year's ranks are ranks among the new units rebuilt this way, not the published ones; last year's national mean of provinces is the mean over the old provinces, as published. Villages cannot be compared across the change.",
                previous.geo.code, current.code
            ),
        },
        unplaced,
    ))
}

/// The last whole-round [`RoundStats`] read per round, with the fingerprint it was read at
/// ([`crate::index_stats::stamp`]). A national report then costs one small aggregate query instead
/// of reading and decoding every village's counts (≈13 KB each) again; any change to the round's
/// stats, by this process or another, changes the fingerprint and the next report reads afresh.
#[derive(Default)]
pub struct RoundStatsCache {
    map: std::sync::Mutex<std::collections::HashMap<String, CachedRound>>,
}

/// A cached round: the fingerprint it was read at, and the stats.
type CachedRound = ((i64, i64), Arc<RoundStats>);

impl RoundStatsCache {
    /// The cached stats of `round` if they were read at `stamp` from the same round row.
    pub fn get(&self, round: &round::Model, stamp: (i64, i64)) -> Option<Arc<RoundStats>> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&round.code)
            .filter(|(s, data)| *s == stamp && data.round == *round)
            .map(|(_, data)| data.clone())
    }

    /// Remembers stats read at `stamp` (read the stamp *before* the stats, so that a change in
    /// between makes the entry stale rather than wrong).
    pub fn put(&self, stamp: (i64, i64), data: Arc<RoundStats>) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(data.round.code.clone(), (stamp, data));
    }
}
