//! The index engine's per-village sufficient statistics in the database (`index_cluster_stats`).
//!
//! Every accepted form adds its counts to its village's row **in the transaction that stores the
//! form**, so the indices of any unit are one read of its villages' rows, never a scan of the
//! forms. [`PendingStats`] gathers a transaction's changes per village and [`PendingStats::apply`]
//! writes them; [`compute_from_forms`] is the naive recomputation from the stored forms (used by
//! `sipas indices rebuild` to repair or backfill, and as the benchmark's baseline).
//!
//! Concurrency: `apply` first creates the missing village rows empty and locks the existing ones
//! (one `INSERT … ON CONFLICT DO UPDATE … RETURNING`, in key order), which reads every touched row
//! and takes its row lock on PostgreSQL (SQLite holds the database write lock already), adds the
//! changes and writes each row once, with one `INSERT … ON CONFLICT DO UPDATE`. Two server
//! processes adding to one village therefore serialise on that row and neither update is lost;
//! taking the locks in key order prevents deadlocks between batches (see `write_cells`).

use std::{
    collections::{BTreeMap, HashMap, HashSet, btree_map},
    sync::Arc,
};

use indices::{
    ClusterKey, ClusterStats, FormDigest, StatsError, StatsLayout, cluster_key, decode_counts,
    encode_counts,
};
use schema::ValidAnswers;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
    sea_query::{Expr, OnConflict, Query},
};
use time::OffsetDateTime;

use crate::{
    definitions::{Definition, Definitions},
    entities::{form, index_cluster_stat as ics},
};

/// Where a form counts: round, questionnaire version and village.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// Round code.
    pub round: String,
    /// Questionnaire code.
    pub questionnaire: String,
    /// Questionnaire version.
    pub version: i32,
    /// Commune (stratum).
    pub commune: String,
    /// Normalised village code ([`cluster_key`]).
    pub cluster: String,
}

/// The units above a village, stored beside its stats so that reading a province needs no join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Province code.
    pub province: String,
    /// District code, in geographies with districts.
    pub district: Option<String>,
    /// The village code as first spelled.
    pub label: String,
}

struct Change {
    place: Place,
    layout: Arc<StatsLayout>,
    added: ClusterStats,
    removed: ClusterStats,
}

/// The stats changes of one transaction, per village.
#[derive(Default)]
pub struct PendingStats {
    cells: BTreeMap<Cell, Change>,
    /// The place of the form counted last and its cell: forms come village by village, so most
    /// forms find their cell here without building its key (folding the village code).
    last: Option<(LastPlace, Cell)>,
}

/// A form place as given (before folding), to recognise the next form of the same village.
struct LastPlace {
    layout: Arc<StatsLayout>,
    round: String,
    commune: String,
    village: String,
}

impl LastPlace {
    fn is(&self, layout: &Arc<StatsLayout>, at: &FormPlace<'_>) -> bool {
        Arc::ptr_eq(&self.layout, layout)
            && self.round == at.round
            && self.commune == at.commune
            && self.village == at.village
    }
}

/// A form's place in the stats: its round, questionnaire and units.
#[derive(Debug, Clone, Copy)]
pub struct FormPlace<'a> {
    /// Round code.
    pub round: &'a str,
    /// Province code.
    pub province: &'a str,
    /// District code.
    pub district: Option<&'a str>,
    /// Commune code.
    pub commune: &'a str,
    /// Village code as typed.
    pub village: &'a str,
}

