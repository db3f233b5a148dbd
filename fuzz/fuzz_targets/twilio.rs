//! Twilio: arbitrary URLs (the port variants are cut out of them), form parameters, JSON bodies
//! and signature headers must never panic, and a signature made by `sign` must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_signature::twilio;

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    auth_tokens: Vec<&'a [u8]>,
    url: &'a str,
    params: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
    signature_header: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let _ = twilio::verify_any(
        &input.auth_tokens,
        input.url,
        &input.params,
        input.signature_header,
    );
    let _ = twilio::verify_json_any(
        &input.auth_tokens,
        input.url,
        input.body,
        input.signature_header,
    );
    if let Some(token) = input.auth_tokens.first() {
        let signature = twilio::sign(token, input.url, &input.params);
        let result = twilio::verify(token, input.url, &input.params, &signature);
        assert_eq!(result, Ok(()), "a signed request must verify");
    }
});
