//! The report as a Word document (OOXML written here, zipped with the exports' zip writer), so
//! that a province can edit and sign it. The charts are PNG images drawn by [`png`] (bars as
//! rectangles; their labels are in the text beside them). Kept to the parts Word requires
//! (content types, relationships, the document, styles) so that it opens without a repair prompt.

use std::{fmt::Write as _, io::Write as _};

use super::{IndexRow, Lang, Report, RowKind, html};
use crate::exports::zip::ZipWriter;

/// Escapes text for XML content and attributes.
fn x(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML 1.0 allows no other control character.
            c if c.is_control() && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An RGB canvas drawn with rectangles, written as PNG.
pub struct Canvas {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    rgb: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            width,
            height,
            rgb: vec![255; (width * height * 3) as usize],
        }
    }

    /// Fills the rectangle `[x, x+w) × [y, y+h)` (clipped to the canvas).
    pub fn rect(&mut self, x: u32, y: u32, w: u32, h: u32, color: [u8; 3]) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                let i = ((yy * self.width + xx) * 3) as usize;
                self.rgb[i..i + 3].copy_from_slice(&color);
            }
        }
    }

    /// The PNG file.
    pub fn png(&self) -> Vec<u8> {
        png(self.width, self.height, &self.rgb)
    }
}

/// A PNG of `width × height` 8-bit RGB pixels (`rgb` row by row): signature, IHDR, one IDAT
/// (zlib stream of the rows, each with filter byte 0) and IEND, each chunk with its CRC-32.
pub fn png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut h = crc32fast::Hasher::new();
        h.update(kind);
        h.update(data);
        out.extend_from_slice(&h.finalize().to_be_bytes());
    }
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let row = (width * 3) as usize;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    for r in rgb.chunks(row).take(height as usize) {
        let _ = z.write_all(&[0]);
        let _ = z.write_all(r);
    }
    let idat = z.finish().unwrap_or_default();
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The groups chart: one bar per group (this round dark, the previous round light below it).
fn group_png(r: &Report) -> Option<(Vec<u8>, u32, u32)> {
    let groups: Vec<&IndexRow> = r
        .indices
        .iter()
        .filter(|x| x.kind == RowKind::Group)
        .collect();
    if groups.is_empty() {
        return None;
    }
    let (w, row_h) = (600u32, 30u32);
    let h = row_h * groups.len() as u32 + 10;
    let mut c = Canvas::new(w, h);
    for (i, g) in groups.iter().enumerate() {
        let y = 5 + row_h * i as u32;
        let bar = |v: f64| ((v.clamp(0.0, 100.0) / 100.0) * f64::from(w - 10)) as u32;
        if let Some(v) = g.current.value {
            c.rect(5, y, bar(v), 14, [0x2b, 0x6c, 0xb0]);
        }
        if let Some(p) = g.previous {
            c.rect(5, y + 15, bar(p), 8, [0xa0, 0xae, 0xc0]);
        }
    }
    Some((c.png(), w, h))
}

/// The league chart: one bar per province by rank, the report's unit in orange.
fn league_png(r: &Report) -> Option<(Vec<u8>, u32, u32)> {
    if r.provinces.is_empty() {
        return None;
    }
    let (w, row_h) = (600u32, 8u32);
    let h = row_h * r.provinces.len() as u32 + 4;
    let mut c = Canvas::new(w, h);
    for (i, p) in r.provinces.iter().enumerate() {
        let y = 2 + row_h * i as u32;
        let v = p.sipas.unwrap_or(0.0).clamp(0.0, 100.0);
        let color = if p.code == r.unit.code {
            [0xdd, 0x6b, 0x20]
        } else {
            [0x4a, 0x55, 0x68]
        };
        c.rect(
            2,
            y,
            ((v / 100.0) * f64::from(w - 4)) as u32,
            row_h - 2,
            color,
        );
    }
    Some((c.png(), w, h))
}

