//! The sample in the database: designs, frames and draws. The rules are the pure functions of
//! [`super::design`], [`super::frame`] and [`super::draw`]; this module reads, calls them and
//! writes, each change in one transaction with its audit event.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, SqlErr, TransactionTrait, sea_query::Expr,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{
    audit::{self, Actor},
    entities::{
        frame, frame_household, frame_village, index_cluster_stat, round_design, sample_draw,
        sample_household, sample_unit,
    },
    text::hex,
};

use super::{
    design::{Design, StageLevel},
    draw::{self, DrawError, FrameHousehold, FrameVillage},
    frame::HouseholdLists,
};

/// Audit event names of the sample.
pub mod event {
    /// A round's design was set.
    pub const DESIGN_SET: &str = "sample_design_set";
    /// A province's village list was uploaded (and changed something).
    pub const VILLAGES_UPLOADED: &str = "frame_villages_uploaded";
    /// Household lists were uploaded (and changed something).
    pub const HOUSEHOLDS_UPLOADED: &str = "frame_households_uploaded";
    /// A province's sample was drawn.
    pub const SAMPLE_DRAWN: &str = "sample_drawn";
}

/// Draw statuses.
pub mod status {
    /// The province's sample.
    pub const ACTIVE: &str = "active";
    /// Replaced by a redraw; kept as history.
    pub const SUPERSEDED: &str = "superseded";
}

/// Rows per INSERT: at most 12 columns × 400 stays under both databases' parameter limits.
const BATCH: usize = 400;

/// Why a sample operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
    /// The round has draws: its design can no longer change.
    #[error("the round already has draws")]
    DesignLocked,
    /// The round has no design.
    #[error("the round has no design")]
    NoDesign,
    /// The stored design is not valid for the round's geography.
    #[error("the stored design is invalid")]
    BadDesign,
    /// The province has no village list.
    #[error("no village list")]
    EmptyFrame,
    /// Selected villages have no household list: (commune, village code).
    #[error("household lists missing")]
    MissingHouseholds(Vec<(String, String)>),
    /// The province's active draw has forms: it can no longer be replaced.
    #[error("draw {0} is in use")]
    InUse(i64),
    /// The province has a draw, and only the ministry may draw again.
    #[error("a redraw needs the ministry")]
    RedrawNeedsMinistry,
    /// A redraw must say why.
    #[error("a redraw needs a reason")]
    ReasonRequired,
    /// Another draw for the province was stored at the same moment.
    #[error("a concurrent draw won")]
    Concurrent,
}

/// SHA-256 over length-prefixed fields, so that no two field sequences feed the same bytes.
struct Hasher(Sha256);

impl Hasher {
    fn new(tag: &str) -> Hasher {
        let mut h = Hasher(Sha256::new());
        h.field(tag);
        h
    }
    fn field(&mut self, s: &str) {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
    }
    fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

/// The hash of a village list (sorted by commune and key, as [`super::frame::parse_villages`]
/// returns it).
pub fn villages_hash(villages: &[FrameVillage]) -> String {
    let mut h = Hasher::new("sipas village frame v1");
    for v in villages {
        for f in [&v.commune, &v.key, &v.code, &v.name] {
            h.field(f);
        }
        h.field(&v.households.to_string());
        h.field(v.district.as_deref().unwrap_or(""));
    }
    h.finish()
}

/// The hash an upload of a village list is compared by: [`villages_hash`] when no village is
/// located (so a list stored before locations existed compares equal), else that with the
/// locations. A draw's frame hash takes [`villages_hash`] alone: the locations do not draw.
pub fn upload_hash(villages: &[FrameVillage]) -> String {
    let base = villages_hash(villages);
    if villages.iter().all(|v| v.location.is_none()) {
        return base;
    }
    let mut h = Hasher::new("sipas located village frame v1");
    h.field(&base);
    for v in villages {
        h.field(
            &v.location
                .map_or(String::new(), |(a, b)| format!("{a},{b}")),
        );
    }
    h.finish()
}

/// The hash of one village's household list (sorted by reference).
pub fn households_hash(list: &[FrameHousehold]) -> String {
    let mut h = Hasher::new("sipas household list v1");
    for x in list {
        h.field(&x.reference);
        h.field(&x.head_name);
    }
    h.finish()
}

/// The round's design, if one is recorded.
pub async fn design_of(
    db: &impl ConnectionTrait,
    round: &str,
) -> Result<Option<(Design, round_design::Model)>, DbErr> {
    let Some(row) = round_design::Entity::find_by_id(round.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&row.design).ok().map(|d| (d, row)))
}

