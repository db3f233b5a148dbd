//! Content filters: an endpoint's condition over a message's payload, beside its event-type and
//! channel filters (a hookd extension, `filter` on the endpoint API).
//!
//! A filter is a JSON document matched against the payload object, in the style of MongoDB
//! queries (the shape Convoy and Outpost offer too). Paths are nested objects, never dotted
//! keys, so a key that holds a dot is addressed as it is: `{"data": {"status": "paid"}}`
//! matches a payload whose `data.status` is `"paid"`. Every key of a document must hold. A key
//! is a field name, or one of `$and`, `$or` (a non-empty array of documents) and `$not` (a
//! document). A field's value is
//! - an object whose keys are all operators: `$eq`, `$ne`, `$in`, `$nin` (an array of
//!   values), `$exists` (a boolean), `$gt`, `$gte`, `$lt`, `$lte` (a number), every one of
//!   which must hold;
//! - any other object (field names, and `$and`/`$or`/`$not` over them): a nested document
//!   the field's value (an object, or an element of an array) must match;
//! - a string, number, boolean, `null` or array: equality, as `$eq`.
//!
//! `parse` turns the JSON into the typed `ContentFilter` once, at configuration time, and
//! refuses with a `ContentFilterError` naming where (its `path` into the filter) anything it
//! could not evaluate: an unknown operator, a wrong operand, too deep, too many values, too long
//! a string. Evaluation (`matching.rs`) is then total: pure, bounded by the filter's size and
//! never failing, so a delivery cannot fail because of a filter.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

mod matching;

pub use matching::PayloadDocument;

/// Deepest nesting of a filter document (each object or array counts one level).
pub const MAX_DEPTH: usize = 8;
/// Most JSON values (objects, arrays, strings, numbers, ...) in one filter.
pub const MAX_NODES: usize = 256;
/// Longest key or string value in a filter, in bytes.
pub const MAX_STRING_BYTES: usize = 1024;

/// A parsed content filter, with the document it was parsed from (which the API renders back
/// and the store keeps as it was written).
#[derive(Debug, Clone, PartialEq)]
pub struct ContentFilter {
    written: Value,
    root: Document,
}

/// Why a filter was refused, and where: `path` leads from the filter's root to the offending
/// key or value (object keys, and array indexes written as numbers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ContentFilterError {
    pub path: Vec<String>,
    pub message: String,
}

/// Conditions that all hold of one object.
#[derive(Debug, Clone, PartialEq)]
struct Document(Vec<Clause>);

#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Field { name: String, condition: Condition },
    And(Vec<Document>),
    Or(Vec<Document>),
    Not(Box<Document>),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// The field's value is an object matching the document, or an array with such an element.
    Nested(Document),
    /// Every operator holds of the field's value.
    Operators(Vec<Operator>),
}

#[derive(Debug, Clone, PartialEq)]
enum Operator {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Compare(Comparison, Number),
}

/// `$gt`, `$gte`, `$lt`, `$lte`: which orderings of the field's value against the operand hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Comparison {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Greater => ordering == Ordering::Greater,
            Comparison::GreaterOrEqual => ordering != Ordering::Less,
            Comparison::Less => ordering == Ordering::Less,
            Comparison::LessOrEqual => ordering != Ordering::Greater,
        }
    }
}

impl ContentFilter {
    /// Parses a filter document. The whole value is checked against the bounds first, so a
    /// huge or deep value is refused before any of it is interpreted.
    pub fn parse(written: Value) -> Result<ContentFilter, ContentFilterError> {
        let mut nodes = 0;
        check_bounds(&written, &mut Vec::new(), 1, &mut nodes)?;
        let root = match &written {
            Value::Object(object) => parse_document(object, &mut Vec::new())?,
            _ => return Err(refusal(&[], "a filter must be a JSON object")),
        };
        Ok(ContentFilter { written, root })
    }

    /// The document as it was written.
    pub fn as_json(&self) -> &Value {
        &self.written
    }

    /// Whether the payload matches. A payload that is not a JSON object (an inbound source's
    /// form post, or a payload already purged) matches no filter.
    pub fn matches(&self, payload: &PayloadDocument<'_>) -> bool {
        payload
            .object()
            .is_some_and(|object| self.root.matches(object))
    }
}

fn refusal(path: &[String], message: impl Into<String>) -> ContentFilterError {
    ContentFilterError {
        path: path.to_vec(),
        message: message.into(),
    }
}

