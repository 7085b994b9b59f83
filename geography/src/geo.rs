//! Units of one geography, parsed from an embedded TSV file, with lookup,
//! hierarchy and search.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::fold::fold;

/// Level of an administrative unit in the hierarchy.
///
/// The 2023 geography has three levels; the 2025 one has no districts, so a
/// commune's parent there is its province.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Tỉnh / thành phố trực thuộc trung ương (GSO code of 2 digits).
    Province,
    /// Huyện / quận / thị xã / thành phố thuộc tỉnh (3 digits); 2023 only.
    District,
    /// Xã / phường / thị trấn / đặc khu (5 digits).
    Commune,
}

impl Level {
    /// The wire name (`province`, `district`, `commune`), as in the data
    /// files, the API and serde.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::District => "district",
            Level::Commune => "commune",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of parsing a [`Level`] from a string other than its wire name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLevelError(pub String);

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown level {:?} (expected province, district or commune)",
            self.0
        )
    }
}

impl std::error::Error for ParseLevelError {}

impl FromStr for Level {
    type Err = ParseLevelError;

    /// Parses the wire name exactly (`province`, `district`, `commune`), so
    /// that query parameters and data files agree with serde.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "province" => Ok(Level::Province),
            "district" => Ok(Level::District),
            "commune" => Ok(Level::Commune),
            _ => Err(ParseLevelError(s.to_owned())),
        }
    }
}

/// One administrative unit of a geography, as served by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// Official GSO code, zero-padded (2 digits province, 3 district,
    /// 5 commune). Unique within a geography only: 2025 communes reuse 2023
    /// commune codes for different units.
    pub code: String,
    /// Level in the hierarchy.
    pub level: Level,
    /// Vietnamese unit type in lower case with diacritics (`tỉnh`,
    /// `thành phố`, `huyện`, `quận`, `thị xã`, `xã`, `phường`, `thị trấn`,
    /// `đặc khu`); `thành phố` occurs at province and district level.
    #[serde(rename = "type")]
    pub unit_type: String,
    /// Official name without the type ("Lai Châu"), NFC.
    pub name: String,
    /// Code of the unit one level up; `None` for a province.
    pub parent: Option<String>,
}

impl Unit {
    /// "type name" as written in full ("tỉnh Lai Châu"), for display.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.unit_type, self.name)
    }
}

/// Filters for [`Geography::search`]; every filter given must match.
///
/// Deserialises from the query string of
/// `GET /api/v1/geographies/{geo}/units?level=&parent=&within=&q=&limit=&offset=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    /// Only units of this level.
    pub level: Option<Level>,
    /// Only direct children of this unit (e.g. the districts of a province).
    pub parent: Option<String>,
    /// Only units strictly inside this unit, at any depth (e.g. all 2023
    /// communes of a province, whose direct parent is a district).
    pub within: Option<String>,
    /// Text matched, after [`fold`](crate::fold), as a substring of the
    /// folded name or of the folded "type name" (so "lai chau" and
    /// "tinh lai chau" both find Lai Châu), or equal to the code. Blank
    /// means no text filter.
    pub q: Option<String>,
    /// Skip this many matches (pagination).
    pub offset: Option<usize>,
    /// Return at most this many matches (pagination); `None` for all.
    pub limit: Option<usize>,
}

/// One administrative geography: every unit, in force over a period, with
/// indexes built once at load.
#[derive(Debug, Serialize)]
pub struct Geography {
    /// Stable identifier used in URLs and survey rounds (`vn-2023`, `vn-2025`).
    pub code: &'static str,
    /// Vietnamese display name.
    pub name_vi: &'static str,
    /// English display name.
    pub name_en: &'static str,
    /// Levels present, from the top.
    pub levels: Vec<Level>,
    #[serde(skip)]
    units: Vec<Unit>,
    #[serde(skip)]
    index: HashMap<&'static str, u32>,
    #[serde(skip)]
    parent_idx: Vec<Option<u32>>,
    #[serde(skip)]
    children_idx: Vec<Vec<u32>>,
    /// Folded name and folded "type name" per unit, same order as `units`.
    #[serde(skip)]
    folded: Vec<(String, String)>,
}

