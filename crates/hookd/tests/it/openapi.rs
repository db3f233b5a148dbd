//! The OpenAPI document against the router: `GET /api/v1/openapi.json` (no token) must list
//! every route of `route_table()` with its method, path parameters, a 2xx answer and the
//! security its scope calls for, and nothing the router does not serve: each documented
//! operation is also called, and must not be answered as an unknown route or method. The
//! `/docs` page, rendered from the same document, must show every operation.

use std::collections::BTreeSet;

use hookd::api::{Scope, route_table};
use reqwest::Method;
use serde_json::Value;

use crate::harness::{TOKEN, TestApp};

/// (method, path) of every operation in the document.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            operations.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    operations
}

async fn fetch_document(app: &TestApp) -> Value {
    let response = reqwest::get(app.url("/openapi.json"))
        .await
        .expect("openapi.json answers");
    assert_eq!(response.status(), 200, "served without a token");
    response.json().await.expect("a JSON document")
}

#[tokio::test]
async fn document_lists_exactly_the_routes_the_router_serves() {
    let app = TestApp::spawn().await;
    let document = fetch_document(&app).await;
    assert!(
        document["openapi"]
            .as_str()
            .expect("openapi")
            .starts_with("3.1"),
        "an OpenAPI 3.1 document"
    );
    let routes: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .map(|route| (route.method.to_string(), route.path))
        .collect();
    let operations = documented(&document);
    let missing: Vec<_> = routes.difference(&operations).collect();
    let unserved: Vec<_> = operations.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented operations the router does not declare: {unserved:?}"
    );
}

#[tokio::test]
async fn every_operation_has_its_parameters_answers_and_security() {
    let app = TestApp::spawn().await;
    let document = fetch_document(&app).await;
    let schemes = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(schemes["type"], "http");
    assert_eq!(schemes["scheme"], "bearer");
    for route in route_table() {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &document["paths"][&route.path][&method];
        let name = format!("{} {}", route.method, route.path);
        assert!(operation["summary"].is_string(), "{name}: a summary");
        assert!(operation["tags"][0].is_string(), "{name}: a tag");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{name}: a successful answer"
        );
        let expected_parameters: BTreeSet<&str> = route
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let path_parameters: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|parameter| parameter["in"] == "path")
            .map(|parameter| parameter["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            path_parameters, expected_parameters,
            "{name}: path parameters"
        );
        let idempotent = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|parameter| parameter["in"] == "header" && parameter["name"] == "idempotency-key");
        let takes_a_key = route.method == Method::POST
            && route.path.starts_with("/api/v1/")
            && route.scope != Scope::Public;
        assert_eq!(
            idempotent, takes_a_key,
            "{name}: the Idempotency-Key header"
        );
        let secured = operation["security"]
            .as_array()
            .is_some_and(|security| security.iter().any(|item| item.get("bearer").is_some()));
        assert_eq!(secured, route.scope != Scope::Public, "{name}: security");
        if route.scope != Scope::Public {
            assert_eq!(
                responses["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ApiError",
                "{name}: the error body"
            );
        }
        if responses.contains_key("422") {
            assert_eq!(
                responses["422"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ValidationError",
                "{name}: the 422 body"
            );
        }
    }
}

#[tokio::test]
async fn error_schemas_match_the_bodies_hookd_sends() {
    let app = TestApp::spawn().await;
    let document = fetch_document(&app).await;
    let schemas = &document["components"]["schemas"];
    let (status, body) = app.get("/app/app_missing").await;
    assert_eq!(status, 404);
    assert_eq!(keys(&body), required(&schemas["ApiError"]), "{body}");
    let (status, body) = app.post("/app", serde_json::json!({"name": ""})).await;
    assert_eq!(status, 422);
    assert_eq!(keys(&body), required(&schemas["ValidationError"]), "{body}");
    assert_eq!(
        keys(&body["detail"][0]),
        required(&schemas["FieldError"]),
        "{body}"
    );
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .map(|name| name.as_str().expect("a name").to_owned())
        .collect()
}

/// Calls every documented operation with placeholder ids and no body: whatever it answers
/// (404 for the record, 4xx for the missing body), it must not be the router's answer for a
/// path or method it does not serve.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let document = fetch_document(&app).await;
    let http = reqwest::Client::new();
    for (method, path) in documented(&document) {
        if path.ends_with("/stream") {
            // An open stream never ends; its route is held by the route-table comparison.
            continue;
        }
        let concrete = path.replace('{', "x").replace('}', "");
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let response = http
            .request(method.clone(), format!("{}{concrete}", app.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("hookd answers");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let unknown_route = status == 404 && (body.is_null() || body["detail"] == "no such route");
        assert!(
            status != 405 && !unknown_route,
            "{method} {path} is documented but answered {status} {body}"
        );
    }
}

#[tokio::test]
async fn docs_page_shows_every_operation() {
    let app = TestApp::spawn().await;
    let document = fetch_document(&app).await;
    let response = reqwest::get(format!("{}/docs", app.base))
        .await
        .expect("/docs answers");
    assert_eq!(response.status(), 200);
    let policy = response
        .headers()
        .get("content-security-policy")
        .expect("the dashboard's CSP")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let page = response.text().await.expect("html");
    for route in route_table() {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &document["paths"][&route.path][&method];
        let id = operation["operationId"].as_str().expect("an operationId");
        let summary = operation["summary"].as_str().expect("a summary");
        let shown = format!("id=\"{id}\"");
        assert!(
            page.contains(&shown),
            "{} {} on /docs",
            route.method,
            route.path
        );
        assert!(page.contains(summary), "{summary:?} on /docs");
    }
    assert!(page.contains("EndpointIn"), "request schemas are shown");
    assert!(
        page.contains("ApplicationOut"),
        "response schemas are shown"
    );
}
