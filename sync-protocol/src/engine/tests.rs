//! Engine tests: an in-memory outbox and a scripted fake server.

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use super::{memory::MemoryOutbox, *};
use crate::{
    FieldProblem, FormResult, FormStatus, FormUnits, Problem, QuestionnaireRef, RoundAssignment,
};

/// Runs a future whose every await is immediately ready (the fakes never block); `None` when it
/// stops at a [`Fault::Hang`] — the process is "killed" there and the future dropped.
fn run<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn done<F: Future>(fut: F) -> F::Output {
    run(fut).expect("the future completes")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Handshake,
    Push,
    Status,
    Pull,
}

#[derive(Debug, Clone, PartialEq)]
enum Fault {
    /// Fails before the server sees the request.
    DropRequest,
    /// The server processes the request; the answer is lost.
    DropResponse,
    /// The server answers this error without processing.
    Http(u16, &'static str),
    /// The server processes the request; the process is killed before the answer arrives.
    Hang,
    /// The process is killed before the request leaves.
    HangBefore,
}

/// A scripted server holding forms, quarantine and a change log.
struct FakeServer {
    held: RefCell<HashMap<Uuid, String>>,
    /// Held forms review sent back (revision 1): a higher revision replaces them (`updated`).
    rejected: RefCell<HashSet<Uuid>>,
    quarantined: RefCell<HashMap<Uuid, String>>,
    /// Times a push carried each id.
    receipts: RefCell<HashMap<Uuid, usize>>,
    faults: RefCell<VecDeque<(Op, Fault)>>,
    calls: RefCell<Vec<Op>>,
    sleeps: RefCell<Vec<Duration>>,
    invalid: HashSet<Uuid>,
    changes: Vec<Change>,
    stale_cursors: HashSet<String>,
    max_batch_forms: usize,
    max_batch_bytes: usize,
    protocol_version: u32,
}

impl FakeServer {
    fn new() -> FakeServer {
        let at = OffsetDateTime::from_unix_timestamp(1_763_900_000).expect("time");
        FakeServer {
            held: RefCell::default(),
            rejected: RefCell::default(),
            quarantined: RefCell::default(),
            receipts: RefCell::default(),
            faults: RefCell::default(),
            calls: RefCell::default(),
            sleeps: RefCell::default(),
            invalid: HashSet::new(),
            changes: (1..=5)
                .map(|seq| Change {
                    seq,
                    kind: crate::ChangeKind::RoundChanged,
                    payload: serde_json::json!({"round": "sipas-2025", "status": "open"}),
                    at,
                })
                .collect(),
            stale_cursors: HashSet::new(),
            max_batch_forms: 500,
            max_batch_bytes: 8 << 20,
            protocol_version: 1,
        }
    }

    fn fault(self, op: Op, f: Fault) -> FakeServer {
        self.faults.borrow_mut().push_back((op, f));
        self
    }

    fn receipts(&self, id: Uuid) -> usize {
        self.receipts.borrow().get(&id).copied().unwrap_or(0)
    }

    fn count(&self, op: Op) -> usize {
        self.calls.borrow().iter().filter(|o| **o == op).count()
    }

    /// The next fault for `op`, if it is first in line.
    fn take_fault(&self, op: Op) -> Option<Fault> {
        self.calls.borrow_mut().push(op);
        let mut faults = self.faults.borrow_mut();
        if faults.front().is_some_and(|(o, _)| *o == op) {
            faults.pop_front().map(|(_, f)| f)
        } else {
            None
        }
    }

