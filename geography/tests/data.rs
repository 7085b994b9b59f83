//! Checks of the shipped geography data: counts, hierarchy, codes, names,
//! the 2023 → 2025 successor mapping, and search over the real lists.

use std::collections::{HashMap, HashSet};

use geography::{
    Geography, Level, SearchQuery, VN_2023, VN_2025, all, by_code, fold, mapping,
    successors_2023_to_2025, vn_2023, vn_2023_to_2025, vn_2025,
};

fn codes<'a>(units: impl IntoIterator<Item = &'a geography::Unit>) -> Vec<&'a str> {
    units.into_iter().map(|u| u.code.as_str()).collect()
}

#[test]
fn counts() {
    let (g23, g25) = (vn_2023(), vn_2025());
    assert_eq!(g23.count(Level::Province), 63);
    // The package's pre-reform list is the state just before 1 July 2025
    // (see data/SOURCE.md): 696 districts, 10,035 communes.
    assert_eq!(g23.count(Level::District), 696);
    assert_eq!(g23.count(Level::Commune), 10_035);
    assert_eq!(g25.count(Level::Province), 34);
    assert_eq!(g25.count(Level::District), 0);
    assert_eq!(g25.count(Level::Commune), 3_321);
    assert_eq!(g23.units().len(), 63 + 696 + 10_035);
    assert_eq!(g25.units().len(), 34 + 3_321);
}

#[test]
fn registry() {
    assert_eq!(by_code(VN_2023).unwrap().code, VN_2023);
    assert_eq!(by_code(VN_2025).unwrap().code, VN_2025);
    assert!(by_code("vn-2019").is_none());
    assert_eq!(all().map(|g| g.code), [VN_2023, VN_2025]);
    assert_eq!(
        vn_2023().levels,
        [Level::Province, Level::District, Level::Commune]
    );
    assert_eq!(vn_2025().levels, [Level::Province, Level::Commune]);
    assert!(mapping(VN_2023, VN_2025).is_some());
    assert!(mapping(VN_2025, VN_2023).is_none());
}

fn check_structure(g: &Geography) {
    let code_len = |l: Level| match l {
        Level::Province => 2,
        Level::District => 3,
        Level::Commune => 5,
    };
    let mut seen = HashSet::new();
    for u in g.units() {
        assert!(
            seen.insert(u.code.as_str()),
            "{} duplicate {}",
            g.code,
            u.code
        );
        assert_eq!(u.code.len(), code_len(u.level), "{} {}", g.code, u.code);
        assert!(u.code.bytes().all(|b| b.is_ascii_digit()), "{}", u.code);
        assert!(
            !u.name.trim().is_empty(),
            "{} {} empty name",
            g.code,
            u.code
        );
        assert_eq!(u.name.trim(), u.name, "{} {} padded name", g.code, u.code);
        // Every Vietnamese letter has a precomposed form, so NFC Vietnamese
        // text contains no combining marks: a dependency-free NFC check.
        for s in [&u.name, &u.unit_type] {
            assert!(
                !s.chars().any(|c| ('\u{0300}'..='\u{036F}').contains(&c)),
                "{} {} not NFC: {s:?}",
                g.code,
                u.code
            );
        }
        let pos = g.levels.iter().position(|l| *l == u.level).unwrap();
        match &u.parent {
            None => assert_eq!(u.level, Level::Province, "{} orphan", u.code),
            Some(p) => {
                let parent = g.unit(p).unwrap_or_else(|| panic!("{} parent {p}", u.code));
                assert_eq!(parent.level, g.levels[pos - 1], "{} parent level", u.code);
                assert!(g.children(p).any(|c| c.code == u.code));
            }
        }
    }
}

#[test]
fn structure_vn_2023() {
    check_structure(vn_2023());
}

#[test]
fn structure_vn_2025() {
    check_structure(vn_2025());
}