/// Metadata of a geography, to pair with its embedded TSV.
pub(crate) struct GeographyMeta {
    pub code: &'static str,
    pub name_vi: &'static str,
    pub name_en: &'static str,
    pub levels: &'static [Level],
}

impl Geography {
    /// Parses the embedded TSV (`code level type name parent_code`, header
    /// line first). Panics with the line number on malformed data: the files
    /// are compiled in and checked by tests, so this cannot happen at run time
    /// unless the build itself is broken.
    pub(crate) fn parse(meta: GeographyMeta, tsv: &'static str) -> Geography {
        let fail = |line: usize, why: &str| -> ! {
            panic!("{}: embedded data line {}: {why}", meta.code, line + 1)
        };
        let mut lines = tsv.lines().enumerate();
        match lines.next() {
            Some((_, "code\tlevel\ttype\tname\tparent_code")) => {}
            _ => fail(0, "bad header"),
        }
        let mut units = Vec::with_capacity(tsv.len() / 32);
        let mut index = HashMap::with_capacity(tsv.len() / 32);
        for (n, line) in lines {
            let mut f = line.split('\t');
            let (Some(code), Some(level), Some(unit_type), Some(name), Some(parent), None) =
                (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                fail(n, "expected 5 tab-separated fields")
            };
            let level: Level = level.parse().unwrap_or_else(|_| fail(n, "bad level"));
            if !meta.levels.contains(&level) {
                fail(n, "level not in this geography");
            }
            if code.is_empty() || name.is_empty() || unit_type.is_empty() {
                fail(n, "empty code, name or type");
            }
            if index.insert(code, units.len() as u32).is_some() {
                fail(n, "duplicate code");
            }
            units.push(Unit {
                code: code.to_owned(),
                level,
                unit_type: unit_type.to_owned(),
                name: name.to_owned(),
                parent: (!parent.is_empty()).then(|| parent.to_owned()),
            });
        }

        let mut parent_idx = Vec::with_capacity(units.len());
        let mut children_idx = vec![Vec::new(); units.len()];
        for (i, u) in units.iter().enumerate() {
            let expected = meta
                .levels
                .iter()
                .position(|l| *l == u.level)
                .and_then(|p| p.checked_sub(1))
                .map(|p| meta.levels[p]);
            let p = match (&u.parent, expected) {
                (None, None) => None,
                (Some(pc), Some(up)) => match index.get(pc.as_str()) {
                    Some(&p) if units[p as usize].level == up => Some(p),
                    _ => fail(i + 1, "parent missing or not one level up"),
                },
                _ => fail(i + 1, "parent does not fit the level"),
            };
            if let Some(p) = p {
                children_idx[p as usize].push(i as u32);
            }
            parent_idx.push(p);
        }

        let folded = units
            .iter()
            .map(|u| {
                let name = fold(&u.name);
                let full = format!("{} {}", fold(&u.unit_type), name);
                (name, full)
            })
            .collect();

        // Rows are written sorted by level then code; keep that order as the
        // canonical one (search results rely on it) whatever the file says.
        let sorted = units
            .windows(2)
            .all(|w| (w[0].level, &w[0].code) < (w[1].level, &w[1].code));
        if !sorted {
            fail(0, "rows not sorted by level, then code");
        }

        Geography {
            code: meta.code,
            name_vi: meta.name_vi,
            name_en: meta.name_en,
            levels: meta.levels.to_vec(),
            units,
            index,
            parent_idx,
            children_idx,
            folded,
        }
    }

    /// All units, sorted by level (province first), then code.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// Number of units of `level`.
    pub fn count(&self, level: Level) -> usize {
        self.units.iter().filter(|u| u.level == level).count()
    }

