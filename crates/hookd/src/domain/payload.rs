//! `MessagePayload`: the JSON text of a message's `payload`, exactly as the sender wrote it.
//!
//! Receivers check a signature over the body and compare it with what the sender meant, so
//! hookd never re-serialises a payload: key order, number spellings (`1.50`, integers beyond
//! 64 bits), escapes and the whitespace inside the value are kept byte for byte, and these
//! bytes are what is stored, signed, delivered and returned. Parsing proves two things once,
//! at the edge: the text is one JSON object, and no object inside it has the same key twice.
//! Parsers disagree on which value of a duplicate key wins, so such a payload could say one
//! thing to a filter and another to a receiver; it is refused instead.
//!
//! The check reads the text and keeps nothing of what it reads. It does read numbers as `f64`
//! on the way, so a number beyond `f64`'s range (`1e400`) is refused as unreadable, as it was
//! before payloads were kept as text and as most receivers would.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::PayloadDocument;

/// A message payload: one JSON object with no duplicate keys, kept as its exact text; or, for
/// the inbound gateway only, a body that is not JSON (a form post), kept as its exact text and
/// sent with the content type it arrived with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePayload {
    text: String,
    /// `None` for JSON (`application/json`).
    content_type: Option<String>,
    /// Headers of an inbound request forwarded unchanged with it (a source's
    /// `forwardHeaders`); empty for every other message.
    original_headers: Vec<(String, String)>,
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Svix payloads are JSON objects.
    #[error("payload must be a JSON object")]
    NotAnObject,
    /// An object has `key` twice; `path` leads from the payload to that object (keys, and
    /// array indexes written as numbers).
    #[error("duplicate key {} in the payload", quoted(key))]
    DuplicateKey { path: Vec<String>, key: String },
    /// The text is not JSON that can be read (such as a number beyond `f64`'s range).
    #[error("payload cannot be read: {0}")]
    Unreadable(#[source] serde_json::Error),
}

impl MessagePayload {
    /// Checks `text` (the payload's JSON text as received) and keeps it unchanged.
    pub fn parse(text: &str) -> Result<MessagePayload, PayloadError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let first_duplicate = DuplicateKeySearch {
            path: &mut Vec::new(),
        }
        .deserialize(&mut deserializer)
        .map_err(PayloadError::Unreadable)?;
        deserializer.end().map_err(PayloadError::Unreadable)?;
        // The text is valid JSON here, so a leading `{` means the whole of it is one object.
        if !text.trim_start().starts_with('{') {
            return Err(PayloadError::NotAnObject);
        }
        match first_duplicate {
            Some(DuplicateKey { path, key }) => Err(PayloadError::DuplicateKey { path, key }),
            None => Ok(MessagePayload {
                text: text.to_owned(),
                content_type: None,
                original_headers: Vec::new(),
            }),
        }
    }

    /// A received body that is not a JSON object, forwarded as it came with its content type.
    /// Only the inbound gateway makes these; its messages are never shown as Svix messages.
    pub fn opaque(text: String, content_type: String) -> MessagePayload {
        MessagePayload {
            text,
            content_type: Some(content_type),
            original_headers: Vec::new(),
        }
    }

    /// The same payload, sent with these headers of the inbound request it came from.
    pub fn with_original_headers(mut self, headers: Vec<(String, String)>) -> MessagePayload {
        self.original_headers = headers;
        self
    }

    /// The inbound request's headers forwarded with it.
    pub fn original_headers(&self) -> &[(String, String)] {
        &self.original_headers
    }

    /// The exact text: what is stored, signed and sent.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The content type it is sent with when it is not JSON.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The payload as content filters read it: a JSON payload's text, parsed only if a filter
    /// asks; an opaque body matches no filter.
    pub fn filter_document(&self) -> PayloadDocument<'_> {
        match self.content_type {
            None => PayloadDocument::json(&self.text),
            Some(_) => PayloadDocument::unreadable(),
        }
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

/// A key as JSON writes it, so that keys with quotes or control characters read unambiguously.
fn quoted(key: &str) -> String {
    serde_json::Value::from(key).to_string()
}

struct DuplicateKey {
    path: Vec<String>,
    key: String,
}