/// Depth, node count and string sizes, over the whole value.
fn check_bounds(
    value: &Value,
    path: &mut Vec<String>,
    depth: usize,
    nodes: &mut usize,
) -> Result<(), ContentFilterError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(refusal(
            path,
            format!("a filter may hold at most {MAX_NODES} values"),
        ));
    }
    let too_deep = || {
        refusal(
            path,
            format!("a filter may nest at most {MAX_DEPTH} levels"),
        )
    };
    match value {
        Value::String(text) if text.len() > MAX_STRING_BYTES => Err(refusal(
            path,
            format!("strings in a filter may be at most {MAX_STRING_BYTES} bytes"),
        )),
        Value::Array(items) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                check_bounds(item, path, depth + 1, nodes)?;
                path.pop();
            }
            Ok(())
        }
        Value::Object(object) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            for (key, item) in object {
                path.push(key.clone());
                if key.len() > MAX_STRING_BYTES {
                    return Err(refusal(
                        path,
                        format!("keys in a filter may be at most {MAX_STRING_BYTES} bytes"),
                    ));
                }
                check_bounds(item, path, depth + 1, nodes)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn parse_document(
    object: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Document, ContentFilterError> {
    if object.is_empty() {
        return Err(refusal(
            path,
            "an empty object has no condition; a filter is removed with null",
        ));
    }
    let mut clauses = Vec::with_capacity(object.len());
    for (key, value) in object {
        path.push(key.clone());
        let clause = match key.as_str() {
            "$and" => Clause::And(parse_documents(value, path)?),
            "$or" => Clause::Or(parse_documents(value, path)?),
            "$not" => match value {
                Value::Object(inner) => Clause::Not(Box::new(parse_document(inner, path)?)),
                _ => return Err(refusal(path, "$not takes a filter object")),
            },
            operator if operator.starts_with('$') => {
                return Err(refusal(path, document_level_refusal(operator)));
            }
            name => Clause::Field {
                name: name.to_owned(),
                condition: parse_condition(value, path)?,
            },
        };
        clauses.push(clause);
        path.pop();
    }
    Ok(Document(clauses))
}

fn document_level_refusal(operator: &str) -> String {
    if FIELD_OPERATORS.contains(&operator) {
        format!("{operator} applies to a field: write {{\"field\": {{\"{operator}\": ...}}}}")
    } else {
        format!(
            "unknown operator {operator}; a filter object's keys are field names, $and, $or or $not"
        )
    }
}

const LOGICAL_OPERATORS: [&str; 3] = ["$and", "$or", "$not"];

const FIELD_OPERATORS: [&str; 9] = [
    "$eq", "$ne", "$in", "$nin", "$exists", "$gt", "$gte", "$lt", "$lte",
];

fn parse_documents(
    value: &Value,
    path: &mut Vec<String>,
) -> Result<Vec<Document>, ContentFilterError> {
    let operator = path.last().cloned().unwrap_or_default();
    let Value::Array(items) = value else {
        return Err(refusal(
            path,
            format!("{operator} takes an array of filter objects"),
        ));
    };
    if items.is_empty() {
        return Err(refusal(
            path,
            format!("{operator} needs at least one filter object"),
        ));
    }
    let mut documents = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        path.push(index.to_string());
        match item {
            Value::Object(object) => documents.push(parse_document(object, path)?),
            _ => return Err(refusal(path, format!("{operator} takes filter objects"))),
        }
        path.pop();
    }
    Ok(documents)
}

/// A field's value: operators, a nested document, or a value to equal.
fn parse_condition(value: &Value, path: &mut Vec<String>) -> Result<Condition, ContentFilterError> {
    let Value::Object(object) = value else {
        return Ok(Condition::Operators(vec![Operator::Eq(value.clone())]));
    };
    // `$and`, `$or` and `$not` combine documents, so an object with them (and field names) is
    // a nested document; every other `$` key is an operator on the field's value.
    let operators = object
        .keys()
        .filter(|key| key.starts_with('$') && !LOGICAL_OPERATORS.contains(&key.as_str()))
        .count();
    if operators == 0 {
        return Ok(Condition::Nested(parse_document(object, path)?));
    }
    if operators < object.len() {
        return Err(refusal(
            path,
            "an object mixes operators on the field's value with field names or $and/$or/$not; \
             write them as separate conditions",
        ));
    }
    let mut parsed = Vec::with_capacity(object.len());
    for (key, operand) in object {
        path.push(key.clone());
        parsed.push(parse_operator(key, operand, path)?);
        path.pop();
    }
    Ok(Condition::Operators(parsed))
}

fn parse_operator(
    key: &str,
    operand: &Value,
    path: &[String],
) -> Result<Operator, ContentFilterError> {
    let number = |comparison| match operand {
        Value::Number(number) => Ok(Operator::Compare(comparison, number.clone())),
        _ => Err(refusal(path, format!("{key} takes a number"))),
    };
    let values = || match operand {
        Value::Array(values) => Ok(values.clone()),
        _ => Err(refusal(path, format!("{key} takes an array of values"))),
    };
    match key {
        "$eq" => Ok(Operator::Eq(operand.clone())),
        "$ne" => Ok(Operator::Ne(operand.clone())),
        "$in" => Ok(Operator::In(values()?)),
        "$nin" => Ok(Operator::Nin(values()?)),
        "$exists" => match operand {
            Value::Bool(exists) => Ok(Operator::Exists(*exists)),
            _ => Err(refusal(path, "$exists takes true or false")),
        },
        "$gt" => number(Comparison::Greater),
        "$gte" => number(Comparison::GreaterOrEqual),
        "$lt" => number(Comparison::Less),
        "$lte" => number(Comparison::LessOrEqual),
        unknown => Err(refusal(
            path,
            format!(
                "unknown operator {unknown}; the operators are {}",
                FIELD_OPERATORS.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests;
