//! Field-quality signals: pure rules that point a supervisor at forms that may have been filled at
//! a desk or in a hurry. Signals inform review; they never drop or change a form.
//!
//! Two kinds:
//! - per form, computed once when the form is stored ([`measure`], kept in `form_signals`): raw
//!   measures (duration, device clock ahead of the server, start hour, straight-line run,
//!   variance, "don't know" share, GPS present, the items' answers) that thresholds turn into
//!   flags at query time, so a changed threshold needs no recomputation;
//! - across forms, computed at query time over the round's forms in the caller's scope
//!   ([`assess`]): speed against the round's median, the same finished minute, near-duplicates,
//!   GPS points shared by many forms or one enumerator's forms in one spot, device clock skew,
//!   pace and the enumerator's level distribution against their communes'.
//!
//! Thresholds are a round setting ([`QualitySettings`]: the defaults, or what the ministry set for
//! the round with `PUT /rounds/{round}/quality/settings`); they apply when the signals are read.
//! Each enumerator gets a [`score`] combining their signal rates.

pub mod cross;
pub mod store;

use std::collections::BTreeMap;

use indices::ItemAnswer;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::FieldError;

pub use cross::{Assessment, EnumeratorFacts, FormRow, assess, score};

/// Thresholds of the signals, with their defaults (see each field). A round's own are stored as
/// JSON; a field missing from it (one added in a later release) takes its default, and an
/// unknown field is refused, so a misspelt threshold is not silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct QualitySettings {
    /// `too_short`: a form filled in fewer seconds than this. Default 300 (5 minutes): reading
    /// the 39 satisfaction items and the household questions aloud takes longer.
    pub min_duration_s: i64,
    /// `too_fast`: a form faster than this fraction of the median duration of the forms in scope.
    /// Default 0.4.
    pub fast_fraction: f64,
    /// Fewest forms with a duration (or, for the level distribution, forms of the enumerator and
    /// of the reference) before a distribution is trusted. Default 10.
    pub min_forms: usize,
    /// `future_time` / `device_time_disagrees`: device times this many seconds after the
    /// server's received time. Default 600.
    pub future_tolerance_s: i64,
    /// Offset of local time from UTC in hours, for `implausible_hour` and the local day of
    /// `pace`. Default 7 (Vietnam).
    pub utc_offset_hours: i8,
    /// `implausible_hour`: started at or after this local hour... Default 22.
    pub night_from_hour: u8,
    /// ...or before this one. Default 6.
    pub night_until_hour: u8,
    /// `straight_line`: the same level over this many consecutive items. Default 15 of 39.
    pub straight_run: u32,
    /// `low_variance`: the variance of the form's levels below this. Default 0.15 (honest
    /// answers on a 5-level scale spread by about one level).
    pub low_variance: f64,
    /// Fewest answered levels for the variance and near-duplicate checks. Default 10.
    pub min_answered: u32,
    /// `dont_know`: share of items answered with a special code at or above this. Default 0.5.
    pub dont_know_share: f64,
    /// `same_minute`: this many forms of one enumerator finished in one minute. Default 3.
    pub same_minute_forms: usize,
    /// `near_duplicate`: two forms differing in at most this many of the 39 items. Default 2.
    pub duplicate_max_diff: usize,
    /// `gps_identical`: this many forms at the same point (to 1e-5 degree, about a metre).
    /// Default 3.
    pub gps_identical_forms: usize,
    /// `gps_cluster`: all of an enumerator's (at least [`Self::min_forms`] GPS) forms within this
    /// many metres of their centre. Default 30.
    pub gps_cluster_radius_m: f64,
    /// `clock_skew`: a device whose handshake measured its clock off by more than this many
    /// milliseconds. Default 600000 (10 minutes).
    pub clock_skew_ms: i64,
    /// `pace`: an enumerator with more forms than this in one local day. Default 20 (an
    /// interview takes 20–40 minutes, plus travel).
    pub max_forms_per_day: usize,
    /// `distribution`: Jensen–Shannon divergence (base 2, 0..1) of an enumerator's level
    /// distribution from the other enumerators' in the same communes, above this. Default 0.1.
    pub js_divergence: f64,
    /// Additive smoothing per level category in that distance. Default 0.5.
    pub js_smoothing: f64,
    /// `far_from_village`: a form's GPS point more than this many metres from its village's
    /// location (when the village list gives one). Default 5000: a rural village's households
    /// spread over a few kilometres, a form filled in town is tens of kilometres away.
    pub far_from_village_m: f64,
}

