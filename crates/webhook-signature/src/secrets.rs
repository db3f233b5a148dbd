//! The typed pieces of a verifier's configuration that several schemes share: the list of
//! secrets that rotation needs, and a checked HTTP header name. Each is parsed once, when a
//! verifier is built, so verification never meets an empty secret or an impossible header name.

use std::fmt;

use crate::ConfigError;

/// One or more non-empty secrets, as the provider shows them (their text's bytes).
///
/// A request is accepted if it was signed with any of them, which is how a secret is rotated:
/// add the new one, let the provider switch, then remove the old one. [`Debug`](fmt::Debug) never
/// shows the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecrets {
    secrets: Vec<Vec<u8>>,
}

impl SharedSecrets {
    /// Takes the secrets in the order they should be tried (usually newest first).
    ///
    /// # Errors
    /// [`ConfigError::NoSecrets`] for an empty list, [`ConfigError::EmptySecret`] if one is empty.
    pub fn new<I, S>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let secrets: Vec<Vec<u8>> = secrets
            .into_iter()
            .map(|secret| secret.as_ref().to_vec())
            .collect();
        if secrets.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        if secrets.iter().any(Vec::is_empty) {
            return Err(ConfigError::EmptySecret);
        }
        Ok(Self { secrets })
    }

    /// The secrets, in the order given.
    pub fn as_slice(&self) -> &[Vec<u8>] {
        &self.secrets
    }
}

impl fmt::Debug for SharedSecrets {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "SharedSecrets(<{} redacted>)",
            self.secrets.len()
        )
    }
}

/// An HTTP header name: one or more of the characters RFC 9110 allows in a token. Lookups
/// ignore ASCII case, as HTTP does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderName {
    name: String,
}

impl HeaderName {
    /// Checks `name` against RFC 9110's `token` rule.
    ///
    /// # Errors
    /// [`ConfigError::InvalidHeaderName`] if it is empty or has any other character.
    pub fn parse(name: &str) -> Result<Self, ConfigError> {
        let is_token_char =
            |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(ConfigError::InvalidHeaderName {
                name: name.to_owned(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
        })
    }

    /// The name as configured.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

/// Checks a tolerance in seconds, which must not be negative.
pub(crate) fn check_tolerance(tolerance_secs: i64) -> Result<i64, ConfigError> {
    if tolerance_secs < 0 {
        Err(ConfigError::NegativeTolerance)
    } else {
        Ok(tolerance_secs)
    }
}
