//! How a row of the wide layout is written in each format, and the containers around the rows:
//! CSV (RFC 4180, UTF-8), JSON Lines (one object a form, every column, `null` when empty), XLSX
//! (SpreadsheetML parts written into a streaming zip: a sheet of forms, a codebook sheet and an
//! "about" sheet) and a zip bundle of the CSV with its codebook, the export's description and
//! the Stata, SPSS and R scripts that read it.
//!
//! XLSX is written here, not with a crate: `rust_xlsxwriter` keeps the workbook (or, in its
//! constant-memory mode, each sheet in a temporary file) until `save`, so the first byte would
//! come after the last form; a sheet of inline strings written row by row into a deflating zip
//! is what lets the first byte out at once with flat memory.

use std::fmt::Write as _;

use super::{
    layout::{Cell, ColumnKind, Layout, Row},
    scripts,
    zip::ZipWriter,
};
use crate::exports::About;

/// The formats of an export.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The forms as CSV.
    Csv,
    /// The forms as JSON Lines.
    Jsonl,
    /// An Excel workbook: forms, codebook, about.
    Xlsx,
    /// A zip of `forms.csv`, `codebook.csv`, `about.json`, `forms.do`, `forms.sps`, `forms.R`.
    Zip,
}

impl Format {
    /// The media type of the response.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/jsonl; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Zip => "application/zip",
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Xlsx => "xlsx",
            Format::Zip => "zip",
        }
    }
}

/// Rows of a sheet before the next one starts: Excel's limit is 1,048,576 rows, one of them the
/// header.
pub const XLSX_ROWS_PER_SHEET: u64 = 1_048_575;

/// Appends `s` as a CSV field: quoted when it holds a comma, quote, CR or LF, or begins or ends
/// with a space (which some readers trim).
pub fn csv_field(s: &str, out: &mut Vec<u8>) {
    let needs = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        || s.starts_with(' ')
        || s.ends_with(' ');
    if !needs {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    for part in s.split('"').enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.1.as_bytes());
    }
    out.push(b'"');
}

fn int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn num(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        // Shortest text that reads back as the same f64.
        let mut s = String::new();
        let _ = write!(s, "{v}");
        out.extend_from_slice(s.as_bytes());
    }
}

/// One CSV line of `row`.
pub fn csv_row(row: &Row, out: &mut Vec<u8>) {
    for (i, c) in row.cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match *c {
            Cell::Empty => {}
            Cell::Int(v) => int(out, v),
            Cell::Num(v) => num(out, v),
            Cell::Text(a, b) => csv_field(row.text_of(a, b), out),
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The CSV header line.
pub fn csv_header(layout: &Layout, out: &mut Vec<u8>) {
    for (i, c) in layout.columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(&c.name, out);
    }
    out.extend_from_slice(b"\r\n");
}

/// One JSON Lines object of `row`; `keys` are the columns' names as JSON strings with a colon.
pub fn jsonl_row(keys: &[Vec<u8>], row: &Row, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (c, k)) in row.cells.iter().zip(keys).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k);
        match *c {
            Cell::Empty => out.extend_from_slice(b"null"),
            Cell::Int(v) => int(out, v),
            Cell::Num(v) if v.is_finite() => num(out, v),
            Cell::Num(_) => out.extend_from_slice(b"null"),
            Cell::Text(a, b) => schema::write_json_str(row.text_of(a, b), out),
        }
    }
    out.extend_from_slice(b"}\n");
}

/// The keys of [`jsonl_row`].
pub fn jsonl_keys(layout: &Layout) -> Vec<Vec<u8>> {
    layout
        .columns
        .iter()
        .map(|c| {
            let mut k = Vec::new();
            schema::write_json_str(&c.name, &mut k);
            k.push(b':');
            k
        })
        .collect()
}

