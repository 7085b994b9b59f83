//! The enumerator app: the files of `server/app/`, embedded in the binary and served under
//! `/app/` (see [`super::static_files`] for the headers, caching and gzip).
//!
//! Plain ES modules and CSS written by hand; nothing is fetched from another host. The service
//! worker serves its cached copy of each file offline.

use axum::Router;

use super::static_files::{self, Bundle, CSS, HTML, JS, asset};
use crate::state::AppState;

/// Every file of the app. A file not listed here is not served (the tests' helpers and the
/// `package.json` that tells Node.js these are modules stay out).
static APP: Bundle = Bundle::new(&[
    asset!("app", "index.html", HTML),
    asset!("app", "app.css", CSS),
    asset!("app", "app.js", JS),
    asset!("app", "form.js", JS),
    asset!("app", "rules.js", JS),
    asset!("app", "store.js", JS),
    asset!("app", "sync.js", JS),
    asset!("app", "hash.js", JS),
    asset!("app", "i18n.js", JS),
    asset!("app", "sw.js", JS),
    asset!("app", "manifest.webmanifest", "application/manifest+json"),
    asset!("app", "icon.svg", "image/svg+xml"),
    // iOS takes only PNG for the home-screen icon; Android's install prompt wants 192 and 512.
    asset!("app", "icon-180.png", "image/png"),
    asset!("app", "icon-192.png", "image/png"),
    asset!("app", "icon-512.png", "image/png"),
]);

/// `/app` and `/app/...`.
pub fn router() -> Router<AppState> {
    static_files::router("app", &APP, ("tệp của ứng dụng", "App file"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_app_files_are_listed_once_inline_free_and_gzip_back_to_themselves() {
        super::super::static_files::check_bundle(&super::APP);
    }
}