/// Records the built-in design of a round that has none (at every start; writes nothing when
/// one is recorded).
pub async fn seed_design(
    db: &DatabaseConnection,
    round: &str,
    design: &Design,
) -> Result<(), DbErr> {
    if round_design::Entity::find_by_id(round.to_owned())
        .one(db)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let row = round_design::ActiveModel {
        round_code: Set(round.to_owned()),
        design: Set(serde_json::to_string(design).unwrap_or_default()),
        set_by: Set("builtin".to_owned()),
        set_at: Set(OffsetDateTime::now_utc()),
    };
    match round_design::Entity::insert(row).exec(db).await {
        // Another process seeded it at the same moment.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// Sets the round's design (already validated), unless the round has a draw.
pub async fn set_design(
    db: &DatabaseConnection,
    round: &str,
    design: &Design,
    actor: &Actor,
) -> Result<round_design::Model, SampleError> {
    let txn = db.begin().await?;
    let draws = sample_draw::Entity::find()
        .filter(sample_draw::Column::RoundCode.eq(round))
        .count(&txn)
        .await?;
    if draws > 0 {
        return Err(SampleError::DesignLocked);
    }
    let row = round_design::Model {
        round_code: round.to_owned(),
        design: serde_json::to_string(design).unwrap_or_default(),
        set_by: actor.username.clone().unwrap_or_default(),
        set_at: OffsetDateTime::now_utc(),
    };
    let am = round_design::ActiveModel {
        round_code: Set(row.round_code.clone()),
        design: Set(row.design.clone()),
        set_by: Set(row.set_by.clone()),
        set_at: Set(row.set_at),
    };
    if round_design::Entity::find_by_id(round.to_owned())
        .one(&txn)
        .await?
        .is_some()
    {
        round_design::Entity::update(am).exec(&txn).await?;
    } else {
        round_design::Entity::insert(am).exec(&txn).await?;
    }
    audit::record(
        &txn,
        event::DESIGN_SET,
        actor,
        Some(format!("round:{round}")),
        serde_json::json!({ "design": design }),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOutcome {
    /// Whether anything changed (the same upload twice changes nothing the second time).
    pub changed: bool,
    /// Villages in the file.
    pub villages: u64,
    /// Households in the file.
    pub households: u64,
    /// Villages whose rows changed (added, changed or removed; for households, re-listed).
    pub villages_changed: u64,
}

/// Stores a province's village list (parsed and checked), replacing the one before: villages
/// no longer listed go with their household lists; a village listed again keeps its household
/// list. Nothing is written when the stored list is the same.
pub async fn upload_villages(
    db: &DatabaseConnection,
    round: &str,
    province: &str,
    villages: &[FrameVillage],
    actor: &Actor,
) -> Result<UploadOutcome, DbErr> {
    let hash = upload_hash(villages);
    let mut out = UploadOutcome {
        changed: false,
        villages: villages.len() as u64,
        households: villages.iter().map(|v| u64::from(v.households)).sum(),
        villages_changed: 0,
    };
    let existing = frame::Entity::find_by_id((round.to_owned(), province.to_owned()))
        .one(db)
        .await?;
    if existing.as_ref().is_some_and(|f| f.villages_hash == hash) {
        return Ok(out);
    }
    let txn = db.begin().await?;
    let stored: HashMap<(String, String), frame_village::Model> = frame_village::Entity::find()
        .filter(frame_village::Column::RoundCode.eq(round))
        .filter(frame_village::Column::ProvinceCode.eq(province))
        .all(&txn)
        .await?
        .into_iter()
        .map(|v| ((v.commune_code.clone(), v.village_key.clone()), v))
        .collect();
    let wanted: HashSet<(String, String)> = villages
        .iter()
        .map(|v| (v.commune.clone(), v.key.clone()))
        .collect();
    for (k, _) in stored.iter().filter(|(k, _)| !wanted.contains(*k)) {
        frame_household::Entity::delete_many()
            .filter(frame_household::Column::RoundCode.eq(round))
            .filter(frame_household::Column::CommuneCode.eq(&k.0))
            .filter(frame_household::Column::VillageKey.eq(&k.1))
            .exec(&txn)
            .await?;
        frame_village::Entity::delete_many()
            .filter(frame_village::Column::RoundCode.eq(round))
            .filter(frame_village::Column::CommuneCode.eq(&k.0))
            .filter(frame_village::Column::VillageKey.eq(&k.1))
            .exec(&txn)
            .await?;
        out.villages_changed += 1;
    }
    let mut new_rows = Vec::new();
    for v in villages {
        let row = |listed: i64, hh_hash: Option<String>| frame_village::ActiveModel {
            round_code: Set(round.to_owned()),
            commune_code: Set(v.commune.clone()),
            village_key: Set(v.key.clone()),
            province_code: Set(province.to_owned()),
            district_code: Set(v.district.clone()),
            village_code: Set(v.code.clone()),
            village_name: Set(v.name.clone()),
            households: Set(i64::from(v.households)),
            households_listed: Set(listed),
            households_hash: Set(hh_hash),
            latitude: Set(v.location.map(|l| l.0)),
            longitude: Set(v.location.map(|l| l.1)),
        };
        match stored.get(&(v.commune.clone(), v.key.clone())) {
            Some(s)
                if s.village_code == v.code
                    && s.village_name == v.name
                    && s.households == i64::from(v.households)
                    && s.district_code == v.district
                    && s.latitude.zip(s.longitude) == v.location => {}
            Some(s) => {
                frame_village::Entity::update(row(s.households_listed, s.households_hash.clone()))
                    .exec(&txn)
                    .await?;
                out.villages_changed += 1;
            }
            None => {
                new_rows.push(row(0, None));
                out.villages_changed += 1;
            }
        }
    }
    while !new_rows.is_empty() {
        let rest = new_rows.split_off(new_rows.len().min(BATCH));
        frame_village::Entity::insert_many(std::mem::replace(&mut new_rows, rest))
            .exec(&txn)
            .await?;
    }
    let f = frame::ActiveModel {
        round_code: Set(round.to_owned()),
        province_code: Set(province.to_owned()),
        villages_hash: Set(hash.clone()),
        villages: Set(villages.len() as i64),
        updated_by: Set(actor.username.clone().unwrap_or_default()),
        updated_at: Set(OffsetDateTime::now_utc()),
    };
    if existing.is_some() {
        frame::Entity::update(f).exec(&txn).await?;
    } else {
        frame::Entity::insert(f).exec(&txn).await?;
    }
    audit::record(
        &txn,
        event::VILLAGES_UPLOADED,
        actor,
        Some(format!("frame:{round}/{province}")),
        serde_json::json!({ "villages": out.villages, "changed": out.villages_changed, "hash": hash }),
    )
    .await?;
    txn.commit().await?;
    out.changed = true;
    Ok(out)
}

/// The province's listed villages as `(commune, key)`.
pub async fn village_keys(
    db: &impl ConnectionTrait,
    round: &str,
    province: &str,
) -> Result<HashSet<(String, String)>, DbErr> {
    Ok(frame_village::Entity::find()
        .filter(frame_village::Column::RoundCode.eq(round))
        .filter(frame_village::Column::ProvinceCode.eq(province))
        .all(db)
        .await?
        .into_iter()
        .map(|v| (v.commune_code, v.village_key))
        .collect())
}

/// Stores household lists (parsed and checked against the province's villages): each village in
/// the file gets exactly the listed households; villages not in the file keep theirs. Nothing is
/// written for a village whose stored list is the same.
pub async fn upload_households(
    db: &DatabaseConnection,
    round: &str,
    province: &str,
    lists: &HouseholdLists,
    actor: &Actor,
) -> Result<UploadOutcome, DbErr> {
    let mut out = UploadOutcome {
        changed: false,
        villages: lists.len() as u64,
        households: lists.values().map(|l| l.len() as u64).sum(),
        villages_changed: 0,
    };
    let stored: HashMap<(String, String), frame_village::Model> = frame_village::Entity::find()
        .filter(frame_village::Column::RoundCode.eq(round))
        .filter(frame_village::Column::ProvinceCode.eq(province))
        .all(db)
        .await?
        .into_iter()
        .map(|v| ((v.commune_code.clone(), v.village_key.clone()), v))
        .collect();
    let changed: Vec<(&(String, String), &Vec<FrameHousehold>, String)> = lists
        .iter()
        .map(|(k, l)| (k, l, households_hash(l)))
        .filter(|(k, _, h)| stored.get(*k).and_then(|v| v.households_hash.as_ref()) != Some(h))
        .collect();
    if changed.is_empty() {
        return Ok(out);
    }
    let txn = db.begin().await?;
    for (k, list, hash) in &changed {
        frame_household::Entity::delete_many()
            .filter(frame_household::Column::RoundCode.eq(round))
            .filter(frame_household::Column::CommuneCode.eq(&k.0))
            .filter(frame_household::Column::VillageKey.eq(&k.1))
            .exec(&txn)
            .await?;
        for chunk in list.chunks(BATCH) {
            frame_household::Entity::insert_many(chunk.iter().map(|h| {
                frame_household::ActiveModel {
                    round_code: Set(round.to_owned()),
                    commune_code: Set(k.0.clone()),
                    village_key: Set(k.1.clone()),
                    household_ref: Set(h.reference.clone()),
                    head_name: Set(h.head_name.clone()),
                }
            }))
            .exec(&txn)
            .await?;
        }
        frame_village::Entity::update_many()
            .col_expr(
                frame_village::Column::HouseholdsListed,
                Expr::value(list.len() as i64),
            )
            .col_expr(
                frame_village::Column::HouseholdsHash,
                Expr::value(hash.clone()),
            )
            .filter(frame_village::Column::RoundCode.eq(round))
            .filter(frame_village::Column::CommuneCode.eq(&k.0))
            .filter(frame_village::Column::VillageKey.eq(&k.1))
            .exec(&txn)
            .await?;
    }
    out.villages_changed = changed.len() as u64;
    audit::record(
        &txn,
        event::HOUSEHOLDS_UPLOADED,
        actor,
        Some(format!("frame:{round}/{province}")),
        serde_json::json!({ "villages": out.villages, "households": out.households, "villages_changed": out.villages_changed }),
    )
    .await?;
    txn.commit().await?;
    out.changed = true;
    Ok(out)
}

/// The province's village list as stored, sorted by commune and key.
pub async fn frame_villages(
    db: &impl ConnectionTrait,
    round: &str,
    province: &str,
) -> Result<Vec<frame_village::Model>, DbErr> {
    // Sorted here, not by SQL: PostgreSQL's collation need not order text as SQLite's bytes do.
    let mut rows = frame_village::Entity::find()
        .filter(frame_village::Column::RoundCode.eq(round))
        .filter(frame_village::Column::ProvinceCode.eq(province))
        .all(db)
        .await?;
    rows.sort_by(|a, b| (&a.commune_code, &a.village_key).cmp(&(&b.commune_code, &b.village_key)));
    Ok(rows)
}

/// The province's active draw, if any.
pub async fn active_draw(
    db: &impl ConnectionTrait,
    round: &str,
    province: &str,
) -> Result<Option<sample_draw::Model>, DbErr> {
    sample_draw::Entity::find()
        .filter(sample_draw::Column::RoundCode.eq(round))
        .filter(sample_draw::Column::ProvinceCode.eq(province))
        .filter(sample_draw::Column::Status.eq(status::ACTIVE))
        .one(db)
        .await
}

/// Whether forms arrived for the draw: any of its villages has counted forms in the round.
pub async fn is_used(db: &impl ConnectionTrait, d: &sample_draw::Model) -> Result<bool, DbErr> {
    let villages: HashSet<(String, String)> = sample_unit::Entity::find()
        .filter(sample_unit::Column::DrawId.eq(d.id))
        .filter(sample_unit::Column::Level.eq(StageLevel::Village.as_str()))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|u| Some((u.commune_code?, u.village_key?)))
        .collect();
    let communes: Vec<&String> = villages.iter().map(|(c, _)| c).collect();
    let stats = index_cluster_stat::Entity::find()
        .filter(index_cluster_stat::Column::RoundCode.eq(&d.round_code))
        .filter(index_cluster_stat::Column::CommuneCode.is_in(communes))
        .filter(index_cluster_stat::Column::NForms.gt(0))
        .all(db)
        .await?;
    Ok(stats
        .iter()
        .any(|s| villages.contains(&(s.commune_code.clone(), s.cluster_key.clone()))))
}

/// A draw request, checked by the caller for scope.
#[derive(Debug, Clone)]
pub struct DrawRequest<'a> {
    /// Round.
    pub round: &'a str,
    /// Province.
    pub province: &'a str,
    /// Seed.
    pub seed: u64,
    /// Why (required for a redraw).
    pub reason: Option<&'a str>,
    /// Whether the caller is the ministry (only it may draw again).
    pub ministry: bool,
}

/// Draws the province's sample and stores it with every unit's probabilities. A province with an
/// active draw gets a new one only from the ministry, with a reason, and only while no forms
/// arrived for the old one, which is kept as `superseded`.
pub async fn create_draw(
    db: &DatabaseConnection,
    req: &DrawRequest<'_>,
    actor: &Actor,
) -> Result<sample_draw::Model, SampleError> {
    let (design, _) = design_of(db, req.round)
        .await?
        .ok_or(SampleError::NoDesign)?;
    let previous = active_draw(db, req.round, req.province).await?;
    if let Some(p) = &previous {
        if !req.ministry {
            return Err(SampleError::RedrawNeedsMinistry);
        }
        if req.reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(SampleError::ReasonRequired);
        }
        if is_used(db, p).await? {
            return Err(SampleError::InUse(p.id));
        }
    }
    let rows = frame_villages(db, req.round, req.province).await?;
    let villages: Vec<FrameVillage> = rows
        .iter()
        .map(|v| FrameVillage {
            commune: v.commune_code.clone(),
            district: v.district_code.clone(),
            code: v.village_code.clone(),
            key: v.village_key.clone(),
            name: v.village_name.clone(),
            households: v.households.clamp(0, i64::from(u32::MAX)) as u32,
            location: v.latitude.zip(v.longitude),
        })
        .collect();
    let map_err = |e| match e {
        DrawError::Design => SampleError::BadDesign,
        DrawError::EmptyFrame => SampleError::EmptyFrame,
        DrawError::MissingHouseholds(m) => SampleError::MissingHouseholds(m),
    };
    let units = draw::draw_areas(&design, req.province, &villages, req.seed).map_err(map_err)?;
    // Only the selected villages' household lists are read.
    let mut lists: HashMap<(String, String), Vec<FrameHousehold>> = HashMap::new();
    let mut frame_hash = Hasher::new("sipas draw frame v1");
    frame_hash.field(&villages_hash(&villages));
    for u in units.iter().filter(|u| u.level == StageLevel::Village) {
        let Some((commune, key)) = &u.village else {
            continue;
        };
        let list: Vec<FrameHousehold> = frame_household::Entity::find()
            .filter(frame_household::Column::RoundCode.eq(req.round))
            .filter(frame_household::Column::CommuneCode.eq(commune))
            .filter(frame_household::Column::VillageKey.eq(key))
            .all(db)
            .await?
            .into_iter()
            .map(|h| FrameHousehold {
                reference: h.household_ref,
                head_name: h.head_name,
            })
            .collect();
        frame_hash.field(commune);
        frame_hash.field(key);
        frame_hash.field(&households_hash(&list));
        lists.insert((commune.clone(), key.clone()), list);
    }
    let households = draw::draw_households(
        &design,
        &units,
        |c, k| lists.get(&(c.to_owned(), k.to_owned())),
        req.seed,
    )
    .map_err(map_err)?;
    let now = OffsetDateTime::now_utc();
    let who = actor.username.clone().unwrap_or_default();
    let txn = db.begin().await?;
    if let Some(p) = &previous {
        let res = sample_draw::Entity::update_many()
            .col_expr(sample_draw::Column::Status, Expr::value(status::SUPERSEDED))
            .col_expr(sample_draw::Column::SupersededBy, Expr::value(who.clone()))
            .col_expr(sample_draw::Column::SupersededAt, Expr::value(now))
            .filter(sample_draw::Column::Id.eq(p.id))
            .filter(sample_draw::Column::Status.eq(status::ACTIVE))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(SampleError::Concurrent);
        }
        // Forms may have arrived between the check and now; checked again inside the write.
        if is_used(&txn, p).await? {
            return Err(SampleError::InUse(p.id));
        }
    }
    let inserted = sample_draw::Entity::insert(sample_draw::ActiveModel {
        round_code: Set(req.round.to_owned()),
        province_code: Set(req.province.to_owned()),
        seed: Set(req.seed as i64),
        algorithm: Set(draw::ALGORITHM.to_owned()),
        design: Set(serde_json::to_string(&design).unwrap_or_default()),
        frame_hash: Set(frame_hash.finish()),
        status: Set(status::ACTIVE.to_owned()),
        reason: Set(req.reason.map(str::to_owned)),
        replaces: Set(previous.as_ref().map(|p| p.id)),
        drawn_by: Set(who),
        drawn_at: Set(now),
        superseded_by: Set(None),
        superseded_at: Set(None),
        ..Default::default()
    })
    .exec(&txn)
    .await;
    let id = match inserted {
        Ok(r) => r.last_insert_id,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(SampleError::Concurrent);
        }
        Err(e) => return Err(e.into()),
    };
    for chunk in units.chunks(BATCH) {
        sample_unit::Entity::insert_many(chunk.iter().map(|u| sample_unit::ActiveModel {
            draw_id: Set(id),
            stage: Set(u.stage as i32),
            parent_code: Set(u.parent.clone()),
            unit_code: Set(u.code.clone()),
            level: Set(u.level.as_str().to_owned()),
            commune_code: Set(u.village.as_ref().map(|v| v.0.clone())),
            village_key: Set(u.village.as_ref().map(|v| v.1.clone())),
            name: Set(u.name.clone()),
            ord: Set(u.order as i32),
            certainty: Set(u.certainty),
            size: Set(u.size as i64),
            prob_num: Set(u.stage_probability.num as i64),
            prob_den: Set(u.stage_probability.den as i64),
            inclusion_probability: Set(u.inclusion_probability),
        }))
        .exec(&txn)
        .await?;
    }
    for chunk in households.chunks(BATCH) {
        sample_household::Entity::insert_many(chunk.iter().map(|h| {
            sample_household::ActiveModel {
                draw_id: Set(id),
                commune_code: Set(h.commune.clone()),
                village_key: Set(h.village_key.clone()),
                household_ref: Set(h.reference.clone()),
                village_code: Set(h.village_code.clone()),
                head_name: Set(h.head_name.clone()),
                ord: Set(h.order as i32),
                reserve: Set(h.reserve),
                prob_num: Set(h.stage_probability.num as i64),
                prob_den: Set(h.stage_probability.den as i64),
                inclusion_probability: Set(h.inclusion_probability),
                weight: Set(h.weight),
            }
        }))
        .exec(&txn)
        .await?;
    }
    audit::record(
        &txn,
        event::SAMPLE_DRAWN,
        actor,
        Some(format!("sample:{id}")),
        serde_json::json!({
            "round": req.round, "province": req.province, "seed": req.seed,
            "algorithm": draw::ALGORITHM, "replaces": previous.as_ref().map(|p| p.id),
            "reason": req.reason, "units": units.len(), "households": households.len(),
        }),
    )
    .await?;
    let row = sample_draw::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("sample draw {id}")))?;
    txn.commit().await?;
    Ok(row)
}

