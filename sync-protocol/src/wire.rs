//! Wire types of protocol v1. Each type states its compatibility rules.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The protocol version this crate implements.
pub const PROTOCOL_VERSION: u32 = 1;
/// The protocol versions this build speaks, oldest first.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[u32] = &[1];
/// Header carrying the agreed protocol version on every sync request.
pub const PROTOCOL_HEADER: &str = "x-sipas-protocol";
/// Most forms in one push.
pub const MAX_BATCH_FORMS: usize = 500;

/// `POST /api/v1/sync/handshake`: who the device is and what it speaks.
///
/// Compatibility: all v1 clients send every field but `device_time` (added for clock-skew
/// measurement; older clients omit it and get no skew estimate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandshakeRequest {
    /// Protocol versions the device speaks.
    pub protocol_versions: Vec<u32>,
    /// The app's version (recorded on the device).
    pub app_version: String,
    /// Stable id of the app installation.
    pub device_id: String,
    /// The device's clock when it sent the request.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub device_time: Option<OffsetDateTime>,
}

/// A questionnaire version the device should hold, with the hash that proves it holds exactly it.
///
/// Compatibility: `status` may gain values; a client treats any status but `open` as "do not start
/// new forms on it".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionnaireRef {
    /// Questionnaire code.
    pub code: String,
    /// Version.
    pub version: u32,
    /// SHA-256 of its canonical definition.
    pub content_hash: String,
    /// `open` or `closed`.
    pub status: String,
}

/// A survey round the device works in, with the units of its scope.
///
/// Compatibility: `units` lists the device user's scope unit and the units under it at the round's
/// sampling levels down to communes; villages arrive through pull when a round uploads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundAssignment {
    /// Round code.
    pub code: String,
    /// Year.
    pub year: i32,
    /// Geography code.
    pub geography: String,
    /// Questionnaire code.
    pub questionnaire_code: String,
    /// Questionnaire version new forms use.
    pub questionnaire_version: u32,
    /// Sampling levels, top first.
    pub sampling_levels: Vec<String>,
    /// `open` or `closed`.
    pub status: String,
    /// Units of the user's scope in this round's geography.
    #[serde(default)]
    pub units: Vec<UnitRef>,
}

/// A unit of a geography.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitRef {
    /// Official code.
    pub code: String,
    /// Level name.
    pub level: String,
    /// Name with diacritics.
    pub name: String,
    /// Parent code.
    #[serde(default)]
    pub parent: Option<String>,
}

/// Answer to the handshake.
///
/// Compatibility: a v1 client must ignore fields it does not know (later servers add some).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandshakeResponse {
    /// The version both sides will use.
    pub protocol_version: u32,
    /// The server's clock.
    #[serde(with = "time::serde::rfc3339")]
    pub server_time: OffsetDateTime,
    /// Server time minus device time, in milliseconds (when the device sent its time).
    #[serde(default)]
    pub clock_skew_ms: Option<i64>,
    /// Questionnaire versions the device should hold.
    pub questionnaires: Vec<QuestionnaireRef>,
    /// Rounds the device works in.
    pub rounds: Vec<RoundAssignment>,
    /// Most forms the server accepts in one push.
    pub max_batch_forms: usize,
    /// Largest push body the server accepts, in bytes (after gzip decompression).
    pub max_batch_bytes: usize,
}

/// The units a form was collected in, down to the village.
///
/// Compatibility: `district` is absent for rounds on geographies without districts (2025 on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormUnits {
    /// Province code.
    pub province: String,
    /// District code, where the round's geography has districts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// Commune code.
    pub commune: String,
    /// Village code (per round).
    pub village: String,
}

/// A GPS fix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gps {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Accuracy, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

