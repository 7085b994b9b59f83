//! Successor mapping from the units of one geography to those of a later one.

use std::collections::HashMap;

use serde::Serialize;

use crate::geo::{Geography, Level};

/// One successor of an old unit in the newer geography.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Successor {
    /// Code of the successor unit in the newer geography.
    pub code: String,
    /// Whether this is the old unit's default successor: the one to use when
    /// an old unit must be placed in exactly one new unit (an old commune
    /// divided among several new ones has one default). Exactly one per old
    /// unit.
    pub is_default: bool,
}

/// Successor mapping between two geographies (`vn-2023` → `vn-2025`), so that
/// results of rounds on different geographies can be compared.
///
/// Provinces and communes are mapped. Districts are not (the 2025 geography
/// has none): a district's successors are those of its communes, see
/// [`Mapping::derived_successors`]. The exception is the five 2023 island
/// districts that had no communes (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn,
/// Côn Đảo), which are mapped directly to their 2025 đặc khu.
#[derive(Debug)]
pub struct Mapping {
    /// Code of the older geography.
    pub from: &'static str,
    /// Code of the newer geography.
    pub to: &'static str,
    succ: HashMap<&'static str, Vec<Successor>>,
    pred: HashMap<&'static str, Vec<(&'static str, bool)>>,
    /// The keys of `succ`, sorted: every listing of the mapping follows this order, so that what
    /// is derived from a listing (the server's stored hash of the mapping) is the same in every
    /// process, whatever the hash map's per-process random order.
    old: Vec<&'static str>,
    rows: usize,
}

