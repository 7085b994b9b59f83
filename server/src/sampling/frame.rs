//! Reading the frames a province uploads: its village list and household lists, as CSV. Pure:
//! every bad line is reported with its number and stable codes, and nothing is returned unless
//! the whole file is good (the caller stores all of it or nothing).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{
    error::FieldError,
    text::{check_field, has_control},
    users::LineError,
};

use super::draw::{FrameHousehold, FrameVillage};

/// Columns of the village list (any order; extra columns are ignored).
pub const VILLAGE_COLUMNS: [&str; 4] =
    ["commune_code", "village_code", "village_name", "households"];

/// Optional columns of the village list: where the village is (WGS 84 decimal degrees; a decimal
/// comma is read too), both or neither.
pub const VILLAGE_LOCATION_COLUMNS: [&str; 2] = ["latitude", "longitude"];

/// Columns of a household list (any order; extra columns are ignored).
pub const HOUSEHOLD_COLUMNS: [&str; 4] =
    ["commune_code", "village_code", "household_ref", "head_name"];

/// Longest village code or household reference (the forms' columns hold 64).
pub const MAX_CODE: usize = 64;
/// Longest name.
pub const MAX_NAME: usize = 200;
/// The most households one village may list.
pub const MAX_HOUSEHOLDS: u32 = 100_000;

/// Why a frame file was refused as a whole.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameError {
    /// Not a CSV with the expected header (the message says what is wrong).
    Format(String),
    /// No data line.
    Empty,
    /// These lines are wrong; nothing is taken.
    BadLines(Vec<LineError>),
}

/// A CSV reader over the text, header read and checked; the indices of `columns` then of
/// `optional` (`usize::MAX` for one not in the header, read as empty).
fn reader<'a>(
    text: &'a str,
    columns: &[&str],
    optional: &[&str],
) -> Result<(csv::Reader<&'a [u8]>, Vec<usize>), FrameError> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = r
        .headers()
        .map_err(|e| FrameError::Format(format!("cannot read the header line: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let missing: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(FrameError::Format(format!(
            "missing column(s): {} (expected: {})",
            missing.join(", "),
            columns.join(",")
        )));
    }
    let idx = columns
        .iter()
        .filter_map(|c| col(c))
        .chain(optional.iter().map(|c| col(c).unwrap_or(usize::MAX)))
        .collect();
    Ok((r, idx))
}

/// Reads the records, calling `line` on each non-blank one with its line number and fields;
/// unreadable lines are reported.
fn each_line(
    mut r: csv::Reader<&[u8]>,
    idx: &[usize],
    bad: &mut Vec<LineError>,
    mut line: impl FnMut(u64, Vec<String>, &mut Vec<FieldError>),
) -> usize {
    let mut n = 0;
    for (i, rec) in r.records().enumerate() {
        let no = rec
            .as_ref()
            .ok()
            .and_then(|r| r.position().map(|p| p.line()))
            .unwrap_or(i as u64 + 2);
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                bad.push(LineError {
                    line: no,
                    errors: vec![FieldError::new(
                        "line",
                        "unreadable",
                        "Dòng không đọc được.",
                        e.to_string(),
                    )],
                });
                continue;
            }
        };
        if rec.iter().all(str::is_empty) {
            continue;
        }
        n += 1;
        let fields = idx
            .iter()
            .map(|&k| rec.get(k).unwrap_or("").to_owned())
            .collect();
        let mut errors = Vec::new();
        line(no, fields, &mut errors);
        if !errors.is_empty() {
            bad.push(LineError { line: no, errors });
        }
    }
    n
}

fn required(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if value.is_empty() {
        errors.push(FieldError::new(
            field,
            "required",
            "Không được để trống.",
            "Required.",
        ));
    } else {
        check_field(field, value, max, errors);
    }
}

