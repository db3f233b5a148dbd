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

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;
/// `enc:v1:` and an 8-hex-digit key id: the part of a sealed value that says which key sealed
/// it (the backends count values by it in SQL).
pub const SEALED_HEAD_LEN: usize = PREFIX.len() + 8;

/// The id of one key: derived from the key, shown in logs and in `hookd rotate-key`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    fn of(key: &[u8; 32]) -> KeyId {
        let digest = Sha256::new()
            .chain_update(b"hookd sealing key id\0")
            .chain_update(key)
            .finalize();
        KeyId(hex::encode(&digest[..4]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// A key that `HOOKD_ENCRYPTION_KEY` or `HOOKD_ENCRYPTION_OLD_KEYS` could not be read as.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeyError {
    #[error("{setting}: key {position} is not base64 (make one with `openssl rand -base64 32`)")]
    NotBase64 {
        setting: &'static str,
        position: usize,
    },
    #[error(
        "{setting}: key {position} is {length} bytes, a key is exactly 32 bytes (`openssl rand -base64 32`)"
    )]
    WrongLength {
        setting: &'static str,
        position: usize,
        length: usize,
    },
    #[error(
        "{setting}: key {position} has the same id ({key_id}) as an earlier key; list each key once"
    )]
    Repeated {
        setting: &'static str,
        position: usize,
        key_id: KeyId,
    },
    #[error(
        "HOOKD_ENCRYPTION_OLD_KEYS is set without HOOKD_ENCRYPTION_KEY, which seals new values"
    )]
    OldKeysWithoutKey,
}

/// The keys this process holds: the newest seals every value written; the older ones only open
/// values sealed before a rotation, until `hookd rotate-key` has re-sealed them.
#[derive(Clone)]
pub struct Keyring {
    newest: (KeyId, XChaCha20Poly1305),
    older: Vec<(KeyId, XChaCha20Poly1305)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("newest", &self.newest.0)
            .field(
                "older",
                &self.older.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// Reads `HOOKD_ENCRYPTION_KEY` (one base64 key of 32 bytes) and `HOOKD_ENCRYPTION_OLD_KEYS`
    /// (comma-separated, the same form); `None` when neither is set.
    pub fn parse(newest: Option<&str>, older: Option<&str>) -> Result<Option<Keyring>, KeyError> {
        let older = older.map(str::trim).filter(|list| !list.is_empty());
        let Some(newest) = newest.map(str::trim).filter(|key| !key.is_empty()) else {
            return match older {
                Some(_) => Err(KeyError::OldKeysWithoutKey),
                None => Ok(None),
            };
        };
        let newest = decode_key("HOOKD_ENCRYPTION_KEY", 1, newest)?;
        let mut keyring = Keyring {
            newest: (KeyId::of(&newest), cipher(&newest)),
            older: Vec::new(),
        };
        for (index, text) in older
            .into_iter()
            .flat_map(|list| list.split(','))
            .enumerate()
        {
            let setting = "HOOKD_ENCRYPTION_OLD_KEYS";
            let key = decode_key(setting, index + 1, text.trim())?;
            let key_id = KeyId::of(&key);
            if keyring.holds(&key_id) {
                return Err(KeyError::Repeated {
                    setting,
                    position: index + 1,
                    key_id,
                });
            }
            keyring.older.push((key_id, cipher(&key)));
        }
        Ok(Some(keyring))
    }

    /// The key that seals new values.
    pub fn newest_id(&self) -> &KeyId {
        &self.newest.0
    }

    /// Whether this keyring can open values sealed with `key_id`.
    pub fn holds(&self, key_id: &KeyId) -> bool {
        self.cipher_for(key_id).is_some()
    }

    fn cipher_for(&self, key_id: &KeyId) -> Option<&XChaCha20Poly1305> {
        std::iter::once(&self.newest)
            .chain(&self.older)
            .find(|(id, _)| id == key_id)
            .map(|(_, cipher)| cipher)
    }
}

fn decode_key(setting: &'static str, position: usize, text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(|_| KeyError::NotBase64 { setting, position })?;
    bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| KeyError::WrongLength {
            setting,
            position,
            length: bytes.len(),
        })
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

/// Where a value lives: its associated data, so it opens only in the row and column it was
/// sealed for.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub record_id: &'a str,
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

#[cfg(test)]
mod tests;
