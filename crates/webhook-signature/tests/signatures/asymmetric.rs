//! Asymmetric Standard Webhooks (`v1a`, ed25519): `whsk_`/`whpk_` parsing, signing that
//! reproduces the vectors of `tests/vectors/asymmetric.json`, verification with the public key
//! alone, headers that mix `v1` and `v1a` entries, and the refusals.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use webhook_signature::VerifyError::NoMatchingSignature;
use webhook_signature::{
    DEFAULT_TOLERANCE_SECS as TOLERANCE, Ed25519Error, PublicKey, Secret, SecretError,
    VerificationKey, Verifier, VerifyError, sign, signature_header, verify, verify_keys,
};

use crate::inbound::Inbound;

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    source: String,
    secret: String,
    public_key: String,
    msg_id: String,
    timestamp: i64,
    payload: String,
    signature: String,
}

/// (case, keys, header, body, expected)
type PublicCase<'a> = (
    &'a str,
    &'a [VerificationKey],
    &'a str,
    &'a str,
    Result<(), VerifyError>,
);

fn vectors() -> Vec<Vector> {
    let text = include_str!("../vectors/asymmetric.json");
    serde_json::from_str::<Vectors>(text)
        .expect("asymmetric.json parses")
        .vectors
}

fn public(text: &str) -> VerificationKey {
    VerificationKey::Public(PublicKey::parse(text).expect("vector public key parses"))
}

fn check_public(
    vector: &Vector,
    keys: &[VerificationKey],
    header: &str,
    body: &str,
) -> Result<(), VerifyError> {
    verify_keys(
        keys,
        &vector.msg_id,
        &vector.timestamp.to_string(),
        header,
        body.as_bytes(),
        vector.timestamp,
        TOLERANCE,
    )
}

#[test]
fn signing_reproduces_every_vector_and_its_public_key() {
    for vector in vectors() {
        let secret = Secret::parse_strict(&vector.secret).expect("vector secret parses");
        assert!(secret.is_asymmetric(), "{}", vector.source);
        assert_eq!(secret.to_string(), vector.secret, "{}", vector.source);
        let public_key = secret.public_key().expect("a key pair has a public key");
        assert_eq!(
            public_key.to_string(),
            vector.public_key,
            "{}",
            vector.source
        );
        let signature = sign(
            &secret,
            &vector.msg_id,
            vector.timestamp,
            vector.payload.as_bytes(),
        );
        assert_eq!(signature, vector.signature, "{}", vector.source);
    }
}

#[test]
fn the_public_key_alone_verifies_every_vector_and_refuses_changes() {
    let vectors = vectors();
    for (index, vector) in vectors.iter().enumerate() {
        let own = [public(&vector.public_key)];
        let other = &vectors[(index + 1) % vectors.len()];
        let wrong_key = [public(&other.public_key)];
        let (_, encoded) = vector.signature.split_once(',').unwrap();
        let mut flipped = STANDARD.decode(encoded).unwrap();
        flipped[10] ^= 1;
        let flipped = format!("v1a,{}", STANDARD.encode(flipped));
        let short = format!("v1a,{}", STANDARD.encode([1u8; 63]));
        // The same signature under the HMAC version is not an ed25519 signature.
        let as_v1 = vector.signature.replacen("v1a,", "v1,", 1);
        let tampered = vector.payload.replacen('}', " }", 1);
        // (case, keys, header, body, expected)
        #[rustfmt::skip]
        let cases: [PublicCase<'_>; 8] = [
            ("as signed", &own, &vector.signature, &vector.payload, Ok(())),
            ("another key", &wrong_key, &vector.signature, &vector.payload, Err(NoMatchingSignature)),
            ("a tampered body", &own, &vector.signature, &tampered, Err(NoMatchingSignature)),
            ("a flipped bit", &own, &flipped, &vector.payload, Err(NoMatchingSignature)),
            ("63 bytes", &own, &short, &vector.payload, Err(NoMatchingSignature)),
            ("not base64", &own, "v1a,***", &vector.payload, Err(NoMatchingSignature)),
            ("labelled v1", &own, &as_v1, &vector.payload, Err(NoMatchingSignature)),
            ("after a bad entry", &own, &format!("v1a,*** {}", vector.signature), &vector.payload, Ok(())),
        ];
        for (case, keys, header, body, expected) in cases {
            assert_eq!(
                check_public(vector, keys, header, body),
                expected,
                "{}: {case}",
                vector.source
            );
        }
        // The secret verifies its own signatures too, through its public half.
        let secret = Secret::parse(&vector.secret).unwrap();
        assert_eq!(
            verify(
                &[secret],
                &vector.msg_id,
                &vector.timestamp.to_string(),
                &vector.signature,
                vector.payload.as_bytes(),
                vector.timestamp,
                TOLERANCE
            ),
            Ok(())
        );
    }
}

