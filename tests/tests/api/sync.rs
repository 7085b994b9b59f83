//! Sync protocol v1 against the real server: handshake and version negotiation, idempotent push
//! with per-form outcomes, reconciliation through status, pull with cursors, and idempotency
//! across two servers sharing one database.

use e2e::{
    SyncClient, assert_problem,
    places::son_la_commune,
    reports::sipas_version,
    spawn_app_with_enumerator,
    sync::{PUSH, handshake_of, query_id, query_of, values},
};
use reqwest::Method;
use serde_json::{Value, json};
use sync_protocol::{
    ChangeKind, FormState, FormSubmission, Outcome, StatusQuery,
    sample::{SipasForm, form},
};
use uuid::Uuid;

/// A form the questionnaire refuses: the respondent is 12 (under 18).
fn under_age() -> FormSubmission {
    SipasForm::new().answer("age", json!(12)).build()
}

/// A form of a Sơn La commune (outside a Lai Châu enumerator's scope).
fn son_la_form() -> FormSubmission {
    SipasForm::new()
        .province("14")
        .commune(son_la_commune())
        .build()
}

#[tokio::test]
async fn handshake_negotiates_and_describes_what_the_device_needs() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let (s, body) = device
        .handshake_raw(&json!({
            "protocol_versions": [1],
            "app_version": "2.3.0",
            "device_id": "device-lc-1",
            "device_time": "2026-01-01T00:00:00Z",
        }))
        .await;
    assert_eq!(s, 200, "{body}");
    let hs: sync_protocol::HandshakeResponse = serde_json::from_value(body).unwrap();
    assert_eq!(hs.protocol_version, 1);
    assert!(hs.clock_skew_ms.unwrap() > 0, "device clock is in the past");
    assert_eq!(hs.questionnaires.len(), 1);
    assert_eq!(
        hs.questionnaires[0].content_hash,
        schema::builtin::sipas().content_hash()
    );
    let r25 = hs.rounds.iter().find(|r| r.code == "sipas-2025").unwrap();
    assert!(r25.units.iter().any(|u| u.code == "12"));
    assert!(
        r25.units
            .iter()
            .any(|u| u.code == e2e::places::lai_chau_commune())
    );
    assert!(
        !r25.units.iter().any(|u| u.code == "14"),
        "Sơn La is outside the scope"
    );
    // The 2023 round on the old geography shows Lai Châu's 2023 units through the mapping.
    let r23 = hs.rounds.iter().find(|r| r.code == "sipas-2023").unwrap();
    assert!(r23.units.iter().any(|u| u.code == "12"));

    // Too old and too new get distinct answers.
    let (s, body) = device
        .handshake_raw(
            &json!({"protocol_versions": [0], "app_version": "0.1", "device_id": "device-lc-1"}),
        )
        .await;
    assert_problem(s, &body, 426, "protocol_too_old");
    assert_eq!(body["min_protocol_version"], 1);
    let (s, body) = device
        .handshake_raw(
            &json!({"protocol_versions": [2, 3], "app_version": "9.0", "device_id": "device-lc-1"}),
        )
        .await;
    assert_problem(s, &body, 400, "protocol_too_new");
    assert_eq!(body["max_protocol_version"], 1);
    // The header travels on every later call.
    let empty = json!({"forms": []});
    let (s, body) = device
        .clone()
        .protocol(None)
        .call(Method::POST, PUSH, Some(&empty))
        .await;
    assert_problem(s, &body, 400, "protocol_header_missing");
    let (s, body) = device
        .clone()
        .protocol(Some("7"))
        .call(Method::POST, PUSH, Some(&empty))
        .await;
    assert_problem(s, &body, 400, "protocol_too_new");

    // The device's sync is recorded.
    let admin = app.admin_token().await;
    let d = app
        .devices(&admin, "")
        .await
        .into_iter()
        .find(|d| d["id"] == "device-lc-1")
        .unwrap();
    assert_eq!(d["app_version"], "2.3.0");
    assert_eq!(d["protocol_version"], 1);
    assert!(d["last_handshake_at"].is_string());
    assert!(d["clock_skew_ms"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn the_same_batch_twice_is_stored_once() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let forms: Vec<FormSubmission> = (0..20).map(|_| form()).collect();
    let first = device.push(&forms).await;
    assert!(
        first.results.iter().all(|r| r.outcome == Outcome::Accepted),
        "{first:?}"
    );
    for (r, f) in first.results.iter().zip(&forms) {
        assert_eq!(r.id, Some(f.id));
        assert_eq!(r.content_hash.as_deref(), Some(f.content_hash().as_str()));
    }
    let second = device.push(&forms).await;
    assert!(
        second
            .results
            .iter()
            .all(|r| r.outcome == Outcome::Duplicate),
        "{second:?}"
    );
    assert_eq!(app.form_count().await, 20);
    assert_eq!(app.quarantine_count().await, 0);
    // The same form twice inside one batch.
    let f = form();
    let r = device.push(&[f.clone(), f]).await;
    assert_eq!(r.results[0].outcome, Outcome::Accepted);
    assert_eq!(r.results[1].outcome, Outcome::Duplicate);
    assert_eq!(app.form_count().await, 21);
    // Device counters.
    let admin = app.admin_token().await;
    let d = &app.devices(&admin, "").await[0];
    assert_eq!(d["forms_pushed"], 42);
    assert_eq!(d["forms_accepted"], 21);
    assert!(d["last_push_at"].is_string());
}

#[tokio::test]
async fn a_lost_acknowledgement_is_reconciled_through_status() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let sent: Vec<FormSubmission> = (0..5).map(|_| form()).collect();
    // The server commits, the device never sees the answer.
    let _ = device.push(&sent).await;
    let never_sent = form();
    let mut queries: Vec<StatusQuery> = sent.iter().map(query_of).collect();
    queries.push(query_of(&never_sent));
    let st = device.status(queries).await;
    for s in &st.forms[..5] {
        assert_eq!(s.state, FormState::Accepted);
        assert_eq!(s.same_content, Some(true));
        assert_eq!(s.revision, Some(1));
    }
    assert_eq!(st.forms[5].state, FormState::Missing);
    // Resending after reconciliation changes nothing.
    let again = device.push(&sent).await;
    assert!(
        again
            .results
            .iter()
            .all(|r| r.outcome == Outcome::Duplicate)
    );
    assert_eq!(app.form_count().await, 5);
}

