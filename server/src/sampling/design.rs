//! A round's sampling design as data: what it stratifies by and, stage by stage, which units it
//! draws, how many per selected unit of the stage above, and how. Pure: validated against a
//! geography, no I/O.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The format of [`Design`] (a stored design says which one it follows).
pub const DESIGN_FORMAT: u32 = 1;

/// The most units a stage may draw per selected parent unit (a village frame of 150 households is
/// the largest list a stage draws from in practice; this bounds a mistyped design).
pub const MAX_PER_PARENT: u32 = 1_000;

/// The level of the units a stage draws.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StageLevel {
    /// Huyện (2023 geography only).
    District,
    /// Xã, phường, thị trấn, đặc khu.
    Commune,
    /// Thôn, bản, tổ dân phố: from the uploaded village list.
    Village,
    /// Hộ: from the uploaded household list of each selected village.
    Household,
}

impl StageLevel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StageLevel::District => "district",
            StageLevel::Commune => "commune",
            StageLevel::Village => "village",
            StageLevel::Household => "household",
        }
    }
}

/// How a stage selects its units among the candidates under one selected parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Simple random sampling without replacement: every candidate has probability `n/N`.
    Srs,
    /// Probability proportional to size (the households of the unit's listed villages), systematic
    /// over the candidates in code order: probability `n·size/total`; a unit whose size would give
    /// a probability of 1 or more is taken with certainty.
    Pps,
}

/// Which units a design's strata are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strata {
    /// Each province is drawn on its own (SIPAS: every province has its own sample).
    Province,
}

/// One stage of a design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// What the stage draws.
    pub level: StageLevel,
    /// How many units it draws under each selected unit of the stage above (for the first stage,
    /// per stratum). Certainty units count towards it.
    pub per_parent: u32,
    /// How it selects them.
    pub selection: Selection,
    /// Units always taken when they are candidates (e.g. the provincial capital), by code of the
    /// round's geography; district and commune stages only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certainty: Vec<String>,
    /// Reserve households drawn after the main ones, used in order when a household refuses or
    /// cannot be found; household stage only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserves: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A round's sampling design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Design {
    /// What the draws are stratified by.
    pub strata: Strata,
    /// The stages, top first; the last draws households, the one before it villages.
    pub stages: Vec<Stage>,
}

impl Design {
    /// The SIPAS 2023 design as the Lai Châu report describes it: per province 3 districts, 3
    /// communes per district, 2 villages per commune, each drawn at random; 31 households per
    /// village from its listed frame (558 forms over 18 villages in Lai Châu), with 5 reserves.
    pub fn sipas_2023() -> Design {
        Design {
            strata: Strata::Province,
            stages: vec![
                Stage::srs(StageLevel::District, 3),
                Stage::srs(StageLevel::Commune, 3),
                Stage::srs(StageLevel::Village, 2),
                Stage {
                    reserves: 5,
                    ..Stage::srs(StageLevel::Household, 31)
                },
            ],
        }
    }

    /// The 2025 design on the geography without districts: 9 communes per province drawn
    /// directly (as many as 3 × 3 before), 2 villages per commune, 31 households per village with
    /// 5 reserves.
    pub fn sipas_2025() -> Design {
        Design {
            strata: Strata::Province,
            stages: vec![
                Stage::srs(StageLevel::Commune, 9),
                Stage::srs(StageLevel::Village, 2),
                Stage {
                    reserves: 5,
                    ..Stage::srs(StageLevel::Household, 31)
                },
            ],
        }
    }

    /// The stages that draw areas (all but the household stage).
    pub fn area_stages(&self) -> &[Stage] {
        &self.stages[..self.stages.len().saturating_sub(1)]
    }

    /// The household stage.
    pub fn household_stage(&self) -> Option<&Stage> {
        self.stages
            .last()
            .filter(|s| s.level == StageLevel::Household)
    }

    /// The level of the first stage's units: the primary sampling units of the design.
    pub fn psu_level(&self) -> Option<StageLevel> {
        self.stages.first().map(|s| s.level)
    }

