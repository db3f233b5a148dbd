//! Enforced payload schemas (a hookd extension; Svix stores schemas and never checks them):
//! which version of an event type's `schemas` is the contract, compiling it into a validator
//! that can never reach the network or the disk, and judging a payload against it into a
//! bounded list of violations, each a JSON pointer into the payload and the rule it broke.
//!
//! The enforced version is the highest version key, compared as a whole number (Svix's keys
//! are `"1"`, `"2"`, ...): a sender adds version 2 to change the contract, and keeps version 1
//! for the documentation of old messages. With enforcement on, every key must be such a number.
//!
//! Hostile schemas are bounded here, at configuration time: the schema's text size and
//! nesting depth, remote and file `$ref`s (the validator is built offline, so a reference
//! that is not inside the schema itself fails to compile), and `pattern`s, which use the
//! linear-time `regex` engine with a compiled-size limit (no look-around, no back-references,
//! so no catastrophic backtracking at message time). Pure: no I/O, no clock.

use serde_json::Value;

/// At most this many violations are reported for one payload.
pub const MAX_VIOLATIONS: usize = 10;
/// The largest schema (its JSON text) that may be enforced.
pub const MAX_ENFORCED_SCHEMA_BYTES: usize = 256 * 1024;
/// The deepest nesting (objects and arrays) an enforced schema may have.
pub const MAX_ENFORCED_SCHEMA_DEPTH: usize = 64;
/// The compiled size one `pattern` may take (the `regex` crate's size limit).
const PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// A violation's message is cut to this many characters (it may quote the payload's value).
const MAX_MESSAGE_CHARS: usize = 200;

/// Why an event type's schemas cannot be enforced. Every variant names the version at fault
/// where there is one, so the refusal can point at `schemas.<version>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("enforceSchema needs a schema: add one under schemas, such as {{\"1\": {{...}}}}")]
    NoSchema,
    #[error("schema versions must be whole numbers (such as \"1\") when enforceSchema is on")]
    VersionNotANumber { version: String },
    #[error("an enforced schema may be at most {MAX_ENFORCED_SCHEMA_BYTES} bytes of JSON")]
    TooLarge { version: String },
    #[error("an enforced schema may nest at most {MAX_ENFORCED_SCHEMA_DEPTH} levels deep")]
    TooDeep { version: String },
    #[error("not a valid JSON Schema: {message}")]
    Invalid { version: String, message: String },
}

impl SchemaError {
    /// The version key the error is about, if it is about one.
    pub fn version(&self) -> Option<&str> {
        match self {
            SchemaError::NoSchema => None,
            SchemaError::VersionNotANumber { version }
            | SchemaError::TooLarge { version }
            | SchemaError::TooDeep { version }
            | SchemaError::Invalid { version, .. } => Some(version),
        }
    }
}

/// One rule a payload broke: where (a JSON pointer into the payload, `""` for the whole
/// payload), which keyword (`minimum`, `required`, `type`, ...) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    pub pointer: String,
    pub rule: String,
    pub message: String,
}

impl SchemaViolation {
    /// The pointer's segments, unescaped (`/a~1b/0` is `["a/b", "0"]`).
    pub fn segments(&self) -> Vec<String> {
        if self.pointer.is_empty() {
            return Vec::new();
        }
        self.pointer
            .split('/')
            .skip(1)
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect()
    }
}

/// A payload refused by its event type's enforced schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadRejection {
    /// The schema version that was enforced.
    pub version: String,
    /// The first `MAX_VIOLATIONS` violations.
    pub violations: Vec<SchemaViolation>,
    /// Whether more violations were found than are listed.
    pub truncated: bool,
}

