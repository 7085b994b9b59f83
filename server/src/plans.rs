//! Targets and action plans, the decision rules: whether a round's result meets a target (from the
//! estimate and its 95% interval), and the change of the criteria a plan task links to. Pure: the
//! routes read the estimates and the stored targets, call these, and answer.

use std::collections::HashMap;

use indices::{Change, Estimates, Figure};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a target stands after a round's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// The estimate reaches the value.
    Met,
    /// The estimate is below the value, but the value lies inside the 95% interval: not met, yet
    /// within the margin of error.
    WithinMargin,
    /// Even the interval's upper bound is below the value.
    NotMet,
    /// No estimate (small cell, no answers, or a key the questionnaire does not have).
    NoData,
}

impl TargetStatus {
    /// The status in words, Vietnamese and English.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            TargetStatus::Met => ("Đạt", "Met"),
            TargetStatus::WithinMargin => (
                "Chưa đạt nhưng trong biên sai số",
                "Not met, but within the margin of error",
            ),
            TargetStatus::NotMet => ("Không đạt", "Not met"),
            TargetStatus::NoData => ("Không có số liệu", "No data"),
        }
    }
}

/// Evaluates `estimate >= value` with the figure's 95% interval: `met` when the estimate reaches
/// the value; `within_margin` when it does not but the interval's upper bound does; `not_met`
/// when the upper bound is below the value; `no_data` without an estimate. A figure without an
/// interval (a single form) is judged on its estimate alone.
pub fn evaluate(figure: Option<&Figure>, value: f64) -> TargetStatus {
    let Some(est) = figure.and_then(|f| f.value) else {
        return TargetStatus::NoData;
    };
    if est >= value {
        return TargetStatus::Met;
    }
    match figure.and_then(|f| f.ci_high) {
        Some(high) if high >= value => TargetStatus::WithinMargin,
        _ => TargetStatus::NotMet,
    }
}

/// Whether `key` names a figure a target can be set on: `overall/<code>`, `component/<code>`,
/// `group/<code>` or `item/<address>` of the round's estimates.
pub fn is_target_key(key: &str) -> bool {
    matches!(
        key.split_once('/'),
        Some(("overall" | "component" | "group" | "item", code)) if !code.is_empty()
    )
}

/// The figure of `key` in `est` (see [`is_target_key`]).
pub fn figure_of<'a>(est: &'a Estimates, key: &str) -> Option<&'a Figure> {
    let (kind, code) = key.split_once('/')?;
    match kind {
        "item" => est.item(code).map(|i| &i.figure),
        "overall" => est
            .overall
            .as_ref()
            .filter(|o| &*o.code == code)
            .map(|o| &o.figure),
        "component" => est
            .components
            .iter()
            .find(|c| &*c.code == code)
            .map(|c| &c.figure),
        "group" => est
            .groups
            .iter()
            .find(|g| &*g.code == code)
            .map(|g| &g.figure),
        _ => None,
    }
}

/// A target with its evaluation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetEvaluation {
    /// Target id.
    pub id: i64,
    /// The figure's key (`overall/sipas`, `group/p1`, `item/p1.info_forms`, …).
    pub key: String,
    /// The value to reach (`>=`).
    pub value: f64,
    /// The estimate this round.
    pub estimate: Option<f64>,
    /// Its 95% interval, lower bound.
    pub ci_low: Option<f64>,
    /// Its 95% interval, upper bound.
    pub ci_high: Option<f64>,
    /// The outcome.
    pub status: TargetStatus,
}

/// Evaluates a target on `key` `>= value` against `est`.
pub fn evaluate_target(id: i64, key: &str, value: f64, est: &Estimates) -> TargetEvaluation {
    let f = figure_of(est, key);
    TargetEvaluation {
        id,
        key: key.to_owned(),
        value,
        estimate: f.and_then(|f| f.value),
        ci_low: f.and_then(|f| f.ci_low),
        ci_high: f.and_then(|f| f.ci_high),
        status: evaluate(f, value),
    }
}

/// The change of one criterion a task links to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CriterionChange {
    /// The criterion's key.
    pub key: String,
    /// This round.
    pub current: Option<f64>,
    /// The previous round.
    pub previous: Option<f64>,
    /// The change.
    pub diff: Option<f64>,
    /// The change's 95% interval excludes zero.
    pub significant: bool,
}

/// A task with the change of the criteria it links to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskChange {
    /// Task id.
    pub id: i64,
    /// What is to be done.
    pub content: String,
    /// Lead agency.
    pub lead_agency: String,
    /// Status.
    pub status: String,
    /// The linked criteria and their change (empty changes when no round is compared).
    pub criteria: Vec<CriterionChange>,
}

