//! `Verifier`, as the inbound gateway uses it: every source type, built from arbitrary
//! configuration (or refused), checking arbitrary requests, must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_signature::generic::{GenericVerifier, TokenConfig};
use webhook_signature::{InboundRequest, Secret, SharedSecrets, SourceType, Verifier};

/// Every header name some scheme reads, so that the fuzzer reaches past "missing header".
const KNOWN_HEADERS: [&str; 14] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "Stripe-Signature",
    "X-Hub-Signature-256",
    "X-Shopify-Hmac-Sha256",
    "X-Slack-Signature",
    "X-Slack-Request-Timestamp",
    "X-Twilio-Signature",
    "Authorization",
    "X-Token",
];

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    source_type: u8,
    secrets: Vec<&'a [u8]>,
    public_url: &'a str,
    tolerance_secs: i64,
    query: &'a str,
    known_headers: Vec<(u8, &'a [u8])>,
    other_headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
    now: i64,
}

fn build(input: &Input<'_>) -> Option<Verifier> {
    let source_type = SourceType::ALL[usize::from(input.source_type) % SourceType::ALL.len()];
    let _ = SourceType::parse(source_type.as_str());
    if source_type.uses_standard_webhooks() {
        let secrets = input
            .secrets
            .iter()
            .filter_map(|bytes| Secret::from_bytes(bytes).ok());
        return Verifier::standard_webhooks(secrets).ok();
    }
    let secrets = SharedSecrets::new(&input.secrets).ok()?;
    Some(match source_type {
        SourceType::Stripe => Verifier::stripe(secrets),
        SourceType::Github => Verifier::github(secrets),
        SourceType::Shopify => Verifier::shopify(secrets),
        SourceType::Slack => Verifier::slack(secrets),
        SourceType::Twilio => Verifier::twilio(secrets, input.public_url).ok()?,
        _ => Verifier::generic(GenericVerifier::Token(
            TokenConfig::new("X-Token", secrets).ok()?,
        )),
    })
}

fuzz_target!(|input: Input<'_>| {
    let Some(verifier) = build(&input) else {
        return;
    };
    let verifier = match verifier.clone().with_tolerance(input.tolerance_secs) {
        Ok(with_tolerance) => with_tolerance,
        Err(_) => verifier,
    };
    let mut headers: Vec<(&str, &[u8])> = input
        .known_headers
        .iter()
        .map(|(index, value)| {
            (
                KNOWN_HEADERS[usize::from(*index) % KNOWN_HEADERS.len()],
                *value,
            )
        })
        .collect();
    headers.extend(input.other_headers.iter().copied());
    let request = InboundRequest {
        query: input.query,
        headers: &headers,
        body: input.body,
    };
    if let Err(error) = verifier.verify(&request, input.now) {
        assert!(!error.code().is_empty());
    }
});
