//! How a parsed filter is matched against a payload: pure, total, and bounded by the filter.
//!
//! The rules, as the README documents them:
//! - absent and `null` differ: `{"x": null}` and `{"x": {"$exists": true}}` need the key to be
//!   there, `{"x": {"$exists": false}}` needs it gone; `$ne` and `$nin` hold of an absent field;
//! - numbers compare as numbers (`1` equals `1.0`), never with strings (`"5"` is not `5`, and
//!   `$gt` only holds of a number);
//! - a field whose value is an array matches a condition when the whole array does (equality
//!   with an array) or when one of its elements does (MongoDB's rule), one level deep;
//! - every comparison walks at most the filter's own values, so the work per message is at most
//!   the filter's size times the payload's, and recursion never goes deeper than the filter.

use std::cell::OnceCell;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::{Clause, Condition, Document, Operator};

/// A message's payload as filters see it: parsed on first use, then shared by every filter of
/// the message's fan-out, so a payload is parsed once per message, and not at all when no
/// endpoint of the application has a filter.
pub struct PayloadDocument<'a> {
    text: Option<&'a str>,
    parsed: OnceCell<Option<Map<String, Value>>>,
}

impl<'a> PayloadDocument<'a> {
    /// A JSON payload's text (a `MessagePayload` without a content type).
    pub fn json(text: &'a str) -> PayloadDocument<'a> {
        PayloadDocument {
            text: Some(text),
            parsed: OnceCell::new(),
        }
    }

    /// A stored message's payload: JSON unless it has a content type; a purged one (no text)
    /// is unreadable.
    pub fn stored(text: Option<&'a str>, content_type: Option<&str>) -> PayloadDocument<'a> {
        PayloadDocument {
            text: text.filter(|_| content_type.is_none()),
            parsed: OnceCell::new(),
        }
    }

    /// A payload that filters cannot read (not JSON, or purged): no filter matches it.
    pub fn unreadable() -> PayloadDocument<'static> {
        PayloadDocument {
            text: None,
            parsed: OnceCell::new(),
        }
    }

    /// The payload object, parsed now if no filter has needed it yet.
    pub(super) fn object(&self) -> Option<&Map<String, Value>> {
        self.parsed
            .get_or_init(|| {
                self.text
                    .and_then(|text| serde_json::from_str::<Map<String, Value>>(text).ok())
            })
            .as_ref()
    }

    /// Whether the payload has been parsed (for tests of the parse-once rule).
    pub fn was_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }
}

impl Document {
    pub(super) fn matches(&self, object: &Map<String, Value>) -> bool {
        self.0.iter().all(|clause| clause.holds(object))
    }
}

impl Clause {
    fn holds(&self, object: &Map<String, Value>) -> bool {
        match self {
            Clause::Field { name, condition } => condition.holds(object.get(name)),
            Clause::And(documents) => documents.iter().all(|document| document.matches(object)),
            Clause::Or(documents) => documents.iter().any(|document| document.matches(object)),
            Clause::Not(document) => !document.matches(object),
        }
    }
}

impl Condition {
    fn holds(&self, value: Option<&Value>) -> bool {
        match self {
            Condition::Nested(document) => match value {
                Some(Value::Object(object)) => document.matches(object),
                Some(Value::Array(items)) => items
                    .iter()
                    .any(|item| item.as_object().is_some_and(|o| document.matches(o))),
                _ => false,
            },
            Condition::Operators(operators) => {
                operators.iter().all(|operator| operator.holds(value))
            }
        }
    }
}

impl Operator {
    fn holds(&self, value: Option<&Value>) -> bool {
        match self {
            Operator::Eq(expected) => {
                value.is_some_and(|value| equals_or_contains(value, expected))
            }
            Operator::Ne(expected) => {
                !value.is_some_and(|value| equals_or_contains(value, expected))
            }
            Operator::In(expected) => value.is_some_and(|value| {
                expected
                    .iter()
                    .any(|expected| equals_or_contains(value, expected))
            }),
            Operator::Nin(expected) => !value.is_some_and(|value| {
                expected
                    .iter()
                    .any(|expected| equals_or_contains(value, expected))
            }),
            Operator::Exists(exists) => value.is_some() == *exists,
            Operator::Compare(comparison, operand) => value.is_some_and(|value| {
                let holds = |item: &Value| {
                    item.as_number()
                        .and_then(|number| compare_numbers(number, operand))
                        .is_some_and(|ordering| comparison.holds(ordering))
                };
                match value {
                    Value::Array(items) => items.iter().any(holds),
                    other => holds(other),
                }
            }),
        }
    }
}

/// Equality of the field's value with `expected`, or, for an array field, of one element.
fn equals_or_contains(value: &Value, expected: &Value) -> bool {
    json_equal(value, expected)
        || matches!(value, Value::Array(items) if items.iter().any(|item| json_equal(item, expected)))
}

/// JSON equality with numbers compared by value. It recurses only as deep as `expected`, a
/// value of the filter.
fn json_equal(value: &Value, expected: &Value) -> bool {
    match (value, expected) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && b.iter()
                    .all(|(key, b)| a.get(key).is_some_and(|a| json_equal(a, b)))
        }
        (a, b) => a == b,
    }
}

/// Integers exactly (any mix of signed and unsigned), anything else as `f64`.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let integer = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}