#[test]
fn unit_types() {
    let types = |g: &'static Geography, l: Level| -> HashSet<&'static str> {
        g.units()
            .iter()
            .filter(|u| u.level == l)
            .map(|u| u.unit_type.as_str())
            .collect()
    };
    let set = |v: &[&'static str]| v.iter().copied().collect::<HashSet<_>>();
    let provinces = set(&["tỉnh", "thành phố"]);
    assert_eq!(types(vn_2023(), Level::Province), provinces);
    assert_eq!(types(vn_2025(), Level::Province), provinces);
    assert_eq!(
        types(vn_2023(), Level::District),
        set(&["huyện", "quận", "thị xã", "thành phố"])
    );
    assert_eq!(
        types(vn_2023(), Level::Commune),
        set(&["xã", "phường", "thị trấn"])
    );
    assert_eq!(
        types(vn_2025(), Level::Commune),
        set(&["xã", "phường", "đặc khu"])
    );
    let lc = vn_2023().unit("12").unwrap();
    assert_eq!(
        (lc.unit_type.as_str(), lc.name.as_str()),
        ("tỉnh", "Lai Châu")
    );
    assert_eq!(
        vn_2025().unit("01").unwrap().full_name(),
        "thành phố Hà Nội"
    );
}

#[test]
fn unit_serialises_with_type_field() {
    let v = serde_json::to_value(vn_2023().unit("105").unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "code": "105", "level": "district", "type": "thành phố",
            "name": "Lai Châu", "parent": "12"
        })
    );
    let g = serde_json::to_value(vn_2025()).unwrap();
    assert_eq!(g["code"], "vn-2025");
    assert_eq!(g["levels"], serde_json::json!(["province", "commune"]));
}

#[test]
fn lai_chau_and_son_la_keep_their_codes() {
    for (code, name) in [("12", "Lai Châu"), ("14", "Sơn La")] {
        assert_eq!(vn_2023().unit(code).unwrap().name, name);
        assert_eq!(vn_2025().unit(code).unwrap().name, name);
        let m = vn_2023_to_2025();
        assert_eq!(m.default_successor(code), Some(code));
        assert_eq!(m.predecessors(code), [code]);
    }
}

#[test]
fn every_2023_commune_has_one_default_successor_in_2025() {
    let (g23, g25, m) = (vn_2023(), vn_2025(), vn_2023_to_2025());
    let mut divided = 0;
    let mut successor_counts: HashMap<usize, usize> = HashMap::new();
    for u in g23.units().iter().filter(|u| u.level == Level::Commune) {
        let s = m.successors(&u.code);
        assert!(!s.is_empty(), "{} has no successor", u.code);
        assert_eq!(s.iter().filter(|s| s.is_default).count(), 1, "{}", u.code);
        assert!(s[0].is_default, "{}: default not first", u.code);
        for s in s {
            let n = g25
                .unit(&s.code)
                .unwrap_or_else(|| panic!("{} → {}", u.code, s.code));
            assert_eq!(n.level, Level::Commune);
            // Provinces merged whole: a commune stays in its province's successor.
            let old_province = &g23.ancestors(&u.code)[0].code;
            assert_eq!(
                n.parent.as_deref(),
                m.default_successor(old_province),
                "{} → {}",
                u.code,
                s.code
            );
        }
        if s.len() > 1 {
            divided += 1;
        }
        *successor_counts.entry(s.len()).or_default() += 1;
    }
    assert_eq!(divided, 471);
    assert_eq!(successor_counts[&1], 9_564);
}

#[test]
fn every_2023_province_has_one_2025_province() {
    let (g23, g25, m) = (vn_2023(), vn_2025(), vn_2023_to_2025());
    for u in g23.units().iter().filter(|u| u.level == Level::Province) {
        let s = m.successors(&u.code);
        assert_eq!(s.len(), 1, "{}", u.code);
        assert!(s[0].is_default);
        assert_eq!(g25.unit(&s[0].code).unwrap().level, Level::Province);
    }
    // And every 2025 unit comes from somewhere.
    for u in g25.units() {
        assert!(!m.predecessors(&u.code).is_empty(), "{}", u.code);
    }
    let provinces: usize = g25
        .units()
        .iter()
        .filter(|u| u.level == Level::Province)
        .map(|u| m.predecessors(&u.code).len())
        .sum();
    assert_eq!(provinces, 63);
}

