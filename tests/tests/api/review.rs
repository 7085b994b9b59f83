//! Field operations against the real server: supervisors' assignments reaching devices, push
//! flags and warnings, review (approve, reject, resend as a higher revision, approve) with the
//! index statistics right at every step, concurrency (one of two reviewers wins, the other gets
//! 409), scope (another team or province gets 403), bulk review, and progress.

use e2e::{Place, TestApp, assert_problem};
use serde_json::{Value, json};
use sync_protocol::{Assignment, ChangeKind, FormReturned, FormSubmission, Outcome};
use uuid::Uuid;

const R25: &str = "sipas-2025";

/// A Lai Châu round with: the ministry, supervisor `gs.lc1` of team LC-1 and `gs.lc2` of team
/// LC-2 (both Lai Châu), `gs.sl` of Sơn La, and enumerator `dtv.lc1` of team LC-1 on device
/// `dev-lc1`.
struct Field {
    app: TestApp,
    admin: String,
    gs1: String,
    gs2: String,
    gs_son_la: String,
    enumerator_id: i64,
    dtv: String,
}

async fn field() -> Field {
    let app = e2e::spawn_app().await;
    let admin = app.admin_token().await;
    app.create_supervisor(&admin, "gs.lc1", "vn-2025", "12", "LC-1")
        .await;
    app.create_supervisor(&admin, "gs.lc2", "vn-2025", "12", "LC-2")
        .await;
    app.create_supervisor(&admin, "gs.sl", "vn-2025", "14", "SL-1")
        .await;
    let enumerator_id = app
        .create_enumerator(&admin, "dtv.lc1", "vn-2025", "12", "LC-1")
        .await;
    let gs1 = app.user_token("gs.lc1").await;
    let gs2 = app.user_token("gs.lc2").await;
    let gs_son_la = app.user_token("gs.sl").await;
    let dtv = app.device_token("dtv.lc1", "dev-lc1").await;
    Field {
        app,
        admin,
        gs1,
        gs2,
        gs_son_la,
        enumerator_id,
        dtv,
    }
}

fn lai_chau() -> Place {
    Place::nth(R25, "12", 0)
}

/// Pushes `forms` as the enumerator; returns the results.
async fn push(f: &Field, forms: &[FormSubmission]) -> Vec<sync_protocol::FormResult> {
    f.app.sync(&f.dtv).push(forms).await.results
}

async fn review(f: &Field, token: &str, id: Uuid, body: Value) -> (u16, Value) {
    f.app
        .post_as(token, &format!("/api/v1/forms/{id}/review"), &body)
        .await
}

/// The changes of `kind` the enumerator's device pulls from the start.
async fn pulled(f: &Field, kind: ChangeKind) -> Vec<Value> {
    f.app
        .sync(&f.dtv)
        .pull("")
        .await
        .changes
        .into_iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.payload)
        .collect()
}

/// Stored stats equal a recomputation; returns the forms counted in the round.
async fn counted(f: &Field) -> u32 {
    f.app.stats_match(R25).await.iter().map(|(_, n)| n).sum()
}