/// A paragraph builder.
struct Body {
    xml: String,
    images: Vec<(String, Vec<u8>)>,
}

impl Body {
    fn para(&mut self, text: &str, style: Option<&str>, bold: bool) {
        self.xml.push_str("<w:p>");
        if let Some(s) = style {
            let _ = write!(self.xml, "<w:pPr><w:pStyle w:val=\"{s}\"/></w:pPr>");
        }
        self.run(text, bold);
        self.xml.push_str("</w:p>");
    }

    fn run(&mut self, text: &str, bold: bool) {
        let _ = write!(
            self.xml,
            "<w:r>{}<w:t xml:space=\"preserve\">{}</w:t></w:r>",
            if bold { "<w:rPr><w:b/></w:rPr>" } else { "" },
            x(text)
        );
    }

    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let cols = header.len().max(1);
        // The first column (the names) takes 40% of the 9,000-twip text width when there are
        // other columns; the others share the rest.
        let widths: Vec<usize> = if cols == 1 {
            vec![9000]
        } else {
            std::iter::once(3600)
                .chain(std::iter::repeat_n(5400 / (cols - 1), cols - 1))
                .collect()
        };
        self.xml.push_str("<w:tbl><w:tblPr><w:tblStyle w:val=\"TableGrid\"/><w:tblW w:w=\"5000\" w:type=\"pct\"/></w:tblPr><w:tblGrid>");
        for w in &widths {
            let _ = write!(self.xml, "<w:gridCol w:w=\"{w}\"/>");
        }
        self.xml.push_str("</w:tblGrid>");
        let row = |cells: &[String], bold: bool, xml: &mut String| {
            xml.push_str("<w:tr>");
            for (c, w) in cells.iter().zip(&widths) {
                let _ = write!(
                    xml,
                    "<w:tc><w:tcPr><w:tcW w:w=\"{w}\" w:type=\"dxa\"/></w:tcPr><w:p><w:r>{}<w:t xml:space=\"preserve\">{}</w:t></w:r></w:p></w:tc>",
                    if bold { "<w:rPr><w:b/></w:rPr>" } else { "" },
                    x(c)
                );
            }
            xml.push_str("</w:tr>");
        };
        let head: Vec<String> = header.iter().map(|s| (*s).to_owned()).collect();
        row(&head, true, &mut self.xml);
        for r in rows {
            row(r, false, &mut self.xml);
        }
        self.xml.push_str("</w:tbl><w:p/>");
    }

    fn image(&mut self, png: Vec<u8>, w: u32, h: u32, name: &str) {
        let n = self.images.len() + 1;
        let rid = format!("rIdImg{n}");
        // 600 px wide at 6 inches: 9525 EMU per pixel.
        let (cx, cy) = (u64::from(w) * 9525, u64::from(h) * 9525);
        let _ = write!(
            self.xml,
            "<w:p><w:r><w:drawing><wp:inline distT=\"0\" distB=\"0\" distL=\"0\" distR=\"0\">\
             <wp:extent cx=\"{cx}\" cy=\"{cy}\"/><wp:docPr id=\"{n}\" name=\"{name}\"/>\
             <a:graphic xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\">\
             <a:graphicData uri=\"http://schemas.openxmlformats.org/drawingml/2006/picture\">\
             <pic:pic xmlns:pic=\"http://schemas.openxmlformats.org/drawingml/2006/picture\">\
             <pic:nvPicPr><pic:cNvPr id=\"{n}\" name=\"{name}.png\"/><pic:cNvPicPr/></pic:nvPicPr>\
             <pic:blipFill><a:blip r:embed=\"{rid}\"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>\
             <pic:spPr><a:xfrm><a:off x=\"0\" y=\"0\"/><a:ext cx=\"{cx}\" cy=\"{cy}\"/></a:xfrm>\
             <a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom></pic:spPr></pic:pic>\
             </a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
        );
        self.images.push((format!("media/image{n}.png"), png));
    }
}

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Default Extension=\"png\" ContentType=\"image/png\"/>\
<Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
<Override PartName=\"/word/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/>\
</Types>";

