//! `generic-webhook`: a configured HMAC, HTTP basic, a static token, or nothing. The tags below
//! were computed with Python's `hmac` module, independently of this crate.

use webhook_signature::VerifyError::{
    InvalidTimestamp, MalformedCredentials, MalformedSignature, MissingCredentials,
    MissingSignature, MissingTimestamp, NoMatchingSignature, TimestampTooNew, TimestampTooOld,
    WrongCredentials,
};
use webhook_signature::generic::{
    BasicAuthConfig, GenericVerifier, HmacAlgorithm, HmacConfig, SignedContent, TagEncoding,
    TokenConfig,
};
use webhook_signature::{ConfigError, SharedSecrets, Verifier};

use crate::inbound::Inbound;
use crate::table::{Case, check};

const SECRET: &str = "generic-secret";
const BODY: &[u8] = br#"{"a":1}"#;
const NOW: i64 = 1_700_000_000;

fn secrets(list: &[&str]) -> SharedSecrets {
    SharedSecrets::new(list).expect("non-empty secrets")
}

fn hmac_source(
    algorithm: HmacAlgorithm,
    encoding: TagEncoding,
    prefix: Option<&str>,
    content: SignedContent,
    header_value: &str,
) -> Inbound {
    let config = HmacConfig::new(
        "X-Signature",
        algorithm,
        encoding,
        prefix,
        content,
        secrets(&["old-secret", SECRET]),
    )
    .expect("valid config");
    let verifier = Verifier::generic(GenericVerifier::Hmac(config));
    let headers = [("x-signature", header_value), ("X-Timestamp", "1700000000")];
    Inbound::new(verifier, &headers, BODY, NOW)
}

fn signed_timestamp() -> SignedContent {
    SignedContent::timestamp_and_body("X-Timestamp", 300).expect("valid")
}

#[test]
fn hmac_sha256_hex_with_prefix_over_the_body() {
    let valid = hmac_source(
        HmacAlgorithm::Sha256,
        TagEncoding::Hex,
        Some("sha256="),
        SignedContent::Body,
        "sha256=25356a87463a4b8f8cc3d46102f9e21794a511ab94e337c1faf307f1d9a5677c",
    );
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("upper-case hex", |inbound| inbound.header_mut("x-signature").make_ascii_uppercase(), Err(MalformedSignature)),
        ("hex digits upper-cased after the prefix", |inbound| { let v = inbound.header_mut("x-signature"); v[7..].make_ascii_uppercase(); }, Ok(())),
        ("clock far away: no timestamp is signed", |inbound| inbound.now = 0, Ok(())),
        ("tampered body", |inbound| inbound.body.push(b' '), Err(NoMatchingSignature)),
        ("no prefix", |inbound| { inbound.header_mut("x-signature").drain(..7); }, Err(MalformedSignature)),
        ("not hex", |inbound| inbound.header_mut("x-signature")[8] = b'z', Err(MalformedSignature)),
        ("tag one byte short", |inbound| { inbound.header_mut("x-signature").truncate(69); }, Err(NoMatchingSignature)),
        ("no header", |inbound| inbound.remove_header("x-signature"), Err(MissingSignature)),
        ("empty header", |inbound| inbound.header_mut("x-signature").clear(), Err(MissingSignature)),
        ("header not UTF-8", |inbound| inbound.header_mut("x-signature")[9] = 0xFF, Err(MalformedSignature)),
    ];
    check(&valid, Inbound::verify, cases);
}

#[test]
fn hmac_sha512_base64_over_timestamp_and_body() {
    let valid = hmac_source(
        HmacAlgorithm::Sha512,
        TagEncoding::Base64,
        None,
        signed_timestamp(),
        "U1FjiBB1+XCx/g8dtGmuNpV59WRSnSAkL9J4Dz2FeYfBTx/ypS/WqnqZZD5ycCR6Wpq3BgSTSS8Fp92RpPffRw==",
    );
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("tolerance seconds later", |inbound| inbound.now += 300, Ok(())),
        ("one second too old", |inbound| inbound.now += 301, Err(TimestampTooOld)),
        ("one second too new", |inbound| inbound.now -= 301, Err(TimestampTooNew)),
        ("timestamp changed", |inbound| inbound.set_header("X-Timestamp", "1700000001"), Err(NoMatchingSignature)),
        ("no timestamp", |inbound| inbound.remove_header("X-Timestamp"), Err(MissingTimestamp)),
        ("word timestamp", |inbound| inbound.set_header("X-Timestamp", "soon"), Err(InvalidTimestamp)),
        ("tampered body", |inbound| inbound.body.insert(0, b' '), Err(NoMatchingSignature)),
        ("not base64", |inbound| inbound.header_mut("x-signature")[0] = b'*', Err(MalformedSignature)),
    ];
    check(&valid, Inbound::verify, cases);
}

#[test]
fn hmac_sha1_hex_and_sign_agree_with_python() {
    let valid = hmac_source(
        HmacAlgorithm::Sha1,
        TagEncoding::Hex,
        None,
        SignedContent::Body,
        "e610337e09fff5a990131bc1cff1425b5c8f39a0",
    );
    assert_eq!(valid.verify(), Ok(()));
    let config = HmacConfig::new(
        "X-Signature",
        HmacAlgorithm::Sha512,
        TagEncoding::Base64,
        None,
        signed_timestamp(),
        secrets(&[SECRET]),
    )
    .unwrap();
    assert_eq!(
        config.sign(SECRET.as_bytes(), NOW, BODY),
        "U1FjiBB1+XCx/g8dtGmuNpV59WRSnSAkL9J4Dz2FeYfBTx/ypS/WqnqZZD5ycCR6Wpq3BgSTSS8Fp92RpPffRw=="
    );
    let rotated_out = HmacConfig::new(
        "X-Signature",
        HmacAlgorithm::Sha1,
        TagEncoding::Hex,
        None,
        SignedContent::Body,
        secrets(&["old-secret"]),
    )
    .unwrap();
    let mut stale = valid.clone();
    stale.verifier = Verifier::generic(GenericVerifier::Hmac(rotated_out));
    assert_eq!(stale.verify(), Err(NoMatchingSignature));
}

