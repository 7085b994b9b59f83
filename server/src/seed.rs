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
    #[error(
        "không đăng ký được bộ câu hỏi có sẵn / cannot register the built-in questionnaire: {}",
        match .0 { registry::PublishError::Db(e) => crate::db::cause(e), other => other.to_string() }
    )]
    Questionnaire(registry::PublishError),
    /// The database failed.
    // No `#[source]`: the message is the database's own words (see `db::cause`), and the chain
    // would add the driver's wrapping of them.
    #[error("{}", crate::db::cause(.0))]
    Db(DbErr),
}

impl From<registry::PublishError> for SeedError {
    fn from(e: registry::PublishError) -> Self {
        SeedError::Questionnaire(e)
    }
}

impl From<DbErr> for SeedError {
    fn from(e: DbErr) -> Self {
        SeedError::Db(e)
    }
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
    /// The sampling design recorded for it when it has none.
    design: fn() -> crate::sampling::Design,
}

const ROUNDS: &[RoundSeed] = &[
    RoundSeed {
        code: "sipas-2023",
        year: 2023,
        title_vi: "Khảo sát SIPAS năm 2023",
        title_en: "SIPAS 2023 survey",
        geography: ::geography::VN_2023,
        levels: &["province", "district", "commune", "village"],
        design: crate::sampling::Design::sipas_2023,
    },
    RoundSeed {
        code: "sipas-2025",
        year: 2025,
        title_vi: "Khảo sát SIPAS năm 2025",
        title_en: "SIPAS 2025 survey",
        geography: ::geography::VN_2025,
        levels: &["province", "commune", "village"],
        design: crate::sampling::Design::sipas_2025,
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
        crate::sampling::store::seed_design(db, r.code, &(r.design)()).await?;
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reference data ready"
    );
    Ok(())
}

/// One `geo_units` row exactly as the seed writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UnitRow<'a> {
    code: &'a str,
    level: &'static str,
    unit_type: &'a str,
    name: &'a str,
    search_key: String,
    parent_code: Option<&'a str>,
}

/// The rows of a geography's units, in the geography's order (level, then code).
fn unit_rows(geo: &::geography::Geography) -> Vec<UnitRow<'_>> {
    geo.units()
        .iter()
        .map(|u| UnitRow {
            code: &u.code,
            level: u.level.as_str(),
            unit_type: &u.unit_type,
            name: &u.name,
            search_key: ::geography::fold(&format!("{} {}", u.unit_type, u.name)),
            parent_code: u.parent.as_deref(),
        })
        .collect()
}

