//! Event types from an OpenAPI 3.1 document: each entry of its `webhooks` (or the older
//! `x-webhooks`) section becomes one event type, named by its key, described by the
//! operation's `description` (else `summary`), with version `"1"` of its schema taken from
//! the request body's `application/json` schema, every local `$ref` to
//! `#/components/schemas/...` resolved in place, and the media type's `example` kept as the
//! schema's `examples`. Pure: the document in, the event types or the first refusal out.

use serde_json::{Map, Value};

use super::{EventTypeName, InvalidInput};

/// How deep `$ref`s may nest before the document is taken for a cycle.
const MAX_REF_DEPTH: usize = 32;
const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// One event type the document describes.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEventType {
    pub name: EventTypeName,
    pub description: String,
    /// `{"1": schema}`, or `None` when the webhook has no JSON body schema.
    pub schemas: Option<Value>,
    pub deprecated: bool,
}

/// Why a document was refused: the place in it (`["webhooks", "user.created", ...]`) and what
/// is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenApiRefusal {
    pub path: Vec<String>,
    pub message: String,
}

/// The event types of `document`, in the order of its `webhooks` section.
pub fn webhook_event_types(document: &Value) -> Result<Vec<WebhookEventType>, OpenApiRefusal> {
    let Some(root) = document.as_object() else {
        return Err(refusal(&[], "the OpenAPI document must be a JSON object"));
    };
    if let Some(version) = root.get("openapi")
        && !version.as_str().is_some_and(|v| v.starts_with("3."))
    {
        return Err(refusal(&["openapi"], "only OpenAPI 3.x documents are read"));
    }
    let (section, webhooks) = match (root.get("webhooks"), root.get("x-webhooks")) {
        (Some(webhooks), _) => ("webhooks", webhooks),
        (None, Some(webhooks)) => ("x-webhooks", webhooks),
        (None, None) => {
            return Err(refusal(
                &[],
                "the document has no webhooks section (webhooks or x-webhooks)",
            ));
        }
    };
    let Some(webhooks) = webhooks.as_object() else {
        return Err(refusal(&[section], "webhooks must be an object"));
    };
    let components = root
        .get("components")
        .and_then(|components| components.get("schemas"))
        .and_then(Value::as_object);
    webhooks
        .iter()
        .map(|(name, item)| webhook(section, name, item, components))
        .collect()
}

