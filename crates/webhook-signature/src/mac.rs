//! The keyed-hash primitives that every scheme builds on: an HMAC over a message given in parts,
//! and a constant-time comparison of tags. It owns no scheme's framing (prefixes, separators,
//! text encodings of the tag); those belong to each scheme's module.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::VerifyError;

/// HMAC-SHA256 of the concatenation of `message_parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], message_parts: &[&[u8]]) -> Vec<u8> {
    hmac_of::<Hmac<Sha256>>(key, message_parts)
}

/// HMAC-SHA1 of the concatenation of `message_parts` under `key`. Only Twilio still needs it.
pub(crate) fn hmac_sha1(key: &[u8], message_parts: &[&[u8]]) -> Vec<u8> {
    hmac_of::<Hmac<Sha1>>(key, message_parts)
}

/// HMAC-SHA512 of the concatenation of `message_parts` under `key`.
pub(crate) fn hmac_sha512(key: &[u8], message_parts: &[&[u8]]) -> Vec<u8> {
    hmac_of::<Hmac<Sha512>>(key, message_parts)
}

/// Whether two tags are equal, compared in time that does not depend on where they differ, so
/// that an attacker cannot learn a valid tag byte by byte from response times.
pub(crate) fn tags_match(expected: &[u8], provided: &[u8]) -> bool {
    expected.ct_eq(provided).into()
}

/// Decodes a tag written in lowercase hex, as GitHub, Slack and Stripe write theirs. Their own
/// libraries compare the hex text, so an upper-case tag is refused here too, rather than
/// accepted where the provider's library would reject it.
pub(crate) fn decode_lowercase_hex(text: &str) -> Option<Vec<u8>> {
    if text.bytes().any(|byte| byte.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(text).ok()
}

/// Accepts if the tag that `expected_tag` computes under any of `secrets` equals `provided`,
/// which is how every scheme with one tag in its header supports rotation.
///
/// # Errors
/// [`VerifyError::NoMatchingSignature`] if no secret's tag matches.
pub(crate) fn any_secret_matches<S: AsRef<[u8]>>(
    secrets: &[S],
    provided: &[u8],
    expected_tag: impl Fn(&[u8]) -> Vec<u8>,
) -> Result<(), VerifyError> {
    let any_match = secrets
        .iter()
        .any(|secret| tags_match(&expected_tag(secret.as_ref()), provided));
    if any_match {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

fn hmac_of<M: Mac + KeyInit>(key: &[u8], message_parts: &[&[u8]]) -> Vec<u8> {
    // HMAC hashes keys longer than a block and pads shorter ones, so no key length is invalid.
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in message_parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}