/// The `levels` column of a geography: its levels as a JSON array, top first.
fn levels_json(geo: &::geography::Geography) -> String {
    serde_json::to_string(&geo.levels.iter().map(|l| l.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

/// SHA-256 over a sequence of fields, each length-prefixed so that no two different sequences
/// feed the same bytes, whatever characters the fields hold.
struct FieldHasher(Sha256);

impl FieldHasher {
    /// Starts with a tag naming what is hashed and how, so that a change of layout is a change
    /// of hash.
    fn new(tag: &str) -> FieldHasher {
        let mut h = FieldHasher(Sha256::new());
        h.field(tag);
        h
    }

    fn field(&mut self, s: &str) {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
    }

    fn optional(&mut self, s: Option<&str>) {
        match s {
            None => self.0.update([0]),
            Some(s) => {
                self.0.update([1]);
                self.field(s);
            }
        }
    }

    fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

/// The stored hash of a geography: of every column the seed writes for it (its `geographies` row
/// but the hash and the load time, and each unit row in order), so the units are reloaded
/// exactly when something they would be written with differs. Depends on nothing but its
/// arguments: every process computes the same hash for the same data.
fn geography_hash(
    code: &str,
    name_vi: &str,
    name_en: &str,
    levels: &str,
    units: &[UnitRow<'_>],
) -> String {
    let mut h = FieldHasher::new("sipas geography v2");
    for f in [code, name_vi, name_en, levels] {
        h.field(f);
    }
    for u in units {
        for f in [u.code, u.level, u.unit_type, u.name, &u.search_key] {
            h.field(f);
        }
        h.optional(u.parent_code);
    }
    h.finish()
}

/// The stored hash of a successor mapping: of its two geographies and its rows (old code,
/// new code, default or not) in the order given, which [`::geography::Mapping::links`] fixes.
/// Depends on nothing but its arguments: every process computes the same hash for the same data.
fn mapping_hash<'a>(
    from: &str,
    to: &str,
    links: impl IntoIterator<Item = (&'a str, &'a str, bool)>,
) -> String {
    let mut h = FieldHasher::new("sipas successor mapping v2");
    h.field(from);
    h.field(to);
    for (old, new, is_default) in links {
        h.field(old);
        h.field(new);
        h.field(if is_default { "1" } else { "0" });
    }
    h.finish()
}

/// Loads (or reloads, when the shipped data changed) one geography's units. Writes nothing when
/// the stored hash is that of the shipped data.
async fn load_geography(
    db: &DatabaseConnection,
    geo: &::geography::Geography,
) -> Result<(), DbErr> {
    let units = unit_rows(geo);
    let levels = levels_json(geo);
    let hash = geography_hash(geo.code, geo.name_vi, geo.name_en, &levels, &units);
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
    for chunk in units.chunks(BATCH) {
        let rows = chunk.iter().map(|u| geo_unit::ActiveModel {
            geography_code: Set(geo.code.to_owned()),
            code: Set(u.code.to_owned()),
            level: Set(u.level.to_owned()),
            unit_type: Set(u.unit_type.to_owned()),
            name: Set(u.name.to_owned()),
            search_key: Set(u.search_key.clone()),
            parent_code: Set(u.parent_code.map(str::to_owned)),
        });
        geo_unit::Entity::insert_many(rows).exec(&txn).await?;
    }
    txn.commit().await?;
    tracing::info!(
        geography = geo.code,
        units = units.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded geography"
    );
    Ok(())
}

/// Loads the successor mapping between two geographies; reloaded only when the data changed, and
/// nothing is written when the stored hash is that of the shipped data.
async fn load_successors(db: &DatabaseConnection, m: &::geography::Mapping) -> Result<(), DbErr> {
    let hash = mapping_hash(
        m.from,
        m.to,
        m.links()
            .map(|(old, s)| (old, s.code.as_str(), s.is_default)),
    );
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
    let all: Vec<(&str, &::geography::Successor)> = m.links().collect();
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
        counted_states: Set(crate::review::Counted::Received.as_str().to_owned()),
        created_at: Set(OffsetDateTime::now_utc()),
        practice: Set(false),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn unit<'a>(code: &'a str, parent_code: Option<&'a str>) -> UnitRow<'a> {
        UnitRow {
            code,
            level: "commune",
            unit_type: "Xã",
            name: "Tân Lập",
            search_key: "xa tan lap".into(),
            parent_code,
        }
    }

    fn geo(units: &[UnitRow<'_>]) -> String {
        geography_hash("g", "Tên", "Name", r#"["province","commune"]"#, units)
    }

    #[test]
    fn geography_hash_covers_every_written_column() {
        let base = [unit("00001", Some("01"))];
        let same = geo(&base);
        assert_eq!(same, geo(&[unit("00001", Some("01"))]));
        let mut key = base.clone();
        key[0].search_key = "xa tan lap 2".into();
        let mut typ = base.clone();
        typ[0].unit_type = "Phường";
        for other in [
            geo(&key),
            geo(&typ),
            geo(&[unit("00001", None)]),
            geo(&[unit("00001", Some(""))]),
            geo(&[unit("00002", Some("01"))]),
            geography_hash("g", "Tên", "Name 2", r#"["province","commune"]"#, &base),
            geography_hash("g2", "Tên", "Name", r#"["province","commune"]"#, &base),
        ] {
            assert_ne!(other, same);
        }
        assert_ne!(geo(&[unit("00001", None)]), geo(&[unit("00001", Some(""))]));
    }

    #[test]
    fn mapping_hash_is_of_the_rows_in_the_order_given() {
        let rows = [
            ("001", "101", true),
            ("001", "102", false),
            ("002", "101", true),
        ];
        let h = mapping_hash("a", "b", rows);
        assert_eq!(h, mapping_hash("a", "b", rows));
        let mut swapped = rows;
        swapped.swap(0, 1);
        assert_ne!(h, mapping_hash("a", "b", swapped));
        let mut flag = rows;
        flag[1].2 = true;
        assert_ne!(h, mapping_hash("a", "b", flag));
        assert_ne!(h, mapping_hash("a", "c", rows));
        // Field boundaries count: ("0011", "01") is not ("001", "101").
        assert_ne!(
            mapping_hash("a", "b", [("001", "101", true)]),
            mapping_hash("a", "b", [("0011", "01", true)])
        );
    }

    /// The hashes stored for the shipped data. They must be the same in every process and every
    /// build of the same data: a different value makes every database reload that data at its next
    /// start. Change them only with the data (or the layout of the hash), knowing that.
    #[test]
    fn shipped_data_hashes_are_fixed() {
        let hashes: Vec<String> = ::geography::all()
            .iter()
            .map(|g| geography_hash(g.code, g.name_vi, g.name_en, &levels_json(g), &unit_rows(g)))
            .collect();
        let m = ::geography::vn_2023_to_2025();
        let mapping = mapping_hash(
            m.from,
            m.to,
            m.links().map(|(o, s)| (o, s.code.as_str(), s.is_default)),
        );
        assert_eq!(
            hashes,
            [
                "815efaef475a31fad0c8dd7e1273fc4f209d4563606e8ff8af9b4633bed3e5ad",
                "9344e520cb60b612e5ea160a3f622f8b9844fa6026891605a1663752cbac8d3c",
            ]
        );
        assert_eq!(
            mapping,
            "bc3f269f1dca5070b9562a015d6577f59720f84037ab1232802f55bbd21ac72e"
        );
    }
}
