//! The checks of a form's non-answer fields that every side makes alike: its units against the
//! round's geography, its village and household codes, its revision. The server decides with
//! them (a form failing one is `invalid`); a client runs them before it stores a form, so the
//! enumerator hears of a wrong unit at the household, not days later at the next sync.

use geography::{Geography, Level};

use crate::{FieldProblem, FormSubmission};

/// The most characters of a village code or household reference.
pub const MAX_CODE_CHARS: usize = 64;

/// Every problem with `f`'s units, village, household reference and revision, in field order
/// (empty when there is none): each unit exists at its level inside its parent; the district is
/// given exactly when the round's geography has districts; village and household are non-blank
/// codes of at most [`MAX_CODE_CHARS`] characters without control characters (a NUL cannot be
/// stored); the revision is 1 or more.
///
/// `geo` is the round's geography; `None` (a client that does not ship it, e.g. one published
/// after the app) checks everything but the units, which the server then checks.
pub fn check_units<A>(geo: Option<&Geography>, f: &FormSubmission<A>) -> Vec<FieldProblem> {
    let mut errors = Vec::new();
    if let Some(geo) = geo {
        check_places(geo, f, &mut errors);
    }
    check_codes(f, &mut errors);
    errors
}

/// The units of [`check_units`].
fn check_places<A>(geo: &Geography, f: &FormSubmission<A>, errors: &mut Vec<FieldProblem>) {
    let u = &f.units;
    let unit_at = |code: &str, level: Level| geo.unit(code).filter(|x| x.level == level);
    if unit_at(&u.province, Level::Province).is_none() {
        errors.push(FieldProblem::new(
            "units.province",
            "unknown_unit",
            format!("Không có tỉnh mã '{}' trong {}.", u.province, geo.code),
            format!("No province '{}' in {}.", u.province, geo.code),
        ));
    }
    let commune_parent = match (geo.levels.contains(&Level::District), &u.district) {
        (true, Some(d)) => match unit_at(d, Level::District) {
            Some(dist) if dist.parent.as_deref() == Some(u.province.as_str()) => Some(d.as_str()),
            Some(_) => {
                errors.push(FieldProblem::new(
                    "units.district",
                    "unit_mismatch",
                    format!("Huyện '{d}' không thuộc tỉnh '{}'.", u.province),
                    format!("District '{d}' is not in province '{}'.", u.province),
                ));
                None
            }
            None => {
                errors.push(FieldProblem::new(
                    "units.district",
                    "unknown_unit",
                    format!("Không có huyện mã '{d}' trong {}.", geo.code),
                    format!("No district '{d}' in {}.", geo.code),
                ));
                None
            }
        },
        (true, None) => {
            errors.push(FieldProblem::new(
                "units.district",
                "required",
                "Đợt khảo sát này cần mã huyện.",
                "This round needs a district code.",
            ));
            None
        }
        (false, Some(_)) => {
            errors.push(FieldProblem::new(
                "units.district",
                "not_relevant",
                "Địa giới của đợt này không có cấp huyện.",
                "This round's geography has no district level.",
            ));
            None
        }
        (false, None) => Some(u.province.as_str()),
    };
    match unit_at(&u.commune, Level::Commune) {
        None => errors.push(FieldProblem::new(
            "units.commune",
            "unknown_unit",
            format!("Không có xã mã '{}' trong {}.", u.commune, geo.code),
            format!("No commune '{}' in {}.", u.commune, geo.code),
        )),
        Some(c) => {
            if let Some(parent) = commune_parent
                && c.parent.as_deref() != Some(parent)
            {
                errors.push(FieldProblem::new(
                    "units.commune",
                    "unit_mismatch",
                    format!("Xã '{}' không thuộc đơn vị '{parent}'.", u.commune),
                    format!("Commune '{}' is not in unit '{parent}'.", u.commune),
                ));
            }
        }
    }
}