/// One completed form as the device sends it.
///
/// Compatibility: `gps`, `started_at`, `finished_at` are optional for every client. The server
/// identifies a form by `id` (a client-generated UUID, v7 from the reference client) and compares
/// content by [`FormSubmission::content_hash`], which the device can compute too.
///
/// `A` is how the answers are held: a `serde_json::Map` (the default, what devices build), or, on
/// the server, a [`schema::json::JsonObject`] borrowing from the received text. The wire form and
/// the content hash are the same for both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(bound = ""))]
pub struct FormSubmission<A = schema::Answers> {
    /// Client-generated id.
    pub id: Uuid,
    /// Round code.
    pub round: String,
    /// Questionnaire code.
    pub questionnaire_code: String,
    /// Questionnaire version the form was filled on.
    pub questionnaire_version: u32,
    /// 1 for a first submission; higher when a supervisor sent it back and it was corrected.
    pub revision: u32,
    /// Units down to the village.
    pub units: FormUnits,
    /// The household's reference in the village frame.
    pub household_ref: String,
    /// Device clock: started filling.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<OffsetDateTime>,
    /// Device clock: finished filling.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub finished_at: Option<OffsetDateTime>,
    /// GPS fix at the household.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<Gps>,
    /// Answers keyed by question code (see the `schema` crate for their shapes).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub answers: A,
}

impl<A> FormSubmission<A> {
    /// The submission without its answers (an empty map), once they have been hashed and
    /// validated: what the server keeps of a form while it decides the form's outcome.
    pub fn without_answers(self) -> FormSubmission {
        let FormSubmission {
            id,
            round,
            questionnaire_code,
            questionnaire_version,
            revision,
            units,
            household_ref,
            started_at,
            finished_at,
            gps,
            answers: _,
        } = self;
        FormSubmission {
            id,
            round,
            questionnaire_code,
            questionnaire_version,
            revision,
            units,
            household_ref,
            started_at,
            finished_at,
            gps,
            answers: schema::Answers::new(),
        }
    }
}

impl<A> FormSubmission<A> {
    /// The questions this form need not answer although the questionnaire requires them: those of
    /// unit levels its units do not have (the district question, when the form has no district,
    /// as on the 2025 geography). Whether the form may lack the level is the units check's
    /// ([`crate::check_units`]), made against the round's geography.
    pub fn not_required_answers(&self) -> &'static [&'static str] {
        match self.units.district {
            Some(_) => &[],
            None => &[schema::DISTRICT_QUESTION],
        }
    }
}

impl<A: schema::json::CanonicalObject> FormSubmission<A> {
    /// SHA-256 (hex) of the canonical JSON of the whole submission: the same content always gives
    /// the same hash on the device and on the server.
    ///
    /// Defined as `schema::canonical_hash_of(&serde_json::to_value(form))` (and `null` if the form
    /// does not serialise, e.g. a time outside RFC 3339). Computed by writing the canonical JSON
    /// directly, without the `Value` tree; tests prove it equal to that definition.
    pub fn content_hash(&self) -> String {
        // Exhaustive on purpose: a new field must be added below, in key order.
        let FormSubmission {
            id,
            round,
            questionnaire_code,
            questionnaire_version,
            revision,
            units:
                FormUnits {
                    province,
                    district,
                    commune,
                    village,
                },
            household_ref,
            started_at,
            finished_at,
            gps,
            answers,
        } = self;
        let rfc3339 = |t: &Option<OffsetDateTime>| {
            t.map(|t| t.format(&time::format_description::well_known::Rfc3339))
                .transpose()
        };
        let (Ok(started_at), Ok(finished_at)) = (rfc3339(started_at), rfc3339(finished_at)) else {
            return schema::canonical_hash_of(&serde_json::Value::Null);
        };
        let str = schema::write_json_str;
        let mut out: Vec<u8> = Vec::with_capacity(2048);
        // Keys in byte order, as the canonical form sorts them.
        out.extend_from_slice(b"{\"answers\":");
        answers.write_canonical(&mut out);
        if let Some(t) = &finished_at {
            out.extend_from_slice(b",\"finished_at\":");
            str(t, &mut out);
        }
        if let Some(Gps {
            lat,
            lon,
            accuracy_m,
        }) = gps
        {
            out.extend_from_slice(b",\"gps\":{");
            if let Some(a) = accuracy_m {
                out.extend_from_slice(b"\"accuracy_m\":");
                write_f64(*a, &mut out);
                out.push(b',');
            }
            out.extend_from_slice(b"\"lat\":");
            write_f64(*lat, &mut out);
            out.extend_from_slice(b",\"lon\":");
            write_f64(*lon, &mut out);
            out.push(b'}');
        }
        out.extend_from_slice(b",\"household_ref\":");
        str(household_ref, &mut out);
        out.extend_from_slice(b",\"id\":");
        str(
            id.hyphenated().encode_lower(&mut Uuid::encode_buffer()),
            &mut out,
        );
        out.extend_from_slice(b",\"questionnaire_code\":");
        str(questionnaire_code, &mut out);
        out.extend_from_slice(b",\"questionnaire_version\":");
        out.extend_from_slice(questionnaire_version.to_string().as_bytes());
        out.extend_from_slice(b",\"revision\":");
        out.extend_from_slice(revision.to_string().as_bytes());
        out.extend_from_slice(b",\"round\":");
        str(round, &mut out);
        if let Some(t) = &started_at {
            out.extend_from_slice(b",\"started_at\":");
            str(t, &mut out);
        }
        out.extend_from_slice(b",\"units\":{\"commune\":");
        str(commune, &mut out);
        if let Some(d) = district {
            out.extend_from_slice(b",\"district\":");
            str(d, &mut out);
        }
        out.extend_from_slice(b",\"province\":");
        str(province, &mut out);
        out.extend_from_slice(b",\"village\":");
        str(village, &mut out);
        out.extend_from_slice(b"}}");
        schema::sha256_hex(&out)
    }
}

