//! Prints how long the embedded geographies and the mapping take to parse
//! (they are parsed once, at server start). Run with
//! `cargo run --release -p sipas-geography --example load_time`.

use std::time::Instant;

fn main() {
    let t = Instant::now();
    let g23 = geography::vn_2023();
    let t23 = t.elapsed();
    let g25 = geography::vn_2025();
    let t25 = t.elapsed() - t23;
    let m = geography::vn_2023_to_2025();
    let total = t.elapsed();
    let tm = total - t23 - t25;
    println!(
        "vn-2023: {} units in {t23:?}; vn-2025: {} units in {t25:?}; mapping: {} rows in {tm:?}; total {total:?}",
        g23.units().len(),
        g25.units().len(),
        m.len(),
    );
    let t = Instant::now();
    let q = geography::SearchQuery {
        q: Some("lai chau".into()),
        ..Default::default()
    };
    let hits = g23.search(&q).len();
    println!(
        "search \"lai chau\" over vn-2023: {hits} hits in {:?}",
        t.elapsed()
    );
}