/// The codes and revision of [`check_units`].
fn check_codes<A>(f: &FormSubmission<A>, errors: &mut Vec<FieldProblem>) {
    let u = &f.units;
    for (field, value) in [
        ("units.village", &u.village),
        ("household_ref", &f.household_ref),
    ] {
        let blank = value.trim().is_empty();
        if blank || value.chars().count() > MAX_CODE_CHARS {
            errors.push(FieldProblem::new(
                field,
                if blank { "required" } else { "too_long" },
                "Cần mã (tối đa 64 ký tự).",
                "A code of at most 64 characters is required.",
            ));
        } else if value.chars().any(char::is_control) {
            errors.push(FieldProblem::new(
                field,
                "invalid_characters",
                "Mã có ký tự điều khiển (như NUL) không hợp lệ.",
                "The code holds a control character (such as NUL).",
            ));
        }
    }
    if f.revision == 0 {
        errors.push(FieldProblem::new(
            "revision",
            "out_of_range",
            "Số lần sửa phải từ 1 trở lên.",
            "The revision must be 1 or more.",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FormSubmission, FormUnits};

    fn form(province: &str, district: Option<&str>, commune: &str) -> FormSubmission {
        FormSubmission {
            id: uuid::Uuid::nil(),
            round: "r".into(),
            questionnaire_code: "sipas".into(),
            questionnaire_version: 1,
            revision: 1,
            units: FormUnits {
                province: province.into(),
                district: district.map(Into::into),
                commune: commune.into(),
                village: "V01".into(),
            },
            household_ref: "HH-1".into(),
            started_at: None,
            finished_at: None,
            gps: None,
            answers: Default::default(),
        }
    }

    fn codes(p: &[FieldProblem]) -> Vec<(&str, &str)> {
        p.iter()
            .map(|p| (p.field.as_str(), p.code.as_str()))
            .collect()
    }

    #[test]
    fn units_follow_the_rounds_geography() {
        let g25 = geography::vn_2025();
        let commune = g25.children("12").next().unwrap().code.clone();
        assert!(check_units(Some(g25), &form("12", None, &commune)).is_empty());
        // 2025 has no districts: one given is not relevant.
        assert_eq!(
            codes(&check_units(Some(g25), &form("12", Some("105"), &commune))),
            [("units.district", "not_relevant")]
        );
        // A commune of another province.
        let other = g25.children("14").next().unwrap().code.clone();
        assert_eq!(
            codes(&check_units(Some(g25), &form("12", None, &other))),
            [("units.commune", "unit_mismatch")]
        );
        assert_eq!(
            codes(&check_units(Some(g25), &form("99", None, "nope"))),
            [
                ("units.province", "unknown_unit"),
                ("units.commune", "unknown_unit")
            ]
        );

        let g23 = geography::vn_2023();
        let district = g23.children("12").next().unwrap().code.clone();
        let commune = g23.children(&district).next().unwrap().code.clone();
        assert!(check_units(Some(g23), &form("12", Some(&district), &commune)).is_empty());
        assert_eq!(
            codes(&check_units(Some(g23), &form("12", None, &commune))),
            [("units.district", "required")]
        );
        let far = g23.children("14").next().unwrap().code.clone();
        assert_eq!(
            codes(&check_units(Some(g23), &form("12", Some(&far), &commune))),
            [("units.district", "unit_mismatch")]
        );
        assert_eq!(
            codes(&check_units(Some(g23), &form("12", Some("nope"), &commune))),
            [("units.district", "unknown_unit")]
        );
    }

    #[test]
    fn codes_are_bounded_and_the_revision_counts_from_one() {
        let g25 = geography::vn_2025();
        let commune = g25.children("12").next().unwrap().code.clone();
        let mut f = form("12", None, &commune);
        f.units.village = "  ".into();
        f.household_ref = "x".repeat(MAX_CODE_CHARS + 1);
        f.revision = 0;
        assert_eq!(
            codes(&check_units(Some(g25), &f)),
            [
                ("units.village", "required"),
                ("household_ref", "too_long"),
                ("revision", "out_of_range")
            ]
        );
        // 64 characters of Vietnamese are 64, not their UTF-8 bytes.
        f.units.village = "ă".repeat(MAX_CODE_CHARS);
        f.household_ref = "HH".into();
        f.revision = 1;
        assert!(check_units(Some(g25), &f).is_empty());
        f.household_ref = "HH\u{0}1".into();
        assert_eq!(
            codes(&check_units(Some(g25), &f)),
            [("household_ref", "invalid_characters")]
        );
        f.household_ref = "HH".into();
        // Without the geography the codes are still checked, the units not.
        let mut f = form("99", Some("x"), "nope");
        assert!(check_units(None, &f).is_empty());
        f.household_ref.clear();
        assert_eq!(
            codes(&check_units(None, &f)),
            [("household_ref", "required")]
        );
    }
}