/// The change of each of `keys` among `changes` (from `difference(current, previous)`); a key
/// without a change (no comparison, or a withheld figure) has no values.
pub fn criteria_changes(keys: &[String], changes: &[Change]) -> Vec<CriterionChange> {
    let by: HashMap<&str, &Change> = changes.iter().map(|c| (c.key.as_str(), c)).collect();
    keys.iter()
        .map(|k| match by.get(k.as_str()) {
            Some(c) => CriterionChange {
                key: k.clone(),
                current: c.current,
                previous: c.previous,
                diff: c.diff,
                significant: c.significant,
            },
            None => CriterionChange {
                key: k.clone(),
                current: None,
                previous: None,
                diff: None,
                significant: false,
            },
        })
        .collect()
}

/// Task statuses.
pub const TASK_STATUSES: [&str; 4] = ["planned", "in_progress", "done", "cancelled"];

/// Longest task content, in characters.
pub const MAX_CONTENT: usize = 4000;
/// Longest agency name (lead, or one cooperating agency), in characters.
pub const MAX_AGENCY: usize = 500;
/// Longest deadline text, in characters.
pub const MAX_DEADLINE: usize = 64;
/// Most linked criteria or cooperating agencies of a task.
pub const MAX_LIST: usize = 50;
/// Most tasks one CSV import may hold.
pub const MAX_CSV_TASKS: usize = 1000;

/// A task as given (API body or CSV line).
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct TaskInput {
    /// What is to be done.
    pub content: String,
    /// Lead agency ("Sở Nội vụ").
    pub lead_agency: String,
    /// Cooperating agencies.
    #[serde(default)]
    pub cooperating_agencies: Vec<String>,
    /// Deadline as written in the plan ("Quý III/2023", "Thường xuyên", "Năm 2023").
    pub deadline: String,
    /// The criteria it should move: figure keys (`group/p1`, `item/s1.staff_polite`, …).
    #[serde(default)]
    pub criteria: Vec<String>,
    /// `planned` (default), `in_progress`, `done` or `cancelled`.
    #[serde(default)]
    pub status: Option<String>,
}

fn field_error(field: &str, code: &str, vi: String, en: String) -> crate::error::FieldError {
    crate::error::FieldError::new(field, code, vi, en)
}

/// Checks a task (`prefix` names it in the errors, e.g. `line 3/`); `known` says whether a
/// figure key exists in the round's questionnaire. Empty when it is valid.
pub fn check_task(
    t: &TaskInput,
    prefix: &str,
    known: &dyn Fn(&str) -> bool,
) -> Vec<crate::error::FieldError> {
    let mut out = Vec::new();
    let mut text = |name: &str, v: &str, max: usize| {
        let field = format!("{prefix}{name}");
        if v.trim().is_empty() {
            out.push(field_error(
                &field,
                "required",
                format!("Thiếu '{name}'."),
                format!("'{name}' is required."),
            ));
        } else if v.chars().count() > max {
            out.push(field_error(
                &field,
                "too_long",
                format!("'{name}' dài quá {max} ký tự."),
                format!("'{name}' is longer than {max} characters."),
            ));
        } else if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            out.push(field_error(
                &field,
                "invalid_characters",
                format!("'{name}' chứa ký tự điều khiển."),
                format!("'{name}' holds a control character."),
            ));
        }
    };
    text("content", &t.content, MAX_CONTENT);
    text("lead_agency", &t.lead_agency, MAX_AGENCY);
    text("deadline", &t.deadline, MAX_DEADLINE);
    for a in &t.cooperating_agencies {
        text("cooperating_agencies", a, MAX_AGENCY);
    }
    if t.cooperating_agencies.len() > MAX_LIST || t.criteria.len() > MAX_LIST {
        out.push(field_error(
            &format!("{prefix}criteria"),
            "too_many",
            format!("Tối đa {MAX_LIST} tiêu chí và {MAX_LIST} cơ quan phối hợp."),
            format!("At most {MAX_LIST} criteria and {MAX_LIST} cooperating agencies."),
        ));
    }
    for k in &t.criteria {
        if !is_target_key(k) || !known(k) {
            out.push(field_error(
                &format!("{prefix}criteria"),
                "unknown_criterion",
                format!("Không có tiêu chí '{k}' trong bảng hỏi của đợt."),
                format!("No criterion '{k}' in the round's questionnaire."),
            ));
        }
    }
    if let Some(st) = &t.status
        && !TASK_STATUSES.contains(&st.as_str())
    {
        out.push(field_error(
            &format!("{prefix}status"),
            "bad_status",
            format!(
                "Trạng thái '{st}' không hợp lệ ({}).",
                TASK_STATUSES.join(", ")
            ),
            format!("Unknown status '{st}' ({}).", TASK_STATUSES.join(", ")),
        ));
    }
    out
}

