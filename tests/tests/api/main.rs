//! The end-to-end tests of the SIPAS server in one test binary (the whole server is linked once,
//! not once per file), one module per area. Run one area with `cargo test -p sipas-e2e --test api
//! sync::`.

mod app;
mod contract;
mod dashboard;
mod exports;
mod foundation;
mod hardening;
mod identity;
mod indices;
mod quality;
mod report;
mod review;
mod sampling;
mod sync;