/// A compiled enforced schema.
pub struct PayloadSchema {
    version: String,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for PayloadSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadSchema")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl PayloadSchema {
    /// Compiles the enforced version of `schemas` (an event type's `schemas` object), or says
    /// why it cannot be enforced.
    pub fn compile(schemas: Option<&Value>) -> Result<Self, SchemaError> {
        let (version, schema) = enforced_version(schemas)?;
        let version = version.to_owned();
        if schema.to_string().len() > MAX_ENFORCED_SCHEMA_BYTES {
            return Err(SchemaError::TooLarge { version });
        }
        if depth(schema) > MAX_ENFORCED_SCHEMA_DEPTH {
            return Err(SchemaError::TooDeep { version });
        }
        let validator = jsonschema::options()
            .offline()
            .with_pattern_options(
                jsonschema::PatternOptions::regex()
                    .size_limit(PATTERN_SIZE_LIMIT)
                    .dfa_size_limit(PATTERN_SIZE_LIMIT),
            )
            .build(schema)
            .map_err(|error| SchemaError::Invalid {
                version: version.clone(),
                message: cut(&error.to_string()),
            })?;
        Ok(PayloadSchema { version, validator })
    }

    /// The version key that is enforced.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Judges `payload`: `Ok` when it matches, else its first violations.
    pub fn check(&self, payload: &Value) -> Result<(), PayloadRejection> {
        if self.validator.is_valid(payload) {
            return Ok(());
        }
        let mut violations = Vec::new();
        let mut truncated = false;
        for error in self.validator.iter_errors(payload) {
            if violations.len() == MAX_VIOLATIONS {
                truncated = true;
                break;
            }
            violations.push(violation(&error));
        }
        Err(PayloadRejection {
            version: self.version.clone(),
            violations,
            truncated,
        })
    }
}

/// The highest version key of `schemas` and its schema.
pub fn enforced_version(schemas: Option<&Value>) -> Result<(&str, &Value), SchemaError> {
    let Some(Value::Object(versions)) = schemas else {
        return Err(SchemaError::NoSchema);
    };
    let mut highest: Option<(u64, &str, &Value)> = None;
    for (version, schema) in versions {
        let number = version
            .parse::<u64>()
            .ok()
            .filter(|_| !version.starts_with('+'))
            .ok_or_else(|| SchemaError::VersionNotANumber {
                version: version.clone(),
            })?;
        if highest.is_none_or(|(top, _, _)| number > top) {
            highest = Some((number, version, schema));
        }
    }
    highest
        .map(|(_, version, schema)| (version, schema))
        .ok_or(SchemaError::NoSchema)
}

fn violation(error: &jsonschema::ValidationError<'_>) -> SchemaViolation {
    let mut pointer = error.instance_path().as_str().to_owned();
    // A missing property is pointed at where it should be, not at the object that lacks it.
    if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind()
        && let Some(name) = property.as_str()
    {
        pointer.push('/');
        pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
    }
    SchemaViolation {
        pointer,
        rule: error.kind().keyword().to_owned(),
        message: cut(&error.to_string()),
    }
}