impl Default for QualitySettings {
    fn default() -> Self {
        QualitySettings {
            min_duration_s: 300,
            fast_fraction: 0.4,
            min_forms: 10,
            future_tolerance_s: 600,
            utc_offset_hours: 7,
            night_from_hour: 22,
            night_until_hour: 6,
            straight_run: 15,
            low_variance: 0.15,
            min_answered: 10,
            dont_know_share: 0.5,
            same_minute_forms: 3,
            duplicate_max_diff: 2,
            gps_identical_forms: 3,
            gps_cluster_radius_m: 30.0,
            clock_skew_ms: 600_000,
            max_forms_per_day: 20,
            js_divergence: 0.1,
            js_smoothing: 0.5,
            far_from_village_m: 5000.0,
        }
    }
}

/// The offset (hours from UTC) the stored [`Measures::local_hour`] is measured at; a round with
/// another [`QualitySettings::utc_offset_hours`] shifts it when the flags are read.
pub const MEASURED_UTC_OFFSET: i8 = 7;

/// The most [`QualitySettings::duplicate_max_diff`] may be: the near-duplicate search splits the
/// items into that many blocks plus one, and smaller blocks match by chance, which would turn the
/// search into comparing all pairs.
pub const MAX_DUPLICATE_DIFF: usize = 6;

impl QualitySettings {
    /// What is wrong with these thresholds (empty: none), one error per field, with stable codes:
    /// `out_of_range` for a value outside what the field means (a share above 1, an hour past
    /// 23), naming the range allowed.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut range = |field: &str, ok: bool, range: &str| {
            if !ok {
                out.push(FieldError::new(
                    field,
                    "out_of_range",
                    format!("Giá trị phải trong khoảng {range}."),
                    format!("The value must be within {range}."),
                ));
            }
        };
        let within = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
        let above = |v: f64, lo: f64, hi: f64| v.is_finite() && v > lo && v <= hi;
        range(
            "min_duration_s",
            (0..=86_400).contains(&self.min_duration_s),
            "0–86400",
        );
        range(
            "fast_fraction",
            above(self.fast_fraction, 0.0, 1.0),
            "(0, 1]",
        );
        range(
            "min_forms",
            (2..=100_000).contains(&self.min_forms),
            "2–100000",
        );
        range(
            "future_tolerance_s",
            (0..=604_800).contains(&self.future_tolerance_s),
            "0–604800",
        );
        range(
            "utc_offset_hours",
            (-12..=14).contains(&self.utc_offset_hours),
            "-12–14",
        );
        range("night_from_hour", self.night_from_hour <= 23, "0–23");
        range("night_until_hour", self.night_until_hour <= 23, "0–23");
        range(
            "straight_run",
            (2..=1000).contains(&self.straight_run),
            "2–1000",
        );
        range(
            "low_variance",
            within(self.low_variance, 0.0, 100.0),
            "[0, 100]",
        );
        range(
            "min_answered",
            (2..=1000).contains(&self.min_answered),
            "2–1000",
        );
        range(
            "dont_know_share",
            above(self.dont_know_share, 0.0, 1.0),
            "(0, 1]",
        );
        range(
            "same_minute_forms",
            (2..=100_000).contains(&self.same_minute_forms),
            "2–100000",
        );
        range(
            "duplicate_max_diff",
            self.duplicate_max_diff <= MAX_DUPLICATE_DIFF,
            &format!("0–{MAX_DUPLICATE_DIFF}"),
        );
        range(
            "gps_identical_forms",
            (2..=100_000).contains(&self.gps_identical_forms),
            "2–100000",
        );
        range(
            "gps_cluster_radius_m",
            above(self.gps_cluster_radius_m, 0.0, 100_000.0),
            "(0, 100000]",
        );
        range(
            "clock_skew_ms",
            (0..=86_400_000).contains(&self.clock_skew_ms),
            "0–86400000",
        );
        range(
            "max_forms_per_day",
            (1..=10_000).contains(&self.max_forms_per_day),
            "1–10000",
        );
        range(
            "js_divergence",
            above(self.js_divergence, 0.0, 1.0),
            "(0, 1]",
        );
        range(
            "js_smoothing",
            above(self.js_smoothing, 0.0, 100.0),
            "(0, 100]",
        );
        range(
            "far_from_village_m",
            above(self.far_from_village_m, 0.0, 1_000_000.0),
            "(0, 1000000]",
        );
        out
    }
}

