//! The scripts that read an export's CSV into Stata, SPSS and R with its variable and value
//! labels, in the language the export asked for (Vietnamese by default, English where the
//! questionnaire has it).
//!
//! Text files, not `.dta`/`.sav`: no maintained Rust crate writes either (the `readstat`
//! bindings need the C library; the pure-Rust `dta` writers are unmaintained and stop at older
//! releases), and each tool's own reader applying labels to the CSV gives the analyst the same
//! dataset while the CSV stays the one source.
//!
//! Special answers (don't know, not applicable, refused) are codes 98, 99, 97 in the CSV; the
//! scripts make them missing values: Stata's extended missing `.d`, `.n`, `.r` (labelled), SPSS's
//! user-missing values, and in R factor levels an analyst drops with `droplevels` after
//! filtering.

use std::fmt::Write as _;

use schema::Label;

use super::{
    About,
    layout::{ColumnKind, Layout},
};

fn pick<'a>(l: &'a Label, lang: &str) -> &'a str {
    match (lang, &l.en) {
        ("en", Some(en)) => en,
        _ => &l.vi,
    }
}

/// Text for a double-quoted string in Stata or SPSS (quotes doubled or replaced; no newlines).
fn quoted(s: &str, max_chars: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .take(max_chars)
        .collect();
    format!("\"{clean}\"")
}

fn stata_missing(v: i64) -> Option<&'static str> {
    match v {
        97 => Some(".r"),
        98 => Some(".d"),
        99 => Some(".n"),
        _ => None,
    }
}

/// A Stata do-file that imports `csv` and labels it.
pub fn stata(layout: &Layout, about: &About, csv: &str) -> String {
    let lang = about.lang.as_str();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "* SIPAS export of round {} ({}).",
        about.round, about.generated_at
    );
    let _ = writeln!(
        s,
        "* Reads {csv} (UTF-8) with its labels. Stata 14 or later. Run from the folder of the CSV."
    );
    let text_cols: Vec<String> = layout
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.kind.is_numeric())
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    let _ = writeln!(s, "clear");
    let _ = writeln!(
        s,
        "import delimited using \"{csv}\", varnames(1) encoding(\"utf-8\") bindquote(strict) maxquotedrows(unlimited) case(preserve) stringcols({}) clear",
        text_cols.join(" ")
    );
    for c in &layout.columns {
        // Stata keeps 80 characters: a grid row's or option's own text says more than the
        // question all its rows share.
        let label = pick(&c.label, lang);
        let label = match label.split_once(" — ") {
            Some((_, own)) if label.chars().count() > 80 => own,
            _ => label,
        };
        let _ = writeln!(s, "label variable {} {}", c.name, quoted(label, 80));
    }
    for c in layout.columns.iter().filter(|c| !c.values.is_empty()) {
        let mut def = format!("label define {} ", c.name);
        let mut mv = Vec::new();
        for v in &c.values {
            let code = match stata_missing(v.value) {
                Some(m) if v.missing => {
                    mv.push(format!("{}={m}", v.value));
                    m.to_owned()
                }
                _ => v.value.to_string(),
            };
            let _ = write!(def, "{code} {} ", quoted(pick(&v.label, lang), 120));
        }
        let _ = writeln!(s, "{}, replace", def.trim_end());
        if !mv.is_empty() {
            let _ = writeln!(s, "mvdecode {}, mv({})", c.name, mv.join(" \\ "));
        }
        let _ = writeln!(s, "label values {} {}", c.name, c.name);
    }
    for c in layout
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::DateTime)
    {
        let _ = writeln!(
            s,
            "generate double {n}_tc = clock(subinstr(subinstr({n}, \"T\", \" \", 1), \"Z\", \"\", 1), \"YMDhms\")\nformat {n}_tc %tc",
            n = c.name
        );
    }
    let _ = writeln!(s, "compress");
    s
}