/// How deeply objects and arrays nest in `value` (a scalar is 0), without recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0usize)];
    while let Some((value, level)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        deepest = deepest.max(level + 1);
        pending.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn order_schema() -> Value {
        json!({"1": {"type": "object"}, "2": {
            "type": "object",
            "required": ["id", "items"],
            "properties": {
                "id": {"type": "string", "pattern": "^ord_[0-9]+$"},
                "items": {"type": "array", "items": {
                    "type": "object",
                    "required": ["price"],
                    "properties": {"price": {"type": "number", "minimum": 1}}
                }}
            }
        }})
    }

    #[test]
    fn the_highest_version_is_enforced() {
        let schemas = json!({"2": {"a": 1}, "10": {"b": 2}, "9": {}});
        assert_eq!(enforced_version(Some(&schemas)).unwrap().0, "10");
        for bad in [
            json!({"v1": {}}),
            json!({"1": {}, "two": {}}),
            json!({"+1": {}}),
        ] {
            assert!(matches!(
                enforced_version(Some(&bad)),
                Err(SchemaError::VersionNotANumber { .. })
            ));
        }
        assert_eq!(
            enforced_version(Some(&json!({}))),
            Err(SchemaError::NoSchema)
        );
        assert_eq!(enforced_version(None), Err(SchemaError::NoSchema));
    }

    #[test]
    fn violations_name_the_pointer_and_the_rule() {
        let schema = PayloadSchema::compile(Some(&order_schema())).unwrap();
        assert_eq!(schema.version(), "2");
        let cases = [
            (json!({"id": "ord_1", "items": [{"price": 3}]}), vec![]),
            (
                json!({"id": "ord_1", "items": [{"price": 3}, {"price": 0}]}),
                vec![("/items/1/price", "minimum")],
            ),
            (json!({"id": "ord_1"}), vec![("/items", "required")]),
            (
                json!({"id": 5, "items": [{}]}),
                vec![("/id", "type"), ("/items/0/price", "required")],
            ),
            (json!({"id": "x", "items": []}), vec![("/id", "pattern")]),
        ];
        for (payload, expected) in cases {
            let found: Vec<(String, String)> = match schema.check(&payload) {
                Ok(()) => Vec::new(),
                Err(rejection) => rejection
                    .violations
                    .into_iter()
                    .map(|violation| (violation.pointer, violation.rule))
                    .collect(),
            };
            let mut found = found;
            found.sort();
            let mut expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(pointer, rule)| (pointer.to_owned(), rule.to_owned()))
                .collect();
            expected.sort();
            assert_eq!(found, expected, "payload {payload}");
        }
    }

    #[test]
    fn violations_are_bounded() {
        let schemas = json!({"1": {"type": "array", "items": {"type": "string"}}});
        let schema = PayloadSchema::compile(Some(&schemas)).unwrap();
        let rejection = schema
            .check(&json!((0..50).collect::<Vec<_>>()))
            .unwrap_err();
        assert_eq!(rejection.violations.len(), MAX_VIOLATIONS);
        assert!(rejection.truncated);
    }

    #[test]
    fn hostile_or_broken_schemas_are_refused() {
        let mut deep = json!({"type": "object"});
        for _ in 0..MAX_ENFORCED_SCHEMA_DEPTH {
            deep = json!({"properties": {"a": deep}});
        }
        let huge = json!({"description": "x".repeat(MAX_ENFORCED_SCHEMA_BYTES)});
        let cases = [
            json!({"type": "no-such-type"}),
            json!({"minimum": "one"}),
            json!({"$ref": "https://127.0.0.1:9/schema.json"}),
            json!({"$ref": "file:///etc/passwd"}),
            json!({"$schema": "https://127.0.0.1:9/meta.json"}),
            json!({"pattern": "(?=a)b"}),
            json!({"pattern": "(a{1000}){1000}"}),
            json!({"pattern": "["}),
            deep,
            huge,
        ];
        for schema in cases {
            let schemas = json!({"1": schema});
            let refused = PayloadSchema::compile(Some(&schemas));
            assert!(refused.is_err(), "compiled {}", schemas.to_string().len());
            assert_eq!(refused.unwrap_err().version(), Some("1"));
        }
    }

    #[test]
    fn a_local_ref_works() {
        let schemas = json!({"1": {
            "$defs": {"money": {"type": "integer", "minimum": 0}},
            "properties": {"amount": {"$ref": "#/$defs/money"}}
        }});
        let schema = PayloadSchema::compile(Some(&schemas)).unwrap();
        assert!(schema.check(&json!({"amount": 5})).is_ok());
        let rejection = schema.check(&json!({"amount": -5})).unwrap_err();
        assert_eq!(rejection.violations[0].pointer, "/amount");
        assert_eq!(rejection.violations[0].rule, "minimum");
    }

    #[test]
    fn pointer_segments_are_unescaped() {
        let violation = SchemaViolation {
            pointer: "/a~1b/0/c~0d".to_owned(),
            rule: "type".to_owned(),
            message: String::new(),
        };
        assert_eq!(violation.segments(), ["a/b", "0", "c~d"]);
    }
}