#[tokio::test]
async fn a_conflicting_form_under_an_existing_id_keeps_both() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let original = form();
    let r = device.push(std::slice::from_ref(&original)).await;
    assert_eq!(r.results[0].outcome, Outcome::Accepted);
    let mut other = original.clone();
    other.answers.insert("age".into(), json!(64));
    let r = device.push(std::slice::from_ref(&other)).await;
    assert_eq!(r.results[0].outcome, Outcome::Conflict, "{r:?}");
    assert_eq!(r.results[0].errors[0].code, "conflict");
    // The stored form is the original; the newcomer is in quarantine.
    let admin = app.admin_token().await;
    let (_, stored) = app
        .get_as(&admin, &format!("/api/v1/forms/{}", original.id))
        .await;
    assert_eq!(stored["content_hash"], original.content_hash());
    assert_eq!(app.form_count().await, 1);
    assert_eq!(app.quarantine_count().await, 1);
    // Resending the conflicting payload answers the same, without a second quarantine row.
    let r = device.push(&[other]).await;
    assert_eq!(r.results[0].outcome, Outcome::Conflict);
    assert_eq!(app.quarantine_count().await, 1);
    // Status tells the device the server holds different content.
    let st = device
        .status(vec![StatusQuery {
            id: original.id,
            content_hash: Some("0".repeat(64)),
        }])
        .await;
    assert_eq!(st.forms[0].state, FormState::Accepted);
    assert_eq!(st.forms[0].same_content, Some(false));
}

/// A push refused as a whole says why, in this order: a body that is not a push, no protocol
/// header, too many forms; and stores nothing.
#[tokio::test]
async fn a_push_refused_as_a_whole_stores_nothing() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let small = |i: usize| {
        SipasForm::new()
            .answers(schema::Answers::new())
            .household(format!("H{i}"))
            .build()
    };
    let too_many: Vec<FormSubmission> = (0..=sync_protocol::MAX_BATCH_FORMS).map(small).collect();
    let body = serde_json::to_string(&json!({ "forms": values(&too_many) })).unwrap();
    let (s, r) = device.push_raw("application/json", body.clone()).await;
    assert_problem(s, &r, 413, "batch_too_large");
    // Without the protocol header.
    let (s, r) = device
        .clone()
        .protocol(None)
        .push_raw("application/json", body)
        .await;
    assert_problem(s, &r, 400, "protocol_header_missing");
    let (s, r) = device.push_raw("application/json", "{\"forms\": {}}").await;
    assert_problem(s, &r, 422, "invalid_body");
    assert_eq!(app.form_count().await, 0);
    assert_eq!(app.quarantine_count().await, 0);
}

