//! Stored values back into domain types, shared by both backends: each column is parsed once,
//! where its row is read, and a value that no longer parses is a `CorruptValue` that names what
//! it was, never a panic. No SQL here; each backend's `rows.rs` reads the columns.

use crate::domain::{EndpointSecret, Secret, Timestamp};
use crate::store::StoreError;

/// A stored value that no longer parses as its domain type: the row was damaged or edited by
/// hand. It reaches callers as `StoreError::Backend`, whose source this is.
#[derive(Debug, thiserror::Error)]
#[error("a stored {what} is corrupt")]
pub struct CorruptValue {
    pub what: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl CorruptValue {
    pub fn new(what: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        CorruptValue {
            what,
            source: Box::new(source),
        }
    }
}

impl From<CorruptValue> for StoreError {
    fn from(corrupt: CorruptValue) -> Self {
        StoreError::Backend(Box::new(corrupt))
    }
}

/// An `endpoint_secret` row. Secrets enter through `Secret::parse_whsec` and are stored as
/// their `Display` text, so a key that does not parse back is corrupt.
pub fn endpoint_secret(
    key: &str,
    expires_at: Option<Timestamp>,
) -> Result<EndpointSecret, CorruptValue> {
    let key = Secret::parse(key).map_err(|error| CorruptValue::new("endpoint secret", error))?;
    Ok(EndpointSecret { key, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::ErrorChain;

    #[test]
    fn stored_secrets_parse_or_are_corrupt() {
        let padded = format!("whsec_{}", "A".repeat(43) + "=");
        // (stored key, parses)
        let cases = [
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true),
            (padded.as_str(), true),
            ("whsec_not base64!", false),
            ("whsec_c2hvcnQ=", false),
            ("", false),
        ];
        for (key, parses) in cases {
            let parsed = endpoint_secret(key, None);
            assert_eq!(parsed.is_ok(), parses, "{key:?}");
            if let Err(corrupt) = parsed {
                let error = StoreError::from(corrupt);
                let chain = ErrorChain(&error).to_string();
                assert!(
                    chain.contains("stored endpoint secret is corrupt"),
                    "{chain}"
                );
                assert!(!chain.contains(key) || key.is_empty(), "{chain}");
            }
        }
    }
}