/// A signal: a reason to look at a form. Codes are stable (API and `exclude_flagged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Filled faster than [`QualitySettings::min_duration_s`]: too little time to ask.
    TooShort,
    /// Far faster than the forms around it ([`QualitySettings::fast_fraction`] of the median).
    TooFast,
    /// Finished before it started: a device clock changed, or times typed in.
    FinishedBeforeStarted,
    /// Device time after the server received it: a device clock set ahead.
    FutureTime,
    /// Started at night (local time): nobody is interviewed at 3 a.m.
    ImplausibleHour,
    /// A long run of one level: answers not read out, one level ticked down the page.
    StraightLine,
    /// Almost no spread across the items, compared with what respondents give.
    LowVariance,
    /// Most items answered "don't know": an interview not really held.
    DontKnow,
    /// No GPS fix: where it was filled cannot be checked.
    GpsMissing,
    /// Several forms of one enumerator finished in the same minute: filled in a batch.
    SameMinute,
    /// Nearly the same answers as another form of the enumerator, village or day: copied.
    NearDuplicate,
    /// Many forms at exactly one point: filled in one place (a desk).
    GpsIdentical,
    /// All of an enumerator's forms within a few metres: never went to the households.
    GpsCluster,
    /// The GPS point is far from the village the form names (when the village list locates it):
    /// filled elsewhere, or the wrong village typed.
    FarFromVillage,
    /// The device's clock was far off at its handshake: its times cannot be trusted.
    ClockSkew,
    /// Device times, corrected by the measured skew, still after the server's receipt.
    DeviceTimeDisagrees,
    /// The enumerator filled more forms in a day than interviews fit in one.
    Pace,
    /// The enumerator's levels differ from their communes' other enumerators'.
    Distribution,
}

impl Signal {
    /// Every signal, in a fixed order.
    pub const ALL: [Signal; 18] = [
        Signal::TooShort,
        Signal::TooFast,
        Signal::FinishedBeforeStarted,
        Signal::FutureTime,
        Signal::ImplausibleHour,
        Signal::StraightLine,
        Signal::LowVariance,
        Signal::DontKnow,
        Signal::GpsMissing,
        Signal::SameMinute,
        Signal::NearDuplicate,
        Signal::GpsIdentical,
        Signal::GpsCluster,
        Signal::FarFromVillage,
        Signal::ClockSkew,
        Signal::DeviceTimeDisagrees,
        Signal::Pace,
        Signal::Distribution,
    ];

    /// Its stable code.
    pub fn code(self) -> &'static str {
        match self {
            Signal::TooShort => "too_short",
            Signal::TooFast => "too_fast",
            Signal::FinishedBeforeStarted => "finished_before_started",
            Signal::FutureTime => "future_time",
            Signal::ImplausibleHour => "implausible_hour",
            Signal::StraightLine => "straight_line",
            Signal::LowVariance => "low_variance",
            Signal::DontKnow => "dont_know",
            Signal::GpsMissing => "gps_missing",
            Signal::SameMinute => "same_minute",
            Signal::NearDuplicate => "near_duplicate",
            Signal::GpsIdentical => "gps_identical",
            Signal::GpsCluster => "gps_cluster",
            Signal::FarFromVillage => "far_from_village",
            Signal::ClockSkew => "clock_skew",
            Signal::DeviceTimeDisagrees => "device_time_disagrees",
            Signal::Pace => "pace",
            Signal::Distribution => "distribution",
        }
    }

    /// The signal of a code.
    pub fn parse(code: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Its weight in the enumerator [`score`]: 3 for near-duplicates (copying is fabrication
    /// itself), 2 for the signals of a form not really asked (speed, straight-lining, a desk GPS,
    /// batches, a distribution unlike the neighbours'), 1 for weaker ones, ½ for what a device
    /// rather than a person causes (clock, no GPS fix).
    pub fn weight(self) -> f64 {
        match self {
            Signal::NearDuplicate => 3.0,
            Signal::TooShort
            | Signal::TooFast
            | Signal::StraightLine
            | Signal::GpsIdentical
            | Signal::GpsCluster
            | Signal::FarFromVillage
            | Signal::SameMinute
            | Signal::Distribution => 2.0,
            Signal::FinishedBeforeStarted
            | Signal::FutureTime
            | Signal::ImplausibleHour
            | Signal::LowVariance
            | Signal::DontKnow
            | Signal::Pace => 1.0,
            Signal::GpsMissing | Signal::ClockSkew | Signal::DeviceTimeDisagrees => 0.5,
        }
    }
}

/// What a form carries that its per-form signals are measured from.
#[derive(Debug, Clone)]
pub struct FormFacts<'a> {
    /// Device clock: started.
    pub started_at: Option<OffsetDateTime>,
    /// Device clock: finished.
    pub finished_at: Option<OffsetDateTime>,
    /// Server clock: received.
    pub received_at: OffsetDateTime,
    /// Whether it has a GPS fix.
    pub has_gps: bool,
    /// The index items' answers, in layout order.
    pub items: &'a [ItemAnswer],
}

