//! `--encryption-key` and `--encryption-old-keys`, shared by `hookd serve` and
//! `hookd rotate-key`.

use clap::Args;

use crate::store::sealing::{KeyError, Keyring};

/// The keys that seal secrets at rest, as given; `store::sealing::Keyring::parse` reads them
/// when the store opens (so a bad key is a start-up error that names its setting). Shared by
/// `hookd serve` and `hookd rotate-key`. Never shown by `Debug`.
#[derive(Clone, Default, Args)]
pub struct EncryptionKeys {
    /// Seal signing secrets, endpoint headers and credentials, and inbound source secrets in
    /// the database with this key: 32 random bytes in base64 (`openssl rand -base64 32`).
    /// Without it they are stored plain, with a warning at start-up.
    #[arg(
        long,
        env = "HOOKD_ENCRYPTION_KEY",
        hide_env_values = true,
        value_name = "BASE64"
    )]
    pub encryption_key: Option<String>,
    /// Earlier keys, comma-separated: values they sealed still open, until `hookd rotate-key`
    /// has re-sealed them under --encryption-key.
    #[arg(
        long,
        env = "HOOKD_ENCRYPTION_OLD_KEYS",
        hide_env_values = true,
        value_name = "BASE64,..."
    )]
    pub encryption_old_keys: Option<String>,
}

impl EncryptionKeys {
    /// The keyring these settings describe; `None` when no key is set.
    pub fn keyring(&self) -> Result<Option<Keyring>, KeyError> {
        Keyring::parse(
            self.encryption_key.as_deref(),
            self.encryption_old_keys.as_deref(),
        )
    }
}

impl std::fmt::Debug for EncryptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKeys")
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "<set>"),
            )
            .field(
                "encryption_old_keys",
                &self.encryption_old_keys.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}