#[test]
fn mapping_covers_exactly_provinces_communes_and_island_districts() {
    let (g23, m) = (vn_2023(), vn_2023_to_2025());
    let mapped: HashSet<&str> = m.old_codes().collect();
    let mut islands = Vec::new();
    for u in g23.units() {
        let has = mapped.contains(u.code.as_str());
        match u.level {
            Level::District => {
                let commune_less = g23.children(&u.code).next().is_none();
                assert_eq!(has, commune_less, "{}", u.code);
                if has {
                    islands.push(u.name.as_str());
                    assert_eq!(m.successors(&u.code).len(), 1);
                    let s = vn_2025().unit(m.default_successor(&u.code).unwrap());
                    assert_eq!(s.unwrap().unit_type, "đặc khu");
                }
            }
            _ => assert!(has, "{}", u.code),
        }
    }
    islands.sort_unstable();
    assert_eq!(
        islands,
        ["Bạch Long Vĩ", "Côn Đảo", "Cồn Cỏ", "Hoàng Sa", "Lý Sơn"]
    );
    assert_eq!(mapped.len(), 63 + 10_035 + 5);
    assert_eq!(m.len(), 10_665);
}

#[test]
fn merged_province_predecessors() {
    let m = vn_2023_to_2025();
    // Phú Thọ (25) absorbed Hòa Bình (17) and Vĩnh Phúc (26) on 1 July 2025.
    assert_eq!(vn_2025().unit("25").unwrap().name, "Phú Thọ");
    assert_eq!(m.predecessors("25"), ["17", "25", "26"]);
    assert_eq!(m.default_predecessors("25"), ["17", "25", "26"]);
    assert_eq!(m.default_successor("17"), Some("25"));
    let names: Vec<_> = m
        .predecessors("25")
        .into_iter()
        .map(|c| vn_2023().unit(c).unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["Hòa Bình", "Phú Thọ", "Vĩnh Phúc"]);
}

#[test]
fn divided_commune_example() {
    let m = vn_2023_to_2025();
    // Phường Đại Mỗ (Nam Từ Liêm, Hà Nội) was divided among five new wards;
    // the new Phường Đại Mỗ (code 00637) is its default successor.
    assert_eq!(vn_2023().unit("00634").unwrap().name, "Đại Mỗ");
    let s: Vec<_> = m.successors("00634").iter().map(|s| &s.code[..]).collect();
    assert_eq!(s, ["00637", "00622", "00634", "09556", "09886"]);
    assert_eq!(vn_2025().unit("00637").unwrap().name, "Đại Mỗ");
    assert!(m.predecessors("09556").contains(&"00634"));
    assert!(!m.default_predecessors("09556").contains(&"00634"));
    // Default predecessors partition the old communes.
    let total: usize = vn_2025()
        .units()
        .iter()
        .filter(|u| u.level == Level::Commune)
        .map(|u| m.default_predecessors(&u.code).len())
        .sum();
    assert_eq!(total, 10_035 + 5);
}

#[test]
fn district_successors_are_derived_from_communes() {
    let (g23, m) = (vn_2023(), vn_2023_to_2025());
    // Every Lai Châu district's communes stay in province 12.
    for d in g23.children("12") {
        let s = m.derived_successors(g23, &d.code);
        assert!(!s.is_empty(), "{}", d.code);
        assert!(
            s.iter()
                .all(|c| vn_2025().unit(c).unwrap().parent.as_deref() == Some("12"))
        );
    }
    // Lý Sơn, an island district without communes, is mapped directly.
    assert_eq!(m.derived_successors(g23, "536"), ["21548"]);
    assert_eq!(vn_2025().unit("21548").unwrap().name, "Lý Sơn");
    assert_eq!(m.derived_successors(g23, "12"), ["12"]);
    assert!(m.derived_successors(g23, "nope").is_empty());
    assert_eq!(successors_2023_to_2025("12")[0].code, "12");
}

#[test]
fn hierarchy_on_real_data() {
    let g = vn_2023();
    // Phường Đoàn Kết, thành phố Lai Châu.
    let path = codes(g.path("03389"));
    assert_eq!(path, ["12", "105", "03389"]);
    assert_eq!(codes(g.ancestors("03389")), ["12", "105"]);
    assert!(g.is_within("03389", "12"));
    assert!(g.is_within("03389", "105"));
    assert!(!g.is_within("03389", "14"));
    // Xã Si Pa Phìn, Điện Biên: no district level in 2025.
    assert_eq!(codes(vn_2025().ancestors("03199")), ["11"]);
}

