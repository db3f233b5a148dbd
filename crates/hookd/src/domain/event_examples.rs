//! An event type's example payloads, and which endpoints a message goes to.
//!
//! An event type's `schemas` is Svix's map of version -> JSON Schema. Its examples are the
//! JSON Schema `examples` array of the newest version (the highest number): what Svix's
//! `endpoint.send_example` sends and what the dashboard's test event is prefilled with. A
//! message is a JSON object, so an example that is not one cannot be sent.
//!
//! `Recipients` is the fan-out's rule: every endpoint that accepts the message (its event-type,
//! channel and content filters), or only the one endpoint an example was sent to (whatever its
//! filters: the example was sent to it on purpose).

use serde_json::Value;

use super::{ChannelName, EndpointId, EventTypeName, FanoutTarget, PayloadDocument};

/// Why an event type has no example to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExampleError {
    #[error("the event type has no schema with examples to send")]
    NoExamples,
    #[error("the event type's schema has {count} examples; exampleIndex {index} is past the last")]
    IndexOutOfRange { index: usize, count: usize },
    #[error("example {index} of the event type's schema is not a JSON object")]
    NotAnObject { index: usize },
}

/// The example at `index` (0 when `None`) of the newest schema version that has examples.
pub fn schema_example(
    schemas: Option<&Value>,
    index: Option<usize>,
) -> Result<&Value, ExampleError> {
    let examples = newest_examples(schemas).ok_or(ExampleError::NoExamples)?;
    let index = index.unwrap_or(0);
    let example = examples.get(index).ok_or(ExampleError::IndexOutOfRange {
        index,
        count: examples.len(),
    })?;
    if example.is_object() {
        Ok(example)
    } else {
        Err(ExampleError::NotAnObject { index })
    }
}

/// The non-empty `examples` array of the newest schema version, if it has one. Versions are
/// compared as numbers; a key that is not one counts as version 0.
fn newest_examples(schemas: Option<&Value>) -> Option<&Vec<Value>> {
    let newest = schemas?
        .as_object()?
        .iter()
        .max_by_key(|(version, _)| version.parse::<u64>().unwrap_or(0))?
        .1;
    newest
        .get("examples")?
        .as_array()
        .filter(|examples| !examples.is_empty())
}

/// Which of an application's endpoints a new message is delivered to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Recipients {
    /// Every enabled endpoint whose filters accept the message.
    #[default]
    Matching,
    /// Only this endpoint, if it is enabled, whatever its filters: an example sent to it on
    /// purpose (`endpoint.send_example`), which no other endpoint receives.
    OnlyEndpoint(EndpointId),
}

impl Recipients {
    /// Whether `target` gets a delivery of a message with this event type, these channels and
    /// this payload.
    pub fn include(
        &self,
        target: &FanoutTarget,
        event_type: &EventTypeName,
        channels: &[ChannelName],
        payload: &PayloadDocument<'_>,
    ) -> bool {
        match self {
            Recipients::Matching => target.accepts(event_type, channels, payload),
            Recipients::OnlyEndpoint(endpoint_id) => {
                target.id == *endpoint_id && !target.disabled && !target.polling
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(schemas: Value, index: Option<usize>, expected: Result<Value, ExampleError>) {
        let got = schema_example(Some(&schemas), index).cloned();
        assert_eq!(got, expected, "{schemas} at {index:?}");
    }

    #[test]
    fn examples_come_from_the_newest_schema_version() {
        let schemas = json!({
            "1": {"examples": [{"old": true}]},
            "2": {"examples": [{"new": true}, {"other": 1}, 3]},
            "10x": {"examples": [{"not a version": true}]},
        });
        check(schemas.clone(), None, Ok(json!({"new": true})));
        check(schemas.clone(), Some(0), Ok(json!({"new": true})));
        check(schemas.clone(), Some(1), Ok(json!({"other": 1})));
        check(
            schemas.clone(),
            Some(2),
            Err(ExampleError::NotAnObject { index: 2 }),
        );
        check(
            schemas,
            Some(3),
            Err(ExampleError::IndexOutOfRange { index: 3, count: 3 }),
        );
        check(
            json!({"1": {"type": "object"}}),
            None,
            Err(ExampleError::NoExamples),
        );
        check(
            json!({"1": {"examples": []}}),
            None,
            Err(ExampleError::NoExamples),
        );
        check(
            json!({"1": {"examples": {"a": 1}}}),
            None,
            Err(ExampleError::NoExamples),
        );
        check(json!({}), None, Err(ExampleError::NoExamples));
        check(json!([{"a": 1}]), None, Err(ExampleError::NoExamples));
        assert_eq!(schema_example(None, None), Err(ExampleError::NoExamples));
    }

    #[test]
    fn an_example_reaches_only_its_endpoint_and_only_while_enabled() {
        let event_type = EventTypeName::parse("user.created").unwrap();
        let target = |id: &str, disabled: bool, types: Option<&str>| FanoutTarget {
            id: EndpointId::from_trusted(id.to_owned()),
            disabled,
            polling: false,
            event_types: types.map(|name| vec![EventTypeName::parse(name).unwrap()]),
            channels: None,
            filter: Some(std::sync::Arc::new(
                crate::domain::ContentFilter::parse(serde_json::json!({"wanted": true})).unwrap(),
            )),
        };
        let only = Recipients::OnlyEndpoint(EndpointId::from_trusted("ep_a".to_owned()));
        let unwanted = PayloadDocument::json(r#"{"wanted": false}"#);
        let wanted = PayloadDocument::json(r#"{"wanted": true}"#);
        assert!(Recipients::Matching.include(
            &target("ep_a", false, None),
            &event_type,
            &[],
            &wanted
        ));
        // Every target here filters on `wanted`, which this payload fails: only an example
        // sent to one endpoint reaches it regardless.
        #[rustfmt::skip]
        let cases = [
            (Recipients::Matching, target("ep_a", false, None), false),
            (Recipients::Matching, target("ep_a", false, Some("other.type")), false),
            (Recipients::Matching, target("ep_a", true, None), false),
            (only.clone(), target("ep_a", false, None), true),
            (only.clone(), target("ep_a", false, Some("other.type")), true),
            (only.clone(), target("ep_a", true, None), false),
            (only, target("ep_b", false, None), false),
        ];
        for (recipients, target, expected) in cases {
            assert_eq!(
                recipients.include(&target, &event_type, &[], &unwanted),
                expected,
                "{recipients:?} {target:?}"
            );
        }
    }
}
