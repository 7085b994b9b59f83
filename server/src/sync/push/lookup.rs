//! What a push reads before its verdicts: the forms and quarantined payloads the server already
//! holds under its ids ([`held`]), and the rounds and questionnaire statuses ([`registry`]).

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TryGetableMany,
    sea_query::{Expr, ExprTrait, PostgresQueryBuilder, Query, SelectStatement, UnionType},
};
use sync_protocol::{FieldProblem, Outcome};
use uuid::Uuid;

use crate::entities::{form, quarantined_form, questionnaire_version, round};

/// What the server holds under some form ids: what a verdict checks a form against besides the
/// registry. A push adds what it decides, so that a form sent twice in one push is answered as if
/// the first had been stored before.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// Each stored (or, in this push, accepted) form.
    pub stored: HashMap<Uuid, HeldForm>,
    /// Outcome and problems of each quarantined payload, by id and content hash.
    pub quarantined: HashMap<(Uuid, String), (Outcome, Vec<FieldProblem>)>,
}

/// A stored form as a verdict sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldForm {
    /// Its content hash.
    pub hash: String,
    /// Its revision.
    pub revision: i32,
    /// Its review status (`accepted`, `approved`, `rejected`).
    pub status: String,
}

impl HeldForm {
    /// A form received (not reviewed) at revision 1.
    #[cfg(test)]
    pub fn received(hash: impl Into<String>) -> HeldForm {
        HeldForm {
            hash: hash.into(),
            revision: 1,
            status: crate::review::Status::Received.as_str().to_owned(),
        }
    }
}

/// What the server holds under these form ids: stored forms and quarantined payloads, in one
/// statement (per 500 ids).
///
/// On PostgreSQL the statement is sent unprepared, ids inlined (uuids, rendered by sea-query), so
/// it is planned for the table as it is now. A prepared statement switches, after five runs, to a
/// generic plan that it keeps until the table is analyzed: prepared while `forms` was nearly empty
/// (a new server's first pushes, before autovacuum first analyzes the table), it kept a
/// sequential scan, and as the table grew each push read all of it (measured: 3 ms per push at
/// 20,000 forms, more than the insert; 0.2 ms planned afresh). Forcing custom plans for the whole
/// connection instead (`plan_cache_mode`) re-planned every 100-row INSERT too, and was no faster.
pub(crate) async fn held(db: &DatabaseConnection, ids: &[Uuid]) -> Result<Held, DbErr> {
    let mut out = Held::default();
    for chunk in ids.chunks(500) {
        let forms = Query::select()
            .column(form::Column::Id)
            .column(form::Column::ContentHash)
            .expr_as(Expr::cust("NULL"), "reason")
            .expr_as(Expr::cust("NULL"), "errors")
            .column(form::Column::Revision)
            .column(form::Column::Status)
            .from(form::Entity)
            .and_where(form::Column::Id.is_in(chunk.iter().copied()))
            .to_owned();
        let stmt = Query::select()
            .column(quarantined_form::Column::FormId)
            .column(quarantined_form::Column::ContentHash)
            .column(quarantined_form::Column::Reason)
            .column(quarantined_form::Column::Errors)
            .expr_as(Expr::cust("NULL"), "revision")
            .expr_as(Expr::cust("NULL"), "status")
            .from(quarantined_form::Entity)
            .and_where(quarantined_form::Column::FormId.is_in(chunk.iter().copied()))
            .and_where(quarantined_form::Column::ContentHash.is_not_null())
            .union(UnionType::All, forms)
            .to_owned();
        // A stored form's row has no reason (a quarantined one always has).
        let mut add = |id: Uuid,
                       hash: String,
                       reason: Option<String>,
                       errors: Option<String>,
                       revision: Option<i32>,
                       status: Option<String>| match reason.zip(errors) {
            None => {
                let form = HeldForm {
                    hash,
                    revision: revision.unwrap_or(1),
                    status: status.unwrap_or_default(),
                };
                out.stored.insert(id, form);
            }
            Some((reason, errors)) => {
                let problems = serde_json::from_str(&errors).unwrap_or_default();
                out.quarantined
                    .insert((id, hash), (Outcome::from_code(&reason), problems));
            }
        };
        type Row = (
            Uuid,
            String,
            Option<String>,
            Option<String>,
            Option<i32>,
            Option<String>,
        );
        for (id, hash, reason, errors, revision, status) in
            fetch_unprepared::<Row>(db, &stmt, "held forms").await?
        {
            add(id, hash, reason, errors, revision, status);
        }
    }
    Ok(out)
}

