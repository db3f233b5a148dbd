//! Secrets at rest: how a secret column's value is sealed before it is written and opened after
//! it is read, the same for both backends. Only the store calls this; the traits above it take
//! and return plain domain types, so nothing outside `store` sees a sealed value.
//!
//! A sealed value is `enc:v1:<key id>:<base64url(nonce | ciphertext)>`: XChaCha20-Poly1305
//! with a random 24-byte nonce per value, and the table, column and record id as associated
//! data, so a value copied into another row (or another column) no longer opens. The key id is
//! derived from the key (the first 4 bytes of a SHA-256, in hex), so an operator lists keys,
//! not names. A value without the `enc:` prefix was written before a key was set and reads as
//! it is: every secret column holds JSON (`{...}`) or a `whsec_` key otherwise, never `enc:`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

mod keyring;

pub use keyring::{KeyError, KeyId, Keyring};

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;
/// `enc:v1:` and an 8-hex-digit key id: the part of a sealed value that says which key sealed
/// it (the backends count values by it in SQL).
pub const SEALED_HEAD_LEN: usize = PREFIX.len() + 8;

/// Where a value lives: its associated data, so it opens only in the row and column it was
/// sealed for.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub record_id: &'a str,
}

impl<'a> Place<'a> {
    /// `endpoint.headers`: the custom headers sent with every delivery (often tokens).
    pub fn endpoint_headers(endpoint_id: &'a str) -> Self {
        Place {
            table: "endpoint",
            column: "headers",
            record_id: endpoint_id,
        }
    }

    /// `endpoint.auth`: the outbound credentials of an endpoint.
    pub fn endpoint_auth(endpoint_id: &'a str) -> Self {
        Place {
            table: "endpoint",
            column: "auth",
            record_id: endpoint_id,
        }
    }

    /// `endpoint_secret.key`: a signing secret, bound to its endpoint (the rows of one
    /// endpoint's secrets have no id of their own).
    pub fn endpoint_secret(endpoint_id: &'a str) -> Self {
        Place {
            table: "endpoint_secret",
            column: "key",
            record_id: endpoint_id,
        }
    }

    /// `idempotency.body` of an answer that holds a credential, bound to its (scoped) key.
    pub fn idempotent_answer(key: &'a str) -> Self {
        Place {
            table: "idempotency",
            column: "body",
            record_id: key,
        }
    }

    /// `ingest_source.config`: an inbound source's verification secrets and credentials.
    pub fn source_config(source_id: &'a str) -> Self {
        Place {
            table: "ingest_source",
            column: "config",
            record_id: source_id,
        }
    }
}

impl Place<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!("hookd:v1:{}.{}:{}", self.table, self.column, self.record_id).into_bytes()
    }
}

/// A stored secret that cannot be opened. Never a panic, and never a value to sign with.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SealError {
    #[error(
        "{table}.{column} of {record_id} is sealed with key {key_id}, which this hookd does not hold: set HOOKD_ENCRYPTION_KEY (or HOOKD_ENCRYPTION_OLD_KEYS) to that key"
    )]
    MissingKey {
        table: &'static str,
        column: &'static str,
        record_id: String,
        key_id: KeyId,
    },
    #[error(
        "{table}.{column} of {record_id} does not open with key {key_id}: it was altered, or copied from another row"
    )]
    DoesNotOpen {
        table: &'static str,
        column: &'static str,
        record_id: String,
        key_id: KeyId,
    },
    #[error("{table}.{column} of {record_id} starts like a sealed value but is not one")]
    Malformed {
        table: &'static str,
        column: &'static str,
        record_id: String,
    },
}

impl From<SealError> for crate::store::StoreError {
    fn from(error: SealError) -> Self {
        crate::store::StoreError::Backend(Box::new(error))
    }
}

/// How the store writes and reads secret columns: sealed under a keyring, or plain when no key
/// is set (as before encryption existed). Shared by both backends.
#[derive(Debug, Clone, Default)]
pub struct Sealing {
    keyring: Option<Keyring>,
}

impl Sealing {
    pub fn new(keyring: Option<Keyring>) -> Sealing {
        Sealing { keyring }
    }