impl Mapping {
    /// Parses the embedded TSV (`old_code old_level new_code is_default`).
    /// Panics on malformed data (checked by tests, see [`Geography::parse`]).
    pub(crate) fn parse(from: &'static str, to: &'static str, tsv: &'static str) -> Mapping {
        let fail = |line: usize, why: &str| -> ! {
            panic!("{from}->{to}: embedded mapping line {}: {why}", line + 1)
        };
        let mut lines = tsv.lines().enumerate();
        match lines.next() {
            Some((_, "old_code\told_level\tnew_code\tis_default")) => {}
            _ => fail(0, "bad header"),
        }
        let mut succ: HashMap<&'static str, Vec<Successor>> = HashMap::with_capacity(11_000);
        let mut pred: HashMap<&'static str, Vec<(&'static str, bool)>> =
            HashMap::with_capacity(3_400);
        let mut rows = 0;
        for (n, line) in lines {
            let mut f = line.split('\t');
            let (Some(old), Some(level), Some(new), Some(default), None) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                fail(n, "expected 4 tab-separated fields")
            };
            level
                .parse::<Level>()
                .unwrap_or_else(|_| fail(n, "bad level"));
            let is_default = match default {
                "1" => true,
                "0" => false,
                _ => fail(n, "is_default must be 0 or 1"),
            };
            succ.entry(old).or_default().push(Successor {
                code: new.to_owned(),
                is_default,
            });
            pred.entry(new).or_default().push((old, is_default));
            rows += 1;
        }
        for list in succ.values_mut() {
            // Default first, so `successors(old)[0]` is the default.
            list.sort_by(|a, b| b.is_default.cmp(&a.is_default).then(a.code.cmp(&b.code)));
        }
        for list in pred.values_mut() {
            list.sort_unstable();
        }
        let mut old: Vec<&'static str> = succ.keys().copied().collect();
        old.sort_unstable();
        Mapping {
            from,
            to,
            succ,
            pred,
            old,
            rows,
        }
    }

    /// Successors of an old province, commune or island district, default
    /// first, then by code; empty for an unknown code or an ordinary
    /// district.
    pub fn successors(&self, old_code: &str) -> &[Successor] {
        self.succ.get(old_code).map_or(&[], Vec::as_slice)
    }

    /// The default successor of an old unit (see [`Successor::is_default`]).
    pub fn default_successor(&self, old_code: &str) -> Option<&str> {
        self.successors(old_code)
            .iter()
            .find(|s| s.is_default)
            .map(|s| s.code.as_str())
    }

    /// Old units having `new_code` among their successors, sorted by code:
    /// for a 2025 province its 2023 provinces; for a 2025 commune the 2023
    /// communes (or island district) it was formed from, in whole or part.
    pub fn predecessors(&self, new_code: &str) -> Vec<&str> {
        self.pred
            .get(new_code)
            .map_or_else(Vec::new, |v| v.iter().map(|(c, _)| *c).collect())
    }

    /// Old units whose *default* successor is `new_code`, sorted by code.
    /// Each old unit belongs to exactly one such list, so pooling old results
    /// by these lists counts every old unit once.
    pub fn default_predecessors(&self, new_code: &str) -> Vec<&str> {
        self.pred.get(new_code).map_or_else(Vec::new, |v| {
            v.iter().filter(|(_, d)| *d).map(|(c, _)| *c).collect()
        })
    }

    /// Successor codes of any old unit, sorted and deduplicated: its own
    /// mapping if it has one, otherwise the union over the communes inside it
    /// in `old` (how a district's successors are obtained). Empty for an
    /// unknown code.
    pub fn derived_successors<'a>(&'a self, old: &Geography, old_code: &str) -> Vec<&'a str> {
        let mut out: Vec<&str> = match self.succ.get(old_code) {
            Some(list) => list.iter().map(|s| s.code.as_str()).collect(),
            None => {
                let mut stack = vec![old_code.to_owned()];
                let mut out = Vec::new();
                while let Some(code) = stack.pop() {
                    for child in old.children(&code) {
                        match self.succ.get(child.code.as_str()) {
                            Some(list) => out.extend(list.iter().map(|s| s.code.as_str())),
                            None => stack.push(child.code.clone()),
                        }
                    }
                }
                out
            }
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Old codes that have successors, sorted by code: the same order in every process and
    /// whatever the order of the embedded file.
    pub fn old_codes(&self) -> impl Iterator<Item = &str> + '_ {
        self.old.iter().copied()
    }

    /// Every (old code, successor) row, by old code, then as [`Mapping::successors`] lists them
    /// (default first, then by code): one fixed order, so that anything computed from the rows in
    /// turn, such as a hash of them, is reproducible.
    pub fn links(&self) -> impl Iterator<Item = (&str, &Successor)> + '_ {
        self.old_codes()
            .flat_map(move |old| self.successors(old).iter().map(move |s| (old, s)))
    }

    /// Number of (old unit, successor) rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the mapping has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_comes_first() {
        let m = Mapping::parse(
            "a",
            "b",
            "old_code\told_level\tnew_code\tis_default\n\
             00001\tcommune\t00009\t0\n\
             00001\tcommune\t00004\t0\n\
             00001\tcommune\t00007\t1\n\
             00002\tcommune\t00007\t1\n",
        );
        let s: Vec<_> = m.successors("00001").iter().map(|s| &s.code[..]).collect();
        assert_eq!(s, ["00007", "00004", "00009"]);
        assert_eq!(m.default_successor("00001"), Some("00007"));
        assert_eq!(m.predecessors("00007"), ["00001", "00002"]);
        assert_eq!(m.predecessors("00004"), ["00001"]);
        assert!(m.default_predecessors("00004").is_empty());
        assert!(m.successors("zzz").is_empty());
        assert_eq!(m.len(), 4);
    }

    /// The rows as `links` lists them, as plain tuples.
    fn listed(m: &Mapping) -> Vec<(String, String, bool)> {
        m.links()
            .map(|(o, s)| (o.to_owned(), s.code.clone(), s.is_default))
            .collect()
    }

    #[test]
    fn listing_order_is_sorted_and_independent_of_the_file_and_the_process() {
        const HEADER: &str = "old_code\told_level\tnew_code\tis_default\n";
        let lines = [
            "00007\tcommune\t00031\t1",
            "00001\tcommune\t00009\t0",
            "00004\tcommune\t00031\t1",
            "00001\tcommune\t00004\t1",
            "00002\tcommune\t00004\t1",
            "00001\tcommune\t00002\t0",
        ];
        let forward: &'static str = format!("{HEADER}{}\n", lines.join("\n")).leak();
        let mut reversed_lines = lines;
        reversed_lines.reverse();
        let reversed: &'static str = format!("{HEADER}{}\n", reversed_lines.join("\n")).leak();
        // Each parse builds its own hash maps, each with its own random order.
        let a = Mapping::parse("a", "b", forward);
        let b = Mapping::parse("a", "b", reversed);
        let want = [
            ("00001", "00004", true),
            ("00001", "00002", false),
            ("00001", "00009", false),
            ("00002", "00004", true),
            ("00004", "00031", true),
            ("00007", "00031", true),
        ]
        .map(|(o, n, d)| (o.to_owned(), n.to_owned(), d));
        assert_eq!(listed(&a), want);
        assert_eq!(listed(&b), want);
        assert_eq!(
            a.old_codes().collect::<Vec<_>>(),
            ["00001", "00002", "00004", "00007"]
        );
    }
}