#[test]
fn fold_examples() {
    assert_eq!(fold("Lai Châu"), "lai chau");
    assert_eq!(fold("Đắk Lắk"), "dak lak");
    assert_eq!(fold("Thừa Thiên Huế"), "thua thien hue");
    assert_eq!(fold("  Thành   phố HỒ CHÍ MINH "), "thanh pho ho chi minh");
}

#[test]
fn every_name_folds_to_ascii() {
    // The fold table must cover every letter used in official names.
    for g in all() {
        for u in g.units() {
            let f = fold(&format!("{} {}", u.unit_type, u.name));
            assert!(f.is_ascii(), "{} {}: {f}", g.code, u.code);
        }
    }
}

#[test]
fn search_finds_lai_chau_without_diacritics() {
    for geo in [vn_2023(), vn_2025()] {
        for q in ["lai chau", "LAI CHÂU", "tinh lai chau", "  Lai   Chau "] {
            let hits = geo.search(&SearchQuery {
                q: Some(q.into()),
                level: Some(Level::Province),
                ..Default::default()
            });
            assert_eq!(codes(hits), ["12"], "{} {q}", geo.code);
        }
    }
    // Without a level filter the district-level city matches too, provinces first.
    let hits = vn_2023().search(&SearchQuery {
        q: Some("lai chau".into()),
        ..Default::default()
    });
    assert_eq!(codes(hits), ["12", "105"]);
    let hits = vn_2025().search(&SearchQuery {
        q: Some("dak lak".into()),
        ..Default::default()
    });
    assert_eq!(codes(hits), ["66"]);
}

#[test]
fn search_parent_lists_districts_of_lai_chau() {
    let g = vn_2023();
    let q = SearchQuery {
        parent: Some("12".into()),
        ..Default::default()
    };
    let hits = g.search(&q);
    assert_eq!(
        codes(hits.iter().copied()),
        ["105", "106", "107", "108", "109", "110", "111", "112"]
    );
    assert!(hits.iter().all(|u| u.level == Level::District));
    assert_eq!(g.search_count(&q), 8);
    assert_eq!(codes(g.children("12")).len(), 8);
}

#[test]
fn search_combines_filters() {
    let (g23, g25) = (vn_2023(), vn_2025());
    // "doan ket" communes are in many provinces; only one in Lai Châu.
    let all_dk = g23.search(&SearchQuery {
        q: Some("doan ket".into()),
        level: Some(Level::Commune),
        ..Default::default()
    });
    assert!(all_dk.len() > 1);
    let in_lc = g23.search(&SearchQuery {
        q: Some("doan ket".into()),
        within: Some("12".into()),
        ..Default::default()
    });
    assert_eq!(codes(in_lc), ["03389"]);
    let in_city = g23.search(&SearchQuery {
        q: Some("phuong doan".into()),
        parent: Some("105".into()),
        level: Some(Level::Commune),
        ..Default::default()
    });
    assert_eq!(codes(in_city), ["03389"]);
    // The 2025 communes of Lai Châu, paged.
    let q = SearchQuery {
        parent: Some("12".into()),
        level: Some(Level::Commune),
        ..Default::default()
    };
    let total = g25.search_count(&q);
    assert_eq!(total, g25.children("12").count());
    let page = g25.search(&SearchQuery {
        offset: Some(2),
        limit: Some(3),
        ..q.clone()
    });
    assert_eq!(
        codes(page),
        codes(g25.children("12").skip(2).take(3).collect::<Vec<_>>())
    );
    // A level that the parent's children lack, or an unknown parent: nothing.
    assert!(
        g25.search(&SearchQuery {
            parent: Some("12".into()),
            level: Some(Level::Province),
            ..Default::default()
        })
        .is_empty()
    );
    assert!(
        g25.search(&SearchQuery {
            parent: Some("99".into()),
            ..Default::default()
        })
        .is_empty()
    );
    // Results are sorted by level, then code.
    let hits = g23.search(&SearchQuery {
        q: Some("ha".into()),
        ..Default::default()
    });
    assert!(
        hits.windows(2)
            .all(|w| (w[0].level, &w[0].code) < (w[1].level, &w[1].code))
    );
}

#[test]
fn search_query_deserialises_from_api_parameters() {
    let q: SearchQuery =
        serde_json::from_str(r#"{"level":"district","parent":"12","q":"tan"}"#).unwrap();
    assert_eq!(q.level, Some(Level::District));
    assert_eq!(codes(vn_2023().search(&q)), ["111"]);
}
