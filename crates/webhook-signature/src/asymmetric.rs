//! Asymmetric Standard Webhooks keys: the ed25519 key pair a sender signs `v1a` entries with
//! (`whsk_`, base64 of the 32-byte seed followed by the 32-byte public key, as libsodium and
//! Svix write it) and the public key a receiver verifies them with (`whpk_`, base64 of the
//! 32-byte key). Parsing refuses a pair whose public half does not belong to its seed, and a
//! public key that is not a point of the curve. Verification is `verify_strict`, which refuses
//! the malleable and small-order signatures that plain ed25519 verification lets through.
//! Pure: the seed of a new pair is an argument.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use ed25519_dalek::{SECRET_KEY_LENGTH, Signature, Signer, SigningKey, VerifyingKey};

/// What a secret key's text starts with.
pub(crate) const SECRET_KEY_PREFIX: &str = "whsk_";
/// What a public key's text starts with.
pub(crate) const PUBLIC_KEY_PREFIX: &str = "whpk_";
/// The version of an asymmetric signature entry.
pub(crate) const SIGNATURE_VERSION: &str = "v1a";

const KEY_PAIR_LENGTH: usize = 64;
const PUBLIC_KEY_LENGTH: usize = 32;

/// Why text could not become an ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ed25519Error {
    /// A public key without the `whpk_` prefix.
    #[error("the public key does not start with {PUBLIC_KEY_PREFIX}")]
    MissingPrefix,
    /// The text after the prefix is not base64.
    #[error("the key is not valid base64")]
    InvalidBase64(#[source] base64::DecodeError),
    /// The decoded key has the wrong length.
    #[error("the key is {len} bytes long; a {kind} is {expected} bytes")]
    InvalidLength {
        /// What was being parsed: "whsk_ key pair" or "whpk_ public key".
        kind: &'static str,
        /// The length of the rejected key, in bytes.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
    /// A `whsk_` pair whose second half is not the public key of its first.
    #[error("the whsk_ key's public half does not belong to its secret half")]
    MismatchedKeyPair,
    /// 32 bytes that are not an ed25519 public key.
    #[error("the whpk_ key is not a valid ed25519 public key")]
    InvalidPublicKey,
}

/// An ed25519 signing key with its public key. Equality takes the same time wherever the
/// keys differ; there is no `Debug`, so it cannot be logged by accident.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KeyPair {
    signing_key: SigningKey,
}

impl KeyPair {
    /// Reads the base64 after `whsk_`; `strict` takes only the padded canonical form that
    /// [`fmt::Display`] writes.
    pub(crate) fn decode(encoded: &str, strict: bool) -> Result<Self, Ed25519Error> {
        let engine = if strict {
            &STANDARD
        } else {
            &STANDARD_PAD_INDIFFERENT
        };
        let bytes = engine
            .decode(encoded)
            .map_err(Ed25519Error::InvalidBase64)?;
        let bytes: [u8; KEY_PAIR_LENGTH] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| Ed25519Error::InvalidLength {
                    kind: "whsk_ key pair",
                    len: bytes.len(),
                    expected: KEY_PAIR_LENGTH,
                })?;
        let signing_key =
            SigningKey::from_keypair_bytes(&bytes).map_err(|_| Ed25519Error::MismatchedKeyPair)?;
        Ok(Self { signing_key })
    }

    pub(crate) fn from_seed(seed: &[u8; SECRET_KEY_LENGTH]) -> Self {
        Self {
            signing_key: SigningKey::from_bytes(seed),
        }
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        PublicKey {
            verifying_key: self.signing_key.verifying_key(),
        }
    }

    pub(crate) fn sign(&self, content: &[u8]) -> [u8; 64] {
        self.signing_key.sign(content).to_bytes()
    }
}

impl fmt::Display for KeyPair {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{SECRET_KEY_PREFIX}{}",
            STANDARD.encode(self.signing_key.to_keypair_bytes())
        )
    }
}

/// An ed25519 public key, `whpk_` followed by the standard base64 of its 32 bytes: what a
/// receiver verifies `v1a` signatures with. It is not a secret, so it may be shown and logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    verifying_key: VerifyingKey,
}

impl PublicKey {
    /// Parses `whpk_<base64>` (padding optional).
    ///
    /// # Errors
    /// [`Ed25519Error::MissingPrefix`], [`Ed25519Error::InvalidBase64`],
    /// [`Ed25519Error::InvalidLength`] or [`Ed25519Error::InvalidPublicKey`].
    pub fn parse(text: &str) -> Result<Self, Ed25519Error> {
        let encoded = text
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .ok_or(Ed25519Error::MissingPrefix)?;
        let bytes = STANDARD_PAD_INDIFFERENT
            .decode(encoded)
            .map_err(Ed25519Error::InvalidBase64)?;
        let bytes: [u8; PUBLIC_KEY_LENGTH] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| Ed25519Error::InvalidLength {
                    kind: "whpk_ public key",
                    len: bytes.len(),
                    expected: PUBLIC_KEY_LENGTH,
                })?;
        let verifying_key =
            VerifyingKey::from_bytes(&bytes).map_err(|_| Ed25519Error::InvalidPublicKey)?;
        Ok(Self { verifying_key })
    }

    /// Whether any of `signatures` (decoded `v1a` entries) is this key's signature of
    /// `content`. An entry that is not 64 bytes is no signature.
    pub(crate) fn verifies_any(&self, content: &[u8], signatures: &[Vec<u8>]) -> bool {
        signatures.iter().any(|signature| {
            Signature::from_slice(signature).is_ok_and(|signature| {
                self.verifying_key
                    .verify_strict(content, &signature)
                    .is_ok()
            })
        })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{PUBLIC_KEY_PREFIX}{}",
            STANDARD.encode(self.verifying_key.as_bytes())
        )
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PublicKey({self})")
    }
}