/// What a push checks forms against: the rounds by code, each with the status of every published
/// version of its questionnaire.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// The rounds by code.
    pub rounds: HashMap<String, RoundRow>,
}

/// The columns of a round a push needs.
#[derive(Debug, Default)]
pub(crate) struct RoundRow {
    /// Round code.
    pub code: String,
    /// `open` or not.
    pub status: String,
    /// The questionnaire its forms are filled on.
    pub questionnaire_code: String,
    /// The geography its units are of.
    pub geography_code: String,
    /// The status (`open` or `closed`) of each published version of its questionnaire.
    pub versions: HashMap<u32, String>,
    /// Which forms count in its indices.
    pub counted: crate::review::Counted,
}

/// Reads the [`Registry`] in one statement: rounds joined with their questionnaire's versions.
pub(crate) async fn registry(db: &DatabaseConnection) -> Result<Registry, DbErr> {
    use questionnaire_version::Column as V;
    use round::Column as R;
    let stmt = Query::select()
        .columns([
            (round::Entity, R::Code),
            (round::Entity, R::Status),
            (round::Entity, R::QuestionnaireCode),
            (round::Entity, R::GeographyCode),
            (round::Entity, R::CountedStates),
        ])
        .columns([
            (questionnaire_version::Entity, V::Version),
            (questionnaire_version::Entity, V::Status),
        ])
        .from(round::Entity)
        .left_join(
            questionnaire_version::Entity,
            Expr::col((questionnaire_version::Entity, V::Code))
                .equals((round::Entity, R::QuestionnaireCode)),
        )
        .to_owned();
    let mut out = Registry::default();
    for r in db.query_all(&stmt).await? {
        let code: String = r.try_get_by_index(0)?;
        let round = match out.rounds.entry(code) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let row = RoundRow {
                    code: e.key().clone(),
                    status: r.try_get_by_index(1)?,
                    questionnaire_code: r.try_get_by_index(2)?,
                    geography_code: r.try_get_by_index(3)?,
                    versions: HashMap::new(),
                    counted: crate::review::Counted::parse(&r.try_get_by_index::<String>(4)?),
                };
                e.insert(row)
            }
        };
        let version: Option<i32> = r.try_get_by_index(5)?;
        let status: Option<String> = r.try_get_by_index(6)?;
        if let (Some(v), Some(s)) = (version.and_then(|v| u32::try_from(v).ok()), status) {
            round.versions.insert(v, s);
        }
    }
    Ok(out)
}

/// What the server holds about the households a push names: the forms held for each
/// household, and the sender's assignments. What [`super::verdict::notes`] flags a stored form
/// with.
#[derive(Debug, Default)]
pub(crate) struct Households {
    /// The ids of the forms held for each household ([`household_key`]).
    pub forms: HashMap<HouseholdKey, Vec<Uuid>>,
    /// The sender's assignments by round. A round missing here has no assignments for the
    /// sender.
    pub assigned: HashMap<String, Vec<Assigned>>,
}

/// One assignment as a push checks it: its commune, its village's normalised code
/// (`indices::cluster_key`) and, when it lists them, its households.
pub(crate) type Assigned = (String, String, Option<Vec<String>>);

/// A household a push names: round, commune, village by its normalised code, household ref.
pub(crate) type HouseholdKey = (String, String, String, String);

/// The key of a household: the village by its normalised code, as the indices and the frames
/// count villages, so that "Bản 1" and "BAN 1" are one village; and within its commune, so that
/// two communes' "Bản 1" are two.
pub(crate) fn household_key(
    round: &str,
    commune: &str,
    village: &str,
    household: &str,
) -> HouseholdKey {
    (
        round.to_owned(),
        commune.to_owned(),
        indices::cluster_key(village),
        household.to_owned(),
    )
}