/// The per-form measures stored in `form_signals` (raw values; [`Measures::flags`] applies the
/// thresholds).
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    /// Finished − started, seconds (negative: finished before it started).
    pub duration_s: Option<i64>,
    /// The later device time minus the received time, seconds (positive: device ahead).
    pub device_ahead_s: Option<i64>,
    /// Local hour it started (or finished) at, at [`MEASURED_UTC_OFFSET`].
    pub local_hour: Option<u8>,
    /// The longest run of consecutive items at one level.
    pub longest_run: u32,
    /// Items answered with a level.
    pub answered: u32,
    /// Population variance of those levels (`None` with fewer than two).
    pub variance: Option<f64>,
    /// Share of the answered-or-special items that are special codes ("don't know").
    pub dont_know_share: Option<f64>,
    /// No GPS fix.
    pub gps_missing: bool,
    /// The items' answers as text, one character each: `1`–`9` a level, `x` special, `.` none.
    pub items: String,
}

/// The items as text (see [`Measures::items`]).
pub fn items_text(items: &[ItemAnswer]) -> String {
    items
        .iter()
        .map(|a| match a {
            ItemAnswer::Level(l) if (1..=9).contains(l) => char::from(b'0' + l),
            ItemAnswer::Level(_) | ItemAnswer::Special => 'x',
            ItemAnswer::Missing => '.',
        })
        .collect()
}

/// The levels of the items text, `None` where not a level.
pub fn text_levels(items: &str) -> impl Iterator<Item = Option<u8>> + '_ {
    items.bytes().map(|b| match b {
        b'1'..=b'9' => Some(b - b'0'),
        _ => None,
    })
}

/// Measures a form (pure; called where the form is stored). Nothing here depends on a threshold,
/// so a round's settings can change after its forms are stored.
pub fn measure(f: &FormFacts<'_>) -> Measures {
    let duration_s = match (f.started_at, f.finished_at) {
        (Some(a), Some(b)) => Some((b - a).whole_seconds()),
        _ => None,
    };
    let latest = match (f.started_at, f.finished_at) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let device_ahead_s = latest.map(|t| (t - f.received_at).whole_seconds());
    let local_hour = f.started_at.or(f.finished_at).map(|t| {
        let h =
            i32::from(t.to_offset(time::UtcOffset::UTC).hour()) + i32::from(MEASURED_UTC_OFFSET);
        h.rem_euclid(24) as u8
    });
    let mut longest_run = 0u32;
    let mut run = 0u32;
    let mut last: Option<u8> = None;
    let mut levels = Vec::with_capacity(f.items.len());
    let mut special = 0u32;
    for a in f.items {
        match *a {
            ItemAnswer::Level(l) => {
                run = if last == Some(l) { run + 1 } else { 1 };
                last = Some(l);
                levels.push(f64::from(l));
            }
            // A special answer or a skipped item breaks a run.
            ItemAnswer::Special => {
                special += 1;
                run = 0;
                last = None;
            }
            ItemAnswer::Missing => {
                run = 0;
                last = None;
            }
        }
        longest_run = longest_run.max(run);
    }
    let answered = levels.len() as u32;
    let variance = (levels.len() >= 2).then(|| {
        let n = levels.len() as f64;
        let mean = levels.iter().sum::<f64>() / n;
        levels.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n
    });
    let said = answered + special;
    let dont_know_share = (said > 0).then(|| f64::from(special) / f64::from(said));
    Measures {
        duration_s,
        device_ahead_s,
        local_hour,
        longest_run,
        answered,
        variance,
        dont_know_share,
        gps_missing: !f.has_gps,
        items: items_text(f.items),
    }
}