async fn set_counting(f: &Field, counted: &str) {
    let (s, body) = f
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/rounds/{R25}/counting"),
            Some(&f.admin),
            Some(&json!({ "counted": counted })),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn reject_pull_resend_approve_keeps_the_indices_right_at_each_step() {
    let f = field().await;
    let place = lai_chau();
    let a = place.form().build();
    let b = place.form().build();
    let results = push(&f, &[a.clone(), b.clone()]).await;
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Accepted),
        "{results:?}"
    );
    assert_eq!(counted(&f).await, 2, "received forms count by default");

    // A rejection needs a comment, and takes the form out of the indices.
    let (s, body) = review(
        &f,
        &f.gs1,
        a.id,
        json!({ "action": "reject", "revision": 1 }),
    )
    .await;
    assert_problem(s, &body, 422, "validation_failed");
    let (s, body) = review(
        &f,
        &f.gs1,
        a.id,
        json!({ "action": "reject", "revision": 1, "comment": "Câu C5 chưa khớp với ghi chú." }),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (body["from"].as_str(), body["status"].as_str()),
        (Some("accepted"), Some("rejected"))
    );
    assert_eq!(counted(&f).await, 1);
    let (s, body) = f
        .app
        .get_as(&f.dtv, &format!("/api/v1/forms/{}", a.id))
        .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("rejected")),
        "{body}"
    );

    // The device pulls the return with its comment.
    let returned = pulled(&f, ChangeKind::FormReturned).await;
    assert_eq!(returned.len(), 1, "{returned:?}");
    let r: FormReturned = serde_json::from_value(returned[0].clone()).unwrap();
    assert_eq!(
        (r.form_id, r.revision, r.by.as_deref()),
        (a.id, 1, Some("gs.lc1"))
    );
    assert_eq!(r.comment, "Câu C5 chưa khớp với ghi chú.");
    assert_eq!(r.household_ref, a.household_ref);
    // Nobody else pulls it.
    let admin_pull = f.app.sync(&f.gs2).pull("").await;
    assert!(
        admin_pull
            .changes
            .iter()
            .all(|c| c.kind != ChangeKind::FormReturned)
    );

    // Approving the rejected form is refused until it is resent.
    let (s, body) = review(
        &f,
        &f.gs1,
        a.id,
        json!({ "action": "approve", "revision": 1 }),
    )
    .await;
    assert_problem(s, &body, 409, "review_not_allowed");

    // Corrected and resent as revision 2: `updated`, received again, counted again.
    let mut a2 = a.clone();
    a2.revision = 2;
    a2.answers.insert("age".into(), json!(47));
    let results = push(&f, std::slice::from_ref(&a2)).await;
    assert_eq!(results[0].outcome, Outcome::Updated, "{results:?}");
    assert_eq!(counted(&f).await, 2);
    let (_, body) = f
        .app
        .get_as(&f.gs1, &format!("/api/v1/forms/{}", a.id))
        .await;
    assert_eq!(
        (body["status"].as_str(), body["revision"].as_i64()),
        (Some("accepted"), Some(2))
    );
    assert_eq!(body["answers"]["age"], json!(47));
    // Sent again: a duplicate; a revision 3 not sent back: a conflict, the stored form stays.
    assert_eq!(
        push(&f, std::slice::from_ref(&a2)).await[0].outcome,
        Outcome::Duplicate
    );
    let mut a3 = a2.clone();
    a3.revision = 3;
    let r3 = push(&f, std::slice::from_ref(&a3)).await;
    assert_eq!(r3[0].outcome, Outcome::Conflict);
    assert_eq!(r3[0].errors[0].code, "not_returned");

    // A reviewer who read revision 1 is told the form changed.
    let (s, body) = review(
        &f,
        &f.gs1,
        a.id,
        json!({ "action": "approve", "revision": 1 }),
    )
    .await;
    assert_problem(s, &body, 409, "form_changed");
    assert_eq!(body["current_revision"], json!(2));
    let (s, body) = review(
        &f,
        &f.gs1,
        a.id,
        json!({ "action": "approve", "revision": 2 }),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    assert_eq!(counted(&f).await, 2, "approved forms count too");

    // The history: rejected, resubmitted, approved; who, from, to, comment.
    let h = f
        .app
        .get_ok(&f.gs1, &format!("/api/v1/forms/{}/history", a.id))
        .await;
    let steps: Vec<(String, String, i64, Option<String>)> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                format!(
                    "{}>{}",
                    s["from"].as_str().unwrap(),
                    s["to"].as_str().unwrap()
                ),
                s["by"].as_str().unwrap_or_default().to_owned(),
                s["revision"].as_i64().unwrap(),
                s["comment"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (
                "accepted>rejected".into(),
                "gs.lc1".into(),
                1,
                Some("Câu C5 chưa khớp với ghi chú.".into())
            ),
            ("rejected>accepted".into(), "dtv.lc1".into(), 2, None),
            ("accepted>approved".into(), "gs.lc1".into(), 2, None),
        ]
    );
    // Every review is audited.
    let events = f.app.audit_events(&f.admin, "event=form_rejected").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let events = f.app.audit_events(&f.admin, "event=form_approved").await;
    assert_eq!(events.len(), 1, "{events:?}");
    // The device's status call sees it approved.
    let status = f
        .app
        .sync(&f.dtv)
        .status(vec![e2e::sync::query_of(&a2)])
        .await;
    assert_eq!(status.forms[0].state, sync_protocol::FormState::Approved);
}

