//! The provincial report (the structure of Lai Châu's SIPAS analysis), as a pure model: the
//! estimates the index API gives (this round, the previous one, the provinces' table, the units
//! below) go in, sections with every figure come out. Renderers ([`html`]) only lay the sections
//! out; nothing here reads the database or estimates anything, so the report's numbers are the
//! API's numbers.

pub mod docx;
pub mod html;

use std::collections::HashMap;

use indices::{Change, Estimates, Figure};
use schema::{Label, QuestionKind, Questionnaire};
use serde::Serialize;

use crate::reports::{UnitLevel, UnitRef};

/// The language a report is written in: Vietnamese first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Vietnamese (comma as the decimal separator).
    Vi,
    /// English (point as the decimal separator).
    En,
}

impl Lang {
    /// Parses `vi` / `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The text in this language (`vi` first).
    pub fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// A questionnaire label in this language (Vietnamese where there is no English).
    pub fn label(self, l: &Label) -> String {
        match self {
            Lang::Vi => l.vi.clone(),
            Lang::En => l.en.clone().unwrap_or_else(|| l.vi.clone()),
        }
    }

    /// A number as published: two decimals, comma (vi) or point (en) as the decimal separator.
    pub fn num(self, v: f64) -> String {
        let s = format!("{v:.2}");
        // "-0.00" reads as a change; print it as "0.00".
        let s = if s == "-0.00" { "0.00".to_owned() } else { s };
        match self {
            Lang::Vi => s.replace('.', ","),
            Lang::En => s,
        }
    }

    /// A signed number (`+0,48`, `-1,20`).
    pub fn signed(self, v: f64) -> String {
        let s = self.num(v);
        if s.starts_with('-') || s.trim_start_matches(['0', ',', '.']).is_empty() {
            s
        } else {
            format!("+{s}")
        }
    }

    /// An optional number, `—` when withheld or absent.
    pub fn opt(self, v: Option<f64>) -> String {
        v.map_or_else(|| "—".to_owned(), |v| self.num(v))
    }
}

/// What kind of figure an index row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// The overall index (SIPAS).
    Overall,
    /// A component (policy, service).
    Component,
    /// A group (P1…S5).
    Group,
    /// An item.
    Item,
}

/// One figure of Part 2: this round, the previous one, the change and the rank among provinces.
#[derive(Debug, Clone, Serialize)]
pub struct IndexRow {
    /// The key the API uses (`item/p1.info_forms`, `group/p1`, `component/policy`, `overall/sipas`).
    pub key: String,
    /// Kind.
    pub kind: RowKind,
    /// The group it belongs to (an item's group, a group's own code).
    pub group: Option<String>,
    /// Name.
    pub label: String,
    /// This round's figure.
    pub current: Figure,
    /// The previous round's value.
    pub previous: Option<f64>,
    /// The change with its 95% interval (from [`indices::difference`]).
    pub change: Option<Change>,
    /// Rank among provinces this round (a province's report).
    pub rank: Option<u32>,
    /// Rank among provinces in the previous round.
    pub previous_rank: Option<u32>,
}

impl IndexRow {
    /// The change's value, if both rounds have one.
    pub fn diff(&self) -> Option<f64> {
        self.change.as_ref().and_then(|c| c.diff)
    }

    /// Whether the change's 95% interval excludes zero.
    pub fn significant(&self) -> bool {
        self.change.as_ref().is_some_and(|c| c.significant)
    }
}

/// A share of one option (Part 1 and Part 3).
#[derive(Debug, Clone, Serialize)]
pub struct ShareRow {
    /// Option code.
    pub code: String,
    /// Option name.
    pub label: String,
    /// Respondents choosing it.
    pub n_chosen: u64,
    /// The share (%), withheld in a small cell.
    pub share: Option<f64>,
    /// Rank among the question's options (1 = most chosen).
    pub rank: Option<u32>,
}