/// A quarantined form keeps the text the device sent, byte for byte, whether every form of its
/// push parsed (the forms are read in one pass, and the text is found afterwards) or one did not
/// (each form is read on its own); and a body that is not a push gets the JSON body errors.
#[tokio::test]
async fn quarantined_payloads_are_kept_as_sent() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    // Spacing, key order and an escaped character a re-serialisation would not reproduce.
    let text = |f: &FormSubmission| {
        let v = serde_json::to_value(f).unwrap();
        let mut fields: Vec<String> = v
            .as_object()
            .unwrap()
            .iter()
            .rev()
            .map(|(k, v)| format!("\n  \"{k}\" :  {v}"))
            .collect();
        fields.push("\"note\": \"\\u0041\"".into());
        format!("{{{}\n}}", fields.join(" ,"))
    };
    let payloads = || async {
        let rows = app.quarantined().await;
        rows.into_iter().map(|q| q.payload).collect::<Vec<_>>()
    };
    let invalid = under_age();
    let (valid, invalid_text) = (form(), text(&invalid));
    let body = format!("{{ \"forms\" : [ {} ,\n {invalid_text} ] }}", text(&valid));
    let (s, r) = device.push_raw("application/json", body).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["results"][0]["outcome"], "accepted");
    assert_eq!(r["results"][1]["outcome"], "invalid");
    assert_eq!(payloads().await, std::slice::from_ref(&invalid_text));

    // With a malformed form beside it, each form is read alone: same outcome, same payload.
    let again = under_age();
    let again_text = text(&again);
    let malformed = r#"{"id": "not-a-uuid", "answers": 5}"#;
    let body = format!("{{\"forms\": [{again_text}, {malformed}]}}");
    let (s, r) = device
        .push_raw("application/json; charset=utf-8", body)
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["results"][0]["outcome"], "invalid");
    assert_eq!(r["results"][1]["errors"][0]["code"], "malformed");
    let mut want = [invalid_text, again_text, malformed.to_owned()];
    let mut got = payloads().await;
    want.sort();
    got.sort();
    assert_eq!(got, want);

    // Bodies that are not a push.
    for (content_type, body, status, code) in [
        ("application/json", "{\"forms\": [", 400, "malformed_json"),
        ("application/json", "{\"forms\": 3}", 422, "invalid_body"),
        ("application/json", "[]", 422, "invalid_body"),
        (
            "text/plain",
            "{\"forms\": []}",
            415,
            "unsupported_media_type",
        ),
    ] {
        let (s, r) = device.push_raw(content_type, body).await;
        assert_problem(s, &r, status, code);
    }
    // A byte that is not UTF-8 inside a form: the body is not JSON.
    let mut bytes = format!("{{\"forms\": [{}]}}", text(&form())).into_bytes();
    // Inside a string (the note's escaped `A`), where only a check of the bytes finds it.
    let at = bytes.windows(6).position(|w| w == b"\\u0041").unwrap();
    bytes[at] = 0xFF;
    let (s, r) = device.push_raw("application/json", bytes).await;
    assert_problem(s, &r, 400, "malformed_json");
    let (s, r) = device
        .push_raw("application/vnd.sipas+json", "{\"forms\": []}")
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(app.quarantine_count().await, 3);
    assert_eq!(app.form_count().await, 1);

    // The same invalid payload twice in one batch: one row, the same answer twice.
    let twice = under_age();
    let r = device.push(&[twice.clone(), twice]).await;
    assert_eq!(r.results[0].outcome, Outcome::Invalid);
    assert_eq!(r.results[1].outcome, Outcome::Invalid);
    assert_eq!(r.results[0].errors, r.results[1].errors);
    assert_eq!(app.quarantine_count().await, 4);
}

#[tokio::test]
async fn a_mixed_batch_gets_an_answer_per_form() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let dup = form();
    device.push(std::slice::from_ref(&dup)).await;
    let valid = form();
    let invalid = SipasForm::new()
        .answer("age", json!(12)) // under 18
        .answer("gender", json!("dragon"))
        .build();
    let forbidden = son_la_form();
    // A Sơn La commune under Lai Châu.
    let wrong_units = SipasForm::new().commune(son_la_commune()).build();
    let unknown_round = SipasForm::new().round("sipas-1999").build();
    let unknown_version = SipasForm::new().version(9).build();
    let malformed = json!({"id": Uuid::now_v7(), "round": "sipas-2025", "answers": "nope"});
    let mut batch = values(&[
        valid.clone(),
        invalid.clone(),
        forbidden.clone(),
        dup.clone(),
        wrong_units.clone(),
        unknown_round,
        unknown_version,
    ]);
    batch.push(malformed);
    let r = device.push_values(&batch).await;
    let outcomes: Vec<Outcome> = r.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Accepted,
            Outcome::Invalid,
            Outcome::Forbidden,
            Outcome::Duplicate,
            Outcome::Invalid,
            Outcome::UnknownRound,
            Outcome::UnknownQuestionnaire,
            Outcome::Invalid,
        ]
    );
    let codes: Vec<(&str, &str)> = r.results[1]
        .errors
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect();
    assert!(codes.contains(&("age", "constraint_failed")), "{codes:?}");
    assert!(codes.contains(&("gender", "unknown_option")), "{codes:?}");
    assert!(
        r.results[1]
            .errors
            .iter()
            .all(|e| !e.message.is_empty() && e.message_en.is_some())
    );
    assert_eq!(r.results[2].errors[0].code, "out_of_scope");
    assert_eq!(r.results[4].errors[0].field, "units.commune");
    assert_eq!(r.results[7].errors[0].code, "malformed");
    assert!(r.results[7].id.is_some());
    // Nothing lost: 2 stored, 6 quarantined with their reasons.
    assert_eq!(app.form_count().await, 2);
    assert_eq!(app.quarantine_count().await, 6);
    let q = app.quarantined().await;
    let mut reasons: Vec<&str> = q.iter().map(|q| q.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "forbidden",
            "invalid",
            "invalid",
            "invalid",
            "unknown_questionnaire",
            "unknown_round"
        ]
    );
    assert!(q.iter().all(|q| !q.payload.is_empty()));
    // Status reports quarantined forms with their reason.
    let st = device
        .status(vec![query_id(invalid.id), query_id(forbidden.id)])
        .await;
    assert_eq!(st.forms[0].state, FormState::Quarantined);
    assert_eq!(st.forms[0].reason.as_deref(), Some("invalid"));
    assert_eq!(st.forms[1].reason.as_deref(), Some("forbidden"));
}