const ROOT_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>\
</Relationships>";

const STYLES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<w:styles xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii=\"Times New Roman\" w:hAnsi=\"Times New Roman\" w:cs=\"Times New Roman\"/><w:sz w:val=\"24\"/><w:lang w:val=\"vi-VN\"/></w:rPr></w:rPrDefault>\
<w:pPrDefault><w:pPr><w:spacing w:after=\"120\"/></w:pPr></w:pPrDefault></w:docDefaults>\
<w:style w:type=\"paragraph\" w:default=\"1\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/></w:style>\
<w:style w:type=\"paragraph\" w:styleId=\"Title\"><w:name w:val=\"Title\"/><w:basedOn w:val=\"Normal\"/><w:pPr><w:jc w:val=\"center\"/></w:pPr><w:rPr><w:b/><w:sz w:val=\"32\"/></w:rPr></w:style>\
<w:style w:type=\"paragraph\" w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/><w:basedOn w:val=\"Normal\"/><w:pPr><w:keepNext/><w:spacing w:before=\"240\"/><w:outlineLvl w:val=\"0\"/></w:pPr><w:rPr><w:b/><w:sz w:val=\"28\"/></w:rPr></w:style>\
<w:style w:type=\"paragraph\" w:styleId=\"Heading2\"><w:name w:val=\"heading 2\"/><w:basedOn w:val=\"Normal\"/><w:pPr><w:keepNext/><w:outlineLvl w:val=\"1\"/></w:pPr><w:rPr><w:b/><w:i/></w:rPr></w:style>\
<w:style w:type=\"table\" w:default=\"1\" w:styleId=\"TableNormal\"><w:name w:val=\"Normal Table\"/><w:tblPr><w:tblCellMar><w:left w:w=\"108\" w:type=\"dxa\"/><w:right w:w=\"108\" w:type=\"dxa\"/></w:tblCellMar></w:tblPr></w:style>\
<w:style w:type=\"table\" w:styleId=\"TableGrid\"><w:name w:val=\"Table Grid\"/><w:basedOn w:val=\"TableNormal\"/><w:tblPr><w:tblBorders>\
<w:top w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/><w:left w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/>\
<w:bottom w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/><w:right w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/>\
<w:insideH w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/><w:insideV w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/>\
</w:tblBorders></w:tblPr></w:style></w:styles>";

