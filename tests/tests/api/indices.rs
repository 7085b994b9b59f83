//! Index reports end to end: forms pushed through the sync protocol, then read back through
//! `/rounds/{round}/indices`, `/perception`, `/expectations` and `/compare`, with values checked
//! against the published Lai Châu 2023 vector and against small data sets computed by hand here.
//! Also: small-cell suppression, scopes of every endpoint, year over year across the 2025 geography
//! change, the per-village stats against a recomputation from the forms, and the errors.

use std::collections::BTreeMap;

use e2e::{
    Place, TestApp, assert_problem, figure, query_escape, report, spawn_app,
    store::lai_chau_village_stats,
    sync::{handshake_of, push_bodies},
    value,
};
use schema::{
    Answers,
    sample::{complete_sipas_answers, sipas_answers_with_levels, sipas_answers_without_services},
};
use serde_json::{Value, json};
use sync_protocol::{FormSubmission, Outcome};
use uuid::Uuid;

const R23: &str = "sipas-2023";
const R25: &str = "sipas-2025";
const EPS: f64 = 1e-9;

// ---------------------------------------------------------------------------------------------
// Building forms
// ---------------------------------------------------------------------------------------------

/// The 39 satisfaction item addresses in the fixed index order (`p1.info_forms`, …).
fn addresses() -> Vec<String> {
    schema::builtin::sipas()
        .index
        .as_ref()
        .expect("SIPAS has an index")
        .item_addresses()
        .map(str::to_owned)
        .collect()
}

/// A complete form (services relevant) with all 39 items at `level` (0 = "don't know").
fn uniform(level: u8) -> Answers {
    sipas_answers_with_levels(&[level; 39])
}

/// Sets one grid row (`grid.item`) of `answers`.
fn set_item(answers: &mut Answers, address: &str, v: Value) {
    let (grid, item) = address.split_once('.').expect("grid.item");
    answers
        .get_mut(grid)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no grid {grid}"))
        .insert(item.to_owned(), v);
}

/// A sample form collected at `at`, in `village`, with these answers.
fn form(at: &Place, village: &str, answers: Answers) -> FormSubmission {
    at.form().village(village).answers(answers).build()
}

