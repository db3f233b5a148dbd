//! Stripe's `Stripe-Signature`: `t=<timestamp>,v1=<hex>[,v1=<hex>...]`.

use webhook_signature::VerifyError::{
    InvalidTimestamp, MalformedSignature, MissingSignature, MissingTimestamp, NoMatchingSignature,
    TimestampTooNew, TimestampTooOld,
};
use webhook_signature::{DEFAULT_TOLERANCE_SECS as TOLERANCE, VerifyError, stripe};

use crate::table::{Case, Request, check};
use crate::vectors;

#[test]
fn vectors_sign_and_verify_anywhere_within_tolerance() {
    for vector in vectors::load().stripe {
        assert_eq!(vector.header, stripe::SIGNATURE_HEADER);
        let (secret, body) = (vector.secret.as_bytes(), vector.payload.as_bytes());
        assert_eq!(
            stripe::sign(secret, vector.timestamp, body),
            vector.signature
        );
        for now in [
            vector.timestamp - TOLERANCE,
            vector.timestamp,
            vector.timestamp + TOLERANCE,
        ] {
            let result = stripe::verify(secret, &vector.signature, body, now, TOLERANCE);
            assert_eq!(result, Ok(()), "now {now}");
        }
    }
}

#[test]
fn checks_every_v1_entry_and_rejects_bad_events() {
    let vector = vectors::load().stripe.remove(0);
    let valid = Request {
        secret: vector.secret.into_bytes(),
        signature: vector.signature,
        body: vector.payload.into_bytes(),
        now: vector.timestamp,
        ..Request::default()
    };
    // The vector's header is `t=1700000000,v1=<hex>`: the `t=` item is the first 12 characters.
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("second v1 matches", |request| insert_after_t(request, &wrong_v1(request)), Ok(())),
        ("undecodable v1 skipped", |request| insert_after_t(request, "v1=zz"), Ok(())),
        ("v0 entry ignored", |request| insert_after_t(request, "v0=abc"), Ok(())),
        ("only a wrong v1", |request| request.signature.replace_range(13.., &wrong_v1(request)), Err(NoMatchingSignature)),
        ("right tag under v0", |request| request.signature.replace_range(13..15, "v0"), Err(NoMatchingSignature)),
        ("no signatures", |request| request.signature.truncate(12), Err(NoMatchingSignature)),
        ("upper-case hex, which Stripe's library refuses", |request| request.signature[16..].make_ascii_uppercase(), Err(NoMatchingSignature)),
        ("tampered body", |request| request.body.push(b' '), Err(NoMatchingSignature)),
        ("wrong secret", |request| request.secret.push(b'x'), Err(NoMatchingSignature)),
        ("one second too old", |request| request.now += TOLERANCE + 1, Err(TimestampTooOld)),
        ("one second too new", |request| request.now -= TOLERANCE + 1, Err(TimestampTooNew)),
        ("empty header", |request| request.signature.clear(), Err(MissingSignature)),
        ("item without =", |request| insert_after_t(request, "garbage"), Err(MalformedSignature)),
        ("no timestamp", |request| request.signature.replace_range(..13, ""), Err(MissingTimestamp)),
        ("empty timestamp", |request| request.signature.replace_range(2..12, ""), Err(MissingTimestamp)),
        ("word timestamp", |request| request.signature.replace_range(2..12, "soon"), Err(InvalidTimestamp)),
    ];
    check(&valid, verify, cases);
}

fn verify(request: &Request) -> Result<(), VerifyError> {
    stripe::verify(
        &request.secret,
        &request.signature,
        &request.body,
        request.now,
        TOLERANCE,
    )
}

/// Puts `item` between the `t=` item and the original `v1=` item.
fn insert_after_t(request: &mut Request, item: &str) {
    request.signature.insert_str(13, &format!("{item},"));
}

/// A `v1=` item signed with another secret over the same timestamp and body.
fn wrong_v1(request: &Request) -> String {
    let header = stripe::sign(b"another secret", request.now, &request.body);
    header[13..].to_owned()
}
