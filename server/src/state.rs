//! Shared application state handed to every handler.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::settings::Settings;

/// What handlers share: the database pool and the settings. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The settings the app was built with.
    pub settings: Arc<Settings>,
}