    /// Applies a fault around `process`.
    async fn serve<R>(&self, op: Op, process: impl FnOnce() -> R) -> Result<R, TransportError> {
        match self.take_fault(op) {
            None => Ok(process()),
            Some(Fault::DropRequest) => Err(TransportError::Network("connection refused".into())),
            Some(Fault::DropResponse) => {
                let _ = process();
                Err(TransportError::Network("connection reset".into()))
            }
            Some(Fault::Http(status, code)) => Err(TransportError::Http {
                status,
                problem: Some(Problem {
                    status,
                    code: code.into(),
                    detail: "lỗi".into(),
                    detail_en: Some("error".into()),
                    min_protocol_version: None,
                    max_protocol_version: None,
                }),
            }),
            Some(Fault::Hang) => {
                let _ = process();
                std::future::pending().await
            }
            Some(Fault::HangBefore) => std::future::pending().await,
        }
    }
}

impl Transport for FakeServer {
    async fn handshake(&self, req: &HandshakeRequest) -> Result<HandshakeResponse, TransportError> {
        assert_eq!(req.protocol_versions, vec![1]);
        self.serve(Op::Handshake, || HandshakeResponse {
            protocol_version: self.protocol_version,
            server_time: OffsetDateTime::now_utc(),
            clock_skew_ms: Some(0),
            questionnaires: vec![QuestionnaireRef {
                code: "sipas".into(),
                version: 1,
                content_hash: schema::builtin::sipas().content_hash(),
                status: "open".into(),
            }],
            rounds: vec![RoundAssignment {
                code: "sipas-2025".into(),
                year: 2025,
                geography: "vn-2025".into(),
                questionnaire_code: "sipas".into(),
                questionnaire_version: 1,
                sampling_levels: vec!["province".into(), "commune".into(), "village".into()],
                status: "open".into(),
                units: vec![],
            }],
            max_batch_forms: self.max_batch_forms,
            max_batch_bytes: self.max_batch_bytes,
        })
        .await
    }

    async fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        assert!(req.forms.len() <= self.max_batch_forms);
        self.serve(Op::Push, || PushResponse {
            results: req
                .forms
                .iter()
                .map(|f| {
                    *self.receipts.borrow_mut().entry(f.id).or_default() += 1;
                    let hash = f.content_hash();
                    let mut held = self.held.borrow_mut();
                    let (outcome, errors) = if self.invalid.contains(&f.id) {
                        self.quarantined.borrow_mut().insert(f.id, "invalid".into());
                        (
                            Outcome::Invalid,
                            vec![FieldProblem {
                                field: "age".into(),
                                code: "out_of_range".into(),
                                message: "Tuổi ngoài khoảng cho phép".into(),
                                message_en: Some("Age out of range".into()),
                            }],
                        )
                    } else {
                        match held.get(&f.id) {
                            Some(h) if *h == hash => (Outcome::Duplicate, vec![]),
                            Some(_)
                                if f.revision > 1 && self.rejected.borrow_mut().remove(&f.id) =>
                            {
                                held.insert(f.id, hash.clone());
                                (Outcome::Updated, vec![])
                            }
                            Some(_) => (Outcome::Conflict, vec![]),
                            None => {
                                held.insert(f.id, hash.clone());
                                (Outcome::Accepted, vec![])
                            }
                        }
                    };
                    FormResult {
                        id: Some(f.id),
                        outcome,
                        errors,
                        content_hash: Some(hash),
                        warnings: vec![],
                    }
                })
                .collect(),
        })
        .await
    }

    async fn status(&self, req: &StatusRequest) -> Result<StatusResponse, TransportError> {
        self.serve(Op::Status, || StatusResponse {
            forms: req
                .forms
                .iter()
                .map(|q| {
                    let held = self.held.borrow();
                    let quarantined = self.quarantined.borrow();
                    match (held.get(&q.id), quarantined.get(&q.id)) {
                        (Some(h), _) => FormStatus {
                            id: q.id,
                            state: if self.rejected.borrow().contains(&q.id) {
                                FormState::Rejected
                            } else {
                                FormState::Accepted
                            },
                            revision: Some(1),
                            content_hash: Some(h.clone()),
                            same_content: q.content_hash.as_ref().map(|c| c == h),
                            reason: None,
                        },
                        (None, Some(reason)) => FormStatus {
                            id: q.id,
                            state: FormState::Quarantined,
                            revision: None,
                            content_hash: None,
                            same_content: None,
                            reason: Some(reason.clone()),
                        },
                        (None, None) => FormStatus {
                            id: q.id,
                            state: FormState::Missing,
                            revision: None,
                            content_hash: None,
                            same_content: None,
                            reason: None,
                        },
                    }
                })
                .collect(),
        })
        .await
    }