/// The draws of a round (all provinces, or one), newest first: the history.
pub async fn list_draws(
    db: &impl ConnectionTrait,
    round: &str,
    province: Option<&str>,
) -> Result<Vec<sample_draw::Model>, DbErr> {
    let mut q = sample_draw::Entity::find().filter(sample_draw::Column::RoundCode.eq(round));
    if let Some(p) = province {
        q = q.filter(sample_draw::Column::ProvinceCode.eq(p));
    }
    q.order_by_asc(sample_draw::Column::ProvinceCode)
        .order_by_desc(sample_draw::Column::Id)
        .all(db)
        .await
}

/// One draw.
pub async fn find_draw(
    db: &impl ConnectionTrait,
    round: &str,
    id: i64,
) -> Result<Option<sample_draw::Model>, DbErr> {
    Ok(sample_draw::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|d| d.round_code == round))
}

/// A sampled village of a draw, with what assignments need.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledVillage {
    /// Commune.
    pub commune_code: String,
    /// The village's code as listed (what forms carry).
    pub village_code: String,
    /// Its normalised code (the key forms are counted under).
    pub village_key: String,
    /// Its name as listed.
    pub name: String,
    /// Probability of being in the sample.
    pub inclusion_probability: f64,
    /// Main households drawn in it (the village's quota).
    pub quota: u32,
}

