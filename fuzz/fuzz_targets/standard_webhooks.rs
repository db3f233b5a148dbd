//! Standard Webhooks: secret parsing and the id, timestamp and signature headers on arbitrary
//! input must never panic, and a header made by `signature_header` must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_signature::{Secret, sign, signature_header, verify};

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    secret_texts: Vec<&'a str>,
    secret_bytes: &'a [u8],
    msg_id: &'a str,
    timestamp_header: &'a str,
    signature_header: &'a str,
    body: &'a [u8],
    now: i64,
    tolerance_secs: i64,
    timestamp: u32,
}

fuzz_target!(|input: Input<'_>| {
    let mut secrets: Vec<Secret> = Vec::new();
    for text in &input.secret_texts {
        let _ = Secret::parse_whsec(text);
        if let Ok(secret) = Secret::parse(text) {
            // What `Display` writes must parse back, strictly, to the same key.
            assert_eq!(
                Secret::parse_whsec(&secret.to_string()).ok(),
                Some(secret.clone())
            );
            secrets.push(secret);
        }
    }
    if let Ok(secret) = Secret::from_bytes(input.secret_bytes) {
        secrets.push(secret);
    }
    let _ = verify(
        &secrets,
        input.msg_id,
        input.timestamp_header,
        input.signature_header,
        input.body,
        input.now,
        input.tolerance_secs,
    );
    if !secrets.is_empty() && !input.msg_id.is_empty() {
        let timestamp = i64::from(input.timestamp);
        let all: Vec<&Secret> = secrets.iter().collect();
        let header = signature_header(&all, input.msg_id, timestamp, input.body);
        let last = secrets.last().expect("not empty");
        let result = verify(
            std::slice::from_ref(last),
            input.msg_id,
            &timestamp.to_string(),
            &header,
            input.body,
            timestamp,
            0,
        );
        assert_eq!(result, Ok(()), "every secret's entry must verify");
        assert!(header.contains(&sign(last, input.msg_id, timestamp, input.body)));
    }
});
