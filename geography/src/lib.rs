//! Vietnam's administrative geographies as embedded data.
//!
//! Two geographies ship with the server: `vn-2023` (63 provinces with their
//! districts and communes, the units in force before 1 July 2025) and
//! `vn-2025` (34 provinces and 3,321 communes, no district level), with
//! official GSO codes, names with diacritics and unit types, plus the
//! successor mapping from 2023 provinces and communes to 2025 ones so that
//! survey rounds on either geography can be compared.
//!
//! The data files in `data/` are generated once by
//! `scripts/gen_geography.py` from the MIT-licensed PyPI package
//! `vietnamadminunits` (see `data/SOURCE.md`) and compiled in with
//! `include_str!`; each is parsed on first use. Pure: no I/O, no async.
//! Villages (thôn, bản, tổ dân phố) are in no official list and not here.

mod fold;
mod geo;
mod mapping;

use std::sync::OnceLock;

pub use fold::fold;
pub use geo::{Geography, Level, ParseLevelError, SearchQuery, Unit};
pub use mapping::{Mapping, Successor};

use geo::GeographyMeta;

/// Code of the pre-2025 geography.
pub const VN_2023: &str = "vn-2023";
/// Code of the geography in force since 1 July 2025.
pub const VN_2025: &str = "vn-2025";

/// The 63-province geography (province, district, commune) in force until
/// 30 June 2025. Parsed on first call; see `data/SOURCE.md` for the exact
/// date of the list.
pub fn vn_2023() -> &'static Geography {
    static CELL: OnceLock<Geography> = OnceLock::new();
    CELL.get_or_init(|| {
        Geography::parse(
            GeographyMeta {
                code: VN_2023,
                name_vi: "63 tỉnh, thành phố (trước 01/7/2025)",
                name_en: "63 provinces (before 1 July 2025)",
                levels: &[Level::Province, Level::District, Level::Commune],
            },
            include_str!("../data/vn-2023.tsv"),
        )
    })
}

/// The 34-province geography (province, commune) in force since 1 July
/// 2025. Parsed on first call.
pub fn vn_2025() -> &'static Geography {
    static CELL: OnceLock<Geography> = OnceLock::new();
    CELL.get_or_init(|| {
        Geography::parse(
            GeographyMeta {
                code: VN_2025,
                name_vi: "34 tỉnh, thành phố (từ 01/7/2025)",
                name_en: "34 provinces (from 1 July 2025)",
                levels: &[Level::Province, Level::Commune],
            },
            include_str!("../data/vn-2025.tsv"),
        )
    })
}

/// The geography with this code (`vn-2023`, `vn-2025`), if shipped.
pub fn by_code(code: &str) -> Option<&'static Geography> {
    match code {
        VN_2023 => Some(vn_2023()),
        VN_2025 => Some(vn_2025()),
        _ => None,
    }
}

/// Every shipped geography, oldest first (for listing them in the API).
pub fn all() -> [&'static Geography; 2] {
    [vn_2023(), vn_2025()]
}

/// The successor mapping from `vn-2023` to `vn-2025`. Parsed on first call.
pub fn vn_2023_to_2025() -> &'static Mapping {
    static CELL: OnceLock<Mapping> = OnceLock::new();
    CELL.get_or_init(|| {
        Mapping::parse(
            VN_2023,
            VN_2025,
            include_str!("../data/vn-2023-to-vn-2025.tsv"),
        )
    })
}

/// The successor mapping from geography `from` to geography `to`, if one is
/// shipped (only `vn-2023` → `vn-2025`).
pub fn mapping(from: &str, to: &str) -> Option<&'static Mapping> {
    (from == VN_2023 && to == VN_2025).then(vn_2023_to_2025)
}

/// Successors in `vn-2025` of a `vn-2023` province, commune or island
/// district, default first; shorthand for
/// `vn_2023_to_2025().successors(old_code)`.
pub fn successors_2023_to_2025(old_code: &str) -> &'static [Successor] {
    vn_2023_to_2025().successors(old_code)
}