/// A sampled household of a draw.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledHousehold {
    /// Commune.
    pub commune_code: String,
    /// The village's code as listed.
    pub village_code: String,
    /// The village's normalised code.
    pub village_key: String,
    /// The household's reference.
    pub household_ref: String,
    /// Name of the head as listed.
    pub head_name: String,
    /// 1-based order among the main households, or among the reserves.
    pub order: u32,
    /// A reserve, used in order for refusals.
    pub reserve: bool,
    /// Design weight.
    pub weight: f64,
}

/// A draw's sampled villages and households.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleListing {
    /// Villages, by commune and key.
    pub villages: Vec<SampledVillage>,
    /// Households, by village, main ones first in order, then the reserves in order.
    pub households: Vec<SampledHousehold>,
}

/// Lists a draw's sampled villages and households (for assignments and the device).
pub async fn sampled_units(
    db: &impl ConnectionTrait,
    draw_id: i64,
) -> Result<SampleListing, DbErr> {
    let hh = sample_households(db, draw_id).await?;
    let mut quota: BTreeMap<(String, String), u32> = BTreeMap::new();
    for h in hh.iter().filter(|h| !h.reserve) {
        *quota
            .entry((h.commune_code.clone(), h.village_key.clone()))
            .or_default() += 1;
    }
    let mut villages: Vec<SampledVillage> = sample_unit::Entity::find()
        .filter(sample_unit::Column::DrawId.eq(draw_id))
        .filter(sample_unit::Column::Level.eq(StageLevel::Village.as_str()))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|u| {
            let (commune, key) = (u.commune_code?, u.village_key?);
            Some(SampledVillage {
                quota: quota
                    .get(&(commune.clone(), key.clone()))
                    .copied()
                    .unwrap_or(0),
                commune_code: commune,
                village_code: u.unit_code,
                village_key: key,
                name: u.name.unwrap_or_default(),
                inclusion_probability: u.inclusion_probability,
            })
        })
        .collect();
    villages
        .sort_by(|a, b| (&a.commune_code, &a.village_key).cmp(&(&b.commune_code, &b.village_key)));
    let households = hh
        .into_iter()
        .map(|h| SampledHousehold {
            commune_code: h.commune_code,
            village_code: h.village_code,
            village_key: h.village_key,
            household_ref: h.household_ref,
            head_name: h.head_name,
            order: h.ord.max(0) as u32,
            reserve: h.reserve,
            weight: h.weight,
        })
        .collect();
    Ok(SampleListing {
        villages,
        households,
    })
}