impl<'a> FormPlace<'a> {
    /// Where a submitted form counts.
    pub fn of<A>(f: &'a sync_protocol::FormSubmission<A>) -> FormPlace<'a> {
        FormPlace {
            round: &f.round,
            province: &f.units.province,
            district: f.units.district.as_deref(),
            commune: &f.units.commune,
            village: &f.units.village,
        }
    }

    /// Where a stored form counts.
    pub fn of_row(f: &'a form::Model) -> FormPlace<'a> {
        FormPlace {
            round: &f.round_code,
            province: &f.province_code,
            district: f.district_code.as_deref(),
            commune: &f.commune_code,
            village: &f.village_code,
        }
    }
}

impl PendingStats {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    fn change(&mut self, layout: &Arc<StatsLayout>, at: FormPlace<'_>) -> &mut Change {
        // Cells are never removed, so the last form's cell is still there.
        let hit = self
            .last
            .as_ref()
            .is_some_and(|(last, _)| last.is(layout, &at));
        if !hit {
            let cell = Cell {
                round: at.round.to_owned(),
                questionnaire: layout.questionnaire.to_string(),
                version: i32::try_from(layout.version).unwrap_or(i32::MAX),
                commune: at.commune.to_owned(),
                cluster: cluster_key(at.village),
            };
            self.cells.entry(cell.clone()).or_insert_with(|| Change {
                place: Place {
                    province: at.province.to_owned(),
                    district: at.district.map(str::to_owned),
                    label: at.village.trim().to_owned(),
                },
                layout: layout.clone(),
                added: ClusterStats::new(layout),
                removed: ClusterStats::new(layout),
            });
            let place = LastPlace {
                layout: layout.clone(),
                round: at.round.to_owned(),
                commune: at.commune.to_owned(),
                village: at.village.to_owned(),
            };
            self.last = Some((place, cell));
        }
        let (_, cell) = self.last.as_ref().expect("set above");
        self.cells.get_mut(cell).expect("inserted above")
    }

    /// Counts an accepted form, given by its digest ([`FormDigest::of`] its valid answers).
    pub fn add(
        &mut self,
        layout: &Arc<StatsLayout>,
        at: FormPlace<'_>,
        form: &FormDigest,
    ) -> Result<(), StatsError> {
        self.change(layout, at).added.add_digest(layout, form)
    }

    /// Uncounts a form counted before (a form rejected after acceptance).
    pub fn remove(
        &mut self,
        layout: &Arc<StatsLayout>,
        at: FormPlace<'_>,
        form: &FormDigest,
    ) -> Result<(), StatsError> {
        self.change(layout, at).removed.add_digest(layout, form)
    }

    /// Adds another transaction's changes to these, so that both are written together (each
    /// village's row once). A village keeps the place it was first given.
    pub fn merge(&mut self, other: PendingStats) -> Result<(), StatsError> {
        for (cell, change) in other.cells {
            match self.cells.entry(cell) {
                btree_map::Entry::Occupied(mut e) => {
                    let mine = e.get_mut();
                    mine.added.add(&change.added)?;
                    mine.removed.add(&change.removed)?;
                }
                btree_map::Entry::Vacant(e) => {
                    e.insert(change);
                }
            }
        }
        Ok(())
    }

    /// Writes the changes inside the caller's transaction (see the module docs for the locking).
    /// Fails, so that the transaction rolls back, if a removal exceeds what was counted.
    pub async fn apply(self, txn: &impl ConnectionTrait, now: OffsetDateTime) -> Result<(), DbErr> {
        if self.cells.is_empty() {
            return Ok(());
        }
        write_cells(txn, self.cells.into_iter().collect(), now).await
    }
}

/// The key columns of `index_cluster_stats`, in key order.
const KEY_COLUMNS: [ics::Column; 5] = [
    ics::Column::RoundCode,
    ics::Column::QuestionnaireCode,
    ics::Column::QuestionnaireVersion,
    ics::Column::CommuneCode,
    ics::Column::ClusterKey,
];

fn cell_of(row: &sea_orm::QueryResult) -> Result<Cell, DbErr> {
    Ok(Cell {
        round: row.try_get("", "round_code")?,
        questionnaire: row.try_get("", "questionnaire_code")?,
        version: row.try_get("", "questionnaire_version")?,
        commune: row.try_get("", "commune_code")?,
        cluster: row.try_get("", "cluster_key")?,
    })
}

/// The `index_cluster_stats` row of a village.
fn stats_row(
    cell: &Cell,
    place: &Place,
    n_forms: i64,
    counts: Vec<u8>,
    version: i64,
    now: OffsetDateTime,
) -> ics::ActiveModel {
    ics::ActiveModel {
        round_code: sea_orm::Set(cell.round.clone()),
        questionnaire_code: sea_orm::Set(cell.questionnaire.clone()),
        questionnaire_version: sea_orm::Set(cell.version),
        commune_code: sea_orm::Set(cell.commune.clone()),
        cluster_key: sea_orm::Set(cell.cluster.clone()),
        province_code: sea_orm::Set(place.province.clone()),
        district_code: sea_orm::Set(place.district.clone()),
        village_label: sea_orm::Set(place.label.clone()),
        n_forms: sea_orm::Set(n_forms),
        counts: sea_orm::Set(counts),
        version: sea_orm::Set(version),
        updated_at: sea_orm::Set(now),
    }
}

/// [`PendingStats::apply`], in two statements:
///
/// 1. `INSERT … ON CONFLICT DO UPDATE … RETURNING` of an empty row (no counts, version 0) for
///    every touched village, in key order: a village new to the round gets its row, an existing
///    row is locked by a no-op update (its version set to itself), and either way the row comes
///    back with what it holds. Two transactions therefore take their row locks in one order, key
///    order, and cannot deadlock; locking only the rows that already existed, then creating the
///    others while writing, did deadlock (three pushes on new villages, reproduced in
///    `tests/tests/api/indices.rs`). SQLite holds the database write lock already.
/// 2. One `INSERT … ON CONFLICT DO UPDATE` writes each row's new counts once (every row exists
///    and is this transaction's by then, so it always updates).
///
/// Step 1 replaced an `INSERT … DO NOTHING` plus a `SELECT … FOR UPDATE` whose `WHERE` named
/// every key: one statement fewer per push, and no plan to go stale as the table grows.
async fn write_cells(
    txn: &impl ConnectionTrait,
    cells: Vec<(Cell, Change)>,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let mut held: HashMap<Cell, (Vec<u8>, i64, i64)> = HashMap::with_capacity(cells.len());
    // `cells` come from a BTreeMap: in key order.
    for chunk in cells.chunks(100) {
        // Empty counts, version 0: no forms counted yet.
        let rows = chunk
            .iter()
            .map(|(cell, ch)| stats_row(cell, &ch.place, 0, Vec::new(), 0, now));
        let mut stmt = ics::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns(KEY_COLUMNS)
                    .value(
                        ics::Column::Version,
                        Expr::col((ics::Entity, ics::Column::Version)),
                    )
                    .to_owned(),
            )
            .into_query();
        stmt.returning(Query::returning().columns(KEY_COLUMNS.into_iter().chain([
            ics::Column::Counts,
            ics::Column::NForms,
            ics::Column::Version,
        ])));
        for row in txn.query_all(&stmt).await? {
            let cell = cell_of(&row)?;
            let counts: Vec<u8> = row.try_get("", "counts")?;
            let n_forms: i64 = row.try_get("", "n_forms")?;
            let version: i64 = row.try_get("", "version")?;
            held.insert(cell, (counts, n_forms, version));
        }
    }
    let mut rows = Vec::with_capacity(cells.len());
    for (cell, ch) in &cells {
        let (mut stats, n_forms, version) = match held.get(cell) {
            Some((bytes, n, v)) if !bytes.is_empty() => (
                decode_counts(&ch.layout, bytes)
                    .map_err(|e| DbErr::Custom(format!("index stats row {cell:?}: {e}")))?,
                *n,
                *v,
            ),
            // The empty row step 1 created.
            Some((_, n, v)) => (ClusterStats::new(&ch.layout), *n, *v),
            // Step 1 made sure the row exists; writing counts that were not read would lose them.
            None => {
                return Err(DbErr::Custom(format!(
                    "index stats row {cell:?} missing after it was created"
                )));
            }
        };
        stats
            .add(&ch.added)
            .and_then(|()| stats.subtract(&ch.removed))
            .map_err(|e| DbErr::Custom(format!("index stats row {cell:?}: {e}")))?;
        let delta = i64::from(ch.added.n_forms()) - i64::from(ch.removed.n_forms());
        // The version read plus one.
        rows.push(stats_row(
            cell,
            &ch.place,
            n_forms + delta,
            encode_counts(&stats),
            version + 1,
            now,
        ));
    }
    for chunk in rows.chunks(100) {
        ics::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns(KEY_COLUMNS)
                    .update_columns([
                        ics::Column::Counts,
                        ics::Column::NForms,
                        ics::Column::Version,
                        ics::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// A cheap fingerprint of a round's stored stats: the number of village rows and the sum of their
/// versions. Every change bumps a row's version (and a rebuild starts above the old maximum), so
/// the fingerprint changes whenever the stats do; equal fingerprints mean a cached copy is current.
pub async fn stamp(db: &impl ConnectionTrait, round: &str) -> Result<(i64, i64), DbErr> {
    Ok(ics::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(\"version\"), 0) AS BIGINT)"),
            "s",
        )
        .filter(ics::Column::RoundCode.eq(round))
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or((0, 0)))
}

/// The stats of one village as read back: its key (commune, village), place and counts.
#[derive(Debug, Clone)]
pub struct VillageStats {
    /// Stratum (commune) and cluster (normalised village).
    pub key: ClusterKey,
    /// Units above.
    pub place: Place,
    /// Questionnaire code and version of these counts.
    pub questionnaire: (String, i32),
    /// The layout of the counts (of that questionnaire version).
    pub layout: Arc<StatsLayout>,
    /// The counts.
    pub stats: ClusterStats,
}

/// Reads the stats rows of a round, optionally of some provinces only, ordered by commune and
/// village (then questionnaire version). Rows whose counts do not fit their layout (which would
/// mean a corrupted row) fail the read.
pub async fn load(
    db: &impl ConnectionTrait,
    definitions: &Definitions,
    round: &str,
    provinces: Option<&[String]>,
) -> Result<Vec<VillageStats>, DbErr> {
    type Row = (
        String,
        i32,
        String,
        String,
        String,
        Option<String>,
        String,
        Vec<u8>,
    );
    let mut query = ics::Entity::find()
        .select_only()
        .columns([
            ics::Column::QuestionnaireCode,
            ics::Column::QuestionnaireVersion,
            ics::Column::CommuneCode,
            ics::Column::ClusterKey,
            ics::Column::ProvinceCode,
            ics::Column::DistrictCode,
            ics::Column::VillageLabel,
            ics::Column::Counts,
        ])
        .filter(ics::Column::RoundCode.eq(round));
    if let Some(p) = provinces {
        query = query.filter(ics::Column::ProvinceCode.is_in(p.iter().cloned()));
    }
    // No ORDER BY: a database sort would carry every row's counts blob (SQLite's sorter copies
    // them, spilling past its cache); the rows are sorted below instead.
    let rows: Vec<Row> = query
        .filter(ics::Column::NForms.gt(0))
        .into_tuple()
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut layout_of: HashMap<(String, i32), Arc<StatsLayout>> = HashMap::new();
    for (qcode, qversion, commune, cluster, province, district, label, counts) in rows {
        let qkey = (qcode, qversion);
        let layout = match layout_of.get(&qkey) {
            Some(l) => l.clone(),
            None => {
                let l = definitions
                    .stored(db, &qkey.0, qkey.1)
                    .await?
                    .layout
                    .clone();
                layout_of.insert(qkey.clone(), l.clone());
                l
            }
        };
        let stats = decode_counts(&layout, &counts).map_err(|e| {
            DbErr::Custom(format!("index stats row {round}/{commune}/{cluster}: {e}"))
        })?;
        out.push(VillageStats {
            key: ClusterKey::new(commune, cluster),
            place: Place {
                province,
                district,
                label,
            },
            questionnaire: qkey,
            layout,
            stats,
        });
    }
    out.sort_unstable_by(|a, b| (&a.key, &a.questionnaire).cmp(&(&b.key, &b.questionnaire)));
    Ok(out)
}

/// The naive recomputation: reads every counted form of the round (optionally of some provinces),
/// decodes its answers and adds them up per village. Returns the same rows [`load`] would read when
/// the stored stats are right.
pub async fn compute_from_forms(
    db: &impl ConnectionTrait,
    definitions: &Definitions,
    round: &str,
    provinces: Option<&[String]>,
) -> Result<Vec<VillageStats>, DbErr> {
    compute_from_forms_without(db, definitions, round, provinces, &HashSet::new()).await
}

/// [`compute_from_forms`] leaving out the forms of `without` (the indices without flagged forms,
/// see `crate::quality`): exact, as it adds up the remaining forms themselves.
pub async fn compute_from_forms_without(
    db: &impl ConnectionTrait,
    definitions: &Definitions,
    round: &str,
    provinces: Option<&[String]>,
    without: &HashSet<uuid::Uuid>,
) -> Result<Vec<VillageStats>, DbErr> {
    type Row = (
        i64,
        uuid::Uuid,
        String,
        i32,
        String,
        Option<String>,
        String,
        String,
        Vec<u8>,
    );
    let mut pending = PendingStats::default();
    let mut defs: HashMap<(String, i32), Arc<Definition>> = HashMap::new();
    let mut after = i64::MIN;
    // The statuses the round counts (received and approved, or approved only).
    let counted = crate::review::Counted::of_round(db, round).await?;
    loop {
        let mut query = form::Entity::find()
            .select_only()
            .columns([
                form::Column::Seq,
                form::Column::Id,
                form::Column::QuestionnaireCode,
                form::Column::QuestionnaireVersion,
                form::Column::ProvinceCode,
                form::Column::DistrictCode,
                form::Column::CommuneCode,
                form::Column::VillageCode,
                form::Column::Answers,
            ])
            .filter(form::Column::RoundCode.eq(round))
            .filter(form::Column::Status.is_in(counted.statuses()))
            .filter(form::Column::Seq.gt(after));
        if let Some(p) = provinces {
            query = query.filter(form::Column::ProvinceCode.is_in(p.iter().cloned()));
        }
        let rows: Vec<Row> = query
            .order_by_asc(form::Column::Seq)
            .limit(20_000)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        for (seq, id, qcode, qversion, province, district, commune, village, answers) in rows {
            if without.contains(&id) {
                continue;
            }
            let key = (qcode, qversion);
            if !defs.contains_key(&key) {
                let def = definitions.stored(db, &key.0, key.1).await?;
                defs.insert(key.clone(), def);
            }
            let Definition {
                questionnaire: q,
                layout,
            } = defs[&key].as_ref();
            let valid = ValidAnswers::decode(q, &answers)
                .map_err(|e| DbErr::Custom(format!("form {seq} answers do not decode: {e}")))?;
            let at = FormPlace {
                round,
                province: &province,
                district: district.as_deref(),
                commune: &commune,
                village: &village,
            };
            pending
                .add(layout, at, &FormDigest::of(layout, &valid))
                .map_err(|e| DbErr::Custom(format!("form {seq}: {e}")))?;
        }
    }
    Ok(pending
        .cells
        .into_iter()
        .map(|(cell, ch)| VillageStats {
            key: ClusterKey::new(cell.commune, cell.cluster),
            place: ch.place,
            questionnaire: (cell.questionnaire, cell.version),
            layout: ch.layout,
            stats: ch.added,
        })
        .collect())
}

/// Replaces a round's stored stats by a recomputation from its forms (repair or backfill), in one
/// transaction. Returns the number of villages written.
pub async fn rebuild(
    db: &sea_orm::DatabaseConnection,
    definitions: &Definitions,
    round: &str,
) -> Result<usize, DbErr> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let n = rebuild_in(&txn, definitions, round).await?;
    txn.commit().await?;
    Ok(n)
}

/// [`rebuild`] inside `txn` (e.g. with the change of what the round counts).
pub async fn rebuild_in(
    txn: &sea_orm::DatabaseTransaction,
    definitions: &Definitions,
    round: &str,
) -> Result<usize, DbErr> {
    // New rows get a version above every old one, so that a cached copy of the round cannot take
    // the rebuilt stats for the ones it holds (see `stamp`).
    let (_, old_max): (i64, i64) = ics::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(
            Expr::cust("CAST(COALESCE(MAX(\"version\"), 0) AS BIGINT)"),
            "m",
        )
        .filter(ics::Column::RoundCode.eq(round))
        .into_tuple()
        .one(txn)
        .await?
        .unwrap_or((0, 0));
    ics::Entity::delete_many()
        .filter(ics::Column::RoundCode.eq(round))
        .exec(txn)
        .await?;
    let villages = compute_from_forms(txn, definitions, round, None).await?;
    let now = OffsetDateTime::now_utc();
    let n = villages.len();
    let rows: Vec<ics::ActiveModel> = villages
        .into_iter()
        .map(|v| ics::ActiveModel {
            round_code: sea_orm::Set(round.to_owned()),
            questionnaire_code: sea_orm::Set(v.questionnaire.0),
            questionnaire_version: sea_orm::Set(v.questionnaire.1),
            commune_code: sea_orm::Set(v.key.stratum),
            cluster_key: sea_orm::Set(v.key.cluster),
            province_code: sea_orm::Set(v.place.province),
            district_code: sea_orm::Set(v.place.district),
            village_label: sea_orm::Set(v.place.label),
            n_forms: sea_orm::Set(i64::from(v.stats.n_forms())),
            counts: sea_orm::Set(encode_counts(&v.stats)),
            version: sea_orm::Set(old_max + 1),
            updated_at: sea_orm::Set(now),
        })
        .collect();
    for chunk in rows.chunks(200) {
        ics::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merging the changes of two transactions gives the changes of one that counted every form:
    /// shared villages add up, and a village keeps the place it was first given.
    #[test]
    fn merged_changes_equal_the_changes_counted_together() {
        let q = schema::builtin::sipas();
        let layout = Arc::new(StatsLayout::new(q));
        let form = schema::validate(q, &schema::sample::complete_sipas_answers()).unwrap();
        let digest = FormDigest::of(&layout, &form);
        let at = |village| FormPlace {
            round: "r",
            province: "12",
            district: None,
            commune: "c1",
            village,
        };
        let (mut a, mut b, mut both) = (
            PendingStats::default(),
            PendingStats::default(),
            PendingStats::default(),
        );
        a.add(&layout, at("Bản 1"), &digest).unwrap();
        a.add(&layout, at("Bản 2"), &digest).unwrap();
        b.add(&layout, at("ban 1"), &digest).unwrap();
        for village in ["Bản 1", "Bản 2", "ban 1"] {
            both.add(&layout, at(village), &digest).unwrap();
        }
        a.merge(b).unwrap();
        a.merge(PendingStats::default()).unwrap();
        assert_eq!(a.cells.len(), 2);
        for ((cell, mine), (other, want)) in a.cells.iter().zip(&both.cells) {
            assert_eq!(cell, other);
            assert_eq!(mine.place, want.place);
            assert_eq!(mine.added, want.added);
            assert_eq!(mine.removed, want.removed);
        }
        assert_eq!(a.cells.values().map(|c| c.added.n_forms()).sum::<u32>(), 3);
    }
}