fn webhook(
    section: &str,
    name: &str,
    item: &Value,
    components: Option<&Map<String, Value>>,
) -> Result<WebhookEventType, OpenApiRefusal> {
    let at = [section, name];
    let event_name =
        EventTypeName::parse(name).map_err(|error: InvalidInput| refusal(&at, error.message))?;
    let Some(operation) = item.get("post").or_else(|| item.get("put")) else {
        return Err(refusal(&at, "a webhook needs a post operation"));
    };
    let text = |key: &str| operation.get(key).and_then(Value::as_str);
    let description = text("description")
        .or_else(|| text("summary"))
        .unwrap_or_default()
        .to_owned();
    let media = operation
        .get("requestBody")
        .and_then(|body| body.get("content"))
        .and_then(|content| content.get("application/json"));
    let schemas = match media.and_then(|media| media.get("schema")) {
        None => None,
        Some(schema) => {
            let mut resolved = resolve(schema, components, 0)
                .map_err(|message| refusal(&[section, name, "post", "requestBody"], message))?;
            let example = media.and_then(|media| media.get("example"));
            if let (Some(example), Some(object)) = (example, resolved.as_object_mut()) {
                object
                    .entry("examples")
                    .or_insert_with(|| Value::Array(vec![example.clone()]));
            }
            let mut versions = Map::new();
            versions.insert("1".to_owned(), resolved);
            Some(Value::Object(versions))
        }
    };
    Ok(WebhookEventType {
        name: event_name,
        description,
        schemas,
        deprecated: operation
            .get("deprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// `schema` with every `$ref` replaced by the component it names.
fn resolve(
    schema: &Value,
    components: Option<&Map<String, Value>>,
    depth: usize,
) -> Result<Value, String> {
    if depth > MAX_REF_DEPTH {
        return Err(format!(
            "$refs nest deeper than {MAX_REF_DEPTH} levels (a recursive schema cannot be inlined)"
        ));
    }
    match schema {
        Value::Object(object) => {
            if let Some(reference) = object.get("$ref") {
                let Some(reference) = reference.as_str() else {
                    return Err("$ref must be a string".to_owned());
                };
                let Some(component) = reference.strip_prefix(SCHEMA_PREFIX) else {
                    return Err(format!(
                        "$ref {reference} is not a local {SCHEMA_PREFIX}... reference"
                    ));
                };
                let Some(target) = components.and_then(|schemas| schemas.get(component)) else {
                    return Err(format!("$ref {reference} names no schema in components"));
                };
                return resolve(target, components, depth + 1);
            }
            let mut resolved = Map::new();
            for (key, value) in object {
                resolved.insert(key.clone(), resolve(value, components, depth)?);
            }
            Ok(Value::Object(resolved))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| resolve(item, components, depth))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn refusal(path: &[&str], message: impl Into<String>) -> OpenApiRefusal {
    OpenApiRefusal {
        path: path.iter().map(|part| (*part).to_owned()).collect(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refs_resolve_and_examples_are_kept() {
        let document = json!({
            "openapi": "3.1.0",
            "webhooks": {"user.created": {"post": {
                "summary": "A user was created",
                "requestBody": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/User"},
                    "example": {"id": "u1"}
                }}}
            }}},
            "components": {"schemas": {
                "User": {"type": "object", "properties": {"id": {"$ref": "#/components/schemas/Id"}}},
                "Id": {"type": "string"}
            }}
        });
        let types = webhook_event_types(&document).unwrap();
        assert_eq!(types.len(), 1);
        assert_eq!(types[0].name.as_str(), "user.created");
        assert_eq!(types[0].description, "A user was created");
        assert_eq!(
            types[0].schemas,
            Some(json!({"1": {
                "type": "object",
                "properties": {"id": {"type": "string"}},
                "examples": [{"id": "u1"}]
            }}))
        );
    }

    #[test]
    fn bad_documents_are_refused_with_their_place() {
        let hook = |schema: Value| json!({"webhooks": {"a.b": {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}}});
        let cases = [
            (json!([]), vec![], "JSON object"),
            (
                json!({"openapi": "2.0", "webhooks": {}}),
                vec!["openapi"],
                "3.x",
            ),
            (json!({"paths": {}}), vec![], "no webhooks section"),
            (
                json!({"webhooks": []}),
                vec!["webhooks"],
                "must be an object",
            ),
            (
                json!({"webhooks": {"a b": {"post": {}}}}),
                vec!["webhooks", "a b"],
                "",
            ),
            (
                json!({"webhooks": {"a.b": {"get": {}}}}),
                vec!["webhooks", "a.b"],
                "post operation",
            ),
            (
                hook(json!({"$ref": "#/components/schemas/Nope"})),
                vec!["webhooks", "a.b", "post", "requestBody"],
                "names no schema",
            ),
            (
                hook(json!({"$ref": "other.json#/X"})),
                vec!["webhooks", "a.b", "post", "requestBody"],
                "not a local",
            ),
            (
                json!({"webhooks": {"a.b": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Loop"}}}}}}},
                       "components": {"schemas": {"Loop": {"$ref": "#/components/schemas/Loop"}}}}),
                vec!["webhooks", "a.b", "post", "requestBody"],
                "recursive",
            ),
        ];
        for (document, path, message) in cases {
            let refusal = webhook_event_types(&document).expect_err(&document.to_string());
            assert_eq!(refusal.path, path, "{document}");
            assert!(
                refusal.message.contains(message),
                "{document}: {}",
                refusal.message
            );
        }
    }
}