/// Reads [`Households`] for `keys`, and the assignments of `enumerator` (when the sender is one),
/// in one statement: a push's one lookup about its households, whatever its size.
pub(crate) async fn households(
    db: &DatabaseConnection,
    keys: &[HouseholdKey],
    enumerator: Option<i64>,
) -> Result<Households, DbErr> {
    use crate::entities::assignment;
    let mut out = Households::default();
    if keys.is_empty() {
        return Ok(out);
    }
    let mut rounds: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let mut refs: Vec<&str> = keys.iter().map(|k| k.3.as_str()).collect();
    refs.sort_unstable();
    refs.dedup();
    let mut stmt = Query::select()
        .expr_as(Expr::cust("'h'"), "kind")
        .column(form::Column::Id)
        .column(form::Column::RoundCode)
        .column(form::Column::CommuneCode)
        .column(form::Column::VillageCode)
        .column(form::Column::HouseholdRef)
        .expr_as(Expr::cust("NULL"), "refs")
        .from(form::Entity)
        .and_where(form::Column::RoundCode.is_in(rounds.iter().copied()))
        .and_where(form::Column::HouseholdRef.is_in(refs.iter().copied()))
        .to_owned();
    if let Some(user) = enumerator {
        stmt = stmt
            .union(
                UnionType::All,
                Query::select()
                    .expr_as(Expr::cust("'a'"), "kind")
                    .expr_as(Expr::cust("NULL"), "id")
                    .column(assignment::Column::RoundCode)
                    .column(assignment::Column::CommuneCode)
                    .column(assignment::Column::VillageCode)
                    .expr_as(Expr::cust("NULL"), "household_ref")
                    .column(assignment::Column::HouseholdRefs)
                    .from(assignment::Entity)
                    .and_where(assignment::Column::EnumeratorId.eq(user))
                    .and_where(assignment::Column::Quantity.gt(0))
                    .and_where(assignment::Column::RoundCode.is_in(rounds.iter().copied()))
                    .to_owned(),
            )
            .to_owned();
    }
    type Row = (
        String,
        Option<Uuid>,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = fetch_unprepared(db, &stmt, "households").await?;
    for (kind, id, round, commune, village, household, refs) in rows {
        match (kind.as_str(), id, household) {
            ("h", Some(id), Some(household)) => {
                out.forms
                    .entry(household_key(&round, &commune, &village, &household))
                    .or_default()
                    .push(id);
            }
            ("a", _, _) => {
                let refs = refs
                    .and_then(|r| serde_json::from_str::<Vec<String>>(&r).ok())
                    .filter(|r| !r.is_empty());
                out.assigned.entry(round).or_default().push((
                    commune,
                    indices::cluster_key(&village),
                    refs,
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Runs `stmt` and decodes each row as the tuple `T`, by position. On PostgreSQL the statement is
/// sent unprepared, its values inlined by sea-query, so that it is planned for the table as it is
/// now (why: [`held`]); `what` names the lookup in a decoding error.
async fn fetch_unprepared<T>(
    db: &DatabaseConnection,
    stmt: &SelectStatement,
    what: &str,
) -> Result<Vec<T>, DbErr>
where
    T: TryGetableMany + for<'r> sea_orm::sqlx::FromRow<'r, sea_orm::sqlx::postgres::PgRow>,
{
    if db.get_database_backend() == DbBackend::Postgres {
        use sea_orm::sqlx::AssertSqlSafe;
        let sql = stmt.to_string(PostgresQueryBuilder);
        let rows = sea_orm::sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_all(db.get_postgres_connection_pool())
            .await
            .map_err(|e| DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into())))?;
        rows.iter()
            .map(|r| T::from_row(r).map_err(|e| DbErr::Custom(format!("{what}: {e}"))))
            .collect()
    } else {
        db.query_all(stmt)
            .await?
            .iter()
            .map(|r| r.try_get_many_by_index::<T>())
            .collect()
    }
}
