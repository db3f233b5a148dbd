//! Stripe's `Stripe-Signature` parser and verifier on arbitrary input must never panic, and a
//! header made by `sign` must verify at its own timestamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_signature::stripe;

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    secrets: Vec<&'a [u8]>,
    header: &'a str,
    body: &'a [u8],
    now: i64,
    tolerance_secs: i64,
    timestamp: u32,
}

fuzz_target!(|input: Input<'_>| {
    let _ = stripe::verify_any(
        &input.secrets,
        input.header,
        input.body,
        input.now,
        input.tolerance_secs,
    );
    if let Some(secret) = input.secrets.first() {
        let timestamp = i64::from(input.timestamp);
        let header = stripe::sign(secret, timestamp, input.body);
        let result = stripe::verify(secret, &header, input.body, timestamp, 0);
        assert_eq!(result, Ok(()), "a signed header must verify");
    }
});
