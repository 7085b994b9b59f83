//! Reference data the server ships with, loaded idempotently at every start: the built-in SIPAS
//! questionnaire, the administrative geographies with their successor mapping, and the survey rounds.

use std::time::Instant;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{
    entities::{geo_mapping, geo_successor, geo_unit, geography, round},
    registry::{self, PublishOutcome},
    text::hex,
};

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The built-in questionnaire could not be registered (e.g. a different v1 is already stored).
    #[error("registering the built-in questionnaire: {0}")]
    Questionnaire(#[from] registry::PublishError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Rows per INSERT when loading units: 7 columns × 1,000 stays under both SQLite's and PostgreSQL's
/// bound-parameter limits.
const BATCH: usize = 1000;

/// A survey round the server ships with.
struct RoundSeed {
    code: &'static str,
    year: i32,
    title_vi: &'static str,
    title_en: &'static str,
    geography: &'static str,
    levels: &'static [&'static str],
}

const ROUNDS: &[RoundSeed] = &[
    RoundSeed {
        code: "sipas-2023",
        year: 2023,
        title_vi: "Khảo sát SIPAS năm 2023",
        title_en: "SIPAS 2023 survey",
        geography: ::geography::VN_2023,
        levels: &["province", "district", "commune", "village"],
    },
    RoundSeed {
        code: "sipas-2025",
        year: 2025,
        title_vi: "Khảo sát SIPAS năm 2025",
        title_en: "SIPAS 2025 survey",
        geography: ::geography::VN_2025,
        levels: &["province", "commune", "village"],
    },
];

/// Default minimum number of valid forms for a unit's indices to be shown.
pub const DEFAULT_MIN_CELL_SIZE: i32 = 30;

/// Loads everything; cheap when already loaded (a few primary-key reads).
pub async fn run(db: &DatabaseConnection) -> Result<(), SeedError> {
    let started = Instant::now();
    let q = schema::builtin::sipas();
    match registry::publish(db, q, "builtin").await? {
        PublishOutcome::Created(v) => {
            tracing::info!(code = %v.code, version = v.version, hash = %v.content_hash, "registered the built-in questionnaire")
        }
        PublishOutcome::Unchanged(_) => {}
    }
    for geo in ::geography::all() {
        load_geography(db, geo).await?;
    }
    load_successors(db, ::geography::vn_2023_to_2025()).await?;
    for r in ROUNDS {
        seed_round(db, r, q).await?;
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reference data ready"
    );
    Ok(())
}

fn geography_hash(geo: &::geography::Geography) -> String {
    let mut h = Sha256::new();
    for u in geo.units() {
        for field in [
            u.code.as_str(),
            u.level.as_str(),
            u.unit_type.as_str(),
            u.name.as_str(),
            u.parent.as_deref().unwrap_or(""),
        ] {
            h.update(field.as_bytes());
            h.update([0x1f]);
        }
        h.update([0x1e]);
    }
    hex(&h.finalize())
}

fn mapping_hash(m: &::geography::Mapping) -> String {
    let mut h = Sha256::new();
    for old in m.old_codes() {
        for s in m.successors(old) {
            h.update(old.as_bytes());
            h.update([0x1f]);
            h.update(s.code.as_bytes());
            h.update([u8::from(s.is_default), 0x1e]);
        }
    }
    hex(&h.finalize())
}

