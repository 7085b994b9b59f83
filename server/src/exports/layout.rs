//! The wide layout of a forms export: which columns, in which order, what each holds and how a
//! stored form's answers become cells. Pure (no I/O): the columns of every questionnaire version
//! in an export are merged into one union, in questionnaire order, so forms of several versions
//! share one table with the version on each row.
//!
//! Names are stable, made from the question codes: a question's own code; a grid row
//! `grid_item`; a multiple-choice option `question_option` (0/1); a GPS answer `code_lat`,
//! `code_lon`, `code_accuracy`; a name that one of the form's own fields ([`META`]) already has
//! gets the prefix `q_` (the respondent's `province_code` is `q_province_code`). Values:
//!
//! | kind | cell |
//! | --- | --- |
//! | single choice | the option's number (see below), labelled |
//! | multiple choice | one 0/1 column per option; all empty when the question was not asked |
//! | level, grid row | the level `1..=n`, or a special answer's code: [`special_code`] |
//! | integer | the number |
//! | text | the text as given |
//! | date | `YYYY-MM-DD` |
//! | GPS | latitude, longitude, accuracy (degrees, metres) |
//!
//! A question that was skipped (not relevant, or not answered) is an empty cell.
//!
//! A single-choice option's number is its 1-based place in the question's options, the options
//! of every version of the export taken in order of first appearance (oldest version first): in
//! an export of one version it is the option's place in that version, and an option a later
//! version adds gets the next number, so older numbers never move.

use schema::{
    Answer, Label, LevelAnswer, QuestionKind, Questionnaire, Scale, StoredAnswer, ValidAnswers,
};

/// What kind of value a column holds (drives the value's encoding in each format and the
/// storage type in the Stata, SPSS and R scripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Free text.
    Text,
    /// A whole number without labels.
    Integer,
    /// A real number (GPS).
    Number,
    /// A whole number with value labels (single choice, level, grid row).
    Coded,
    /// 0/1 (a multiple-choice option).
    Binary,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 date and time, UTC.
    DateTime,
}

impl ColumnKind {
    /// The name the codebook uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Integer => "integer",
            ColumnKind::Number => "number",
            ColumnKind::Coded => "coded",
            ColumnKind::Binary => "binary",
            ColumnKind::Date => "date",
            ColumnKind::DateTime => "datetime",
        }
    }

    /// Whether the column's cells are numbers.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ColumnKind::Integer | ColumnKind::Number | ColumnKind::Coded | ColumnKind::Binary
        )
    }
}

/// One value label of a coded column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueLabel {
    /// The number in the cell.
    pub value: i64,
    /// Its meaning.
    pub label: Label,
    /// Whether it is a special answer ("don't know", "not applicable"): a missing value for
    /// analysis.
    pub missing: bool,
}

/// One column of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its stable name (header).
    pub name: String,
    /// What it holds.
    pub kind: ColumnKind,
    /// The question it comes from (`None` for the form's own fields).
    pub question: Option<String>,
    /// The question (or field) as asked, and for a grid row or option what it adds.
    pub label: Label,
    /// Value labels (coded and binary columns).
    pub values: Vec<ValueLabel>,
}

