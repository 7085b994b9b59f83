//! Exports for analysts: every column of a form round-trips through CSV and XLSX; scope per
//! role; filters; several questionnaire versions in one export; ETag and 304; the quarantine;
//! clients that go away mid-stream; and R reading the CSV with the generated labels.

use e2e::{
    TestApp, assert_problem,
    exports::{assert_answers, read_csv, read_xlsx, unzip, xlsx_sheets},
    spawn_app,
};
use serde_json::{Value, json};
use sync_protocol::{FormSubmission, Gps, sample::SipasForm};

const ROUND: &str = "sipas-2025";

fn path(query: &str) -> String {
    format!("/api/v1/rounds/{ROUND}/exports/forms{query}")
}

/// Free text that breaks naive CSV and XML writers.
const NASTY: &str =
    "Ý kiến: \"tốt\", nhưng chậm;\nxuống dòng\r\nvà <thẻ> & _x000D_ dấu phẩy, ngoặc \"kép\"";

/// An app with a Lai Châu enumerator and a few varied forms stored by them; returns the app,
/// the ministry token, the enumerator's id and the forms.
async fn app_with_forms() -> (TestApp, String, i64, Vec<FormSubmission>) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let enumerator = app
        .create_enumerator(&admin, "dtv.export", "vn-2025", "12", "LC-1")
        .await;
    let t = time::OffsetDateTime::from_unix_timestamp(1_763_900_000).unwrap();
    let mut forms = vec![
        SipasForm::new()
            .answer("comment", json!(NASTY))
            .village("Bản Nà Khương")
            .household("HH, \"số 1\"")
            .gps(Gps {
                lat: 22.396_123_4,
                lon: 103.458_765_1,
                accuracy_m: Some(4.5),
            })
            .started_at(t)
            .finished_at(t + time::Duration::minutes(23))
            .build(),
        SipasForm::new()
            .answers(schema::sample::sipas_answers_with_levels(&[3; 39]))
            .answer("comment", json!("Bình thường"))
            .build(),
        SipasForm::new()
            .commune(e2e::places::communes_in(geography::vn_2025(), "12")[1].clone())
            .build(),
    ];
    // A grid row answered "don't know" and one "not applicable".
    let mut answers = schema::sample::complete_sipas_answers();
    if let Some(Value::Object(p1)) = answers.get_mut("p1") {
        let keys: Vec<String> = p1.keys().cloned().collect();
        p1.insert(keys[0].clone(), json!("dont_know"));
        p1.insert(keys[1].clone(), json!("not_applicable"));
    }
    forms.push(SipasForm::new().answers(answers).build());
    for f in &forms {
        app.insert_form(f.clone(), Some(enumerator)).await;
    }
    (app, admin, enumerator, forms)
}