/// A village's location from its `latitude` and `longitude` fields: both empty is none; one
/// alone, text that is not a number, or a value off the globe is an error.
fn location(lat: &str, lon: &str, errors: &mut Vec<FieldError>) -> Option<(f64, f64)> {
    if lat.is_empty() && lon.is_empty() {
        return None;
    }
    if lat.is_empty() || lon.is_empty() {
        errors.push(FieldError::new(
            if lat.is_empty() {
                "latitude"
            } else {
                "longitude"
            },
            "location_incomplete",
            "Cần cả vĩ độ và kinh độ, hoặc để trống cả hai.",
            "Give both latitude and longitude, or neither.",
        ));
        return None;
    }
    let mut degrees = |field: &str, text: &str, limit: f64| {
        // A decimal comma, as Vietnamese spreadsheets write it, is read as a point.
        let t = if text.contains('.') {
            text.to_owned()
        } else {
            text.replacen(',', ".", 1)
        };
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() && v.abs() <= limit => Some(v),
            Ok(_) => {
                errors.push(FieldError::new(
                    field,
                    "location_out_of_range",
                    format!("Phải từ -{limit} đến {limit} độ."),
                    format!("Must be from -{limit} to {limit} degrees."),
                ));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    field,
                    "not_a_number",
                    "Phải là số độ thập phân, ví dụ 22.3964.",
                    "Must be decimal degrees, e.g. 22.3964.",
                ));
                None
            }
        }
    };
    let a = degrees("latitude", lat, 90.0);
    let b = degrees("longitude", lon, 180.0);
    a.zip(b)
}

/// Reads a province's village list: every commune must be a commune of `geo` inside `province`,
/// each village listed once per commune (by its normalised code, the key forms are counted
/// under), with a positive household count. Names are kept exactly as given.
pub fn parse_villages(
    geo: &::geography::Geography,
    province: &str,
    text: &str,
) -> Result<Vec<FrameVillage>, FrameError> {
    let (r, idx) = reader(text, &VILLAGE_COLUMNS, &VILLAGE_LOCATION_COLUMNS)?;
    let mut bad = Vec::new();
    let mut out = Vec::new();
    let mut seen: HashMap<(String, String), u64> = HashMap::new();
    let n = each_line(r, &idx, &mut bad, |no, f, errors| {
        let (commune, code, name, households) = (&f[0], &f[1], &f[2], &f[3]);
        let mut district = None;
        match geo.unit(commune) {
            _ if commune.is_empty() => required("commune_code", commune, 16, errors),
            Some(u) if u.level == ::geography::Level::Commune => {
                if !geo.is_within(commune, province) {
                    errors.push(FieldError::new(
                        "commune_code",
                        "commune_outside_province",
                        format!("Xã {commune} không thuộc tỉnh {province}."),
                        format!("Commune {commune} is not in province {province}."),
                    ));
                }
                district = geo
                    .ancestors(commune)
                    .into_iter()
                    .find(|a| a.level == ::geography::Level::District)
                    .map(|a| a.code.clone());
            }
            _ => errors.push(FieldError::new(
                "commune_code",
                "unknown_commune",
                format!("Không có xã mã {commune} trong địa giới của đợt khảo sát."),
                format!("No commune {commune} in the round's geography."),
            )),
        }
        required("village_code", code, MAX_CODE, errors);
        required("village_name", name, MAX_NAME, errors);
        let hh = match households.parse::<i64>() {
            Ok(h) if h >= 1 && h <= i64::from(MAX_HOUSEHOLDS) => Some(h as u32),
            Ok(_) => {
                errors.push(FieldError::new(
                    "households",
                    "households_out_of_range",
                    format!("Số hộ phải từ 1 đến {MAX_HOUSEHOLDS}."),
                    format!("The household count must be from 1 to {MAX_HOUSEHOLDS}."),
                ));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "households",
                    "not_a_number",
                    "Số hộ phải là số nguyên.",
                    "The household count must be a whole number.",
                ));
                None
            }
        };
        let location = location(&f[4], &f[5], errors);
        let key = indices::cluster_key(code);
        if !code.is_empty()
            && let Some(first) = seen.insert((commune.clone(), key.clone()), no)
        {
            errors.push(FieldError::new(
                "village_code",
                "duplicate_village",
                format!("Trùng thôn với dòng {first} (cùng xã, mã thôn giống nhau khi bỏ dấu)."),
                format!("Same village as line {first} (same commune, same code ignoring marks)."),
            ));
        }
        if errors.is_empty()
            && let Some(h) = hh
        {
            out.push(FrameVillage {
                commune: commune.clone(),
                district,
                code: code.clone(),
                key,
                name: name.clone(),
                households: h,
                location,
            });
        }
    });
    if !bad.is_empty() {
        return Err(FrameError::BadLines(bad));
    }
    if n == 0 {
        return Err(FrameError::Empty);
    }
    out.sort_by(|a, b| (&a.commune, &a.key).cmp(&(&b.commune, &b.key)));
    Ok(out)
}