/// Appends `x` as serde_json writes an `f64` (shortest round-trip form; `null` if not finite, as
/// in a `Value`).
fn write_f64(x: f64, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(out, &x);
}

/// `POST /api/v1/sync/push` body: at most [`HandshakeResponse::max_batch_forms`] forms. The body may
/// be gzip-compressed (`Content-Encoding: gzip`).
///
/// Compatibility: the server reads each element of `forms` on its own, so one malformed form is
/// answered `invalid` without failing the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    /// The forms.
    pub forms: Vec<FormSubmission>,
}

/// What happened to one pushed form.
///
/// Compatibility: a v1 client treats `Unknown` (a value added by a later server) as permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stored now.
    Accepted,
    /// Already stored with the same content: the original outcome stands, nothing changed.
    Duplicate,
    /// Same id and revision, different content: both kept, the new one in quarantine.
    Conflict,
    /// Failed validation; kept in quarantine with the errors.
    Invalid,
    /// A unit outside the sender's scope; kept in quarantine.
    Forbidden,
    /// A higher revision replaced the stored form (after a supervisor sent it back).
    Updated,
    /// The questionnaire version is unknown to the server.
    UnknownQuestionnaire,
    /// The questionnaire version is closed: no new forms on it.
    QuestionnaireClosed,
    /// The round is unknown or closed.
    UnknownRound,
    /// A value this client does not know.
    #[serde(other)]
    Unknown,
}

impl Outcome {
    /// The server holds the form (the device may forget it).
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            Outcome::Accepted | Outcome::Duplicate | Outcome::Updated
        )
    }

    /// Resending the same content gets the same answer until something changes on the server
    /// (a version published, a round opened, the sender's area widened): show it to the user
    /// instead of retrying.
    pub fn is_permanent(self) -> bool {
        !self.is_stored()
    }

    /// The wire code (`accepted`, `unknown_round`, ...); `unknown` for [`Outcome::Unknown`]. Used by
    /// clients to store an outcome and to map a quarantine reason back to an outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Conflict => "conflict",
            Outcome::Invalid => "invalid",
            Outcome::Forbidden => "forbidden",
            Outcome::Updated => "updated",
            Outcome::UnknownQuestionnaire => "unknown_questionnaire",
            Outcome::QuestionnaireClosed => "questionnaire_closed",
            Outcome::UnknownRound => "unknown_round",
            Outcome::Unknown => "unknown",
        }
    }

    /// The outcome with this wire code; [`Outcome::Unknown`] for a code this client does not know
    /// (e.g. a quarantine reason added by a later server), exactly as deserialisation does.
    pub fn from_code(code: &str) -> Outcome {
        serde_json::from_value(serde_json::Value::String(code.to_owned()))
            .unwrap_or(Outcome::Unknown)
    }
}

/// A problem with one answer or field of a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldProblem {
    /// Question code (`grid.item` for a grid row) or a form field such as `units.commune`.
    pub field: String,
    /// Stable machine code (`required`, `out_of_range`, ...).
    pub code: String,
    /// Vietnamese message.
    pub message: String,
    /// English message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_en: Option<String>,
}

