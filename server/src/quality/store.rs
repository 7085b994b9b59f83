//! Between the pure rules and the database: a form's measures as a `form_signals` row, and back.

use indices::ItemAnswer;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait, Statement,
};
use sync_protocol::FormSubmission;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{FormFacts, Measures, QualitySettings, measure};
use crate::entities::form_signal;

/// The measures of a submitted form received at `received_at`, its index items' answers being
/// `items`.
pub fn measures_of_submission<A>(
    f: &FormSubmission<A>,
    items: &[ItemAnswer],
    received_at: OffsetDateTime,
) -> Measures {
    measure(
        &FormFacts {
            started_at: f.started_at,
            finished_at: f.finished_at,
            received_at,
            has_gps: f.gps.is_some(),
            items,
        },
        &QualitySettings::default(),
    )
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