/// Household lists read from one file, per village (commune, normalised village code), each
/// sorted by reference.
pub type HouseholdLists = BTreeMap<(String, String), Vec<FrameHousehold>>;

/// Reads household lists: every village must be in the province's stored village list
/// (`villages`: the normalised keys per commune), each reference listed once per village.
pub fn parse_households(
    villages: &HashSet<(String, String)>,
    text: &str,
) -> Result<HouseholdLists, FrameError> {
    let (r, idx) = reader(text, &HOUSEHOLD_COLUMNS, &[])?;
    let mut bad = Vec::new();
    let mut out: HouseholdLists = BTreeMap::new();
    let mut seen: HashMap<(String, String, String), u64> = HashMap::new();
    let n = each_line(r, &idx, &mut bad, |no, f, errors| {
        let (commune, code, reference, head) = (&f[0], &f[1], &f[2], &f[3]);
        required("commune_code", commune, 16, errors);
        required("village_code", code, MAX_CODE, errors);
        required("household_ref", reference, MAX_CODE, errors);
        required("head_name", head, MAX_NAME, errors);
        let key = indices::cluster_key(code);
        if !commune.is_empty()
            && !code.is_empty()
            && !has_control(code)
            && !villages.contains(&(commune.clone(), key.clone()))
        {
            errors.push(FieldError::new(
                "village_code",
                "unknown_village",
                format!("Thôn {code} của xã {commune} không có trong danh sách thôn đã tải lên."),
                format!("Village {code} of commune {commune} is not in the uploaded village list."),
            ));
        }
        if !reference.is_empty()
            && let Some(first) = seen.insert((commune.clone(), key.clone(), reference.clone()), no)
        {
            errors.push(FieldError::new(
                "household_ref",
                "duplicate_household",
                format!("Trùng hộ với dòng {first}."),
                format!("Same household as line {first}."),
            ));
        }
        if errors.is_empty() {
            out.entry((commune.clone(), key))
                .or_default()
                .push(FrameHousehold {
                    reference: reference.clone(),
                    head_name: head.clone(),
                });
        }
    });
    if !bad.is_empty() {
        return Err(FrameError::BadLines(bad));
    }
    if n == 0 {
        return Err(FrameError::Empty);
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.reference.cmp(&b.reference));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lai_chau_communes() -> Vec<String> {
        let g = ::geography::vn_2025();
        g.units()
            .iter()
            .filter(|u| u.level == ::geography::Level::Commune && g.is_within(&u.code, "12"))
            .map(|u| u.code.clone())
            .take(2)
            .collect()
    }

    #[test]
    fn a_good_village_list_is_read_with_names_kept_exactly() {
        let c = lai_chau_communes();
        let text = format!(
            "\u{feff}village_code,commune_code,village_name,households,note\n\
             Bản 1,{0},Bản Nà Khương,150,x\n\n\
             ban 2,{0},\"Bản Hua Pầu, Nậm Nhùn\",87,\n\
             Tổ 3,{1},Tổ dân phố số 3,40,\n",
            c[0], c[1]
        );
        let v = parse_villages(::geography::vn_2025(), "12", &text).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].name, "Bản Nà Khương");
        assert_eq!(v[0].key, "ban 1");
        assert_eq!(v[1].name, "Bản Hua Pầu, Nậm Nhùn");
        assert_eq!(v[1].households, 87);
        assert_eq!(v[2].code, "Tổ 3");
    }

    #[test]
    fn a_village_location_is_optional_but_whole() {
        let c = lai_chau_communes();
        let text = format!(
            "commune_code,village_code,village_name,households,latitude,longitude\n\
             {0},Bản 1,Bản Một,150,22.3964,103.4582\n\
             {0},Bản 2,Bản Hai,80,,\n\
             {0},Bản 3,Bản Ba,40,\"22,41\",\"103,47\"\n",
            c[0]
        );
        let v = parse_villages(::geography::vn_2025(), "12", &text).unwrap();
        let at: Vec<_> = v.iter().map(|v| v.location).collect();
        assert_eq!(
            at,
            vec![Some((22.3964, 103.4582)), None, Some((22.41, 103.47))]
        );
        let text = format!(
            "commune_code,village_code,village_name,households,latitude,longitude\n\
             {0},Bản 1,Bản Một,150,22.39,\n\
             {0},Bản 2,Bản Hai,80,103.45,22.39\n\
             {0},Bản 3,Bản Ba,40,bắc,103.4\n",
            c[0]
        );
        let FrameError::BadLines(bad) =
            parse_villages(::geography::vn_2025(), "12", &text).unwrap_err()
        else {
            panic!()
        };
        let got: Vec<(u64, Vec<(&str, &str)>)> = bad
            .iter()
            .map(|l| {
                (
                    l.line,
                    l.errors
                        .iter()
                        .map(|e| (e.field.as_str(), e.code.as_str()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (2, vec![("longitude", "location_incomplete")]),
                (3, vec![("latitude", "location_out_of_range")]),
                (4, vec![("latitude", "not_a_number")]),
            ]
        );
    }

    #[test]
    fn every_bad_line_is_reported_with_its_codes() {
        let c = lai_chau_communes();
        let other = "00004"; // Hà Nội's Ba Đình ward area, outside Lai Châu
        let text = format!(
            "commune_code,village_code,village_name,households\n\
             {0},Bản 1,Bản Một,150\n\
             {0},BẢN 1,Bản Một lặp,10\n\
             99999,Bản 2,Bản Hai,10\n\
             {other},Bản 3,Bản Ba,10\n\
             {0},,Không mã,abc\n\
             {0},Bản 5,Bản Năm,0\n",
            c[0]
        );
        let FrameError::BadLines(bad) =
            parse_villages(::geography::vn_2025(), "12", &text).unwrap_err()
        else {
            panic!()
        };
        let got: Vec<(u64, Vec<&str>)> = bad
            .iter()
            .map(|l| (l.line, l.errors.iter().map(|e| e.code.as_str()).collect()))
            .collect();
        let outside = if ::geography::vn_2025().unit(other).is_some() {
            "commune_outside_province"
        } else {
            "unknown_commune"
        };
        assert_eq!(
            got,
            vec![
                (3, vec!["duplicate_village"]),
                (4, vec!["unknown_commune"]),
                (5, vec![outside]),
                (6, vec!["required", "not_a_number"]),
                (7, vec!["households_out_of_range"]),
            ]
        );
        assert_eq!(
            parse_villages(::geography::vn_2025(), "12", "commune_code,village_code\n"),
            Err(FrameError::Format(
                "missing column(s): village_name, households (expected: commune_code,village_code,village_name,households)".into()
            ))
        );
        assert_eq!(
            parse_villages(
                ::geography::vn_2025(),
                "12",
                "commune_code,village_code,village_name,households\n\n"
            ),
            Err(FrameError::Empty)
        );
    }

    #[test]
    fn household_lists_need_a_listed_village_and_unique_references() {
        let known: HashSet<(String, String)> = [("01".to_owned(), "ban 1".to_owned())].into();
        let ok = parse_households(
            &known,
            "commune_code,village_code,household_ref,head_name\n01,Bản 1,H2,Lò Thị Ánh\n01,bản 1,H1,Đèo Văn Sơn\n",
        )
        .unwrap();
        let list = &ok[&("01".to_owned(), "ban 1".to_owned())];
        assert_eq!(list[0].reference, "H1");
        assert_eq!(list[0].head_name, "Đèo Văn Sơn");
        let FrameError::BadLines(bad) = parse_households(
            &known,
            "commune_code,village_code,household_ref,head_name\n01,Bản 1,H1,A\n01,Bản 9,H2,B\n01,Bản 1,H1,C\n01,Bản 1,H3,\n",
        )
        .unwrap_err() else {
            panic!()
        };
        let got: Vec<(u64, &str)> = bad
            .iter()
            .map(|l| (l.line, l.errors[0].code.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (3, "unknown_village"),
                (4, "duplicate_household"),
                (5, "required")
            ]
        );
    }
}
