//! The verdict on one pushed form: the rules that decide its outcome, with no I/O. Everything it
//! needs is read before ([`super::lookup`]) and handed in, so that each rule has a unit test that
//! needs no database (below), and the async code around it only reads, calls it and writes.

use std::sync::Arc;

use indices::{FormDigest, StatsLayout};
use sync_protocol::{FieldProblem, Outcome};

use super::{
    body::{Checked, Prepared},
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
/// 0. the form's place, before anything about its id, so that an answer about an existing id
///    (`duplicate`, `conflict`) never reaches someone who may not read that form: a round the
///    server does not have: `unknown_round`; units, codes or revision that are wrong
///    ([`sync_protocol::check_units`]): `invalid` (with the answers' problems after them); a
///    commune outside the sender's scope: `forbidden`;
/// 1. held with the same content: `duplicate`; with other content: `conflict`;
/// 2. the round is not open: `unknown_round`;
/// 3. the round does not use this questionnaire version: `unknown_questionnaire`; the version is
///    closed: `questionnaire_closed`;
/// 4. its answers are invalid: `invalid`;
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
    match held.stored.get(&f.id) {
        Some(hash) if *hash == p.hash => return Ok(Verdict::Duplicate),
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
        Ok((digest, encoded)) => Verdict::Accept(Accepted {
            layout: &checked.layout,
            digest,
            encoded,
        }),
        Err(problems) => Verdict::Quarantine(Outcome::Invalid, problems.clone()),
    })
}

#[cfg(test)]
mod tests;