/// Whether `period` names a reporting period: a quarter (`2023-Q3`), a half-year (`2023-H1`) or
/// a year (`2023`).
pub fn is_period(period: &str) -> bool {
    let (year, rest) = period.split_at(period.len().min(4));
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && matches!(rest, "" | "-Q1" | "-Q2" | "-Q3" | "-Q4" | "-H1" | "-H2")
}

/// The columns of a task table (CSV): agencies and criteria separated by `;`.
pub const CSV_COLUMNS: [&str; 6] = [
    "content",
    "lead_agency",
    "cooperating_agencies",
    "deadline",
    "criteria",
    "status",
];

/// Parses a task table: a header line with [`CSV_COLUMNS`] (`status` optional), then one task
/// per line. All or nothing: every line is checked and every error returned with its line
/// number (`line N/column`), or the tasks.
pub fn parse_tasks_csv(
    text: &str,
    known: &dyn Fn(&str) -> bool,
) -> Result<Vec<TaskInput>, Vec<crate::error::FieldError>> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = match r.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![field_error(
                "line 1",
                "bad_csv",
                format!("Không đọc được dòng tiêu đề: {e}."),
                format!("Cannot read the header line: {e}."),
            )]);
        }
    };
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let missing: Vec<&str> = CSV_COLUMNS[..5]
        .iter()
        .copied()
        .filter(|c| col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(vec![field_error(
            "line 1",
            "missing_columns",
            format!(
                "Thiếu cột: {} (cần: {}).",
                missing.join(", "),
                CSV_COLUMNS.join(",")
            ),
            format!(
                "Missing column(s): {} (expected: {}).",
                missing.join(", "),
                CSV_COLUMNS.join(",")
            ),
        )]);
    }
    let idx: Vec<Option<usize>> = CSV_COLUMNS.iter().map(|c| col(c)).collect();
    let mut tasks = Vec::new();
    let mut errors = Vec::new();
    for rec in r.records() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(field_error(
                    &format!("line {line}"),
                    "bad_csv",
                    format!("Dòng {line} không đọc được: {e}."),
                    format!("Line {line} cannot be read: {e}."),
                ));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let get = |i: usize| idx[i].and_then(|j| rec.get(j)).unwrap_or("").to_owned();
        let list = |i: usize| -> Vec<String> {
            get(i)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let status = get(5);
        let t = TaskInput {
            content: get(0),
            lead_agency: get(1),
            cooperating_agencies: list(2),
            deadline: get(3),
            criteria: list(4),
            status: (!status.is_empty()).then_some(status),
        };
        errors.extend(check_task(&t, &format!("line {line}/"), known));
        tasks.push(t);
    }
    if tasks.len() > MAX_CSV_TASKS {
        errors.push(field_error(
            "file",
            "too_many_tasks",
            format!("Tối đa {MAX_CSV_TASKS} nhiệm vụ mỗi lần nhập."),
            format!("At most {MAX_CSV_TASKS} tasks per import."),
        ));
    }
    if tasks.is_empty() && errors.is_empty() {
        errors.push(field_error(
            "file",
            "empty",
            "Tệp không có nhiệm vụ nào.".into(),
            "The file holds no task.".into(),
        ));
    }
    if errors.is_empty() {
        Ok(tasks)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(value: f64, low: f64, high: f64) -> Figure {
        Figure {
            value: Some(value),
            se: Some((high - low) / 3.92),
            ci_low: Some(low),
            ci_high: Some(high),
            n_valid: 100,
        }
    }

    #[test]
    fn a_target_is_met_not_met_or_within_the_margin() {
        // Sơn La's target: SIPAS >= 90. Estimate 91.2 (89.9–92.5): met.
        assert_eq!(
            evaluate(Some(&fig(91.2, 89.9, 92.5)), 90.0),
            TargetStatus::Met
        );
        // Exactly on the value: met.
        assert_eq!(
            evaluate(Some(&fig(90.0, 88.0, 92.0)), 90.0),
            TargetStatus::Met
        );
        // 88.7 (87.1–90.3): below, but 90 lies inside the interval.
        assert_eq!(
            evaluate(Some(&fig(88.7, 87.1, 90.3)), 90.0),
            TargetStatus::WithinMargin
        );
        // The upper bound exactly on the value still counts as within the margin.
        assert_eq!(
            evaluate(Some(&fig(88.0, 86.0, 90.0)), 90.0),
            TargetStatus::WithinMargin
        );
        // 85.3 (83.0–87.6): the whole interval is below 90.
        assert_eq!(
            evaluate(Some(&fig(85.3, 83.0, 87.6)), 90.0),
            TargetStatus::NotMet
        );
    }

    #[test]
    fn no_estimate_is_no_data_and_no_interval_judges_the_estimate() {
        assert_eq!(evaluate(None, 90.0), TargetStatus::NoData);
        let withheld = Figure {
            n_valid: 3,
            ..Figure::default()
        };
        assert_eq!(evaluate(Some(&withheld), 90.0), TargetStatus::NoData);
        let single = Figure {
            value: Some(80.0),
            n_valid: 1,
            ..Figure::default()
        };
        assert_eq!(evaluate(Some(&single), 90.0), TargetStatus::NotMet);
        assert_eq!(evaluate(Some(&single), 75.0), TargetStatus::Met);
    }

    #[test]
    fn target_keys_name_an_index_figure() {
        for ok in [
            "overall/sipas",
            "component/policy",
            "group/p1",
            "item/p1.info_forms",
        ] {
            assert!(is_target_key(ok), "{ok}");
        }
        for bad in [
            "",
            "sipas",
            "overall/",
            "choice/expectations/x",
            "row/q/top_two_share",
        ] {
            assert!(!is_target_key(bad), "{bad}");
        }
    }

    #[test]
    fn criteria_changes_follow_the_comparison() {
        let changes = vec![Change {
            key: "group/p1".into(),
            current: Some(80.0),
            previous: Some(75.0),
            diff: Some(5.0),
            se: Some(1.0),
            df: Some(10.0),
            ci_low: Some(2.77),
            ci_high: Some(7.23),
            significant: true,
        }];
        let got = criteria_changes(&["group/p1".into(), "group/s1".into()], &changes);
        assert_eq!(got[0].diff, Some(5.0));
        assert!(got[0].significant);
        assert_eq!(got[1].diff, None);
        assert!(!got[1].significant);
    }
    #[test]
    fn periods_are_quarters_halves_or_years() {
        for ok in ["2023", "2023-Q1", "2023-Q4", "2024-H1", "2024-H2"] {
            assert!(is_period(ok), "{ok}");
        }
        for bad in [
            "", "23", "2023-Q5", "2023-H3", "2023Q1", "abcd", "2023-", "20234",
        ] {
            assert!(!is_period(bad), "{bad}");
        }
    }

    #[test]
    fn a_task_table_is_read_or_every_bad_line_is_named() {
        let known = |k: &str| k == "group/p1" || k == "overall/sipas";
        let good = "content,lead_agency,cooperating_agencies,deadline,criteria,status\n\
            Tuyên truyền pháp luật,Sở Tư pháp,Các sở; UBND cấp huyện,Năm 2023,group/p1,\n\
            Kiểm tra công vụ,Sở Nội vụ,,Quý III/2023,overall/sipas;group/p1,in_progress\n";
        let tasks = parse_tasks_csv(good, &known).expect("valid");
        assert_eq!(tasks.len(), 2);
        assert_eq!(
            tasks[0].cooperating_agencies,
            vec!["Các sở", "UBND cấp huyện"]
        );
        assert_eq!(tasks[0].status, None);
        assert_eq!(tasks[1].criteria, vec!["overall/sipas", "group/p1"]);
        let bad = "content,lead_agency,cooperating_agencies,deadline,criteria,status\n\
            Tuyên truyền,Sở Tư pháp,,Năm 2023,group/p1,\n\
            ,Sở Nội vụ,,Quý III/2023,group/zz,finished\n";
        let errors = parse_tasks_csv(bad, &known).expect_err("line 3 is bad");
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("line 3/content", "required"),
                ("line 3/criteria", "unknown_criterion"),
                ("line 3/status", "bad_status"),
            ]
        );
        let errors = parse_tasks_csv("content,deadline\nx,y\n", &known).expect_err("columns");
        assert_eq!(errors[0].code, "missing_columns");
        let errors = parse_tasks_csv(&CSV_COLUMNS.join(","), &known).expect_err("empty");
        assert_eq!(errors[0].code, "empty");
    }
}
