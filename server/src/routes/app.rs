//! The enumerator app: the files of `server/app/`, embedded in the binary and served under
//! `/app/`, so `cargo run` serves it on a fresh machine with no build step.
//!
//! Plain ES modules and CSS written by hand; nothing is fetched from another host. Every answer
//! under `/app/` carries a Content-Security-Policy that allows scripts, styles, fetches and the
//! service worker from this origin only (no inline script, no `eval`), and an `ETag` (the SHA-256
//! of the file) with `Cache-Control: no-cache`: the browser revalidates each file when online
//! (`304` when unchanged) and the service worker serves its cached copy offline. A browser that
//! accepts gzip gets each file compressed once at first use (the app's JS and CSS shrink to about a
//! third), with its own `ETag` and `Vary: Accept-Encoding`.

use std::io::Write as _;
use std::sync::OnceLock;

use axum::{
    Router,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

use crate::{error::ApiError, error::ApiPath, state::AppState};

/// One embedded file.
pub struct Asset {
    /// Path under `/app/`.
    pub path: &'static str,
    /// `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file.
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            path: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../app/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the app. A file not listed here is not served (the tests' helpers and the
/// `package.json` that tells Node.js these are modules stay out).
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("form.js", JS),
    asset!("rules.js", JS),
    asset!("store.js", JS),
    asset!("sync.js", JS),
    asset!("hash.js", JS),
    asset!("i18n.js", JS),
    asset!("sw.js", JS),
    asset!("manifest.webmanifest", "application/manifest+json"),
    asset!("icon.svg", "image/svg+xml"),
];

/// The policy on every `/app/` answer: this origin only, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
     worker-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// `/app` and `/app/...`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(redirect_to_app))
        .route("/app/", get(show_index))
        .route("/app/{*path}", get(show_asset))
        .layer(middleware::from_fn(security_headers))
}

/// `/app` → `/app/` (relative module URLs resolve under the folder).
async fn redirect_to_app() -> Redirect {
    Redirect::permanent("/app/")
}

async fn show_index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

#[tracing::instrument(skip_all, fields(path = %path))]
async fn show_asset(headers: HeaderMap, ApiPath(path): ApiPath<String>) -> Response {
    match ASSETS.iter().position(|a| a.path == path) {
        Some(i) => serve(i, &headers),
        None => ApiError::not_found("tệp của ứng dụng", "App file").into_response(),
    }
}

/// The `ETag` of each asset (quoted hex SHA-256), computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &schema::sha256_hex(a.body)[..32]))
            .collect()
    })
}

/// Each asset gzipped (best compression), made once at the first request that accepts it, with
/// its `ETag` (the plain one with `-gz`: another representation needs another tag).
fn gzipped() -> &'static [(Vec<u8>, String)] {
    static GZ: OnceLock<Vec<(Vec<u8>, String)>> = OnceLock::new();
    GZ.get_or_init(|| {
        ASSETS
            .iter()
            .zip(etags())
            .map(|(a, tag)| {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                // Writing to a Vec cannot fail.
                let _ = enc.write_all(a.body);
                let body = enc.finish().unwrap_or_default();
                (body, format!("{}-gz\"", tag.trim_end_matches('"')))
            })
            .collect()
    })
}

/// Whether an `Accept-Encoding` value accepts gzip: `gzip` or `*` listed without `q=0`.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut gzip = None;
    let mut any = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => any = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

fn serve(i: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[i];
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let (body, etag): (&'static [u8], &str) = if gzip {
        let (b, t) = &gzipped()[i];
        (b, t)
    } else {
        (asset.body, &etags()[i])
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            body,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// CSP and the other browser hardening headers, on every `/app/` answer (errors included).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_listed_once_with_a_type() {
        let mut paths: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        assert_eq!(ASSETS[0].path, "index.html");
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
            assert!(!a.content_type.is_empty());
        }
    }

    #[test]
    fn gzip_is_accepted_unless_refused() {
        for yes in [
            "gzip",
            "gzip, deflate, br, zstd",
            "br;q=1.0, gzip;q=0.8",
            "*",
            "GZIP",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "identity",
            "br",
            "gzip;q=0",
            "*, gzip;q=0",
            "deflate;q=0.5",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }

    #[test]
    fn every_gzipped_asset_unzips_to_the_file() {
        use std::io::Read as _;
        for (a, (gz, tag)) in ASSETS.iter().zip(gzipped()) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .expect("gunzip");
            assert_eq!(out, a.body, "{}", a.path);
            assert!(tag.ends_with("-gz\""), "{tag}");
        }
    }

    #[test]
    fn the_shell_has_no_inline_script_and_no_other_host() {
        for a in ASSETS {
            let text = String::from_utf8_lossy(a.body);
            for far in ["http://", "https://", "//cdn", "fonts.googleapis"] {
                // The SVG namespace is a name, not a request.
                let hits = text
                    .match_indices(far)
                    .filter(|(i, _)| !text[*i..].starts_with("http://www.w3.org/"))
                    .count();
                assert_eq!(hits, 0, "{} mentions {far}", a.path);
            }
        }
        let index = String::from_utf8_lossy(ASSETS[0].body);
        assert!(!index.contains("<script>"), "inline script in index.html");
        assert!(!index.contains("style="), "inline style in index.html");
        assert!(!index.contains("onclick"), "inline handler in index.html");
    }
}
