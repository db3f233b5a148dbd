//! Standard Webhooks: secrets, signing, the rotation header and verification.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use webhook_signature::VerifyError::{
    InvalidTimestamp, MalformedSignature, MissingMessageId, MissingSignature, MissingTimestamp,
    NoMatchingSignature, TimestampTooNew, TimestampTooOld,
};
use webhook_signature::standard::{MAX_SECRET_LEN, MIN_SECRET_LEN};
use webhook_signature::{
    DEFAULT_TOLERANCE_SECS as TOLERANCE, Secret, SecretError, VerifyError, sign, signature_header,
    verify,
};

use crate::table::{Case, check};
use crate::vectors;

fn secret(text: &str) -> Secret {
    Secret::parse(text).expect("vector secret parses")
}

/// A valid secret that differs from every vector's.
fn other_secret() -> Secret {
    Secret::from_bytes(&[7; 32]).expect("32 bytes is a valid length")
}

#[test]
fn sign_reproduces_every_vector() {
    for vector in vectors::load().standard_webhooks {
        let body = vector.payload.as_bytes();
        let signature = sign(
            &secret(&vector.secret),
            &vector.msg_id,
            vector.timestamp,
            body,
        );
        assert_eq!(signature, vector.signature, "msg_id {}", vector.msg_id);
    }
}

#[test]
fn verify_accepts_every_vector_anywhere_within_tolerance() {
    for vector in vectors::load().standard_webhooks {
        let valid = Message::from_vector(vector);
        #[rustfmt::skip]
        let cases: &[Case<Message>] = &[
            ("at the signed time", |_| {}, Ok(())),
            ("tolerance seconds later", |message| message.now += TOLERANCE, Ok(())),
            ("tolerance seconds earlier", |message| message.now -= TOLERANCE, Ok(())),
        ];
        check(&valid, Message::verify, cases);
    }
}

/// The inputs of one Standard Webhooks verification.
#[derive(Clone)]
struct Message {
    secrets: Vec<Secret>,
    msg_id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
    now: i64,
}

impl Message {
    fn from_vector(vector: vectors::StandardVector) -> Self {
        Self {
            secrets: vec![secret(&vector.secret)],
            msg_id: vector.msg_id,
            timestamp: vector.timestamp.to_string(),
            signature: vector.signature,
            body: vector.payload.into_bytes(),
            now: vector.timestamp,
        }
    }

    fn verify(&self) -> Result<(), VerifyError> {
        let Self {
            secrets,
            msg_id,
            timestamp,
            signature,
            body,
            now,
        } = self;
        verify(secrets, msg_id, timestamp, signature, body, *now, TOLERANCE)
    }

    /// The `v1,` entry that [`other_secret`] gives this message.
    fn wrong_signature(&self) -> String {
        let timestamp = self.timestamp.parse().expect("numeric timestamp");
        sign(&other_secret(), &self.msg_id, timestamp, &self.body)
    }
}