#[tokio::test]
async fn older_open_versions_are_accepted_and_closed_ones_refused() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let admin = app.admin_token().await;
    let v2 = sipas_version(2, Some("SIPAS phiên bản 2"));
    let (s, _) = app.publish(&admin, &v2).await;
    assert_eq!(s, 201);
    // v1 is older but still open.
    let r = device.push(&[form()]).await;
    assert_eq!(r.results[0].outcome, Outcome::Accepted);
    let on_v2 = SipasForm::new().version(2).build();
    let r = device.push(&[on_v2]).await;
    assert_eq!(r.results[0].outcome, Outcome::Accepted);
    // Close v1: new v1 forms are refused with a clear code, and kept.
    let (s, body) = app
        .post_as(
            &admin,
            "/api/v1/questionnaires/sipas/versions/1/close",
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "closed");
    let (s, _) = app
        .post_as(
            &token,
            "/api/v1/questionnaires/sipas/versions/1/close",
            &json!({}),
        )
        .await;
    assert_eq!(s, 403);
    let late = form();
    let r = device.push(std::slice::from_ref(&late)).await;
    assert_eq!(r.results[0].outcome, Outcome::QuestionnaireClosed);
    assert_eq!(app.form_count().await, 2);
    assert_eq!(app.quarantine_count().await, 1);
}

/// A payload kept in quarantine is answered its first outcome when sent again (no second row),
/// until it can be accepted: a form filled on a version published only later is accepted on
/// the resend after publication, stored once, and a duplicate after that. The batch it travels
/// in does not matter: alone, or beside an invalid form.
#[tokio::test]
async fn a_quarantined_payload_is_accepted_once_it_can_be() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let admin = app.admin_token().await;
    let on_v2 = || SipasForm::new().version(2).build();
    let (early, early_too) = (on_v2(), on_v2());
    let invalid = under_age();
    let r = device.push(&[early.clone(), early_too.clone()]).await;
    assert!(
        r.results
            .iter()
            .all(|r| r.outcome == Outcome::UnknownQuestionnaire)
    );
    let r = device.push(&[early.clone(), invalid.clone()]).await;
    assert_eq!(r.results[0].outcome, Outcome::UnknownQuestionnaire);
    assert_eq!(r.results[0].errors[0].code, "unknown_questionnaire");
    assert_eq!(r.results[1].outcome, Outcome::Invalid);
    assert_eq!(app.quarantine_count().await, 3);

    let (s, _) = app.publish(&admin, &sipas_version(2, None)).await;
    assert_eq!(s, 201);
    // Alone in its push, and beside a payload that stays invalid.
    let r = device.push(std::slice::from_ref(&early)).await;
    assert_eq!(r.results[0].outcome, Outcome::Accepted, "{r:?}");
    let r = device.push(&[invalid.clone(), early_too.clone()]).await;
    assert_eq!(r.results[0].outcome, Outcome::Invalid);
    assert!(r.results[0].errors.iter().any(|e| e.field == "age"));
    assert_eq!(r.results[1].outcome, Outcome::Accepted, "{r:?}");
    let early_id = early.id;
    let r = device.push(&[early, early_too, invalid]).await;
    let outcomes: Vec<Outcome> = r.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Duplicate, Outcome::Duplicate, Outcome::Invalid]
    );
    assert_eq!(app.form_count().await, 2);
    assert_eq!(app.quarantine_count().await, 3);
    // Status reports the stored form, not its old quarantine row.
    let st = device.status(vec![query_id(early_id)]).await;
    assert_eq!(st.forms[0].state, FormState::Accepted, "{st:?}");
}

