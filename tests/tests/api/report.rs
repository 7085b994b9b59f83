//! The provincial report and the targets and plans, end to end: forms pushed through the sync
//! protocol, the report read back as HTML (its tables parsed) and compared figure by figure with
//! `/indices`, `/perception`, `/expectations` and `/compare`; the DOCX opened by LibreOffice
//! (converted to PDF, its text read with `pdftotext`); targets met, not met and within the margin
//! on hand-computed data; plan CRUD with scope, progress notes and the CSV import (all or
//! nothing); the Sơn La 2023 plan as a fixture.

use std::collections::HashMap;

use e2e::{
    Place, TestApp, assert_problem,
    exports::unzip,
    figure,
    plans::{SON_LA, SON_LA_PLAN_TITLE, son_la_target, son_la_tasks},
    report, spawn_app, value,
};
use reqwest::Method;
use schema::{Answers, sample::sipas_answers_with_levels};
use serde_json::{Value, json};
use sync_protocol::FormSubmission;

const R23: &str = "sipas-2023";
const R25: &str = "sipas-2025";

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// A complete form whose 39 item levels vary with `i` and the item (so that items, groups and
/// villages differ), shifted up by `lift` levels (capped at 5).
fn varied(i: usize, lift: u8) -> Answers {
    let levels: Vec<u8> = (0..39)
        .map(|k| {
            let base = match (i * 7 + k * 3) % 6 {
                0 | 1 => 5,
                2 => 4,
                3 => 3,
                4 => 2,
                _ => 1,
            };
            (base + lift).min(5)
        })
        .collect();
    sipas_answers_with_levels(&levels)
}

fn forms(at: &Place, village: &str, n: usize, lift: u8, offset: usize) -> Vec<FormSubmission> {
    (0..n)
        .map(|i| {
            at.form()
                .village(village)
                .answers(varied(i + offset, lift))
                .build()
        })
        .collect()
}

/// 2023: Lai Châu and two provinces merged into 2025's Tuyên Quang; 2025: Lai Châu in two
/// communes, Tuyên Quang, and Hà Nội with 10 forms (below the minimum of 30).
async fn push_two_rounds(app: &TestApp, admin: &str) {
    let lc23 = Place::going_to("12", "12");
    let hg23 = Place::going_to("02", "08");
    let tq23 = Place::going_to("08", "08");
    let mut old = forms(&lc23, "Bản 1", 20, 0, 0);
    old.extend(forms(&lc23, "Bản 2", 20, 0, 5));
    old.extend(forms(&hg23, "Thôn 1", 20, 1, 1));
    old.extend(forms(&hg23, "Thôn 2", 20, 0, 2));
    old.extend(forms(&tq23, "Thôn 1", 25, 1, 3));
    let lc_a = Place::nth(R25, "12", 0);
    let lc_b = Place::nth(R25, "12", 1);
    let tq25 = Place::nth(R25, "08", 0);
    let hn25 = Place::nth(R25, "01", 0);
    let mut new = forms(&lc_a, "Bản 1", 20, 1, 0);
    new.extend(forms(&lc_a, "Bản 2", 20, 1, 4));
    new.extend(forms(&lc_b, "Bản 3", 25, 0, 2));
    new.extend(forms(&tq25, "Thôn A", 25, 0, 1));
    new.extend(forms(&tq25, "Thôn B", 25, 1, 3));
    new.extend(forms(&hn25, "Thôn X", 10, 1, 0));
    app.sync(admin).push_accepted(&old).await;
    app.sync(admin).push_accepted(&new).await;
}

// ---------------------------------------------------------------------------------------------
// Reading the HTML back
// ---------------------------------------------------------------------------------------------

/// Text without tags, entities decoded (the few the renderer writes).
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// The rows of the table `<table id="{id}">` (or the first with `data-question="{id}"`): by
/// `data-key`, the cells by `data-col`.
fn table(html: &str, id: &str) -> HashMap<String, HashMap<String, String>> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .or_else(|| html.find(&format!("data-question=\"{id}\"")))
        .unwrap_or_else(|| panic!("no table {id}"));
    let end = start + html[start..].find("</table>").expect("table end");
    let body = &html[start..end];
    let mut rows = HashMap::new();
    for tr in body.split("<tr").skip(1) {
        let Some(k) = tr.find("data-key=\"") else {
            continue;
        };
        let key_start = k + "data-key=\"".len();
        let key = &tr[key_start..key_start + tr[key_start..].find('"').unwrap()];
        let mut cells = HashMap::new();
        for td in tr.split("<td").skip(1) {
            let Some(c) = td.find("data-col=\"") else {
                continue;
            };
            let col_start = c + "data-col=\"".len();
            let col = &td[col_start..col_start + td[col_start..].find('"').unwrap()];
            let content_start = td.find('>').unwrap() + 1;
            let content_end = td.rfind("</td>").unwrap_or(td.len());
            cells.insert(col.to_owned(), text_of(&td[content_start..content_end]));
        }
        rows.insert(text_of(key), cells);
    }
    rows
}