#[test]
fn basic_auth_accepts_any_configured_credential() {
    let config = BasicAuthConfig::new(&[("old", "secret"), ("hookd", "pa:ss")]).unwrap();
    let verifier = Verifier::generic(GenericVerifier::Basic(config));
    // base64("hookd:pa:ss"): a password may contain ':'.
    let valid = Inbound::new(
        verifier,
        &[("authorization", "Basic aG9va2Q6cGE6c3M=")],
        BODY,
        NOW,
    );
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("scheme in capitals", |inbound| inbound.set_header("Authorization", "BASIC aG9va2Q6cGE6c3M="), Ok(())),
        ("the other credential", |inbound| inbound.set_header("authorization", "Basic b2xkOnNlY3JldA=="), Ok(())),
        ("wrong password", |inbound| inbound.set_header("authorization", "Basic aG9va2Q6cGFzcw=="), Err(WrongCredentials)),
        ("no header", |inbound| inbound.remove_header("authorization"), Err(MissingCredentials)),
        ("bearer scheme", |inbound| inbound.set_header("authorization", "Bearer aG9va2Q6cGE6c3M="), Err(MalformedCredentials)),
        ("no scheme", |inbound| inbound.set_header("authorization", "aG9va2Q6cGE6c3M="), Err(MalformedCredentials)),
        ("not base64", |inbound| inbound.set_header("authorization", "Basic ***"), Err(MalformedCredentials)),
        ("no colon", |inbound| inbound.set_header("authorization", "Basic aG9va2Q="), Err(MalformedCredentials)),
    ];
    check(&valid, Inbound::verify, cases);
}

#[test]
fn static_token_must_equal_a_configured_token() {
    let config = TokenConfig::new("X-Hook-Token", secrets(&["t0ken-new", "t0ken-old"])).unwrap();
    let verifier = Verifier::generic(GenericVerifier::Token(config));
    let valid = Inbound::new(verifier, &[("x-hook-token", "t0ken-new")], BODY, NOW);
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("old token during rotation", |inbound| inbound.set_header("x-hook-token", "t0ken-old"), Ok(())),
        ("prefix of a token", |inbound| inbound.set_header("x-hook-token", "t0ken"), Err(WrongCredentials)),
        ("token with a suffix", |inbound| inbound.set_header("x-hook-token", "t0ken-new2"), Err(WrongCredentials)),
        ("no header", |inbound| inbound.remove_header("x-hook-token"), Err(MissingCredentials)),
        ("empty header", |inbound| inbound.set_header("x-hook-token", ""), Err(MissingCredentials)),
    ];
    check(&valid, Inbound::verify, cases);
}

#[test]
fn no_verification_accepts_anything() {
    let valid = Inbound::new(Verifier::generic(GenericVerifier::None), &[], b"", NOW);
    assert_eq!(valid.verify(), Ok(()));
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    let hmac = |header: &str, prefix: Option<&str>| {
        HmacConfig::new(
            header,
            HmacAlgorithm::Sha256,
            TagEncoding::Hex,
            prefix,
            SignedContent::Body,
            secrets(&[SECRET]),
        )
        .map(drop)
    };
    let header_error = |name: &str| ConfigError::InvalidHeaderName { name: name.into() };
    let empty: [&str; 0] = [];
    let results: Vec<(Result<(), ConfigError>, ConfigError)> = vec![
        (SharedSecrets::new(empty).map(drop), ConfigError::NoSecrets),
        (
            SharedSecrets::new(["a", ""]).map(drop),
            ConfigError::EmptySecret,
        ),
        (hmac("", None), header_error("")),
        (hmac("X Signature", None), header_error("X Signature")),
        (hmac("X-Sig:", None), header_error("X-Sig:")),
        (hmac("X-Signature", Some("")), ConfigError::EmptyPrefix),
        (
            SignedContent::timestamp_and_body("X-Timestamp", -1).map(drop),
            ConfigError::NegativeTolerance,
        ),
        (
            SignedContent::timestamp_and_body("X\nTimestamp", 300).map(drop),
            header_error("X\nTimestamp"),
        ),
        (
            TokenConfig::new("", secrets(&["t"])).map(drop),
            header_error(""),
        ),
        (
            BasicAuthConfig::new::<&str, &str>(&[]).map(drop),
            ConfigError::NoSecrets,
        ),
        (
            BasicAuthConfig::new(&[("", "p")]).map(drop),
            ConfigError::InvalidUsername,
        ),
        (
            BasicAuthConfig::new(&[("a:b", "p")]).map(drop),
            ConfigError::InvalidUsername,
        ),
        (
            BasicAuthConfig::new(&[("a", "")]).map(drop),
            ConfigError::EmptySecret,
        ),
    ];
    for (result, expected) in results {
        assert_eq!(result, Err(expected));
    }
}

#[test]
fn debug_output_hides_secrets() {
    let debug = format!(
        "{:?} {:?}",
        BasicAuthConfig::new(&[("user", "hunter2")]).unwrap(),
        TokenConfig::new("X-Token", secrets(&["s3cr3t-token"])).unwrap()
    );
    assert!(
        !debug.contains("hunter2") && !debug.contains("s3cr3t"),
        "{debug}"
    );
}
