//! `generic-webhook`: arbitrary configurations are either refused or verify arbitrary requests
//! without panicking, and a header made by `HmacConfig::sign` verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_signature::generic::{
    BasicAuthConfig, GenericVerifier, HmacAlgorithm, HmacConfig, SignedContent, TagEncoding,
    TokenConfig,
};
use webhook_signature::{InboundRequest, SharedSecrets};

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    header: &'a str,
    algorithm: u8,
    base64: bool,
    prefix: Option<&'a str>,
    timestamp_header: Option<&'a str>,
    tolerance_secs: i64,
    secrets: Vec<&'a [u8]>,
    credentials: Vec<(&'a str, &'a str)>,
    request_headers: Vec<(bool, &'a [u8])>,
    body: &'a [u8],
    now: i64,
    timestamp: u32,
}

fuzz_target!(|input: Input<'_>| {
    let configured = [
        input.header,
        input.timestamp_header.unwrap_or("X-Timestamp"),
    ];
    // Half the request headers carry a configured name, so the fuzzer need not guess it.
    let mut headers: Vec<(&str, &[u8])> = Vec::new();
    for (index, (configured_name, value)) in input.request_headers.iter().enumerate() {
        let name = if *configured_name {
            configured[index % 2]
        } else {
            "Authorization"
        };
        headers.push((name, value));
    }
    let request = InboundRequest {
        query: "",
        headers: &headers,
        body: input.body,
    };

    let _ = GenericVerifier::None.verify(&request, input.now);
    if let Ok(config) = BasicAuthConfig::new(&input.credentials) {
        let _ = GenericVerifier::Basic(config).verify(&request, input.now);
    }
    let Ok(secrets) = SharedSecrets::new(&input.secrets) else {
        return;
    };
    if let Ok(config) = TokenConfig::new(input.header, secrets.clone()) {
        let _ = GenericVerifier::Token(config).verify(&request, input.now);
    }
    let algorithm = match input.algorithm % 3 {
        0 => HmacAlgorithm::Sha1,
        1 => HmacAlgorithm::Sha256,
        _ => HmacAlgorithm::Sha512,
    };
    let encoding = if input.base64 {
        TagEncoding::Base64
    } else {
        TagEncoding::Hex
    };
    let content = match input.timestamp_header {
        None => SignedContent::Body,
        Some(name) => match SignedContent::timestamp_and_body(name, input.tolerance_secs) {
            Ok(content) => content,
            Err(_) => return,
        },
    };
    let signs_timestamp = content != SignedContent::Body;
    let Ok(config) = HmacConfig::new(
        input.header,
        algorithm,
        encoding,
        input.prefix,
        content,
        secrets.clone(),
    ) else {
        return;
    };
    let _ = GenericVerifier::Hmac(config.clone()).verify(&request, input.now);

    // A request signed as configured verifies at its own timestamp.
    let timestamp = i64::from(input.timestamp);
    let signature = config.sign(&secrets.as_slice()[0], timestamp, input.body);
    let timestamp_text = timestamp.to_string();
    let mut signed_headers: Vec<(&str, &[u8])> = vec![(input.header, signature.as_bytes())];
    if signs_timestamp {
        signed_headers.insert(0, (configured[1], timestamp_text.as_bytes()));
    }
    let signed = InboundRequest {
        query: "",
        headers: &signed_headers,
        body: input.body,
    };
    let result = GenericVerifier::Hmac(config).verify(&signed, timestamp);
    // Only a header name that equals the timestamp header's (ignoring case) can collide.
    if !input.header.eq_ignore_ascii_case(configured[1]) {
        assert_eq!(result, Ok(()), "a signed request must verify");
    }
});