/// The form's own fields, first on every row, in this order.
pub const META: [(&str, ColumnKind, &str, &str); 25] = [
    ("form_id", ColumnKind::Text, "Mã phiếu", "Form id"),
    ("revision", ColumnKind::Integer, "Lần sửa", "Revision"),
    ("round", ColumnKind::Text, "Đợt khảo sát", "Survey round"),
    (
        "questionnaire",
        ColumnKind::Text,
        "Bảng hỏi",
        "Questionnaire",
    ),
    (
        "questionnaire_version",
        ColumnKind::Integer,
        "Phiên bản bảng hỏi",
        "Questionnaire version",
    ),
    (
        "province_code",
        ColumnKind::Text,
        "Mã tỉnh",
        "Province code",
    ),
    ("province_name", ColumnKind::Text, "Tên tỉnh", "Province"),
    (
        "district_code",
        ColumnKind::Text,
        "Mã huyện",
        "District code",
    ),
    ("district_name", ColumnKind::Text, "Tên huyện", "District"),
    ("commune_code", ColumnKind::Text, "Mã xã", "Commune code"),
    ("commune_name", ColumnKind::Text, "Tên xã", "Commune"),
    (
        "village",
        ColumnKind::Text,
        "Thôn, bản, tổ dân phố (mã là tên)",
        "Village (its code is its name)",
    ),
    (
        "household_ref",
        ColumnKind::Text,
        "Mã hộ",
        "Household reference",
    ),
    (
        "enumerator_id",
        ColumnKind::Integer,
        "Mã điều tra viên",
        "Enumerator id",
    ),
    (
        "enumerator",
        ColumnKind::Text,
        "Tên đăng nhập điều tra viên",
        "Enumerator username",
    ),
    ("device_id", ColumnKind::Text, "Thiết bị", "Device"),
    (
        "started_at",
        ColumnKind::DateTime,
        "Bắt đầu (giờ thiết bị)",
        "Started (device clock)",
    ),
    (
        "finished_at",
        ColumnKind::DateTime,
        "Kết thúc (giờ thiết bị)",
        "Finished (device clock)",
    ),
    (
        "received_at",
        ColumnKind::DateTime,
        "Máy chủ nhận",
        "Received (server clock)",
    ),
    (
        "updated_at",
        ColumnKind::DateTime,
        "Thay đổi lần cuối",
        "Last changed (server clock)",
    ),
    ("gps_lat", ColumnKind::Number, "Vĩ độ", "GPS latitude"),
    ("gps_lon", ColumnKind::Number, "Kinh độ", "GPS longitude"),
    (
        "status",
        ColumnKind::Text,
        "Trạng thái duyệt",
        "Review state",
    ),
    (
        "content_hash",
        ColumnKind::Text,
        "Mã băm nội dung",
        "Content hash",
    ),
    (
        "seq",
        ColumnKind::Integer,
        "Số thứ tự lưu",
        "Storage sequence",
    ),
];

/// The numeric code of a scale's special answer `k` (0-based) with code `code`: the survey
/// convention `97` refused, `98` don't know, `99` not applicable; any other special answer
/// `90 + k`. Scales have at most 20 levels, so a code never meets a level.
pub fn special_code(code: &str, k: usize) -> i64 {
    match code {
        "refused" => 97,
        "dont_know" => 98,
        "not_applicable" => 99,
        _ => 90 + k as i64,
    }
}

/// Where one question's answer goes, for one questionnaire version.
#[derive(Debug, Clone)]
enum Slot {
    /// Single choice: the column, and each of this version's option codes with its number.
    Single {
        col: usize,
        options: Vec<(String, i64)>,
    },
    /// Multiple choice: each of this version's option codes with its column.
    Multi { cols: Vec<(String, usize)> },
    /// Level: the column, the scale's number of levels and its special answers with their
    /// codes.
    Level {
        col: usize,
        levels: u8,
        specials: Vec<(String, i64)>,
    },
    /// Grid: each item of this version with its column, the scale's levels and specials.
    Grid {
        items: Vec<(String, usize)>,
        levels: u8,
        specials: Vec<(String, i64)>,
    },
    /// Integer, text or date: one column.
    Plain { col: usize },
    /// GPS: latitude, longitude, accuracy.
    Gps { cols: [usize; 3] },
}

/// The columns of one export and, per questionnaire version, where each answer goes.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Every column, the form's own fields first.
    pub columns: Vec<Column>,
    /// The versions, as given (code, version, content hash).
    pub versions: Vec<(String, u32, String)>,
    /// Per version: per question in asking order, its slot.
    slots: Vec<Vec<Slot>>,
}

/// One cell of a row being built. Text lives in the row's own buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// No value.
    Empty,
    /// A whole number.
    Int(i64),
    /// A real number.
    Num(f64),
    /// Text: a range of the row's text buffer.
    Text(u32, u32),
}

/// A row being built: cells and the text they point into. Reused from row to row.
#[derive(Debug, Default)]
pub struct Row {
    /// The cells, one per column.
    pub cells: Vec<Cell>,
    /// Text of the row's text cells.
    pub text: String,
}

impl Row {
    /// A cleared row of `n` empty cells.
    pub fn reset(&mut self, n: usize) {
        self.cells.clear();
        self.cells.resize(n, Cell::Empty);
        self.text.clear();
    }

