//! Slack's signature and timestamp headers and its url_verification body on arbitrary input
//! must never panic, and a signature made by `sign` must verify at its own timestamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_signature::slack;

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    secrets: Vec<&'a [u8]>,
    timestamp_header: &'a str,
    signature_header: &'a str,
    body: &'a [u8],
    now: i64,
    tolerance_secs: i64,
    timestamp: u32,
}

fuzz_target!(|input: Input<'_>| {
    let _ = slack::url_verification_challenge(input.body);
    let _ = slack::verify_any(
        &input.secrets,
        input.timestamp_header,
        input.signature_header,
        input.body,
        input.now,
        input.tolerance_secs,
    );
    if let Some(secret) = input.secrets.first() {
        let timestamp = i64::from(input.timestamp);
        let signature = slack::sign(secret, timestamp, input.body);
        let result = slack::verify(
            secret,
            &timestamp.to_string(),
            &signature,
            input.body,
            timestamp,
            0,
        );
        assert_eq!(result, Ok(()), "a signed request must verify");
    }
});
