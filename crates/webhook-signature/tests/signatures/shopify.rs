//! Shopify's `X-Shopify-Hmac-Sha256`. Shopify publishes no fixed vector, so the one here was
//! computed with Python's `hmac` module from the documented construction.

use webhook_signature::VerifyError::{MalformedSignature, MissingSignature, NoMatchingSignature};
use webhook_signature::{VerifyError, shopify};

use crate::table::{Case, Request, check};

const SECRET: &[u8] = b"hush-shopify-secret";
const BODY: &[u8] = br#"{"id":820982911946154508,"topic":"orders/create"}"#;
const SIGNATURE: &str = "UsBs+kqx7lz35GwJGuiAqEOox2j3igr2/IaNOiwhxHc=";

#[test]
fn vector_signs_and_verifies() {
    assert_eq!(shopify::sign(SECRET, BODY), SIGNATURE);
    assert_eq!(shopify::verify(SECRET, SIGNATURE, BODY), Ok(()));
}

#[test]
fn rejects_bad_deliveries() {
    let valid = Request {
        secret: SECRET.to_vec(),
        signature: SIGNATURE.to_owned(),
        body: BODY.to_vec(),
        ..Request::default()
    };
    // The tag is 44 base64 characters; its first 40 are valid base64 of 30 bytes.
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("tampered body", |request| request.body.push(b' '), Err(NoMatchingSignature)),
        ("wrong secret", |request| request.secret.push(b'x'), Err(NoMatchingSignature)),
        ("tag two bytes short", |request| request.signature.truncate(40), Err(NoMatchingSignature)),
        ("empty header", |request| request.signature.clear(), Err(MissingSignature)),
        ("non-base64 header", |request| request.signature.insert(0, '*'), Err(MalformedSignature)),
        ("sha256= prefix", |request| request.signature.insert_str(0, "sha256="), Err(MalformedSignature)),
    ];
    check(&valid, verify, cases);
}

fn verify(request: &Request) -> Result<(), VerifyError> {
    shopify::verify(&request.secret, &request.signature, &request.body)
}
