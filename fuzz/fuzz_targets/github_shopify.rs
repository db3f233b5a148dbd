//! GitHub's and Shopify's body-only signature headers on arbitrary input must never panic, and
//! a header made by `sign` must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_signature::{github, shopify};

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    secrets: Vec<&'a [u8]>,
    header: &'a str,
    body: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let _ = github::verify_any(&input.secrets, input.header, input.body);
    let _ = shopify::verify_any(&input.secrets, input.header, input.body);
    if let Some(secret) = input.secrets.first() {
        let header = github::sign(secret, input.body);
        assert_eq!(github::verify(secret, &header, input.body), Ok(()));
        let header = shopify::sign(secret, input.body);
        assert_eq!(shopify::verify(secret, &header, input.body), Ok(()));
    }
});
