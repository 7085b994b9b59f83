//! The verdict on one pushed form: the rules that decide its outcome, with no I/O. Everything it
//! needs is read before ([`super::lookup`]) and handed in, so that each rule has a unit test that
//! needs no database (below), and the async code around it only reads, calls it and writes.

use std::sync::Arc;

use indices::{FormDigest, StatsLayout};
use sync_protocol::{FieldProblem, Outcome};

use super::{
    body::{Checked, Prepared},
    lookup::{Held, Households, Registry},
};
use crate::{
    auth::{AuthUser, policy},
    registry::STATUS_OPEN,
    review::Status,
};

/// What becomes of a form.
#[derive(Debug)]
pub(crate) enum Verdict<'p> {
    /// Held already with this content: `duplicate`, nothing written.
    Duplicate,
    /// `accepted`: stored, and counted in its village's statistics (when its round counts
    /// received forms).
    Accept(Accepted<'p>),
    /// `updated`: a higher revision of a form review sent back (`rejected`): it replaces the
    /// stored form, which is received again. Holds the revision it replaces.
    Update(Accepted<'p>, i32),
    /// Refused: quarantined with this outcome and these problems.
    Quarantine(Outcome, Vec<FieldProblem>),
    /// This payload was quarantined before: its first outcome again, and no second row.
    AsBefore(Outcome, Vec<FieldProblem>),
}

/// What an accepted form stores.
#[derive(Debug)]
pub(crate) struct Accepted<'p> {
    /// Its questionnaire version's stats layout.
    pub layout: &'p Arc<StatsLayout>,
    /// What it adds to its village's statistics.
    pub digest: &'p FormDigest,
    /// Its answers' stored encoding.
    pub encoded: &'p [u8],
    /// Whether it counts in the indices as soon as it is stored (its round counts received
    /// forms).
    pub counted: bool,
}

/// A round whose geography this server does not know: a broken deployment, not a bad form.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UnknownGeography {
    /// The round.
    pub round: String,
    /// The geography it names.
    pub geography: String,
}

/// The verdict on `p`, sent by `user`, given what the server holds under its id (`held`, with the
/// forms decided earlier in the same push) and the rounds (`registry`). In order:
/// 0. the form's place, before anything about its id, so that an answer about an existing id
///    (`duplicate`, `conflict`) never reaches someone who may not read that form: a round the
///    server does not have: `unknown_round`; units, codes or revision that are wrong
///    ([`sync_protocol::check_units`]): `invalid` (with the answers' problems after them); a
///    commune outside the sender's scope: `forbidden`;
/// 1. held with the same content: `duplicate`; a higher revision of a form review rejected
///    goes on (to be `updated` at 5.); any other content: `conflict`;
/// 2. the round is not open: `unknown_round`;
/// 3. the round does not use this questionnaire version: `unknown_questionnaire`; the version is
///    closed: `questionnaire_closed`;
/// 4. its answers are invalid: `invalid`;
/// 5. otherwise `accepted`, or `updated` (see 1.).
///
/// A refused payload that was quarantined before (the same id and content hash) gets its first
/// outcome again instead of a second row.
pub(crate) fn verdict<'p>(
    p: &'p Prepared,
    held: &Held,
    registry: &Registry,
    user: &AuthUser,
) -> Result<Verdict<'p>, UnknownGeography> {
    Ok(match decide(p, held, registry, user)? {
        Verdict::Quarantine(outcome, problems) => {
            match held.quarantined.get(&(p.f.id, p.hash.clone())) {
                Some((outcome, problems)) => Verdict::AsBefore(*outcome, problems.clone()),
                None => Verdict::Quarantine(outcome, problems),
            }
        }
        v => v,
    })
}