/// Appends `s` as XML character data of a cell: `&`, `<`, `>` escaped; characters XML 1.0 cannot
/// hold, and CR (which XML readers turn into LF), as Excel's `_xHHHH_`; a literal `_xHHHH_` in the
/// text has its underscore escaped (`_x005F_`) so it reads back as written.
pub fn xml_text(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let plain = !bytes
        .iter()
        .any(|&b| matches!(b, b'&' | b'<' | b'>' | b'_') || (b < 0x20 && b != b'\n' && b != b'\t'));
    if plain {
        out.extend_from_slice(bytes);
        return;
    }
    let chars = s.char_indices();
    for (i, ch) in chars {
        match ch {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '\n' | '\t' => out.push(ch as u8),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write_hex_escape(out, c as u32);
            }
            '_' if is_hex_escape(&bytes[i..]) => out.extend_from_slice(b"_x005F_"),
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

fn write_hex_escape(out: &mut Vec<u8>, v: u32) -> std::fmt::Result {
    let mut s = String::new();
    write!(s, "_x{v:04X}_")?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Whether `b` begins with `_xHHHH_`.
fn is_hex_escape(b: &[u8]) -> bool {
    b.len() >= 7
        && b[0] == b'_'
        && b[1] == b'x'
        && b[2..6].iter().all(u8::is_ascii_hexdigit)
        && b[6] == b'_'
}

fn xlsx_text_cell(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<c t=\"inlineStr\"><is><t xml:space=\"preserve\">");
    xml_text(s, out);
    out.extend_from_slice(b"</t></is></c>");
}

/// One sheet row of `row` (cells in column order, so they carry no references).
pub fn xlsx_row(row: &Row, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<row>");
    for c in &row.cells {
        match *c {
            Cell::Empty => out.extend_from_slice(b"<c/>"),
            Cell::Int(v) => {
                out.extend_from_slice(b"<c><v>");
                int(out, v);
                out.extend_from_slice(b"</v></c>");
            }
            Cell::Num(v) if v.is_finite() => {
                out.extend_from_slice(b"<c><v>");
                num(out, v);
                out.extend_from_slice(b"</v></c>");
            }
            Cell::Num(_) => out.extend_from_slice(b"<c/>"),
            Cell::Text(a, b) => xlsx_text_cell(row.text_of(a, b), out),
        }
    }
    out.extend_from_slice(b"</row>");
}

fn xlsx_strings_row(cells: &[&str], out: &mut Vec<u8>) {
    out.extend_from_slice(b"<row>");
    for c in cells {
        if c.is_empty() {
            out.extend_from_slice(b"<c/>");
        } else {
            xlsx_text_cell(c, out);
        }
    }
    out.extend_from_slice(b"</row>");
}

const SHEET_HEAD: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    "\n",
    r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
    r#"<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>"#,
    "<sheetData>"
);
const SHEET_TAIL: &str = "</sheetData></worksheet>";

/// An export being written: the format's container around the rows.
pub struct Encoder {
    format: Format,
    zip: Option<ZipWriter>,
    keys: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    /// Rows in the current sheet (XLSX).
    sheet_rows: u64,
    /// Sheets of forms so far (XLSX).
    sheets: u32,
    /// Rows written.
    pub rows: u64,
}

impl Encoder {
    /// An encoder of `format` for `layout`.
    pub fn new(format: Format, layout: &Layout, now: time::OffsetDateTime) -> Encoder {
        Encoder {
            format,
            zip: matches!(format, Format::Xlsx | Format::Zip).then(|| ZipWriter::new(now, 1)),
            keys: if format == Format::Jsonl {
                jsonl_keys(layout)
            } else {
                Vec::new()
            },
            scratch: Vec::with_capacity(64 * 1024),
            sheet_rows: 0,
            sheets: 0,
            rows: 0,
        }
    }

    fn start_sheet(&mut self, layout: &Layout, out: &mut Vec<u8>) {
        self.sheets += 1;
        self.sheet_rows = 0;
        let zip = self.zip.as_mut().expect("xlsx has a zip");
        zip.begin(&format!("xl/worksheets/sheet{}.xml", self.sheets), out);
        self.scratch.clear();
        self.scratch.extend_from_slice(SHEET_HEAD.as_bytes());
        let names: Vec<&str> = layout.columns.iter().map(|c| c.name.as_str()).collect();
        xlsx_strings_row(&names, &mut self.scratch);
        zip.write(&self.scratch, out);
    }

    /// What comes before the first row.
    pub fn start(&mut self, layout: &Layout, out: &mut Vec<u8>) {
        match self.format {
            Format::Csv => csv_header(layout, out),
            Format::Jsonl => {}
            Format::Xlsx => self.start_sheet(layout, out),
            Format::Zip => {
                let zip = self.zip.as_mut().expect("zip");
                zip.begin("forms.csv", out);
                self.scratch.clear();
                csv_header(layout, &mut self.scratch);
                zip.write(&self.scratch, out);
            }
        }
    }

    /// One form's row.
    pub fn row(&mut self, layout: &Layout, row: &Row, out: &mut Vec<u8>) {
        self.rows += 1;
        match self.format {
            Format::Csv => csv_row(row, out),
            Format::Jsonl => jsonl_row(&self.keys, row, out),
            Format::Xlsx => {
                if self.sheet_rows == XLSX_ROWS_PER_SHEET {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(SHEET_TAIL.as_bytes());
                    let zip = self.zip.as_mut().expect("zip");
                    zip.write(&self.scratch, out);
                    self.start_sheet(layout, out);
                }
                self.sheet_rows += 1;
                self.scratch.clear();
                xlsx_row(row, &mut self.scratch);
                self.zip.as_mut().expect("zip").write(&self.scratch, out);
            }
            Format::Zip => {
                self.scratch.clear();
                csv_row(row, &mut self.scratch);
                self.zip.as_mut().expect("zip").write(&self.scratch, out);
            }
        }
    }

    /// What comes after the last row: for XLSX and the zip, the codebook, the description and
    /// the rest of the container.
    pub fn finish(&mut self, layout: &Layout, about: &About, out: &mut Vec<u8>) {
        match self.format {
            Format::Csv | Format::Jsonl => {}
            Format::Zip => {
                let zip = self.zip.as_mut().expect("zip");
                zip.end(out);
                zip.entry("codebook.csv", &codebook_csv(layout), out);
                let about_json = serde_json::to_vec_pretty(about).unwrap_or_default();
                zip.entry("about.json", &about_json, out);
                zip.entry(
                    "forms.do",
                    scripts::stata(layout, about, "forms.csv").as_bytes(),
                    out,
                );
                zip.entry(
                    "forms.sps",
                    scripts::spss(layout, about, "forms.csv").as_bytes(),
                    out,
                );
                zip.entry(
                    "forms.R",
                    scripts::r(layout, about, "forms.csv").as_bytes(),
                    out,
                );
                zip.finish(out);
            }
            Format::Xlsx => {
                let zip = self.zip.as_mut().expect("zip");
                zip.write(SHEET_TAIL.as_bytes(), out);
                zip.end(out);
                let forms_sheets = self.sheets;
                // The codebook and about sheets.
                let mut sheet = Vec::new();
                sheet.extend_from_slice(SHEET_HEAD.as_bytes());
                for r in codebook_rows(layout) {
                    let cells: Vec<&str> = r.iter().map(String::as_str).collect();
                    xlsx_strings_row(&cells, &mut sheet);
                }
                sheet.extend_from_slice(SHEET_TAIL.as_bytes());
                zip.entry(
                    &format!("xl/worksheets/sheet{}.xml", forms_sheets + 1),
                    &sheet,
                    out,
                );
                sheet.clear();
                sheet.extend_from_slice(SHEET_HEAD.as_bytes());
                for (k, v) in about.pairs() {
                    xlsx_strings_row(&[k.as_str(), v.as_str()], &mut sheet);
                }
                sheet.extend_from_slice(SHEET_TAIL.as_bytes());
                zip.entry(
                    &format!("xl/worksheets/sheet{}.xml", forms_sheets + 2),
                    &sheet,
                    out,
                );
                let mut names: Vec<String> = (1..=forms_sheets)
                    .map(|i| {
                        if i == 1 {
                            "forms".to_owned()
                        } else {
                            format!("forms_{i}")
                        }
                    })
                    .collect();
                names.push("codebook".into());
                names.push("about".into());
                let n = names.len();
                let mut wb = String::from(concat!(
                    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
                    "\n",
                    r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#
                ));
                for (i, name) in names.iter().enumerate() {
                    let _ = write!(
                        wb,
                        r#"<sheet name="{name}" sheetId="{}" r:id="rId{}"/>"#,
                        i + 1,
                        i + 1
                    );
                }
                wb.push_str("</sheets></workbook>");
                zip.entry("xl/workbook.xml", wb.as_bytes(), out);
                let mut rels = String::from(concat!(
                    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
                    "\n",
                    r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#
                ));
                for i in 1..=n {
                    let _ = write!(
                        rels,
                        r#"<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>"#
                    );
                }
                let _ = write!(
                    rels,
                    r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>"#,
                    n + 1
                );
                rels.push_str("</Relationships>");
                zip.entry("xl/_rels/workbook.xml.rels", rels.as_bytes(), out);
                zip.entry("xl/styles.xml", STYLES.as_bytes(), out);
                let mut types = String::from(concat!(
                    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
                    "\n",
                    r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">"#,
                    r#"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#,
                    r#"<Default Extension="xml" ContentType="application/xml"/>"#,
                    r#"<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#,
                    r#"<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>"#
                ));
                for i in 1..=n {
                    let _ = write!(
                        types,
                        r#"<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
                    );
                }
                types.push_str("</Types>");
                zip.entry("[Content_Types].xml", types.as_bytes(), out);
                zip.entry("_rels/.rels", ROOT_RELS.as_bytes(), out);
                zip.finish(out);
            }
        }
    }
}

const STYLES: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    "\n",
    r#"<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
    r#"<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>"#,
    r#"<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>"#,
    r#"<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"#,
    r#"<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>"#,
    r#"<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>"#,
    r#"<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>"#,
    "</styleSheet>"
);

