//! `/docs`: the API reference, rendered on the server from the OpenAPI document that
//! `/api/v1/openapi.json` serves (handed in as JSON by `app`, since the web layer does not
//! use `api`). Operations are grouped by tag, each with its method, path, summary, security,
//! parameters, request body and answers; every named schema follows with its fields. Public
//! like the document itself: it holds nothing that the document does not.

use axum::extract::State;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::WebContext;

/// `GET /docs`.
pub async fn page(State(ctx): State<WebContext>) -> Markup {
    render(&ctx.api_reference)
}

fn render(document: &Value) -> Markup {
    let tags: Vec<&str> = document["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tag| tag["name"].as_str())
        .collect();
    let schemas = document["components"]["schemas"].as_object();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "API reference · hookd" }
                link rel="stylesheet" href="/assets/hookd.css";
            }
            body {
                div class="shell" {
                    aside class="sidebar" {
                        a class="brand" href="/" { span class="brand-mark" { "h" } "hookd" }
                        nav {
                            a class="nav-item" href="/" { "Dashboard" }
                            @for tag in &tags {
                                a class="nav-item" href=(format!("#{}", anchor(tag))) { (tag) }
                            }
                            a class="nav-item" href="#schemas" { "Schemas" }
                        }
                    }
                    main class="content" {
                        header class="page-header" {
                            div {
                                h1 { "API reference" }
                                p class="muted" {
                                    (document["info"]["description"].as_str().unwrap_or(""))
                                    " The document itself: "
                                    a href="/api/v1/openapi.json" { code { "/api/v1/openapi.json" } }
                                    " (OpenAPI " (document["openapi"].as_str().unwrap_or("")) ")."
                                }
                            }
                        }
                        @for tag in &tags {
                            section id=(anchor(tag)) {
                                h2 class="docs-tag" { (tag) }
                                @for (method, path, operation) in operations_of(document, tag) {
                                    (operation_card(method, path, operation))
                                }
                            }
                        }
                        section id="schemas" {
                            h2 class="docs-tag" { "Schemas" }
                            @for (name, schema) in schemas.into_iter().flatten() {
                                (schema_card(name, schema))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The operations tagged `tag`, in the document's order.
fn operations_of<'a>(document: &'a Value, tag: &str) -> Vec<(&'a str, &'a str, &'a Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if operation["tags"][0].as_str() == Some(tag) {
                found.push((method.as_str(), path.as_str(), operation));
            }
        }
    }
    found
}

fn operation_card(method: &str, path: &str, operation: &Value) -> Markup {
    let id = operation["operationId"].as_str().unwrap_or_default();
    let public = operation["security"].as_array().is_none_or(Vec::is_empty);
    let parameters = operation["parameters"].as_array();
    let body = &operation["requestBody"];
    html! {
        article class="card docs-operation" id=(id) {
            div class="card-header" {
                div {
                    span class=(format!("docs-method docs-{method}")) { (method.to_ascii_uppercase()) }
                    " " code class="docs-path" { (path) }
                }
                @if public { span class="badge badge-muted" { "public" } }
                @else { span class="badge badge-info" { "bearer token" } }
            }
            p { (operation["summary"].as_str().unwrap_or("")) }
            @if let Some(parameters) = parameters.filter(|list| !list.is_empty()) {
                h4 { "Parameters" }
                table class="table compact" {
                    thead { tr { th { "Name" } th { "In" } th { "Type" } th { "Description" } } }
                    tbody {
                        @for parameter in parameters {
                            tr {
                                td { code { (parameter["name"].as_str().unwrap_or("")) }
                                    @if parameter["required"] == true { " *" } }
                                td { (parameter["in"].as_str().unwrap_or("")) }
                                td { (type_label(&parameter["schema"])) }
                                td class="muted" { (parameter["description"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            @if !body.is_null() {
                h4 { "Request body" @if body["required"] != true { " (optional)" } }
                p { (type_label(&body["content"]["application/json"]["schema"])) }
            }
            h4 { "Answers" }
            table class="table compact" {
                tbody {
                    @for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                        tr {
                            td { code { (status) } }
                            td { (response["description"].as_str().unwrap_or("")) }
                            td {
                                @for (content_type, content) in response["content"].as_object().into_iter().flatten() {
                                    (type_label(&content["schema"])) " " span class="muted small" { (content_type) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn schema_card(name: &str, schema: &Value) -> Markup {
    // A flattened type (`#[serde(flatten)]`) is `allOf`: the named parts it includes, and its
    // own fields in an inline part.
    let parts: Vec<&Value> = match schema["allOf"].as_array() {
        Some(parts) => parts.iter().collect(),
        None => vec![schema],
    };
    let included: Vec<&Value> = parts
        .iter()
        .copied()
        .filter(|part| part["$ref"].is_string())
        .collect();
    let own = parts
        .iter()
        .copied()
        .find(|part| part["properties"].is_object())
        .unwrap_or(schema);
    let required: Vec<&str> = own["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    html! {
        article class="card docs-schema" id=(format!("schema-{name}")) {
            div class="card-header" { h2 { code { (name) } } }
            @if let Some(description) = schema["description"].as_str() { p class="muted" { (description) } }
            @for part in &included { p { "Every field of " (type_label(part)) ", and:" } }
            @if let Some(properties) = own["properties"].as_object() {
                table class="table compact" {
                    thead { tr { th { "Field" } th { "Type" } th { "Description" } } }
                    tbody {
                        @for (field, property) in properties {
                            tr {
                                td { code { (field) } @if required.contains(&field.as_str()) { " *" } }
                                td { (type_label(property)) }
                                td class="muted" { (property["description"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            } @else {
                p { (type_label(schema)) }
            }
        }
    }
}

/// A schema in a few words: a link for a named one, `T[]`, `A | B`, `map of T`, an enum's
/// values, or its type and format.
fn type_label(schema: &Value) -> Markup {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return html! { a href=(format!("#schema-{name}")) { code { (name) } } };
    }
    for (combinator, separator) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
        if let Some(items) = schema[combinator].as_array() {
            return html! {
                @for (index, item) in items.iter().enumerate() {
                    @if index > 0 { (separator) }
                    (type_label(item))
                }
            };
        }
    }
    // `ListResponse`, which the document writes inline for each item type.
    if schema["properties"]["done"].is_object() && schema["properties"]["data"].is_object() {
        return html! { "page of " (type_label(&schema["properties"]["data"]["items"])) };
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(Value::to_string).collect();
        return html! { code { (values.join(" | ")) } };
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => vec!["any"],
    };
    html! {
        @for (index, kind) in types.iter().enumerate() {
            @if index > 0 { " | " }
            @match *kind {
                "array" => { (type_label(&schema["items"])) "[]" },
                "object" if schema["additionalProperties"].is_object() => {
                    "map of " (type_label(&schema["additionalProperties"]))
                },
                other => code { (other) },
            }
        }
        @if let Some(format) = schema["format"].as_str() { span class="muted small" { " (" (format) ")" } }
    }
}

/// The id of a tag's section: `Delivery log` becomes `tag-delivery-log`.
fn anchor(tag: &str) -> String {
    let words: Vec<String> = tag
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    format!("tag-{}", words.join("-"))
}