/// A draw's area units in stage order, then parent, then order drawn.
pub async fn sample_units(
    db: &impl ConnectionTrait,
    draw_id: i64,
) -> Result<Vec<sample_unit::Model>, DbErr> {
    let mut rows = sample_unit::Entity::find()
        .filter(sample_unit::Column::DrawId.eq(draw_id))
        .all(db)
        .await?;
    rows.sort_by(|a, b| (a.stage, &a.parent_code, a.ord).cmp(&(b.stage, &b.parent_code, b.ord)));
    Ok(rows)
}

/// A draw's households by village, main ones first in order, then the reserves in order.
pub async fn sample_households(
    db: &impl ConnectionTrait,
    draw_id: i64,
) -> Result<Vec<sample_household::Model>, DbErr> {
    let mut rows = sample_household::Entity::find()
        .filter(sample_household::Column::DrawId.eq(draw_id))
        .all(db)
        .await?;
    rows.sort_by(|a, b| {
        (&a.commune_code, &a.village_key, a.reserve, a.ord).cmp(&(
            &b.commune_code,
            &b.village_key,
            b.reserve,
            b.ord,
        ))
    });
    Ok(rows)
}

/// What the index engine needs of a round's sample: its design (or none recorded), the design
/// weight of every village of the provinces' active draws, and a fingerprint that changes with
/// any of them.
#[derive(Debug, Clone, Default)]
pub struct DesignWeights {
    /// The recorded design.
    pub design: Option<Design>,
    /// Provinces with an active draw.
    pub drawn: HashSet<String>,
    /// Household design weight per sampled village (commune, normalised code).
    pub weights: HashMap<(String, String), f64>,
    /// Changes whenever the design or a draw does.
    pub stamp: String,
}