/// A number as the report prints it in Vietnamese (comma decimal, arrow and sign allowed), or
/// `None` for `—`.
fn vi_number(cell: &str) -> Option<f64> {
    let s = cell.trim_start_matches(['▲', '▼', ' ']).trim();
    if s == "—" {
        return None;
    }
    assert!(
        s.contains(',') && !s.contains('.'),
        "not a Vietnamese number: {cell:?}"
    );
    Some(
        s.replace(',', ".")
            .parse()
            .unwrap_or_else(|_| panic!("{cell:?}")),
    )
}

/// The report prints `api` to two decimals.
fn assert_printed(cell: &str, api: Option<f64>, what: &str) {
    match (vi_number(cell), api) {
        (Some(got), Some(want)) => assert!(
            (got - want).abs() <= 0.005 + 1e-9,
            "{what}: printed {cell}, API {want}"
        ),
        (None, None) => {}
        (got, want) => panic!("{what}: printed {cell:?} ({got:?}), API {want:?}"),
    }
}

fn change<'a>(result: &'a Value, key: &str) -> &'a Value {
    result["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no change {key}"))
}

/// Competition ranks (highest first) on values rounded to two decimals, as published.
fn ranks_of(values: &[(String, Option<f64>)]) -> HashMap<String, u32> {
    let r = |v: f64| (v * 100.0).round() / 100.0;
    values
        .iter()
        .filter_map(|(code, v)| {
            let v = r((*v)?);
            let above = values
                .iter()
                .filter(|(_, o)| o.is_some_and(|o| r(o) > v))
                .count();
            Some((code.clone(), 1 + above as u32))
        })
        .collect()
}

/// Every figure key of a result of `/indices`, with its value.
fn keyed_values(result: &Value) -> Vec<(String, Option<f64>)> {
    let e = &result["estimates"];
    let mut out = Vec::new();
    for i in e["items"].as_array().unwrap() {
        out.push((
            format!("item/{}", i["address"].as_str().unwrap()),
            i["figure"]["value"].as_f64(),
        ));
    }
    for (kind, list) in [("group", "groups"), ("component", "components")] {
        for g in e[list].as_array().unwrap() {
            out.push((
                format!("{kind}/{}", g["code"].as_str().unwrap()),
                g["figure"]["value"].as_f64(),
            ));
        }
    }
    out.push((
        "overall/sipas".into(),
        e["overall"]["figure"]["value"].as_f64(),
    ));
    out
}

async fn get_html(app: &TestApp, token: &str, path: &str) -> (u16, String, String) {
    let resp = app
        .request(Method::GET, path, Some(token))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, resp.text().await.unwrap())
}

// ---------------------------------------------------------------------------------------------
// 1. The report's numbers are the API's
// ---------------------------------------------------------------------------------------------