/// Walks one JSON value and finds the first duplicate key in document order. `path` is where
/// the value sits; it is restored before returning. Keys are compared after unescaping, since
/// `"a"` and `"\u0061"` are the same key to every parser.
struct DuplicateKeySearch<'path> {
    path: &'path mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for DuplicateKeySearch<'_> {
    type Value = Option<DuplicateKey>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DuplicateKeySearch<'_> {
    type Value = Option<DuplicateKey>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut elements: A) -> Result<Self::Value, A::Error> {
        let mut first_duplicate = None;
        for index in 0.. {
            self.path.push(index.to_string());
            let element = elements.next_element_seed(DuplicateKeySearch {
                path: &mut *self.path,
            });
            self.path.pop();
            match element? {
                Some(found) => first_duplicate = first_duplicate.or(found),
                None => break,
            }
        }
        Ok(first_duplicate)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let mut keys_seen = HashSet::new();
        let mut first_duplicate = None;
        while let Some(key) = entries.next_key::<String>()? {
            if keys_seen.contains(&key) && first_duplicate.is_none() {
                first_duplicate = Some(DuplicateKey {
                    path: self.path.clone(),
                    key: key.clone(),
                });
            }
            self.path.push(key.clone());
            let in_value = entries.next_value_seed(DuplicateKeySearch {
                path: &mut *self.path,
            });
            self.path.pop();
            first_duplicate = first_duplicate.or(in_value?);
            keys_seen.insert(key);
        }
        Ok(first_duplicate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(())` when the text is kept unchanged, or the refusal's message and, for duplicates,
    /// the path to the object and the key.
    fn check(text: &str, expected: Result<(), (&str, &[&str], &str)>) {
        match (MessagePayload::parse(text), expected) {
            (Ok(payload), Ok(())) => assert_eq!(payload.as_str(), text),
            (Err(error), Err((message, expected_path, expected_key))) => {
                assert!(error.to_string().starts_with(message), "{text}: {error}");
                if let PayloadError::DuplicateKey { path, key } = error {
                    let path: Vec<&str> = path.iter().map(String::as_str).collect();
                    assert_eq!(
                        (path.as_slice(), key.as_str()),
                        (expected_path, expected_key)
                    );
                }
            }
            (actual, expected) => panic!("{text}: got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn payloads_are_kept_as_written() {
        for text in [
            r#"{}"#,
            r#"{"z":1,"a":2}"#,
            r#"{"big":123456789012345678901234567890,"id":9007199254740993}"#,
            r#"{"price":1.50,"e":1E+2,"small":2.50e-3,"zero":-0}"#,
            r#"{"s":"tab\t \/ \u00e9 \ud83d\ude00","日本":"語 🎉"}"#,
            "{ \"spaced\" :\t[ 1 , 2 ]\n}",
            r#"{"same":{"k":1},"other":{"k":2},"list":[{"k":1},{"k":1}]}"#,
        ] {
            check(text, Ok(()));
        }
    }

    #[test]
    fn payloads_that_are_not_one_object_are_refused() {
        for text in ["[1]", "\"a\"", "1", "null", " [ ]"] {
            check(text, Err(("payload must be a JSON object", &[], "")));
        }
        for text in [r#"{"a":1e400}"#, r#"{"a":1} {}"#, "{"] {
            check(text, Err(("payload cannot be read", &[], "")));
        }
    }

    #[test]
    fn duplicate_keys_are_found_at_any_depth() {
        let duplicate = "duplicate key";
        check(r#"{"a":1,"a":2}"#, Err((duplicate, &[], "a")));
        check(
            r#"{"a":{"b":1,"c":{"d":1,"d":1}}}"#,
            Err((duplicate, &["a", "c"], "d")),
        );
        check(
            r#"{"l":[0,{"x":1,"x":1}]}"#,
            Err((duplicate, &["l", "1"], "x")),
        );
        check(r#"{"role":1,"\u0072ole":2}"#, Err((duplicate, &[], "role")));
        // The first duplicate in document order is the one named.
        check(
            r#"{"o":{"k":1,"k":2},"o":3}"#,
            Err((duplicate, &["o"], "k")),
        );
        check(r#"{"o":3,"o":{"k":1,"k":2}}"#, Err((duplicate, &[], "o")));
    }

    #[test]
    fn duplicate_keys_are_named_as_json_strings() {
        let error = MessagePayload::parse(r#"{"a\"b":1,"a\"b":2}"#).unwrap_err();
        assert_eq!(error.to_string(), r#"duplicate key "a\"b" in the payload"#);
    }
}
