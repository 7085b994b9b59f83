//! The sample: a round's design as data ([`design`]), the frames provinces upload ([`frame`]),
//! the reproducible draw ([`draw`]) and their storage ([`store`]).
//!
//! The rules are pure functions with unit tests (design validation, CSV checking, the draw);
//! [`store`] reads, calls them and writes. [`store::sampled_units`] lists a draw's villages and
//! households for whatever assigns them to enumerators.

pub mod design;
pub mod draw;
pub mod frame;
pub mod store;

pub use design::{Design, Selection, Stage, StageLevel, Strata};