impl FieldProblem {
    /// A problem with both messages.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        vi: impl Into<String>,
        en: impl Into<String>,
    ) -> FieldProblem {
        FieldProblem {
            field: field.into(),
            code: code.into(),
            message: vi.into(),
            message_en: Some(en.into()),
        }
    }
}

/// A validation error of the questionnaire's answers, as it is reported on the wire.
impl From<schema::FieldError> for FieldProblem {
    fn from(e: schema::FieldError) -> Self {
        FieldProblem {
            field: e.question,
            code: e.code.as_str().to_owned(),
            message: e.message.vi,
            message_en: e.message.en,
        }
    }
}

/// A validation error of the questionnaire's answers, as it is reported on the wire.
impl From<&schema::FieldError> for FieldProblem {
    fn from(e: &schema::FieldError) -> Self {
        FieldProblem {
            field: e.question.clone(),
            code: e.code.as_str().to_owned(),
            message: e.message.vi.clone(),
            message_en: e.message.en.clone(),
        }
    }
}

/// The answer for one pushed form, in the order they were sent.
///
/// Compatibility: `id` is absent only when the element was not a readable form at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormResult {
    /// The form's id.
    #[serde(default)]
    pub id: Option<Uuid>,
    /// What happened.
    pub outcome: Outcome,
    /// Problems found (for `invalid`, `forbidden`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// Hash of the content the server holds for this id (for `duplicate`/`conflict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Things the device should show about a stored form without resending it: the household
    /// is outside the sender's assignments (`outside_assignment`), or the server holds another
    /// form for the same household (`household_duplicate`).
    ///
    /// Compatibility: added with assignments; servers before them never send it, and clients
    /// before them ignore it (the outcome alone says whether the form is stored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<FieldProblem>,
}

/// `POST /api/v1/sync/push` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    /// One result per pushed form, in order.
    pub results: Vec<FormResult>,
}

/// `POST /api/v1/sync/status`: which of these forms does the server hold?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusRequest {
    /// The forms asked about.
    pub forms: Vec<StatusQuery>,
}

/// One form asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusQuery {
    /// Its id.
    pub id: Uuid,
    /// The content hash the device holds, to learn whether the server holds the same content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

/// Where a form stands on the server.
///
/// Compatibility: later servers add states; unknown ones map to `Unknown`, which a v1 client
/// treats as "held by the server". `approved` came with review: older clients read it as
/// `Unknown` (held), which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FormState {
    /// Stored, received and not reviewed yet.
    Accepted,
    /// Stored and approved by review.
    Approved,
    /// Stored, then rejected by review: the device should correct it and send a higher revision.
    Rejected,
    /// Not stored; the payload is in quarantine (invalid, forbidden, conflict, ...).
    Quarantined,
    /// The server has never received it.
    Missing,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// The answer about one form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormStatus {
    /// Its id.
    pub id: Uuid,
    /// Where it stands.
    pub state: FormState,
    /// Revision held.
    #[serde(default)]
    pub revision: Option<u32>,
    /// Hash of the content held (for `accepted`).
    #[serde(default)]
    pub content_hash: Option<String>,
    /// Whether that equals the hash the device sent (absent if it sent none).
    #[serde(default)]
    pub same_content: Option<bool>,
    /// Why it is quarantined (`invalid`, `forbidden`, `conflict`, ...).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/sync/status` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusResponse {
    /// One status per form asked about, in order.
    pub forms: Vec<FormStatus>,
}

/// Kind of a change the device must learn.
///
/// Compatibility: unknown kinds map to `Unknown`; a v1 client skips them and still advances its
/// cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A questionnaire version was published (payload: [`QuestionnaireRef`]).
    QuestionnairePublished,
    /// A questionnaire version was closed (payload: [`QuestionnaireRef`]).
    QuestionnaireClosed,
    /// A round was opened or changed (payload: round code, status).
    RoundChanged,
    /// Units of a round changed (payload: round, units).
    UnitsChanged,
    /// A supervisor sent a form back (payload: [`FormReturned`]), addressed to its enumerator.
    FormReturned,
    /// An assignment of the pulling enumerator was made, changed or withdrawn (payload:
    /// [`Assignment`]; quantity 0 withdraws it). Added with assignments: older clients skip it.
    AssignmentChanged,
    /// A kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// Payload of a [`ChangeKind::FormReturned`] change: a form a reviewer sent back, with why.