/// Steps 0 to 5 of [`verdict`]: accepted, a duplicate, or refused with an outcome (never
/// [`Verdict::AsBefore`], which [`verdict`] decides).
fn decide<'p>(
    p: &'p Prepared,
    held: &Held,
    registry: &Registry,
    user: &AuthUser,
) -> Result<Verdict<'p>, UnknownGeography> {
    let f = &p.f;
    let refuse = |outcome, problem| Ok(Verdict::Quarantine(outcome, vec![problem]));
    let no_round = || {
        FieldProblem::new(
            "round",
            "unknown_round",
            format!("Không có đợt khảo sát '{}' đang mở.", f.round),
            format!("No open survey round '{}'.", f.round),
        )
    };
    // 0. Where the form is, and whether the sender may put a form there.
    let Some(r) = registry.rounds.get(&f.round) else {
        return refuse(Outcome::UnknownRound, no_round());
    };
    let Some(geo) = ::geography::by_code(&r.geography_code) else {
        return Err(UnknownGeography {
            round: r.code.clone(),
            geography: r.geography_code.clone(),
        });
    };
    let mut problems = sync_protocol::check_units(Some(geo), f);
    if !problems.is_empty() {
        if let Some(Checked {
            valid: Err(answers),
            ..
        }) = &p.checked
        {
            problems.extend_from_slice(answers);
        }
        return Ok(Verdict::Quarantine(Outcome::Invalid, problems));
    }
    if !policy::covers_unit(user, &r.geography_code, &f.units.commune) {
        return refuse(
            Outcome::Forbidden,
            FieldProblem::new(
                "units.commune",
                "out_of_scope",
                "Xã này nằm ngoài địa bàn được phân công cho bạn.",
                "This commune is outside your assigned area.",
            ),
        );
    }
    // 1. What is held under its id.
    let mut replaces = None;
    match held.stored.get(&f.id) {
        Some(h) if h.hash == p.hash => return Ok(Verdict::Duplicate),
        Some(h)
            if h.status == Status::Rejected.as_str()
                && i64::from(f.revision) > i64::from(h.revision) =>
        {
            replaces = Some(h.revision);
        }
        Some(h) if i64::from(f.revision) > i64::from(h.revision) => {
            return refuse(
                Outcome::Conflict,
                FieldProblem::new(
                    "revision",
                    "not_returned",
                    "Phiếu này chưa bị trả lại để sửa; máy chủ giữ bản đã nhận. Bản gửi lên được giữ lại để kiểm tra.",
                    "This form was not sent back for correction; the server keeps the one it holds. The one sent is kept for review.",
                ),
            );
        }
        Some(_) => {
            return refuse(
                Outcome::Conflict,
                FieldProblem::new(
                    "id",
                    "conflict",
                    "Máy chủ đã có một phiếu khác với cùng mã phiếu và số lần sửa. Cả hai được giữ lại để kiểm tra.",
                    "The server already holds a different form with this id and revision. Both are kept for review.",
                ),
            );
        }
        None => {}
    }
    // 2. The round takes forms.
    if r.status != STATUS_OPEN {
        return refuse(Outcome::UnknownRound, no_round());
    }
    // 3. On a version of its questionnaire that is open.
    let status = Some(f.questionnaire_code == r.questionnaire_code)
        .filter(|same| *same)
        .and_then(|_| r.versions.get(&f.questionnaire_version));
    let (Some(status), Some(checked)) = (status, &p.checked) else {
        return refuse(
            Outcome::UnknownQuestionnaire,
            FieldProblem::new(
                "questionnaire_version",
                "unknown_questionnaire",
                format!(
                    "Đợt '{}' không dùng bảng hỏi {} phiên bản {}.",
                    f.round, f.questionnaire_code, f.questionnaire_version
                ),
                format!(
                    "Round '{}' does not use questionnaire {} version {}.",
                    f.round, f.questionnaire_code, f.questionnaire_version
                ),
            ),
        );
    };
    if status != STATUS_OPEN {
        return refuse(
            Outcome::QuestionnaireClosed,
            FieldProblem::new(
                "questionnaire_version",
                "questionnaire_closed",
                format!(
                    "Bảng hỏi {} phiên bản {} đã đóng, không nhận phiếu mới.",
                    f.questionnaire_code, f.questionnaire_version
                ),
                format!(
                    "Questionnaire {} version {} is closed to new forms.",
                    f.questionnaire_code, f.questionnaire_version
                ),
            ),
        );
    }
    // 4 and 5. Its answers.
    Ok(match &checked.valid {
        Ok((digest, encoded)) => {
            let a = Accepted {
                layout: &checked.layout,
                digest,
                encoded,
                counted: r.counted.counts(Status::Received),
            };
            match replaces {
                Some(revision) => Verdict::Update(a, revision),
                None => Verdict::Accept(a),
            }
        }
        Err(problems) => Verdict::Quarantine(Outcome::Invalid, problems.clone()),
    })
}

/// What a stored form is flagged with, and the warnings its push result carries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Notes {
    /// The household is outside the sender's assignments.
    pub unassigned: bool,
    /// Another form (another id) is held for the same household of the round.
    pub duplicate_household: bool,
    /// The warnings, one per flag.
    pub warnings: Vec<FieldProblem>,
}

/// The notes on a form about to be stored (accepted or updated), given what the server holds
/// about its household (`households`: with the forms accepted earlier in the same push) and the
/// sender's assignments.
///
/// - `outside_assignment`: the sender is an enumerator who has assignments in the form's round,
///   and none of them covers the form's commune and village (compared by its normalised code;
///   and, for an assignment that lists households, its household). An enumerator without any assignment in the round (a round run without
///   assignments) is not flagged, nor is a supervisor or the ministry correcting a form.
/// - `household_duplicate`: a form with another id is held for the same round, commune, village
///   (normalised code) and household. The form is stored all the same (nothing sent is lost); review decides which
///   one stands.
pub(crate) fn notes(p: &Prepared, households: &Households, user: &AuthUser) -> Notes {
    let f = &p.f;
    let mut out = Notes::default();
    let key = super::lookup::household_key(
        &f.round,
        &f.units.commune,
        &f.units.village,
        &f.household_ref,
    );
    if user.role == policy::Role::Enumerator
        && let Some(assigned) = households.assigned.get(&f.round)
    {
        let covered = assigned.iter().any(|(commune, village, refs)| {
            *commune == key.1
                && *village == key.2
                && refs
                    .as_ref()
                    .is_none_or(|refs| refs.contains(&f.household_ref))
        });
        if !covered {
            out.unassigned = true;
            out.warnings.push(FieldProblem::new(
                "household_ref",
                "outside_assignment",
                "Hộ này không nằm trong danh sách được phân công cho bạn. Phiếu vẫn được nhận và được đánh dấu để giám sát viên xem.",
                "This household is not in your assignments. The form is stored and flagged for your supervisor.",
            ));
        }
    }
    if households
        .forms
        .get(&key)
        .is_some_and(|ids| ids.iter().any(|id| *id != f.id))
    {
        out.duplicate_household = true;
        out.warnings.push(FieldProblem::new(
            "household_ref",
            "household_duplicate",
            "Máy chủ đã có một phiếu khác cho hộ này. Phiếu vẫn được nhận; giám sát viên sẽ quyết định giữ phiếu nào.",
            "The server already holds another form for this household. The form is stored; review decides which one stands.",
        ));
    }
    out
}

#[cfg(test)]
mod tests;
