//! Every outcome a verdict can give, without a database.
use std::collections::HashMap;

use schema::json::JsonObject;
use sync_protocol::{FormSubmission, sample::SipasForm};

use super::*;
use crate::{
    auth::policy::{Role, Scope},
    definitions::Definition,
    registry::STATUS_CLOSED,
    sync::push::{
        body::prepare,
        lookup::{HeldForm, RoundRow},
    },
};

/// A Lai Châu (province 12, 2025 geography) enumerator.
fn enumerator() -> AuthUser {
    AuthUser {
        id: 7,
        username: "dtv.laichau".into(),
        role: Role::Enumerator,
        scope: Some(Scope {
            geography: "vn-2025".into(),
            unit: "12".into(),
        }),
        team: None,
        device_id: Some("device-1".into()),
    }
}

fn commune(province: &str) -> String {
    geography::vn_2025()
        .children(province)
        .next()
        .unwrap()
        .code
        .clone()
}

/// A valid SIPAS form in Lai Châu for round `sipas-2025`.
fn form() -> FormSubmission {
    SipasForm::new().commune(commune("12")).build()
}

/// `f` as push prepares it, against the built-in questionnaire (`published`) or none.
fn prepared(f: &FormSubmission, published: bool) -> Prepared {
    let def = Definition::new(schema::builtin::sipas().clone());
    let text = serde_json::to_string(f).unwrap();
    let parsed: FormSubmission<JsonObject<'_>> = serde_json::from_str(&text).unwrap();
    prepare(published.then_some(&def), 0, parsed)
}

/// Round `sipas-2025` (open, on vn-2025) using sipas v1 with the given status.
fn registry(round_status: &str, version_status: &str) -> Registry {
    let round = RoundRow {
        code: "sipas-2025".into(),
        status: round_status.into(),
        questionnaire_code: "sipas".into(),
        geography_code: "vn-2025".into(),
        versions: HashMap::from([(1, version_status.to_owned())]),
        counted: Default::default(),
    };
    Registry {
        rounds: HashMap::from([(round.code.clone(), round)]),
    }
}

fn open() -> Registry {
    registry(STATUS_OPEN, STATUS_OPEN)
}

/// The outcome and the problems' (field, code) of a verdict.
fn decide(p: &Prepared, held: &Held, reg: &Registry, user: &AuthUser) -> (Outcome, Vec<String>) {
    let codes = |problems: &[FieldProblem]| -> Vec<String> {
        problems
            .iter()
            .map(|p| format!("{}:{}", p.field, p.code))
            .collect()
    };
    match verdict(p, held, reg, user).unwrap() {
        Verdict::Duplicate => (Outcome::Duplicate, vec![]),
        Verdict::Accept(_) => (Outcome::Accepted, vec![]),
        Verdict::Update(..) => (Outcome::Updated, vec![]),
        Verdict::Quarantine(o, problems) => (o, codes(&problems)),
        Verdict::AsBefore(o, problems) => (
            o,
            std::iter::once("as_before".to_owned())
                .chain(codes(&problems))
                .collect(),
        ),
    }
}

#[test]
fn a_valid_form_in_scope_is_accepted_with_what_it_stores() {
    let f = form();
    let p = prepared(&f, true);
    let Verdict::Accept(a) = verdict(&p, &Held::default(), &open(), &enumerator()).unwrap() else {
        panic!("not accepted");
    };
    let q = schema::builtin::sipas();
    let valid = schema::validate(q, &f.answers).unwrap();
    assert_eq!(a.encoded, valid.encode(q).as_slice());
    assert_eq!(a.digest, &FormDigest::of(a.layout, &valid));
    // The ministry may submit anywhere.
    let mut ministry = enumerator();
    (ministry.role, ministry.scope) = (Role::Ministry, None);
    assert_eq!(
        decide(&p, &Held::default(), &open(), &ministry).0,
        Outcome::Accepted
    );
}