#[test]
fn verify_rejects_each_kind_of_bad_input() {
    let valid = Message::from_vector(vectors::load().standard_webhooks.remove(0));
    #[rustfmt::skip]
    let cases: &[Case<Message>] = &[
        ("tampered body", |message| message.body.push(b' '), Err(NoMatchingSignature)),
        ("wrong secret", |message| message.secrets = vec![other_secret()], Err(NoMatchingSignature)),
        ("no secrets", |message| message.secrets.clear(), Err(NoMatchingSignature)),
        ("other msg_id", |message| message.msg_id.push('x'), Err(NoMatchingSignature)),
        ("timestamp one second off", |message| message.timestamp = (message.now + 1).to_string(), Err(NoMatchingSignature)),
        ("only a wrong signature", |message| message.signature = message.wrong_signature(), Err(NoMatchingSignature)),
        ("right tag under v1a", |message| message.signature.insert(2, 'a'), Err(NoMatchingSignature)),
        ("v1 entry that is not base64", |message| message.signature = "v1,not*base64".into(), Err(NoMatchingSignature)),
        ("one second too old", |message| message.now += TOLERANCE + 1, Err(TimestampTooOld)),
        ("one second too new", |message| message.now -= TOLERANCE + 1, Err(TimestampTooNew)),
        ("extreme age does not overflow", |message| message.now = i64::MAX, Err(TimestampTooOld)),
        ("extreme future does not overflow", |message| message.now = i64::MIN, Err(TimestampTooNew)),
        ("empty msg_id", |message| message.msg_id.clear(), Err(MissingMessageId)),
        ("empty signature header", |message| message.signature.clear(), Err(MissingSignature)),
        ("blank signature header", |message| message.signature = "  ".into(), Err(MissingSignature)),
        ("entry without a comma", |message| message.signature = "garbage".into(), Err(MalformedSignature)),
        ("empty timestamp", |message| message.timestamp.clear(), Err(MissingTimestamp)),
        ("word timestamp", |message| message.timestamp = "yesterday".into(), Err(InvalidTimestamp)),
        ("negative timestamp", |message| message.timestamp.insert(0, '-'), Err(InvalidTimestamp)),
        ("plus-signed timestamp", |message| message.timestamp.insert(0, '+'), Err(InvalidTimestamp)),
        ("overflowing timestamp", |message| message.timestamp.push_str("0000000000"), Err(InvalidTimestamp)),
    ];
    check(&valid, Message::verify, cases);
}

#[test]
fn verify_accepts_any_matching_entry_or_secret() {
    let valid = Message::from_vector(vectors::load().standard_webhooks.remove(0));
    #[rustfmt::skip]
    let cases: &[Case<Message>] = &[
        ("second of two signatures matches", |message| message.signature.insert_str(0, &format!("{} ", message.wrong_signature())), Ok(())),
        ("unknown version skipped", |message| message.signature.insert_str(0, "v1a,AAAA "), Ok(())),
        ("undecodable entry skipped", |message| message.signature.insert_str(0, "v1,not*base64 "), Ok(())),
        ("second of two secrets matches", |message| message.secrets.insert(0, other_secret()), Ok(())),
    ];
    check(&valid, Message::verify, cases);
}

#[test]
fn signature_header_carries_one_entry_per_secret_and_each_verifies() {
    let vector = vectors::load().standard_webhooks.remove(0);
    let (old_secret, new_secret) = (secret(&vector.secret), other_secret());
    let body = vector.payload.as_bytes();
    let header = signature_header(
        &[&old_secret, &new_secret],
        &vector.msg_id,
        vector.timestamp,
        body,
    );

    let expected_new = sign(&new_secret, &vector.msg_id, vector.timestamp, body);
    assert_eq!(header, format!("{} {expected_new}", vector.signature));
    for receiver_secret in [old_secret, new_secret] {
        let timestamp = vector.timestamp.to_string();
        let result = verify(
            &[receiver_secret],
            &vector.msg_id,
            &timestamp,
            &header,
            body,
            vector.timestamp,
            TOLERANCE,
        );
        assert_eq!(result, Ok(()));
    }
}

#[test]
fn secret_length_is_bounded_for_every_constructor() {
    #[rustfmt::skip]
    let cases = [(0, false), (MIN_SECRET_LEN - 1, false), (MIN_SECRET_LEN, true), (32, true), (MAX_SECRET_LEN, true), (MAX_SECRET_LEN + 1, false)];
    for (len, valid) in cases {
        let bytes = vec![0xAB; len];
        let expected = if valid {
            Ok(())
        } else {
            Err(SecretError::InvalidLength { len })
        };
        assert_eq!(
            Secret::from_bytes(&bytes).map(drop),
            expected,
            "from_bytes {len}"
        );
        assert_eq!(
            Secret::generate(&bytes).map(drop),
            expected,
            "generate {len}"
        );
        let text = format!("whsec_{}", STANDARD.encode(&bytes));
        assert_eq!(Secret::parse(&text).map(drop), expected, "parse {len}");
    }
}