///
/// Compatibility: a client that does not know the form id (e.g. reinstalled) shows the return
/// with its household and village anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormReturned {
    /// The form.
    pub form_id: Uuid,
    /// Its round.
    pub round: String,
    /// The revision that was rejected: the corrected form is sent as a higher one.
    pub revision: u32,
    /// Its household.
    pub household_ref: String,
    /// Its village code.
    pub village: String,
    /// The reviewer's comment (Vietnamese, as written).
    pub comment: String,
    /// The reviewer's username.
    #[serde(default)]
    pub by: Option<String>,
}

/// Payload of a [`ChangeKind::AssignmentChanged`] change: villages (optionally households in
/// them) a supervisor gave the enumerator, with how many forms are expected.
///
/// Compatibility: a later pull of the same `id` replaces the earlier one; `quantity` 0 means
/// withdrawn. `household_refs` is empty when the whole village is assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The assignment's id on the server.
    pub id: i64,
    /// Round code.
    pub round: String,
    /// The units of the village.
    pub units: FormUnits,
    /// The households assigned, when the assignment lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub household_refs: Vec<String>,
    /// How many forms are expected.
    pub quantity: u32,
}

/// One change, in server order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// Position in the server's change log.
    pub seq: i64,
    /// What changed.
    pub kind: ChangeKind,
    /// Details (shape depends on `kind`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// `GET /api/v1/sync/pull?cursor=&limit=` answer.
///
/// Compatibility: `cursor` is opaque; a client stores it and sends it back. A cursor the server no
/// longer knows gets 410 with code `cursor_invalid`: the client drops its cursor and pulls from the
/// start (and re-runs the handshake).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    /// Changes after the cursor, oldest first.
    pub changes: Vec<Change>,
    /// Cursor to send next time.
    pub cursor: String,
    /// More changes are waiting: pull again at once.
    pub more: bool,
}