#[test]
fn a_held_form_is_a_duplicate_with_its_content_and_a_conflict_without() {
    let p = prepared(&form(), true);
    let mut held = Held::default();
    held.stored
        .insert(p.f.id, HeldForm::received(p.hash.clone()));
    assert_eq!(
        decide(&p, &held, &open(), &enumerator()),
        (Outcome::Duplicate, vec![])
    );
    held.stored
        .insert(p.f.id, HeldForm::received("another content"));
    assert_eq!(
        decide(&p, &held, &open(), &enumerator()),
        (Outcome::Conflict, vec!["id:conflict".into()])
    );
}

#[test]
fn a_form_for_a_round_that_is_not_open_is_unknown_round() {
    let p = prepared(&form(), true);
    let want = (
        Outcome::UnknownRound,
        vec!["round:unknown_round".to_owned()],
    );
    assert_eq!(
        decide(&p, &Held::default(), &Registry::default(), &enumerator()),
        want
    );
    let closed = registry(STATUS_CLOSED, STATUS_OPEN);
    assert_eq!(decide(&p, &Held::default(), &closed, &enumerator()), want);
}

#[test]
fn a_questionnaire_the_round_does_not_use_is_unknown_and_a_closed_one_is_closed() {
    let unknown = (
        Outcome::UnknownQuestionnaire,
        vec!["questionnaire_version:unknown_questionnaire".to_owned()],
    );
    // Not published (no definition), another version, another questionnaire.
    let f = form();
    assert_eq!(
        decide(
            &prepared(&f, false),
            &Held::default(),
            &open(),
            &enumerator()
        ),
        unknown
    );
    let mut v2 = form();
    v2.questionnaire_version = 2;
    assert_eq!(
        decide(
            &prepared(&v2, true),
            &Held::default(),
            &open(),
            &enumerator()
        ),
        unknown
    );
    let mut other = form();
    other.questionnaire_code = "other".into();
    assert_eq!(
        decide(
            &prepared(&other, true),
            &Held::default(),
            &open(),
            &enumerator()
        ),
        unknown
    );
    let closed = registry(STATUS_OPEN, STATUS_CLOSED);
    assert_eq!(
        decide(
            &prepared(&f, true),
            &Held::default(),
            &closed,
            &enumerator()
        ),
        (
            Outcome::QuestionnaireClosed,
            vec!["questionnaire_version:questionnaire_closed".into()]
        )
    );
}

#[test]
fn a_commune_outside_the_senders_scope_is_forbidden() {
    let mut f = form();
    f.units.province = "14".into();
    f.units.commune = commune("14");
    let forbidden = (
        Outcome::Forbidden,
        vec!["units.commune:out_of_scope".into()],
    );
    let p = prepared(&f, true);
    assert_eq!(
        decide(&p, &Held::default(), &open(), &enumerator()),
        forbidden
    );
    // Whatever is held under its id: nothing about a form the sender may not read is told.
    let mut held = Held::default();
    held.stored
        .insert(p.f.id, HeldForm::received(p.hash.clone()));
    assert_eq!(decide(&p, &held, &open(), &enumerator()), forbidden);
    held.stored
        .insert(p.f.id, HeldForm::received("other content"));
    assert_eq!(decide(&p, &held, &open(), &enumerator()), forbidden);
    // Sent again: its first answer, and no second quarantine row.
    held.quarantined.insert(
        (p.f.id, p.hash.clone()),
        (
            Outcome::Forbidden,
            vec![FieldProblem::new("units.commune", "out_of_scope", "", "")],
        ),
    );
    assert!(matches!(
        verdict(&p, &held, &open(), &enumerator()).unwrap(),
        Verdict::AsBefore(Outcome::Forbidden, _)
    ));
    // Wrong units are told first, and say nothing about the id either: a Sơn La commune under
    // Lai Châu's province code, held or not.
    let mut f = form();
    f.units.commune = commune("14");
    let p = prepared(&f, true);
    let mismatch = (Outcome::Invalid, vec!["units.commune:unit_mismatch".into()]);
    assert_eq!(
        decide(&p, &Held::default(), &open(), &enumerator()),
        mismatch
    );
    let mut held = Held::default();
    held.stored
        .insert(p.f.id, HeldForm::received("other content"));
    assert_eq!(decide(&p, &held, &open(), &enumerator()), mismatch);
}