    /// The unit with this code, if any.
    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.idx(code).map(|i| &self.units[i])
    }

    fn idx(&self, code: &str) -> Option<usize> {
        self.index.get(code).map(|&i| i as usize)
    }

    /// Direct children of a unit (a province's districts in 2023, its
    /// communes in 2025), sorted by code; empty if the code is unknown.
    pub fn children(&self, code: &str) -> impl Iterator<Item = &Unit> + '_ {
        let kids: &[u32] = self.idx(code).map_or(&[], |i| &self.children_idx[i]);
        kids.iter().map(|&k| &self.units[k as usize])
    }

    /// Strict ancestors of a unit, from its province down to its parent (the
    /// unit itself excluded): for a 2023 commune `[province, district]`, for a
    /// province `[]`. Empty if the code is unknown.
    pub fn ancestors(&self, code: &str) -> Vec<&Unit> {
        let mut path = self.path(code);
        path.pop();
        path
    }

    /// The unit and its ancestors, from its province down to the unit itself
    /// (a breadcrumb). Empty if the code is unknown.
    pub fn path(&self, code: &str) -> Vec<&Unit> {
        let mut out = Vec::with_capacity(3);
        let mut cur = self.idx(code);
        while let Some(i) = cur {
            out.push(&self.units[i]);
            cur = self.parent_idx[i].map(|p| p as usize);
        }
        out.reverse();
        out
    }

    /// Whether `code` is `ancestor_code` itself or lies inside it, at any
    /// depth; false if either is unknown. Used for scoping (a user or sample
    /// restricted to a province covers everything inside it).
    pub fn is_within(&self, code: &str, ancestor_code: &str) -> bool {
        let Some(target) = self.idx(ancestor_code) else {
            return false;
        };
        let mut cur = self.idx(code);
        while let Some(i) = cur {
            if i == target {
                return true;
            }
            cur = self.parent_idx[i].map(|p| p as usize);
        }
        false
    }

    /// Units matching every filter of `query`, sorted by level then code,
    /// after `offset` and cut at `limit`. An unknown `parent` or `within`
    /// matches nothing.
    pub fn search(&self, query: &SearchQuery) -> Vec<&Unit> {
        let it = self.matches(query).skip(query.offset.unwrap_or(0));
        match query.limit {
            Some(n) => it.take(n).collect(),
            None => it.collect(),
        }
    }

    /// Number of units matching `query`, ignoring `offset` and `limit` (the
    /// total for pagination).
    pub fn search_count(&self, query: &SearchQuery) -> usize {
        self.matches(query).count()
    }

    fn matches<'a, 'q>(&'a self, query: &'q SearchQuery) -> impl Iterator<Item = &'a Unit> {
        // Resolve the filters once; `Err` means "nothing can match".
        let resolve = |c: &Option<String>| match c {
            None => Ok(None),
            Some(c) => self.idx(c).map(Some).ok_or(()),
        };
        let q = query.q.as_deref().map(fold).filter(|q| !q.is_empty());
        let filters = resolve(&query.parent).and_then(|p| Ok((p, resolve(&query.within)?)));
        let (parent, within, ok) = match filters {
            Ok((p, w)) => (p, w, true),
            Err(()) => (None, None, false),
        };
        // Narrow the scan to the parent's children when one is given.
        let candidates: Box<dyn Iterator<Item = usize> + 'a> = match (ok, parent) {
            (false, _) => Box::new(std::iter::empty()),
            (true, Some(p)) => Box::new(self.children_idx[p].iter().map(|&k| k as usize)),
            (true, None) => Box::new(0..self.units.len()),
        };
        candidates
            .filter(move |&i| {
                let u = &self.units[i];
                if query.level.is_some_and(|l| l != u.level) {
                    return false;
                }
                if let Some(w) = within
                    && (i == w || !self.is_within_idx(i, w))
                {
                    return false;
                }
                match &q {
                    None => true,
                    Some(q) => {
                        let (name, full) = &self.folded[i];
                        name.contains(q.as_str()) || full.contains(q.as_str()) || u.code == *q
                    }
                }
            })
            .map(|i| &self.units[i])
    }

    fn is_within_idx(&self, mut i: usize, target: usize) -> bool {
        loop {
            if i == target {
                return true;
            }
            match self.parent_idx[i] {
                Some(p) => i = p as usize,
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: GeographyMeta = GeographyMeta {
        code: "test",
        name_vi: "thử",
        name_en: "test",
        levels: &[Level::Province, Level::District, Level::Commune],
    };

    fn tiny() -> Geography {
        Geography::parse(
            META,
            "code\tlevel\ttype\tname\tparent_code\n\
             12\tprovince\ttỉnh\tLai Châu\t\n\
             14\tprovince\ttỉnh\tSơn La\t\n\
             105\tdistrict\tthành phố\tLai Châu\t12\n\
             106\tdistrict\thuyện\tTam Đường\t12\n\
             03199\tcommune\tphường\tĐoàn Kết\t105\n",
        )
    }

    #[test]
    fn level_round_trips() {
        for l in [Level::Province, Level::District, Level::Commune] {
            assert_eq!(l.as_str().parse::<Level>(), Ok(l));
            assert_eq!(l.to_string(), l.as_str());
        }
        assert!("Province".parse::<Level>().is_err());
    }

    #[test]
    fn hierarchy() {
        let g = tiny();
        assert_eq!(g.unit("105").unwrap().name, "Lai Châu");
        let kids: Vec<_> = g.children("12").map(|u| u.code.as_str()).collect();
        assert_eq!(kids, ["105", "106"]);
        let anc: Vec<_> = g
            .ancestors("03199")
            .iter()
            .map(|u| u.code.as_str())
            .collect();
        assert_eq!(anc, ["12", "105"]);
        assert!(g.ancestors("12").is_empty());
        assert_eq!(g.path("03199").len(), 3);
        assert!(g.is_within("03199", "12"));
        assert!(g.is_within("12", "12"));
        assert!(!g.is_within("03199", "14"));
        assert!(!g.is_within("nope", "12"));
    }

    #[test]
    fn search_filters() {
        let g = tiny();
        let codes = |q: SearchQuery| -> Vec<String> {
            g.search(&q).into_iter().map(|u| u.code.clone()).collect()
        };
        let q = |s: &str| SearchQuery {
            q: Some(s.into()),
            ..Default::default()
        };
        assert_eq!(codes(q("lai chau")), ["12", "105"]);
        assert_eq!(codes(q("TỈNH lai chau")), ["12"]);
        assert_eq!(codes(q("thanh pho lai")), ["105"]);
        assert_eq!(codes(q("doan ket")), ["03199"]);
        assert_eq!(codes(q("106")), ["106"]);
        assert_eq!(codes(q("  ")).len(), 5);
        let within = SearchQuery {
            within: Some("12".into()),
            level: Some(Level::Commune),
            ..Default::default()
        };
        assert_eq!(codes(within), ["03199"]);
        let bad_parent = SearchQuery {
            parent: Some("99".into()),
            ..Default::default()
        };
        assert!(codes(bad_parent).is_empty());
        let page = SearchQuery {
            offset: Some(1),
            limit: Some(2),
            ..Default::default()
        };
        assert_eq!(codes(page.clone()), ["14", "105"]);
        assert_eq!(g.search_count(&page), 5);
    }

    #[test]
    #[should_panic(expected = "parent missing")]
    fn rejects_orphans() {
        Geography::parse(
            META,
            "code\tlevel\ttype\tname\tparent_code\n105\tdistrict\thuyện\tX\t12\n",
        );
    }

    #[test]
    fn full_name_joins_type_and_name() {
        assert_eq!(tiny().unit("12").unwrap().full_name(), "tỉnh Lai Châu");
    }
}