    async fn pull(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<PullResponse, TransportError> {
        if let Some(c) = cursor.filter(|c| self.stale_cursors.contains(*c)) {
            self.calls.borrow_mut().push(Op::Pull);
            return Err(TransportError::Http {
                status: 410,
                problem: Some(Problem {
                    status: 410,
                    code: "cursor_invalid".into(),
                    detail: format!("con trỏ {c} không còn hợp lệ"),
                    detail_en: None,
                    min_protocol_version: None,
                    max_protocol_version: None,
                }),
            });
        }
        let after: i64 = cursor
            .and_then(|c| c.strip_prefix('c'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        self.serve(Op::Pull, || {
            let rest: Vec<Change> = self
                .changes
                .iter()
                .filter(|c| c.seq > after)
                .cloned()
                .collect();
            let page: Vec<Change> = rest.iter().take(limit).cloned().collect();
            let last = page.last().map_or(after, |c| c.seq);
            PullResponse {
                more: rest.len() > page.len(),
                changes: page,
                cursor: format!("c{last}"),
            }
        })
        .await
    }

    async fn sleep(&self, duration: Duration) {
        self.sleeps.borrow_mut().push(duration);
    }
}

fn form(n: u32) -> FormSubmission {
    FormSubmission {
        id: Uuid::now_v7(),
        round: "sipas-2025".into(),
        questionnaire_code: "sipas".into(),
        questionnaire_version: 1,
        revision: 1,
        units: FormUnits {
            province: "12".into(),
            district: None,
            commune: "03430".into(),
            village: "V01".into(),
        },
        household_ref: format!("HH-{n:03}"),
        started_at: None,
        finished_at: None,
        gps: None,
        answers: schema::sample::complete_sipas_answers(),
    }
}

fn outbox_with(n: u32) -> (MemoryOutbox, Vec<Uuid>) {
    let mut o = MemoryOutbox::new();
    let ids = (0..n)
        .map(|i| {
            let f = form(i);
            done(o.add(&f)).expect("add");
            f.id
        })
        .collect();
    (o, ids)
}

fn config() -> SyncConfig {
    let mut c = SyncConfig::new("dev-1", "test-1.0");
    c.batch_size = 2;
    c.pull_limit = 2;
    c.max_attempts = 4;
    c
}

// Mirrors `Engine::sync`'s signature (the error carries the partial report by design).
#[allow(clippy::result_large_err)]
fn sync(o: &mut MemoryOutbox, s: &FakeServer, c: &SyncConfig) -> Result<SyncReport, SyncError> {
    done(Engine::sync(o, s, c))
}

#[test]
fn pushes_in_batches_and_pulls_every_page() {
    let (mut o, ids) = outbox_with(5);
    let s = FakeServer::new();
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!((r.pushed, r.accepted, r.batches), (5, 5, 3));
    assert_eq!((r.duplicates, r.reconciled, r.retries), (0, 0, 0));
    assert!(r.failed.is_empty());
    assert_eq!(r.pulled, 5);
    assert_eq!(r.protocol_version, Some(1));
    assert_eq!(o.count(LocalState::Synced), 5);
    assert!(ids.iter().all(|id| s.receipts(*id) == 1));
    assert_eq!(o.cursor.as_deref(), Some("c5"));
    assert_eq!(o.changes.len(), 5);
    assert!(o.handshake.is_some());
    // Nothing left: a second run pushes nothing and pulls nothing new.
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!((r.pushed, r.pulled), (0, 0));
}

#[test]
fn batch_size_is_capped_by_the_server() {
    let (mut o, _) = outbox_with(5);
    let mut s = FakeServer::new();
    s.max_batch_forms = 1;
    let mut c = config();
    c.batch_size = 100;
    let r = sync(&mut o, &s, &c).expect("sync");
    assert_eq!((r.pushed, r.batches), (5, 5));
}

#[test]
fn lost_push_answer_is_reconciled_through_status_without_resending() {
    let (mut o, ids) = outbox_with(2);
    let s = FakeServer::new().fault(Op::Push, Fault::DropResponse);
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!(r.reconciled, 2);
    assert_eq!(r.pushed, 2, "sent once");
    assert_eq!(r.retries, 1);
    assert_eq!(r.accepted, 0, "the acceptance was learnt through status");
    assert_eq!(s.count(Op::Status), 1);
    assert!(ids.iter().all(|id| s.receipts(*id) == 1));
    assert!(
        ids.iter()
            .all(|id| o.state(*id) == Some(LocalState::Synced))
    );
}

#[test]
fn lost_push_request_is_found_missing_and_resent() {
    let (mut o, ids) = outbox_with(2);
    let s = FakeServer::new().fault(Op::Push, Fault::DropRequest);
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!(
        (r.reconciled, r.pushed, r.accepted, r.retries),
        (2, 4, 2, 1)
    );
    assert!(ids.iter().all(|id| s.receipts(*id) == 1));
    assert_eq!(o.count(LocalState::Synced), 2);
}

#[test]
fn transient_failures_are_retried_with_bounded_backoff() {
    let (mut o, _) = outbox_with(3);
    let s = FakeServer::new()
        .fault(Op::Handshake, Fault::Http(503, "unavailable"))
        .fault(Op::Handshake, Fault::DropRequest)
        .fault(Op::Push, Fault::Http(502, "bad_gateway"))
        .fault(Op::Status, Fault::Http(429, "too_many_requests"))
        .fault(Op::Pull, Fault::Http(504, "timeout"));
    let c = config();
    let r = sync(&mut o, &s, &c).expect("sync");
    assert_eq!(r.retries, 5);
    assert_eq!(o.count(LocalState::Synced), 3);
    assert_eq!(r.pulled, 5);
    let sleeps = s.sleeps.borrow();
    assert_eq!(sleeps.len(), 5);
    // Handshake: retry 0 then 1; push: 0; status: 0; pull: 0.
    let ceilings = [1, 2, 1, 1, 1].map(|k| c.backoff_base * k);
    for (d, ceiling) in sleeps.iter().zip(ceilings) {
        assert!(*d <= ceiling, "{d:?} > {ceiling:?}");
    }
}

#[test]
fn transient_failures_give_up_after_max_attempts_and_the_next_run_completes() {
    let (mut o, ids) = outbox_with(2);
    let mut s = FakeServer::new();
    for _ in 0..4 {
        s = s
            .fault(Op::Push, Fault::DropRequest)
            .fault(Op::Status, Fault::Http(500, "x"));
    }
    let mut c = config();
    c.max_attempts = 3;
    let e = sync(&mut o, &s, &c).expect_err("gives up");
    assert!(matches!(e.kind, SyncErrorKind::Unavailable { .. }), "{e:?}");
    assert!(e.report.retries >= 3);
    // Nothing lost: the forms are pending or in flight, none synced or failed.
    assert_eq!(
        o.count(LocalState::Pending) + o.count(LocalState::InFlight),
        2
    );
    s.faults.borrow_mut().clear();
    let r = sync(&mut o, &s, &c).expect("sync");
    assert_eq!(o.count(LocalState::Synced), 2, "{r:?}");
    assert!(ids.iter().all(|id| s.receipts(*id) == 1));
}

#[test]
fn permanent_outcomes_are_stored_and_not_retried() {
    let (mut o, ids) = outbox_with(3);
    let mut s = FakeServer::new();
    s.invalid.insert(ids[1]);
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!(r.accepted, 2);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].id, ids[1]);
    assert_eq!(r.failed[0].outcome, Outcome::Invalid);
    assert_eq!(r.failed[0].problems[0].code, "out_of_range");
    assert_eq!(o.state(ids[1]), Some(LocalState::Failed));
    let listed = done(o.list()).expect("list");
    assert_eq!(listed[1].problems.len(), 1);
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!(r.pushed, 0);
    assert_eq!(s.receipts(ids[1]), 1);
    assert_eq!(r.retries, 0);
}

#[test]
fn permanent_http_errors_stop_the_run_without_retrying() {
    let (mut o, _) = outbox_with(1);
    let s = FakeServer::new().fault(Op::Handshake, Fault::Http(426, "protocol_too_old"));
    let e = sync(&mut o, &s, &config()).expect_err("refused");
    match &e.kind {
        SyncErrorKind::Rejected(t) => assert_eq!(t.code(), Some("protocol_too_old")),
        k => panic!("{k:?}"),
    }
    assert_eq!(e.report.retries, 0);
    assert_eq!(s.count(Op::Push), 0);
    for (status, code) in [(403, "device_revoked"), (422, "invalid_body")] {
        let s = FakeServer::new().fault(Op::Push, Fault::Http(status, code));
        let e = sync(&mut o, &s, &config()).expect_err("refused");
        assert!(matches!(e.kind, SyncErrorKind::Rejected(_)), "{e:?}");
        assert_eq!(e.report.retries, 0);
        assert_eq!(s.count(Op::Push), 1);
    }
}

#[test]
fn unauthorized_is_reported_for_a_token_refresh_and_the_rerun_loses_nothing() {
    let (mut o, ids) = outbox_with(2);
    let s = FakeServer::new().fault(Op::Push, Fault::Http(401, "token_expired"));
    let e = sync(&mut o, &s, &config()).expect_err("401");
    match &e.kind {
        SyncErrorKind::Unauthorized(Some(p)) => assert_eq!(p.code, "token_expired"),
        k => panic!("{k:?}"),
    }
    assert_eq!(o.count(LocalState::InFlight), 2);
    let r = sync(&mut o, &s, &config()).expect("rerun after refresh");
    assert_eq!(r.reconciled, 2);
    assert_eq!(r.accepted, 2);
    assert!(ids.iter().all(|id| s.receipts(*id) == 1));
}

#[test]
fn invalid_cursor_restarts_the_pull_from_scratch() {
    let (mut o, _) = outbox_with(0);
    let mut s = FakeServer::new();
    s.stale_cursors.insert("old".into());
    o.cursor = Some("old".into());
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!(r.cursor_resets, 1);
    assert_eq!(r.pulled, 5);
    assert_eq!(o.cursor.as_deref(), Some("c5"));
    assert_eq!(s.count(Op::Handshake), 2, "handshake again after a reset");
}

#[test]
fn a_cursor_that_stays_invalid_is_reported_not_looped_on() {
    let (mut o, _) = outbox_with(0);
    let s = FakeServer::new()
        .fault(Op::Pull, Fault::Http(410, "cursor_invalid"))
        .fault(Op::Handshake, Fault::Http(503, "x"))
        .fault(Op::Pull, Fault::Http(410, "cursor_invalid"));
    let e = sync(&mut o, &s, &config()).expect_err("stops");
    assert!(matches!(e.kind, SyncErrorKind::Rejected(_)), "{e:?}");
    assert_eq!(e.report.cursor_resets, 1);
}

#[test]
fn killed_after_the_server_stored_the_batch_nothing_is_lost_or_sent_twice() {
    let (mut o, ids) = outbox_with(3);
    let mut c = config();
    c.batch_size = 3;
    let s = FakeServer::new().fault(Op::Push, Fault::Hang);
    // The process dies while waiting for the answer: the engine (the future) is dropped.
    assert!(run(Engine::sync(&mut o, &s, &c)).is_none());
    assert_eq!(o.count(LocalState::InFlight), 3);
    // A new engine on the same outbox.
    let r = sync(&mut o, &s, &c).expect("sync");
    assert_eq!((r.reconciled, r.pushed, r.duplicates), (3, 0, 0));
    assert!(ids.iter().all(|id| s.receipts(*id) == 1));
    assert_eq!(o.count(LocalState::Synced), 3);
}

#[test]
fn killed_before_the_request_left_the_forms_are_sent_once_after_restart() {
    let (mut o, ids) = outbox_with(3);
    let s = FakeServer::new().fault(Op::Push, Fault::HangBefore);
    assert!(run(Engine::sync(&mut o, &s, &config())).is_none());
    assert_eq!(o.count(LocalState::InFlight), 2);
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!(r.reconciled, 2);
    assert_eq!((r.pushed, r.accepted), (3, 3));
    assert!(ids.iter().all(|id| s.receipts(*id) == 1));
}

#[test]
fn a_resend_the_server_already_holds_is_reported_as_duplicate() {
    // The server stored the forms but the device never learnt it (e.g. its status answer was lost
    // and its outbox restored from a backup): the resend is a duplicate, stored once.
    let (mut o, ids) = outbox_with(2);
    let s = FakeServer::new();
    for f in done(o.pending(10)).expect("pending") {
        s.held.borrow_mut().insert(f.id(), f.content_hash.clone());
    }
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!((r.pushed, r.duplicates, r.accepted), (2, 2, 0));
    assert!(
        ids.iter()
            .all(|id| o.state(*id) == Some(LocalState::Synced))
    );
    assert_eq!(s.held.borrow().len(), 2);
}

#[test]
fn reconcile_settles_conflicts_and_quarantine() {
    let (mut o, ids) = outbox_with(3);
    done(o.mark_in_flight(&ids)).expect("in flight");
    let s = FakeServer::new();
    s.held.borrow_mut().insert(ids[0], "other-content".into());
    s.quarantined
        .borrow_mut()
        .insert(ids[1], "forbidden".into());
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!(r.reconciled, 3);
    let failed: HashMap<Uuid, Outcome> = r.failed.iter().map(|f| (f.id, f.outcome)).collect();
    assert_eq!(failed.get(&ids[0]), Some(&Outcome::Conflict));
    assert_eq!(failed.get(&ids[1]), Some(&Outcome::Forbidden));
    assert_eq!(o.state(ids[2]), Some(LocalState::Synced));
    assert_eq!(s.receipts(ids[0]), 0, "a conflict is not resent");
    assert_eq!(s.receipts(ids[2]), 1, "the missing one is pushed");
}

#[test]
fn a_correction_whose_push_got_no_answer_is_sent_again_not_a_conflict() {
    // The server holds revision 1, sent back by review; the device's revision 2 was in flight
    // when the app stopped, and never reached the server.
    let mut o = MemoryOutbox::new();
    let mut f = form(0);
    f.revision = 2;
    done(o.add(&f)).expect("add");
    done(o.mark_in_flight(&[f.id])).expect("in flight");
    let s = FakeServer::new();
    s.held.borrow_mut().insert(f.id, "revision 1".into());
    s.rejected.borrow_mut().insert(f.id);
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!((r.reconciled, r.updated), (1, 1), "{r:?}");
    assert_eq!(o.state(f.id), Some(LocalState::Synced));
    assert_eq!(s.receipts(f.id), 1);
    // Rejected, but the device's content is not a higher revision: a conflict, shown.
    let mut o = MemoryOutbox::new();
    let g = form(1);
    done(o.add(&g)).expect("add");
    done(o.mark_in_flight(&[g.id])).expect("in flight");
    let s = FakeServer::new();
    s.held.borrow_mut().insert(g.id, "other".into());
    s.rejected.borrow_mut().insert(g.id);
    let r = sync(&mut o, &s, &config()).expect("sync");
    assert_eq!(r.failed[0].outcome, Outcome::Conflict);
}

#[test]
fn oversized_batches_are_split() {
    let (mut o, _) = outbox_with(4);
    let mut c = config();
    c.batch_size = 4;
    let s = FakeServer::new().fault(Op::Push, Fault::Http(413, "payload_too_large"));
    let r = sync(&mut o, &s, &c).expect("sync");
    assert_eq!(r.accepted, 4);
    assert_eq!(r.batches, 2, "4 → 2 + 2");
    // By bytes: the server takes about one form per push.
    let (mut o, _) = outbox_with(3);
    let mut s = FakeServer::new();
    s.max_batch_bytes = 3000;
    let r = sync(&mut o, &s, &c).expect("sync");
    assert_eq!((r.accepted, r.batches), (3, 3));
}

#[test]
fn an_unknown_protocol_version_is_incompatible() {
    let (mut o, _) = outbox_with(1);
    let mut s = FakeServer::new();
    s.protocol_version = 2;
    let e = sync(&mut o, &s, &config()).expect_err("incompatible");
    assert_eq!(e.kind, SyncErrorKind::Incompatible { server_version: 2 });
}

#[test]
fn error_classes() {
    let http = |status| TransportError::Http {
        status,
        problem: None,
    };
    for s in [408, 429, 500, 502, 503, 504] {
        assert_eq!(http(s).class(), ErrorClass::Transient);
    }
    assert_eq!(
        TransportError::Network("x".into()).class(),
        ErrorClass::Transient
    );
    assert_eq!(http(401).class(), ErrorClass::Unauthorized);
    for s in [400, 403, 404, 410, 413, 422, 426] {
        assert_eq!(http(s).class(), ErrorClass::Permanent);
    }
}

#[test]
fn backoff_is_full_jitter_under_the_capped_exponential() {
    let base = Duration::from_millis(500);
    let cap = Duration::from_secs(30);
    assert_eq!(backoff_delay(0, base, cap, 0), Duration::ZERO);
    assert_eq!(backoff_delay(0, base, cap, u64::MAX), base);
    assert_eq!(backoff_delay(3, base, cap, u64::MAX), base * 8);
    assert_eq!(backoff_delay(10, base, cap, u64::MAX), cap);
    assert_eq!(backoff_delay(200, base, cap, u64::MAX), cap);
    let half = backoff_delay(2, base, cap, u64::MAX / 2);
    assert!(half > Duration::from_millis(990) && half < Duration::from_millis(1010));
    // Random draws spread over the range.
    let draws: Vec<Duration> = (0..200)
        .map(|_| backoff_delay(4, base, cap, random_u64()))
        .collect();
    assert!(draws.iter().all(|d| *d <= base * 16));
    assert!(draws.iter().any(|d| *d < base * 4));
    assert!(draws.iter().any(|d| *d > base * 12));
}