/// Loads (or reloads, when the shipped data changed) one geography's units.
async fn load_geography(
    db: &DatabaseConnection,
    geo: &::geography::Geography,
) -> Result<(), DbErr> {
    let hash = geography_hash(geo);
    let existing = geography::Entity::find_by_id(geo.code.to_owned())
        .one(db)
        .await?;
    if existing.as_ref().is_some_and(|g| g.data_hash == hash) {
        return Ok(());
    }
    let started = Instant::now();
    let txn = db.begin().await?;
    geo_unit::Entity::delete_many()
        .filter(geo_unit::Column::GeographyCode.eq(geo.code))
        .exec(&txn)
        .await?;
    let levels = serde_json::to_string(&geo.levels.iter().map(|l| l.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into());
    let row = geography::ActiveModel {
        code: Set(geo.code.to_owned()),
        name_vi: Set(geo.name_vi.to_owned()),
        name_en: Set(Some(geo.name_en.to_owned())),
        levels: Set(levels),
        data_hash: Set(hash),
        loaded_at: Set(OffsetDateTime::now_utc()),
    };
    if existing.is_some() {
        geography::Entity::update(row).exec(&txn).await?;
    } else {
        geography::Entity::insert(row).exec(&txn).await?;
    }
    for chunk in geo.units().chunks(BATCH) {
        let rows = chunk.iter().map(|u| geo_unit::ActiveModel {
            geography_code: Set(geo.code.to_owned()),
            code: Set(u.code.clone()),
            level: Set(u.level.as_str().to_owned()),
            unit_type: Set(u.unit_type.clone()),
            name: Set(u.name.clone()),
            search_key: Set(::geography::fold(&format!("{} {}", u.unit_type, u.name))),
            parent_code: Set(u.parent.clone()),
        });
        geo_unit::Entity::insert_many(rows).exec(&txn).await?;
    }
    txn.commit().await?;
    tracing::info!(
        geography = geo.code,
        units = geo.units().len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded geography"
    );
    Ok(())
}

/// Loads the successor mapping between two geographies; reloaded only when the data changed.
async fn load_successors(db: &DatabaseConnection, m: &::geography::Mapping) -> Result<(), DbErr> {
    let hash = mapping_hash(m);
    let existing = geo_mapping::Entity::find_by_id((m.from.to_owned(), m.to.to_owned()))
        .one(db)
        .await?;
    if existing.as_ref().is_some_and(|g| g.data_hash == hash) {
        return Ok(());
    }
    let started = Instant::now();
    let txn = db.begin().await?;
    geo_successor::Entity::delete_many()
        .filter(geo_successor::Column::FromGeography.eq(m.from))
        .filter(geo_successor::Column::ToGeography.eq(m.to))
        .exec(&txn)
        .await?;
    let all: Vec<(&str, &::geography::Successor)> = m
        .old_codes()
        .flat_map(|old| m.successors(old).iter().map(move |s| (old, s)))
        .collect();
    for chunk in all.chunks(BATCH) {
        let rows = chunk.iter().map(|(old, s)| geo_successor::ActiveModel {
            from_geography: Set(m.from.to_owned()),
            from_code: Set((*old).to_owned()),
            to_geography: Set(m.to.to_owned()),
            to_code: Set(s.code.clone()),
            is_default: Set(s.is_default),
        });
        geo_successor::Entity::insert_many(rows).exec(&txn).await?;
    }
    let row = geo_mapping::ActiveModel {
        from_geography: Set(m.from.to_owned()),
        to_geography: Set(m.to.to_owned()),
        data_hash: Set(hash),
        loaded_at: Set(OffsetDateTime::now_utc()),
    };
    if existing.is_some() {
        geo_mapping::Entity::update(row).exec(&txn).await?;
    } else {
        geo_mapping::Entity::insert(row).exec(&txn).await?;
    }
    txn.commit().await?;
    tracing::info!(
        from = m.from,
        to = m.to,
        links = all.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded successor mapping"
    );
    Ok(())
}

async fn seed_round(
    db: &DatabaseConnection,
    r: &RoundSeed,
    q: &schema::Questionnaire,
) -> Result<(), DbErr> {
    if round::Entity::find_by_id(r.code.to_owned())
        .one(db)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let row = round::ActiveModel {
        code: Set(r.code.to_owned()),
        year: Set(r.year),
        title_vi: Set(r.title_vi.to_owned()),
        title_en: Set(Some(r.title_en.to_owned())),
        questionnaire_code: Set(q.code.clone()),
        questionnaire_version: Set(q.version as i32),
        geography_code: Set(r.geography.to_owned()),
        sampling_levels: Set(serde_json::to_string(r.levels).unwrap_or_else(|_| "[]".into())),
        min_cell_size: Set(DEFAULT_MIN_CELL_SIZE),
        status: Set("open".to_owned()),
        created_at: Set(OffsetDateTime::now_utc()),
    };
    round::Entity::insert(row).exec(db).await?;
    crate::changes::record(
        db,
        sync_protocol::ChangeKind::RoundChanged,
        Some(r.code),
        None,
        serde_json::json!({ "round": r.code, "status": "open" }),
    )
    .await?;
    Ok(())
}
