//! The OpenAPI document at `/api/v1/openapi.json`: it is served without login, is OpenAPI 3.1, names
//! the problem+json error body and the bearer scheme, and describes exactly the routes the server
//! answers — no route is missing from it (the route modules register nothing outside it) and every
//! operation it lists is answered by the server.

use std::path::Path;

use e2e::spawn_app;
use reqwest::Method;
use serde_json::Value;

/// The route modules of the server, read as source: every route is registered through
/// `utoipa_axum`'s `routes!`, which documents it in the same step; a plain `.route(` would add a
/// route the document does not know.
#[test]
fn no_route_module_registers_a_route_the_document_does_not_know() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src/routes");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("server/src/routes") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // `mod.rs` assembles the modules and serves the document itself; `guard.rs` and
        // `openapi.rs` hold no routes; `app.rs` and `dashboard.rs` serve the front-ends' files
        // (with `static_files.rs`), not operations of the API.
        if !name.ends_with(".rs")
            || [
                "mod.rs",
                "guard.rs",
                "openapi.rs",
                "app.rs",
                "dashboard.rs",
                "static_files.rs",
            ]
            .contains(&name.as_str())
        {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for needle in [
            ".route(",
            ".route_service(",
            ".nest_service(",
            "routing::get",
            "routing::post",
        ] {
            assert!(
                !source.contains(needle),
                "{name} uses `{needle}`: register routes with `routes!` so the OpenAPI document lists them"
            );
        }
        if source.contains("routes!(") {
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} route modules found");
}

/// Fills a path template's `{params}` with a value that parses for every parameter type the API
/// has (integers, UUIDs, codes).
fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let name = &rest[start + 1..end];
        out.push_str(match name {
            "id" if template.starts_with("/api/v1/forms") => "0190a1b2-0000-7000-8000-000000000000",
            "id" | "version" => "1",
            _ => "x1",
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn the_document_describes_every_route_and_only_routes_that_exist() {
    let app = spawn_app().await;
    let resp = app
        .request(Method::GET, "/api/v1/openapi.json", None)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc: Value = resp.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    for field in ["type", "status", "code", "detail", "detail_en", "errors"] {
        assert!(problem.get(field).is_some(), "Problem lacks {field}");
    }

    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (template, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if !["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&m.as_str()) {
                continue;
            }
            operations += 1;
            let id = format!("{method} {template}");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{id}: no success answer documented"
            );
            assert!(
                responses["default"]["content"]
                    .get("application/problem+json")
                    .is_some(),
                "{id}: its errors are not documented as problem+json"
            );
            assert!(op.get("security").is_some(), "{id}: security not stated");
            assert!(
                op.get("description").is_some() || op.get("summary").is_some(),
                "{id}: not described"
            );
            // The server knows the route: whatever it answers to an empty request, it is not
            // "no such route" nor "method not allowed".
            let path = fill(template);
            let mut req = app.request(m.clone(), &path, None);
            if m != Method::GET {
                req = req.header("content-type", "application/json").body("{}");
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(
                status != 405 && body["code"] != "route_not_found",
                "{id} is documented but the server has no such route: {status} {body}"
            );
            assert!(status < 500, "{id}: {status} {body}");
        }
    }
    assert!(operations >= 30, "only {operations} operations documented");
}

/// Every schema the document refers to is in it: a reference to a missing component leaves that
/// part of an operation unchecked by the schemathesis run.
#[tokio::test]
async fn every_schema_reference_resolves() {
    let app = spawn_app().await;
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let prefix = "\"#/components/schemas/";
    let mut missing = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let rest = &text[i + prefix.len()..];
        let name = &rest[..rest.find('"').unwrap()];
        if !schemas.contains_key(name) {
            missing.push(name.to_owned());
        }
    }
    assert!(missing.is_empty(), "unresolved: {missing:?}");
}