/// One perception criterion (Part 1): shares per option, or per row the share at the top two
/// levels and the mean level.
#[derive(Debug, Clone, Serialize)]
pub struct PerceptionBlock {
    /// Question code.
    pub question: String,
    /// The criterion as asked.
    pub label: String,
    /// Respondents answering (choice questions).
    pub n_answered: u64,
    /// Options with shares, in questionnaire order.
    pub options: Vec<ShareRow>,
    /// Level rows: (row label, top-two share, mean level).
    pub levels: Vec<LevelRow>,
}

/// A level row of a perception criterion.
#[derive(Debug, Clone, Serialize)]
pub struct LevelRow {
    /// Key: `question` or `question.item`.
    pub key: String,
    /// Row name.
    pub label: String,
    /// Share at the top two levels (%).
    pub top_two_share: Option<f64>,
    /// Mean level.
    pub mean_level: Option<f64>,
}

/// One unit below the report's unit (districts or communes; provinces for the nation).
#[derive(Debug, Clone, Serialize)]
pub struct SubunitRow {
    /// The unit.
    pub unit: UnitRef,
    /// Forms.
    pub n_forms: u64,
    /// Withheld as a small cell.
    pub withheld: bool,
    /// SIPAS.
    pub sipas: Option<f64>,
    /// Policy component.
    pub policy: Option<f64>,
    /// Service component.
    pub service: Option<f64>,
    /// Rank among the units listed.
    pub rank: Option<u32>,
}

/// One province of the national league table (the ranked bar chart).
#[derive(Debug, Clone, Serialize)]
pub struct ProvinceBar {
    /// Province code.
    pub code: String,
    /// Name.
    pub name: String,
    /// SIPAS.
    pub sipas: Option<f64>,
    /// Rank.
    pub rank: Option<u32>,
}

/// The sample behind the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Forms counted.
    pub n_forms: u64,
    /// Villages with forms.
    pub n_villages: u64,
    /// Communes with forms.
    pub n_communes: u64,
    /// First interview date (`YYYY-MM-DD`).
    pub first: Option<String>,
    /// Last interview date (`YYYY-MM-DD`).
    pub last: Option<String>,
}

/// The headline: SIPAS, its change, rank and rank change.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    /// SIPAS this round.
    pub sipas: Option<f64>,
    /// SIPAS in the previous round.
    pub previous: Option<f64>,
    /// The change with its interval.
    pub change: Option<Change>,
    /// Rank among provinces this round.
    pub rank: Option<u32>,
    /// Rank among provinces in the previous round.
    pub previous_rank: Option<u32>,
    /// Rank change (positive = moved up).
    pub rank_change: Option<i64>,
    /// Provinces ranked (with an estimate: a withheld province has no rank).
    pub n_ranked: usize,
}

/// A target as evaluated for the report section "Mục tiêu và kế hoạch".
pub use crate::plans::{TargetEvaluation, TaskChange};

/// The report: every section, figures unformatted.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Language.
    pub lang: Lang,
    /// Round code.
    pub round: String,
    /// Round title.
    pub round_title: String,
    /// The round compared with, if any.
    pub with: Option<String>,
    /// The unit.
    pub unit: UnitRef,
    /// The small-cell minimum applied.
    pub min_cell: u32,
    /// The unit's sample is below the minimum: every figure is withheld.
    pub insufficient: bool,
    /// Headline.
    pub headline: Headline,
    /// Part 1.
    pub perception: Vec<PerceptionBlock>,
    /// Part 2: SIPAS, components, groups and items, in that order of the questionnaire.
    pub indices: Vec<IndexRow>,
    /// Part 3: expectations, ranked.
    pub expectations: Vec<ShareRow>,
    /// The items with the lowest values this round (up to five).
    pub weakest: Vec<String>,
    /// The items with the largest increase (up to five).
    pub most_improved: Vec<String>,
    /// Units below.
    pub subunits: Vec<SubunitRow>,
    /// The level of `subunits`.
    pub subunit_level: Option<UnitLevel>,
    /// The provinces' league table.
    pub provinces: Vec<ProvinceBar>,
    /// The sample.
    pub sample: Sample,
    /// Targets of the unit for this round, evaluated.
    pub targets: Vec<TargetEvaluation>,
    /// Plan tasks with the change of the criteria they link to.
    pub tasks: Vec<TaskChange>,
}

