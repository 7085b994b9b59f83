//! The web front-ends' files (the enumerator app under `/app/`, the dashboard under
//! `/dashboard/`), embedded in the binary with `include_bytes!` so `cargo run` serves them on a
//! fresh machine with no build step, and nothing is fetched from another host.
//!
//! Every answer carries a Content-Security-Policy that allows scripts, styles, fetches and
//! workers from this origin only (no inline script, no `eval`), and an `ETag` (the SHA-256 of the
//! file) with `Cache-Control: no-cache`: the browser revalidates each file when online (`304`
//! when unchanged). A browser that accepts gzip gets each file compressed once at first use (JS
//! and CSS shrink to about a third), with its own `ETag` and `Vary: Accept-Encoding`.

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
    /// Path under the front-end's folder.
    pub path: &'static str,
    /// `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file.
    pub body: &'static [u8],
}

/// `asset!("app", "index.html", type)`: the file `server/<folder>/<name>`, embedded.
macro_rules! asset {
    ($folder:literal, $name:literal, $type:expr) => {
        $crate::routes::static_files::Asset {
            path: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../", $folder, "/", $name)),
        }
    };
}
pub(crate) use asset;

/// `Content-Type` of JavaScript modules.
pub const JS: &str = "text/javascript; charset=utf-8";
/// `Content-Type` of HTML pages.
pub const HTML: &str = "text/html; charset=utf-8";
/// `Content-Type` of style sheets.
pub const CSS: &str = "text/css; charset=utf-8";

/// The policy on every front-end answer: this origin only, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
     worker-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The files of one front-end, with their tags and gzipped copies made once.
pub struct Bundle {
    /// Every file served; the first is the folder's index page. A file not listed is not served.
    pub assets: &'static [Asset],
    etags: OnceLock<Vec<String>>,
    gzipped: OnceLock<Vec<(Vec<u8>, String)>>,
}

impl Bundle {
    /// A bundle of `assets` (index page first).
    pub const fn new(assets: &'static [Asset]) -> Bundle {
        Bundle {
            assets,
            etags: OnceLock::new(),
            gzipped: OnceLock::new(),
        }
    }

    /// The position of the file at `path`, if it is one of the bundle's.
    pub fn find(&self, path: &str) -> Option<usize> {
        self.assets.iter().position(|a| a.path == path)
    }

    /// The `ETag` of each asset (quoted hex SHA-256), computed once.
    fn etags(&self) -> &[String] {
        self.etags.get_or_init(|| {
            self.assets
                .iter()
                .map(|a| format!("\"{}\"", &schema::sha256_hex(a.body)[..32]))
                .collect()
        })
    }

    /// Each asset gzipped (best compression), made once at the first request that accepts it,
    /// with its `ETag` (the plain one with `-gz`: another representation needs another tag).
    fn gzipped(&self) -> &[(Vec<u8>, String)] {
        self.gzipped.get_or_init(|| {
            self.assets
                .iter()
                .zip(self.etags())
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

    /// The answer for asset `i`: the file (gzipped when accepted), or `304` when the client's
    /// `If-None-Match` holds its tag.
    pub fn serve(&'static self, i: usize, headers: &HeaderMap) -> Response {
        let asset = &self.assets[i];
        // PNG is compressed already.
        let gzip = asset.content_type != "image/png"
            && headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(accepts_gzip);
        let (body, etag): (&'static [u8], &str) = if gzip {
            let (b, t) = &self.gzipped()[i];
            (b, t)
        } else {
            (asset.body, &self.etags()[i])
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
}

/// The routes of a front-end served from `bundle` under `/<folder>/`: `/<folder>` redirects to
/// `/<folder>/` (relative module URLs resolve under the folder), `/<folder>/` is the index page,
/// `/<folder>/<file>` each listed file, anything else 404 naming `missing` (vi, en); every answer
/// with [`security_headers`].
pub fn router(
    folder: &'static str,
    bundle: &'static Bundle,
    missing: (&'static str, &'static str),
) -> Router<AppState> {
    let slash = format!("/{folder}/");
    let to = slash.clone();
    Router::new()
        .route(
            &format!("/{folder}"),
            get(move || {
                let to = to.clone();
                async move { Redirect::permanent(&to) }
            }),
        )
        .route(
            &slash,
            get(move |headers: HeaderMap| async move { bundle.serve(0, &headers) }),
        )
        .route(
            &format!("/{folder}/{{*path}}"),
            get(
                move |headers: HeaderMap, ApiPath(path): ApiPath<String>| async move {
                    match bundle.find(&path) {
                        Some(i) => bundle.serve(i, &headers),
                        None => {
                            tracing::debug!(folder, path = %path, "no such front-end file");
                            ApiError::not_found(missing.0, missing.1).into_response()
                        }
                    }
                },
            ),
        )
        .layer(middleware::from_fn(security_headers))
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

/// CSP and the other browser hardening headers, on every front-end answer (errors included).
pub async fn security_headers(req: Request, next: Next) -> Response {
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

/// Checks shared by every bundle's tests: each file listed once with a type, the index page
/// first, no inline script or handler, no other host named, and each gzipped copy unzipping to
/// the file.
#[cfg(test)]
pub fn check_bundle(bundle: &'static Bundle) {
    use std::io::Read as _;
    let mut paths: Vec<&str> = bundle.assets.iter().map(|a| a.path).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), bundle.assets.len());
    assert_eq!(bundle.assets[0].path, "index.html");
    for a in bundle.assets {
        assert!(!a.body.is_empty(), "{} is empty", a.path);
        assert!(!a.content_type.is_empty());
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
    let index = String::from_utf8_lossy(bundle.assets[0].body);
    assert!(!index.contains("<script>"), "inline script in index.html");
    assert!(!index.contains("style="), "inline style in index.html");
    assert!(!index.contains("onclick"), "inline handler in index.html");
    for (a, (gz, tag)) in bundle.assets.iter().zip(bundle.gzipped()) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out, a.body, "{}", a.path);
        assert!(tag.ends_with("-gz\""), "{tag}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
