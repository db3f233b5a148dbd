//! Twilio's `X-Twilio-Signature` over the URL and the sorted POST parameters.

use webhook_signature::VerifyError::{MalformedSignature, MissingSignature, NoMatchingSignature};
use webhook_signature::{VerifyError, twilio};

use crate::table::{Case, Request, check};
use crate::vectors;

#[test]
fn vectors_sign_and_verify_whatever_the_parameter_order() {
    for vector in vectors::load().twilio {
        assert_eq!(vector.header, twilio::SIGNATURE_HEADER);
        let token = vector.auth_token.as_bytes();
        // The map iterates sorted; reverse it so that the crate's own sorting is what is tested.
        let params: Vec<(String, String)> = vector.params.into_iter().rev().collect();
        assert_eq!(twilio::sign(token, &vector.url, &params), vector.signature);
        assert_eq!(
            twilio::verify(token, &vector.url, &params, &vector.signature),
            Ok(())
        );
    }
}

#[test]
fn sorts_repeated_parameters_by_value_and_drops_exact_repeats() {
    // Computed with Python's hmac module over
    // "https://example.com/sms" + "SmsSid" + "SM1" + "Tag" + "1" + "Tag" + "2".
    let params = [("Tag", "2"), ("SmsSid", "SM1"), ("Tag", "1"), ("Tag", "1")];
    let signature = twilio::sign(b"12345", "https://example.com/sms", &params);
    assert_eq!(signature, "HSDc48Ow8bQb3cat0qxYpUH5iEk=");
}

#[test]
fn rejects_bad_requests() {
    let vector = vectors::load().twilio.remove(0);
    let valid = Request {
        secret: vector.auth_token.into_bytes(),
        url: vector.url,
        params: vector.params.into_iter().collect(),
        signature: vector.signature,
        ..Request::default()
    };
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("changed parameter", |request| request.params[0].1.push('0'), Err(NoMatchingSignature)),
        ("extra parameter", |request| request.params.push(("A".into(), "1".into())), Err(NoMatchingSignature)),
        ("no parameters", |request| request.params.clear(), Err(NoMatchingSignature)),
        ("url without query", |request| request.url = request.url.replace("?foo=1&bar=2", ""), Err(NoMatchingSignature)),
        ("wrong token", |request| request.secret.push(b'6'), Err(NoMatchingSignature)),
        ("empty header", |request| request.signature.clear(), Err(MissingSignature)),
        ("non-base64 header", |request| request.signature.insert(0, '*'), Err(MalformedSignature)),
    ];
    check(&valid, verify, cases);
}

fn verify(request: &Request) -> Result<(), VerifyError> {
    twilio::verify(
        &request.secret,
        &request.url,
        &request.params,
        &request.signature,
    )
}