/// One province in the inputs: its estimates this round and (when compared) last round, and
/// its league-table ranks.
pub struct ProvinceInput<'a> {
    /// The province.
    pub unit: &'a UnitRef,
    /// This round.
    pub current: &'a Estimates,
    /// The previous round.
    pub previous: Option<&'a Estimates>,
    /// Rank this round.
    pub rank: Option<u32>,
    /// Rank in the previous round.
    pub previous_rank: Option<u32>,
}

/// What a report is built from: the API's estimates for the same round and unit.
pub struct Inputs<'a> {
    /// Language.
    pub lang: Lang,
    /// Round code.
    pub round: &'a str,
    /// Round title (in `lang`).
    pub round_title: &'a str,
    /// The round compared with.
    pub with: Option<&'a str>,
    /// The questionnaire (labels, Part 1 questions).
    pub questionnaire: &'a Questionnaire,
    /// Code of the section whose questions are Part 1.
    pub perception_section: &'a str,
    /// The expectations question (Part 3).
    pub expectations_question: &'a str,
    /// The unit.
    pub unit: &'a UnitRef,
    /// Its estimates this round.
    pub current: &'a Estimates,
    /// Its estimates in the previous round.
    pub previous: Option<&'a Estimates>,
    /// The changes (`difference(current, previous)`).
    pub changes: &'a [Change],
    /// Every province (for ranks and the league table).
    pub provinces: &'a [ProvinceInput<'a>],
    /// The units below, with their ranks.
    pub subunits: &'a [(UnitRef, Estimates, Option<u32>)],
    /// Their level.
    pub subunit_level: Option<UnitLevel>,
    /// The sample.
    pub sample: Sample,
    /// Targets evaluated.
    pub targets: Vec<TargetEvaluation>,
    /// Tasks with their criteria's change.
    pub tasks: Vec<TaskChange>,
}

/// The value a figure is ranked on: rounded to the published two decimals (as
/// [`crate::reports::ranking_value`]).
fn rank_value(v: Option<f64>) -> Option<f64> {
    v.map(|v| (v * 100.0).round() / 100.0)
}

/// Rank of `code`'s value of `key` among the provinces (competition ranking on the published
/// two decimals); `None` when `code` is not a province listed or has no value.
pub fn rank_among(
    provinces: &[(&str, HashMap<String, Option<f64>>)],
    code: &str,
    key: &str,
) -> Option<u32> {
    let values: Vec<Option<f64>> = provinces
        .iter()
        .map(|(_, m)| rank_value(m.get(key).copied().flatten()))
        .collect();
    let ranks = indices::rank(&values);
    provinces
        .iter()
        .position(|(c, _)| *c == code)
        .and_then(|i| ranks[i])
}

fn values_by_key(e: &Estimates) -> HashMap<String, Option<f64>> {
    e.keyed_figures()
        .into_iter()
        .map(|(k, f)| (k, f.value))
        .collect()
}

/// Names of index groups, components, the overall index and items, from the questionnaire.
fn index_labels(q: &Questionnaire, lang: Lang) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(index) = &q.index {
        for g in &index.groups {
            out.insert(format!("group/{}", g.code), lang.label(&g.label));
        }
        for c in &index.components {
            out.insert(format!("component/{}", c.code), lang.label(&c.label));
        }
        out.insert(
            format!("overall/{}", index.overall.code),
            lang.label(&index.overall.label),
        );
    }
    for item in q.index_items() {
        out.insert(
            format!("item/{}", item.address),
            row_label(q, &item.question, item.item.as_deref(), lang),
        );
    }
    out
}

