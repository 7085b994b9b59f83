//! The dashboard for Sở Nội vụ and the ministry: the files of `server/dashboard/`, embedded in the
//! binary and served under `/dashboard/` (see [`super::static_files`] for the headers, caching and
//! gzip).
//!
//! One page of plain ES modules that logs in and reads the same API as everyone else, so the
//! scope rules are the API's: a province reviewer sees their province and the national table.
//! Charts are SVG drawn in the page; nothing is fetched from another host.

use axum::Router;

use super::static_files::{self, Bundle, CSS, HTML, JS, asset};
use crate::state::AppState;

/// Every file of the dashboard; a file not listed is not served.
static DASHBOARD: Bundle = Bundle::new(&[
    asset!("dashboard", "index.html", HTML),
    asset!("dashboard", "dashboard.css", CSS),
    asset!("dashboard", "dashboard.js", JS),
    asset!("dashboard", "api.js", JS),
    asset!("dashboard", "charts.js", JS),
    asset!("dashboard", "text.js", JS),
    asset!("dashboard", "icon.svg", "image/svg+xml"),
]);

/// `/dashboard` and `/dashboard/...`.
pub fn router() -> Router<AppState> {
    static_files::router(
        "dashboard",
        &DASHBOARD,
        ("tệp của trang tổng hợp", "Dashboard file"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dashboard_files_are_listed_once_inline_free_and_gzip_back_to_themselves() {
        super::super::static_files::check_bundle(&super::DASHBOARD);
    }
}