#[test]
fn a_round_the_server_does_not_have_says_nothing_about_the_id() {
    let mut f = form();
    f.round = "sipas-1999".into();
    let p = prepared(&f, true);
    let mut held = Held::default();
    held.stored
        .insert(p.f.id, HeldForm::received("other content"));
    assert_eq!(
        decide(&p, &held, &open(), &enumerator()),
        (Outcome::UnknownRound, vec!["round:unknown_round".into()])
    );
    // A closed round's forms are still duplicates when sent again: the device learns they are
    // safe, not that the round closed.
    let f = form();
    let p = prepared(&f, true);
    let mut held = Held::default();
    held.stored
        .insert(p.f.id, HeldForm::received(p.hash.clone()));
    let closed = registry(STATUS_CLOSED, STATUS_OPEN);
    assert_eq!(
        decide(&p, &held, &closed, &enumerator()),
        (Outcome::Duplicate, vec![])
    );
}

#[test]
fn wrong_units_and_answers_are_invalid_with_every_problem() {
    let mut f = form();
    f.units.district = Some("105".into());
    f.answers.remove("gender");
    let (outcome, problems) = decide(
        &prepared(&f, true),
        &Held::default(),
        &open(),
        &enumerator(),
    );
    assert_eq!(outcome, Outcome::Invalid);
    assert_eq!(problems[0], "units.district:not_relevant");
    assert!(
        problems.iter().any(|p| p.starts_with("gender:")),
        "{problems:?}"
    );
    // Wrong units are reported before the scope is judged: a commune that does not exist is
    // invalid, not forbidden.
    let mut f = form();
    f.units.commune = "nope".into();
    assert_eq!(
        decide(
            &prepared(&f, true),
            &Held::default(),
            &open(),
            &enumerator()
        ),
        (Outcome::Invalid, vec!["units.commune:unknown_unit".into()])
    );
}

#[test]
fn a_payload_quarantined_before_gets_its_first_outcome_again() {
    let mut f = form();
    f.answers.remove("gender");
    let p = prepared(&f, true);
    let mut held = Held::default();
    let first = vec![FieldProblem::new("gender", "required", "vi", "en")];
    held.quarantined
        .insert((p.f.id, p.hash.clone()), (Outcome::Invalid, first.clone()));
    match verdict(&p, &held, &open(), &enumerator()).unwrap() {
        Verdict::AsBefore(o, problems) => assert_eq!((o, problems), (Outcome::Invalid, first)),
        v => panic!("{v:?}"),
    }
    // Another content under the same id is a new payload.
    held.quarantined.clear();
    held.quarantined
        .insert((p.f.id, "other".into()), (Outcome::Invalid, vec![]));
    assert!(matches!(
        verdict(&p, &held, &open(), &enumerator()).unwrap(),
        Verdict::Quarantine(Outcome::Invalid, _)
    ));
}

#[test]
fn a_round_on_an_unknown_geography_is_a_server_fault() {
    let p = prepared(&form(), true);
    let mut reg = open();
    reg.rounds.get_mut("sipas-2025").unwrap().geography_code = "vn-1999".into();
    assert_eq!(
        verdict(&p, &Held::default(), &reg, &enumerator()).unwrap_err(),
        UnknownGeography {
            round: "sipas-2025".into(),
            geography: "vn-1999".into()
        }
    );
}

/// `f` held at `revision` in `status`, with other content.
fn held_as(f: &FormSubmission, revision: i32, status: &str) -> Held {
    let mut held = Held::default();
    held.stored.insert(
        f.id,
        HeldForm {
            hash: "earlier content".into(),
            revision,
            status: status.into(),
        },
    );
    held
}

#[test]
fn a_higher_revision_of_a_rejected_form_updates_it() {
    let mut f = form();
    f.revision = 2;
    let p = prepared(&f, true);
    let Verdict::Update(a, replaces) =
        verdict(&p, &held_as(&f, 1, "rejected"), &open(), &enumerator()).unwrap()
    else {
        panic!("not an update");
    };
    assert_eq!(replaces, 1);
    assert!(
        a.counted,
        "a round counting received forms counts it at once"
    );
    // Not sent back: a higher revision is a conflict, and so is the same or a lower revision
    // of a rejected form.
    for status in ["accepted", "approved"] {
        assert_eq!(
            decide(&p, &held_as(&f, 1, status), &open(), &enumerator()),
            (Outcome::Conflict, vec!["revision:not_returned".into()])
        );
    }
    for held_revision in [2, 3] {
        assert_eq!(
            decide(
                &p,
                &held_as(&f, held_revision, "rejected"),
                &open(),
                &enumerator()
            ),
            (Outcome::Conflict, vec!["id:conflict".into()])
        );
    }
    // The round must still take forms.
    let closed = registry(STATUS_CLOSED, STATUS_OPEN);
    assert_eq!(
        decide(&p, &held_as(&f, 1, "rejected"), &closed, &enumerator()).0,
        Outcome::UnknownRound
    );
}