/// Lai Châu 2025 against 2023: every figure of Part 2 (this year, its interval, last year, the
/// change, its significance, the rank among provinces and last year's rank), the headline, Part
/// 1 and Part 3 shares, the communes table and the sample, each parsed back from the HTML and
/// compared with the JSON API for the same round and unit.
#[tokio::test]
async fn the_provincial_report_shows_the_api_numbers() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    push_two_rounds(&app, &admin).await;
    let with = format!("with={R23}");

    let (status, ctype, html) = get_html(
        &app,
        &admin,
        &format!("/api/v1/rounds/{R25}/reports/12?{with}"),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(ctype, "text/html; charset=utf-8");
    // Self-contained: no script, nothing fetched.
    for banned in [
        "<script",
        "src=\"http",
        "href=\"http",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(banned), "the report holds {banned}");
    }
    assert!(html.contains("<svg id=\"chart-groups\""));
    assert!(html.contains("<svg id=\"chart-league\""));
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"vi\">"));
    // Kept as test output, to be looked at in a browser.
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-output/report")
        .join(e2e::backend_name());
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("lai-chau-2025.html"), &html).unwrap();

    let unit = app.get_ok(&admin, &report(R25, "indices", "unit=12")).await["results"][0].clone();
    let cmp = app
        .get_ok(&admin, &report(R25, "compare", &format!("{with}&unit=12")))
        .await["results"][0]
        .clone();
    let provinces = app
        .get_ok(&admin, &report(R25, "indices", "level=province"))
        .await;
    let prov_cmp = app
        .get_ok(
            &admin,
            &report(R25, "compare", &format!("{with}&level=province")),
        )
        .await;

    // Ranks of every figure among the provinces, this round and last, from the API's tables.
    let mut cur_by_key: HashMap<String, Vec<(String, Option<f64>)>> = HashMap::new();
    for r in provinces["results"].as_array().unwrap() {
        let code = r["unit"]["code"].as_str().unwrap().to_owned();
        for (k, v) in keyed_values(r) {
            cur_by_key.entry(k).or_default().push((code.clone(), v));
        }
    }
    let mut prev_by_key: HashMap<String, Vec<(String, Option<f64>)>> = HashMap::new();
    for r in prov_cmp["results"].as_array().unwrap() {
        let code = r["unit"]["code"].as_str().unwrap().to_owned();
        for c in r["changes"].as_array().unwrap() {
            prev_by_key
                .entry(c["key"].as_str().unwrap().to_owned())
                .or_default()
                .push((code.clone(), c["previous"].as_f64()));
        }
    }

    let rows = table(&html, "indices");
    let keys = keyed_values(&unit);
    assert_eq!(
        rows.len(),
        keys.len(),
        "one row per figure: {:?}",
        rows.keys()
    );
    let mut significant = 0;
    for (key, _) in &keys {
        let row = rows.get(key).unwrap_or_else(|| panic!("no row {key}"));
        let f = figure(&unit, key);
        assert_printed(
            &row["current"],
            f["value"].as_f64(),
            &format!("{key} current"),
        );
        let ci = &row["ci"];
        let (lo, hi) = ci
            .split_once(" – ")
            .unwrap_or_else(|| panic!("{key} ci {ci}"));
        assert_printed(lo, f["ci_low"].as_f64(), &format!("{key} ci_low"));
        assert_printed(hi, f["ci_high"].as_f64(), &format!("{key} ci_high"));
        let c = change(&cmp, key);
        assert_printed(
            &row["previous"],
            c["previous"].as_f64(),
            &format!("{key} previous"),
        );
        assert_printed(&row["change"], c["diff"].as_f64(), &format!("{key} change"));
        let sig = c["significant"].as_bool().unwrap();
        significant += usize::from(sig);
        assert_eq!(
            row["significant"],
            if sig { "Có" } else { "Không" },
            "{key}"
        );
        let rank = ranks_of(&cur_by_key[key]).get("12").copied();
        assert_eq!(row["rank"], rank.unwrap().to_string(), "{key} rank");
        let prev_rank = ranks_of(&prev_by_key[key]).get("12").copied();
        assert_eq!(
            row["previous_rank"],
            prev_rank.unwrap().to_string(),
            "{key} previous rank"
        );
    }
    assert!(significant < keys.len(), "some changes are not significant");

    // The headline: SIPAS, change, rank among the provinces and its change, as `/compare` ranks.
    let lc_rank = prov_cmp["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"]["code"] == "12")
        .unwrap()["rank"]
        .clone();
    let head = table(&html, "headline-table");
    assert_printed(
        &head["sipas"]["value"],
        figure(&unit, "overall/sipas")["value"].as_f64(),
        "headline",
    );
    assert_printed(
        &head["change"]["value"],
        change(&cmp, "overall/sipas")["diff"].as_f64(),
        "headline change",
    );
    // Three provinces with forms, Hà Nội withheld (10 forms) and so unranked.
    assert_eq!(provinces["results"].as_array().unwrap().len(), 3);
    let n_provinces = provinces["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["rank"].is_null())
        .count();
    assert_eq!(n_provinces, 2);
    assert_eq!(
        head["rank"]["value"],
        format!("{}/{n_provinces}", lc_rank["current"])
    );
    assert_eq!(
        head["previous_rank"]["value"],
        lc_rank["previous"].to_string()
    );
    assert_eq!(
        head["rank_change"]["value"],
        format!("{:+}", lc_rank["change"].as_i64().unwrap())
    );

    // Part 1: every option share of every perception criterion.
    let perception = app
        .get_ok(&admin, &report(R25, "perception", "unit=12"))
        .await;
    let mut checked = 0;
    for choice in perception["choices"].as_array().unwrap() {
        let q = choice["question"].as_str().unwrap();
        let rows = table(&html, q);
        for o in choice["options"].as_array().unwrap() {
            let key = format!("choice/{q}/{}", o["code"].as_str().unwrap());
            let row = rows.get(&key).unwrap_or_else(|| panic!("no {key}"));
            assert_printed(&row["share"], o["share"]["value"].as_f64(), &key);
            assert_eq!(row["n"], o["n_chosen"].to_string(), "{key}");
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked} perception shares");

    // Part 3: the expectations, ranked.
    let expectations = app
        .get_ok(&admin, &report(R25, "expectations", "unit=12"))
        .await;
    let rows = table(&html, "expectations");
    let options = expectations["options"].as_array().unwrap();
    assert!(!options.is_empty());
    for o in options {
        let row = &rows[o["code"].as_str().unwrap()];
        assert_printed(&row["share"], o["share"]["value"].as_f64(), "expectation");
        assert_eq!(row["rank"], o["rank"].to_string());
    }

    // The communes of Lai Châu (2025 has no districts), with their ranks.
    let communes = app
        .get_ok(&admin, &report(R25, "indices", "unit=12&level=commune"))
        .await;
    let rows = table(&html, "subunits");
    let listed = communes["results"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(rows.len(), 2);
    let mut withheld = 0;
    for r in listed {
        let row = &rows[r["unit"]["code"].as_str().unwrap()];
        assert_eq!(row["n_forms"], r["n_forms"].to_string());
        if r["withheld"] == true {
            // 25 forms, below the minimum of 30: said in words, no rank.
            withheld += 1;
            assert_eq!(row["sipas"], "Không đủ mẫu");
            assert!(r["rank"].is_null());
            assert_eq!(row["rank"], "—");
        } else {
            assert_printed(
                &row["sipas"],
                figure(r, "overall/sipas")["value"].as_f64(),
                "commune",
            );
            assert_eq!(row["rank"], r["rank"].to_string());
        }
    }
    assert_eq!(withheld, 1);

    // The sample.
    let rows = table(&html, "sample-table");
    assert_eq!(rows["n_forms"]["value"], "65");
    assert_eq!(rows["n_villages"]["value"], "3");
    assert_eq!(rows["n_communes"]["value"], "2");
    assert!(
        rows["dates"]["value"].contains(" – "),
        "{:?}",
        rows["dates"]
    );
}

/// The nation: the mean of provinces as `/indices` gives it, the league table in rank order with
/// Hà Nội (10 forms) withheld and unranked; English prints points.
#[tokio::test]
async fn the_national_report_and_english_numbers() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    push_two_rounds(&app, &admin).await;
    let nation = app.get_ok(&admin, &report(R25, "indices", "")).await["results"][0].clone();
    let (status, _, html) =
        get_html(&app, &admin, &format!("/api/v1/rounds/{R25}/reports/VN")).await;
    assert_eq!(status, 200, "{html}");
    let rows = table(&html, "indices");
    assert_printed(
        &rows["overall/sipas"]["current"],
        figure(&nation, "overall/sipas")["value"].as_f64(),
        "nation",
    );
    // Without `with`: no previous figures, no change.
    assert_eq!(rows["overall/sipas"]["previous"], "—");
    // The provinces below the nation, Hà Nội withheld in words.
    let sub = table(&html, "subunits");
    assert_eq!(sub.len(), 3);
    assert_eq!(sub["01"]["sipas"], "Không đủ mẫu");
    assert_eq!(sub["01"]["rank"], "—");
    assert_eq!(sub["01"]["n_forms"], "10");

    let (status, _, en) = get_html(
        &app,
        &admin,
        &format!("/api/v1/rounds/{R25}/reports/12?lang=en&with={R23}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(en.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    let rows = table(&en, "indices");
    let lc = app.get_ok(&admin, &report(R25, "indices", "unit=12")).await["results"][0].clone();
    let printed = &rows["overall/sipas"]["current"];
    assert_eq!(
        printed,
        &format!("{:.2}", value(figure(&lc, "overall/sipas"))),
        "English: two decimals with a point"
    );
    assert!(en.contains("Part 2. Citizens' satisfaction"));
}

/// A province below the minimum sample says so in words and prints no figure; the scope rules
/// are the index API's: another province's reviewer and an enumerator are refused.
#[tokio::test]
async fn small_samples_are_withheld_in_words_and_scope_is_the_apis() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    push_two_rounds(&app, &admin).await;
    let (status, _, html) =
        get_html(&app, &admin, &format!("/api/v1/rounds/{R25}/reports/01")).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"insufficient\""), "{html}");
    assert!(html.contains("không đủ mẫu"));
    let rows = table(&html, "indices");
    assert!(
        rows.values().all(|r| r["current"] == "—"),
        "every figure withheld"
    );

    app.create_reviewer(&admin, "snv.laichau", "vn-2025", "12")
        .await;
    app.create_reviewer(&admin, "snv.hanoi", "vn-2025", "01")
        .await;
    let lc = app.user_token("snv.laichau").await;
    let hn = app.user_token("snv.hanoi").await;
    let (status, _, _) = get_html(&app, &lc, &format!("/api/v1/rounds/{R25}/reports/12")).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .get_as(&hn, &format!("/api/v1/rounds/{R25}/reports/12"))
        .await;
    assert_problem(status, &body, 403, "out_of_scope");
    let enumerator = app.lai_chau_enumerator("dtv.report", "dev-report").await;
    let (status, body) = app
        .get_as(&enumerator, &format!("/api/v1/rounds/{R25}/reports/12"))
        .await;
    assert_problem(status, &body, 403, "forbidden");
    let (status, body) = app
        .get_as(
            &admin,
            &format!("/api/v1/rounds/{R25}/reports/12?format=pdf"),
        )
        .await;
    assert_problem(status, &body, 400, "bad_format");
    let (status, body) = app
        .get_as(&admin, &format!("/api/v1/rounds/{R25}/reports/12?lang=fr"))
        .await;
    assert_problem(status, &body, 400, "bad_lang");
    let commune = Place::nth(R25, "12", 0).commune;
    let (status, body) = app
        .get_as(&admin, &format!("/api/v1/rounds/{R25}/reports/{commune}"))
        .await;
    assert_problem(status, &body, 400, "bad_unit");
}