    /// Sets cell `i` to text `s`.
    pub fn set_text(&mut self, i: usize, s: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        self.cells[i] = Cell::Text(start, self.text.len() as u32);
    }

    /// Sets cell `i` to a text written by `f`.
    pub fn set_with(&mut self, i: usize, f: impl FnOnce(&mut String)) {
        let start = self.text.len() as u32;
        f(&mut self.text);
        self.cells[i] = Cell::Text(start, self.text.len() as u32);
    }

    /// The text of a text cell.
    pub fn text_of(&self, start: u32, end: u32) -> &str {
        &self.text[start as usize..end as usize]
    }
}

/// A column being assembled for the union: its definition and, for single choice, the option
/// codes in number order.
struct Pending {
    column: Column,
    /// Single choice in the version that defined it last: labelled from the union's options.
    single: bool,
}

fn level_values(scale: Option<&Scale>) -> (Vec<ValueLabel>, Vec<(String, i64)>) {
    let Some(s) = scale else {
        return (Vec::new(), Vec::new());
    };
    let mut values: Vec<ValueLabel> = s
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| ValueLabel {
            value: i as i64 + 1,
            label: l.clone(),
            missing: false,
        })
        .collect();
    let mut specials = Vec::new();
    for (k, o) in s.special.iter().enumerate() {
        let code = special_code(&o.code, k);
        specials.push((o.code.clone(), code));
        values.push(ValueLabel {
            value: code,
            label: o.label.clone(),
            missing: true,
        });
    }
    (values, specials)
}

fn joined(a: &Label, b: &Label) -> Label {
    Label {
        vi: format!("{} — {}", a.vi, b.vi),
        en: match (&a.en, &b.en) {
            (Some(x), Some(y)) => Some(format!("{x} — {y}")),
            _ => None,
        },
    }
}

fn binary_values() -> Vec<ValueLabel> {
    vec![
        ValueLabel {
            value: 0,
            label: Label::new("Không chọn", "Not selected"),
            missing: false,
        },
        ValueLabel {
            value: 1,
            label: Label::new("Có chọn", "Selected"),
            missing: false,
        },
    ]
}