impl Measures {
    /// The per-form signals these measures raise under `s`.
    pub fn flags(&self, s: &QualitySettings) -> Vec<Signal> {
        let mut out = Vec::new();
        if let Some(d) = self.duration_s {
            if d < 0 {
                out.push(Signal::FinishedBeforeStarted);
            } else if d < s.min_duration_s {
                out.push(Signal::TooShort);
            }
        }
        if self
            .device_ahead_s
            .is_some_and(|a| a > s.future_tolerance_s)
        {
            out.push(Signal::FutureTime);
        }
        if let Some(h) = self.local_hour {
            let h = (i32::from(h) + i32::from(s.utc_offset_hours) - i32::from(MEASURED_UTC_OFFSET))
                .rem_euclid(24) as u8;
            let night = if s.night_from_hour <= s.night_until_hour {
                (s.night_from_hour..s.night_until_hour).contains(&h)
            } else {
                h >= s.night_from_hour || h < s.night_until_hour
            };
            if night {
                out.push(Signal::ImplausibleHour);
            }
        }
        if self.longest_run >= s.straight_run {
            out.push(Signal::StraightLine);
        }
        if self.answered >= s.min_answered && self.variance.is_some_and(|v| v < s.low_variance) {
            out.push(Signal::LowVariance);
        }
        if self.dont_know_share.is_some_and(|d| d >= s.dont_know_share) {
            out.push(Signal::DontKnow);
        }
        if self.gps_missing {
            out.push(Signal::GpsMissing);
        }
        out
    }
}

/// Counts of forms per signal.
pub type SignalCounts = BTreeMap<Signal, u64>;

#[cfg(test)]
mod tests {
    use super::*;
    use ItemAnswer::{Level, Missing, Special};
    use time::macros::datetime;

