//! Compact binary encoding: lossless, small, and strict on decode.

mod common;

use common::{kitchen, kitchen_answers};
use schema::builtin::sipas;
use schema::sample::{complete_sipas_answers, sipas_answers_without_services};
use schema::{Condition, DecodeError, ValidAnswers, validate};

#[test]
fn round_trips_and_is_small() {
    let q = sipas();
    for answers in [complete_sipas_answers(), sipas_answers_without_services()] {
        let v = validate(q, &answers).unwrap();
        let blob = v.encode(q);
        let json_len = serde_json::to_string(&answers).unwrap().len();
        assert!(
            blob.len() <= 200,
            "blob {} bytes (JSON {json_len})",
            blob.len()
        );
        assert!(
            blob.len() * 5 < json_len,
            "blob {} bytes, JSON {json_len}",
            blob.len()
        );
        println!("blob {} bytes, JSON {json_len} bytes", blob.len());
        assert_eq!(ValidAnswers::decode(q, &blob).unwrap(), v);
        assert_eq!(validate(q, &v.to_json()).unwrap(), v);
    }
    let k = kitchen();
    let v = validate(&k, &kitchen_answers()).unwrap();
    let blob = v.encode(&k);
    assert_eq!(ValidAnswers::decode(&k, &blob).unwrap(), v);
    assert_eq!(validate(&k, &v.to_json()).unwrap(), v);
}

#[test]
fn decode_rejects_bad_blobs_without_panicking() {
    let q = sipas();
    let v = validate(q, &complete_sipas_answers()).unwrap();
    let blob = v.encode(q);
    assert_eq!(ValidAnswers::decode(q, &[]), Err(DecodeError::Truncated));
    assert_eq!(ValidAnswers::decode(q, &[9]), Err(DecodeError::Format(9)));
    for n in 0..blob.len() {
        assert!(ValidAnswers::decode(q, &blob[..n]).is_err(), "prefix {n}");
    }
    let mut long = blob.clone();
    long.push(0);
    assert_eq!(
        ValidAnswers::decode(q, &long),
        Err(DecodeError::Trailing(1))
    );
    // Another questionnaire version.
    let k = kitchen();
    let kb = validate(&k, &kitchen_answers()).unwrap().encode(&k);
    assert_eq!(
        ValidAnswers::decode(q, &kb),
        Err(DecodeError::Version {
            expected: 1,
            found: 3
        })
    );
    // Same version, different rules: the decoded form is re-validated.
    let mut q2 = q.clone();
    for s in &mut q2.sections {
        for x in &mut s.questions {
            if x.code == "s1" {
                x.relevant = Some(Condition::Selected {
                    question: "c8_experiences".into(),
                    option: "district_desk".into(),
                });
            }
        }
    }
    match ValidAnswers::decode(&q2, &blob) {
        Err(DecodeError::Invalid(e)) => assert_eq!(e[0].question, "s1"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // Every single-byte corruption is either rejected or decodes to a valid form.
    for i in 0..blob.len() {
        for x in [0u8, 1, 7, 0x80, 0xff] {
            let mut b = blob.clone();
            b[i] = x;
            if let Ok(d) = ValidAnswers::decode(q, &b) {
                assert!(validate(q, &d.to_json()).is_ok());
            }
        }
    }
}

/// Answers encoded against a questionnaire they do not line up with (here one with a question
/// asked first) are found by code, as before answers were encoded by position.
#[test]
fn answers_that_do_not_line_up_are_found_by_code() {
    let v = validate(sipas(), &complete_sipas_answers()).unwrap();
    let mut q = sipas().clone();
    let mut extra = q.sections[0].questions[0].clone();
    extra.code = "asked_first".into();
    extra.required = false;
    q.sections[0].questions.insert(0, extra);
    let blob = v.encode(&q);
    assert_eq!(
        ValidAnswers::decode(&q, &blob).unwrap(),
        validate(&q, &v.to_json()).unwrap()
    );
}