fn check_table(table: &e2e::exports::Table, forms: &[FormSubmission], what: &str) {
    let q = schema::builtin::sipas();
    assert_eq!(table.rows.len(), forms.len(), "{what}: rows");
    let geo = geography::vn_2025();
    for f in forms {
        let id = f.id.to_string();
        let row = table.row_of(&id);
        assert_eq!(table.cell(row, "household_ref"), f.household_ref, "{what}");
        assert_eq!(table.cell(row, "village"), f.units.village, "{what}");
        assert_eq!(table.cell(row, "province_code"), "12", "{what}");
        assert_eq!(
            table.cell(row, "province_name"),
            geo.unit("12").unwrap().name,
            "{what}"
        );
        assert_eq!(table.cell(row, "commune_code"), f.units.commune, "{what}");
        assert_eq!(
            table.cell(row, "commune_name"),
            geo.unit(&f.units.commune).unwrap().name,
            "{what}"
        );
        assert_eq!(table.cell(row, "district_code"), "", "{what}");
        assert_eq!(table.cell(row, "revision"), "1", "{what}");
        assert_eq!(table.cell(row, "round"), ROUND, "{what}");
        assert_eq!(table.cell(row, "questionnaire_version"), "1", "{what}");
        assert_eq!(table.cell(row, "status"), "accepted", "{what}");
        assert_eq!(table.cell(row, "enumerator"), "dtv.export", "{what}");
        assert_eq!(table.cell(row, "content_hash"), f.content_hash(), "{what}");
        let fmt = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        assert_eq!(
            table.cell(row, "started_at"),
            f.started_at.map(fmt).unwrap_or_default(),
            "{what}"
        );
        assert_eq!(
            table.cell(row, "finished_at"),
            f.finished_at.map(fmt).unwrap_or_default(),
            "{what}"
        );
        assert!(
            time::OffsetDateTime::parse(
                table.cell(row, "received_at"),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok(),
            "{what}"
        );
        match f.gps {
            Some(g) => {
                assert_eq!(
                    table.cell(row, "gps_lat").parse::<f64>().unwrap(),
                    g.lat,
                    "{what}"
                );
                assert_eq!(
                    table.cell(row, "gps_lon").parse::<f64>().unwrap(),
                    g.lon,
                    "{what}"
                );
            }
            None => assert_eq!(table.cell(row, "gps_lat"), "", "{what}"),
        }
        let valid = schema::validate(q, &f.answers).unwrap();
        assert_answers(
            table,
            row,
            q,
            &valid.to_json(),
            &format!("{what} form {id}"),
        );
    }
}

#[tokio::test]
async fn every_column_round_trips_through_csv_xlsx_and_jsonl() {
    let (app, admin, _, forms) = app_with_forms().await;
    let csv = app.export_csv(&admin, &path("?format=csv")).await;
    check_table(&csv, &forms, "csv");
    assert_eq!(
        csv.cell(csv.row_of(&forms[0].id.to_string()), "comment"),
        NASTY
    );

    let x = app.export(&admin, &path("?format=xlsx"), &[]).await;
    assert_eq!(x.status, 200);
    assert_eq!(
        x.header("content-type").unwrap(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(xlsx_sheets(&x.body), ["forms", "codebook", "about"]);
    let sheet = read_xlsx(&x.body, "forms");
    assert_eq!(sheet.header, csv.header, "one layout in both formats");
    check_table(&sheet, &forms, "xlsx");
    let codebook = read_xlsx(&x.body, "codebook");
    let labels: Vec<&[String]> = codebook
        .rows
        .iter()
        .filter(|r| r[0] == "gender" && !r[6].is_empty())
        .map(Vec::as_slice)
        .collect();
    let gender = schema::builtin::sipas().question("gender").unwrap();
    assert_eq!(labels.len(), gender.kind.options().len());
    assert_eq!(labels[0][7], gender.kind.options()[0].label.vi);
    let about = read_xlsx(&x.body, "about");
    let hash = schema::builtin::sipas().content_hash();
    assert!(about.rows.iter().any(|r| r[1] == hash), "{:?}", about.rows);
    assert!(
        about
            .rows
            .iter()
            .any(|r| r[0] == "forms" && r[1] == forms.len().to_string())
    );

    let j = app.export(&admin, &path("?format=jsonl"), &[]).await;
    assert_eq!(j.status, 200);
    let lines: Vec<Value> = String::from_utf8(j.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), forms.len());
    let first = lines
        .iter()
        .find(|l| l["form_id"] == forms[0].id.to_string())
        .unwrap();
    assert_eq!(first["comment"], NASTY);
    assert_eq!(first.as_object().unwrap().len(), csv.header.len());

    // The zip: the same CSV, the codebook, the description and the scripts.
    let z = app.export(&admin, &path("?format=zip"), &[]).await;
    let files = unzip(&z.body);
    for name in [
        "forms.csv",
        "codebook.csv",
        "about.json",
        "forms.do",
        "forms.sps",
        "forms.R",
    ] {
        assert!(files.contains_key(name), "{name} in the zip");
    }
    check_table(&read_csv(&files["forms.csv"]), &forms, "zip csv");
    let about: Value = serde_json::from_slice(&files["about.json"]).unwrap();
    assert_eq!(about["questionnaires"][0]["content_hash"], hash);
    assert_eq!(about["forms"], forms.len());
}

#[tokio::test]
async fn the_export_is_scoped_to_the_caller() {
    let (app, admin, _, forms) = app_with_forms().await;
    app.create_reviewer(&admin, "snv.laichau", "vn-2025", "12")
        .await;
    app.create_reviewer(&admin, "snv.sonla", "vn-2025", "14")
        .await;
    app.create_supervisor(&admin, "gs.other", "vn-2025", "12", "LC-9")
        .await;
    let lai_chau = app.user_token("snv.laichau").await;
    assert_eq!(
        app.export_csv(&lai_chau, &path("")).await.rows.len(),
        forms.len()
    );
    let son_la = app.user_token("snv.sonla").await;
    assert_eq!(app.export_csv(&son_la, &path("")).await.rows.len(), 0);
    // A supervisor of another team sees none of team LC-1's forms.
    let other_team = app.user_token("gs.other").await;
    assert_eq!(app.export_csv(&other_team, &path("")).await.rows.len(), 0);
    // Son La's reviewer may not ask for Lai Chau.
    let e = app.export(&son_la, &path("?unit=12"), &[]).await;
    assert_eq!(e.status, 403);
    // Enumerators export nothing, not even their own forms.
    let enumerator = app.user_token("dtv.export").await;
    let e = app.export(&enumerator, &path(""), &[]).await;
    assert_eq!(e.status, 403);
    let body: Value = serde_json::from_slice(&e.body).unwrap();
    assert_eq!(body["code"], "forbidden");
    // Nor the quarantine, which is the ministry's.
    let e = app
        .export(&lai_chau, "/api/v1/exports/quarantine", &[])
        .await;
    assert_eq!(e.status, 403);
    // No token: 401.
    let r = app.client.get(app.url(&path(""))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn filters_unit_status_and_since() {
    let (app, admin, _, forms) = app_with_forms().await;
    let second_commune = forms[2].units.commune.clone();
    let t = app
        .export_csv(&admin, &path(&format!("?unit={second_commune}")))
        .await;
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.cell(&t.rows[0], "form_id"), forms[2].id.to_string());
    app.change_status(forms[1].id, "rejected").await;
    let t = app.export_csv(&admin, &path("?status=rejected")).await;
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.cell(&t.rows[0], "status"), "rejected");
    // An incremental pull: nothing changed after the next-since of a fresh export (minus its
    // overlap), then the form changed since.
    let e = app.export(&admin, &path(""), &[]).await;
    let next = e.header("sipas-export-next-since").expect("next since");
    assert!(
        time::OffsetDateTime::parse(&next, &time::format_description::well_known::Rfc3339).is_ok()
    );
    let future = "2999-01-01T00:00:00Z";
    assert_eq!(
        app.export_csv(&admin, &path(&format!("?since={future}")))
            .await
            .rows
            .len(),
        0
    );
    let before = (time::OffsetDateTime::now_utc() - time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.change_status(forms[3].id, "rejected").await;
    let changed = app
        .export_csv(
            &admin,
            &path(&format!("?since={}", e2e::query_escape(&before))),
        )
        .await;
    let ids: Vec<&str> = changed
        .rows
        .iter()
        .map(|r| changed.cell(r, "form_id"))
        .collect();
    assert!(ids.contains(&forms[3].id.to_string().as_str()), "{ids:?}");
    // Bad filters are told apart.
    let e = app.export(&admin, &path("?since=yesterday"), &[]).await;
    assert_eq!(e.status, 400);
    let e = app.export(&admin, &path("?format=pdf"), &[]).await;
    assert_eq!(e.status, 400);
    let e = app.export(&admin, &path("?lang=fr"), &[]).await;
    assert_eq!(e.status, 400);
    let e = app.export(&admin, &path("?unit=99999"), &[]).await;
    assert_eq!(e.status, 404);
    let e = app
        .export(&admin, "/api/v1/rounds/nope/exports/forms", &[])
        .await;
    assert_eq!(e.status, 404);
}

#[tokio::test]
async fn an_unchanged_export_is_not_sent_twice() {
    let (app, admin, _, forms) = app_with_forms().await;
    let first = app.export(&admin, &path(""), &[]).await;
    let etag = first.header("etag").expect("etag");
    assert!(etag.starts_with("W/\""), "{etag}");
    let again = app
        .export(&admin, &path(""), &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    // Another format or filter is another export.
    let other = app
        .export(&admin, &path("?format=jsonl"), &[("if-none-match", &etag)])
        .await;
    assert_eq!(other.status, 200);
    // A change to a form is a new export.
    app.change_status(forms[0].id, "rejected").await;
    let changed = app
        .export(&admin, &path(""), &[("if-none-match", &etag)])
        .await;
    assert_eq!(changed.status, 200);
    let etag = changed.header("etag").unwrap();
    assert_ne!(
        etag,
        first.header("etag").unwrap(),
        "a review changes the export"
    );
    // A new form is a new export; so is the same caller with another scope.
    app.insert_form(SipasForm::new().household("HH-new").build(), None)
        .await;
    let grown = app
        .export(&admin, &path(""), &[("if-none-match", &etag)])
        .await;
    assert_eq!(grown.status, 200, "a stored form changes the export");
    assert_eq!(read_csv(&grown.body).rows.len(), forms.len() + 1);
    let etag = grown.header("etag").unwrap();
    let again = app
        .export(&admin, &path(""), &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, 304);
}

#[tokio::test]
async fn forms_of_several_versions_share_one_table() {
    let (app, admin, enumerator, forms) = app_with_forms().await;
    // Version 2 adds a question after `gender` and an option to `gender`.
    let mut v2 = e2e::reports::sipas_version(2, Some("SIPAS v2"));
    let respondent = v2["sections"][0]["questions"].as_array_mut().unwrap();
    let mut phone = respondent[1].clone();
    phone["code"] = json!("phone_owner");
    phone["label"] = json!({"vi": "Có điện thoại riêng", "en": "Owns a phone"});
    respondent.insert(2, phone);
    let options = respondent[1]["kind"]["options"].as_array_mut().unwrap();
    options.push(json!({"code": "other", "label": {"vi": "Khác", "en": "Other"}}));
    let (s, body) = app.publish(&admin, &v2).await;
    assert!(s == 200 || s == 201, "{body}");
    let q2 = schema::Questionnaire::from_json(&v2.to_string()).unwrap();
    let other_option = q2.question("gender").unwrap().kind.options().len();
    let mut f = SipasForm::new().version(2).build();
    f.answers.insert(
        "phone_owner".into(),
        json!(q2.question("phone_owner").unwrap().kind.options()[0].code),
    );
    f.answers.insert("gender".into(), json!("other"));
    let by = sipas_server::forms::Sender {
        user: Some(enumerator),
        device: None,
    };
    sipas_server::forms::store_accepted(&app.state.db, &app.state.definitions, &f, by)
        .await
        .expect("store a v2 form");
    let t = app.export_csv(&admin, &path("")).await;
    assert_eq!(t.rows.len(), forms.len() + 1);
    assert!(t.col("gender") < t.col("phone_owner") && t.col("phone_owner") < t.col("ethnicity"));
    let row = t.row_of(&f.id.to_string());
    assert_eq!(t.cell(row, "questionnaire_version"), "2");
    assert_eq!(
        t.cell(row, "gender"),
        other_option.to_string(),
        "the new option's number"
    );
    assert_eq!(t.cell(row, "phone_owner"), "1");
    let old = t.row_of(&forms[0].id.to_string());
    assert_eq!(t.cell(old, "questionnaire_version"), "1");
    assert_eq!(t.cell(old, "phone_owner"), "", "a v1 form was not asked");
    // Version 1 rows still read as before.
    check_table(
        &e2e::exports::Table {
            header: t.header.clone(),
            rows: t
                .rows
                .iter()
                .filter(|r| r[t.col("questionnaire_version")] == "1")
                .cloned()
                .collect(),
        },
        &forms,
        "v1 rows of a two-version export",
    );
    // The codebook names both versions.
    let (s, cb) = app
        .get_as(
            &admin,
            &format!("/api/v1/rounds/{ROUND}/exports/forms/codebook?format=json"),
        )
        .await;
    assert_eq!(s, 200, "{cb}");
    let versions: Vec<i64> = cb["about"]["questionnaires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    let gender = cb["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "gender")
        .unwrap();
    assert_eq!(gender["values"].as_array().unwrap().len(), other_option);
}

#[tokio::test]
async fn the_quarantine_is_exported_with_each_reason() {
    let app = spawn_app().await;
    let token = app.lai_chau_enumerator("dtv.q", "device-q").await;
    let device = app.sync(&token);
    let bad = SipasForm::new().answer("age", json!(12)).build();
    device.push(std::slice::from_ref(&bad)).await;
    assert_eq!(app.quarantine_count().await, 1);
    let admin = app.admin_token().await;
    let t = app
        .export_csv(&admin, "/api/v1/exports/quarantine?format=csv")
        .await;
    assert_eq!(t.rows.len(), 1);
    let row = &t.rows[0];
    assert_eq!(t.cell(row, "form_id"), bad.id.to_string());
    assert_eq!(t.cell(row, "reason"), "invalid");
    assert!(
        t.cell(row, "errors").contains("age"),
        "{}",
        t.cell(row, "errors")
    );
    assert_eq!(t.cell(row, "sender"), "dtv.q");
    let payload: Value = serde_json::from_str(t.cell(row, "payload")).unwrap();
    assert_eq!(payload["id"], bad.id.to_string());
    let x = app
        .export(
            &admin,
            "/api/v1/exports/quarantine?format=xlsx&round=sipas-2025",
            &[],
        )
        .await;
    assert_eq!(read_xlsx(&x.body, "forms").rows.len(), 1);
}

#[tokio::test]
async fn exports_beyond_the_gate_are_told_to_come_back() {
    let app = e2e::spawn_app_with(|s| {
        s.export_concurrency = 1;
        s.export_queue = 0;
    })
    .await;
    let admin = app.admin_token().await;
    // 20,001 forms: a JSON Lines export of ~60 MB, far beyond what the sockets buffer, so an
    // export whose client stops reading keeps its turn.
    app.insert_form(SipasForm::new().build(), None).await;
    app.copy_forms(1, 20_000).await;
    let mut running = app
        .request(reqwest::Method::GET, &path("?format=jsonl"), Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(running.status().as_u16(), 200);
    assert!(
        !running
            .chunk()
            .await
            .unwrap()
            .expect("a first chunk")
            .is_empty()
    );
    // The one turn is taken: another export is answered 503 busy at once, with Retry-After.
    let busy = app
        .request(reqwest::Method::GET, &path(""), Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status().as_u16(), 503);
    assert!(busy.headers().contains_key("retry-after"));
    let (s, body) = e2e::read(busy).await;
    assert_problem(s, &body, 503, "busy");
    assert!(body["detail"].as_str().unwrap().contains("xuất"), "{body}");
    // The client goes away: its turn ends with the stream, and the next export runs whole.
    drop(running);
    let mut whole = None;
    for _ in 0..100 {
        let e = app.export(&admin, &path(""), &[]).await;
        if e.status == 200 {
            whole = Some(read_csv(&e.body));
            break;
        }
        assert_eq!(e.status, 503);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        whole.expect("an export after the first left").rows.len(),
        20_001
    );
}

#[tokio::test]
async fn clients_that_go_away_mid_stream_leave_the_server_healthy() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let enumerator = app
        .create_enumerator(&admin, "dtv.many", "vn-2025", "12", "LC-1")
        .await;
    // Enough rows that the JSON Lines export (~3 KB a form) outlasts the socket buffers.
    for _ in 0..1500 {
        app.insert_form(SipasForm::new().build(), Some(enumerator))
            .await;
    }
    // More abandoned exports than the pool has connections (5 in tests): a reader that kept
    // its connection after its client left would starve the last export.
    for _ in 0..8 {
        let mut resp = app
            .request(reqwest::Method::GET, &path("?format=jsonl"), Some(&admin))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let first = resp.chunk().await.unwrap().expect("a first chunk");
        assert!(!first.is_empty());
        drop(resp);
    }
    let (s, _) = app.get_json("/readyz").await;
    assert_eq!(s, 200);
    let t = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        app.export_csv(&admin, &path("")),
    )
    .await
    .expect("a full export after the abandoned ones");
    assert_eq!(t.rows.len(), 1500);
}

/// R (installed in CI by `scripts/install-r.sh`; `SIPAS_REQUIRE_R=1` makes its absence a
/// failure) reads the zip's CSV with the generated `forms.R` and writes back what it read; the
/// labels and values must be the export's.
#[tokio::test]
async fn r_reads_the_csv_with_the_generated_labels() {
    let have_r = std::process::Command::new("Rscript")
        .arg("--version")
        .output()
        .is_ok();
    if !have_r {
        if std::env::var("SIPAS_REQUIRE_R").is_ok_and(|v| v == "1") {
            panic!("SIPAS_REQUIRE_R=1 but Rscript is not available");
        }
        println!("skipped: Rscript not found");
        return;
    }
    let (app, admin, _, forms) = app_with_forms().await;
    for lang in ["vi", "en"] {
        let z = app
            .export(&admin, &path(&format!("?format=zip&lang={lang}")), &[])
            .await;
        assert_eq!(z.status, 200);
        let files = unzip(&z.body);
        let dir = std::env::temp_dir().join(format!("sipas-r-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let check = r#"
source("forms.R", encoding = "UTF-8")
out <- data.frame(
  form_id = forms$form_id,
  n = nrow(forms),
  gender = as.character(forms$gender),
  p1_first = as.character(forms[[grep("^p1_", names(forms))[1]]]),
  comment = forms$comment,
  commune_code = forms$commune_code,
  age = forms$age,
  gender_label = attr(forms$gender, "label"),
  stringsAsFactors = FALSE)
write.csv(out, "back.csv", row.names = FALSE, fileEncoding = "UTF-8", na = "")
"#;
        std::fs::write(dir.join("check.R"), check).unwrap();
        let run = std::process::Command::new("Rscript")
            .arg("check.R")
            .current_dir(&dir)
            .output()
            .expect("run Rscript");
        assert!(
            run.status.success(),
            "Rscript failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let back = read_csv(&std::fs::read(dir.join("back.csv")).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
        let q = schema::builtin::sipas();
        let gender = q.question("gender").unwrap();
        let p1 = q.question("p1").unwrap();
        let scale = q.scale_of(p1).unwrap();
        let pick = |l: &schema::Label| match (lang, &l.en) {
            ("en", Some(en)) => en.clone(),
            _ => l.vi.clone(),
        };
        assert_eq!(back.rows.len(), forms.len());
        for f in &forms {
            let row = back.row_of(&f.id.to_string());
            let g = f.answers["gender"].as_str().unwrap();
            let opt = gender.kind.options().iter().find(|o| o.code == g).unwrap();
            assert_eq!(back.cell(row, "gender"), pick(&opt.label), "{lang}");
            let schema::QuestionKind::Grid { items, .. } = &p1.kind else {
                panic!()
            };
            let want = match &f.answers["p1"][&items[0].code] {
                Value::Number(n) => pick(&scale.levels[n.as_u64().unwrap() as usize - 1]),
                Value::String(s) => pick(&scale.special[scale.special_index(s).unwrap()].label),
                other => panic!("{other}"),
            };
            assert_eq!(back.cell(row, "p1_first"), want, "{lang}");
            assert_eq!(
                back.cell(row, "commune_code"),
                f.units.commune,
                "leading zeros kept"
            );
            assert_eq!(back.cell(row, "age"), f.answers["age"].to_string());
            assert_eq!(back.cell(row, "gender_label"), pick(&gender.label));
            let comment = f
                .answers
                .get("comment")
                .and_then(Value::as_str)
                .unwrap_or("");
            // R's text connection reads CR LF inside a quoted field as LF.
            assert_eq!(
                back.cell(row, "comment").replace("\r\n", "\n"),
                comment.replace("\r\n", "\n"),
                "{lang}"
            );
        }
    }
}
