//! The report as one self-contained HTML page: inline CSS and inline SVG charts, no script and
//! nothing loaded from anywhere (it passes a `default-src 'none'; style-src 'unsafe-inline'`
//! policy). Tables carry `data-key` / `data-col` attributes so that they can be read back.

use std::fmt::Write;

use super::{IndexRow, Lang, Report, RowKind};
use crate::plans::TargetStatus;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:'Times New Roman',serif;max-width:60em;margin:2em auto;padding:0 1em;color:#111}\
table{border-collapse:collapse;margin:1em 0;width:100%}th,td{border:1px solid #999;padding:.25em .4em}\
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.group td{font-weight:bold;background:#f2f2f2}\
tr.overall td,tr.component td{font-weight:bold;background:#e6eef7}.sig{color:#0a5}.sig.down{color:#b00}\
.note{color:#555;font-style:italic}svg{max-width:100%;height:auto}h1{font-size:1.4em}h2{font-size:1.2em}";

/// Renders the report.
pub fn render(r: &Report) -> String {
    let l = r.lang;
    let t = |vi: &'static str, en: &'static str| l.pick(vi, en);
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        l.pick("vi", "en"),
        esc(&title(r)),
    );
    let _ = write!(h, "<h1>{}</h1>", esc(&title(r)));

    // Headline.
    let hl = &r.headline;
    h.push_str("<section id=\"headline\"><h2>");
    h.push_str(t("Kết quả chung", "Headline"));
    h.push_str("</h2>");
    if r.insufficient {
        let _ = write!(
            h,
            "<p id=\"insufficient\" class=\"note\">{}</p>",
            esc(&insufficient_words(r))
        );
    }
    h.push_str("<table id=\"headline-table\"><tbody>");
    row2(
        &mut h,
        "sipas",
        t("Chỉ số SIPAS", "SIPAS index"),
        &l.opt(hl.sipas),
    );
    if r.with.is_some() {
        row2(
            &mut h,
            "previous",
            t("Năm trước", "Previous round"),
            &l.opt(hl.previous),
        );
        let change = hl
            .change
            .as_ref()
            .and_then(|c| c.diff)
            .map_or_else(|| "—".to_owned(), |d| l.signed(d));
        row2(&mut h, "change", t("Thay đổi", "Change"), &change);
        row2(
            &mut h,
            "significant",
            t(
                "Thay đổi có ý nghĩa thống kê",
                "Change statistically significant",
            ),
            if hl.change.as_ref().is_some_and(|c| c.significant) {
                t("Có", "Yes")
            } else {
                t("Không", "No")
            },
        );
    }
    if let Some(rank) = hl.rank {
        row2(
            &mut h,
            "rank",
            t("Xếp hạng", "Rank"),
            &format!("{rank}/{}", hl.n_ranked),
        );
        if let Some(p) = hl.previous_rank {
            row2(
                &mut h,
                "previous_rank",
                t("Hạng năm trước", "Previous rank"),
                &p.to_string(),
            );
        }
        if let Some(c) = hl.rank_change {
            row2(
                &mut h,
                "rank_change",
                t("Thay đổi thứ hạng", "Rank change"),
                &format!("{c:+}"),
            );
        }
    }
    h.push_str("</tbody></table>");
    h.push_str(&headline_sentence(r));
    h.push_str("</section>");

    // Part 1.
    let _ = write!(
        h,
        "<section id=\"part1\"><h2>{}</h2>",
        t(
            "Phần 1. Nhận định, đánh giá của người dân",
            "Part 1. Citizens' perception"
        )
    );
    for b in &r.perception {
        let _ = write!(h, "<h3>{}</h3>", esc(&b.label));
        if !b.options.is_empty() {
            let _ = write!(
                h,
                "<table class=\"perception\" data-question=\"{}\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
                esc(&b.question),
                t("Lựa chọn", "Option"),
                t("Số người chọn", "Chosen by"),
                t("Tỷ lệ (%)", "Share (%)")
            );
            for o in &b.options {
                let _ = write!(
                    h,
                    "<tr data-key=\"choice/{}/{}\"><td>{}</td><td class=\"n\" data-col=\"n\">{}</td><td class=\"n\" data-col=\"share\">{}</td></tr>",
                    esc(&b.question),
                    esc(&o.code),
                    esc(&o.label),
                    o.n_chosen,
                    l.opt(o.share)
                );
            }
            h.push_str("</tbody></table>");
        }
        if !b.levels.is_empty() {
            let _ = write!(
                h,
                "<table class=\"perception-levels\" data-question=\"{}\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
                esc(&b.question),
                t("Nội dung", "Row"),
                t("Tỷ lệ hai mức cao nhất (%)", "Top two levels (%)"),
                t("Mức trung bình", "Mean level")
            );
            for row in &b.levels {
                let _ = write!(
                    h,
                    "<tr data-key=\"row/{}\"><td>{}</td><td class=\"n\" data-col=\"top_two_share\">{}</td><td class=\"n\" data-col=\"mean_level\">{}</td></tr>",
                    esc(&row.key),
                    esc(&row.label),
                    l.opt(row.top_two_share),
                    l.opt(row.mean_level)
                );
            }
            h.push_str("</tbody></table>");
        }
    }
    h.push_str("</section>");

    // Part 2.
    let _ = write!(
        h,
        "<section id=\"part2\"><h2>{}</h2>",
        t(
            "Phần 2. Sự hài lòng của người dân",
            "Part 2. Citizens' satisfaction"
        )
    );
    h.push_str(&group_chart(r));
    let _ = write!(
        h,
        "<table id=\"indices\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t("Tiêu chí", "Criterion"),
        t("Năm nay", "This round"),
        t("KTC 95%", "95% CI"),
        t("Năm trước", "Previous"),
        t("Thay đổi", "Change"),
        t("Ý nghĩa", "Significant"),
        t("Hạng", "Rank"),
        t("Hạng năm trước", "Previous rank")
    );
    for row in &r.indices {
        index_row(&mut h, l, row);
    }
    h.push_str("</tbody></table>");
    let list = |h: &mut String, id: &str, heading: &str, keys: &[String]| {
        let _ = write!(h, "<h3>{}</h3><ol id=\"{id}\">", esc(heading));
        for k in keys {
            if let Some(row) = r.indices.iter().find(|x| &x.key == k) {
                let extra = match (id, row.diff()) {
                    ("most-improved", Some(d)) => format!(" ({})", l.signed(d)),
                    _ => format!(" ({})", l.opt(row.current.value)),
                };
                let _ = write!(
                    h,
                    "<li data-key=\"{}\">{}{}</li>",
                    esc(k),
                    esc(&row.label),
                    esc(&extra)
                );
            }
        }
        h.push_str("</ol>");
    };
    list(
        &mut h,
        "weakest",
        t("Các nội dung có chỉ số thấp nhất", "Weakest items"),
        &r.weakest,
    );
    if r.with.is_some() {
        list(
            &mut h,
            "most-improved",
            t("Các nội dung tăng nhiều nhất", "Most improved items"),
            &r.most_improved,
        );
    }
    h.push_str("</section>");

    // Part 3.
    let _ = write!(
        h,
        "<section id=\"part3\"><h2>{}</h2><table id=\"expectations\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t(
            "Phần 3. Nhu cầu, mong đợi của người dân",
            "Part 3. Citizens' expectations"
        ),
        t("Hạng", "Rank"),
        t("Mong đợi", "Expectation"),
        t("Số người chọn", "Chosen by"),
        t("Tỷ lệ (%)", "Share (%)")
    );
    for o in &r.expectations {
        let _ = write!(
            h,
            "<tr data-key=\"{}\"><td class=\"n\" data-col=\"rank\">{}</td><td>{}</td><td class=\"n\" data-col=\"n\">{}</td><td class=\"n\" data-col=\"share\">{}</td></tr>",
            esc(&o.code),
            o.rank.map_or_else(|| "—".to_owned(), |r| r.to_string()),
            esc(&o.label),
            o.n_chosen,
            l.opt(o.share)
        );
    }
    h.push_str("</tbody></table></section>");

    // Units below.
    if !r.subunits.is_empty() {
        let _ = write!(
            h,
            "<section id=\"units\"><h2>{}</h2><table id=\"subunits\"><thead><tr><th>{}</th><th>{}</th><th>SIPAS</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            t("Kết quả theo đơn vị", "Results by unit"),
            t("Đơn vị", "Unit"),
            t("Số phiếu", "Forms"),
            t("Chính sách", "Policy"),
            t("Dịch vụ", "Service"),
            t("Hạng", "Rank")
        );
        for s in &r.subunits {
            let _ = write!(
                h,
                "<tr data-key=\"{}\"><td>{}</td><td class=\"n\" data-col=\"n_forms\">{}</td><td class=\"n\" data-col=\"sipas\">{}</td><td class=\"n\" data-col=\"policy\">{}</td><td class=\"n\" data-col=\"service\">{}</td><td class=\"n\" data-col=\"rank\">{}</td></tr>",
                esc(&s.unit.code),
                esc(&s.unit.name),
                s.n_forms,
                if s.withheld {
                    t("Không đủ mẫu", "Insufficient sample").to_owned()
                } else {
                    l.opt(s.sipas)
                },
                l.opt(s.policy),
                l.opt(s.service),
                s.rank.map_or_else(|| "—".to_owned(), |r| r.to_string())
            );
        }
        h.push_str("</tbody></table></section>");
    }

    // League table.
    if !r.provinces.is_empty() {
        let _ = write!(
            h,
            "<section id=\"league\"><h2>{}</h2>",
            t("Xếp hạng các tỉnh, thành phố", "Provinces ranked")
        );
        h.push_str(&league_chart(r));
        h.push_str("</section>");
    }

    // Targets and plans.
    if !r.targets.is_empty() || !r.tasks.is_empty() {
        let _ = write!(
            h,
            "<section id=\"targets\"><h2>{}</h2>",
            t("Mục tiêu và kế hoạch", "Targets and plans")
        );
        if !r.targets.is_empty() {
            let _ = write!(
                h,
                "<table id=\"target-table\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
                t("Tiêu chí", "Criterion"),
                t("Mục tiêu", "Target"),
                t("Kết quả", "Result"),
                t("KTC 95%", "95% CI"),
                t("Đánh giá", "Assessment")
            );
            for tg in &r.targets {
                let (vi, en) = tg.status.words();
                let label = r
                    .indices
                    .iter()
                    .find(|x| x.key == tg.key)
                    .map_or(tg.key.as_str(), |x| x.label.as_str());
                let _ = write!(
                    h,
                    "<tr data-key=\"{}\" data-status=\"{}\"><td>{}</td><td class=\"n\">≥ {}</td><td class=\"n\" data-col=\"estimate\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    esc(&tg.key),
                    status_code(tg.status),
                    esc(label),
                    l.num(tg.value),
                    l.opt(tg.estimate),
                    ci(l, tg.ci_low, tg.ci_high),
                    l.pick(vi, en)
                );
            }
            h.push_str("</tbody></table>");
        }
        if !r.tasks.is_empty() {
            let _ = write!(
                h,
                "<table id=\"task-table\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
                t("Nhiệm vụ", "Task"),
                t("Cơ quan chủ trì", "Lead agency"),
                t("Trạng thái", "Status"),
                t(
                    "Thay đổi của tiêu chí liên quan",
                    "Change of linked criteria"
                )
            );
            for task in &r.tasks {
                let crit: Vec<String> = task
                    .criteria
                    .iter()
                    .map(|c| {
                        format!(
                            "{}: {}{}",
                            c.key,
                            c.diff.map_or_else(|| "—".to_owned(), |d| l.signed(d)),
                            if c.significant { " *" } else { "" }
                        )
                    })
                    .collect();
                let _ = write!(
                    h,
                    "<tr data-key=\"task/{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    task.id,
                    esc(&task.content),
                    esc(&task.lead_agency),
                    esc(&task.status),
                    esc(&crit.join("; "))
                );
            }
            h.push_str("</tbody></table>");
        }
        h.push_str("</section>");
    }

    // Sample.
    let s = &r.sample;
    let _ = write!(
        h,
        "<section id=\"sample\"><h2>{}</h2><table id=\"sample-table\"><tbody>",
        t("Mẫu khảo sát", "The sample")
    );
    row2(
        &mut h,
        "n_forms",
        t("Số phiếu", "Forms"),
        &s.n_forms.to_string(),
    );
    row2(
        &mut h,
        "n_villages",
        t("Số thôn, bản", "Villages"),
        &s.n_villages.to_string(),
    );
    row2(
        &mut h,
        "n_communes",
        t("Số xã, phường", "Communes"),
        &s.n_communes.to_string(),
    );
    row2(
        &mut h,
        "dates",
        t(
            "Thời gian khảo sát (ngày nhận phiếu)",
            "Fieldwork (dates forms were received)",
        ),
        &match (&s.first, &s.last) {
            (Some(a), Some(b)) => format!("{a} – {b}"),
            _ => "—".to_owned(),
        },
    );
    h.push_str("</tbody></table>");
    let _ = writeln!(
        h,
        "<p class=\"note\">{}</p></section></body></html>",
        esc(&match l {
            Lang::Vi => format!(
                "Số liệu với hai chữ số thập phân; khoảng tin cậy 95%; đơn vị có dưới {} phiếu không được công bố số liệu. Thay đổi có ý nghĩa thống kê khi khoảng tin cậy 95% của thay đổi không chứa 0.",
                r.min_cell
            ),
            Lang::En => format!(
                "Figures to two decimals; 95% confidence intervals; units with fewer than {} forms are withheld. A change is significant when its 95% interval excludes zero.",
                r.min_cell
            ),
        })
    );
    h
}

fn title(r: &Report) -> String {
    match r.lang {
        Lang::Vi => format!(
            "Báo cáo phân tích Chỉ số SIPAS — {} — {}",
            r.unit.name, r.round_title
        ),
        Lang::En => format!(
            "SIPAS analysis report — {} — {}",
            r.unit.name, r.round_title
        ),
    }
}

/// The sentence said when the unit's sample is below the minimum.
pub fn insufficient_words(r: &Report) -> String {
    match r.lang {
        Lang::Vi => format!(
            "{} có {} phiếu, dưới mức tối thiểu {} phiếu: không đủ mẫu để công bố các chỉ số.",
            r.unit.name, r.sample.n_forms, r.min_cell
        ),
        Lang::En => format!(
            "{} has {} forms, below the minimum of {}: the sample is insufficient to publish the indices.",
            r.unit.name, r.sample.n_forms, r.min_cell
        ),
    }
}

/// The headline as a sentence, as the Lai Châu report opens.
pub fn headline_text(r: &Report) -> String {
    let l = r.lang;
    let hl = &r.headline;
    let Some(v) = hl.sipas else {
        return String::new();
    };
    let mut s = match l {
        Lang::Vi => format!(
            "Chỉ số SIPAS của {} ({}) đạt {}%",
            r.unit.name,
            r.round_title,
            l.num(v)
        ),
        Lang::En => format!(
            "The SIPAS index of {} ({}) is {}%",
            r.unit.name,
            r.round_title,
            l.num(v)
        ),
    };
    if let Some(d) = hl.change.as_ref().and_then(|c| c.diff) {
        let _ = match l {
            Lang::Vi => write!(
                s,
                ", {} {} điểm phần trăm so với đợt trước",
                if d >= 0.0 { "tăng" } else { "giảm" },
                l.num(d.abs())
            ),
            Lang::En => write!(
                s,
                ", {} {} points on the previous round",
                if d >= 0.0 { "up" } else { "down" },
                l.num(d.abs())
            ),
        };
    }
    if let Some(rank) = hl.rank {
        let _ = match l {
            Lang::Vi => write!(s, "; xếp hạng {rank}/{} tỉnh, thành phố", hl.n_ranked),
            Lang::En => write!(s, "; ranked {rank} of {}", hl.n_ranked),
        };
        if let Some(c) = hl.rank_change {
            let _ = match (l, c.signum()) {
                (Lang::Vi, 1) => write!(s, ", tăng {c} hạng"),
                (Lang::Vi, -1) => write!(s, ", giảm {} hạng", -c),
                (Lang::Vi, _) => write!(s, ", giữ nguyên thứ hạng"),
                (Lang::En, 1) => write!(s, ", up {c} places"),
                (Lang::En, -1) => write!(s, ", down {} places", -c),
                (Lang::En, _) => write!(s, ", same rank"),
            };
        }
    }
    s.push('.');
    s
}

fn headline_sentence(r: &Report) -> String {
    let s = headline_text(r);
    if s.is_empty() {
        s
    } else {
        format!("<p id=\"headline-text\">{}</p>", esc(&s))
    }
}

fn status_code(s: TargetStatus) -> &'static str {
    match s {
        TargetStatus::Met => "met",
        TargetStatus::WithinMargin => "within_margin",
        TargetStatus::NotMet => "not_met",
        TargetStatus::NoData => "no_data",
    }
}

fn ci(l: Lang, low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(a), Some(b)) => format!("{} – {}", l.num(a), l.num(b)),
        _ => "—".to_owned(),
    }
}