#[test]
fn a_round_counting_approved_forms_only_does_not_count_a_form_on_arrival() {
    let p = prepared(&form(), true);
    let mut reg = open();
    for r in reg.rounds.values_mut() {
        r.counted = crate::review::Counted::Approved;
    }
    let Verdict::Accept(a) = verdict(&p, &Held::default(), &reg, &enumerator()).unwrap() else {
        panic!("not accepted");
    };
    assert!(!a.counted);
}

#[test]
fn notes_flag_households_outside_the_assignments_and_second_forms() {
    use super::super::lookup::Households;
    let f = form();
    let p = prepared(&f, true);
    let codes = |n: &Notes| -> Vec<String> { n.warnings.iter().map(|w| w.code.clone()).collect() };
    // No assignment in the round at all: nothing to be outside of.
    let none = Households::default();
    assert_eq!(notes(&p, &none, &enumerator()), Notes::default());
    // Assigned the form's village (whole, or with its household listed, the village code in
    // any spelling): not flagged.
    let commune = f.units.commune.clone();
    let village = indices::cluster_key(&f.units.village);
    let mut h = Households::default();
    h.assigned.insert(
        f.round.clone(),
        vec![(commune.clone(), village.clone(), None)],
    );
    assert!(notes(&p, &h, &enumerator()).warnings.is_empty());
    h.assigned.insert(
        f.round.clone(),
        vec![(
            commune.clone(),
            village.clone(),
            Some(vec![f.household_ref.clone()]),
        )],
    );
    assert!(notes(&p, &h, &enumerator()).warnings.is_empty());
    let mut shouted = f.clone();
    shouted.units.village = f.units.village.to_lowercase();
    let ps = prepared(&shouted, true);
    assert!(notes(&ps, &h, &enumerator()).warnings.is_empty());
    // Another household of that village, another village, or that village of another
    // commune: flagged.
    h.assigned.insert(
        f.round.clone(),
        vec![
            (
                commune.clone(),
                village.clone(),
                Some(vec!["HH-other".into()]),
            ),
            (commune.clone(), "another village".into(), None),
            ("99999".into(), village.clone(), None),
        ],
    );
    let n = notes(&p, &h, &enumerator());
    assert!(n.unassigned && !n.duplicate_household);
    assert_eq!(codes(&n), vec!["outside_assignment"]);
    // A supervisor correcting a form is not flagged.
    let mut supervisor = enumerator();
    supervisor.role = Role::Supervisor;
    assert!(!notes(&p, &h, &supervisor).unassigned);
    // A form with another id held for the household: flagged; the form itself (a resend or an
    // update) is not another form; the same village and reference in another commune is
    // another household.
    let mut h = Households::default();
    let key = super::super::lookup::household_key(
        &f.round,
        &f.units.commune,
        &f.units.village,
        &f.household_ref,
    );
    h.forms.insert(key.clone(), vec![f.id]);
    assert_eq!(notes(&p, &h, &enumerator()), Notes::default());
    let mut elsewhere = key.clone();
    elsewhere.1 = "99999".into();
    h.forms.insert(elsewhere, vec![uuid::Uuid::now_v7()]);
    assert_eq!(notes(&p, &h, &enumerator()), Notes::default());
    h.forms.insert(key, vec![f.id, uuid::Uuid::now_v7()]);
    let n = notes(&p, &h, &enumerator());
    assert!(n.duplicate_household && !n.unassigned);
    assert_eq!(codes(&n), vec!["household_duplicate"]);
    assert!(notes(&ps, &h, &enumerator()).duplicate_household);
}
