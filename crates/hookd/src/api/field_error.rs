//! `FieldError`, one entry of a 422 validation body (`api::error` renders the body).

use serde::Serialize;

/// One entry of a 422 body: where the bad value is (`["body", "url"]`), what is wrong with it
/// and a machine-readable kind. Locations are all strings (array indexes too), because the
/// SDK's model declares `loc` as a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// For a payload refused by its event type's schema (`api::payload_rejection`): a JSON
    /// pointer into the payload (`/items/0/price`; `""` is the whole payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// For a payload refused by its schema: the schema keyword it broke (`minimum`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For a payload refused by its schema: the version key of `schemas` that was enforced.
    #[serde(skip_serializing_if = "Option::is_none", rename = "schemaVersion")]
    pub schema_version: Option<String>,
}

impl FieldError {
    /// A value in the JSON body; `path` is the chain of field names (and indexes) below it.
    pub fn body(path: &[&str], msg: impl Into<String>) -> Self {
        Self::at("body", path, msg)
    }

    /// A query-string parameter.
    pub fn query(name: &str, msg: impl Into<String>) -> Self {
        Self::at("query", &[name], msg)
    }

    /// A segment of the URL path.
    pub fn path(name: &str, msg: impl Into<String>) -> Self {
        Self::at("path", &[name], msg)
    }

    pub(super) fn at(place: &str, path: &[&str], msg: impl Into<String>) -> Self {
        let mut loc = Vec::with_capacity(path.len() + 1);
        loc.push(place.to_owned());
        loc.extend(path.iter().map(|part| (*part).to_owned()));
        FieldError {
            loc,
            msg: msg.into(),
            kind: "value_error",
            pointer: None,
            rule: None,
            schema_version: None,
        }
    }

    /// The same error with another `type`, for errors that are not about a value's content.
    pub fn with_kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
}