fn row2(h: &mut String, key: &str, label: &str, value: &str) {
    let _ = write!(
        h,
        "<tr data-key=\"{key}\"><th>{}</th><td class=\"n\" data-col=\"value\">{}</td></tr>",
        esc(label),
        esc(value)
    );
}

fn index_row(h: &mut String, l: Lang, row: &IndexRow) {
    let class = match row.kind {
        RowKind::Overall => "overall",
        RowKind::Component => "component",
        RowKind::Group => "group",
        RowKind::Item => "item",
    };
    let diff = row.diff();
    let arrow = match diff {
        Some(d) if d > 0.0 => "▲ ",
        Some(d) if d < 0.0 => "▼ ",
        _ => "",
    };
    let sig = if row.significant() {
        let down = if diff.is_some_and(|d| d < 0.0) {
            " down"
        } else {
            ""
        };
        format!("<span class=\"sig{down}\">{}</span>", l.pick("Có", "Yes"))
    } else if row.change.is_some() {
        l.pick("Không", "No").to_owned()
    } else {
        "—".to_owned()
    };
    let rank = |r: Option<u32>| r.map_or_else(|| "—".to_owned(), |r| r.to_string());
    let _ = write!(
        h,
        "<tr class=\"{class}\" data-key=\"{}\"><td>{}</td><td class=\"n\" data-col=\"current\">{}</td><td class=\"n\" data-col=\"ci\">{}</td><td class=\"n\" data-col=\"previous\">{}</td><td class=\"n\" data-col=\"change\">{arrow}{}</td><td data-col=\"significant\">{sig}</td><td class=\"n\" data-col=\"rank\">{}</td><td class=\"n\" data-col=\"previous_rank\">{}</td></tr>",
        esc(&row.key),
        esc(&row.label),
        l.opt(row.current.value),
        ci(l, row.current.ci_low, row.current.ci_high),
        l.opt(row.previous),
        diff.map_or_else(|| "—".to_owned(), |d| l.signed(d)),
        rank(row.rank),
        rank(row.previous_rank),
    );
}

