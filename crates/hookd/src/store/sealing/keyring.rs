//! The keys that seal secrets at rest: read from `HOOKD_ENCRYPTION_KEY` and
//! `HOOKD_ENCRYPTION_OLD_KEYS` (32 bytes each, base64), each named by an id derived from it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::KeyInit;
use sha2::{Digest, Sha256};

/// The id of one key: derived from the key, shown in logs and in `hookd rotate-key`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub(super) String);

impl KeyId {
    pub(super) fn of(key: &[u8; 32]) -> KeyId {
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
    pub(super) newest: (KeyId, XChaCha20Poly1305),
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

    pub(super) fn cipher_for(&self, key_id: &KeyId) -> Option<&XChaCha20Poly1305> {
        std::iter::once(&self.newest)
            .chain(&self.older)
            .find(|(id, _)| id == key_id)
            .map(|(_, cipher)| cipher)
    }
}

pub(super) fn decode_key(
    setting: &'static str,
    position: usize,
    text: &str,
) -> Result<[u8; 32], KeyError> {
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