impl Layout {
    /// The layout of an export of forms filled on `versions` (any order; sorted here by code
    /// and version, oldest first). Column order: the form's fields ([`META`]), then the answers
    /// in questionnaire order, a column that only an older version has placed after the column
    /// it followed there.
    pub fn new(versions: &[&Questionnaire]) -> Layout {
        let mut qs: Vec<&Questionnaire> = versions.to_vec();
        qs.sort_by(|a, b| (&a.code, a.version).cmp(&(&b.code, b.version)));
        qs.dedup_by(|a, b| a.code == b.code && a.version == b.version);
        let mut columns: Vec<Column> = META
            .iter()
            .map(|(name, kind, vi, en)| Column {
                name: (*name).to_owned(),
                kind: *kind,
                question: None,
                label: Label::new(*vi, *en),
                values: Vec::new(),
            })
            .collect();
        let n_meta = columns.len();
        // The union, by name; option numbers per single-choice question code.
        let mut union: Vec<Pending> = Vec::new();
        let mut option_numbers: Vec<(String, Vec<String>)> = Vec::new();
        let mut per_version_names: Vec<Vec<Vec<String>>> = Vec::new();
        for q in &qs {
            let mut names_by_question: Vec<Vec<String>> = Vec::new();
            let mut last: Option<usize> = None;
            for question in q.questions() {
                let mut defs: Vec<Column> = Vec::new();
                let single = matches!(question.kind, QuestionKind::SingleChoice { .. });
                let code = &question.code;
                let col = |name: String, kind, label: Label, values| Column {
                    name,
                    kind,
                    question: Some(code.clone()),
                    label,
                    values,
                };
                match &question.kind {
                    QuestionKind::SingleChoice { options } => {
                        let entry = match option_numbers.iter_mut().find(|(c, _)| c == code) {
                            Some((_, v)) => v,
                            None => {
                                option_numbers.push((code.clone(), Vec::new()));
                                &mut option_numbers.last_mut().expect("just pushed").1
                            }
                        };
                        for o in options {
                            if !entry.contains(&o.code) {
                                entry.push(o.code.clone());
                            }
                        }
                        defs.push(col(
                            code.clone(),
                            ColumnKind::Coded,
                            question.label.clone(),
                            Vec::new(),
                        ));
                    }
                    QuestionKind::MultipleChoice { options, .. } => {
                        for o in options {
                            defs.push(col(
                                format!("{code}_{}", o.code),
                                ColumnKind::Binary,
                                joined(&question.label, &o.label),
                                binary_values(),
                            ));
                        }
                    }
                    QuestionKind::Level { .. } => {
                        let (values, _) = level_values(q.scale_of(question));
                        defs.push(col(
                            code.clone(),
                            ColumnKind::Coded,
                            question.label.clone(),
                            values,
                        ));
                    }
                    QuestionKind::Grid { items, .. } => {
                        let (values, _) = level_values(q.scale_of(question));
                        for it in items {
                            defs.push(col(
                                format!("{code}_{}", it.code),
                                ColumnKind::Coded,
                                joined(&question.label, &it.label),
                                values.clone(),
                            ));
                        }
                    }
                    QuestionKind::Integer { .. } => defs.push(col(
                        code.clone(),
                        ColumnKind::Integer,
                        question.label.clone(),
                        Vec::new(),
                    )),
                    QuestionKind::Text { .. } => defs.push(col(
                        code.clone(),
                        ColumnKind::Text,
                        question.label.clone(),
                        Vec::new(),
                    )),
                    QuestionKind::Date { .. } => defs.push(col(
                        code.clone(),
                        ColumnKind::Date,
                        question.label.clone(),
                        Vec::new(),
                    )),
                    QuestionKind::Gps {} => {
                        for (suffix, vi, en) in [
                            ("lat", "vĩ độ", "latitude"),
                            ("lon", "kinh độ", "longitude"),
                            ("accuracy", "độ chính xác (m)", "accuracy (m)"),
                        ] {
                            defs.push(col(
                                format!("{code}_{suffix}"),
                                ColumnKind::Number,
                                joined(&question.label, &Label::new(vi, en)),
                                Vec::new(),
                            ));
                        }
                    }
                }
                let mut names = Vec::new();
                for mut d in defs {
                    // An answer named like one of the form's own fields (SIPAS asks the
                    // respondent's `province_code`) is told apart by a prefix.
                    if META.iter().any(|(m, ..)| *m == d.name) {
                        d.name = format!("q_{}", d.name);
                    }
                    names.push(d.name.clone());
                    match union.iter().position(|p| p.column.name == d.name) {
                        Some(i) => {
                            // A later version's labels win.
                            union[i] = Pending { column: d, single };
                            last = Some(i);
                        }
                        None => {
                            // Right after the column it follows in its own version.
                            let at = last.map_or(0, |i| i + 1);
                            union.insert(at, Pending { column: d, single });
                            last = Some(at);
                        }
                    }
                }
                names_by_question.push(names);
            }
            per_version_names.push(names_by_question);
        }
        // Single-choice value labels: the union's options, labelled by the newest version
        // that has them.
        for p in union.iter_mut().filter(|p| p.single) {
            let name = p.column.name.clone();
            let Some((_, codes)) = option_numbers.iter().find(|(c, _)| *c == name) else {
                continue;
            };
            let label_of = |code: &str| {
                qs.iter()
                    .rev()
                    .filter_map(|q| q.question(&name))
                    .find_map(|qq| {
                        qq.kind
                            .options()
                            .iter()
                            .find(|o| o.code == code)
                            .map(|o| o.label.clone())
                    })
                    .unwrap_or_else(|| Label::vi(code))
            };
            p.column.values = codes
                .iter()
                .enumerate()
                .map(|(i, c)| ValueLabel {
                    value: i as i64 + 1,
                    label: label_of(c),
                    missing: false,
                })
                .collect();
        }
        columns.extend(union.into_iter().map(|p| p.column));
        let index_of = |name: &str| {
            columns[n_meta..]
                .iter()
                .position(|c| c.name == name)
                .map(|i| i + n_meta)
                .expect("every version's column is in the union")
        };
        let mut slots = Vec::new();
        for (q, names) in qs.iter().zip(&per_version_names) {
            let mut v = Vec::new();
            for (question, names) in q.questions().zip(names) {
                let cols: Vec<usize> = names.iter().map(|n| index_of(n)).collect();
                let coded =
                    |codes: Vec<String>| codes.into_iter().zip(cols.iter().copied()).collect();
                v.push(match &question.kind {
                    QuestionKind::SingleChoice { options } => {
                        let codes = &option_numbers
                            .iter()
                            .find(|(c, _)| *c == question.code)
                            .expect("numbered above")
                            .1;
                        Slot::Single {
                            col: cols[0],
                            options: options
                                .iter()
                                .map(|o| {
                                    let n = codes.iter().position(|c| *c == o.code).unwrap_or(0);
                                    (o.code.clone(), n as i64 + 1)
                                })
                                .collect(),
                        }
                    }
                    QuestionKind::MultipleChoice { options, .. } => Slot::Multi {
                        cols: coded(options.iter().map(|o| o.code.clone()).collect()),
                    },
                    QuestionKind::Level { .. } => Slot::Level {
                        col: cols[0],
                        levels: q.scale_of(question).map_or(0, Scale::n_levels),
                        specials: level_values(q.scale_of(question)).1,
                    },
                    QuestionKind::Grid { items, .. } => Slot::Grid {
                        items: coded(items.iter().map(|i| i.code.clone()).collect()),
                        levels: q.scale_of(question).map_or(0, Scale::n_levels),
                        specials: level_values(q.scale_of(question)).1,
                    },
                    QuestionKind::Gps {} => Slot::Gps {
                        cols: [cols[0], cols[1], cols[2]],
                    },
                    _ => Slot::Plain { col: cols[0] },
                });
            }
            slots.push(v);
        }
        Layout {
            columns,
            versions: qs
                .iter()
                .map(|q| (q.code.clone(), q.version, q.content_hash()))
                .collect(),
            slots,
        }
    }