#[test]
fn secret_parse_rejects_bad_text() {
    let wrong_length = [("whsec_", 0), ("", 0), ("whsec_c2hvcnQ=", 5)];
    for (text, len) in wrong_length {
        assert_eq!(
            Secret::parse(text).map(drop),
            Err(SecretError::InvalidLength { len }),
            "{text:?}"
        );
    }
    let not_base64 = [
        "whsec_not*base64*at*all*",
        "whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw",
        "whsec_c2hvcnQ===",
    ];
    for text in not_base64 {
        let result = Secret::parse(text);
        assert!(
            matches!(result, Err(SecretError::InvalidBase64(_))),
            "{text:?} gave {result:?}"
        );
    }
}

#[test]
fn secret_text_round_trips_with_or_without_prefix_and_padding() {
    for vector in vectors::load().standard_webhooks {
        let bare = vector
            .secret
            .strip_prefix("whsec_")
            .expect("vector secrets have the prefix");
        assert_eq!(secret(&vector.secret).to_string(), vector.secret);
        assert_eq!(secret(bare).to_string(), vector.secret);
        let from_str = vector
            .secret
            .parse::<Secret>()
            .map(|parsed| parsed.to_string());
        assert_eq!(from_str, Ok(vector.secret.clone()));
    }
    // 32 bytes encode with one `=`; the secret must parse without it and print with it.
    let padded = format!("whsec_{}", STANDARD.encode([1; 32]));
    assert!(padded.ends_with('='));
    assert_eq!(secret(padded.trim_end_matches('=')).to_string(), padded);
}

/// `parse_whsec` takes only what `Display` writes; `parse` also takes a bare or unpadded key.
#[test]
fn strict_parsing_takes_only_the_displayed_form() {
    let padded = format!("whsec_{}", STANDARD.encode([1; 32]));
    let unpadded = padded.trim_end_matches('=').to_owned();
    let bare = padded.strip_prefix("whsec_").unwrap().to_owned();
    let short = format!("whsec_{}", STANDARD.encode([1; 23]));
    let long = format!("whsec_{}", STANDARD.encode([1; 65]));
    // (text, what `parse_whsec` says, whether `parse` accepts it)
    let cases: [(&str, Result<(), &str>, bool); 8] = [
        (&padded, Ok(()), true),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Ok(()), true),
        (&unpadded, Err("base64"), true),
        (&bare, Err("prefix"), true),
        ("whsec_not base64!", Err("base64"), false),
        (&short, Err("length"), false),
        (&long, Err("length"), false),
        ("", Err("prefix"), false),
    ];
    for (text, strict, lenient) in cases {
        let kind = Secret::parse_whsec(text)
            .map(drop)
            .map_err(|error| match error {
                SecretError::MissingPrefix => "prefix",
                SecretError::InvalidBase64(_) => "base64",
                SecretError::InvalidLength { .. } => "length",
                other => panic!("{text:?}: {other}"),
            });
        assert_eq!(kind, strict, "parse_whsec {text:?}");
        assert_eq!(Secret::parse(text).is_ok(), lenient, "parse {text:?}");
        if strict.is_ok() {
            assert_eq!(Secret::parse_whsec(text).unwrap().to_string(), text);
        }
    }
}

#[test]
fn secrets_are_equal_when_their_keys_are() {
    let padded = format!("whsec_{}", STANDARD.encode([1; 32]));
    assert_eq!(secret(&padded), secret(padded.trim_start_matches("whsec_")));
    assert_ne!(secret(&padded), Secret::from_bytes(&[2; 32]).unwrap());
    assert_ne!(secret(&padded), Secret::from_bytes(&[1; 33]).unwrap());
}

#[test]
fn secret_debug_does_not_reveal_the_key() {
    let vector = vectors::load().standard_webhooks.remove(0);
    let debug = format!("{:?}", secret(&vector.secret));
    let bare = vector.secret.strip_prefix("whsec_").expect("prefix");
    assert!(!debug.contains(bare), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}