// ---------------------------------------------------------------------------------------------
// 2. DOCX
// ---------------------------------------------------------------------------------------------

/// The DOCX holds the parts Word needs and the headline figures; LibreOffice converts it to PDF
/// without error and the PDF's text holds the headline (the test needs `soffice` and
/// `pdftotext`: with `SIPAS_REQUIRE_LIBREOFFICE=1` their absence fails it, otherwise that part
/// is skipped and says so).
#[tokio::test]
async fn the_docx_opens_in_libreoffice() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    push_two_rounds(&app, &admin).await;
    let resp = app
        .request(
            Method::GET,
            &format!("/api/v1/rounds/{R25}/reports/12?format=docx&with={R23}"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let bytes = resp.bytes().await.unwrap().to_vec();
    let parts = unzip(&bytes);
    for p in [
        "[Content_Types].xml",
        "_rels/.rels",
        "word/document.xml",
        "word/styles.xml",
        "word/_rels/document.xml.rels",
        "word/media/image1.png",
        "word/media/image2.png",
    ] {
        assert!(parts.contains_key(p), "no {p}");
    }
    assert_eq!(&parts["word/media/image1.png"][..4], b"\x89PNG");
    let lc = app.get_ok(&admin, &report(R25, "indices", "unit=12")).await["results"][0].clone();
    let sipas = format!("{:.2}", value(figure(&lc, "overall/sipas"))).replace('.', ",");
    let doc = String::from_utf8(parts["word/document.xml"].clone()).unwrap();
    assert!(doc.contains(&sipas), "document.xml lacks {sipas}");

    let have = |cmd: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(have("soffice") && have("pdftotext")) {
        assert!(
            std::env::var("SIPAS_REQUIRE_LIBREOFFICE").as_deref() != Ok("1"),
            "SIPAS_REQUIRE_LIBREOFFICE=1 but soffice or pdftotext is missing (scripts/install-libreoffice.sh)"
        );
        eprintln!(
            "skipped: LibreOffice (soffice) or pdftotext not installed; the DOCX was not opened"
        );
        return;
    }
    // Kept as test output (`target/test-output/report/`), to be opened by hand in Word.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-output/report")
        .join(e2e::backend_name());
    std::fs::create_dir_all(&dir).unwrap();
    // LibreOffice's user profile, apart from the output and removed after.
    let profile = std::env::temp_dir().join(format!("sipas-lo-profile-{}", std::process::id()));
    let docx = dir.join("report.docx");
    std::fs::write(&docx, &bytes).unwrap();
    let out = std::process::Command::new("soffice")
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args(["--headless", "--convert-to", "pdf", "--outdir"])
        .arg(&dir)
        .arg(&docx)
        .output()
        .expect("run soffice");
    assert!(
        out.status.success(),
        "soffice: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let pdf = dir.join("report.pdf");
    assert!(
        pdf.exists(),
        "no PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("run pdftotext");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&sipas), "the PDF lacks SIPAS {sipas}: {text}");
    assert!(text.contains("Lai Châu"), "the PDF lacks the province name");
    assert!(text.contains("Phần 2"), "the PDF lacks Part 2");
    let _ = std::fs::remove_dir_all(&profile);
    eprintln!("DOCX and PDF written to {}", dir.display());
}

// ---------------------------------------------------------------------------------------------
// 3. Targets and plans
// ---------------------------------------------------------------------------------------------

/// Sơn La 2023: 40 forms in two villages of one commune, every item at the top for 32 of them
/// (16 + 16): each figure is 80% exactly. Hà Nội: 10 forms (withheld).
async fn push_son_la(app: &TestApp, admin: &str) {
    let at = Place::nth(R23, SON_LA, 0);
    let top = |n: usize, top: usize, village: &str| -> Vec<FormSubmission> {
        (0..n)
            .map(|i| {
                at.form()
                    .village(village)
                    .answers(sipas_answers_with_levels(
                        &[if i < top { 5 } else { 2 }; 39],
                    ))
                    .build()
            })
            .collect()
    };
    let mut f = top(20, 17, "Bản 1");
    f.extend(top(20, 15, "Bản 2"));
    let hn = Place::nth(R23, "01", 0);
    f.extend((0..10).map(|_| {
        hn.form()
            .village("Thôn 1")
            .answers(sipas_answers_with_levels(&[5; 39]))
            .build()
    }));
    app.sync(admin).push_accepted(&f).await;
}

/// Targets evaluated on hand-computed figures: Sơn La's SIPAS is 32/40 = 80% (villages 17/20
/// and 15/20), SE 5 points with 1 degree of freedom, so the interval reaches 143.5: the plan's
/// target SIPAS ≥ 90 is within the margin; ≥ 80 is met; Hà Nội's target has no data (10
/// forms). The report's section says the same.
#[tokio::test]
async fn targets_are_met_not_met_or_within_the_margin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    push_son_la(&app, &admin).await;
    let sl = app.indices_of(&admin, R23, &format!("unit={SON_LA}")).await;
    let f = figure(&sl, "overall/sipas");
    assert!((value(f) - 80.0).abs() < 1e-9, "{f}");
    let hi = f["ci_high"].as_f64().unwrap();
    // By hand (one stratum, two villages as clusters): z = (y − R·n)/N = ±(17 − 0.8·20)/40 =
    // ±0.025, V = n/(n−1)·Σ(z − z̄)² = 2·(0.025² + 0.025²) = 0.0025, SE = 0.05 = 5 points;
    // df = 2 − 1 = 1, t = tan(0.475π) ≈ 12.706: upper ≈ 143.5.
    assert!((f["se"].as_f64().unwrap() - 5.0).abs() < 1e-9, "{f}");
    let t1 = (0.475 * std::f64::consts::PI).tan();
    assert!((hi - (80.0 + 5.0 * t1)).abs() < 1e-6, "{f}");
    assert!(hi > 100.0, "{hi}");

    let path = format!("/api/v1/rounds/{R23}/targets");
    // The plan's own target (90%): within the margin here (the interval reaches 111.8).
    let (s, plan_target) = app.post_as(&admin, &path, &son_la_target()).await;
    assert_eq!(s, 201, "{plan_target}");
    assert_eq!(
        plan_target["evaluation"]["status"], "within_margin",
        "{plan_target}"
    );
    let (s, met) = app
        .post_as(
            &admin,
            &path,
            &json!({"province": SON_LA, "key": "group/p1", "value": 80.0}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        met["evaluation"]["status"], "met",
        "estimate = value is met"
    );
    // The upper bound is above 100 (two villages, df = 1): even 100 is within the margin; a
    // target not met is in `a_target_above_the_interval_is_not_met`.
    let (s, edge) = app
        .post_as(
            &admin,
            &path,
            &json!({"province": SON_LA, "key": "item/p1.info_forms", "value": 100.0}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(edge["evaluation"]["status"], "within_margin");
    let (s, changed) = app
        .call(
            Method::PUT,
            &format!("{path}/{}", edge["id"]),
            Some(&admin),
            Some(&json!({"key": "item/p1.info_forms", "value": 80.01})),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["evaluation"]["status"], "within_margin");
    let (s, no_data) = app
        .post_as(
            &admin,
            &path,
            &json!({"province": "01", "key": "overall/sipas", "value": 90.0}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(no_data["evaluation"]["status"], "no_data", "{no_data}");
    let (s, body) = app
        .post_as(
            &admin,
            &path,
            &json!({"province": SON_LA, "key": "group/zz", "value": 90.0}),
        )
        .await;
    assert_problem(s, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["code"], "unknown_criterion");
    let (s, body) = app
        .post_as(
            &admin,
            &path,
            &json!({"province": SON_LA, "key": "overall/sipas", "value": 101.0}),
        )
        .await;
    assert_problem(s, &body, 422, "validation_failed");

    let listed = app
        .get_ok(&admin, &format!("{path}?province={SON_LA}"))
        .await;
    let statuses: Vec<&str> = listed["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["evaluation"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["within_margin", "met", "within_margin"]);
    // The ministry without `province` sees every province's.
    let all = app.get_ok(&admin, &path).await;
    assert_eq!(all["targets"].as_array().unwrap().len(), 4);

    // The report's section "Mục tiêu và kế hoạch" says the same.
    let (status, _, html) = get_html(
        &app,
        &admin,
        &format!("/api/v1/rounds/{R23}/reports/{SON_LA}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Mục tiêu và kế hoạch"));
    assert!(
        html.contains("data-key=\"overall/sipas\" data-status=\"within_margin\""),
        "{html}"
    );
    assert!(html.contains("data-key=\"group/p1\" data-status=\"met\""));
    assert!(html.contains("Chưa đạt nhưng trong biên sai số"));

    // Deleting.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("{path}/{}", met["id"]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let listed = app
        .get_ok(&admin, &format!("{path}?province={SON_LA}"))
        .await;
    assert_eq!(listed["targets"].as_array().unwrap().len(), 2);
}

/// A target not met: a single village of 40 forms, 32 at the top (80%), has its interval from the
/// forms (SE = √(0.8·0.2/39)·100 ≈ 6.4, t(39) ≈ 2.02: upper ≈ 92.95): 95 is above it.
#[tokio::test]
async fn a_target_above_the_interval_is_not_met() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let at = Place::nth(R23, SON_LA, 0);
    let f: Vec<FormSubmission> = (0..40)
        .map(|i| {
            at.form()
                .village("Bản 1")
                .answers(sipas_answers_with_levels(&[if i < 32 { 5 } else { 2 }; 39]))
                .build()
        })
        .collect();
    app.sync(&admin).push_accepted(&f).await;
    let sl = app.indices_of(&admin, R23, &format!("unit={SON_LA}")).await;
    let fig = figure(&sl, "item/p1.info_forms");
    assert!((value(fig) - 80.0).abs() < 1e-9);
    let hi = fig["ci_high"].as_f64().unwrap();
    assert!(hi > 85.0 && hi < 95.0, "{fig}");
    let path = format!("/api/v1/rounds/{R23}/targets");
    for (v, want) in [
        (95.0, "not_met"),
        (hi - 0.01, "within_margin"),
        (79.99, "met"),
    ] {
        let (s, t) = app
            .post_as(
                &admin,
                &path,
                &json!({"province": SON_LA, "key": "item/p1.info_forms", "value": v}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        assert_eq!(t["evaluation"]["status"], want, "{v}: {t}");
    }
}

/// The Sơn La plan: created by Sơn La's reviewer with its tasks, each task showing the change
/// of its criteria against the previous round; progress notes by period; another province's
/// reviewer and an enumerator are refused; the ministry reads it; editing and deleting.
#[tokio::test]
async fn plan_crud_with_scope_and_the_son_la_fixture() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_reviewer(&admin, "snv.sonla", "vn-2023", SON_LA)
        .await;
    app.create_reviewer(&admin, "snv.laichau", "vn-2023", "12")
        .await;
    let sl = app.user_token("snv.sonla").await;
    let lc = app.user_token("snv.laichau").await;
    let enumerator = app.lai_chau_enumerator("dtv.plan", "dev-plan").await;
    let plans = format!("/api/v1/rounds/{R23}/plans");

    // The reviewer's own province is the default.
    let (s, plan) = app
        .post_as(&sl, &plans, &json!({"title": SON_LA_PLAN_TITLE}))
        .await;
    assert_eq!(s, 201, "{plan}");
    assert_eq!(plan["province"], SON_LA);
    let id = plan["id"].as_i64().unwrap();
    for t in son_la_tasks() {
        let (s, body) = app.post_as(&sl, &format!("{plans}/{id}/tasks"), &t).await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, _) = app
        .post_as(
            &sl,
            &format!("/api/v1/rounds/{R23}/targets"),
            &son_la_target(),
        )
        .await;
    assert_eq!(s, 201);

    // Others: another province's reviewer is out of scope, an enumerator forbidden.
    let (s, body) = app.get_as(&lc, &format!("{plans}/{id}")).await;
    assert_problem(s, &body, 403, "out_of_scope");
    let (s, body) = app
        .post_as(&lc, &plans, &json!({"province": SON_LA, "title": "x"}))
        .await;
    assert_problem(s, &body, 403, "out_of_scope");
    let (s, body) = app.get_as(&lc, &format!("{plans}?province={SON_LA}")).await;
    assert_problem(s, &body, 403, "out_of_scope");
    let (s, body) = app
        .get_as(&enumerator, &format!("{plans}?province={SON_LA}"))
        .await;
    assert_problem(s, &body, 403, "forbidden");
    let (s, body) = app
        .post_as(
            &enumerator,
            &format!("{plans}/{id}/tasks"),
            &son_la_tasks()[0],
        )
        .await;
    assert_problem(s, &body, 403, "forbidden");
    // Lai Châu's reviewer lists only Lai Châu (nothing).
    let own = app.get_ok(&lc, &plans).await;
    assert_eq!(own["plans"], json!([]));

    // The ministry reads every province's.
    let all = app.get_ok(&admin, &plans).await;
    assert_eq!(all["plans"].as_array().unwrap().len(), 1);
    assert_eq!(all["plans"][0]["n_tasks"], 4);
    let got = app.get_ok(&admin, &format!("{plans}/{id}")).await;
    let tasks = got["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4);
    assert_eq!(tasks[1]["lead_agency"], "Sở Tư pháp");
    assert_eq!(tasks[1]["deadline"], "Năm 2023");
    assert_eq!(tasks[2]["lead_agency"], "Sở Nội vụ");
    assert_eq!(tasks[2]["deadline"], "Quý III/2023");
    assert_eq!(
        tasks[2]["cooperating_agencies"],
        json!(["Các sở, ban, ngành", "UBND cấp huyện", "UBND cấp xã"])
    );
    assert_eq!(tasks[3]["lead_agency"], "Sở Thông tin và Truyền thông");
    assert_eq!(tasks[0]["status"], "planned");
    assert_eq!(tasks[0]["position"], 1);
    assert_eq!(tasks[3]["position"], 4);

    // Progress by period; a bad period is refused.
    let task = tasks[2]["id"].as_i64().unwrap();
    for (period, note) in [
        ("2023-Q3", "Đã kiểm tra 12 cơ quan cấp tỉnh."),
        ("2023-H2", "Hoàn thành Kế hoạch kiểm tra công tác CCHC."),
        ("2023", "Xử lý 100% vấn đề phát hiện."),
    ] {
        let (s, body) = app
            .post_as(
                &sl,
                &format!("{plans}/{id}/tasks/{task}/progress"),
                &json!({"period": period, "note": note}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, body) = app
        .post_as(
            &sl,
            &format!("{plans}/{id}/tasks/{task}/progress"),
            &json!({"period": "2023-Q5", "note": "x"}),
        )
        .await;
    assert_problem(s, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["code"], "bad_period");
    let mut t = son_la_tasks()[2].clone();
    t["status"] = json!("done");
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("{plans}/{id}/tasks/{task}"),
            Some(&sl),
            Some(&t),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let row = body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == task)
        .unwrap()
        .clone();
    assert_eq!(row["status"], "done");
    let periods: Vec<&str> = row["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, vec!["2023-Q3", "2023-H2", "2023"]);
    let (s, body) = app
        .call(
            Method::PUT,
            &format!("{plans}/{id}"),
            Some(&admin),
            Some(&json!({"title": "Kế hoạch (sửa)"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["title"], "Kế hoạch (sửa)");

    // Each task shows the change of its criteria: Sơn La 2025 (50% → ...) against 2023.
    let sl23 = Place::going_to(SON_LA, SON_LA);
    let sl25 = Place::nth(R25, SON_LA, 0);
    let mk = |p: &Place, v: &str, n: usize, top: usize| -> Vec<FormSubmission> {
        (0..n)
            .map(|i| {
                p.form()
                    .village(v)
                    .answers(sipas_answers_with_levels(
                        &[if i < top { 5 } else { 2 }; 39],
                    ))
                    .build()
            })
            .collect()
    };
    app.sync(&admin)
        .push_accepted(&[mk(&sl23, "Bản 1", 20, 10), mk(&sl23, "Bản 2", 20, 10)].concat())
        .await;
    app.sync(&admin)
        .push_accepted(&[mk(&sl25, "Bản 1", 20, 16), mk(&sl25, "Bản 2", 20, 14)].concat())
        .await;
    // The 2025 plan of the same province, with one task linked to SIPAS.
    let plans25 = format!("/api/v1/rounds/{R25}/plans");
    app.create_reviewer(&admin, "snv.sonla25", "vn-2025", SON_LA)
        .await;
    let sl_25 = app.user_token("snv.sonla25").await;
    let (s, p25) = app
        .post_as(&sl_25, &plans25, &json!({"title": "Kế hoạch 2025"}))
        .await;
    assert_eq!(s, 201, "{p25}");
    let id25 = p25["id"].as_i64().unwrap();
    let (s, _) = app
        .post_as(
            &sl_25,
            &format!("{plans25}/{id25}/tasks"),
            &son_la_tasks()[2],
        )
        .await;
    assert_eq!(s, 201);
    let got = app
        .get_ok(&sl_25, &format!("{plans25}/{id25}?with={R23}"))
        .await;
    let cmp = app
        .get_ok(
            &admin,
            &report(R25, "compare", &format!("with={R23}&unit={SON_LA}")),
        )
        .await["results"][0]
        .clone();
    let crit = &got["tasks"][0]["criteria"];
    assert_eq!(crit.as_array().unwrap().len(), 2);
    for c in crit.as_array().unwrap() {
        let api = change(&cmp, c["key"].as_str().unwrap());
        assert_eq!(c["diff"], api["diff"], "{c}");
        assert_eq!(c["significant"], api["significant"]);
    }
    assert!(
        (crit[1]["diff"].as_f64().unwrap() - 25.0).abs() < 1e-9,
        "75% − 50%: {crit}"
    );
    let (status, _, html) = get_html(
        &app,
        &sl_25,
        &format!("/api/v1/rounds/{R25}/reports/{SON_LA}?with={R23}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("overall/sipas: +25,00"),
        "the report's task table: {html}"
    );

    // Deleting a task, then the plan.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("{plans}/{id}/tasks/{task}"),
            Some(&sl),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, body) = app
        .call(Method::DELETE, &format!("{plans}/{id}"), Some(&lc), None)
        .await;
    assert_problem(s, &body, 403, "out_of_scope");
    let (s, _) = app
        .call(Method::DELETE, &format!("{plans}/{id}"), Some(&sl), None)
        .await;
    assert_eq!(s, 204);
    let (s, body) = app.get_as(&admin, &format!("{plans}/{id}")).await;
    assert_problem(s, &body, 404, "not_found");
    // Audited.
    let events = app.audit_events(&admin, "event=plan_changed").await;
    assert!(events.len() >= 10, "{} plan events", events.len());
    let events = app.audit_events(&admin, "event=target_changed").await;
    assert_eq!(events.len(), 1);
}

async fn post_csv(app: &TestApp, token: &str, url: &str, text: String) -> (u16, Value) {
    let resp = app
        .request(Method::POST, url, Some(token))
        .header("content-type", "text/csv")
        .body(text)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json::<Value>().await.unwrap_or(Value::Null))
}

/// A task table imported as CSV: with a bad line nothing is stored and every error names its
/// line; the corrected file stores every task in order.
#[tokio::test]
async fn csv_import_is_all_or_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let plans = format!("/api/v1/rounds/{R23}/plans");
    let (s, plan) = app
        .post_as(
            &admin,
            &plans,
            &json!({"province": SON_LA, "title": SON_LA_PLAN_TITLE}),
        )
        .await;
    assert_eq!(s, 201);
    let id = plan["id"].as_i64().unwrap();
    let url = format!("{plans}/{id}/tasks.csv");
    let header = "content,lead_agency,cooperating_agencies,deadline,criteria,status\n";
    let bad = format!(
        "{header}\"Tuyên truyền, phổ biến pháp luật\",Sở Tư pháp,Các sở; UBND cấp huyện,Năm 2023,group/p2,\n\
         ,Sở Nội vụ,,Quý III/2023,group/s4,\n\
         Kiểm tra công vụ,Sở Nội vụ,,Quý III/2023,group/nope,finished\n"
    );
    let (s, body) = post_csv(&app, &admin, &url, bad).await;
    assert_problem(s, &body, 422, "validation_failed");
    let errors: Vec<(String, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("line 3/content".to_owned(), "required".to_owned()),
            ("line 4/criteria".to_owned(), "unknown_criterion".to_owned()),
            ("line 4/status".to_owned(), "bad_status".to_owned()),
        ]
    );
    let got = app.get_ok(&admin, &format!("{plans}/{id}")).await;
    assert_eq!(got["tasks"], json!([]), "nothing stored");

    let good = format!(
        "{header}\"Tuyên truyền, phổ biến pháp luật\",Sở Tư pháp,Các sở; UBND cấp huyện,Năm 2023,group/p2,\n\
         Kiểm tra công vụ,Sở Nội vụ,,Quý III/2023,group/s4;overall/sipas,in_progress\n"
    );
    let (s, body) = post_csv(&app, &admin, &url, good).await;
    assert_eq!(s, 201, "{body}");
    let tasks = body["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["content"], "Tuyên truyền, phổ biến pháp luật");
    assert_eq!(
        tasks[0]["cooperating_agencies"],
        json!(["Các sở", "UBND cấp huyện"])
    );
    assert_eq!(tasks[1]["status"], "in_progress");
    assert_eq!(
        tasks[1]["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].clone())
            .collect::<Vec<_>>(),
        vec![json!("group/s4"), json!("overall/sipas")]
    );
    let resp = app
        .request(Method::POST, &url, Some(&admin))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
}
