//! (e) The content hash is a function of the model: stable across reformatting, sensitive to every
//! label, option and rule.

use schema::builtin::{SIPAS_JSON, sipas};
use schema::{Condition, Label, QuestionKind, Questionnaire, ScoringRule};
use serde_json::Value;

/// Rebuilds a JSON value with object keys in reverse order (serde_json's Map sorts keys, so write the
/// text by hand) and odd whitespace.
fn reversed_pretty(v: &Value, out: &mut String, depth: usize) {
    let pad = "\t".repeat(depth);
    match v {
        Value::Object(m) => {
            out.push_str("{\n");
            let mut keys: Vec<&String> = m.keys().collect();
            keys.reverse();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(" ,\n");
                }
                out.push_str(&format!("{pad}\t{}  :   ", Value::String((*k).clone())));
                reversed_pretty(&m[*k], out, depth + 1);
            }
            out.push_str(&format!("\n{pad}}}"));
        }
        Value::Array(a) => {
            out.push_str("[ ");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\r\n ");
                }
                reversed_pretty(x, out, depth + 1);
            }
            out.push_str(" ]");
        }
        x => out.push_str(&x.to_string()),
    }
}

#[test]
fn hash_is_hex_sha256_of_canonical_json() {
    let h = sipas().content_hash();
    assert_eq!(h.len(), 64);
    assert!(
        h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let c = sipas().canonical_json();
    assert!(!c.contains('\n') && !c.contains("\": ") && !c.contains(", \""));
    assert!(
        c.starts_with("{\"code\":\"sipas\","),
        "keys sorted: {}",
        &c[..40]
    );
    assert_eq!(
        Questionnaire::from_json(&c).unwrap(),
        *sipas(),
        "canonical JSON reloads"
    );
    assert_eq!(Questionnaire::from_json(&c).unwrap().canonical_json(), c);
}

#[test]
fn hash_is_stable_across_reformatting() {
    let v: Value = serde_json::from_str(SIPAS_JSON).unwrap();
    let mut text = String::new();
    reversed_pretty(&v, &mut text, 0);
    assert_ne!(text, SIPAS_JSON);
    let q = Questionnaire::from_json(&text).unwrap();
    assert_eq!(q.content_hash(), sipas().content_hash());
    // Compact form, and explicit defaults ("required": true, "exclusive": false) change nothing.
    let compact = serde_json::to_string(&v).unwrap();
    let with_defaults = compact
        .replacen("\"kind\":", "\"required\":true,\"kind\":", 3)
        .replacen(
            "\"label\":{\"vi\":\"Nam\"",
            "\"exclusive\":false,\"label\":{\"vi\":\"Nam\"",
            1,
        );
    assert_ne!(with_defaults, compact);
    for text in [compact, with_defaults] {
        assert_eq!(
            Questionnaire::from_json(&text).unwrap().content_hash(),
            sipas().content_hash()
        );
    }
}

#[test]
fn hash_changes_with_any_content_change() {
    let base = sipas().content_hash();
    let mut changed: Vec<(&str, Questionnaire)> = Vec::new();
    let edit = |f: &dyn Fn(&mut Questionnaire)| {
        let mut q = sipas().clone();
        f(&mut q);
        q.check().expect("still consistent");
        q
    };
    changed.push(("title en", edit(&|q| q.title.en = Some("SIPAS".into()))));
    changed.push((
        "question label vi",
        edit(&|q| q.sections[0].questions[0].label.vi.push('.')),
    ));
    changed.push((
        "english label removed",
        edit(&|q| q.sections[0].questions[1].label.en = None),
    ));
    changed.push((
        "option label",
        edit(&|q| {
            if let QuestionKind::SingleChoice { options } = &mut q.sections[0].questions[1].kind {
                options[0].label = Label::new("Nam giới", "Man");
            }
        }),
    ));
    changed.push((
        "option added",
        edit(&|q| {
            if let QuestionKind::SingleChoice { options } = &mut q.sections[0].questions[1].kind {
                let mut o = options[0].clone();
                o.code = "other".into();
                options.push(o);
            }
        }),
    ));
    changed.push((
        "option order",
        edit(&|q| {
            if let QuestionKind::SingleChoice { options } = &mut q.sections[0].questions[1].kind {
                options.reverse();
            }
        }),
    ));
    changed.push((
        "scoring rule",
        edit(&|q| q.index.as_mut().unwrap().scoring = ScoringRule::RescaledMean {}),
    ));
    changed.push((
        "top levels",
        edit(&|q| q.index.as_mut().unwrap().scoring = ScoringRule::TopShare { top_levels: 1 }),
    ));
    changed.push((
        "relevance",
        edit(&|q| {
            let s1 = q.sections[2]
                .questions
                .iter_mut()
                .find(|x| x.code == "s1")
                .unwrap();
            s1.relevant = Some(Condition::Selected {
                question: "c8_experiences".into(),
                option: "commune_desk".into(),
            });
        }),
    ));
    changed.push((
        "required",
        edit(&|q| q.sections[3].questions[1].required = true),
    ));
    changed.push((
        "constraint value",
        edit(&|q| {
            if let Condition::Cmp { value, .. } =
                &mut q.sections[0].questions[0].constraints[0].condition
            {
                *value = 16;
            }
        }),
    ));
    changed.push((
        "text length",
        edit(&|q| q.sections[3].questions[1].kind = QuestionKind::Text { max_length: 1000 }),
    ));
    changed.push((
        "scale label",
        edit(&|q| q.scales[0].levels[2].vi = "Trung bình".into()),
    ));
    changed.push((
        "group membership",
        edit(&|q| {
            let idx = q.index.as_mut().unwrap();
            let item = idx.groups[2].items.pop().unwrap();
            idx.groups[3].items.push(item);
        }),
    ));
    changed.push(("version", edit(&|q| q.version = 2)));
    let mut seen = std::collections::HashSet::new();
    seen.insert(base.clone());
    for (what, q) in &changed {
        let h = q.content_hash();
        assert!(
            seen.insert(h),
            "hash unchanged (or colliding) after: {what}"
        );
    }
}
