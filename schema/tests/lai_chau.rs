//! (b) The Lai Châu 2023 test vector: published item indices → every published group, component
//! and SIPAS value, to 0.01, through the built-in questionnaire's index definition.

use schema::builtin::sipas;

const ITEMS: [f64; 39] = [
    // P1
    78.60, 79.32, // P2
    79.46, 78.60, // P3
    78.85, 79.96, 80.68, 80.93, 78.35, 79.64, 79.71, 79.50, 78.53, // P4
    79.28, 79.28, 79.43, 80.57, 81.65, 81.72, 80.97, 80.57, 79.57, 79.50, // S1
    80.07, 80.86, 80.54, // S2
    80.65, 80.86, 80.54, 80.65, // S3
    79.28, 79.53, 79.53, // S4
    79.28, 79.75, 79.39, // S5
    78.96, 79.43, 78.85,
];

const PUBLISHED: [(&str, f64); 12] = [
    ("p1", 78.96),
    ("p2", 79.03),
    ("p3", 79.57),
    ("p4", 80.25),
    ("policy", 79.77),
    ("s1", 80.49),
    ("s2", 80.67),
    ("s3", 79.45),
    ("s4", 79.47),
    ("s5", 79.08),
    ("service", 79.89),
    ("sipas", 79.82),
];

#[test]
fn lai_chau_2023_reproduces_every_published_value() {
    let index = sipas().index.as_ref().expect("SIPAS has an index");
    let items: Vec<Option<f64>> = ITEMS.iter().copied().map(Some).collect();
    let values = index.combine(&items);
    for (code, published) in PUBLISHED {
        let got = values
            .get(code)
            .unwrap_or_else(|| panic!("no value for {code}"));
        assert!(
            (got - published).abs() < 0.005 + 1e-9,
            "{code}: computed {got:.4}, published {published:.2}"
        );
    }
    assert_eq!(values.groups.len(), 9);
    assert_eq!(values.components.len(), 2);
    assert_eq!(values.overall.code, "sipas");
}

#[test]
fn the_wrong_rules_would_not_reproduce_it() {
    // Sanity check of the reference notes: mean of groups / mean of components give other values.
    let index = sipas().index.as_ref().unwrap();
    let items: Vec<Option<f64>> = ITEMS.iter().copied().map(Some).collect();
    let v = index.combine(&items);
    let g: Vec<f64> = v.groups.iter().map(|g| g.value.unwrap()).collect();
    let policy_of_groups = g[..4].iter().sum::<f64>() / 4.0;
    assert!((policy_of_groups - 79.45).abs() < 0.01);
    let sipas_of_components = (v.get("policy").unwrap() + v.get("service").unwrap()) / 2.0;
    assert!((sipas_of_components - 79.83).abs() < 0.01);
}

#[test]
fn missing_items_are_skipped() {
    let index = sipas().index.as_ref().unwrap();
    let mut items: Vec<Option<f64>> = ITEMS.iter().copied().map(Some).collect();
    // Services not asked anywhere: service and its groups have no value; SIPAS = policy.
    for x in &mut items[23..] {
        *x = None;
    }
    let v = index.combine(&items);
    assert_eq!(v.get("service"), None);
    assert_eq!(v.get("s1"), None);
    assert_eq!(v.get("sipas"), v.get("policy"));
    // Short slices are padded with None; NaN is skipped.
    let v = index.combine(&[Some(50.0), Some(f64::NAN)]);
    assert_eq!(v.get("p1"), Some(50.0));
    assert_eq!(v.get("sipas"), Some(50.0));
    assert_eq!(index.combine(&[]).overall.value, None);
}

#[test]
fn from_answers_to_indices() {
    // End to end: forms → scored levels → item indices (mean of scores) → combine.
    use schema::sample::sipas_answers_with_levels;
    use schema::validate;
    let q = sipas();
    let index = q.index.as_ref().unwrap();
    let items = q.index_items();
    let forms: Vec<Vec<u8>> = vec![vec![5; 39], vec![4; 39], vec![3; 39], vec![2; 39]];
    let mut levels_per_item: Vec<Vec<u8>> = vec![Vec::new(); 39];
    for f in &forms {
        let v = validate(q, &sipas_answers_with_levels(f)).unwrap();
        for (i, l) in v.scored_levels(q).into_iter().enumerate() {
            levels_per_item[i].extend(l);
        }
    }
    let item_indices: Vec<Option<f64>> = levels_per_item
        .iter()
        .zip(&items)
        .map(|(ls, it)| index.scoring.item_index(ls.iter().copied(), it.n_levels))
        .collect();
    let v = index.combine(&item_indices);
    assert_eq!(v.get("sipas"), Some(50.0)); // 2 of 4 forms at the top two levels
    let rescaled = schema::ScoringRule::RescaledMean {};
    assert_eq!(
        rescaled.item_index(levels_per_item[0].iter().copied(), 5),
        Some(62.5)
    );
}
