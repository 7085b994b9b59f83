//! The review of forms: the statuses a form moves through, the pure rule deciding each
//! transition ([`decide`]), which statuses count in a round's indices ([`Counted`]), and the one
//! transaction that applies a transition ([`apply`]): the status, the village statistics, the
//! append-only history, the device's `form_returned` change and the audit event together.
//!
//! A form is `accepted` when it arrives (shown as received), then `approved` or `rejected` by a
//! supervisor in scope (or the ministry). A rejected form goes back to its enumerator through
//! pull; the corrected form, pushed as a higher revision (outcome `updated`), is received again.

use axum::http::StatusCode;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit::{self, Actor},
    auth::{AuthUser, policy::Role},
    definitions::Definitions,
    entities::{form, form_review, round},
    error::ApiError,
    index_stats::{FormPlace, PendingStats},
};

/// Longest review comment, in characters.
pub const MAX_COMMENT: usize = 2000;

/// Where a form stands in review. Stored as [`Status::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Received and not reviewed yet (stored `accepted`, the push outcome that put it there).
    #[serde(rename = "accepted")]
    Received,
    /// Approved by a supervisor or the ministry.
    Approved,
    /// Sent back to the enumerator with a comment.
    Rejected,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "accepted",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }

    /// The status stored as `s`.
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Received, Status::Approved, Status::Rejected]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Which forms of a round count in its indices. Stored in `rounds.counted_states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    /// Every form not rejected: received or approved (the default, as before review existed).
    #[default]
    Received,
    /// Approved forms only.
    Approved,
}

impl Counted {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Counted::Received => "received",
            Counted::Approved => "approved",
        }
    }

    /// The setting stored as `s` (an unknown value counts as the default).
    pub fn parse(s: &str) -> Counted {
        match s {
            "approved" => Counted::Approved,
            _ => Counted::Received,
        }
    }

    /// The setting of round `round` (the default when there is no such round).
    pub async fn of_round(db: &impl ConnectionTrait, round: &str) -> Result<Counted, DbErr> {
        Ok(round::Entity::find_by_id(round.to_owned())
            .one(db)
            .await?
            .map(|r| Counted::parse(&r.counted_states))
            .unwrap_or_default())
    }

    /// Whether a form in `status` counts.
    pub fn counts(self, status: Status) -> bool {
        match (self, status) {
            (_, Status::Rejected) => false,
            (_, Status::Approved) => true,
            (Counted::Received, Status::Received) => true,
            (Counted::Approved, Status::Received) => false,
        }
    }

    /// The stored statuses that count (for a query).
    pub fn statuses(self) -> Vec<&'static str> {
        [Status::Received, Status::Approved]
            .into_iter()
            .filter(|s| self.counts(*s))
            .map(Status::as_str)
            .collect()
    }
}

/// What a reviewer does to a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Approve it.
    Approve,
    /// Send it back to its enumerator, with a comment.
    Reject,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The role may not review forms.
    Forbidden,
    /// A rejection needs a comment.
    CommentRequired,
    /// The form changed (a new revision) since the reviewer read it.
    Stale {
        /// The revision held now.
        current: u32,
    },
    /// The form's status does not allow it (e.g. approving a rejected form, or a second review
    /// of the same revision).
    NotAllowed {
        /// The status now.
        from: Status,
    },
}

/// The review transition rule: the status `action` by `role` moves a form from, or why not.
///
/// `read` is the revision the reviewer read; `held` the revision the server holds. In order:
/// only supervisors and the ministry review; a rejection needs a non-blank comment; a form that
/// changed since it was read is stale; then
/// - received → approved or rejected;
/// - approved → rejected, by the ministry only (headquarters may overrule a supervisor);
/// - anything else (approving twice, reviewing a rejected form before it was resent) is refused.
pub fn decide(
    role: Role,
    from: Status,
    held: u32,
    action: Action,
    read: u32,
    comment: Option<&str>,
) -> Result<Status, Refusal> {
    if !matches!(role, Role::Supervisor | Role::Ministry) {
        return Err(Refusal::Forbidden);
    }
    if action == Action::Reject && comment.is_none_or(|c| c.trim().is_empty()) {
        return Err(Refusal::CommentRequired);
    }
    if read != held {
        return Err(Refusal::Stale { current: held });
    }
    match (from, action) {
        (Status::Received, Action::Approve) => Ok(Status::Approved),
        (Status::Received, Action::Reject) => Ok(Status::Rejected),
        (Status::Approved, Action::Reject) if role == Role::Ministry => Ok(Status::Rejected),
        (from, _) => Err(Refusal::NotAllowed { from }),
    }
}

/// The error a refusal answers: 403, 422 or 409 (with the current revision and status).
pub fn refusal_error(r: &Refusal, from: Status, held: u32) -> ApiError {
    let e = match r {
        Refusal::Forbidden => return crate::auth::policy::forbidden(),
        Refusal::CommentRequired => {
            return ApiError::validation(vec![crate::error::FieldError::new(
                "comment",
                "required",
                "Cần ghi lý do khi trả lại phiếu.",
                "A rejection needs a comment.",
            )]);
        }
        Refusal::Stale { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "form_changed",
            "Phiếu đã thay đổi kể từ khi bạn mở nó. Hãy xem lại bản mới nhất.",
            "The form changed since you read it. Review its current revision.",
        ),
        Refusal::NotAllowed { from } => ApiError::new(
            StatusCode::CONFLICT,
            "review_not_allowed",
            format!(
                "Không thể thực hiện: phiếu đang ở trạng thái '{}'.",
                from.as_str()
            ),
            format!("Not possible: the form is '{}'.", from.as_str()),
        ),
    };
    e.with_extra("current_revision", held)
        .with_extra("current_status", from.as_str())
}

/// A checked review comment: trimmed, at most [`MAX_COMMENT`] characters, no control characters
/// but line breaks. `None` when blank.
pub fn clean_comment(c: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(c) = c.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    crate::text::check_field(
        "comment",
        &c.replace(['\n', '\r', '\t'], " "),
        MAX_COMMENT,
        &mut errors,
    );
    if errors.is_empty() {
        Ok(Some(c.to_owned()))
    } else {
        Err(ApiError::validation(errors))
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The status before.
    pub from: Status,
    /// The status after.
    pub to: Status,
    /// The form's revision.
    pub revision: u32,
}

/// Why [`apply`] did nothing.
#[derive(Debug)]
pub enum ApplyError {
    /// No form has this id.
    NotFound,
    /// The form is outside the reviewer's scope (another province, or another team's).
    OutOfScope,
    /// The rule refused it; with the form's status and revision now.
    Refused(Refusal, Status, u32),
    /// The database failed.
    Db(DbErr),
}

impl From<DbErr> for ApplyError {
    fn from(e: DbErr) -> Self {
        ApplyError::Db(e)
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::NotFound => ApiError::not_found("phiếu khảo sát", "Form"),
            ApplyError::OutOfScope => crate::auth::policy::out_of_scope(),
            ApplyError::Refused(r, from, held) => refusal_error(&r, from, held),
            ApplyError::Db(e) => e.into(),
        }
    }
}

/// One review request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The form.
    pub id: Uuid,
    /// Approve or reject.
    pub action: Action,
    /// The revision the reviewer read.
    pub revision: u32,
    /// The comment (required to reject).
    pub comment: Option<&'a str>,
}

/// Applies one review in one transaction: the row is locked (written) before it is read, so two
/// reviewers of one form are serialised and the second is decided against what the first did
/// (409). The status, the village statistics (when the form enters or leaves the counted
/// statuses of its round), the history row, the `form_returned` change for its enumerator (a
/// rejection) and the audit event are written together.
pub async fn apply(
    db: &sea_orm::DatabaseConnection,
    definitions: &Definitions,
    reviewer: &AuthUser,
    ip: Option<String>,
    req: &Request<'_>,
) -> Result<Applied, ApplyError> {
    let txn = db.begin().await?;
    let now = OffsetDateTime::now_utc();
    let Some(f) = lock_form(&txn, req.id, now).await? else {
        return Err(ApplyError::NotFound);
    };
    let r = round::Entity::find_by_id(f.round_code.clone())
        .one(&txn)
        .await?
        .ok_or(ApplyError::NotFound)?;
    let in_scope = form::Entity::find()
        .filter(form::Column::Seq.eq(f.seq))
        .filter(crate::auth::policy::readable_forms(
            reviewer,
            &r.geography_code,
        ))
        .one(&txn)
        .await?
        .is_some();
    if !in_scope {
        return Err(ApplyError::OutOfScope);
    }
    let from = Status::parse(&f.status)
        .ok_or_else(|| DbErr::Custom(format!("form {} has status '{}'", f.id, f.status)))?;
    let held = f.revision.max(0) as u32;
    let to = decide(
        reviewer.role,
        from,
        held,
        req.action,
        req.revision,
        req.comment,
    )
    .map_err(|r| ApplyError::Refused(r, from, held))?;
    let counted = Counted::parse(&r.counted_states);
    restat(
        &txn,
        definitions,
        &f,
        counted.counts(from),
        counted.counts(to),
        now,
    )
    .await?;
    form::Entity::update_many()
        .col_expr(form::Column::Status, Expr::value(to.as_str()))
        .filter(form::Column::Id.eq(f.id))
        .exec(&txn)
        .await?;
    history(
        &txn,
        &f,
        from.as_str(),
        to.as_str(),
        req.comment,
        reviewer,
        now,
    )
    .await?;
    if to == Status::Rejected
        && let Some(enumerator) = f.submitted_by
    {
        let returned = sync_protocol::FormReturned {
            form_id: f.id,
            round: f.round_code.clone(),
            revision: held,
            household_ref: f.household_ref.clone(),
            village: f.village_code.clone(),
            comment: req.comment.unwrap_or_default().to_owned(),
            by: Some(reviewer.username.clone()),
        };
        crate::changes::record_in(
            &txn,
            sync_protocol::ChangeKind::FormReturned,
            Some(&f.round_code),
            Some(enumerator),
            serde_json::to_value(&returned).map_err(|e| DbErr::Custom(e.to_string()))?,
        )
        .await?;
    }
    audit::record(
        &txn,
        match to {
            Status::Approved => audit::event::FORM_APPROVED,
            _ => audit::event::FORM_REJECTED,
        },
        &Actor::user(reviewer, ip),
        Some(f.id.to_string()),
        serde_json::json!({
            "round": f.round_code,
            "revision": held,
            "from": from.as_str(),
            "to": to.as_str(),
            "comment": req.comment,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(Applied {
        from,
        to,
        revision: held,
    })
}

/// Locks a form's row (a write, so PostgreSQL takes the row lock and SQLite its write lock)
/// and reads it.
pub(crate) async fn lock_form(
    txn: &DatabaseTransaction,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<form::Model>, DbErr> {
    let touched = form::Entity::update_many()
        .col_expr(form::Column::UpdatedAt, Expr::value(now))
        .filter(form::Column::Id.eq(id))
        .exec(txn)
        .await?;
    if touched.rows_affected == 0 {
        return Ok(None);
    }
    form::Entity::find()
        .filter(form::Column::Id.eq(id))
        .one(txn)
        .await
}

/// Takes a form's answers out of its village's statistics or adds them, when its counting
/// changes.
pub(crate) async fn restat(
    txn: &DatabaseTransaction,
    definitions: &Definitions,
    f: &form::Model,
    counted_before: bool,
    counted_after: bool,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    if counted_before == counted_after {
        return Ok(());
    }
    let id = f.id;
    let def = definitions
        .stored(txn, &f.questionnaire_code, f.questionnaire_version)
        .await?;
    let valid = schema::ValidAnswers::decode(&def.questionnaire, &f.answers)
        .map_err(|e| DbErr::Custom(format!("form {id} answers do not decode: {e}")))?;
    let layout = &def.layout;
    let digest = indices::FormDigest::of(layout, &valid);
    let mut stats = PendingStats::default();
    let place = FormPlace::of_row(f);
    let changed = if counted_after {
        stats.add(layout, place, &digest)
    } else {
        stats.remove(layout, place, &digest)
    };
    changed.map_err(|e| DbErr::Custom(format!("index stats of form {id}: {e}")))?;
    stats.apply(txn, now).await
}

/// Appends one step to a form's history.
pub(crate) async fn history(
    txn: &impl ConnectionTrait,
    f: &form::Model,
    from: &str,
    to: &str,
    comment: Option<&str>,
    by: &AuthUser,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    form_review::Entity::insert(history_row(
        f.id,
        &f.round_code,
        f.revision,
        (from, to),
        comment,
        Some((by.id, &by.username)),
        now,
    ))
    .exec(txn)
    .await?;
    Ok(())
}

/// The `form_reviews` row of one step.
pub(crate) fn history_row(
    id: Uuid,
    round: &str,
    revision: i32,
    (from, to): (&str, &str),
    comment: Option<&str>,
    by: Option<(i64, &str)>,
    now: OffsetDateTime,
) -> form_review::ActiveModel {
    form_review::ActiveModel {
        form_id: Set(id),
        round_code: Set(round.to_owned()),
        revision: Set(revision),
        from_status: Set(from.to_owned()),
        to_status: Set(to.to_owned()),
        comment: Set(comment.map(str::to_owned)),
        by_user: Set(by.map(|b| b.0)),
        by_username: Set(by.map(|b| crate::text::fit(b.1, crate::text::max::USERNAME))),
        at: Set(now),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUP: Role = Role::Supervisor;

    #[test]
    fn received_forms_are_approved_or_rejected() {
        assert_eq!(
            decide(SUP, Status::Received, 1, Action::Approve, 1, None),
            Ok(Status::Approved)
        );
        assert_eq!(
            decide(
                SUP,
                Status::Received,
                2,
                Action::Reject,
                2,
                Some("Q5 trống")
            ),
            Ok(Status::Rejected)
        );
        assert_eq!(
            decide(
                Role::Ministry,
                Status::Received,
                1,
                Action::Reject,
                1,
                Some("x")
            ),
            Ok(Status::Rejected)
        );
    }

    #[test]
    fn a_rejection_needs_a_comment() {
        for c in [None, Some(""), Some("  \n ")] {
            assert_eq!(
                decide(SUP, Status::Received, 1, Action::Reject, 1, c),
                Err(Refusal::CommentRequired)
            );
        }
    }

    #[test]
    fn a_form_changed_since_it_was_read_is_stale() {
        assert_eq!(
            decide(SUP, Status::Received, 3, Action::Approve, 2, None),
            Err(Refusal::Stale { current: 3 })
        );
    }

    #[test]
    fn only_supervisors_and_the_ministry_review() {
        for role in [Role::Enumerator, Role::ProvinceReviewer] {
            assert_eq!(
                decide(role, Status::Received, 1, Action::Approve, 1, None),
                Err(Refusal::Forbidden)
            );
        }
    }

    #[test]
    fn a_second_review_of_the_same_revision_is_refused() {
        assert_eq!(
            decide(SUP, Status::Approved, 1, Action::Approve, 1, None),
            Err(Refusal::NotAllowed {
                from: Status::Approved
            })
        );
        assert_eq!(
            decide(SUP, Status::Approved, 1, Action::Reject, 1, Some("x")),
            Err(Refusal::NotAllowed {
                from: Status::Approved
            })
        );
        // A rejected form waits for its enumerator's corrected revision.
        for action in [Action::Approve, Action::Reject] {
            assert_eq!(
                decide(SUP, Status::Rejected, 1, action, 1, Some("x")),
                Err(Refusal::NotAllowed {
                    from: Status::Rejected
                })
            );
        }
    }

    #[test]
    fn the_ministry_may_reject_an_approved_form() {
        assert_eq!(
            decide(
                Role::Ministry,
                Status::Approved,
                1,
                Action::Reject,
                1,
                Some("x")
            ),
            Ok(Status::Rejected)
        );
        assert!(
            decide(
                Role::Ministry,
                Status::Approved,
                1,
                Action::Approve,
                1,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn what_counts_in_the_indices() {
        use Status::*;
        assert!(Counted::Received.counts(Received) && Counted::Received.counts(Approved));
        assert!(!Counted::Received.counts(Rejected));
        assert!(!Counted::Approved.counts(Received) && Counted::Approved.counts(Approved));
        assert!(!Counted::Approved.counts(Rejected));
        assert_eq!(Counted::Approved.statuses(), vec!["approved"]);
        assert_eq!(Counted::Received.statuses(), vec!["accepted", "approved"]);
        assert_eq!(Counted::parse("approved"), Counted::Approved);
        assert_eq!(Counted::parse("whatever"), Counted::Received);
    }

    #[test]
    fn statuses_round_trip_their_stored_names() {
        for s in [Status::Received, Status::Approved, Status::Rejected] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("quarantined"), None);
    }
}