/// Reads [`DesignWeights`] for a round: one row per sampled village (its first main household,
/// whose weight every household of the village shares).
pub async fn design_weights(
    db: &impl ConnectionTrait,
    round: &str,
) -> Result<DesignWeights, DbErr> {
    let design = design_of(db, round).await?;
    let draws = sample_draw::Entity::find()
        .filter(sample_draw::Column::RoundCode.eq(round))
        .filter(sample_draw::Column::Status.eq(status::ACTIVE))
        .all(db)
        .await?;
    let mut stamp = design
        .as_ref()
        .map(|(_, row)| format!("{}@{}", row.design.len(), row.set_at.unix_timestamp_nanos()))
        .unwrap_or_default();
    let mut ids: Vec<i64> = draws.iter().map(|d| d.id).collect();
    ids.sort_unstable();
    for id in &ids {
        stamp.push_str(&format!(",{id}"));
    }
    let weights = if ids.is_empty() {
        HashMap::new()
    } else {
        sample_household::Entity::find()
            .filter(sample_household::Column::DrawId.is_in(ids))
            .filter(sample_household::Column::Reserve.eq(false))
            .filter(sample_household::Column::Ord.eq(1))
            .all(db)
            .await?
            .into_iter()
            .map(|h| ((h.commune_code, h.village_key), h.weight))
            .collect()
    };
    Ok(DesignWeights {
        design: design.map(|(d, _)| d),
        drawn: draws.into_iter().map(|d| d.province_code).collect(),
        weights,
        stamp,
    })
}