/// Body of every error answer (`application/problem+json`), as a client reads it.
///
/// Compatibility: clients switch on `code` only; other fields are for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// HTTP status.
    pub status: u16,
    /// Stable machine code.
    pub code: String,
    /// Vietnamese detail.
    #[serde(default)]
    pub detail: String,
    /// English detail.
    #[serde(default)]
    pub detail_en: Option<String>,
    /// Lowest protocol version the server accepts (with 426 `protocol_too_old`).
    #[serde(default)]
    pub min_protocol_version: Option<u32>,
    /// Highest protocol version the server speaks (with `protocol_too_new`).
    #[serde(default)]
    pub max_protocol_version: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
        let json = serde_json::to_string(v).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, v, "{json}");
    }

    fn t() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_763_900_000).unwrap()
    }

    /// A complete form for tests.
    pub(crate) fn form() -> FormSubmission {
        FormSubmission {
            id: Uuid::now_v7(),
            round: "sipas-2025".into(),
            questionnaire_code: "sipas".into(),
            questionnaire_version: 1,
            revision: 1,
            units: FormUnits {
                province: "12".into(),
                district: None,
                commune: "03395".into(),
                village: "V01".into(),
            },
            household_ref: "HH-001".into(),
            started_at: Some(t()),
            finished_at: Some(t()),
            gps: Some(Gps {
                lat: 22.39,
                lon: 103.45,
                accuracy_m: Some(8.0),
            }),
            answers: schema::sample::complete_sipas_answers(),
        }
    }

    #[test]
    fn every_wire_type_round_trips() {
        round_trip(&HandshakeRequest {
            protocol_versions: vec![1],
            app_version: "1.0.0".into(),
            device_id: "dev-1".into(),
            device_time: Some(t()),
        });
        let q = QuestionnaireRef {
            code: "sipas".into(),
            version: 1,
            content_hash: "ab".repeat(32),
            status: "open".into(),
        };
        round_trip(&q);
        let unit = UnitRef {
            code: "12".into(),
            level: "province".into(),
            name: "Lai Châu".into(),
            parent: None,
        };
        round_trip(&unit);
        let round = RoundAssignment {
            code: "sipas-2025".into(),
            year: 2025,
            geography: "vn-2025".into(),
            questionnaire_code: "sipas".into(),
            questionnaire_version: 1,
            sampling_levels: vec!["province".into(), "commune".into(), "village".into()],
            status: "open".into(),
            units: vec![unit],
        };
        round_trip(&round);
        round_trip(&HandshakeResponse {
            protocol_version: 1,
            server_time: t(),
            clock_skew_ms: Some(-1200),
            questionnaires: vec![q.clone()],
            rounds: vec![round],
            max_batch_forms: 500,
            max_batch_bytes: 8 << 20,
        });
        let f = form();
        round_trip(&f.units);
        round_trip(&f.gps.unwrap());
        round_trip(&f);
        round_trip(&PushRequest {
            forms: vec![f.clone()],
        });
        let problem = FieldProblem {
            field: "age".into(),
            code: "out_of_range".into(),
            message: "Tuổi".into(),
            message_en: Some("Age".into()),
        };
        round_trip(&problem);
        let result = FormResult {
            id: Some(f.id),
            outcome: Outcome::Invalid,
            errors: vec![problem],
            content_hash: Some(f.content_hash()),
            warnings: vec![],
        };
        round_trip(&result);
        round_trip(&PushResponse {
            results: vec![result],
        });
        let query = StatusQuery {
            id: f.id,
            content_hash: Some(f.content_hash()),
        };
        round_trip(&query);
        round_trip(&StatusRequest { forms: vec![query] });
        let status = FormStatus {
            id: f.id,
            state: FormState::Accepted,
            revision: Some(1),
            content_hash: Some(f.content_hash()),
            same_content: Some(true),
            reason: None,
        };
        round_trip(&status);
        round_trip(&StatusResponse {
            forms: vec![status],
        });
        round_trip(&FormResult {
            id: Some(f.id),
            outcome: Outcome::Accepted,
            errors: vec![],
            content_hash: Some(f.content_hash()),
            warnings: vec![FieldProblem::new(
                "household_ref",
                "household_duplicate",
                "Hộ này đã có phiếu khác.",
                "Another form is held for this household.",
            )],
        });
        let returned = FormReturned {
            form_id: f.id,
            round: "sipas-2025".into(),
            revision: 1,
            household_ref: "HH-001".into(),
            village: "V01".into(),
            comment: "Câu 5 chưa trả lời".into(),
            by: Some("gs.laichau".into()),
        };
        round_trip(&returned);
        let assignment = Assignment {
            id: 3,
            round: "sipas-2025".into(),
            units: f.units.clone(),
            household_refs: vec!["HH-001".into(), "HH-002".into()],
            quantity: 2,
        };
        round_trip(&assignment);
        round_trip(&Assignment {
            household_refs: vec![],
            ..assignment.clone()
        });
        for (kind, payload) in [
            (
                ChangeKind::FormReturned,
                serde_json::to_value(&returned).unwrap(),
            ),
            (
                ChangeKind::AssignmentChanged,
                serde_json::to_value(&assignment).unwrap(),
            ),
        ] {
            round_trip(&kind);
            round_trip(&Change {
                seq: 8,
                kind,
                payload,
                at: t(),
            });
        }
        let change = Change {
            seq: 7,
            kind: ChangeKind::QuestionnairePublished,
            payload: serde_json::to_value(&q).unwrap(),
            at: t(),
        };
        round_trip(&change);
        round_trip(&PullResponse {
            changes: vec![change],
            cursor: "c1.7".into(),
            more: false,
        });
        round_trip(&Problem {
            status: 426,
            code: "protocol_too_old".into(),
            detail: "Cập nhật ứng dụng".into(),
            detail_en: Some("Update the app".into()),
            min_protocol_version: Some(1),
            max_protocol_version: Some(1),
        });
        for o in [
            Outcome::Accepted,
            Outcome::Duplicate,
            Outcome::Conflict,
            Outcome::Invalid,
            Outcome::Forbidden,
            Outcome::Updated,
            Outcome::UnknownQuestionnaire,
            Outcome::QuestionnaireClosed,
            Outcome::UnknownRound,
        ] {
            round_trip(&o);
            assert_eq!(Outcome::from_code(o.as_str()), o);
        }
        for s in [
            FormState::Accepted,
            FormState::Approved,
            FormState::Rejected,
            FormState::Quarantined,
            FormState::Missing,
        ] {
            round_trip(&s);
        }
    }

    #[test]
    fn unknown_values_from_a_later_server_are_tolerated() {
        let o: Outcome = serde_json::from_str("\"escalated\"").unwrap();
        assert_eq!(o, Outcome::Unknown);
        assert!(o.is_permanent());
        let s: FormState = serde_json::from_str("\"archived\"").unwrap();
        assert_eq!(s, FormState::Unknown);
        let k: ChangeKind = serde_json::from_str("\"villages_renamed\"").unwrap();
        assert_eq!(k, ChangeKind::Unknown);
        // Unknown fields are ignored.
        let r: PullResponse =
            serde_json::from_str(r#"{"changes":[],"cursor":"x","more":false,"hint":"new"}"#)
                .unwrap();
        assert_eq!(r.cursor, "x");
    }

    #[test]
    fn fields_added_later_may_be_omitted() {
        let h: HandshakeRequest = serde_json::from_str(
            r#"{"protocol_versions":[1],"app_version":"0.9","device_id":"d"}"#,
        )
        .unwrap();
        assert_eq!(h.device_time, None);
        // A push result of a server before assignments has no warnings.
        let r: FormResult = serde_json::from_str(r#"{"id":null,"outcome":"accepted"}"#).unwrap();
        assert!(r.warnings.is_empty());
        // An assignment of a whole village omits its households.
        let a: Assignment = serde_json::from_str(
            r#"{"id":1,"round":"r","units":{"province":"12","commune":"03395","village":"V1"},"quantity":5}"#,
        )
        .unwrap();
        assert!(a.household_refs.is_empty());
        let r: FormReturned = serde_json::from_str(
            r#"{"form_id":"0190a4c8-0000-7000-8000-000000000000","round":"r","revision":1,"household_ref":"h","village":"v","comment":"c"}"#,
        )
        .unwrap();
        assert_eq!(r.by, None);
    }

    #[test]
    fn content_hash_is_stable_and_sensitive() {
        let f = form();
        let json = serde_json::to_string_pretty(&f).unwrap();
        let again: FormSubmission = serde_json::from_str(&json).unwrap();
        assert_eq!(f.content_hash(), again.content_hash());
        let mut g = f.clone();
        g.answers.insert("age".into(), serde_json::json!(77));
        assert_ne!(f.content_hash(), g.content_hash());
        let mut h = f.clone();
        h.units.village = "V02".into();
        assert_ne!(f.content_hash(), h.content_hash());
    }

    /// The definition of the content hash: the canonical hash of the form's `Value` tree (what
    /// `content_hash` computed before it wrote the canonical JSON directly).
    fn reference_hash(f: &FormSubmission) -> String {
        schema::canonical_hash_of(&serde_json::to_value(f).unwrap_or(serde_json::Value::Null))
    }

    #[test]
    fn content_hash_of_a_known_form_is_pinned() {
        let mut f = form();
        f.id = Uuid::parse_str("01939a7e-1f2a-7cc3-9a51-0123456789ab").unwrap();
        assert_eq!(f.content_hash(), reference_hash(&f));
        // Computed by the `Value`-tree implementation this one replaced.
        assert_eq!(
            f.content_hash(),
            "84340ad593c62481af123b35b606c126900dadfe37e6ec1ea413042fcdb76730"
        );
        // A form that does not serialise (an offset with seconds) hashes as `null`, as before.
        f.started_at = f
            .started_at
            .map(|t| t.to_offset(time::UtcOffset::from_hms(7, 0, 30).unwrap()));
        assert_eq!(f.content_hash(), schema::sha256_hex(b"null"));
        assert_eq!(f.content_hash(), reference_hash(&f));
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;

        fn any_text() -> impl Strategy<Value = String> {
            prop_oneof![any::<String>(), "[a-zA-Z0-9ếữ\"\\\u{0}-\u{1f}😀 -]{0,16}",]
        }

        /// Times over the whole range the `time` crate holds, including years RFC 3339 cannot
        /// write (the form then does not serialise) and offsets with seconds.
        fn any_time() -> impl Strategy<Value = Option<OffsetDateTime>> {
            let t = (
                prop_oneof![-377_705_116_800i64..=253_402_300_799, 0i64..=4_102_444_800,],
                0u32..1_000_000_000,
                prop_oneof![
                    Just((0i8, 0i8, 0i8)),
                    (-23i8..=23, 0i8..=59, 0i8..=59).prop_map(|(h, m, s)| {
                        let sign = if h < 0 { -1 } else { 1 };
                        (h, sign * m, sign * s)
                    })
                ],
            )
                .prop_map(|(secs, nanos, (h, m, s))| {
                    OffsetDateTime::from_unix_timestamp(secs)
                        .unwrap()
                        .replace_nanosecond(nanos)
                        .unwrap()
                        .to_offset(time::UtcOffset::from_hms(h, m, s).unwrap())
                });
            prop::option::of(t)
        }

        fn any_form() -> impl Strategy<Value = FormSubmission> {
            let head = (
                any::<u128>(),
                any_text(),
                any_text(),
                any::<u32>(),
                any::<u32>(),
                (
                    any_text(),
                    prop::option::of(any_text()),
                    any_text(),
                    any_text(),
                ),
                any_text(),
            );
            let gps = prop::option::of((
                any::<f64>(),
                -180f64..180.0,
                prop::option::of(prop_oneof![any::<f64>(), 0f64..100.0]),
            ));
            let answers = prop::collection::btree_map(
                prop_oneof![any_text(), "[a-z0-9_]{1,12}"],
                schema::testing::any_json(),
                0..12,
            );
            (head, any_time(), any_time(), gps, answers).prop_map(
                |(
                    (id, round, qc, qv, rev, (p, d, c, v), hh),
                    started_at,
                    finished_at,
                    gps,
                    answers,
                )| {
                    FormSubmission {
                        id: Uuid::from_u128(id),
                        round,
                        questionnaire_code: qc,
                        questionnaire_version: qv,
                        revision: rev,
                        units: FormUnits {
                            province: p,
                            district: d,
                            commune: c,
                            village: v,
                        },
                        household_ref: hh,
                        started_at,
                        finished_at,
                        gps: gps.map(|(lat, lon, accuracy_m)| Gps {
                            lat,
                            lon,
                            accuracy_m,
                        }),
                        answers: answers.into_iter().collect(),
                    }
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]
            #[test]
            fn content_hash_equals_the_value_tree_definition(f in any_form()) {
                prop_assert_eq!(f.content_hash(), reference_hash(&f));
                // The server reads the same text with borrowed answers: the same hash as the
                // device's own reading of it.
                if let Ok(text) = serde_json::to_string(&f)
                    && let Ok(device) = serde_json::from_str::<FormSubmission>(&text)
                {
                    let server: FormSubmission<schema::json::JsonObject<'_>> =
                        serde_json::from_str(&text).expect("parses as the device's form did");
                    prop_assert_eq!(server.content_hash(), device.content_hash());
                    prop_assert_eq!(server.without_answers(), FormSubmission {
                        answers: schema::Answers::new(),
                        ..device
                    });
                }
            }
        }

        /// A device hashes the form it holds; the server hashes the text it received. serde_json's
        /// default float parser is off by one unit in the last place for some values (this one
        /// read back as …356), which gave the two different hashes for ~1 in 8 GPS fixes; the
        /// workspace builds serde_json with `float_roundtrip`.
        #[test]
        fn floats_read_back_exactly_so_device_and_server_hash_alike() {
            let mut f = form();
            for lat in [
                11.036607432920357,
                22.39,
                0.1 + 0.2,
                1e-300,
                -89.99999999999999,
            ] {
                f.gps = Some(Gps {
                    lat,
                    lon: 103.45,
                    accuracy_m: Some(9.0),
                });
                let text = serde_json::to_string(&f).unwrap();
                let device: FormSubmission = serde_json::from_str(&text).unwrap();
                let server: FormSubmission<schema::json::JsonObject<'_>> =
                    serde_json::from_str(&text).unwrap();
                assert_eq!(device.gps.unwrap().lat.to_bits(), lat.to_bits(), "{lat}");
                assert_eq!(server.content_hash(), f.content_hash(), "{lat}");
            }
        }

        #[test]
        fn content_hash_of_sample_forms_equals_the_value_tree_definition() {
            let mut f = form();
            for (i, answers) in [
                schema::sample::complete_sipas_answers(),
                schema::sample::sipas_answers_without_services(),
            ]
            .into_iter()
            .enumerate()
            {
                f.answers = answers;
                f.units.district = (i == 1).then(|| "105".into());
                assert_eq!(f.content_hash(), reference_hash(&f));
                f.gps = None;
                f.started_at = None;
                assert_eq!(f.content_hash(), reference_hash(&f));
            }
        }
    }
}