/// Renders the report as a DOCX file.
pub fn render(r: &Report) -> Result<Vec<u8>, std::io::Error> {
    let l = r.lang;
    let t = |vi: &'static str, en: &'static str| l.pick(vi, en);
    let mut b = Body {
        xml: String::with_capacity(256 * 1024),
        images: Vec::new(),
    };
    let title = match l {
        Lang::Vi => format!(
            "Báo cáo phân tích Chỉ số SIPAS — {} — {}",
            r.unit.name, r.round_title
        ),
        Lang::En => format!(
            "SIPAS analysis report — {} — {}",
            r.unit.name, r.round_title
        ),
    };
    b.para(&title, Some("Title"), false);

    b.para(t("Kết quả chung", "Headline"), Some("Heading1"), false);
    if r.insufficient {
        b.para(&html::insufficient_words(r), None, false);
    }
    let headline = html::headline_text(r);
    if !headline.is_empty() {
        b.para(&headline, None, false);
    }

    b.para(
        t(
            "Phần 1. Nhận định, đánh giá của người dân",
            "Part 1. Citizens' perception",
        ),
        Some("Heading1"),
        false,
    );
    for p in &r.perception {
        b.para(&p.label, Some("Heading2"), false);
        if !p.options.is_empty() {
            let rows: Vec<Vec<String>> = p
                .options
                .iter()
                .map(|o| vec![o.label.clone(), o.n_chosen.to_string(), l.opt(o.share)])
                .collect();
            b.table(
                &[
                    t("Lựa chọn", "Option"),
                    t("Số người chọn", "Chosen by"),
                    t("Tỷ lệ (%)", "Share (%)"),
                ],
                &rows,
            );
        }
        if !p.levels.is_empty() {
            let rows: Vec<Vec<String>> = p
                .levels
                .iter()
                .map(|o| vec![o.label.clone(), l.opt(o.top_two_share), l.opt(o.mean_level)])
                .collect();
            b.table(
                &[
                    t("Nội dung", "Row"),
                    t("Tỷ lệ hai mức cao nhất (%)", "Top two levels (%)"),
                    t("Mức trung bình", "Mean level"),
                ],
                &rows,
            );
        }
    }

    b.para(
        t(
            "Phần 2. Sự hài lòng của người dân",
            "Part 2. Citizens' satisfaction",
        ),
        Some("Heading1"),
        false,
    );
    if let Some((png, w, h)) = group_png(r) {
        b.image(png, w, h, "groups");
        let legend: Vec<String> = r
            .indices
            .iter()
            .filter(|x| x.kind == RowKind::Group)
            .map(|g| {
                format!(
                    "{}: {}",
                    g.group.as_deref().unwrap_or("").to_uppercase(),
                    l.opt(g.current.value)
                )
            })
            .collect();
        b.para(
            &format!(
                "{} {}",
                t("Biểu đồ: chỉ số theo nhóm tiêu chí (thanh đậm: năm nay; thanh nhạt: năm trước), từ trên xuống:", "Chart: index by group (dark: this round; light: previous), top to bottom:"),
                legend.join("; ")
            ),
            None,
            false,
        );
    }
    let rows: Vec<Vec<String>> = r
        .indices
        .iter()
        .map(|row| {
            let rank = |v: Option<u32>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
            vec![
                row.label.clone(),
                l.opt(row.current.value),
                l.opt(row.previous),
                row.diff().map_or_else(|| "—".to_owned(), |d| l.signed(d)),
                if row.change.is_none() {
                    "—".to_owned()
                } else if row.significant() {
                    t("Có", "Yes").to_owned()
                } else {
                    t("Không", "No").to_owned()
                },
                rank(row.rank),
                rank(row.previous_rank),
            ]
        })
        .collect();
    b.table(
        &[
            t("Tiêu chí", "Criterion"),
            t("Năm nay", "This round"),
            t("Năm trước", "Previous"),
            t("Thay đổi", "Change"),
            t("Ý nghĩa", "Significant"),
            t("Hạng", "Rank"),
            t("Hạng năm trước", "Previous rank"),
        ],
        &rows,
    );
    let named = |keys: &[String]| -> Vec<String> {
        keys.iter()
            .filter_map(|k| r.indices.iter().find(|x| &x.key == k))
            .map(|x| format!("{} ({})", x.label, l.opt(x.current.value)))
            .collect()
    };
    b.para(
        t("Các nội dung có chỉ số thấp nhất", "Weakest items"),
        Some("Heading2"),
        false,
    );
    for s in named(&r.weakest) {
        b.para(&format!("– {s}"), None, false);
    }
    if r.with.is_some() {
        b.para(
            t("Các nội dung tăng nhiều nhất", "Most improved items"),
            Some("Heading2"),
            false,
        );
        for k in &r.most_improved {
            if let Some(x) = r.indices.iter().find(|x| &x.key == k) {
                b.para(
                    &format!(
                        "– {} ({})",
                        x.label,
                        x.diff().map_or_else(|| "—".to_owned(), |d| l.signed(d))
                    ),
                    None,
                    false,
                );
            }
        }
    }

    b.para(
        t(
            "Phần 3. Nhu cầu, mong đợi của người dân",
            "Part 3. Citizens' expectations",
        ),
        Some("Heading1"),
        false,
    );
    let rows: Vec<Vec<String>> = r
        .expectations
        .iter()
        .map(|o| {
            vec![
                o.rank.map_or_else(|| "—".to_owned(), |v| v.to_string()),
                o.label.clone(),
                o.n_chosen.to_string(),
                l.opt(o.share),
            ]
        })
        .collect();
    b.table(
        &[
            t("Hạng", "Rank"),
            t("Mong đợi", "Expectation"),
            t("Số người chọn", "Chosen by"),
            t("Tỷ lệ (%)", "Share (%)"),
        ],
        &rows,
    );

    if !r.subunits.is_empty() {
        b.para(
            t("Kết quả theo đơn vị", "Results by unit"),
            Some("Heading1"),
            false,
        );
        let rows: Vec<Vec<String>> = r
            .subunits
            .iter()
            .map(|s| {
                vec![
                    s.unit.name.clone(),
                    s.n_forms.to_string(),
                    if s.withheld {
                        t("Không đủ mẫu", "Insufficient sample").to_owned()
                    } else {
                        l.opt(s.sipas)
                    },
                    l.opt(s.policy),
                    l.opt(s.service),
                    s.rank.map_or_else(|| "—".to_owned(), |v| v.to_string()),
                ]
            })
            .collect();
        b.table(
            &[
                t("Đơn vị", "Unit"),
                t("Số phiếu", "Forms"),
                "SIPAS",
                t("Chính sách", "Policy"),
                t("Dịch vụ", "Service"),
                t("Hạng", "Rank"),
            ],
            &rows,
        );
    }

    if let Some((png, w, h)) = league_png(r) {
        b.para(
            t("Xếp hạng các tỉnh, thành phố", "Provinces ranked"),
            Some("Heading1"),
            false,
        );
        b.image(png, w, h, "league");
        let rows: Vec<Vec<String>> = r
            .provinces
            .iter()
            .map(|p| {
                vec![
                    p.rank.map_or_else(|| "—".to_owned(), |v| v.to_string()),
                    p.name.clone(),
                    l.opt(p.sipas),
                ]
            })
            .collect();
        b.table(
            &[t("Hạng", "Rank"), t("Tỉnh, thành phố", "Province"), "SIPAS"],
            &rows,
        );
    }

    if !r.targets.is_empty() || !r.tasks.is_empty() {
        b.para(
            t("Mục tiêu và kế hoạch", "Targets and plans"),
            Some("Heading1"),
            false,
        );
        let rows: Vec<Vec<String>> = r
            .targets
            .iter()
            .map(|tg| {
                let (vi, en) = tg.status.words();
                vec![
                    r.indices
                        .iter()
                        .find(|x| x.key == tg.key)
                        .map_or_else(|| tg.key.clone(), |x| x.label.clone()),
                    format!("≥ {}", l.num(tg.value)),
                    l.opt(tg.estimate),
                    l.pick(vi, en).to_owned(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            b.table(
                &[
                    t("Tiêu chí", "Criterion"),
                    t("Mục tiêu", "Target"),
                    t("Kết quả", "Result"),
                    t("Đánh giá", "Assessment"),
                ],
                &rows,
            );
        }
        let rows: Vec<Vec<String>> = r
            .tasks
            .iter()
            .map(|task| {
                vec![
                    task.content.clone(),
                    task.lead_agency.clone(),
                    task.status.clone(),
                    task.criteria
                        .iter()
                        .map(|c| {
                            format!(
                                "{}: {}",
                                c.key,
                                c.diff.map_or_else(|| "—".to_owned(), |d| l.signed(d))
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                ]
            })
            .collect();
        if !rows.is_empty() {
            b.table(
                &[
                    t("Nhiệm vụ", "Task"),
                    t("Cơ quan chủ trì", "Lead agency"),
                    t("Trạng thái", "Status"),
                    t(
                        "Thay đổi của tiêu chí liên quan",
                        "Change of linked criteria",
                    ),
                ],
                &rows,
            );
        }
    }

    b.para(t("Mẫu khảo sát", "The sample"), Some("Heading1"), false);
    let s = &r.sample;
    b.table(
        &[t("Nội dung", "Item"), t("Giá trị", "Value")],
        &[
            vec![t("Số phiếu", "Forms").to_owned(), s.n_forms.to_string()],
            vec![
                t("Số thôn, bản", "Villages").to_owned(),
                s.n_villages.to_string(),
            ],
            vec![
                t("Số xã, phường", "Communes").to_owned(),
                s.n_communes.to_string(),
            ],
            vec![
                t(
                    "Thời gian khảo sát (ngày nhận phiếu)",
                    "Fieldwork (dates forms were received)",
                )
                .to_owned(),
                match (&s.first, &s.last) {
                    (Some(a), Some(b)) => format!("{a} – {b}"),
                    _ => "—".to_owned(),
                },
            ],
        ],
    );

    let mut document = String::with_capacity(b.xml.len() + 1024);
    document.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" \
         xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\" \
         xmlns:wp=\"http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing\"><w:body>",
    );
    document.push_str(&b.xml);
    document.push_str(
        "<w:sectPr><w:pgSz w:w=\"11906\" w:h=\"16838\"/><w:pgMar w:top=\"1134\" w:right=\"1134\" w:bottom=\"1134\" w:left=\"1701\" w:header=\"720\" w:footer=\"720\" w:gutter=\"0\"/></w:sectPr></w:body></w:document>",
    );
    let mut rels = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
         <Relationship Id=\"rIdStyles\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/>",
    );
    for (i, (path, _)) in b.images.iter().enumerate() {
        let _ = write!(
            rels,
            "<Relationship Id=\"rIdImg{}\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/image\" Target=\"{path}\"/>",
            i + 1
        );
    }
    rels.push_str("</Relationships>");

    let mut out = Vec::new();
    let mut zip = ZipWriter::new(time::OffsetDateTime::now_utc(), 6);
    zip.entry("[Content_Types].xml", CONTENT_TYPES.as_bytes(), &mut out);
    zip.entry("_rels/.rels", ROOT_RELS.as_bytes(), &mut out);
    zip.entry("word/document.xml", document.as_bytes(), &mut out);
    zip.entry("word/styles.xml", STYLES.as_bytes(), &mut out);
    zip.entry("word/_rels/document.xml.rels", rels.as_bytes(), &mut out);
    for (path, png) in &b.images {
        zip.entry(&format!("word/{path}"), png, &mut out);
    }
    zip.finish(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_its_chunks_and_crcs() {
        let mut c = Canvas::new(3, 2);
        c.rect(1, 0, 5, 1, [255, 0, 0]);
        let p = c.png();
        assert_eq!(&p[..8], &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
        assert_eq!(&p[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(p[16..20].try_into().unwrap()), 3);
        assert_eq!(u32::from_be_bytes(p[20..24].try_into().unwrap()), 2);
        // IHDR's CRC covers its type and data.
        let mut h = crc32fast::Hasher::new();
        h.update(&p[12..29]);
        assert_eq!(
            u32::from_be_bytes(p[29..33].try_into().unwrap()),
            h.finalize()
        );
        assert_eq!(&p[p.len() - 8..p.len() - 4], b"IEND");
        // The pixels back: rows with filter byte 0, the red run clipped to the canvas.
        let len = u32::from_be_bytes(p[33..37].try_into().unwrap()) as usize;
        assert_eq!(&p[37..41], b"IDAT");
        let mut raw = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::ZlibDecoder::new(&p[41..41 + len]),
            &mut raw,
        )
        .unwrap();
        assert_eq!(
            raw,
            vec![
                0, 255, 255, 255, 255, 0, 0, 255, 0, 0, // row 0: filter, white, red, red
                0, 255, 255, 255, 255, 255, 255, 255, 255, 255, // row 1: filter, white ×3
            ]
        );
    }

    #[test]
    fn xml_text_is_escaped_and_control_characters_dropped() {
        assert_eq!(x("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot; ");
    }
}
