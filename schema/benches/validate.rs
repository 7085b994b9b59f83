//! Plain timing of validation, encoding and decoding of a complete SIPAS form (no criterion).
//! Run with `cargo bench -p sipas-schema`; prints ns per operation.

use std::hint::black_box;
use std::time::Instant;

use schema::builtin::sipas;
use schema::sample::complete_sipas_answers;
use schema::{ValidAnswers, validate};

fn time<T>(name: &str, iterations: u32, mut f: impl FnMut() -> T) {
    for _ in 0..iterations / 10 {
        black_box(f());
    }
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!("{name:<28} {ns:>10.0} ns/op  ({iterations} iterations)");
}

fn main() {
    let q = sipas();
    let answers = complete_sipas_answers();
    let valid = match validate(q, &answers) {
        Ok(v) => v,
        Err(e) => panic!("sample form invalid: {e:?}"),
    };
    let blob = valid.encode(q);
    let json = serde_json::to_string(&answers).unwrap_or_default();
    println!(
        "complete SIPAS form: {} questions answered, JSON {} bytes, encoded {} bytes",
        valid.len(),
        json.len(),
        blob.len()
    );
    let n = 100_000;
    time("validate", n, || {
        validate(black_box(q), black_box(&answers))
    });
    time("parse JSON + validate", n, || {
        let a: schema::Answers = serde_json::from_str(black_box(&json)).unwrap_or_default();
        validate(q, &a).is_ok()
    });
    time("encode", n, || black_box(&valid).encode(q));
    // What a push does per form: the answers fresh from validation, encoded.
    time("validate + encode", n, || {
        validate(black_box(q), black_box(&answers)).map(|v| v.encode(q))
    });
    time("decode (re-validates)", n, || {
        ValidAnswers::decode(q, black_box(&blob)).is_ok()
    });
    time("scored_levels", n, || black_box(&valid).scored_levels(q));
    time("to_json", n, || black_box(&valid).to_json());
    time("content_hash", 1_000, || q.content_hash());
}