    /// Checks the design against the round's geography; every problem is reported with the
    /// field it is in (`stages[1].level`, ...) and a stable code.
    pub fn validate(&self, geo: &::geography::Geography) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let has_districts = geo.levels.contains(&::geography::Level::District);
        let n = self.stages.len();
        if n < 2 {
            errors.push(FieldError::new(
                "stages",
                "too_few_stages",
                "Thiết kế cần ít nhất hai cấp chọn: thôn và hộ.",
                "A design needs at least two stages: villages and households.",
            ));
        }
        let mut prev: Option<StageLevel> = None;
        for (i, s) in self.stages.iter().enumerate() {
            let f = |name: &str| format!("stages[{i}].{name}");
            if prev.is_some_and(|p| s.level <= p) {
                errors.push(FieldError::new(
                    f("level"),
                    "stage_order",
                    "Các cấp chọn phải đi từ trên xuống, mỗi cấp một lần.",
                    "Stages must go downwards, each level once.",
                ));
            }
            if s.level == StageLevel::District && !has_districts {
                errors.push(FieldError::new(
                    f("level"),
                    "level_not_in_geography",
                    "Địa giới của đợt khảo sát này không có cấp huyện.",
                    "The round's geography has no districts.",
                ));
            }
            let last = i + 1 == n;
            if last && s.level != StageLevel::Household {
                errors.push(FieldError::new(
                    f("level"),
                    "last_stage_not_households",
                    "Cấp chọn cuối cùng phải là hộ.",
                    "The last stage must draw households.",
                ));
            }
            if i + 2 == n && s.level != StageLevel::Village {
                errors.push(FieldError::new(
                    f("level"),
                    "villages_before_households",
                    "Cấp chọn trước hộ phải là thôn.",
                    "The stage before households must draw villages.",
                ));
            }
            if s.per_parent == 0 || s.per_parent > MAX_PER_PARENT {
                errors.push(FieldError::new(
                    f("per_parent"),
                    "out_of_range",
                    format!("Từ 1 đến {MAX_PER_PARENT}."),
                    format!("From 1 to {MAX_PER_PARENT}."),
                ));
            }
            if s.level == StageLevel::Household && s.selection == Selection::Pps {
                errors.push(FieldError::new(
                    f("selection"),
                    "pps_without_size",
                    "Hộ không có quy mô để chọn theo xác suất tỷ lệ với quy mô.",
                    "Households have no size to select proportionally to.",
                ));
            }
            if s.reserves > 0 && s.level != StageLevel::Household {
                errors.push(FieldError::new(
                    f("reserves"),
                    "reserves_not_households",
                    "Chỉ cấp hộ có hộ dự phòng.",
                    "Only the household stage has reserves.",
                ));
            }
            if s.reserves > MAX_PER_PARENT {
                errors.push(FieldError::new(
                    f("reserves"),
                    "out_of_range",
                    format!("Tối đa {MAX_PER_PARENT}."),
                    format!("At most {MAX_PER_PARENT}."),
                ));
            }
            for (j, code) in s.certainty.iter().enumerate() {
                let want = match s.level {
                    StageLevel::District => Some(::geography::Level::District),
                    StageLevel::Commune => Some(::geography::Level::Commune),
                    _ => None,
                };
                let ok = want.is_some_and(|l| geo.unit(code).is_some_and(|u| u.level == l));
                if !ok {
                    errors.push(FieldError::new(
                        format!("stages[{i}].certainty[{j}]"),
                        "unknown_unit",
                        format!(
                            "{code}: không phải đơn vị thuộc cấp này của địa giới đợt khảo sát."
                        ),
                        format!(
                            "{code}: not a unit of this stage's level in the round's geography."
                        ),
                    ));
                }
            }
            prev = Some(s.level);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Stage {
    /// A simple random stage drawing `n` per parent, no certainty units, no reserves.
    pub fn srs(level: StageLevel, n: u32) -> Stage {
        Stage {
            level,
            per_parent: n,
            selection: Selection::Srs,
            certainty: Vec::new(),
            reserves: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_designs_fit_their_geographies() {
        assert_eq!(
            Design::sipas_2023().validate(::geography::vn_2023()),
            Ok(())
        );
        assert_eq!(
            Design::sipas_2025().validate(::geography::vn_2025()),
            Ok(())
        );
        assert_eq!(Design::sipas_2023().psu_level(), Some(StageLevel::District));
        assert_eq!(Design::sipas_2025().psu_level(), Some(StageLevel::Commune));
        // The 2025 geography has no districts.
        let errs = Design::sipas_2023()
            .validate(::geography::vn_2025())
            .unwrap_err();
        assert_eq!(errs[0].code, "level_not_in_geography");
        assert_eq!(errs[0].field, "stages[0].level");
    }

    #[test]
    fn a_wrong_design_names_every_problem() {
        let d = Design {
            strata: Strata::Province,
            stages: vec![
                Stage {
                    certainty: vec!["99999".into()],
                    ..Stage::srs(StageLevel::Commune, 0)
                },
                Stage::srs(StageLevel::Commune, 2),
                Stage {
                    selection: Selection::Pps,
                    ..Stage::srs(StageLevel::Household, 3)
                },
            ],
        };
        let codes: Vec<(String, String)> = d
            .validate(::geography::vn_2025())
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect();
        let want = [
            ("stages[0].per_parent", "out_of_range"),
            ("stages[0].certainty[0]", "unknown_unit"),
            ("stages[1].level", "stage_order"),
            ("stages[1].level", "villages_before_households"),
            ("stages[2].selection", "pps_without_size"),
        ];
        assert_eq!(
            codes,
            want.map(|(f, c)| (f.to_owned(), c.to_owned())).to_vec()
        );
    }

    #[test]
    fn designs_round_trip_as_json() {
        let d = Design::sipas_2023();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Design>(&json).unwrap(), d);
        assert!(
            serde_json::from_str::<Design>(r#"{"strata":"province","stages":[],"x":1}"#).is_err()
        );
    }
}