/// A payload is filed once, under its first sender; another enumerator pushing the very same
/// payload (a tablet handed over with its outbox) is told that row's outcome, and status shows
/// it the row when it names the payload's content hash, as it does after a lost answer. A stored
/// form stays hidden from an enumerator who did not send it.
#[tokio::test]
async fn status_shows_a_payload_filed_under_another_sender_to_a_device_holding_it() {
    let (app, first) = spawn_app_with_enumerator().await;
    let admin = app.admin_token().await;
    let second = app.lai_chau_enumerator("dtv.laichau2", "device-lc-2").await;
    let invalid = under_age();
    let hash = invalid.content_hash();
    let mut other = invalid.clone();
    other.answers.insert("age".into(), json!(13));

    for token in [&first, &second] {
        let r = app.sync(token).push(std::slice::from_ref(&invalid)).await;
        assert_eq!(r.results[0].outcome, Outcome::Invalid, "{r:?}");
        assert!(r.results[0].errors.iter().any(|e| e.field == "age"));
    }
    assert_eq!(app.quarantine_count().await, 1);

    let status = |token: &str, query: StatusQuery| {
        let device = app.sync(token);
        async move { device.status(vec![query]).await.forms.remove(0) }
    };
    let named = query_of(&invalid);
    for token in [&first, &second] {
        let s = status(token, named.clone()).await;
        assert_eq!(s.state, FormState::Quarantined, "{s:?}");
        assert_eq!(s.same_content, Some(true), "{s:?}");
        assert_eq!(s.reason.as_deref(), Some("invalid"), "{s:?}");
    }
    // The sender sees its row whatever it asks; another device only with the payload's hash.
    let bare = query_id(invalid.id);
    assert_eq!(
        status(&first, bare.clone()).await.state,
        FormState::Quarantined
    );
    assert_eq!(status(&second, bare).await.state, FormState::Missing);
    let guessed = StatusQuery {
        id: invalid.id,
        content_hash: Some(other.content_hash()),
    };
    assert_eq!(
        status(&second, guessed.clone()).await.state,
        FormState::Missing
    );
    let s = status(&first, guessed).await;
    assert_eq!(
        (s.state, s.same_content),
        (FormState::Quarantined, Some(false))
    );

    // Of two payloads under one id, the one a device names is the one it is told about.
    let r = app.sync(&first).push(std::slice::from_ref(&other)).await;
    assert_eq!(r.results[0].outcome, Outcome::Invalid, "{r:?}");
    assert_eq!(app.quarantine_count().await, 2);
    let s = status(&second, named.clone()).await;
    assert_eq!(s.same_content, Some(true), "{s:?}");
    let s = status(&first, named).await;
    assert_eq!(
        (s.content_hash.as_deref(), s.same_content),
        (Some(hash.as_str()), Some(true))
    );

    // A stored form: read by its sender and the ministry; missing to another enumerator, whatever
    // it names.
    let valid = form();
    let r = app.sync(&first).push(std::slice::from_ref(&valid)).await;
    assert_eq!(r.results[0].outcome, Outcome::Accepted, "{r:?}");
    let asked = query_of(&valid);
    for (token, state) in [
        (&first, FormState::Accepted),
        (&admin, FormState::Accepted),
        (&second, FormState::Missing),
    ] {
        assert_eq!(status(token, asked.clone()).await.state, state);
    }
}

#[tokio::test]
async fn pull_delivers_changes_in_order_with_cursors() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let first = device.pull("").await;
    let kinds: Vec<_> = first.changes.iter().map(|c| c.kind).collect();
    assert!(
        kinds.contains(&ChangeKind::QuestionnairePublished),
        "{kinds:?}"
    );
    assert!(kinds.contains(&ChangeKind::RoundChanged));
    assert!(first.changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(!first.more);
    // Nothing new since.
    let after_first = format!("cursor={}", first.cursor);
    let since = device.pull(&after_first).await;
    assert_eq!(since.changes.len(), 0);
    assert_eq!(since.cursor, first.cursor);
    // Publishing a version shows up after the cursor.
    let admin = app.admin_token().await;
    app.publish(&admin, &sipas_version(2, Some("SIPAS phiên bản 2")))
        .await;
    let since = device.pull(&after_first).await;
    assert_eq!(since.changes.len(), 1, "{since:?}");
    assert_eq!(since.changes[0].kind, ChangeKind::QuestionnairePublished);
    assert_eq!(since.changes[0].payload["version"], 2);
    // Paging.
    let page = device.pull("limit=1").await;
    assert_eq!(page.changes.len(), 1);
    assert!(page.more);
    // Invalid and future cursors: resync from scratch.
    for bad in ["garbage", "c1.999999"] {
        let (s, body) = device.pull_raw(&format!("cursor={bad}")).await;
        assert_problem(s, &body, 410, "cursor_invalid");
    }
}

#[tokio::test]
async fn a_gzip_push_is_accepted() {
    use std::io::Write;
    let (app, token) = spawn_app_with_enumerator().await;
    let forms = values(&[form(), form()]);
    let raw = serde_json::to_vec(&json!({ "forms": forms })).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw).unwrap();
    let gz = enc.finish().unwrap();
    let resp = app
        .sync(&token)
        .request(Method::POST, PUSH)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .await
        .unwrap();
    let (s, body) = e2e::read(resp).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["results"][0]["outcome"], "accepted");
    assert_eq!(body["results"][1]["outcome"], "accepted");
}

