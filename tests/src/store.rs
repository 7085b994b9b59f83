//! What the tests read and write in the app's database directly: forms stored outside the sync
//! protocol, forms and quarantine rows counted, devices, a form's status changed, and the index
//! statistics stored, recomputed and rebuilt. Every call into the server's form and statistics
//! functions goes through here.

use std::sync::Arc;

use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use sipas_server::{
    entities::{device, form, quarantined_form},
    index_stats::{FormPlace, PendingStats, VillageStats},
};
use sync_protocol::FormSubmission;
use uuid::Uuid;

use crate::TestApp;

impl TestApp {
    /// Stores an accepted form directly, as an import would (the sync push does this in
    /// production), submitted by `submitted_by`; returns its id. The form must be on the built-in
    /// SIPAS questionnaire.
    pub async fn insert_form(&self, f: FormSubmission, submitted_by: Option<i64>) -> Uuid {
        let q = schema::builtin::sipas();
        assert_eq!(
            (f.questionnaire_code.as_str(), f.questionnaire_version),
            (q.code.as_str(), q.version),
            "insert_form stores forms of the built-in questionnaire"
        );
        let by = sipas_server::forms::Sender {
            user: submitted_by,
            device: None,
        };
        sipas_server::forms::store_accepted(&self.state.db, &self.state.definitions, &f, by)
            .await
            .expect("store form");
        f.id
    }

    /// Copies the stored form `template` (by `seq`) `n` times in one SQL statement, with fresh
    /// ids and household references `COPY-1`…: the bulk path the export bench fills with, for
    /// tests that need a large export fast. The copies are not in the index statistics.
    pub async fn copy_forms(&self, template: i64, n: usize) {
        use sea_orm::{ConnectionTrait, DbBackend};
        let cols = "round_code, questionnaire_code, questionnaire_version, province_code, \
                    district_code, commune_code, village_code, status, revision, content_hash, \
                    device_id, submitted_by, started_at, finished_at, received_at, updated_at, \
                    gps_lat, gps_lon, answers";
        let t_cols = cols
            .split(',')
            .map(|c| format!("t.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = match self.state.db.get_database_backend() {
            DbBackend::Postgres => format!(
                "INSERT INTO forms (id, household_ref, {cols}) \
                 SELECT gen_random_uuid(), 'COPY-' || g, {t_cols} \
                 FROM generate_series(1, {n}) g JOIN forms t ON t.seq = {template}"
            ),
            _ => format!(
                "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) \
                 INSERT INTO forms (id, household_ref, {cols}) \
                 SELECT CASE typeof(t.id) WHEN 'blob' THEN randomblob(16) ELSE \
                   lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || \
                   substr(hex(randomblob(2)), 2) || '-a' || substr(hex(randomblob(2)), 2) || '-' || \
                   hex(randomblob(6))) END, 'COPY-' || g, {t_cols} \
                 FROM s JOIN forms t ON t.seq = {template}"
            ),
        };
        self.state
            .db
            .execute_unprepared(&sql)
            .await
            .expect("bulk copy of a form");
    }

    /// Forms stored, whatever their status.
    pub async fn form_count(&self) -> u64 {
        form::Entity::find()
            .count(&self.state.db)
            .await
            .expect("count forms")
    }

    /// Quarantine rows.
    pub async fn quarantine_count(&self) -> u64 {
        quarantined_form::Entity::find()
            .count(&self.state.db)
            .await
            .expect("count quarantine rows")
    }

    /// Every quarantine row, in the order they were filed.
    pub async fn quarantined(&self) -> Vec<quarantined_form::Model> {
        quarantined_form::Entity::find()
            .order_by_asc(quarantined_form::Column::Seq)
            .all(&self.state.db)
            .await
            .expect("read quarantine")
    }

    /// The registered device `id`.
    pub async fn device_row(&self, id: &str) -> device::Model {
        device::Entity::find_by_id(id.to_owned())
            .one(&self.state.db)
            .await
            .expect("read device")
            .unwrap_or_else(|| panic!("device {id} is registered"))
    }

    /// Changes a stored form's status (`rejected`, `accepted`, ...) as a review would; returns the
    /// previous status, `None` when no form has this id.
    pub async fn change_status(&self, id: Uuid, status: &str) -> Option<String> {
        let s = &self.state;
        sipas_server::forms::change_status(&s.db, &s.definitions, id, status)
            .await
            .expect("change status")
    }

    /// The index statistics stored for a round, village by village.
    pub async fn stored_stats(&self, round: &str) -> Vec<VillageStats> {
        let s = &self.state;
        sipas_server::index_stats::load(&s.db, &s.definitions, round, None)
            .await
            .expect("load index stats")
    }

    /// The index statistics of a round recomputed from its stored forms, village by village.
    pub async fn recomputed_stats(&self, round: &str) -> Vec<VillageStats> {
        let s = &self.state;
        sipas_server::index_stats::compute_from_forms(&s.db, &s.definitions, round, None)
            .await
            .expect("recompute index stats")
    }

    /// Replaces a round's stored statistics by a recomputation; returns the villages written.
    pub async fn rebuild_stats(&self, round: &str) -> usize {
        let s = &self.state;
        sipas_server::index_stats::rebuild(&s.db, &s.definitions, round)
            .await
            .expect("rebuild index stats")
    }

    /// Stored and recomputed index stats of a round, village by village, asserted equal; returns
    /// each village's `(commune/cluster key, forms)`.
    pub async fn stats_match(&self, round: &str) -> Vec<(String, u32)> {
        let stored = self.stored_stats(round).await;
        let recomputed = self.recomputed_stats(round).await;
        assert_eq!(stored.len(), recomputed.len(), "villages");
        stored
            .iter()
            .zip(&recomputed)
            .map(|(a, b)| {
                assert_eq!(a.key, b.key);
                assert_eq!(a.place, b.place, "{:?}", a.key);
                assert_eq!(a.questionnaire, b.questionnaire, "{:?}", a.key);
                assert_eq!(a.stats, b.stats, "stored stats of {:?} differ", a.key);
                (
                    format!("{}/{}", a.key.stratum, a.key.cluster),
                    a.stats.n_forms(),
                )
            })
            .collect()
    }

    /// The built-in SIPAS questionnaire's statistics layout and what one complete sample form
    /// ([`schema::sample::complete_sipas_answers`]) adds to a village.
    pub async fn sample_digest(&self) -> (Arc<indices::StatsLayout>, indices::FormDigest) {
        let q = schema::builtin::sipas();
        let s = &self.state;
        let def = s
            .definitions
            .stored(&s.db, &q.code, 1)
            .await
            .expect("sipas v1");
        let layout = def.layout.clone();
        let valid = schema::validate(q, &schema::sample::complete_sipas_answers()).expect("valid");
        let digest = indices::FormDigest::of(&layout, &valid);
        (layout, digest)
    }
}

/// Statistics to add in a transaction of one's own: one form (`digest`) in each of `villages` of a
/// Lai Châu `commune` in `sipas-2025` (a village named twice gets two).
pub fn lai_chau_village_stats(
    layout: &Arc<indices::StatsLayout>,
    digest: &indices::FormDigest,
    commune: &str,
    villages: &[&str],
) -> PendingStats {
    let mut pending = PendingStats::default();
    for village in villages {
        let place = FormPlace {
            round: "sipas-2025",
            province: "12",
            district: None,
            commune,
            village,
        };
        pending.add(layout, place, digest).expect("add");
    }
    pending
}