/// `n` forms with every item at level 5 for the first `top` and at level 2 for the rest.
fn forms_top(at: &Place, village: &str, n: usize, top: usize) -> Vec<FormSubmission> {
    (0..n)
        .map(|i| form(at, village, uniform(if i < top { 5 } else { 2 })))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading reports
// ---------------------------------------------------------------------------------------------

/// Expected item figures: value (None when no valid answer) and number of valid answers.
type Expected = BTreeMap<String, (Option<f64>, u64)>;

/// Adds the group, component and SIPAS figures to item figures, as SIPAS v1 defines them: the mean
/// of the values of their items (components and SIPAS over all their items, not over groups), with
/// the valid answers summed.
fn with_composites(items: &Expected) -> Expected {
    let mut sums: BTreeMap<String, (f64, u32, u64)> = BTreeMap::new();
    for (key, (v, n)) in items {
        let address = key.strip_prefix("item/").expect("item key");
        let group = address.split_once('.').expect("grid.item").0;
        let component = if group.starts_with('p') {
            "policy"
        } else {
            "service"
        };
        for k in [
            format!("group/{group}"),
            format!("component/{component}"),
            "overall/sipas".to_owned(),
        ] {
            let s = sums.entry(k).or_default();
            if let Some(v) = v {
                s.0 += v;
                s.1 += 1;
            }
            s.2 += n;
        }
    }
    let mut out = items.clone();
    for (k, (sum, count, n)) in sums {
        out.insert(k, ((count > 0).then(|| sum / f64::from(count)), n));
    }
    out
}

/// Asserts every expected figure (value within `tol`, n_valid exactly).
fn assert_figures(result: &Value, expected: &Expected, tol: f64) {
    for (key, (v, n)) in expected {
        let f = figure(result, key);
        assert_eq!(f["n_valid"], json!(n), "{key} n_valid: {f}");
        match v {
            Some(v) => assert!(
                (value(f) - v).abs() <= tol,
                "{key}: got {}, expected {v}",
                f["value"]
            ),
            None => assert!(f["value"].is_null(), "{key}: expected no value, got {f}"),
        }
    }
}

/// Every item at the same value and n_valid.
fn all_items(v: Option<f64>, n: u64) -> Expected {
    addresses()
        .into_iter()
        .map(|a| (format!("item/{a}"), (v, n)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. The Lai Châu 2023 vector
// ---------------------------------------------------------------------------------------------

/// The 39 published item indices of Lai Châu 2023 (`schema/tests/lai_chau.rs`).
const LAI_CHAU_ITEMS: [f64; 39] = [
    78.60, 79.32, // P2
    79.46, 78.60, // P3
    78.85, 79.96, 80.68, 80.93, 78.35, 79.64, 79.71, 79.50, 78.53, // P4
    79.28, 79.28, 79.43, 80.57, 81.65, 81.72, 80.97, 80.57, 79.57, 79.50, // S1
    80.07, 80.86, 80.54, // S2
    80.65, 80.86, 80.54, 80.65, // S3
    79.28, 79.53, 79.53, // S4
    79.28, 79.75, 79.39, // S5
    78.96, 79.43, 78.85,
];

/// The 12 published group, component and SIPAS values of Lai Châu 2023.
const LAI_CHAU_PUBLISHED: [(&str, f64); 12] = [
    ("group/p1", 78.96),
    ("group/p2", 79.03),
    ("group/p3", 79.57),
    ("group/p4", 80.25),
    ("component/policy", 79.77),
    ("group/s1", 80.49),
    ("group/s2", 80.67),
    ("group/s3", 79.45),
    ("group/s4", 79.47),
    ("group/s5", 79.08),
    ("component/service", 79.89),
    ("overall/sipas", 79.82),
];

/// 10,000 forms pushed to Lai Châu, each item with `round(published × 100)` answers at the top level
/// and the rest at levels 2–3: the API gives back every published item index exactly and every
/// published group, component and SIPAS value to the published 2 decimals.
#[tokio::test]
async fn lai_chau_2023_through_the_api_gives_the_published_indices() {
    const N: usize = 10_000;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let top: Vec<usize> = LAI_CHAU_ITEMS
        .iter()
        .map(|v| (v * 100.0).round() as usize)
        .collect();
    // One commune in each district of Lai Châu, five villages each.
    let places: Vec<Place> = geography::vn_2023()
        .children("12")
        .map(|d| Place::nth(R23, &d.code, 0))
        .collect();
    assert_eq!(places.len(), 8);
    let forms: Vec<FormSubmission> = (0..N)
        .map(|j| {
            let levels: Vec<u8> = top
                .iter()
                .map(|&t| if j < t { 5 } else { 2 + (j % 2) as u8 })
                .collect();
            let place = &places[j % places.len()];
            form(
                place,
                &format!("Bản {}", j % 5),
                sipas_answers_with_levels(&levels),
            )
        })
        .collect();
    // Batches of 100, within what the handshake allows.
    let ministry = app.sync(&admin);
    let hs = ministry.handshake(&handshake_of("bulk-load", "test")).await;
    assert!(hs.max_batch_forms >= 100, "{hs:?}");
    let bodies = push_bodies(&forms, 100);
    drop(forms);
    let outcomes = ministry.push_serialised(bodies).await;
    assert_eq!(outcomes.len(), N);
    assert!(outcomes.iter().all(|o| *o == Outcome::Accepted));

    let res = app.indices_of(&admin, R23, "unit=12").await;
    assert_eq!(res["unit"]["code"], "12");
    assert_eq!(res["n_forms"], json!(N));
    assert_eq!(res["withheld"], false);
    assert_eq!(res["estimates"]["n_clusters"], json!(8 * 5));
    // The round's recorded design: the province the stratum, its 8 districts the PSUs.
    assert_eq!(res["estimates"]["n_strata"], json!(1));
    assert_eq!(res["estimates"]["n_psus"], json!(8));
    assert_eq!(res["estimates"]["variance"], "ultimate_clusters");
    assert_eq!(res["estimates"]["df"], json!(7.0));
    let body = app.get_ok(&admin, &report(R23, "indices", "unit=12")).await;
    assert_eq!(body["design"]["source"], "recorded", "{}", body["design"]);
    assert_eq!(body["design"]["psu"], "district");
    assert_eq!(body["design"]["strata"], "province");
    assert_eq!(body["design"]["weights"], "equal");
    for (address, published) in addresses().iter().zip(LAI_CHAU_ITEMS) {
        let f = figure(&res, &format!("item/{address}"));
        assert_eq!(f["n_valid"], json!(N), "{address}");
        assert!(
            (value(f) - published).abs() < EPS,
            "{address}: got {}, published {published}",
            f["value"]
        );
    }
    for (key, published) in LAI_CHAU_PUBLISHED {
        let got = value(figure(&res, key));
        assert!(
            (got - published).abs() < 0.005 + EPS,
            "{key}: got {got:.4}, published {published:.2}"
        );
    }
    // The national figure with one province is that province's.
    let nation = app.indices_of(&admin, R23, "").await;
    assert_eq!(nation["n_forms"], json!(N));
    assert!(
        (value(figure(&nation, "overall/sipas")) - value(figure(&res, "overall/sipas"))).abs()
            < EPS
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Small hand-built data sets
// ---------------------------------------------------------------------------------------------

/// "Don't know" answers are not scored (n_valid drops, the value comes from the other answers), and
/// the service grids skipped by relevance (no one-stop desk visit) are not scored either.
#[tokio::test]
async fn dont_know_and_not_relevant_answers_are_not_scored() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let first = &addresses()[0];
    assert_eq!(first, "p1.info_forms");

    // Commune A: 30 forms, every item "satisfied" (4) except p1.info_forms: 10 very satisfied, 10
    // neutral (3, not at the top two levels), 10 "don't know".
    let a = Place::nth(R25, "12", 0);
    let forms_a: Vec<FormSubmission> = (0..30)
        .map(|i| {
            let mut levels = [4u8; 39];
            levels[0] = [5, 3, 0][i / 10];
            form(&a, "Bản A", sipas_answers_with_levels(&levels))
        })
        .collect();
    // Commune B: 10 forms of respondents who did a procedure at the one-stop desk, every item very
    // satisfied; 20 who did not (S1–S5 not relevant, absent), policy items dissatisfied (2).
    let b = Place::nth(R25, "12", 1);
    let mut forms_b: Vec<FormSubmission> = (0..10).map(|_| form(&b, "Bản B", uniform(5))).collect();
    for _ in 0..20 {
        let mut answers = sipas_answers_without_services();
        for address in addresses().iter().filter(|a| a.starts_with('p')) {
            set_item(&mut answers, address, json!(2));
        }
        forms_b.push(form(&b, "Bản B", answers));
    }
    app.sync(&admin)
        .push_accepted(&[forms_a, forms_b].concat())
        .await;

    let res = app
        .indices_of(&admin, R25, &format!("unit={}", a.commune))
        .await;
    assert_eq!(res["n_forms"], 30);
    assert_eq!(res["withheld"], false);
    let mut items = all_items(Some(100.0), 30);
    items.insert(format!("item/{first}"), (Some(50.0), 20));
    let expected = with_composites(&items);
    // By hand: p1 = (50 + 100) / 2; SIPAS = (38 × 100 + 50) / 39.
    assert_eq!(expected["group/p1"], (Some(75.0), 50));
    assert!((expected["overall/sipas"].0.unwrap() - 3850.0 / 39.0).abs() < EPS);
    assert_figures(&res, &expected, EPS);
    let item = res["estimates"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["address"] == *first)
        .unwrap();
    assert_eq!(
        item["n_special"], 10,
        "the don't-know answers are counted apart"
    );

    let res = app
        .indices_of(&admin, R25, &format!("unit={}", b.commune))
        .await;
    assert_eq!(res["n_forms"], 30);
    let mut items = Expected::new();
    for address in addresses() {
        let e = if address.starts_with('p') {
            // 10 of 30 at the top two levels.
            (Some(100.0 / 3.0), 30)
        } else {
            // Only the 10 respondents to whom the services were relevant.
            (Some(100.0), 10)
        };
        items.insert(format!("item/{address}"), e);
    }
    let expected = with_composites(&items);
    assert_eq!(expected["component/service"], (Some(100.0), 160));
    assert_eq!(expected["component/policy"].1, 23 * 30);
    // SIPAS = (23 × 33.33… + 16 × 100) / 39.
    assert!(
        (expected["overall/sipas"].0.unwrap() - (23.0 * 100.0 / 3.0 + 1600.0) / 39.0).abs() < EPS
    );
    assert_figures(&res, &expected, EPS);
}

/// Perception: multi-select shares are over respondents and sum past 100%; options are ranked;
/// level rows give the share at the top two levels and the mean level, "don't know" apart.
#[tokio::test]
async fn perception_shares_and_levels() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let c = Place::nth(R25, "12", 2);
    let forms: Vec<FormSubmission> = (0..30)
        .map(|i| {
            let mut a = complete_sipas_answers();
            let mut channels = vec!["meeting"];
            if i < 20 {
                channels.push("internet");
            }
            if i < 9 {
                channels.push("media");
            }
            a.insert("c2_channels".into(), json!(channels));
            // Interest in the economy: 15 very interested, 9 interested, 6 not at all.
            let level = if i < 15 {
                5
            } else if i < 24 {
                4
            } else {
                1
            };
            set_item(&mut a, "c1_interest.economy", json!(level));
            a
        })
        .map(|a| form(&c, "Bản C", a))
        .collect();
    app.sync(&admin).push_accepted(&forms).await;

    let body = app
        .get_ok(
            &admin,
            &report(R25, "perception", &format!("unit={}", c.commune)),
        )
        .await;
    assert_eq!(body["n_forms"], 30);
    assert_eq!(body["withheld"], false);
    let choices = body["choices"].as_array().expect("choices");
    assert!(choices.iter().all(|c| c["question"] != "expectations"));
    let c2 = choices
        .iter()
        .find(|c| c["question"] == "c2_channels")
        .expect("c2_channels");
    assert_eq!(c2["multiple"], true);
    assert_eq!(c2["n_answered"], 30);
    let option = |code: &str| {
        c2["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["code"] == code)
            .unwrap_or_else(|| panic!("no option {code}"))
            .clone()
    };
    let expected = [
        ("meeting", 30, 100.0, 1),
        ("internet", 20, 200.0 / 3.0, 2),
        ("media", 9, 30.0, 3),
        ("loudspeaker", 0, 0.0, 4),
        ("other", 0, 0.0, 4),
    ];
    let mut total = 0.0;
    for (code, n, share, rank) in expected {
        let o = option(code);
        assert_eq!(o["n_chosen"], n, "{code}: {o}");
        assert_eq!(o["share"]["n_valid"], 30, "{code}: {o}");
        assert!((value(&o["share"]) - share).abs() < EPS, "{code}: {o}");
        assert_eq!(o["rank"], rank, "{code}: {o}");
        total += value(&o["share"]);
    }
    assert!(total > 100.0, "multi-select shares sum past 100%: {total}");
    // A single-choice question sums to 100%.
    let c5 = choices
        .iter()
        .find(|c| c["question"] == "c5_harassment")
        .unwrap();
    assert_eq!(c5["multiple"], false);
    assert!((value(&c5["options"][0]["share"]) - 100.0).abs() < EPS);

    let levels = body["levels"].as_array().expect("levels");
    let row = |q: &str, item: &str| {
        levels
            .iter()
            .find(|r| r["question"] == q && r["item"] == item)
            .unwrap_or_else(|| panic!("no row {q}.{item}"))
            .clone()
    };
    let economy = row("c1_interest", "economy");
    assert!(
        (value(&economy["top_two_share"]) - 80.0).abs() < EPS,
        "{economy}"
    );
    assert!(
        (value(&economy["mean_level"]) - 117.0 / 30.0).abs() < EPS,
        "{economy}"
    );
    assert_eq!(economy["top_two_share"]["n_valid"], 30);
    assert_eq!(economy["n_special"], 0);
    // The sample answers "don't know" for fully online procedures: not counted.
    let online = row("c7_tthc_fit", "fully_online");
    assert_eq!(online["n_special"], 30, "{online}");
    assert_eq!(online["top_two_share"]["n_valid"], 0, "{online}");
    assert!(online["top_two_share"]["value"].is_null(), "{online}");
    let in_person = row("c7_tthc_fit", "in_person");
    assert!((value(&in_person["top_two_share"]) - 100.0).abs() < EPS);
    assert!((value(&in_person["mean_level"]) - 5.0).abs() < EPS);
    assert!(levels.iter().all(|r| {
        ["c1_interest", "c3_channel_fit", "c7_tthc_fit"].contains(&r["question"].as_str().unwrap())
    }));
}

/// Expectations: the share choosing each option, ranked most chosen first (ties in questionnaire
/// order, sharing a rank).
#[tokio::test]
async fn expectations_are_ranked() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let c = Place::nth(R25, "12", 3);
    let forms: Vec<FormSubmission> = (0..30)
        .map(|i| {
            let mut a = complete_sipas_answers();
            let mut chosen = vec!["transparency"];
            if i < 25 {
                chosen.push("digital");
            }
            if i < 20 {
                chosen.push("oversight");
            }
            if i < 10 {
                chosen.push("facilities");
            }
            a.insert("expectations".into(), json!(chosen));
            form(&c, "Bản D", a)
        })
        .collect();
    app.sync(&admin).push_accepted(&forms).await;

    let body = app
        .get_ok(
            &admin,
            &report(R25, "expectations", &format!("unit={}", c.commune)),
        )
        .await;
    assert_eq!(body["n_forms"], 30);
    assert_eq!(body["n_answered"], 30);
    let options = body["options"].as_array().expect("options");
    let got: Vec<(&str, u64, f64, u64)> = options
        .iter()
        .map(|o| {
            (
                o["code"].as_str().unwrap(),
                o["n_chosen"].as_u64().unwrap(),
                value(&o["share"]),
                o["rank"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, u64, f64, u64)> = vec![
        ("transparency", 30, 100.0, 1),
        ("digital", 25, 250.0 / 3.0, 2),
        ("oversight", 20, 200.0 / 3.0, 3),
        ("facilities", 10, 100.0 / 3.0, 4),
        ("staff_capacity", 0, 0.0, 5),
        ("feedback_handling", 0, 0.0, 5),
        ("effectiveness", 0, 0.0, 5),
        ("online_services", 0, 0.0, 5),
        ("staff_attitude", 0, 0.0, 5),
        ("accountability", 0, 0.0, 5),
    ];
    assert_eq!(got.len(), expected.len(), "{body}");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((g.0, g.1, g.3), (e.0, e.1, e.3), "{body}");
        assert!((g.2 - e.2).abs() < EPS, "{}: {} vs {}", e.0, g.2, e.2);
    }
}

/// The national figure: by default (and as published) the mean of the province values; `pooled`
/// gives the ratio over all forms. Two provinces of different sizes and levels tell them apart, and
/// the response names the method.
#[tokio::test]
async fn national_figure_mean_of_provinces_and_pooled() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // Lai Châu: 30 forms, 24 at the top → 80. Sơn La: 90 forms, 27 at the top → 30.
    let lc = Place::nth(R23, "12", 0);
    let sl = Place::nth(R23, "14", 0);
    let mut forms: Vec<FormSubmission> = (0..30)
        .map(|i| form(&lc, "Bản 1", uniform(if i < 24 { 5 } else { 3 })))
        .collect();
    forms.extend((0..90).map(|i| {
        form(
            &sl,
            &format!("Bản {}", i % 3),
            uniform(if i < 27 { 4 } else { 1 }),
        )
    }));
    app.sync(&admin).push_accepted(&forms).await;

    let mean_expected = with_composites(&all_items(Some((80.0 + 30.0) / 2.0), 120));
    let pooled_expected = with_composites(&all_items(Some(100.0 * 51.0 / 120.0), 120));
    assert!((pooled_expected["overall/sipas"].0.unwrap() - 42.5).abs() < EPS);

    for query in ["", "unit=VN", "method=mean_of_provinces"] {
        let body = app.get_ok(&admin, &report(R23, "indices", query)).await;
        assert_eq!(body["method"], "mean_of_provinces", "{query}");
        let res = &body["results"][0];
        assert_eq!(res["unit"]["code"], "VN");
        assert_eq!(res["n_forms"], 120);
        assert_eq!(
            res["estimates"]["method"],
            json!({"method": "mean_of_units", "units": 2})
        );
        assert_figures(res, &mean_expected, EPS);
    }
    let body = app
        .get_ok(&admin, &report(R23, "indices", "method=pooled"))
        .await;
    assert_eq!(body["method"], "pooled");
    let res = &body["results"][0];
    assert_eq!(res["n_forms"], 120);
    assert_eq!(res["estimates"]["method"], json!({"method": "pooled"}));
    assert_figures(res, &pooled_expected, EPS);

    // The national table of provinces ranks them.
    let body = app
        .get_ok(&admin, &report(R23, "indices", "level=province"))
        .await;
    let rows: Vec<(String, u64, f64, u64)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unit"]["code"].as_str().unwrap().to_owned(),
                r["n_forms"].as_u64().unwrap(),
                value(figure(r, "overall/sipas")),
                r["rank"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 2, "{body}");
    assert_eq!((rows[0].0.as_str(), rows[0].1, rows[0].3), ("12", 30, 1));
    assert_eq!((rows[1].0.as_str(), rows[1].1, rows[1].3), ("14", 90, 2));
    assert!((rows[0].2 - 80.0).abs() < EPS && (rows[1].2 - 30.0).abs() < EPS);
}

// ---------------------------------------------------------------------------------------------
// 3. Small cells
// ---------------------------------------------------------------------------------------------

/// A district with 29 forms is withheld (values null, counts kept); with 30 its values show.
#[tokio::test]
async fn small_cells_are_withheld_below_thirty_forms() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let c1 = Place::nth(R23, "105", 0);
    let c2 = Place::nth(R23, "105", 1);
    let forms: Vec<FormSubmission> = (0..29)
        .map(|i| form(if i % 2 == 0 { &c1 } else { &c2 }, "Bản 1", uniform(5)))
        .collect();
    app.sync(&admin).push_accepted(&forms).await;

    let res = app.indices_of(&admin, R23, "unit=105").await;
    assert_eq!(res["unit"]["level"], "district");
    assert_eq!(res["n_forms"], 29);
    assert_eq!(res["withheld"], true);
    assert_eq!(res["estimates"]["n_clusters"], 2);
    let withheld = with_composites(&all_items(None, 29));
    assert_figures(&res, &withheld, 0.0);
    for key in withheld.keys() {
        let f = figure(&res, key);
        for field in ["se", "ci_low", "ci_high"] {
            assert!(f[field].is_null(), "{key}.{field}: {f}");
        }
    }
    // In the district table too: withheld, no rank.
    let body = app
        .get_ok(&admin, &report(R23, "indices", "unit=12&level=district"))
        .await;
    let row = &body["results"][0];
    assert_eq!(row["unit"]["code"], "105");
    assert_eq!(row["withheld"], true);
    assert!(row["rank"].is_null(), "{row}");
    // Perception and expectations keep their counts but no shares.
    let body = app
        .get_ok(&admin, &report(R23, "expectations", "unit=105"))
        .await;
    assert_eq!(body["withheld"], true);
    assert_eq!(body["n_answered"], 29);
    assert!(body["options"][0]["share"]["value"].is_null());
    assert_eq!(body["options"][0]["share"]["n_valid"], 29);

    app.sync(&admin)
        .push_accepted(&[form(&c1, "Bản 1", uniform(5))])
        .await;
    let res = app.indices_of(&admin, R23, "unit=105").await;
    assert_eq!(res["n_forms"], 30);
    assert_eq!(res["withheld"], false);
    assert_figures(&res, &with_composites(&all_items(Some(100.0), 30)), EPS);
    let body = app
        .get_ok(&admin, &report(R23, "indices", "unit=12&level=district"))
        .await;
    assert_eq!(body["results"][0]["rank"], 1);
}

// ---------------------------------------------------------------------------------------------
// 4. Scopes
// ---------------------------------------------------------------------------------------------

/// Who reads what, on every endpoint: a Lai Châu reviewer reads its province, its districts' table,
/// the nation and the national table of provinces; not another province nor the national table of
/// districts. Enumerators read nothing, anonymous callers are unauthenticated, the ministry reads all.
#[tokio::test]
async fn scopes_of_every_index_report() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let lc23 = Place::nth(R23, "105", 0);
    let sl23 = Place::nth(R23, "14", 0);
    let lc25 = Place::nth(R25, "12", 0);
    let mut forms = forms_top(&lc23, "Bản 1", 30, 20);
    forms.extend(forms_top(&sl23, "Bản 1", 30, 10));
    app.sync(&admin).push_accepted(&forms).await;
    // One round per batch: see `a_batch_with_forms_of_two_rounds_is_accepted`.
    app.sync(&admin)
        .push_accepted(&forms_top(&lc25, "Bản 1", 30, 15))
        .await;

    app.create_reviewer(&admin, "lc.reviewer", "vn-2023", "12")
        .await;
    app.create_enumerator(&admin, "lc.dtv", "vn-2023", "12", "LC-1")
        .await;
    let reviewer = app.user_token("lc.reviewer").await;
    let enumerator = app.user_token("lc.dtv").await;

    let village = format!("unit={}", query_escape(&format!("{}/Bản 1", lc23.commune)));
    let with = "with=sipas-2023";
    let allowed: Vec<String> = vec![
        report(R23, "indices", "unit=12"),
        report(R23, "indices", "unit=105"),
        report(R23, "indices", &format!("unit={}", lc23.commune)),
        report(R23, "indices", &village),
        report(R23, "indices", "unit=12&level=district"),
        report(R23, "indices", "unit=12&level=village"),
        report(R23, "indices", ""),
        report(R23, "indices", "unit=VN&method=pooled"),
        report(R23, "indices", "level=province"),
        report(R25, "indices", "unit=12"),
        report(R23, "perception", "unit=12"),
        report(R23, "perception", "unit=105"),
        report(R23, "perception", ""),
        report(R23, "expectations", "unit=12"),
        report(R23, "expectations", &village),
        report(R23, "expectations", ""),
        report(R23, "compare", &format!("{with}&unit=12")),
        report(R23, "compare", &format!("{with}&unit=12&level=district")),
        report(R23, "compare", with),
        report(R23, "compare", &format!("{with}&level=province")),
        report(R25, "compare", &format!("{with}&unit=12")),
        report(R25, "compare", &format!("{with}&level=province")),
    ];
    let out_of_scope: Vec<String> = vec![
        report(R23, "indices", "unit=14"),
        report(R23, "indices", &format!("unit={}", sl23.commune)),
        report(
            R23,
            "indices",
            &format!("unit={}", query_escape(&format!("{}/Bản 1", sl23.commune))),
        ),
        report(R23, "indices", "unit=14&level=district"),
        report(R23, "indices", "level=district"),
        report(R23, "indices", "level=commune"),
        report(R25, "indices", "unit=14"),
        report(R23, "perception", "unit=14"),
        report(R23, "expectations", "unit=14"),
        report(R23, "compare", &format!("{with}&unit=14")),
        report(R23, "compare", &format!("{with}&level=district")),
        report(R25, "compare", &format!("{with}&level=commune")),
    ];

    for path in &allowed {
        let (s, body) = app.get_as(&reviewer, path).await;
        assert_eq!(s, 200, "reviewer {path}: {body}");
        let (s, _) = app.get_as(&admin, path).await;
        assert_eq!(s, 200, "ministry {path}");
        let (s, body) = app.get_as(&enumerator, path).await;
        assert_problem(s, &body, 403, "forbidden");
        let (s, body) = app.get_json(path).await;
        assert_problem(s, &body, 401, "unauthenticated");
    }
    for path in &out_of_scope {
        let (s, body) = app.get_as(&reviewer, path).await;
        assert_problem(s, &body, 403, "out_of_scope");
        let (s, body) = app.get_as(&admin, path).await;
        assert_eq!(s, 200, "ministry {path}: {body}");
        let (s, body) = app.get_as(&enumerator, path).await;
        assert_problem(s, &body, 403, "forbidden");
    }

    // A supervisor scoped on the 2025 geography reads Lai Châu in both rounds, not Sơn La.
    app.create_supervisor(&admin, "lc.supervisor", "vn-2025", "12", "LC-1")
        .await;
    let supervisor = app.user_token("lc.supervisor").await;
    for path in [
        report(R23, "indices", "unit=12&level=district"),
        report(R25, "indices", "unit=12"),
        report(R23, "perception", "unit=105"),
        report(R25, "expectations", "unit=12"),
        report(R25, "compare", &format!("{with}&unit=12")),
        report(R25, "indices", "level=province"),
    ] {
        let (s, body) = app.get_as(&supervisor, &path).await;
        assert_eq!(s, 200, "supervisor {path}: {body}");
    }
    for path in [
        report(R23, "indices", "unit=14"),
        report(R25, "perception", "unit=14"),
        report(R25, "compare", &format!("{with}&level=commune")),
    ] {
        let (s, body) = app.get_as(&supervisor, &path).await;
        assert_problem(s, &body, 403, "out_of_scope");
    }

    // What the reviewer reads is the real thing.
    let res = app.indices_of(&reviewer, R23, "unit=12").await;
    assert_eq!(res["n_forms"], 30);
    assert!((value(figure(&res, "overall/sipas")) - 200.0 / 3.0).abs() < EPS);
    let body = app
        .get_ok(&reviewer, &report(R23, "indices", "level=province"))
        .await;
    let codes: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unit"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["12", "14"]);
    let nation = app.indices_of(&reviewer, R23, "").await;
    assert_eq!(nation["n_forms"], 60);
    assert!((value(figure(&nation, "overall/sipas")) - 50.0).abs() < EPS);
}

// ---------------------------------------------------------------------------------------------
// 5. Year over year
// ---------------------------------------------------------------------------------------------

/// Across the July 2025 geography change: two 2023 provinces merged into one 2025 province are
/// compared as their pooled forms (successor mapping), with the change, its interval and the rank
/// change in the national table; comparing a round with itself changes nothing.
#[tokio::test]
async fn year_over_year_across_the_geography_change() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ha_giang = "02";
    let tuyen_quang = "08";
    assert_eq!(
        geography::vn_2023().unit(ha_giang).unwrap().name,
        "Hà Giang"
    );
    assert_eq!(
        geography::vn_2025().unit(tuyen_quang).unwrap().name,
        "Tuyên Quang"
    );
    let predecessors = geography::vn_2023_to_2025().predecessors(tuyen_quang);
    assert!(predecessors.contains(&ha_giang) && predecessors.contains(&tuyen_quang));

    // 2023: Hà Giang 40 forms, 30 at the top (75%); old Tuyên Quang 60 forms, 15 at the top (25%).
    let hg = Place::going_to(ha_giang, tuyen_quang);
    let tq = Place::going_to(tuyen_quang, tuyen_quang);
    let lc23 = Place::going_to("12", "12");
    let mut old = forms_top(&hg, "Thôn 1", 20, 16);
    old.extend(forms_top(&hg, "Thôn 2", 20, 14));
    old.extend(forms_top(&tq, "Thôn 1", 20, 6));
    old.extend(forms_top(&tq, "Thôn 2", 20, 5));
    old.extend(forms_top(&tq, "Thôn 3", 20, 4));
    // Lai Châu (unchanged by the merger) 2023: 30 of 30 at the top.
    old.extend(forms_top(&lc23, "Bản 1", 15, 15));
    old.extend(forms_top(&lc23, "Bản 2", 15, 15));
    // 2025: Tuyên Quang 50 forms, 45 at the top (90%); Lai Châu 30, 15 at the top (50%).
    let tq25 = Place::nth(R25, tuyen_quang, 0);
    let lc25 = Place::nth(R25, "12", 0);
    let mut new = forms_top(&tq25, "Thôn A", 25, 23);
    new.extend(forms_top(&tq25, "Thôn B", 25, 22));
    new.extend(forms_top(&lc25, "Bản 1", 15, 8));
    new.extend(forms_top(&lc25, "Bản 2", 15, 7));
    // One round per batch: see `a_batch_with_forms_of_two_rounds_is_accepted`.
    app.sync(&admin).push_accepted(&old).await;
    app.sync(&admin).push_accepted(&new).await;

    let body = app
        .get_ok(
            &admin,
            &report(R25, "compare", &format!("with={R23}&unit={tuyen_quang}")),
        )
        .await;
    assert_eq!(body["comparison"]["method"], "successor_mapping", "{body}");
    assert!(body["comparison"]["detail"].is_string());
    assert!(body["comparison"]["detail_en"].is_string());
    assert_eq!(body["unplaced_forms"], 0);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["unit"]["code"], tuyen_quang);
    assert_eq!(r["predecessors"], json!(predecessors));
    assert_eq!(r["current"]["n_forms"], 50);
    assert_eq!(r["previous"]["n_forms"], 40 + 60);
    assert_eq!(r["current"]["withheld"], false);
    assert!(r["rank"].is_null());
    let change = |r: &Value, key: &str| -> Value {
        r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .unwrap_or_else(|| panic!("no change {key}"))
            .clone()
    };
    // Previous pooled: (30 + 15) / (40 + 60) = 45%, not the mean of 75% and 25% (50%).
    for key in [
        "overall/sipas",
        "component/policy",
        "group/s5",
        "item/p1.info_forms",
    ] {
        let c = change(r, key);
        assert!(
            (c["current"].as_f64().unwrap() - 90.0).abs() < EPS,
            "{key}: {c}"
        );
        assert!(
            (c["previous"].as_f64().unwrap() - 45.0).abs() < EPS,
            "{key}: {c}"
        );
        assert!(
            (c["diff"].as_f64().unwrap() - 45.0).abs() < EPS,
            "{key}: {c}"
        );
        assert_eq!(c["significant"], true, "{key}: {c}");
        let (lo, hi) = (
            c["ci_low"].as_f64().unwrap(),
            c["ci_high"].as_f64().unwrap(),
        );
        assert!(lo > 0.0 && lo < 45.0 && hi > 45.0, "{key}: {c}");
        assert!(((lo + hi) / 2.0 - 45.0).abs() < 1e-6, "{key}: {c}");
    }

    // The design-based intervals, by hand (strata = communes, clusters = villages, Taylor
    // linearisation z_i = (y_i − R n_i) / N, V = Σ_h n_h/(n_h−1) Σ_i (z_hi − z̄_h)²):
    // Hà Giang 2023, one commune, villages 16/20 and 14/20: R = 0.75, z = ±1/40, V = 2 × 2/1600,
    // SE = 5 points, df = 2 villages − 1 commune = 1, t = qt(0.975, 1) = tan(0.475π).
    let hg_res = app
        .indices_of(&admin, R23, &format!("unit={ha_giang}"))
        .await;
    let e = &hg_res["estimates"];
    assert_eq!(e["variance"], "clusters");
    assert_eq!(
        (e["n_clusters"].as_u64(), e["n_strata"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(e["df"].as_f64(), Some(1.0));
    let t1 = (0.475 * std::f64::consts::PI).tan();
    assert!((e["t"].as_f64().unwrap() - t1).abs() < 1e-6, "{}", e["t"]);
    for key in ["item/p1.info_forms", "group/p3", "overall/sipas"] {
        let f = figure(&hg_res, key);
        assert!((value(f) - 75.0).abs() < EPS, "{key}: {f}");
        assert!((f["se"].as_f64().unwrap() - 5.0).abs() < EPS, "{key}: {f}");
        assert!(
            (f["ci_low"].as_f64().unwrap() - (75.0 - 5.0 * t1)).abs() < 1e-5,
            "{key}: {f}"
        );
        assert!(
            (f["ci_high"].as_f64().unwrap() - (75.0 + 5.0 * t1)).abs() < 1e-5,
            "{key}: {f}"
        );
    }
    // The change: current SE 2 (z = ±0.01), previous pooled SE √7 (strata: z 0.07/0.05 and
    // −0.03/−0.04/−0.05 around their means, V = 2·0.0002 + 1.5·0.0002), df 1 and 5 − 2 = 3:
    // se = √(4 + 7), df = 1 + 3 (the two rounds stacked as one design, as R `survey` counts).
    let c = change(r, "overall/sipas");
    assert!(
        (c["se"].as_f64().unwrap() - 11f64.sqrt()).abs() < 1e-9,
        "{c}"
    );
    assert!((c["df"].as_f64().unwrap() - 4.0).abs() < 1e-12, "{c}");
    let half = (c["ci_high"].as_f64().unwrap() - c["ci_low"].as_f64().unwrap()) / 2.0;
    let t = half / 11f64.sqrt();
    // qt(0.975, 4) in R.
    assert!(
        (t - 2.776_445_105_197_793).abs() < 1e-6,
        "t = qt(0.975, 4): {t}"
    );

    // The national table of provinces: ranks this year and last, and the change.
    let body = app
        .get_ok(
            &admin,
            &report(R25, "compare", &format!("with={R23}&level=province")),
        )
        .await;
    let results = body["results"].as_array().unwrap();
    let row = |code: &str| {
        results
            .iter()
            .find(|r| r["unit"]["code"] == code)
            .unwrap_or_else(|| panic!("no {code} in {body}"))
    };
    assert_eq!(results.len(), 2, "{body}");
    let tq_row = row(tuyen_quang);
    assert_eq!(
        tq_row["rank"],
        json!({"current": 1, "previous": 2, "change": 1})
    );
    assert_eq!(tq_row["previous"]["n_forms"], 100);
    let lc_row = row("12");
    assert_eq!(
        lc_row["rank"],
        json!({"current": 2, "previous": 1, "change": -1})
    );
    assert_eq!(lc_row["current"]["n_forms"], 30);
    assert_eq!(lc_row["previous"]["n_forms"], 30);
    let c = change(lc_row, "overall/sipas");
    assert!((c["diff"].as_f64().unwrap() + 50.0).abs() < EPS, "{c}");
    assert_eq!(c["significant"], true, "{c}");

    // The nation, as published: the mean over this round's provinces (90, 50) against the mean over
    // the previous round's own provinces (75, 25, 100); pooled: all forms of each round.
    for (query, current, previous, method) in [
        (
            "",
            70.0,
            200.0 / 3.0,
            json!({"method": "mean_of_units", "units": 3}),
        ),
        (
            "&method=pooled",
            75.0,
            7500.0 / 130.0,
            json!({"method": "pooled"}),
        ),
    ] {
        let body = app
            .get_ok(
                &admin,
                &report(R25, "compare", &format!("with={R23}{query}")),
            )
            .await;
        let r = &body["results"][0];
        assert_eq!(r["unit"]["code"], "VN");
        assert_eq!(r["current"]["n_forms"], 80, "{query}");
        assert_eq!(r["previous"]["n_forms"], 130, "{query}");
        assert_eq!(r["previous"]["method"], method, "{query}");
        let c = change(r, "overall/sipas");
        assert!(
            (c["current"].as_f64().unwrap() - current).abs() < EPS,
            "{query}: {c}"
        );
        assert!(
            (c["previous"].as_f64().unwrap() - previous).abs() < EPS,
            "{query}: {c}"
        );
        assert!(
            (c["diff"].as_f64().unwrap() - (current - previous)).abs() < EPS,
            "{query}: {c}"
        );
    }

    // The same geography: every unit compared with itself, nothing changes.
    let body = app
        .get_ok(
            &admin,
            &report(R23, "compare", &format!("with={R23}&unit=12")),
        )
        .await;
    assert_eq!(body["comparison"]["method"], "same_geography");
    let r = &body["results"][0];
    assert_eq!(r["current"]["n_forms"], 30);
    assert_eq!(r["previous"]["n_forms"], 30);
    let changes = r["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["key"] == "overall/sipas"));
    for c in changes.iter().filter(|c| !c["current"].is_null()) {
        assert_eq!(c["diff"].as_f64(), Some(0.0), "{c}");
        assert_eq!(c["significant"], false, "{c}");
    }
    let body = app
        .get_ok(
            &admin,
            &report(R23, "compare", &format!("with={R23}&level=province")),
        )
        .await;
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{body}");
    for r in results {
        assert_eq!(r["rank"]["change"], 0, "{r}");
        assert_eq!(r["current"]["n_forms"], r["previous"]["n_forms"]);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Nothing counted twice, nothing lost
// ---------------------------------------------------------------------------------------------

/// Duplicates, a conflicting form, an invalid and a forbidden one do not count; only the accepted
/// forms do, and the stored per-village stats equal a recomputation from the forms. Village codes
/// spelled with another case or without diacritics are the same village.
#[tokio::test]
async fn every_accepted_form_counts_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let device = app.sync(&app.lai_chau_enumerator("dtv.lc", "device-lc-1").await);
    let c = Place::nth(R25, "12", 0);
    let other = Place::nth(R25, "12", 1);
    let mut forms = forms_top(&c, "Thôn 3", 10, 10);
    forms.extend(forms_top(&c, "thon 3", 10, 0));
    forms.extend(forms_top(&c, "  THÔN   3 ", 5, 5));
    forms.extend(forms_top(&c, "Thôn 4", 10, 5));
    forms.extend(forms_top(&other, "Bản 9", 3, 1));
    let accepted = forms.len();

    let outcomes = device.push_in_batches(&forms, 100).await;
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Accepted),
        "{outcomes:?}"
    );
    // The same batch again: all duplicates.
    let outcomes = device.push_in_batches(&forms, 100).await;
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Duplicate),
        "{outcomes:?}"
    );
    // A conflicting form (an accepted id, other content), an invalid one, a forbidden one (Sơn La)
    // and a new valid one, in one batch.
    let mut conflicting = forms[0].clone();
    conflicting.answers = uniform(1);
    let invalid = c
        .form()
        .village("Thôn 4")
        .answers(uniform(5))
        .answer("age", json!(12))
        .build();
    let forbidden = form(&Place::nth(R25, "14", 0), "Bản 1", uniform(5));
    let fresh = form(&c, "thôn 4", uniform(5));
    // The new one is sent twice in the batch: stored once.
    let outcomes = device
        .push_in_batches(
            &[conflicting, invalid, forbidden, fresh.clone(), fresh],
            100,
        )
        .await;
    assert_eq!(
        outcomes,
        [
            Outcome::Conflict,
            Outcome::Invalid,
            Outcome::Forbidden,
            Outcome::Accepted,
            Outcome::Duplicate
        ]
    );
    let accepted = accepted + 1;

    let nation = app.indices_of(&admin, R25, "method=pooled").await;
    assert_eq!(nation["n_forms"], json!(accepted));
    let res = app
        .indices_of(&admin, R25, &format!("unit={}", c.commune))
        .await;
    assert_eq!(res["n_forms"], 36);
    assert_eq!(
        res["estimates"]["n_clusters"], 2,
        "thôn 3 typed three ways is one village"
    );
    assert_eq!(res["estimates"]["n_strata"], 1);
    // 10 + 0 + 5 + 5 + 1 of 36 at the top.
    assert!((value(figure(&res, "overall/sipas")) - 2100.0 / 36.0).abs() < EPS);
    assert_eq!(figure(&res, "item/p1.info_forms")["n_valid"], 36);

    let body = app
        .get_ok(
            &admin,
            &report(R25, "indices", &format!("unit={}&level=village", c.commune)),
        )
        .await;
    let villages: Vec<(String, u64)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unit"]["code"].as_str().unwrap().to_owned(),
                r["n_forms"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut villages_sorted = villages.clone();
    villages_sorted.sort();
    assert_eq!(
        villages_sorted,
        [
            (format!("{}/thon 3", c.commune), 25),
            (format!("{}/thon 4", c.commune), 11)
        ],
        "{body}"
    );
    // A village is addressed in any spelling.
    let v = app
        .indices_of(
            &admin,
            R25,
            &format!("unit={}", query_escape(&format!("{}/THÔN 3", c.commune))),
        )
        .await;
    assert_eq!(v["unit"]["code"], format!("{}/thon 3", c.commune));
    assert_eq!(v["n_forms"], 25);
    // 25 forms: a small cell, counts only.
    assert_eq!(v["withheld"], true);
    assert_eq!(figure(&v, "item/p1.info_forms")["n_valid"], 25);
    assert_eq!(figure(&v, "overall/sipas")["n_valid"], 25 * 39);

    // The stats kept in the push transactions equal the recomputation from the forms.
    let villages = app.stats_match(R25).await;
    assert_eq!(villages.len(), 3, "{villages:?}");
    assert_eq!(
        villages.iter().map(|(_, n)| *n as usize).sum::<usize>(),
        accepted
    );
    // Nothing in the 2023 round.
    let stored23 = app.stored_stats(R23).await;
    assert!(stored23.is_empty());
}

/// Pushes from several devices at once into the same villages: every form is counted, once, and
/// the stored stats still equal the recomputation (the upsert serialises concurrent updates).
#[tokio::test]
async fn concurrent_pushes_into_one_village_lose_nothing() {
    const TASKS: usize = 4;
    const PER_TASK: usize = 40;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let c = Place::nth(R25, "12", 0);
    let mut all = Vec::new();
    for t in 0..TASKS {
        // Every task writes to both villages, in batches of 10: many interleaved transactions.
        let forms: Vec<FormSubmission> = (0..PER_TASK)
            .map(|i| {
                let village = if i % 2 == 0 { "Thôn 1" } else { "thon 2" };
                form(&c, village, uniform(if (i + t) % 4 == 0 { 5 } else { 3 }))
            })
            .collect();
        let (bodies, ministry) = (push_bodies(&forms, 10), app.sync(&admin));
        all.push(tokio::spawn(async move {
            ministry.push_serialised(bodies).await
        }));
    }
    for task in all {
        let outcomes = task.await.expect("push task");
        assert_eq!(outcomes.len(), PER_TASK);
        assert!(
            outcomes.iter().all(|o| *o == Outcome::Accepted),
            "{outcomes:?}"
        );
    }
    let total = TASKS * PER_TASK;
    let res = app
        .indices_of(&admin, R25, &format!("unit={}", c.commune))
        .await;
    assert_eq!(res["n_forms"], json!(total));
    assert_eq!(res["estimates"]["n_clusters"], 2);
    // (i + t) % 4 == 0 for a quarter of the forms.
    assert!((value(figure(&res, "overall/sipas")) - 25.0).abs() < EPS);
    assert_eq!(figure(&res, "item/s1.signage")["n_valid"], json!(total));
    let villages = app.stats_match(R25).await;
    assert_eq!(villages.len(), 2, "{villages:?}");
    assert!(villages.iter().all(|(_, n)| *n as usize == total / 2));
}

// ---------------------------------------------------------------------------------------------
// League tables
// ---------------------------------------------------------------------------------------------

/// `n` forms whose 39 items hold `k` answers at the top level in all: every item gets `k / 39`,
/// the first `k % 39` items one more; the rest at level 3.
fn forms_with_top_answers(at: &Place, n: usize, k: usize) -> Vec<FormSubmission> {
    let (q, r) = (k / 39, k % 39);
    (0..n)
        .map(|j| {
            let levels: Vec<u8> = (0..39)
                .map(|i| if j < q + usize::from(i < r) { 5 } else { 3 })
                .collect();
            form(at, "Bản 1", sipas_answers_with_levels(&levels))
        })
        .collect()
}

/// The table of districts ranks by SIPAS rounded to the published 2 decimals with competition
/// ranking: 51.0256… and 51.0339… both print 51.03 and share rank 1, the next is 3rd; values are
/// given at full precision; districts without forms are not listed.
#[tokio::test]
async fn league_tables_rank_by_the_rounded_sipas() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // SIPAS = 100 k / (39 n) when every item has n valid answers.
    let a = Place::nth(R23, "105", 0);
    let b = Place::nth(R23, "106", 0);
    let c = Place::nth(R23, "107", 0);
    let mut forms = forms_with_top_answers(&a, 30, 597);
    forms.extend(forms_with_top_answers(&b, 31, 617));
    forms.extend(forms_with_top_answers(&c, 30, 585));
    app.sync(&admin).push_accepted(&forms).await;
    let expected = [
        ("105", 30, 100.0 * 597.0 / 1170.0, 1),
        ("106", 31, 100.0 * 617.0 / 1209.0, 1),
        ("107", 30, 50.0, 3),
    ];
    assert!(expected[1].2 > expected[0].2);
    let body = app
        .get_ok(&admin, &report(R23, "indices", "unit=12&level=district"))
        .await;
    assert_eq!(body["level"], "district");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{body}");
    for (code, n, sipas, rank) in expected {
        let r = results
            .iter()
            .find(|r| r["unit"]["code"] == code)
            .unwrap_or_else(|| panic!("no {code}"));
        assert_eq!(r["unit"]["level"], "district");
        assert_eq!(r["unit"]["parent"], "12");
        assert_eq!(r["n_forms"], n, "{code}");
        assert_eq!(r["rank"], rank, "{code}");
        let got = value(figure(r, "overall/sipas"));
        assert!((got - sipas).abs() < EPS, "{code}: {got} vs {sipas}");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Errors
// ---------------------------------------------------------------------------------------------

/// Unknown rounds and units, bad levels and methods, a level on a one-unit report and a comparison
/// without `with` get problem+json answers with stable codes.
#[tokio::test]
async fn errors_are_problems_with_stable_codes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let lc = Place::nth(R23, "105", 0);
    app.sync(&admin)
        .push_accepted(&forms_top(&lc, "Bản 1", 3, 1))
        .await;
    let cases: Vec<(String, u16, &str)> = vec![
        (report("sipas-1999", "indices", ""), 404, "not_found"),
        (report("sipas-1999", "perception", ""), 404, "not_found"),
        (report("sipas-1999", "expectations", ""), 404, "not_found"),
        (
            report("sipas-1999", "compare", "with=sipas-2023"),
            404,
            "not_found",
        ),
        (report(R23, "compare", "with=sipas-1999"), 404, "not_found"),
        (report(R23, "indices", "unit=99999"), 400, "unknown_unit"),
        // Villages cannot be matched across the 2025 geography change.
        (
            report(R25, "compare", "with=sipas-2023&unit=12&level=village"),
            400,
            "bad_level",
        ),
        (report(R25, "indices", "unit=105"), 400, "unknown_unit"),
        (
            report(R23, "indices", &format!("unit={}/nowhere", lc.commune)),
            400,
            "unknown_unit",
        ),
        (report(R23, "perception", "unit=xyz"), 400, "unknown_unit"),
        (
            report(R23, "compare", "with=sipas-2023&unit=99999"),
            400,
            "unknown_unit",
        ),
        (report(R23, "indices", "level=hamlet"), 400, "bad_level"),
        (
            report(R23, "indices", "unit=12&level=province"),
            400,
            "bad_level",
        ),
        (
            report(R23, "indices", "unit=105&level=district"),
            400,
            "bad_level",
        ),
        (
            report(R25, "indices", "unit=12&level=district"),
            400,
            "bad_level",
        ),
        (report(R23, "indices", "level=nation"), 400, "bad_level"),
        (
            report(R23, "perception", "unit=12&level=district"),
            400,
            "bad_level",
        ),
        (
            report(R23, "expectations", "level=province"),
            400,
            "bad_level",
        ),
        (
            report(R23, "compare", "with=sipas-2023&level=hamlet"),
            400,
            "bad_level",
        ),
        (report(R23, "indices", "method=median"), 400, "bad_method"),
        (report(R23, "compare", ""), 400, "missing_parameter"),
        (
            report(R23, "compare", "unit=12&with="),
            400,
            "missing_parameter",
        ),
    ];
    for (path, status, code) in cases {
        let (s, headers, body) = app
            .call_full(reqwest::Method::GET, &path, Some(&admin), None)
            .await;
        assert_problem(s, &body, status, code);
        let ct = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(ct.starts_with("application/problem+json"), "{path}: {ct}");
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions
// ---------------------------------------------------------------------------------------------

/// A push batch may carry forms of several rounds (each form names its round). Here one Lai Châu form
/// of `sipas-2023` and one of `sipas-2025` in one batch: both must be accepted and counted.
#[tokio::test]
async fn a_batch_with_forms_of_two_rounds_is_accepted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let forms = [
        form(&Place::nth(R23, "12", 0), "Bản 1", uniform(5)),
        form(&Place::nth(R25, "12", 0), "Bản 1", uniform(5)),
    ];
    let body = serde_json::to_vec(&json!({ "forms": forms })).unwrap();
    let (s, resp) = app.sync(&admin).push_raw("application/json", body).await;
    assert_eq!(s, 200, "push: {resp}");
    assert_eq!(resp["results"][0]["outcome"], "accepted", "{resp}");
    assert_eq!(resp["results"][1]["outcome"], "accepted", "{resp}");
    for round in [R23, R25] {
        let res = app.indices_of(&admin, round, "unit=12").await;
        assert_eq!(res["n_forms"], 1, "{round}");
    }
}

/// Forms stored outside the sync protocol (`forms::store_accepted`, used for imports and by the
/// harness's `insert_form`) are counted in the index statistics in the same transaction.
#[tokio::test]
async fn forms_stored_directly_are_counted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let lc = Place::nth(R23, "105", 0);
    for _ in 0..3 {
        app.insert_form(lc.form().build(), None).await;
    }
    let result = app.indices_of(&admin, R23, "unit=105").await;
    assert_eq!(result["n_forms"], 3, "{result}");
    assert_eq!(result["estimates"]["n_clusters"], 1, "{result}");
    assert_eq!(result["withheld"], true, "{result}");
}

/// A form rejected after acceptance (`forms::change_status`) leaves the indices in the same
/// transaction; rejecting it again changes nothing; accepting it again brings it back.
#[tokio::test]
async fn a_form_rejected_later_leaves_the_indices() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let lc = Place::nth(R25, "12", 0);
    let forms = forms_top(&lc, "Bản 1", 4, 2);
    app.sync(&admin).push_accepted(&forms).await;
    let key = format!("{}/ban 1", lc.commune);
    assert_eq!(app.stats_match(R25).await, vec![(key.clone(), 4)]);
    let change = |status: &'static str, id| app.change_status(id, status);
    // forms_top puts the top answers first: rejecting one of them lowers the share to 1 of 3.
    assert_eq!(
        change("rejected", forms[0].id).await.as_deref(),
        Some("accepted")
    );
    assert_eq!(app.stats_match(R25).await, vec![(key.clone(), 3)]);
    let unit = format!("unit={}", query_escape(&key));
    let res = app.indices_of(&admin, R25, &unit).await;
    assert_eq!(res["n_forms"], 3, "{res}");
    assert_eq!(figure(&res, "item/s1.signage")["n_valid"], 3, "{res}");
    assert_eq!(
        change("rejected", forms[0].id).await.as_deref(),
        Some("rejected")
    );
    assert_eq!(app.stats_match(R25).await, vec![(key.clone(), 3)]);
    assert_eq!(
        change("accepted", forms[0].id).await.as_deref(),
        Some("rejected")
    );
    assert_eq!(app.stats_match(R25).await, vec![(key, 4)]);
    assert_eq!(change("rejected", Uuid::now_v7()).await, None);
}

/// The national report reuses the round's stats while they are unchanged, and sees every change at
/// once: new forms, a form rejected later, and a rebuild from the forms.
#[tokio::test]
async fn national_reports_follow_every_change() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let lc = Place::nth(R25, "12", 0);
    let first = forms_top(&lc, "Bản 1", 5, 5);
    app.sync(&admin).push_accepted(&first).await;
    assert_eq!(national_forms(&app, &admin).await, 5);
    assert_eq!(national_forms(&app, &admin).await, 5);
    app.sync(&admin)
        .push_accepted(&forms_top(&lc, "Bản 2", 3, 0))
        .await;
    assert_eq!(national_forms(&app, &admin).await, 8);
    app.change_status(first[0].id, "rejected").await;
    assert_eq!(national_forms(&app, &admin).await, 7);
    let rebuilt = app.rebuild_stats(R25).await;
    assert_eq!(rebuilt, 2);
    assert_eq!(national_forms(&app, &admin).await, 7);
    assert_eq!(app.stats_match(R25).await.len(), 2);
}

/// Forms behind the pooled national figure of 2025.
async fn national_forms(app: &TestApp, token: &str) -> u64 {
    let body = app
        .get_ok(token, &report(R25, "indices", "method=pooled"))
        .await;
    body["results"][0]["n_forms"].as_u64().expect("n_forms")
}

/// Two transactions add a form each to a village that has no stats row yet. On PostgreSQL the
/// second must wait for the row the first created (until the first commits) and then add to it,
/// not overwrite it. SQLite has one writer at a time, so there the second transaction simply runs
/// after the first; the counts must be the same.
#[tokio::test]
async fn a_village_row_created_meanwhile_is_added_to_not_overwritten() {
    use sea_orm::TransactionTrait;
    let app = spawn_app().await;
    let s = app.state.clone();
    let (layout, digest) = app.sample_digest().await;
    let c = Place::nth(R25, "12", 0);
    let now = sea_orm::prelude::TimeDateTimeWithTimeZone::now_utc();
    let first = lai_chau_village_stats(&layout, &digest, &c.commune, &["Bản Mới"]);
    let t1 = s.db.begin().await.expect("begin");
    first.apply(&t1, now).await.expect("first apply");
    // The second transaction: the same village, spelled another way.
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let second = {
        let (s, layout, digest) = (s.clone(), layout.clone(), digest.clone());
        let commune = c.commune.clone();
        async move {
            let pending = lai_chau_village_stats(&layout, &digest, &commune, &["ban moi"]);
            let t2 = s.db.begin().await.expect("begin");
            let _ = started_tx.send(());
            pending.apply(&t2, now).await.expect("second apply");
            t2.commit().await.expect("commit");
        }
    };
    if app.settings.is_sqlite() {
        t1.commit().await.expect("commit");
        second.await;
        started.await.expect("started");
    } else {
        let task = tokio::spawn(second);
        started.await.expect("started");
        // Give the second transaction time to read (nothing) and block on the new row.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !task.is_finished(),
            "the second write must wait for the first"
        );
        t1.commit().await.expect("commit");
        task.await.expect("second transaction");
    }
    let stored = app.stored_stats(R25).await;
    assert_eq!(stored.len(), 1, "one village: the codes fold to one key");
    let mut want = indices::ClusterStats::new(&layout);
    want.add_digest(&layout, &digest).expect("add");
    want.add_digest(&layout, &digest).expect("add");
    assert_eq!(stored[0].stats, want);
    assert_eq!(stored[0].stats.n_forms(), 2);
}