#[tokio::test]
async fn a_province_reviewer_cannot_push_and_devices_lists_the_silent_ones() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let admin = app.admin_token().await;
    app.create_reviewer(&admin, "sonv.laichau", "vn-2025", "12")
        .await;
    let reviewer = app.user_token("sonv.laichau").await;
    let (s, body) = app
        .sync(&reviewer)
        .call(
            Method::POST,
            PUSH,
            Some(&json!({"forms": values(&[form()])})),
        )
        .await;
    assert_problem(s, &body, 403, "forbidden");
    // A device that logged in but never synced is listed as silent; after a push it is not.
    let silent = app.devices(&admin, "?not_synced_for_days=3").await;
    assert_eq!(silent.len(), 1, "{silent:?}");
    device.push(&[form()]).await;
    let hs = device
        .handshake(&handshake_of("device-lc-1", "2.3.0"))
        .await;
    assert_eq!(hs.protocol_version, 1);
    let silent = app.devices(&admin, "?not_synced_for_days=3").await;
    assert_eq!(silent.len(), 0, "{silent:?}");
    let silent = app.devices(&admin, "?not_synced_for_days=0").await;
    assert_eq!(silent.len(), 1, "{silent:?}");
}

#[tokio::test]
async fn two_servers_on_one_database_store_each_form_once() {
    let (app, token) = spawn_app_with_enumerator().await;
    // A second, independent server (own pool, own process state) on the same database.
    let mut settings = app.settings.clone();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    let other = sipas_server::Application::build(settings).await.unwrap();
    let other_url = format!("http://127.0.0.1:{}", other.port());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(other.run_until(async move {
        let _ = stop_rx.await;
    }));
    // Every tenth form invalid: each such payload is quarantined once, whichever server
    // files it first.
    let forms: Vec<FormSubmission> = (0..200)
        .map(|i| if i % 10 == 3 { under_age() } else { form() })
        .collect();
    let servers = [
        app.sync(&token),
        SyncClient::new(app.client.clone(), &other_url, &token),
    ];
    let mut tasks = Vec::new();
    for round in 0..4 {
        for (i, chunk) in forms.chunks(50).enumerate() {
            let device = servers[(i + round) % 2].clone();
            let chunk = values(chunk);
            tasks.push(tokio::spawn(
                async move { device.push_values(&chunk).await },
            ));
        }
    }
    let (mut accepted, mut invalid) = (0, 0);
    for t in tasks {
        for r in t.await.unwrap().results {
            match r.outcome {
                Outcome::Accepted => accepted += 1,
                Outcome::Duplicate => {}
                Outcome::Invalid => invalid += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(
        accepted, 180,
        "each form accepted exactly once across both servers"
    );
    assert_eq!(
        invalid, 80,
        "an invalid payload is answered invalid every time"
    );
    assert_eq!(app.form_count().await, 180);
    assert_eq!(app.quarantine_count().await, 20);
    let _ = stop_tx.send(());
    let _ = handle.await;
}

/// Pushes arriving together (on SQLite, written by the writer thread in one transaction when they
/// wait together) are each answered as if alone: a resend among them finds its forms held and
/// answers `duplicate` without costing the others theirs, every form is stored once, the device
/// is credited with every form sent, and the villages' index stats equal a recomputation from the
/// stored forms.
#[tokio::test]
async fn pushes_arriving_together_are_each_stored_once_and_counted() {
    let (app, token) = spawn_app_with_enumerator().await;
    let device = app.sync(&token);
    let forms: Vec<FormSubmission> = (0..240)
        .map(|i| SipasForm::new().village(format!("V{:02}", i / 30)).build())
        .collect();
    // One push first: the two resends of it below meet held ids.
    let first = device.push(&forms[..20]).await;
    assert!(first.results.iter().all(|r| r.outcome == Outcome::Accepted));
    let mut pushes: Vec<Vec<Value>> = forms[20..].chunks(20).map(values).collect();
    pushes.insert(3, values(&forms[..20]));
    pushes.push(values(&forms[..20]));
    let tasks: Vec<_> = pushes
        .into_iter()
        .map(|push| {
            let device = device.clone();
            tokio::spawn(async move { device.push_values(&push).await })
        })
        .collect();
    let (mut accepted, mut duplicates) = (0, 0);
    for t in tasks {
        for r in t.await.unwrap().results {
            match r.outcome {
                Outcome::Accepted => accepted += 1,
                Outcome::Duplicate => duplicates += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!((accepted, duplicates), (220, 40));
    assert_eq!(app.form_count().await, 240);
    assert_eq!(app.quarantine_count().await, 0);
    let device = app.device_row("device-lc-1").await;
    assert_eq!((device.forms_pushed, device.forms_accepted), (280, 240));
    let villages = app.stats_match(&forms[0].round).await;
    assert_eq!(villages.len(), 8, "{villages:?}");
    assert!(villages.iter().all(|(_, n)| *n == 30), "{villages:?}");
}

/// Every form of a push is answered, stored and quarantined on its own: a push on a version not
/// in memory yet, a mixed batch of 65 forms (a duplicate and a conflict of forms earlier in the
/// batch, unknown versions and rounds, out of scope, invalid), a batch with a malformed form near
/// its start and one with a malformed form near its end, and a resend of the mixed batch.
#[tokio::test]
async fn every_form_of_a_mixed_push_is_answered_on_its_own() {
    let mut forms: Vec<FormSubmission> = (0..65)
        .map(|i| SipasForm::new().village(format!("V{:02}", i / 30)).build())
        .collect();
    forms[5].answers.insert("age".into(), json!(12));
    forms[13] = son_la_form();
    forms[21].units.commune = son_la_commune();
    forms[29].round = "sipas-1999".into();
    forms[37].questionnaire_version = 9;
    forms[45] = forms[0].clone();
    forms[53] = forms[2].clone();
    forms[53].answers.insert("age".into(), json!(61));
    forms[60].questionnaire_version = 2;
    let malformed = || json!({"id": Uuid::now_v7(), "round": "sipas-2025", "answers": "nope"});
    let batch = |at: usize| {
        let mut b = values(&(0..40).map(|_| form()).collect::<Vec<_>>());
        b[at] = malformed();
        b
    };
    // The first push: no version in memory yet.
    let cold = values(&(0..40).map(|_| form()).collect::<Vec<_>>());
    let pushes = [cold, values(&forms), batch(3), batch(33), values(&forms)];

    let mut answers = Vec::new();
    {
        let (app, token) = spawn_app_with_enumerator().await;
        let device = app.sync(&token);
        let mut outcomes = Vec::new();
        for body in &pushes {
            let r = device.push_values(body).await;
            assert_eq!(r.results.len(), body.len());
            outcomes.push(
                r.results
                    .iter()
                    .map(|r| {
                        let errors: Vec<(String, String)> = r
                            .errors
                            .iter()
                            .map(|e| (e.field.clone(), e.code.clone()))
                            .collect();
                        (r.id, r.outcome, errors, r.content_hash.clone())
                    })
                    .collect::<Vec<_>>(),
            );
        }
        let stored = (app.form_count().await, app.quarantine_count().await);
        let villages = app.stats_match(&forms[0].round).await;
        answers.push((outcomes, stored, villages));
    }
    let (outcomes, stored, villages) = &answers[0];

    assert!(outcomes[0].iter().all(|o| o.1 == Outcome::Accepted));
    let mixed: Vec<Outcome> = outcomes[1].iter().map(|o| o.1).collect();
    let odd = |i: usize| match i {
        5 | 21 => Outcome::Invalid,
        13 => Outcome::Forbidden,
        29 => Outcome::UnknownRound,
        37 | 60 => Outcome::UnknownQuestionnaire,
        45 => Outcome::Duplicate,
        53 => Outcome::Conflict,
        _ => Outcome::Accepted,
    };
    assert_eq!(mixed, (0..65).map(odd).collect::<Vec<_>>());
    assert_eq!(
        outcomes[1][13].2,
        [("units.commune".into(), "out_of_scope".into())]
    );
    for (push, at) in [(2, 3), (3, 33)] {
        assert_eq!(outcomes[push][at].2[0].1, "malformed");
        let accepted = outcomes[push].iter().filter(|o| o.1 == Outcome::Accepted);
        assert_eq!(accepted.count(), 39);
    }
    // The resend: accepted forms are duplicates now, the others their first outcome again.
    let again: Vec<Outcome> = outcomes[4].iter().map(|o| o.1).collect();
    let resent = |i: usize| match odd(i) {
        Outcome::Accepted | Outcome::Duplicate => Outcome::Duplicate,
        other => other,
    };
    assert_eq!(again, (0..65).map(resent).collect::<Vec<_>>());
    // 40 + 57 + 39 + 39 forms; 7 payloads of the mixed push and the 2 malformed ones
    // quarantined once each.
    assert_eq!(*stored, (175, 9));
    assert_eq!(villages.len(), 3, "{villages:?}");
}

/// Two pushes (of two servers, say) filing the same invalid payload at the same moment: neither
/// finds the other's row before it inserts its own, and the database's unique index on the
/// payload (id and content hash) keeps one. Played here with a transaction that files the
/// payload and stays open while the push runs: the push waits for it, meets the index, looks
/// again, and answers the row that was filed first.
#[tokio::test]
async fn a_payload_filed_meanwhile_elsewhere_is_not_filed_twice() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, TransactionTrait};
    let (app, token) = spawn_app_with_enumerator().await;
    let f = under_age();
    let elsewhere = json!([{"field": "age", "code": "filed_elsewhere", "message": "x"}]);
    let txn = app.state.db.begin().await.unwrap();
    sipas_server::entities::quarantined_form::ActiveModel {
        round_code: Set(Some(f.round.clone())),
        errors: Set(elsewhere.to_string()),
        payload: Set(serde_json::to_string(&f).unwrap()),
        ..quarantine_row(f.id, Some(&f.content_hash()), "device-elsewhere")
    }
    .insert(&txn)
    .await
    .unwrap();
    let (device, forms) = (app.sync(&token), values(std::slice::from_ref(&f)));
    let pushed = tokio::spawn(async move { device.push_values(&forms).await });
    // The push waits for the open transaction (the index entry on PostgreSQL, the write lock on
    // SQLite) rather than answering before it ends.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !pushed.is_finished(),
        "the push waited for the other filing"
    );
    txn.commit().await.unwrap();
    let r = pushed.await.unwrap();
    assert_eq!(r.results[0].outcome, Outcome::Invalid);
    assert_eq!(r.results[0].errors[0].code, "filed_elsewhere", "{r:?}");
    assert_eq!(
        app.state.push_races.count(),
        1,
        "the push met the index once"
    );
    assert_eq!(app.quarantine_count().await, 1);
    assert_eq!(app.form_count().await, 0);
}

/// The migration that makes a payload's quarantine row unique keeps the first of the rows a
/// payload was filed in before it (the others are copies with the same id and content), leaves
/// payloads without a content hash (malformed) alone, refuses a second row afterwards, and can be
/// rolled back.
#[tokio::test]
async fn the_payload_index_migration_keeps_each_payloads_first_row() {
    use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder};
    use sea_orm_migration::MigratorTrait;
    use sipas_server::{entities::quarantined_form as q, migration::Migrator};
    let (_db, url) = e2e::TestDb::create().await;
    let db = sea_orm::Database::connect(&url).await.unwrap();
    // The migrations before this one (later ones may follow it).
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261201_000001_create_quarantined_payload_index")
        .expect("the payload index migration");
    Migrator::up(&db, Some(before as u32)).await.unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    for r in [
        quarantine_row(a, Some("h1"), "first"),
        quarantine_row(a, Some("h1"), "copy"),
        quarantine_row(a, Some("h2"), "conflict"),
        quarantine_row(b, Some("h1"), "other form"),
        quarantine_row(a, None, "malformed"),
        quarantine_row(a, None, "malformed again"),
        quarantine_row(a, Some("h1"), "copy again"),
    ] {
        r.insert(&db).await.unwrap();
    }
    let indexes = || async {
        let m = sea_orm_migration::SchemaManager::new(&db);
        let mut found = Vec::new();
        for name in [
            "idx_quarantined_forms_form_id",
            "idx_quarantined_forms_payload",
        ] {
            if m.has_index("quarantined_forms", name).await.unwrap() {
                found.push(name);
            }
        }
        found
    };
    assert_eq!(indexes().await, ["idx_quarantined_forms_form_id"]);
    Migrator::up(&db, Some(1)).await.unwrap();
    assert_eq!(indexes().await, ["idx_quarantined_forms_payload"]);
    let devices = || async {
        q::Entity::find()
            .order_by_asc(q::Column::Seq)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.device_id.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        devices().await,
        [
            "first",
            "conflict",
            "other form",
            "malformed",
            "malformed again"
        ]
    );
    let again = quarantine_row(a, Some("h1"), "later").insert(&db).await;
    assert!(
        matches!(
            again.as_ref().map_err(|e| e.sql_err()),
            Err(Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
        ),
        "{again:?}"
    );
    // Back to before the payload index: only it was applied after `before`, so one step, however
    // many migrations follow it in the list.
    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(indexes().await, ["idx_quarantined_forms_form_id"]);
    quarantine_row(a, Some("h1"), "before the index")
        .insert(&db)
        .await
        .unwrap();
    assert_eq!(devices().await.len(), 6);
    db.close().await.unwrap();
}

/// A quarantine row as another push would have filed it: payload `id` with content `hash`, found
/// invalid, from `device`.
fn quarantine_row(
    id: Uuid,
    hash: Option<&str>,
    device: &str,
) -> sipas_server::entities::quarantined_form::ActiveModel {
    use sea_orm::ActiveValue::Set;
    sipas_server::entities::quarantined_form::ActiveModel {
        form_id: Set(Some(id)),
        round_code: Set(None),
        reason: Set("invalid".into()),
        content_hash: Set(hash.map(str::to_owned)),
        errors: Set("[]".into()),
        payload: Set("{}".into()),
        device_id: Set(Some(device.into())),
        submitted_by: Set(None),
        received_at: Set(sea_orm::prelude::TimeDateTimeWithTimeZone::now_utc()),
        ..Default::default()
    }
}