/// The name of a level question or one of its grid rows.
fn row_label(q: &Questionnaire, question: &str, item: Option<&str>, lang: Lang) -> String {
    let Some(qn) = q.question(question) else {
        return question.to_owned();
    };
    match (&qn.kind, item) {
        (QuestionKind::Grid { items, .. }, Some(code)) => items
            .iter()
            .find(|i| i.code == code)
            .map_or_else(|| code.to_owned(), |i| lang.label(&i.label)),
        _ => lang.label(&qn.label),
    }
}

fn option_label(q: &Questionnaire, question: &str, option: &str, lang: Lang) -> String {
    q.question(question)
        .and_then(|qn| qn.kind.options().iter().find(|o| o.code == option))
        .map_or_else(|| option.to_owned(), |o| lang.label(&o.label))
}

/// Builds the report from its inputs.
pub fn build(inp: Inputs<'_>) -> Report {
    let lang = inp.lang;
    let q = inp.questionnaire;
    let labels = index_labels(q, lang);
    let changes: HashMap<&str, &Change> = inp.changes.iter().map(|c| (&*c.key, c)).collect();
    let previous: HashMap<String, Option<f64>> =
        inp.previous.map(values_by_key).unwrap_or_default();
    let current_table: Vec<(&str, HashMap<String, Option<f64>>)> = inp
        .provinces
        .iter()
        .map(|p| (p.unit.code.as_str(), values_by_key(p.current)))
        .collect();
    let previous_table: Vec<(&str, HashMap<String, Option<f64>>)> = inp
        .provinces
        .iter()
        .filter_map(|p| Some((p.unit.code.as_str(), values_by_key(p.previous?))))
        .collect();
    let is_province = inp.unit.level == UnitLevel::Province;
    let rank_of = |table: &[(&str, HashMap<String, Option<f64>>)], key: &str| {
        if is_province {
            rank_among(table, &inp.unit.code, key)
        } else {
            None
        }
    };

    // Part 2: overall, components, then each group followed by its items.
    let mut indices_rows = Vec::new();
    let mut push = |key: String, kind: RowKind, group: Option<String>, figure: Figure| {
        indices_rows.push(IndexRow {
            label: labels.get(&key).cloned().unwrap_or_else(|| key.clone()),
            previous: previous.get(&key).copied().flatten(),
            change: changes.get(key.as_str()).map(|c| (*c).clone()),
            rank: rank_of(&current_table, &key),
            previous_rank: if inp.previous.is_some() {
                rank_of(&previous_table, &key)
            } else {
                None
            },
            key,
            kind,
            group,
            current: figure,
        });
    };
    let e = inp.current;
    if let Some(o) = &e.overall {
        push(
            format!("overall/{}", o.code),
            RowKind::Overall,
            None,
            o.figure,
        );
    }
    for c in &e.components {
        push(
            format!("component/{}", c.code),
            RowKind::Component,
            None,
            c.figure,
        );
    }
    for g in &e.groups {
        push(
            format!("group/{}", g.code),
            RowKind::Group,
            Some(g.code.to_string()),
            g.figure,
        );
        for i in e.items.iter().filter(|i| i.group == g.code) {
            push(
                format!("item/{}", i.address),
                RowKind::Item,
                Some(g.code.to_string()),
                i.figure,
            );
        }
    }

    let overall_row = indices_rows.iter().find(|r| r.kind == RowKind::Overall);
    let headline = Headline {
        sipas: overall_row.and_then(|r| r.current.value),
        previous: overall_row.and_then(|r| r.previous),
        change: overall_row.and_then(|r| r.change.clone()),
        rank: overall_row.and_then(|r| r.rank),
        previous_rank: overall_row.and_then(|r| r.previous_rank),
        rank_change: overall_row.and_then(|r| indices::rank_change(r.rank, r.previous_rank)),
        n_ranked: inp.provinces.iter().filter(|p| p.rank.is_some()).count(),
    };

    // The weakest items (lowest this round) and the most improved (largest increase).
    let items: Vec<&IndexRow> = indices_rows
        .iter()
        .filter(|r| r.kind == RowKind::Item)
        .collect();
    let mut weakest: Vec<&IndexRow> = items
        .iter()
        .copied()
        .filter(|r| r.current.value.is_some())
        .collect();
    weakest.sort_by(|a, b| {
        a.current
            .value
            .partial_cmp(&b.current.value)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut improved: Vec<&IndexRow> = items
        .iter()
        .copied()
        .filter(|r| r.diff().is_some_and(|d| d > 0.0))
        .collect();
    improved.sort_by(|a, b| {
        b.diff()
            .partial_cmp(&a.diff())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let weakest: Vec<String> = weakest.iter().take(5).map(|r| r.key.clone()).collect();
    let most_improved: Vec<String> = improved.iter().take(5).map(|r| r.key.clone()).collect();

    // Part 1: the perception section's choice questions and level rows.
    let mut perception = Vec::new();
    for section in q
        .sections
        .iter()
        .filter(|s| s.code == inp.perception_section)
    {
        for qn in &section.questions {
            let choice = e.choice(&qn.code);
            let levels: Vec<LevelRow> = e
                .rows
                .iter()
                .filter(|r| *r.question == *qn.code)
                .map(|r| LevelRow {
                    key: match &r.item {
                        Some(i) => format!("{}.{}", r.question, i),
                        None => r.question.to_string(),
                    },
                    label: row_label(q, &r.question, r.item.as_deref(), lang),
                    top_two_share: r.top_two_share.value,
                    mean_level: r.mean_level.value,
                })
                .collect();
            if choice.is_none() && levels.is_empty() {
                continue;
            }
            perception.push(PerceptionBlock {
                question: qn.code.clone(),
                label: lang.label(&qn.label),
                n_answered: choice.map_or(0, |c| c.n_answered),
                options: choice
                    .map(|c| {
                        c.options
                            .iter()
                            .map(|o| ShareRow {
                                code: o.code.to_string(),
                                label: option_label(q, &qn.code, &o.code, lang),
                                n_chosen: o.n_chosen,
                                share: o.share.value,
                                rank: o.rank,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                levels,
            });
        }
    }

    let expectations = e
        .ranked_options(inp.expectations_question)
        .into_iter()
        .map(|o| ShareRow {
            code: o.code.to_string(),
            label: option_label(q, inp.expectations_question, &o.code, lang),
            n_chosen: o.n_chosen,
            share: o.share.value,
            rank: o.rank,
        })
        .collect();

    let subunits = inp
        .subunits
        .iter()
        .map(|(u, est, rank)| SubunitRow {
            unit: u.clone(),
            n_forms: est.n_forms,
            withheld: est.withheld,
            sipas: est.overall.as_ref().and_then(|o| o.figure.value),
            policy: est.index("policy").and_then(|c| c.figure.value),
            service: est.index("service").and_then(|c| c.figure.value),
            rank: *rank,
        })
        .collect();
    let mut provinces: Vec<ProvinceBar> = inp
        .provinces
        .iter()
        .map(|p| ProvinceBar {
            code: p.unit.code.clone(),
            name: p.unit.name.clone(),
            sipas: p.current.overall.as_ref().and_then(|o| o.figure.value),
            rank: p.rank,
        })
        .collect();
    provinces.sort_by_key(|p| (p.rank.unwrap_or(u32::MAX), p.code.clone()));

    Report {
        lang,
        round: inp.round.to_owned(),
        round_title: inp.round_title.to_owned(),
        with: inp.with.map(str::to_owned),
        unit: inp.unit.clone(),
        min_cell: e.min_cell,
        insufficient: e.withheld,
        headline,
        perception,
        indices: indices_rows,
        expectations,
        weakest,
        most_improved,
        subunits,
        subunit_level: inp.subunit_level,
        provinces,
        sample: inp.sample,
        targets: inp.targets,
        tasks: inp.tasks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_follow_the_language() {
        assert_eq!(Lang::Vi.num(79.824), "79,82");
        assert_eq!(Lang::En.num(79.826), "79.83");
        assert_eq!(Lang::Vi.signed(0.48), "+0,48");
        assert_eq!(Lang::En.signed(-15.0), "-15.00");
        assert_eq!(Lang::Vi.signed(-0.001), "0,00");
        assert_eq!(Lang::Vi.opt(None), "—");
    }

    #[test]
    fn ranks_among_provinces_use_two_decimals_and_ties_share_a_rank() {
        let m = |v: Option<f64>| HashMap::from([("overall/sipas".to_owned(), v)]);
        let table = vec![
            ("01", m(Some(80.004))),
            ("02", m(Some(79.999))),
            ("03", m(Some(85.0))),
            ("04", m(None)),
        ];
        // 80.00 and 80.00 tie behind 85.00.
        assert_eq!(rank_among(&table, "03", "overall/sipas"), Some(1));
        assert_eq!(rank_among(&table, "01", "overall/sipas"), Some(2));
        assert_eq!(rank_among(&table, "02", "overall/sipas"), Some(2));
        assert_eq!(rank_among(&table, "04", "overall/sipas"), None);
        assert_eq!(rank_among(&table, "99", "overall/sipas"), None);
    }
    /// Estimates of the SIPAS questionnaire with item `k` at `base + k` (groups and the
    /// components at `base`), as the API serialises them.
    fn estimates(base: f64, withheld: bool) -> Estimates {
        let q = schema::builtin::sipas();
        let fig = |v: f64| {
            json!({"value": if withheld { None } else { Some(v) }, "se": 1.0,
                   "ci_low": v - 2.0, "ci_high": v + 2.0, "n_valid": 100})
        };
        let items: Vec<serde_json::Value> = q
            .index_items()
            .iter()
            .enumerate()
            .map(|(k, i)| json!({"address": i.address, "group": i.group, "n_special": 0, "figure": fig(base + k as f64)}))
            .collect();
        let index = q.index.as_ref().unwrap();
        let groups: Vec<serde_json::Value> = index
            .groups
            .iter()
            .map(|g| json!({"code": g.code, "n_items": g.items.len(), "figure": fig(base)}))
            .collect();
        let components: Vec<serde_json::Value> = index
            .components
            .iter()
            .map(|c| json!({"code": c.code, "n_items": 1, "figure": fig(base)}))
            .collect();
        serde_json::from_value(json!({
            "questionnaire": "sipas", "version": 1, "method": {"method": "pooled"},
            "variance": "clusters", "n_forms": 100, "n_clusters": 4, "n_strata": 1, "n_psus": 4,
            "df": 3.0, "t": 3.18, "min_cell": 30, "withheld": withheld,
            "items": items, "groups": groups, "components": components,
            "overall": {"code": "sipas", "n_items": 39, "figure": fig(base)},
            "choices": [], "rows": [],
        }))
        .expect("estimates")
    }

    fn unit(code: &str) -> UnitRef {
        UnitRef {
            code: code.into(),
            level: UnitLevel::Province,
            name: format!("Tỉnh {code}"),
            parent: Some("VN".into()),
        }
    }

    #[test]
    fn the_report_orders_ranks_and_picks_the_weakest_and_most_improved() {
        let q = schema::builtin::sipas();
        let (a, b) = (unit("12"), unit("14"));
        let cur_a = estimates(70.0, false);
        let cur_b = estimates(80.0, false);
        // Last year Lai Châu was ahead (75 against 60).
        let prev_a = estimates(75.0, false);
        let prev_b = estimates(60.0, false);
        let mut changes = indices::difference(&cur_a, &prev_a);
        // Item 10 rose most, item 3 next (made up in the comparison only).
        for c in changes.iter_mut() {
            let k = q
                .index_items()
                .iter()
                .position(|i| c.key == format!("item/{}", i.address));
            c.diff = match k {
                Some(10) => Some(9.0),
                Some(3) => Some(4.0),
                Some(_) => Some(-5.0),
                None => c.diff,
            };
        }
        let provinces = [
            ProvinceInput {
                unit: &a,
                current: &cur_a,
                previous: Some(&prev_a),
                rank: Some(2),
                previous_rank: Some(1),
            },
            ProvinceInput {
                unit: &b,
                current: &cur_b,
                previous: Some(&prev_b),
                rank: Some(1),
                previous_rank: Some(2),
            },
        ];
        let r = build(Inputs {
            lang: Lang::Vi,
            round: "sipas-2025",
            round_title: "Khảo sát SIPAS năm 2025",
            with: Some("sipas-2023"),
            questionnaire: q,
            perception_section: "part1",
            expectations_question: "expectations",
            unit: &a,
            current: &cur_a,
            previous: Some(&prev_a),
            changes: &changes,
            provinces: &provinces,
            subunits: &[],
            subunit_level: None,
            sample: Sample::default(),
            targets: Vec::new(),
            tasks: Vec::new(),
        });
        // SIPAS, the components, then each group followed by its items.
        assert_eq!(r.indices[0].key, "overall/sipas");
        assert_eq!(r.indices[1].kind, RowKind::Component);
        assert_eq!(r.indices[3].key, "group/p1");
        assert_eq!(r.indices[4].kind, RowKind::Item);
        assert_eq!(r.indices.len(), 1 + 2 + 9 + 39);
        // The headline: 70 against 75, second of two, down one place.
        assert_eq!(r.headline.sipas, Some(70.0));
        assert_eq!(r.headline.previous, Some(75.0));
        assert_eq!(r.headline.change.as_ref().and_then(|c| c.diff), Some(-5.0));
        assert_eq!(
            (
                r.headline.rank,
                r.headline.previous_rank,
                r.headline.rank_change
            ),
            (Some(2), Some(1), Some(-1))
        );
        assert_eq!(r.headline.n_ranked, 2);
        // Every figure ranked among the two provinces: item k is 70 + k against 80 + k.
        assert!(
            r.indices
                .iter()
                .all(|x| x.rank == Some(2) && x.previous_rank == Some(1))
        );
        // The weakest: the first five items (70, 71, …); the most improved: items 10 and 3 only.
        let addresses: Vec<String> = q
            .index_items()
            .iter()
            .map(|i| format!("item/{}", i.address))
            .collect();
        assert_eq!(r.weakest, addresses[..5].to_vec());
        assert_eq!(
            r.most_improved,
            vec![addresses[10].clone(), addresses[3].clone()]
        );
        // Labels come from the questionnaire.
        assert!(
            r.indices[0].label.contains("SIPAS"),
            "{}",
            r.indices[0].label
        );
        assert_eq!(r.provinces[0].code, "14");
        assert!(!r.insufficient);
    }

    #[test]
    fn a_withheld_unit_is_insufficient_and_has_no_weakest_items() {
        let q = schema::builtin::sipas();
        let a = unit("01");
        let cur = estimates(70.0, true);
        let r = build(Inputs {
            lang: Lang::En,
            round: "sipas-2025",
            round_title: "SIPAS 2025",
            with: None,
            questionnaire: q,
            perception_section: "part1",
            expectations_question: "expectations",
            unit: &a,
            current: &cur,
            previous: None,
            changes: &[],
            provinces: &[ProvinceInput {
                unit: &a,
                current: &cur,
                previous: None,
                rank: None,
                previous_rank: None,
            }],
            subunits: &[],
            subunit_level: None,
            sample: Sample::default(),
            targets: Vec::new(),
            tasks: Vec::new(),
        });
        assert!(r.insufficient);
        assert!(r.weakest.is_empty() && r.most_improved.is_empty());
        assert!(
            r.indices
                .iter()
                .all(|x| x.current.value.is_none() && x.rank.is_none())
        );
        assert_eq!(r.headline.n_ranked, 0);
    }
}
