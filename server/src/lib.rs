//! The SIPAS server: questionnaires, administrative geography, survey rounds and forms over HTTP,
//! on SQLite (embedded default) or PostgreSQL through one code path.
//!
//! [`Application::build`] is the single way to start it, used by the `sipas` binary and by the
//! end-to-end tests; [`router`] gives the app as a `Router` for in-process tests.

pub mod admission;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod db;
pub mod definitions;
pub mod entities;
pub mod error;
pub mod exports;
pub mod forms;
pub mod index_stats;
pub mod migration;
pub mod plans;
pub mod quality;
pub mod registry;
pub mod report;
pub mod reports;
pub mod review;
pub mod routes;
pub mod sampling;
pub mod seed;
pub mod settings;
pub mod startup;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod text;
pub mod users;
pub mod writer;

pub use routes::router;
pub use settings::Settings;
pub use startup::Application;
pub use state::AppState;