    /// No key: values are stored plain.
    pub fn plain() -> Sealing {
        Sealing::default()
    }

    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    /// The value to store for `plain` at `place`: sealed under the newest key, or `plain`
    /// itself when no key is set.
    pub fn seal(&self, place: Place<'_>, plain: &str) -> String {
        let Some(keyring) = &self.keyring else {
            return plain.to_owned();
        };
        let (key_id, cipher) = &keyring.newest;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let associated_data = place.associated_data();
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: &associated_data,
                },
            )
            .expect("XChaCha20-Poly1305 seals any value that fits in memory");
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        format!("{PREFIX}{key_id}:{}", URL_SAFE_NO_PAD.encode(body))
    }

    /// The plain text of a stored value: opened when sealed, as it is when it was stored plain.
    pub fn open(&self, place: Place<'_>, stored: &str) -> Result<String, SealError> {
        let Some((key_id, body)) = split_sealed(stored) else {
            return Ok(stored.to_owned());
        };
        let malformed = || SealError::Malformed {
            table: place.table,
            column: place.column,
            record_id: place.record_id.to_owned(),
        };
        let key_id = key_id.ok_or_else(malformed)?;
        let cipher = self
            .keyring
            .as_ref()
            .and_then(|keyring| keyring.cipher_for(&key_id))
            .ok_or_else(|| SealError::MissingKey {
                table: place.table,
                column: place.column,
                record_id: place.record_id.to_owned(),
                key_id: key_id.clone(),
            })?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| malformed())?;
        if body.len() < NONCE_LEN {
            return Err(malformed());
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let does_not_open = || SealError::DoesNotOpen {
            table: place.table,
            column: place.column,
            record_id: place.record_id.to_owned(),
            key_id: key_id.clone(),
        };
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &place.associated_data(),
                },
            )
            .map_err(|_| does_not_open())?;
        String::from_utf8(plain).map_err(|_| does_not_open())
    }

    /// Whether a stored value should be sealed again: it is plain, or sealed with a key older
    /// than the newest. Always false without a key.
    pub fn needs_reseal(&self, stored: &str) -> bool {
        let Some(keyring) = &self.keyring else {
            return false;
        };
        match split_sealed(stored) {
            None => true,
            Some((key_id, _)) => key_id.as_ref() != Some(keyring.newest_id()),
        }
    }

    /// Opens `stored` and seals it under the newest key: what `hookd rotate-key` writes back.
    pub fn reseal(&self, place: Place<'_>, stored: &str) -> Result<String, SealError> {
        let plain = self.open(place, stored)?;
        Ok(self.seal(place, &plain))
    }
}

/// A stored signing key for a claim: opened, or `None` (logged, without the value) when it
/// cannot be, so the endpoint's attempts fail as unsigned instead of signing with garbage.
pub fn open_signing_key(
    sealing: &Sealing,
    endpoint_id: &crate::domain::EndpointId,
    stored: &str,
) -> Option<String> {
    match sealing.open(Place::endpoint_secret(endpoint_id.as_str()), stored) {
        Ok(key) => Some(key),
        Err(error) => {
            tracing::error!(endpoint_id = %endpoint_id, error = %error, "a signing secret cannot be opened");
            None
        }
    }
}

/// Which key sealed a stored value, from the head that `SEALED_HEAD_LEN` measures: `None` for
/// a plain value, `Some(None)` for a head that is not a key id.
pub fn sealed_with(stored_head: &str) -> Option<Option<KeyId>> {
    split_sealed(stored_head).map(|(key_id, _)| key_id)
}

/// A sealed value's key id and body; `None` when the value is plain.
fn split_sealed(stored: &str) -> Option<(Option<KeyId>, &str)> {
    let rest = stored.strip_prefix("enc:")?;
    let Some(rest) = rest.strip_prefix("v1:") else {
        return Some((None, rest));
    };
    let (key_id, body) = rest.split_once(':').unwrap_or((rest, ""));
    let well_formed = key_id.len() == 8 && key_id.bytes().all(|b| b.is_ascii_hexdigit());
    Some((well_formed.then(|| KeyId(key_id.to_owned())), body))
}

/// The `headers` and `auth` columns of an endpoint as stored: JSON, sealed when a key is set.
pub fn endpoint_columns(
    sealing: &Sealing,
    endpoint_id: &str,
    fields: &crate::domain::EndpointFields,
) -> Result<(String, Option<String>), serde_json::Error> {
    let headers = serde_json::to_string(&fields.headers)?;
    let auth = fields
        .delivery
        .auth
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    Ok((
        sealing.seal(Place::endpoint_headers(endpoint_id), &headers),
        auth.map(|auth| sealing.seal(Place::endpoint_auth(endpoint_id), &auth)),
    ))
}

#[cfg(test)]
mod tests;