#[tokio::test]
async fn a_round_counting_approved_forms_only_counts_them_on_approval() {
    let f = field().await;
    let place = lai_chau();
    let a = place.form().build();
    let b = place.form().build();
    push(&f, &[a.clone(), b.clone()]).await;
    assert_eq!(counted(&f).await, 2);
    // Switching recomputes the round: nothing approved yet.
    set_counting(&f, "approved").await;
    assert_eq!(counted(&f).await, 0);
    let c = place.form().build();
    assert_eq!(
        push(&f, std::slice::from_ref(&c)).await[0].outcome,
        Outcome::Accepted
    );
    assert_eq!(counted(&f).await, 0, "a received form waits for approval");
    let (s, _) = review(
        &f,
        &f.gs1,
        a.id,
        json!({ "action": "approve", "revision": 1 }),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(counted(&f).await, 1);
    // The ministry may reject an approved form: it leaves the indices.
    let (s, body) = review(
        &f,
        &f.admin,
        a.id,
        json!({ "action": "reject", "revision": 1, "comment": "Kiểm tra lại" }),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(counted(&f).await, 0);
    // Resent: received, not counted until approved again.
    let mut a2 = a.clone();
    a2.revision = 2;
    assert_eq!(
        push(&f, std::slice::from_ref(&a2)).await[0].outcome,
        Outcome::Updated
    );
    assert_eq!(counted(&f).await, 0);
    let (s, _) = review(
        &f,
        &f.gs1,
        a.id,
        json!({ "action": "approve", "revision": 2 }),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(counted(&f).await, 1);
    // Back to counting received forms: b, c and a.
    set_counting(&f, "received").await;
    assert_eq!(counted(&f).await, 3);
    // Only the ministry sets it.
    let (s, body) = f
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/rounds/{R25}/counting"),
            Some(&f.gs1),
            Some(&json!({ "counted": "approved" })),
        )
        .await;
    assert_problem(s, &body, 403, "forbidden");
}

#[tokio::test]
async fn two_supervisors_reviewing_one_form_at_once_one_wins_the_other_gets_409() {
    let f = field().await;
    let admin = f.admin.clone();
    // A second supervisor of team LC-1.
    f.app
        .create_supervisor(&admin, "gs.lc1b", "vn-2025", "12", "LC-1")
        .await;
    let other = f.app.user_token("gs.lc1b").await;
    let place = lai_chau();
    for _ in 0..5 {
        let form = place.form().build();
        push(&f, std::slice::from_ref(&form)).await;
        let approve = review(
            &f,
            &f.gs1,
            form.id,
            json!({ "action": "approve", "revision": 1 }),
        );
        let reject = review(
            &f,
            &other,
            form.id,
            json!({ "action": "reject", "revision": 1, "comment": "Thiếu thông tin" }),
        );
        let ((s1, b1), (s2, b2)) = tokio::join!(approve, reject);
        let mut statuses = [s1, s2];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{b1} {b2}");
        let loser = if s1 == 409 { &b1 } else { &b2 };
        assert_eq!(loser["code"], json!("review_not_allowed"), "{loser}");
        assert_eq!(loser["current_revision"], json!(1));
        // The history holds one review, and the indices follow the winner.
        let h = f
            .app
            .get_ok(&f.gs1, &format!("/api/v1/forms/{}/history", form.id))
            .await;
        assert_eq!(h["history"].as_array().unwrap().len(), 1, "{h}");
    }
    counted(&f).await;
}

#[tokio::test]
async fn reviewers_outside_the_forms_team_or_province_get_403() {
    let f = field().await;
    let form = lai_chau().form().build();
    push(&f, std::slice::from_ref(&form)).await;
    let approve = json!({ "action": "approve", "revision": 1 });
    let (s, body) = review(&f, &f.gs2, form.id, approve.clone()).await;
    assert_problem(s, &body, 403, "out_of_scope");
    let (s, body) = review(&f, &f.gs_son_la, form.id, approve.clone()).await;
    assert_problem(s, &body, 403, "out_of_scope");
    // Enumerators and province reviewers do not review at all.
    let (s, body) = review(&f, &f.dtv, form.id, approve.clone()).await;
    assert_problem(s, &body, 403, "forbidden");
    f.app
        .create_reviewer(&f.admin, "snv.lc", "vn-2025", "12")
        .await;
    let snv = f.app.user_token("snv.lc").await;
    let (s, body) = review(&f, &snv, form.id, approve.clone()).await;
    assert_problem(s, &body, 403, "forbidden");
    // Nothing changed; an unknown form is 404.
    let (s, body) = review(&f, &f.gs1, Uuid::now_v7(), approve.clone()).await;
    assert_problem(s, &body, 404, "not_found");
    let (s, _) = review(&f, &f.gs1, form.id, approve).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn bulk_approval_answers_each_form_on_its_own() {
    let f = field().await;
    let place = lai_chau();
    let forms: Vec<FormSubmission> = (0..4).map(|_| place.form().build()).collect();
    push(&f, &forms).await;
    // Another team's form (same province) and a Sơn La form.
    let admin = f.admin.clone();
    f.app
        .create_enumerator(&admin, "dtv.lc2", "vn-2025", "12", "LC-2")
        .await;
    let dtv2 = f.app.device_token("dtv.lc2", "dev-lc2").await;
    let theirs = place.form().build();
    f.app
        .sync(&dtv2)
        .push_accepted(std::slice::from_ref(&theirs))
        .await;
    // forms[3] was approved already.
    let (s, _) = review(
        &f,
        &f.gs1,
        forms[3].id,
        json!({ "action": "approve", "revision": 1 }),
    )
    .await;
    assert_eq!(s, 200);
    let unknown = Uuid::now_v7();
    let body = json!({
        "action": "approve",
        "forms": [
            { "id": forms[0].id, "revision": 1 },
            { "id": unknown, "revision": 1 },
            { "id": forms[1].id, "revision": 7 },
            { "id": theirs.id, "revision": 1 },
            { "id": forms[2].id, "revision": 1 },
            { "id": forms[3].id, "revision": 1 },
        ],
    });
    let (s, out) = f
        .app
        .post_as(&f.gs1, &format!("/api/v1/rounds/{R25}/reviews"), &body)
        .await;
    assert_eq!(s, 200, "{out}");
    let got: Vec<(bool, u64, Option<&str>)> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["ok"].as_bool().unwrap(),
                r["http_status"].as_u64().unwrap(),
                r["code"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (true, 200, None),
            (false, 404, Some("not_found")),
            (false, 409, Some("form_changed")),
            (false, 403, Some("out_of_scope")),
            (true, 200, None),
            (false, 409, Some("review_not_allowed")),
        ],
        "{out}"
    );
    assert_eq!(
        (out["reviewed"].as_u64(), out["refused"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(out["results"][2]["current_revision"], json!(1));
    let approved = f
        .app
        .get_ok(
            &f.admin,
            &format!("/api/v1/rounds/{R25}/forms?status=approved"),
        )
        .await;
    assert_eq!(approved["total"], json!(3));
    counted(&f).await;
}

#[tokio::test]
async fn assignments_reach_the_device_and_flag_what_is_outside_them() {
    let f = field().await;
    let place = lai_chau();
    let assign = |body: Value| {
        let app = &f.app;
        let token = f.gs1.clone();
        async move {
            app.post_as(&token, &format!("/api/v1/rounds/{R25}/assignments"), &body)
                .await
        }
    };
    let (s, body) = assign(json!({ "assignments": [
        { "enumerator_id": f.enumerator_id, "commune": place.commune, "village": "Bản Nà Khương", "quantity": 3 },
        { "enumerator_id": f.enumerator_id, "commune": place.commune, "village": "Bản Mới", "household_refs": ["HH-A", "HH-B"] },
    ]}))
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["assignments"][1]["quantity"], json!(2), "{body}");
    // Another team's supervisor, or another province's, may not assign this enumerator.
    let one = json!({ "assignments": [
        { "enumerator_id": f.enumerator_id, "commune": place.commune, "village": "X", "quantity": 1 },
    ]});
    let (s, body) = f
        .app
        .post_as(&f.gs2, &format!("/api/v1/rounds/{R25}/assignments"), &one)
        .await;
    assert_problem(s, &body, 403, "other_team");
    let (s, body) = f
        .app
        .post_as(
            &f.gs_son_la,
            &format!("/api/v1/rounds/{R25}/assignments"),
            &one,
        )
        .await;
    assert_eq!(s, 403, "{body}");
    // A Sơn La commune is outside the Lai Châu supervisor's scope.
    let son_la = Place::nth(R25, "14", 0);
    let (s, body) = assign(json!({ "assignments": [
        { "enumerator_id": f.enumerator_id, "commune": son_la.commune, "village": "X", "quantity": 1 },
    ]}))
    .await;
    assert_problem(s, &body, 403, "out_of_scope");
    // Bad input: all or nothing, errors by line.
    let (s, body) = assign(json!({ "assignments": [
        { "enumerator_id": f.enumerator_id, "commune": place.commune, "village": "Y", "quantity": 1 },
        { "enumerator_id": 999_999, "commune": "nope", "village": "" },
    ]}))
    .await;
    assert_problem(s, &body, 422, "validation_failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"assignments[1].enumerator_id"), "{body}");

    // The device pulls both assignments (and nobody else does).
    let got: Vec<Assignment> = pulled(&f, ChangeKind::AssignmentChanged)
        .await
        .into_iter()
        .map(|p| serde_json::from_value(p).unwrap())
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].household_refs, vec!["HH-A", "HH-B"]);
    assert!(
        f.app
            .sync(&f.gs1)
            .pull("")
            .await
            .changes
            .iter()
            .all(|c| c.kind != ChangeKind::AssignmentChanged)
    );

    // Pushes: inside the assignment (no warning), outside (flagged, stored), a second form for
    // one household (warned, stored).
    let inside = place.form().village("Bản Nà Khương").build();
    let listed = place.form().village("Bản Mới").household("HH-A").build();
    let unlisted = place.form().village("Bản Mới").household("HH-Z").build();
    let elsewhere = place.form().village("Bản Khác").build();
    let again = place
        .form()
        .village("Bản Nà Khương")
        .household(inside.household_ref.clone())
        .build();
    let results = push(
        &f,
        &[
            inside.clone(),
            listed,
            unlisted.clone(),
            elsewhere.clone(),
            again.clone(),
        ],
    )
    .await;
    let warned: Vec<(Outcome, Vec<String>)> = results
        .iter()
        .map(|r| {
            (
                r.outcome,
                r.warnings.iter().map(|w| w.code.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        warned,
        vec![
            (Outcome::Accepted, vec![]),
            (Outcome::Accepted, vec![]),
            (Outcome::Accepted, vec!["outside_assignment".to_owned()]),
            (Outcome::Accepted, vec!["outside_assignment".to_owned()]),
            (Outcome::Accepted, vec!["household_duplicate".to_owned()]),
        ]
    );
    // The flags are stored and read back.
    let (_, body) = f
        .app
        .get_as(&f.gs1, &format!("/api/v1/forms/{}", unlisted.id))
        .await;
    assert_eq!(
        (
            body["unassigned"].as_bool(),
            body["duplicate_household"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let (_, body) = f
        .app
        .get_as(&f.gs1, &format!("/api/v1/forms/{}", again.id))
        .await;
    assert_eq!(body["duplicate_household"], json!(true));
    // Pushed in a later batch, the same household is warned too.
    let later = place
        .form()
        .village("Bản Nà Khương")
        .household(inside.household_ref.clone())
        .build();
    assert_eq!(
        push(&f, &[later]).await[0].warnings[0].code,
        "household_duplicate"
    );

    // Progress: per unit and per enumerator, scoped.
    let p = f
        .app
        .get_ok(
            &f.gs1,
            &format!("/api/v1/rounds/{R25}/progress?unit=12&level=commune"),
        )
        .await;
    let t = &p["totals"];
    assert_eq!(
        (
            t["assigned"].as_u64(),
            t["received"].as_u64(),
            t["unassigned"].as_u64()
        ),
        (Some(5), Some(6), Some(2)),
        "{p}"
    );
    // 6 received, 2 of them outside the assignments: 4 of 5 assigned arrived.
    assert_eq!(t["outstanding"], json!(1), "{p}");
    assert_eq!(p["units"][0]["code"], json!(place.commune), "{p}");
    let e = &p["enumerators"][0];
    assert_eq!(
        (e["username"].as_str(), e["received"].as_u64()),
        (Some("dtv.lc1"), Some(6))
    );
    assert_eq!(e["devices"][0]["id"], json!("dev-lc1"), "{p}");
    assert!(e["devices"][0]["last_push_at"].is_string(), "{p}");
    // Another team's supervisor sees none of it; another province is 403.
    let p2 = f
        .app
        .get_ok(&f.gs2, &format!("/api/v1/rounds/{R25}/progress"))
        .await;
    assert_eq!(
        (
            p2["totals"]["assigned"].as_u64(),
            p2["totals"]["received"].as_u64()
        ),
        (Some(0), Some(0)),
        "{p2}"
    );
    let (s, body) = f
        .app
        .get_as(
            &f.gs_son_la,
            &format!("/api/v1/rounds/{R25}/progress?unit=12"),
        )
        .await;
    assert_problem(s, &body, 403, "out_of_scope");
    // The enumerator sees their own; withdrawing an assignment (quantity 0) reaches the device.
    let own = f
        .app
        .get_ok(&f.dtv, &format!("/api/v1/rounds/{R25}/progress"))
        .await;
    assert_eq!(own["totals"]["assigned"], json!(5), "{own}");
    let (s, body) = assign(json!({ "assignments": [
        { "enumerator_id": f.enumerator_id, "commune": place.commune, "village": "Bản Mới", "quantity": 0 },
    ]}))
    .await;
    assert_eq!(s, 200, "{body}");
    let last: Assignment = serde_json::from_value(
        pulled(&f, ChangeKind::AssignmentChanged)
            .await
            .last()
            .unwrap()
            .clone(),
    )
    .unwrap();
    assert_eq!((last.units.village.as_str(), last.quantity), ("Bản Mới", 0));
    let list = f
        .app
        .get_ok(&f.dtv, &format!("/api/v1/rounds/{R25}/assignments"))
        .await;
    assert_eq!(list["assignments"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        f.app
            .audit_events(&f.admin, "event=assignment_changed")
            .await
            .len(),
        3
    );
    // The assigned village typed in capitals is that village; its name in another commune is
    // another village, and the same reference there another household.
    let shouted = place.form().village("BẢN NÀ KHƯƠNG").build();
    let other_commune = Place::nth(R25, "12", 1)
        .form()
        .village("Bản Nà Khương")
        .household(inside.household_ref.clone())
        .build();
    let warned: Vec<Vec<String>> = push(&f, &[shouted, other_commune])
        .await
        .iter()
        .map(|r| r.warnings.iter().map(|w| w.code.clone()).collect())
        .collect();
    assert_eq!(
        warned,
        vec![vec![], vec!["outside_assignment".to_owned()]],
        "{warned:?}"
    );
    counted(&f).await;
}
