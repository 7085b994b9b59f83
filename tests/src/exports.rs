//! Exports as a client gets them: fetched with a token, read back (CSV with the `csv` crate,
//! XLSX with `calamine`, the zip bundle's files), and the cells a form's answers should give in
//! the wide layout, worked out here from the questionnaire alone so that the server's layout
//! code is checked, not reused.

use std::{collections::HashMap, io::Read};

use calamine::{Data, Reader, Xlsx};
use schema::{QuestionKind, Questionnaire};
use serde_json::Value;

use crate::TestApp;

/// An export as received.
pub struct Export {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Export {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// A table read back: header and rows of text cells.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The index of a column.
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// The cell of `row` in column `name`.
    pub fn cell<'a>(&'a self, row: &'a [String], name: &str) -> &'a str {
        &row[self.col(name)]
    }

    /// The row whose `form_id` is `id`.
    pub fn row_of(&self, id: &str) -> &[String] {
        let c = self.col("form_id");
        self.rows
            .iter()
            .find(|r| r[c] == id)
            .unwrap_or_else(|| panic!("no row for form {id}"))
    }
}

impl TestApp {
    /// `GET path` with `token` and extra headers, the whole body read.
    pub async fn export(&self, token: &str, path: &str, headers: &[(&str, &str)]) -> Export {
        let mut req = self.request(reqwest::Method::GET, path, Some(token));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("export request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("export body").to_vec();
        Export {
            status,
            headers,
            body,
        }
    }

    /// `GET path` as CSV, asserting 200; the table read back.
    pub async fn export_csv(&self, token: &str, path: &str) -> Table {
        let e = self.export(token, path, &[]).await;
        assert_eq!(e.status, 200, "{}", String::from_utf8_lossy(&e.body));
        read_csv(&e.body)
    }
}

/// Reads CSV bytes (RFC 4180, header first).
pub fn read_csv(bytes: &[u8]) -> Table {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let header = r
        .headers()
        .expect("csv header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("csv record").iter().map(str::to_owned).collect())
        .collect();
    Table { header, rows }
}

fn data_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Reads sheet `sheet` of an XLSX workbook with calamine.
pub fn read_xlsx(bytes: &[u8], sheet: &str) -> Table {
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec()))
        .expect("an xlsx workbook");
    let range = wb.worksheet_range(sheet).expect("the sheet");
    let width = range.width();
    let mut rows = range.rows().map(|r| {
        let mut v: Vec<String> = r.iter().map(data_text).collect();
        v.resize(width, String::new());
        v
    });
    let header = rows.next().expect("a header row");
    Table {
        header,
        rows: rows.collect(),
    }
}

/// The sheet names of an XLSX workbook.
pub fn xlsx_sheets(bytes: &[u8]) -> Vec<String> {
    let wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec()))
        .expect("an xlsx workbook");
    wb.sheet_names().to_vec()
}

/// The files of a zip archive, by name (inflated with flate2, read from the central directory).
pub fn unzip(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let u16at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let u32at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let eocd = (0..bytes.len() - 21)
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .expect("end of central directory");
    let n = u16at(eocd + 10);
    let mut at = u32at(eocd + 16);
    let mut files = HashMap::new();
    for _ in 0..n {
        assert_eq!(&bytes[at..at + 4], &[0x50, 0x4b, 0x01, 0x02]);
        let compressed = u32at(at + 20);
        let size = u32at(at + 24);
        let name_len = u16at(at + 28);
        let extra = u16at(at + 30);
        let comment = u16at(at + 32);
        let offset = u32at(at + 42);
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        let local_name = u16at(offset + 26);
        let local_extra = u16at(offset + 28);
        let data_at = offset + 30 + local_name + local_extra;
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&bytes[data_at..data_at + compressed])
            .read_to_end(&mut out)
            .expect("inflate");
        assert_eq!(out.len(), size, "{name}");
        files.insert(name, out);
        at += 46 + name_len + extra + comment;
    }
    files
}