const ROOT_RELS: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    "\n",
    r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    r#"<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>"#,
    "</Relationships>"
);

/// The codebook's header.
pub const CODEBOOK_HEADER: [&str; 10] = [
    "column",
    "position",
    "type",
    "question",
    "label_vi",
    "label_en",
    "value",
    "value_label_vi",
    "value_label_en",
    "missing",
];

/// The codebook as rows of text: a header, then per column one row describing it followed by
/// one row per value label.
pub fn codebook_rows(layout: &Layout) -> Vec<Vec<String>> {
    let mut rows = vec![CODEBOOK_HEADER.iter().map(|s| (*s).to_owned()).collect()];
    for (i, c) in layout.columns.iter().enumerate() {
        rows.push(vec![
            c.name.clone(),
            (i + 1).to_string(),
            c.kind.as_str().to_owned(),
            c.question.clone().unwrap_or_default(),
            c.label.vi.clone(),
            c.label.en.clone().unwrap_or_default(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        for v in &c.values {
            rows.push(vec![
                c.name.clone(),
                (i + 1).to_string(),
                c.kind.as_str().to_owned(),
                c.question.clone().unwrap_or_default(),
                String::new(),
                String::new(),
                v.value.to_string(),
                v.label.vi.clone(),
                v.label.en.clone().unwrap_or_default(),
                if v.missing { "1" } else { "0" }.to_owned(),
            ]);
        }
    }
    rows
}

/// The codebook as CSV.
pub fn codebook_csv(layout: &Layout) -> Vec<u8> {
    let mut out = Vec::new();
    for r in codebook_rows(layout) {
        for (i, f) in r.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            csv_field(f, &mut out);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Whether a column's cells are text in the CSV (what the scripts read as strings).
pub fn is_text(kind: ColumnKind) -> bool {
    !kind.is_numeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_quote_what_needs_quoting() {
        let mut out = Vec::new();
        csv_field("Bản Nà Khương", &mut out);
        out.push(b'|');
        csv_field("a, \"b\"\nc", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Bản Nà Khương|\"a, \"\"b\"\"\nc\""
        );
    }

    #[test]
    fn xml_text_escapes_markup_controls_and_literal_escapes() {
        let mut out = Vec::new();
        xml_text("a<b>&c\r\n_x000D_ \u{1}", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a&lt;b&gt;&amp;c_x000D_\n_x005F_x000D_ _x0001_"
        );
    }
}