#[test]
fn a_rotation_header_mixes_v1_and_v1a_and_each_key_checks_its_own_kind() {
    let hmac = Secret::from_bytes(&[9; 32]).unwrap();
    let pair = Secret::generate_ed25519(&[3; 32]);
    let public_key = pair.public_key().unwrap();
    let (msg_id, timestamp, body) = ("msg_rotation", 1_700_000_000, br#"{"a":1}"#.as_slice());
    let header = signature_header(&[&pair, &hmac], msg_id, timestamp, body);
    let entries: Vec<&str> = header.split(' ').collect();
    assert_eq!(entries.len(), 2, "{header}");
    assert!(
        entries[0].starts_with("v1a,") && entries[1].starts_with("v1,"),
        "{header}"
    );
    let run = |keys: &[VerificationKey]| {
        verify_keys(
            keys,
            msg_id,
            &timestamp.to_string(),
            &header,
            body,
            timestamp,
            TOLERANCE,
        )
    };
    assert_eq!(run(&[public_key.clone().into()]), Ok(()));
    assert_eq!(run(&[hmac.clone().into()]), Ok(()));
    assert_eq!(run(&[pair.clone().into()]), Ok(()));
    let stranger = Secret::generate_ed25519(&[4; 32]).public_key().unwrap();
    assert_eq!(run(&[stranger.clone().into()]), Err(NoMatchingSignature));
    assert_eq!(run(&[stranger.into(), hmac.into()]), Ok(()));
    // Only the v1a entry: an HMAC secret finds nothing of its kind.
    let only_v1a = sign(&pair, msg_id, timestamp, body);
    let other_hmac = Secret::from_bytes(&[9; 32]).unwrap();
    assert_eq!(
        verify(
            &[other_hmac],
            msg_id,
            &timestamp.to_string(),
            &only_v1a,
            body,
            timestamp,
            TOLERANCE
        ),
        Err(NoMatchingSignature)
    );
}

#[test]
fn keys_that_cannot_be_ed25519_are_refused_with_their_reason() {
    let vector = &vectors()[0];
    let pair_bytes = STANDARD
        .decode(vector.secret.strip_prefix("whsk_").unwrap())
        .unwrap();
    let mut mismatched = pair_bytes.clone();
    mismatched[40] ^= 1;
    let mismatched = format!("whsk_{}", STANDARD.encode(mismatched));
    let seed_only = format!("whsk_{}", STANDARD.encode(&pair_bytes[..32]));
    let unpadded = vector.secret.trim_end_matches('=').to_owned();
    let length = |len| {
        SecretError::InvalidKeyPair(Ed25519Error::InvalidLength {
            kind: "whsk_ key pair",
            len,
            expected: 64,
        })
    };
    // (text, what `parse_strict` says, whether the lenient `parse` accepts it)
    #[rustfmt::skip]
    let cases: [(&str, Result<(), SecretError>, bool); 6] = [
        (&vector.secret, Ok(()), true),
        (&unpadded, Err(SecretError::InvalidKeyPair(Ed25519Error::InvalidBase64(base64::DecodeError::InvalidPadding))), true),
        (&mismatched, Err(SecretError::InvalidKeyPair(Ed25519Error::MismatchedKeyPair)), false),
        (&seed_only, Err(length(32)), false),
        (&vector.public_key, Err(SecretError::PublicKeyGiven), false),
        ("whsk_not base64!", Err(SecretError::InvalidKeyPair(Ed25519Error::InvalidBase64(base64::DecodeError::InvalidByte(3, b' ')))), false),
    ];
    for (text, strict, lenient) in cases {
        assert_eq!(
            Secret::parse_strict(text).map(drop),
            strict,
            "parse_strict {text}"
        );
        assert_eq!(Secret::parse(text).is_ok(), lenient, "parse {text}");
    }
    // A truncated key pair, which Svix's tests refuse too.
    assert!(Secret::parse("whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kv").is_err());

    let public_length = |len| Ed25519Error::InvalidLength {
        kind: "whpk_ public key",
        len,
        expected: 32,
    };
    #[rustfmt::skip]
    let public_cases: [(String, Result<(), Ed25519Error>); 5] = [
        (vector.public_key.clone(), Ok(())),
        (vector.public_key.trim_end_matches('=').to_owned(), Ok(())),
        (vector.public_key.replacen("whpk_", "", 1), Err(Ed25519Error::MissingPrefix)),
        (format!("whpk_{}", STANDARD.encode([1u8; 31])), Err(public_length(31))),
        ("whpk_%%%%".to_owned(), Err(Ed25519Error::InvalidBase64(base64::DecodeError::InvalidByte(0, b'%')))),
    ];
    for (text, expected) in public_cases {
        assert_eq!(PublicKey::parse(&text).map(drop), expected, "{text}");
    }
    assert!(matches!(
        VerificationKey::parse(&vector.public_key),
        Ok(VerificationKey::Public(_))
    ));
    assert!(matches!(
        VerificationKey::parse(&vector.secret),
        Ok(VerificationKey::Secret(_))
    ));
}

#[test]
fn a_key_pairs_debug_shows_no_secret_half() {
    let vector = &vectors()[0];
    let debug = format!("{:?}", Secret::parse(&vector.secret).unwrap());
    assert!(!debug.contains(&vector.secret[5..20]), "{debug}");
    assert_eq!(
        format!("{:?}", PublicKey::parse(&vector.public_key).unwrap()),
        format!("PublicKey({})", vector.public_key)
    );
}

#[test]
fn an_inbound_source_with_a_public_key_verifies_v1a() {
    let vector = &vectors()[0];
    let verifier = Verifier::standard_webhooks([public(&vector.public_key)]).unwrap();
    let timestamp = vector.timestamp.to_string();
    let request = |signature: &str| {
        Inbound::new(
            verifier.clone(),
            &[
                ("webhook-id", vector.msg_id.as_str()),
                ("webhook-timestamp", timestamp.as_str()),
                ("webhook-signature", signature),
            ],
            vector.payload.as_bytes(),
            vector.timestamp,
        )
    };
    assert_eq!(request(&vector.signature).verify(), Ok(()));
    let last_bit_flipped = vector.signature.replacen("TBAg==", "TBAw==", 1);
    assert_ne!(last_bit_flipped, vector.signature);
    assert_eq!(
        request(&last_bit_flipped).verify(),
        Err(NoMatchingSignature)
    );
}
