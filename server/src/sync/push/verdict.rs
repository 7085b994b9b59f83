//! The verdict on one pushed form: the rules that decide its outcome, with no I/O. Everything it
//! needs is read before ([`super::lookup`]) and handed in, so that each rule has a unit test that
//! needs no database (below), and the async code around it only reads, calls it and writes.

use std::sync::Arc;

use indices::{FormDigest, StatsLayout};
use sync_protocol::{FieldProblem, Outcome};

use super::{
    body::Prepared,
    lookup::{Held, Registry},
};
use crate::{
    auth::{AuthUser, policy},
    registry::STATUS_OPEN,
};

/// What becomes of a form.
#[derive(Debug)]
pub(crate) enum Verdict<'p> {
    /// Held already with this content: `duplicate`, nothing written.
    Duplicate,
    /// `accepted`: stored, and counted in its village's statistics.
    Accept(Accepted<'p>),
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
/// 1. held with the same content: `duplicate`; with other content: `conflict`;
/// 2. the round is not open: `unknown_round`;
/// 3. the round does not use this questionnaire version: `unknown_questionnaire`; the version is
///    closed: `questionnaire_closed`;
/// 4. its units, codes and revision ([`sync_protocol::check_units`]) are wrong: `invalid`; its
///    commune is outside the sender's scope: `forbidden`; its answers are invalid: `invalid` (with
///    the unit problems first);
/// 5. otherwise `accepted`.
///
/// A refused payload that was quarantined before (the same id and content hash) gets its first
/// outcome again instead of a second row.
pub(crate) fn verdict<'p>(
    p: &'p Prepared,
    held: &Held,
    registry: &Registry,
    user: &AuthUser,
) -> Result<Verdict<'p>, UnknownGeography> {
    let stored = held.stored.get(&p.f.id);
    if stored == Some(&p.hash) {
        return Ok(Verdict::Duplicate);
    }
    let (outcome, problems) = match refusal(p, stored.is_some(), registry, user)? {
        Ok(accepted) => return Ok(Verdict::Accept(accepted)),
        Err(refused) => refused,
    };
    Ok(match held.quarantined.get(&(p.f.id, p.hash.clone())) {
        Some((outcome, problems)) => Verdict::AsBefore(*outcome, problems.clone()),
        None => Verdict::Quarantine(outcome, problems),
    })
}

/// Steps 1 (conflict) to 5 of [`verdict`]: the form accepted, or why not.
#[allow(clippy::type_complexity)]
fn refusal<'p>(
    p: &'p Prepared,
    conflict: bool,
    registry: &Registry,
    user: &AuthUser,
) -> Result<Result<Accepted<'p>, (Outcome, Vec<FieldProblem>)>, UnknownGeography> {
    let f = &p.f;
    let refuse = |outcome, problem| Ok(Err((outcome, vec![problem])));
    if conflict {
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
    let Some(r) = registry
        .rounds
        .get(&f.round)
        .filter(|r| r.status == STATUS_OPEN)
    else {
        return refuse(
            Outcome::UnknownRound,
            FieldProblem::new(
                "round",
                "unknown_round",
                format!("Không có đợt khảo sát '{}' đang mở.", f.round),
                format!("No open survey round '{}'.", f.round),
            ),
        );
    };
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
    let Some(geo) = ::geography::by_code(&r.geography_code) else {
        return Err(UnknownGeography {
            round: r.code.clone(),
            geography: r.geography_code.clone(),
        });
    };
    let mut problems = sync_protocol::check_units(Some(geo), f);
    if problems.is_empty() && !policy::covers_unit(user, &r.geography_code, &f.units.commune) {
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
    Ok(match &checked.valid {
        Ok((digest, encoded)) if problems.is_empty() => Ok(Accepted {
            layout: &checked.layout,
            digest,
            encoded,
        }),
        Ok(_) => Err((Outcome::Invalid, problems)),
        Err(answer_problems) => {
            problems.extend_from_slice(answer_problems);
            Err((Outcome::Invalid, problems))
        }
    })
}

#[cfg(test)]
mod tests;