    /// A layout of fixed columns that holds no answers (the quarantine export).
    pub fn plain(columns: Vec<Column>) -> Layout {
        Layout {
            columns,
            versions: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// The position of questionnaire `code` v`version` among [`Layout::versions`].
    pub fn version_index(&self, code: &str, version: u32) -> Option<usize> {
        self.versions
            .iter()
            .position(|(c, v, _)| c == code && *v == version)
    }

    /// The position of the column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Writes the answers of a form of version `version` (its index in [`Layout::versions`])
    /// into `row`'s answer cells (the others are left as they are).
    pub fn fill_answers(&self, version: usize, answers: &ValidAnswers, row: &mut Row) {
        let Some(slots) = self.slots.get(version) else {
            return;
        };
        fn level(l: &LevelAnswer, specials: &[(String, i64)]) -> Cell {
            match l {
                LevelAnswer::Level(n) => Cell::Int(i64::from(*n)),
                LevelAnswer::Special(c) => specials
                    .iter()
                    .find(|(s, _)| s == c)
                    .map_or(Cell::Empty, |(_, v)| Cell::Int(*v)),
            }
        }
        for (pos, slot) in slots.iter().enumerate() {
            let Some(answer) = answers.at(pos) else {
                continue;
            };
            match (slot, answer) {
                (Slot::Single { col, options }, Answer::Choice(c)) => {
                    if let Some((_, n)) = options.iter().find(|(o, _)| o == c) {
                        row.cells[*col] = Cell::Int(*n);
                    }
                }
                (Slot::Multi { cols }, Answer::Choices(picked)) => {
                    for (_, c) in cols {
                        row.cells[*c] = Cell::Int(0);
                    }
                    for p in picked {
                        if let Some((_, c)) = cols.iter().find(|(o, _)| o == p) {
                            row.cells[*c] = Cell::Int(1);
                        }
                    }
                }
                (Slot::Level { col, specials, .. }, Answer::Level(l)) => {
                    row.cells[*col] = level(l, specials);
                }
                (
                    Slot::Grid {
                        items, specials, ..
                    },
                    Answer::Grid(rows),
                ) => {
                    for (item, l) in rows.iter() {
                        if let Some((_, col)) = items.iter().find(|(code, _)| code == item) {
                            row.cells[*col] = level(l, specials);
                        }
                    }
                }
                (Slot::Plain { col }, Answer::Integer(i)) => row.cells[*col] = Cell::Int(*i),
                (Slot::Plain { col }, Answer::Text(s) | Answer::Date(s)) => row.set_text(*col, s),
                (Slot::Gps { cols }, Answer::Gps(p)) => {
                    row.cells[cols[0]] = Cell::Num(p.lat);
                    row.cells[cols[1]] = Cell::Num(p.lon);
                    if let Some(a) = p.accuracy {
                        row.cells[cols[2]] = Cell::Num(a);
                    }
                }
                _ => {}
            }
        }
    }
    /// Writes the answers of a stored blob of version `version` into `row`'s answer cells, read
    /// straight from the blob ([`schema::walk`]): what [`Layout::fill_answers`] writes for the
    /// decoded answers, without building them (an export's hot path).
    pub fn fill_stored(
        &self,
        version: usize,
        q: &Questionnaire,
        blob: &[u8],
        row: &mut Row,
    ) -> Result<(), schema::DecodeError> {
        let Some(slots) = self.slots.get(version) else {
            return Ok(());
        };
        fn level(b: u8, levels: u8, specials: &[(String, i64)]) -> Cell {
            if (1..=levels).contains(&b) {
                Cell::Int(i64::from(b))
            } else {
                specials
                    .get(usize::from(b.wrapping_sub(levels).wrapping_sub(1)))
                    .map_or(Cell::Empty, |(_, v)| Cell::Int(*v))
            }
        }
        let cells = &mut row.cells;
        let text = &mut row.text;
        let mut set_text = |cells: &mut Vec<Cell>, i: usize, s: &str| {
            let start = text.len() as u32;
            text.push_str(s);
            cells[i] = Cell::Text(start, text.len() as u32);
        };
        schema::walk(q, blob, |pos, a| {
            let Some(slot) = slots.get(pos) else {
                return;
            };
            match (slot, a) {
                (Slot::Single { col, options }, StoredAnswer::Choice(i)) => {
                    if let Some((_, n)) = options.get(i) {
                        cells[*col] = Cell::Int(*n);
                    }
                }
                (Slot::Multi { cols }, StoredAnswer::Choices(bits)) => {
                    for (i, (_, c)) in cols.iter().enumerate() {
                        let on = bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
                        cells[*c] = Cell::Int(i64::from(on));
                    }
                }
                (
                    Slot::Level {
                        col,
                        levels,
                        specials,
                    },
                    StoredAnswer::Level(b),
                ) => cells[*col] = level(b, *levels, specials),
                (
                    Slot::Grid {
                        items,
                        levels,
                        specials,
                    },
                    StoredAnswer::Grid(bytes),
                ) => {
                    for ((_, col), &b) in items.iter().zip(bytes) {
                        if b != 0 {
                            cells[*col] = level(b, *levels, specials);
                        }
                    }
                }
                (Slot::Plain { col }, StoredAnswer::Integer(v)) => cells[*col] = Cell::Int(v),
                (Slot::Plain { col }, StoredAnswer::Text(t)) => set_text(cells, *col, t),
                (Slot::Plain { col }, StoredAnswer::Date(d)) => {
                    let s = format!("{:04}-{:02}-{:02}", d / 10_000, d / 100 % 100, d % 100);
                    set_text(cells, *col, &s);
                }
                (Slot::Gps { cols }, StoredAnswer::Gps(lat, lon, acc)) => {
                    cells[cols[0]] = Cell::Num(lat);
                    cells[cols[1]] = Cell::Num(lon);
                    if let Some(a) = acc {
                        cells[cols[2]] = Cell::Num(a);
                    }
                }
                _ => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sipas() -> &'static Questionnaire {
        schema::builtin::sipas()
    }

    #[test]
    fn sipas_columns_are_unique_stata_names() {
        let l = Layout::new(&[sipas()]);
        let mut names: Vec<&str> = l.columns.iter().map(|c| c.name.as_str()).collect();
        for n in &names {
            assert!(n.len() <= 32, "{n} is longer than Stata's 32 characters");
            assert!(
                n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{n}"
            );
        }
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "column names repeat");
        // Grids expanded per row, multiple choice per option.
        assert!(
            l.column("p1_info_forms").is_some()
                || l.columns.iter().any(|c| c.name.starts_with("p1_"))
        );
        assert!(l.columns.iter().any(|c| c.name.starts_with("c2_channels_")));
    }

    #[test]
    fn a_complete_form_fills_its_cells() {
        let q = sipas();
        let l = Layout::new(&[q]);
        let valid = schema::validate(q, &schema::sample::complete_sipas_answers()).unwrap();
        let mut row = Row::default();
        row.reset(l.columns.len());
        l.fill_answers(0, &valid, &mut row);
        let age = l.column("age").unwrap();
        assert!(matches!(row.cells[age], Cell::Int(_)));
        for (code, answer) in valid.iter() {
            match answer {
                Answer::Grid(rows) => {
                    for (item, _) in rows.iter() {
                        let c = l.column(&format!("{code}_{item}")).unwrap();
                        assert!(matches!(row.cells[c], Cell::Int(_)), "{code}_{item}");
                    }
                }
                Answer::Choices(_) => {}
                _ => assert!(l.column(code).is_some(), "{code}"),
            }
        }
    }

    #[test]
    fn versions_are_unioned_in_questionnaire_order() {
        let v1 = sipas().clone();
        let mut v2 = v1.clone();
        v2.version = 2;
        // v2 drops `occupation`, adds `phone_owner` after `gender`, and adds an option.
        let respondent = &mut v2.sections[0].questions;
        respondent.retain(|q| q.code != "occupation");
        let mut extra = respondent[1].clone();
        extra.code = "phone_owner".into();
        respondent.insert(2, extra);
        if let QuestionKind::SingleChoice { options } = &mut respondent[1].kind {
            let mut o = options[0].clone();
            o.code = "other_gender".into();
            options.insert(0, o);
        }
        let l = Layout::new(&[&v2, &v1]);
        let pos = |n: &str| l.column(n).unwrap_or_else(|| panic!("{n}"));
        assert!(pos("gender") < pos("phone_owner"));
        assert!(pos("phone_owner") < pos("ethnicity"));
        assert!(pos("education") < pos("occupation"));
        let gender = &l.columns[pos("gender")];
        // v1's options keep their numbers; v2's new option comes after them.
        let n = gender.values.len();
        assert_eq!(gender.values[n - 1].value as usize, n);
        assert!(gender.values.iter().any(|v| v.label
            == sipas().question("gender").unwrap().kind.options()[0].label
            && v.value == 1));
        assert_eq!(l.versions.len(), 2);
        assert_eq!(l.version_index("sipas", 2), Some(1));
    }

    #[test]
    fn reading_the_blob_fills_what_the_decoded_answers_fill() {
        let q = sipas();
        let l = Layout::new(&[q]);
        let mut forms = vec![schema::sample::complete_sipas_answers()];
        forms.push(schema::sample::sipas_answers_with_levels(&[2; 39]));
        let mut special = schema::sample::complete_sipas_answers();
        special.insert(
            "p1".into(),
            serde_json::json!({"info_forms": "dont_know", "info_easy": "not_applicable"}),
        );
        forms.push(special);
        for f in forms {
            let Ok(valid) = schema::validate(q, &f) else {
                continue;
            };
            let (mut a, mut b) = (Row::default(), Row::default());
            a.reset(l.columns.len());
            b.reset(l.columns.len());
            l.fill_answers(0, &valid, &mut a);
            l.fill_stored(0, q, &valid.encode(q), &mut b).unwrap();
            let text = |r: &Row| -> Vec<String> {
                r.cells
                    .iter()
                    .map(|c| match *c {
                        Cell::Text(x, y) => r.text_of(x, y).to_owned(),
                        other => format!("{other:?}"),
                    })
                    .collect()
            };
            assert_eq!(text(&a), text(&b));
        }
    }

    #[test]
    fn special_answers_have_the_survey_codes() {
        assert_eq!(special_code("dont_know", 0), 98);
        assert_eq!(special_code("not_applicable", 1), 99);
        assert_eq!(special_code("refused", 2), 97);
        assert_eq!(special_code("other", 3), 93);
    }
}