/// Three pushes on villages new to the round, interleaved so that, when only the rows that already
/// existed were locked before writing, PostgreSQL found a deadlock (found in review: A reads
/// {a, b, c} with a and b absent and waits for c; C creates b; B reads {a, b, d}, locks b and waits
/// for d; then A creates a and waits for b while B waits for a). Now every touched row is created
/// or locked in one statement, in key order, and every push completes with every form counted.
/// SQLite has one writer at a time: there the same pushes run one after the other and must count
/// the same.
#[tokio::test]
async fn pushes_creating_village_rows_concurrently_do_not_deadlock() {
    use sea_orm::TransactionTrait;
    let app = spawn_app().await;
    let s = app.state.clone();
    let (layout, digest) = app.sample_digest().await;
    let commune = Place::nth(R25, "12", 0).commune;
    let now = sea_orm::prelude::TimeDateTimeWithTimeZone::now_utc();
    let pending = |villages: &[&str]| lai_chau_village_stats(&layout, &digest, &commune, villages);
    let apply = |villages: &'static [&'static str]| {
        let (p, db) = (pending(villages), s.db.clone());
        async move {
            let t = db.begin().await.expect("begin");
            p.apply(&t, now).await?;
            t.commit().await
        }
    };
    // Villages c and d have rows already.
    apply(&["c", "d"]).await.expect("setup");
    if app.settings.is_sqlite() {
        for villages in [
            &["c"][..],
            &["d"],
            &["a", "b", "c"],
            &["b"],
            &["a", "b", "d"],
        ] {
            let (p, t) = (pending(villages), s.db.begin().await.expect("begin"));
            p.apply(&t, now).await.expect("apply");
            t.commit().await.expect("commit");
        }
    } else {
        let pause = || tokio::time::sleep(std::time::Duration::from_millis(400));
        // D holds c and E holds d until told to commit.
        let d = s.db.begin().await.expect("begin");
        pending(&["c"]).apply(&d, now).await.expect("apply D");
        let e = s.db.begin().await.expect("begin");
        pending(&["d"]).apply(&e, now).await.expect("apply E");
        let a = tokio::spawn(apply(&["a", "b", "c"]));
        pause().await;
        let c = tokio::spawn(apply(&["b"]));
        pause().await;
        let b = tokio::spawn(apply(&["a", "b", "d"]));
        pause().await;
        d.commit().await.expect("commit D");
        pause().await;
        e.commit().await.expect("commit E");
        for (name, task) in [("A", a), ("B", b), ("C", c)] {
            let r = task.await.expect("task");
            assert!(r.is_ok(), "push {name}: {r:?}");
        }
    }
    let stored = app.stored_stats(R25).await;
    let counted: BTreeMap<String, u32> = stored
        .iter()
        .map(|v| (v.key.cluster.clone(), v.stats.n_forms()))
        .collect();
    let want: BTreeMap<String, u32> = [("a", 2), ("b", 3), ("c", 3), ("d", 3)]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect();
    assert_eq!(counted, want);
    for v in &stored {
        let mut expected = indices::ClusterStats::new(&layout);
        for _ in 0..v.stats.n_forms() {
            expected.add_digest(&layout, &digest).expect("add");
        }
        assert_eq!(v.stats, expected, "{}", v.key.cluster);
    }
}