/// Bars per group (this round, and the previous one beside it), with an arrow for the change.
fn group_chart(r: &Report) -> String {
    let l = r.lang;
    let groups: Vec<&IndexRow> = r
        .indices
        .iter()
        .filter(|x| x.kind == RowKind::Group)
        .collect();
    if groups.is_empty() {
        return String::new();
    }
    let (label_w, bar_w, row_h) = (70.0, 460.0, 28.0);
    let height = 30.0 + row_h * groups.len() as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"chart-groups\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 680 {height}\" role=\"img\" aria-label=\"{}\">",
        esc(l.pick("Chỉ số theo nhóm tiêu chí", "Index by group"))
    );
    for (i, g) in groups.iter().enumerate() {
        let y = 20.0 + row_h * i as f64;
        let code = g.group.as_deref().unwrap_or("");
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 14.0,
            esc(&code.to_uppercase())
        );
        let cur = g.current.value.unwrap_or(0.0).clamp(0.0, 100.0);
        let _ = write!(
            s,
            "<rect x=\"{label_w}\" y=\"{y}\" width=\"{:.1}\" height=\"11\" fill=\"#2b6cb0\"/>",
            bar_w * cur / 100.0
        );
        if let Some(p) = g.previous {
            let _ = write!(
                s,
                "<rect x=\"{label_w}\" y=\"{}\" width=\"{:.1}\" height=\"7\" fill=\"#a0aec0\"/>",
                y + 12.0,
                bar_w * p.clamp(0.0, 100.0) / 100.0
            );
        }
        let tx = label_w + bar_w * cur / 100.0 + 6.0;
        let _ = write!(
            s,
            "<text x=\"{tx:.1}\" y=\"{}\" font-size=\"11\">{}</text>",
            y + 10.0,
            esc(&l.opt(g.current.value))
        );
        if let Some(d) = g.diff() {
            let (color, pts) = if d >= 0.0 {
                (
                    "#2f855a",
                    format!("{0},{1} {2},{1} {3},{4}", 600.0, y + 12.0, 612.0, 606.0, y),
                )
            } else {
                (
                    "#c53030",
                    format!("{0},{1} {2},{1} {3},{4}", 600.0, y, 612.0, 606.0, y + 12.0),
                )
            };
            let _ = write!(
                s,
                "<polygon points=\"{pts}\" fill=\"{color}\"/><text x=\"616\" y=\"{}\" font-size=\"10\">{}</text>",
                y + 10.0,
                esc(&l.signed(d))
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The provinces ranked by SIPAS, the report's unit highlighted.
fn league_chart(r: &Report) -> String {
    let l = r.lang;
    let row_h = 14.0;
    let height = 10.0 + row_h * r.provinces.len() as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"chart-league\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 {height}\" role=\"img\" aria-label=\"{}\">",
        esc(l.pick("Xếp hạng SIPAS các tỉnh", "Provinces by SIPAS"))
    );
    for (i, p) in r.provinces.iter().enumerate() {
        let y = 5.0 + row_h * i as f64;
        let v = p.sipas.unwrap_or(0.0).clamp(0.0, 100.0);
        let fill = if p.code == r.unit.code {
            "#dd6b20"
        } else {
            "#4a5568"
        };
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"10\">{} {}</text><rect x=\"170\" y=\"{y}\" width=\"{:.1}\" height=\"10\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"9\">{}</text>",
            y + 9.0,
            p.rank.map_or_else(|| "—".to_owned(), |r| r.to_string()),
            esc(&p.name),
            4.0 * v,
            174.0 + 4.0 * v,
            y + 9.0,
            esc(&l.opt(p.sipas))
        );
    }
    s.push_str("</svg>");
    s
}