    fn facts(items: &[ItemAnswer]) -> FormFacts<'_> {
        FormFacts {
            started_at: Some(datetime!(2025-09-01 09:00 +7)),
            finished_at: Some(datetime!(2025-09-01 09:30 +7)),
            received_at: datetime!(2025-09-01 12:00 +7),
            has_gps: true,
            items,
        }
    }

    fn honest() -> Vec<ItemAnswer> {
        (0..39u32)
            .map(|i| Level(1 + ((i * 7 + i / 3) % 5) as u8))
            .collect()
    }

    #[test]
    fn an_honest_form_raises_nothing() {
        let items = honest();
        let m = measure(&facts(&items));
        assert_eq!(m.duration_s, Some(1800));
        assert_eq!(m.local_hour, Some(9));
        assert!(m.longest_run < 3, "{m:?}");
        assert_eq!(m.answered, 39);
        assert_eq!(m.items.len(), 39);
        assert_eq!(m.flags(&QualitySettings::default()), vec![]);
    }

    #[test]
    fn times_out_of_order_in_the_future_and_at_night() {
        let items = honest();
        let s = QualitySettings::default();
        let mut f = facts(&items);
        f.finished_at = Some(datetime!(2025-09-01 08:59 +7));
        assert_eq!(measure(&f).flags(&s), vec![Signal::FinishedBeforeStarted]);
        f.finished_at = Some(datetime!(2025-09-01 09:03 +7));
        assert_eq!(measure(&f).flags(&s), vec![Signal::TooShort]);
        let mut f = facts(&items);
        f.finished_at = Some(datetime!(2025-09-01 12:20 +7));
        assert_eq!(measure(&f).device_ahead_s, Some(1200));
        assert_eq!(measure(&f).flags(&s), vec![Signal::FutureTime]);
        // 23:30 local, given in UTC: 16:30Z.
        let mut f = facts(&items);
        f.started_at = Some(datetime!(2025-09-01 16:30 UTC));
        f.finished_at = Some(datetime!(2025-09-01 17:00 UTC));
        f.received_at = datetime!(2025-09-02 08:00 UTC);
        assert_eq!(measure(&f).local_hour, Some(23));
        assert_eq!(measure(&f).flags(&s), vec![Signal::ImplausibleHour]);
        // 05:59 is night, 06:00 is not.
        f.started_at = Some(datetime!(2025-09-01 05:59 +7));
        f.finished_at = Some(datetime!(2025-09-01 06:40 +7));
        assert_eq!(measure(&f).flags(&s), vec![Signal::ImplausibleHour]);
        f.started_at = Some(datetime!(2025-09-01 06:00 +7));
        assert_eq!(measure(&f).flags(&s), vec![]);
        // No device times: nothing about time.
        f.started_at = None;
        f.finished_at = None;
        let m = measure(&f);
        assert_eq!(
            (m.duration_s, m.device_ahead_s, m.local_hour),
            (None, None, None)
        );
        assert_eq!(m.flags(&s), vec![]);
    }

    #[test]
    fn straight_lines_low_variance_and_dont_know() {
        let s = QualitySettings::default();
        let all_four = vec![Level(4); 39];
        let m = measure(&facts(&all_four));
        assert_eq!((m.longest_run, m.variance), (39, Some(0.0)));
        assert_eq!(m.flags(&s), vec![Signal::StraightLine, Signal::LowVariance]);
        // A run of 15 broken by one other level is still a straight line; 14 is not.
        let mut items = honest();
        for a in items.iter_mut().take(15) {
            *a = Level(3);
        }
        assert!(
            measure(&facts(&items))
                .flags(&s)
                .contains(&Signal::StraightLine)
        );
        items[14] = Level(5);
        assert_eq!(measure(&facts(&items)).longest_run, 14);
        // A special answer breaks a run.
        let mut items = vec![Level(4); 39];
        items[20] = Special;
        assert_eq!(measure(&facts(&items)).longest_run, 20);
        // Every item "don't know": no levels, no variance, no run; the share is 1.
        let dk = vec![Special; 39];
        let m = measure(&facts(&dk));
        assert_eq!((m.answered, m.variance, m.longest_run), (0, None, 0));
        assert_eq!(m.dont_know_share, Some(1.0));
        assert_eq!(m.items, "x".repeat(39));
        assert_eq!(m.flags(&s), vec![Signal::DontKnow]);
        // Nothing answered at all: no share.
        let none = vec![Missing; 39];
        assert_eq!(measure(&facts(&none)).dont_know_share, None);
    }

    #[test]
    fn no_gps_is_flagged() {
        let items = honest();
        let mut f = facts(&items);
        f.has_gps = false;
        let s = QualitySettings::default();
        assert_eq!(measure(&f).flags(&s), vec![Signal::GpsMissing]);
    }

    #[test]
    fn a_round_with_another_offset_reads_the_hour_shifted() {
        let items = honest();
        let mut f = facts(&items);
        // 21:30 in Vietnam (UTC+7), 22:30 at UTC+8.
        f.started_at = Some(datetime!(2025-09-01 14:30 UTC));
        f.finished_at = Some(datetime!(2025-09-01 15:00 UTC));
        f.received_at = datetime!(2025-09-02 08:00 UTC);
        let m = measure(&f);
        assert_eq!(m.local_hour, Some(21));
        assert_eq!(m.flags(&QualitySettings::default()), vec![]);
        let plus8 = QualitySettings {
            utc_offset_hours: 8,
            ..QualitySettings::default()
        };
        assert_eq!(m.flags(&plus8), vec![Signal::ImplausibleHour]);
        // Far west: 21:30 at +7 is 02:30 the next day at -12.
        let minus12 = QualitySettings {
            utc_offset_hours: -12,
            ..QualitySettings::default()
        };
        assert_eq!(m.flags(&minus12), vec![Signal::ImplausibleHour]);
    }

    #[test]
    fn settings_are_checked_and_read_with_defaults() {
        assert!(QualitySettings::default().problems().is_empty());
        let bad = QualitySettings {
            fast_fraction: 0.0,
            night_from_hour: 24,
            duplicate_max_diff: MAX_DUPLICATE_DIFF + 1,
            min_forms: 1,
            js_divergence: f64::NAN,
            far_from_village_m: -1.0,
            ..QualitySettings::default()
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                "fast_fraction",
                "min_forms",
                "night_from_hour",
                "duplicate_max_diff",
                "js_divergence",
                "far_from_village_m"
            ]
        );
        // A partial object takes the defaults for the rest; an unknown field is refused.
        let s: QualitySettings =
            serde_json::from_str(r#"{"min_duration_s": 600, "straight_run": 20}"#).unwrap();
        assert_eq!(
            s,
            QualitySettings {
                min_duration_s: 600,
                straight_run: 20,
                ..QualitySettings::default()
            }
        );
        assert!(serde_json::from_str::<QualitySettings>(r#"{"min_duraton_s": 600}"#).is_err());
        let back: QualitySettings =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn codes_round_trip() {
        for s in Signal::ALL {
            assert_eq!(Signal::parse(s.code()), Some(s));
            assert!(s.weight() > 0.0);
        }
        assert_eq!(Signal::parse("nope"), None);
        assert_eq!(items_text(&[Level(1), Special, Missing, Level(5)]), "1x.5");
        assert_eq!(
            text_levels("1x.5").collect::<Vec<_>>(),
            vec![Some(1), None, None, Some(5)]
        );
    }
}
