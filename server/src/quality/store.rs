//! Between the pure rules and the database: a form's measures as a `form_signals` row, and back.

use indices::ItemAnswer;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QueryTrait,
    Statement,
};
use sync_protocol::FormSubmission;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{FormFacts, Measures, QualitySettings, measure};
use crate::entities::form_signal;
use crate::entities::round_quality_setting;

/// The measures of a submitted form received at `received_at`, its index items' answers being
/// `items`.
pub fn measures_of_submission<A>(
    f: &FormSubmission<A>,
    items: &[ItemAnswer],
    received_at: OffsetDateTime,
) -> Measures {
    measure(&FormFacts {
        started_at: f.started_at,
        finished_at: f.finished_at,
        received_at,
        has_gps: f.gps.is_some(),
        items,
    })
}

/// The `form_signals` row of form `form_id` of `round`.
pub fn signal_row(
    form_id: Uuid,
    round: &str,
    m: Measures,
    now: OffsetDateTime,
) -> form_signal::ActiveModel {
    form_signal::ActiveModel {
        form_id: Set(form_id),
        round_code: Set(round.to_owned()),
        duration_s: Set(m.duration_s),
        device_ahead_s: Set(m.device_ahead_s),
        local_hour: Set(m.local_hour.map(i32::from)),
        longest_run: Set(i32::try_from(m.longest_run).unwrap_or(i32::MAX)),
        answered: Set(i32::try_from(m.answered).unwrap_or(i32::MAX)),
        variance: Set(m.variance),
        dont_know_share: Set(m.dont_know_share),
        gps_missing: Set(m.gps_missing),
        items: Set(m.items),
        computed_at: Set(now),
    }
}

/// The `DELETE` of the rows of `ids` (forms replaced by a corrected revision: their measures
/// are written again).
pub fn delete_rows(backend: DbBackend, ids: Vec<Uuid>) -> Statement {
    form_signal::Entity::delete_many()
        .filter(form_signal::Column::FormId.is_in(ids))
        .build(backend)
}

/// The measures a stored row holds.
pub fn measures_of_row(r: form_signal::Model) -> Measures {
    Measures {
        duration_s: r.duration_s,
        device_ahead_s: r.device_ahead_s,
        local_hour: r.local_hour.and_then(|h| u8::try_from(h).ok()),
        longest_run: u32::try_from(r.longest_run).unwrap_or(0),
        answered: u32::try_from(r.answered).unwrap_or(0),
        variance: r.variance,
        dont_know_share: r.dont_know_share,
        gps_missing: r.gps_missing,
        items: r.items,
    }
}

/// The thresholds `round` applies: its own, else the defaults; and whether they are its own.
pub async fn settings_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    round: &str,
) -> Result<(QualitySettings, Option<round_quality_setting::Model>), sea_orm::DbErr> {
    let Some(row) = round_quality_setting::Entity::find_by_id(round.to_owned())
        .one(db)
        .await?
    else {
        return Ok((QualitySettings::default(), None));
    };
    let s = serde_json::from_str(&row.settings).map_err(|e| {
        sea_orm::DbErr::Custom(format!("quality settings of round {round} unreadable: {e}"))
    })?;
    Ok((s, Some(row)))
}

/// The rows the cross-form rules read: the forms of `round` matching `cond` that have measures,
/// with their device's measured clock skew and their village's listed location; and how many
/// matching forms have none (stored before the measures were).
pub async fn rows(
    db: &sea_orm::DatabaseConnection,
    round: &str,
    cond: sea_orm::Condition,
) -> Result<(Vec<super::FormRow>, u64), sea_orm::DbErr> {
    use std::collections::HashMap;

    use sea_orm::QuerySelect;

    use crate::entities::{device, form, frame_village};

    let located: Vec<(String, String, Option<f64>, Option<f64>)> = frame_village::Entity::find()
        .select_only()
        .columns([
            frame_village::Column::CommuneCode,
            frame_village::Column::VillageKey,
            frame_village::Column::Latitude,
            frame_village::Column::Longitude,
        ])
        .filter(frame_village::Column::RoundCode.eq(round))
        .filter(frame_village::Column::Latitude.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let located: HashMap<(String, String), (f64, f64)> = located
        .into_iter()
        .filter_map(|(c, k, lat, lon)| Some(((c, k), (lat?, lon?))))
        .collect();

    type Head = (
        Uuid,
        Option<i64>,
        String,
        String,
        Option<String>,
        Option<OffsetDateTime>,
        OffsetDateTime,
        Option<f64>,
        Option<f64>,
    );
    let forms: Vec<Head> = form::Entity::find()
        .select_only()
        .columns([
            form::Column::Id,
            form::Column::SubmittedBy,
            form::Column::CommuneCode,
            form::Column::VillageCode,
            form::Column::DeviceId,
            form::Column::FinishedAt,
            form::Column::ReceivedAt,
            form::Column::GpsLat,
            form::Column::GpsLon,
        ])
        .filter(cond.clone())
        .order_by_asc(form::Column::Seq)
        .into_tuple()
        .all(db)
        .await?;
    let ids = form::Entity::find()
        .select_only()
        .column(form::Column::Id)
        .filter(cond)
        .into_query();
    let mut measures: HashMap<Uuid, Measures> = form_signal::Entity::find()
        .filter(form_signal::Column::FormId.in_subquery(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.form_id, measures_of_row(r)))
        .collect();
    let mut device_ids: Vec<String> = forms.iter().filter_map(|f| f.4.clone()).collect();
    device_ids.sort_unstable();
    device_ids.dedup();
    let mut skew: HashMap<String, Option<i64>> = HashMap::new();
    for chunk in device_ids.chunks(500) {
        for d in device::Entity::find()
            .filter(device::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            skew.insert(d.id, d.clock_skew_ms);
        }
    }
    let mut out = Vec::with_capacity(forms.len());
    let mut unmeasured = 0;
    for (id, by, commune, village, dev, finished, received, lat, lon) in forms {
        let Some(m) = measures.remove(&id) else {
            unmeasured += 1;
            continue;
        };
        let village_point = if located.is_empty() {
            None
        } else {
            located
                .get(&(commune.clone(), indices::cluster_key(&village)))
                .copied()
        };
        out.push(super::FormRow {
            id,
            enumerator: by,
            village: format!("{commune}/{village}"),
            village_point,
            commune,
            finished_at: finished,
            received_at: received,
            gps: lat.zip(lon),
            skew_ms: dev.and_then(|d| skew.get(&d).copied().flatten()),
            measures: m,
        });
    }
    Ok((out, unmeasured))
}

/// The signals of one stored form, measured among the forms of its round and province with the
/// round's thresholds: what the quality report with `unit=<its province>` shows for it to the
/// ministry. `None` for a form without measures.
pub async fn signals_of_form(
    db: &sea_orm::DatabaseConnection,
    f: &crate::entities::form::Model,
) -> Result<Option<Vec<super::Signal>>, sea_orm::DbErr> {
    use crate::entities::form;
    // Without measures there is nothing to assess: the province is not read.
    if form_signal::Entity::find_by_id(f.id)
        .one(db)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let cond = sea_orm::Condition::all()
        .add(form::Column::RoundCode.eq(&f.round_code))
        .add(form::Column::ProvinceCode.eq(&f.province_code));
    let ((rows, _), (settings, _)) = tokio::try_join!(
        rows(db, &f.round_code, cond),
        settings_of(db, &f.round_code)
    )?;
    let Some(i) = rows.iter().position(|r| r.id == f.id) else {
        return Ok(None);
    };
    Ok(super::assess(&rows, &settings).flags.into_iter().nth(i))
}