/// An SPSS syntax file that reads `csv` and labels it.
pub fn spss(layout: &Layout, about: &About, csv: &str) -> String {
    let lang = about.lang.as_str();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "* SIPAS export of round {} ({}).",
        about.round, about.generated_at
    );
    let _ = writeln!(
        s,
        "* Reads {csv} (UTF-8) with its labels. Run in Unicode mode (SET UNICODE ON), from the folder of the CSV."
    );
    let _ = writeln!(
        s,
        "* Free text with line breaks: SPSS's text reader splits such a case; read the XLSX export instead."
    );
    let _ = writeln!(s, "SET UNICODE ON.");
    let _ = writeln!(
        s,
        "GET DATA /TYPE=TXT /FILE='{csv}' /ENCODING='UTF8' /ARRANGEMENT=DELIMITED /DELCASE=LINE /FIRSTCASE=2 /DELIMITERS=',' /QUALIFIER='\"' /VARIABLES="
    );
    for c in &layout.columns {
        let format = match c.kind {
            ColumnKind::Integer | ColumnKind::Coded | ColumnKind::Binary => "F8.0".to_owned(),
            ColumnKind::Number => "F12.7".to_owned(),
            ColumnKind::Date => "A10".to_owned(),
            ColumnKind::DateTime => "A32".to_owned(),
            ColumnKind::Text => "A8000".to_owned(),
        };
        let _ = writeln!(s, "  {} {format}", c.name);
    }
    let _ = writeln!(s, ".");
    let _ = writeln!(s, "VARIABLE LABELS");
    for c in &layout.columns {
        let _ = writeln!(s, "  {} {}", c.name, quoted(pick(&c.label, lang), 250));
    }
    let _ = writeln!(s, ".");
    let labelled: Vec<_> = layout
        .columns
        .iter()
        .filter(|c| !c.values.is_empty())
        .collect();
    if !labelled.is_empty() {
        let _ = writeln!(s, "VALUE LABELS");
        for (i, c) in labelled.iter().enumerate() {
            let _ = writeln!(s, "  {}{}", if i > 0 { "/" } else { "" }, c.name);
            for v in &c.values {
                let _ = writeln!(s, "    {} {}", v.value, quoted(pick(&v.label, lang), 120));
            }
        }
        let _ = writeln!(s, ".");
    }
    for c in &labelled {
        let missing: Vec<String> = c
            .values
            .iter()
            .filter(|v| v.missing)
            .map(|v| v.value.to_string())
            .collect();
        if !missing.is_empty() {
            let _ = writeln!(
                s,
                "MISSING VALUES {} ({}).",
                c.name,
                missing
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let _ = writeln!(s, "EXECUTE.");
    s
}

/// An R string literal.
fn r_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An R script that reads `csv` into the data frame `forms`: text columns as text (codes keep
/// their leading zeros), coded columns as factors with the value labels, each column's label in
/// its `label` attribute.
pub fn r(layout: &Layout, about: &About, csv: &str) -> String {
    let lang = about.lang.as_str();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# SIPAS export of round {} ({}).",
        about.round, about.generated_at
    );
    let _ = writeln!(
        s,
        "# Reads {csv} (UTF-8) into the data frame `forms` with its labels. Base R only."
    );
    let _ = writeln!(
        s,
        "sipas_csv <- if (exists(\"sipas_csv\")) sipas_csv else {}",
        r_str(csv)
    );
    let classes: Vec<String> = layout
        .columns
        .iter()
        .map(|c| {
            let class = match c.kind {
                ColumnKind::Integer | ColumnKind::Coded | ColumnKind::Binary => "integer",
                ColumnKind::Number => "numeric",
                _ => "character",
            };
            format!("{} = \"{class}\"", r_str(&c.name))
        })
        .collect();
    let _ = writeln!(
        s,
        "forms <- read.csv(sipas_csv, fileEncoding = \"UTF-8\", encoding = \"UTF-8\", na.strings = \"\", check.names = FALSE, stringsAsFactors = FALSE,\n  colClasses = c({}))",
        classes.join(",\n    ")
    );
    for c in layout
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Coded)
    {
        let values: Vec<String> = c.values.iter().map(|v| v.value.to_string()).collect();
        let labels: Vec<String> = c
            .values
            .iter()
            .map(|v| r_str(pick(&v.label, lang)))
            .collect();
        let _ = writeln!(
            s,
            "forms[[{n}]] <- factor(forms[[{n}]], levels = c({}), labels = c({}))",
            values.join(", "),
            labels.join(", "),
            n = r_str(&c.name)
        );
    }
    for c in &layout.columns {
        let _ = writeln!(
            s,
            "attr(forms[[{}]], \"label\") <- {}",
            r_str(&c.name),
            r_str(pick(&c.label, lang))
        );
    }
    s
}
