//! Standard Webhooks: secret and public key parsing and the id, timestamp and signature
//! headers on arbitrary input must never panic, and a header made by `signature_header` must
//! verify, with each secret and, for an ed25519 pair (`v1a`), with its public key alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_signature::{
    PublicKey, Secret, VerificationKey, sign, signature_header, verify, verify_keys,
};

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    secret_texts: Vec<&'a str>,
    secret_bytes: &'a [u8],
    ed25519_seed: Option<[u8; 32]>,
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
        let _ = Secret::parse_strict(text);
        if let Ok(public_key) = PublicKey::parse(text) {
            assert_eq!(PublicKey::parse(&public_key.to_string()).ok(), Some(public_key));
        }
        if let Ok(secret) = Secret::parse(text) {
            // What `Display` writes must parse back, strictly, to the same key.
            assert_eq!(
                Secret::parse_strict(&secret.to_string()).ok(),
                Some(secret.clone())
            );
            secrets.push(secret);
        }
    }
    if let Ok(secret) = Secret::from_bytes(input.secret_bytes) {
        secrets.push(secret);
    }
    if let Some(seed) = &input.ed25519_seed {
        secrets.push(Secret::generate_ed25519(seed));
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
        if let Some(public_key) = last.public_key() {
            let result = verify_keys(
                &[VerificationKey::Public(public_key)],
                input.msg_id,
                &timestamp.to_string(),
                &header,
                input.body,
                timestamp,
                0,
            );
            assert_eq!(result, Ok(()), "the public key must verify its pair's entry");
        }
    }
});
