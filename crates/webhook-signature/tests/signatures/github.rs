//! GitHub's `X-Hub-Signature-256`.

use webhook_signature::VerifyError::{MalformedSignature, MissingSignature, NoMatchingSignature};
use webhook_signature::{VerifyError, github};

use crate::table::{Case, Request, check};
use crate::vectors;

#[test]
fn vectors_sign_and_verify() {
    for vector in vectors::load().github {
        assert_eq!(vector.header, github::SIGNATURE_HEADER);
        let (secret, body) = (vector.secret.as_bytes(), vector.payload.as_bytes());
        assert_eq!(github::sign(secret, body), vector.signature);
        assert_eq!(github::verify(secret, &vector.signature, body), Ok(()));
    }
}

#[test]
fn rejects_bad_deliveries() {
    let vector = vectors::load().github.remove(0);
    let valid = Request {
        secret: vector.secret.into_bytes(),
        signature: vector.signature,
        body: vector.payload.into_bytes(),
        ..Request::default()
    };
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("tampered body", |request| request.body.push(b'!'), Err(NoMatchingSignature)),
        ("wrong secret", |request| request.secret.push(b'x'), Err(NoMatchingSignature)),
        ("tag one byte short", |request| request.signature.truncate(69), Err(NoMatchingSignature)),
        ("empty header", |request| request.signature.clear(), Err(MissingSignature)),
        ("no prefix", |request| request.signature.replace_range(..7, ""), Err(MalformedSignature)),
        ("sha1 prefix", |request| request.signature.replace_range(..6, "sha1"), Err(MalformedSignature)),
        ("non-hex tag", |request| request.signature.replace_range(7..9, "zz"), Err(MalformedSignature)),
        ("odd-length tag", |request| request.signature.push('0'), Err(MalformedSignature)),
        ("upper-case hex, which GitHub's library refuses", |request| request.signature[7..].make_ascii_uppercase(), Err(MalformedSignature)),
    ];
    check(&valid, verify, cases);
}

fn verify(request: &Request) -> Result<(), VerifyError> {
    github::verify(&request.secret, &request.signature, &request.body)
}
