//! The inbound gateway's pure rules on one received request: a source's `config` parsed for
//! its type, its verifier built, and the request (headers, query, body) judged, with its
//! delivery id, event type, Slack challenge and the headers kept or forwarded. The input is the
//! type (first byte), the `config` JSON up to the first newline, then the request as
//! `arbitrary` reads it. On arbitrary input nothing may panic, and
//! - a config that parses builds its verifier (what the store holds always verifies);
//! - a delivery id is 1 to 512 bytes; the event type is always a valid name;
//! - forwarded headers are ones the source asked for and hookd never writes itself; the
//!   record keeps every header, in order, with credentials redacted;
//! - a rejection's stable code names the same reason back.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use hookd::domain::inbound::{
    InboundHeaders, RejectReason, Source, SourceConfig, SourceFields, SourceType, dedupe_key,
    event_type, forwarded_headers, never_forwarded, redacted_headers, slack_challenge,
};
use hookd::domain::{Metadata, SourceId, Timestamp};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const SOURCE_TYPES: [&str; 11] = [
    "generic-webhook",
    "github",
    "shopify",
    "slack",
    "stripe",
    "twilio",
    "svix",
    "standard-webhooks",
    "replicate",
    "clerk",
    "resend",
];

/// Header names some source reads, so that the fuzzer reaches past "missing header".
const KNOWN_HEADERS: [&str; 16] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "x-github-event",
    "x-shopify-hmac-sha256",
    "x-shopify-topic",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-twilio-signature",
    "authorization",
];

#[derive(arbitrary::Arbitrary, Debug)]
struct Request<'a> {
    known_headers: Vec<(u8, &'a str)>,
    other_headers: Vec<(&'a str, &'a str)>,
    query: &'a str,
    now: i64,
    body: &'a [u8],
}

fuzz_target!(|data: &[u8]| {
    let [source_type, rest @ ..] = data else {
        return;
    };
    let (config, request) = match rest.iter().position(|byte| *byte == b'\n') {
        Some(newline) => (&rest[..newline], &rest[newline + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(input) = Request::arbitrary_take_rest(Unstructured::new(request)) else {
        return;
    };
    let source_type = SourceType::parse(SOURCE_TYPES[usize::from(*source_type) % 11])
        .expect("a known source type");
    let config = serde_json::from_slice::<Map<String, Value>>(config).unwrap_or_default();
    let Ok(config) = SourceConfig::parse(source_type, &config) else {
        return;
    };
    let source = Source {
        id: SourceId::from_trusted("src_fuzz"),
        fields: SourceFields {
            uid: None,
            name: "fuzz".to_owned(),
            source_type,
            config,
            metadata: Metadata::new(),
        },
        token: "token".to_owned(),
        created_at: Timestamp::UNIX_EPOCH,
        updated_at: Timestamp::UNIX_EPOCH,
    };
    let verifier = source
        .verifier("https://hookd.example/ingest/in/token")
        .expect("a parsed config builds its verifier");
    let mut headers: Vec<(String, String)> = input
        .known_headers
        .iter()
        .map(|(index, value)| {
            let name = KNOWN_HEADERS[usize::from(*index) % KNOWN_HEADERS.len()];
            (name.to_owned(), (*value).to_owned())
        })
        .collect();
    headers.extend(
        input
            .other_headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned())),
    );
    let headers = InboundHeaders(headers);
    let pairs = headers.as_pairs();
    let request = InboundHeaders::request(&pairs, input.query, input.body);
    if let Err(error) = verifier.verify(&request, input.now) {
        let reason = RejectReason::Signature(error);
        assert_eq!(RejectReason::from_code(reason.code()), Some(reason));
    }
    if let Some(key) = dedupe_key(&source, &headers, input.body) {
        assert!(!key.is_empty() && key.len() <= 512);
    }
    let name = event_type(&source, &headers, input.body);
    assert!(hookd::domain::EventTypeName::parse(name.as_str()).is_ok());
    let _ = slack_challenge(&source, input.body);
    for (forwarded, _) in forwarded_headers(&source, &headers) {
        assert!(source.fields.config.forward_headers.contains(&forwarded));
        assert!(!never_forwarded(&forwarded), "{forwarded} is hookd's own");
    }
    let kept = redacted_headers(&headers);
    assert_eq!(kept.len(), headers.0.len());
    for ((kept_name, kept_value), (name, value)) in kept.iter().zip(&headers.0) {
        assert_eq!(kept_name, name);
        assert!(kept_value == value || kept_value == "[redacted]");
        if name.contains("signature") || name == "authorization" {
            assert_eq!(kept_value, "[redacted]");
        }
    }
});