/// The form's own fields, named as the export names them (answer columns with one of these
/// names carry the prefix `q_`).
pub const META: [&str; 25] = [
    "form_id",
    "revision",
    "round",
    "questionnaire",
    "questionnaire_version",
    "province_code",
    "province_name",
    "district_code",
    "district_name",
    "commune_code",
    "commune_name",
    "village",
    "household_ref",
    "enumerator_id",
    "enumerator",
    "device_id",
    "started_at",
    "finished_at",
    "received_at",
    "updated_at",
    "gps_lat",
    "gps_lon",
    "status",
    "content_hash",
    "seq",
];

fn special(code: &str, k: usize) -> String {
    match code {
        "refused" => "97".into(),
        "dont_know" => "98".into(),
        "not_applicable" => "99".into(),
        _ => (90 + k).to_string(),
    }
}

/// The answer cells `answers` (wire form) of a form on `q` should give, by column name: what
/// the export's documentation says, worked out from the questionnaire. Columns not listed are
/// empty. Option numbers are the option's place in `q` (an export of one version).
pub fn expected_cells(
    q: &Questionnaire,
    answers: &serde_json::Map<String, Value>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let name = |n: String| {
        if META.contains(&n.as_str()) {
            format!("q_{n}")
        } else {
            n
        }
    };
    for question in q.questions() {
        let Some(a) = answers.get(&question.code).filter(|v| !v.is_null()) else {
            continue;
        };
        let code = &question.code;
        let level = |v: &Value| -> String {
            match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => {
                    let scale = q.scale_of(question).expect("scale");
                    let k = scale.special_index(s).expect("special");
                    special(s, k)
                }
                other => panic!("level {other}"),
            }
        };
        match &question.kind {
            QuestionKind::SingleChoice { options } => {
                let s = a.as_str().unwrap();
                let i = options.iter().position(|o| o.code == s).unwrap();
                out.insert(name(code.clone()), (i + 1).to_string());
            }
            QuestionKind::MultipleChoice { options, .. } => {
                let picked: Vec<&str> = a
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                for o in options {
                    out.insert(
                        name(format!("{code}_{}", o.code)),
                        if picked.contains(&o.code.as_str()) {
                            "1"
                        } else {
                            "0"
                        }
                        .into(),
                    );
                }
            }
            QuestionKind::Level { .. } => {
                out.insert(name(code.clone()), level(a));
            }
            QuestionKind::Grid { items, .. } => {
                for it in items {
                    if let Some(v) = a.get(&it.code).filter(|v| !v.is_null()) {
                        out.insert(name(format!("{code}_{}", it.code)), level(v));
                    }
                }
            }
            QuestionKind::Integer { .. } => {
                out.insert(name(code.clone()), a.as_i64().unwrap().to_string());
            }
            QuestionKind::Text { .. } | QuestionKind::Date { .. } => {
                let s = a.as_str().unwrap();
                if !s.trim().is_empty() {
                    out.insert(name(code.clone()), s.to_owned());
                }
            }
            QuestionKind::Gps {} => {
                out.insert(name(format!("{code}_lat")), a["lat"].to_string());
                out.insert(name(format!("{code}_lon")), a["lon"].to_string());
                if let Some(acc) = a.get("accuracy") {
                    out.insert(name(format!("{code}_accuracy")), acc.to_string());
                }
            }
        }
    }
    out
}

/// Asserts every answer column of `row` in `table` holds what `answers` should give.
pub fn assert_answers(
    table: &Table,
    row: &[String],
    q: &Questionnaire,
    answers: &serde_json::Map<String, Value>,
    what: &str,
) {
    let expected = expected_cells(q, answers);
    for (i, h) in table.header.iter().enumerate() {
        if META.contains(&h.as_str()) {
            continue;
        }
        let want = expected.get(h).map_or("", String::as_str);
        assert_eq!(row[i], want, "{what}: column {h}");
    }
    for k in expected.keys() {
        assert!(table.header.contains(k), "{what}: no column {k}");
    }
}
