//! Twilio webhooks: `X-Twilio-Signature: <base64 HMAC-SHA1(auth token, url + params)>`, where
//! `params` is every POST form parameter, sorted by name, written as name followed by value with
//! no separators. The URL must be exactly the one Twilio requested, query string included, as
//! configured publicly (behind a proxy, the URL hookd sees may differ). Like Twilio's own
//! libraries, the URL is also tried with its port removed and with the scheme's default port
//! added, since Twilio is not consistent about which it signs. Requests with a JSON body carry a
//! `bodySHA256` query parameter, the hex SHA-256 of the body, and are signed over the URL alone.
//! The scheme has no timestamp.
//!
//! Reference: <https://www.twilio.com/docs/usage/security#validating-requests>

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::VerifyError;
use crate::mac::{hmac_sha1, tags_match};

/// The header Twilio puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The query parameter that carries the hex SHA-256 of a JSON body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// The `X-Twilio-Signature` value Twilio would send for a POST to `url` with form `params`
/// (in any order) under `auth_token`.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &[u8],
    url: &str,
    params: &[(K, V)],
) -> String {
    STANDARD.encode(signature_tag(auth_token, url, params))
}

/// The value of the `bodySHA256` query parameter Twilio adds for `body`: its lowercase hex
/// SHA-256.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Verifies a Twilio request from its `X-Twilio-Signature` value, public URL and decoded POST
/// form parameters (in any order).
///
/// Same as [`verify_any`] with one auth token.
///
/// # Errors
/// As [`verify_any`].
pub fn verify<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &[u8],
    url: &str,
    params: &[(K, V)],
    signature_header: &str,
) -> Result<(), VerifyError> {
    verify_any(&[auth_token], url, params, signature_header)
}

/// Verifies a form-encoded (or body-less) Twilio request signed with any of `auth_tokens`.
///
/// # Errors
/// [`VerifyError::MissingSignature`] for an empty header, [`VerifyError::MalformedSignature`] if
/// it is not base64, [`VerifyError::NoMatchingSignature`] if the tag differs under every token
/// and every form of the URL.
pub fn verify_any<S: AsRef<[u8]>, K: AsRef<str>, V: AsRef<str>>(
    auth_tokens: &[S],
    url: &str,
    params: &[(K, V)],
    signature_header: &str,
) -> Result<(), VerifyError> {
    let provided = decode_signature(signature_header)?;
    let urls = url_variants(url);
    let any_match = auth_tokens.iter().any(|token| {
        urls.iter()
            .any(|url| tags_match(&signature_tag(token.as_ref(), url, params), &provided))
    });
    if any_match {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// Verifies a Twilio request with a JSON (or any non-form) body: `url` must carry the
/// `bodySHA256` query parameter, which must be the hex SHA-256 of `body`, and the signature is
/// over the URL with no parameters.
///
/// # Errors
/// As [`verify_any`]; also [`VerifyError::MalformedSignature`] if `url` has no `bodySHA256`
/// parameter, and [`VerifyError::NoMatchingSignature`] if it does not match the body.
pub fn verify_json_any<S: AsRef<[u8]>>(
    auth_tokens: &[S],
    url: &str,
    body: &[u8],
    signature_header: &str,
) -> Result<(), VerifyError> {
    let provided = decode_signature(signature_header)?;
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let claimed_hash = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == BODY_SHA256_PARAM)
        .map(|(_, value)| value.into_owned())
        .ok_or(VerifyError::MalformedSignature)?;
    let body_matches = tags_match(body_sha256(body).as_bytes(), claimed_hash.as_bytes());
    let no_params: [(&str, &str); 0] = [];
    let urls = url_variants(url);
    let signature_matches = auth_tokens.iter().any(|token| {
        urls.iter()
            .any(|url| tags_match(&signature_tag(token.as_ref(), url, &no_params), &provided))
    });
    if body_matches && signature_matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

fn decode_signature(signature_header: &str) -> Result<Vec<u8>, VerifyError> {
    if signature_header.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    STANDARD
        .decode(signature_header)
        .map_err(|_| VerifyError::MalformedSignature)
}

/// `url` as given, without its port, and with the scheme's default port, as Twilio's libraries
/// try them. A URL this cannot split into scheme and authority is tried only as given.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_more) = rest.split_at(authority_end);
    // The port follows the last `:` after the host; an IPv6 host is in brackets.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_and_port = &authority[host_start..];
    let port_colon = match host_and_port.rfind(']') {
        Some(bracket) => host_and_port[bracket..]
            .find(':')
            .map(|colon| bracket + colon),
        None => host_and_port.rfind(':'),
    };
    let other = match port_colon {
        Some(colon) => {
            let without_port = &authority[..host_start + colon];
            format!("{scheme}://{without_port}{path_and_more}")
        }
        None => {
            let default_port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            format!("{scheme}://{authority}:{default_port}{path_and_more}")
        }
    };
    variants.push(other);
    variants
}

fn signature_tag<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &[u8],
    url: &str,
    params: &[(K, V)],
) -> Vec<u8> {
    // Twilio's libraries sort by name, then by value for repeated names, and drop exact repeats.
    // Rust orders `str` by bytes, which for UTF-8 is the same as ordering by code point.
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_ref(), value.as_ref()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut message_parts: Vec<&[u8]> = vec![url.as_bytes()];
    for (name, value) in &sorted {
        message_parts.push(name.as_bytes());
        message_parts.push(value.as_bytes());
    }
    hmac_sha1(auth_token, &message_parts)
}
