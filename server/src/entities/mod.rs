//! sea-orm entities: the database rows. API types live with the routes and are converted explicitly.

pub mod assignment;
pub mod audit_event;
pub mod device;
pub mod form;
pub mod form_review;
pub mod frame;
pub mod frame_household;
pub mod frame_village;
pub mod geo_mapping;
pub mod geo_successor;
pub mod geo_unit;
pub mod geography;
pub mod index_cluster_stat;
pub mod quarantined_form;
pub mod questionnaire_version;
pub mod refresh_token;
pub mod round;
pub mod round_design;
pub mod sample_draw;
pub mod sample_household;
pub mod sample_unit;
pub mod sync_change;
pub mod user;
