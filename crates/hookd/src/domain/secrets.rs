//! An endpoint's signing secrets, as `webhook_signature::Secret` values: parsed once where they
//! enter (the API, or the store reading its rows), so nothing past that point re-parses text.

pub use webhook_signature::Secret;

use super::Timestamp;

/// What hookd shows of a secret (the API's secret reads and the dashboard): a symmetric
/// `whsec_` secret itself, since a receiver needs it to verify; for an ed25519 `whsk_` key pair
/// only its `whpk_` public key, which is all a receiver needs, so the signing half never leaves
/// hookd once stored (as Svix does).
pub fn shown_key(secret: &Secret) -> String {
    match secret.public_key() {
        Some(public_key) => public_key.to_string(),
        None => secret.to_string(),
    }
}

/// One signing secret of an endpoint. The current secret has no expiry; a rotated-out secret
/// keeps signing until `expires_at` so receivers can roll over without dropping deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSecret {
    pub key: Secret,
    pub expires_at: Option<Timestamp>,
}

/// The secrets that sign one delivery: every stored secret of the endpoint that is valid now
/// and parses. A stored secret that does not parse (a damaged or hand-edited row) is counted
/// rather than refused, so that its endpoint's attempts fail as "cannot be signed" instead of
/// the claim failing for every endpoint claimed with it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SigningSecrets {
    usable: Vec<Secret>,
    stored: usize,
}

impl SigningSecrets {
    /// Parses each stored key once, keeping those that parse.
    pub fn from_stored<'a>(stored_keys: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets = SigningSecrets::default();
        for key in stored_keys {
            secrets.stored += 1;
            if let Ok(secret) = Secret::parse(key) {
                secrets.usable.push(secret);
            }
        }
        secrets
    }

    /// `from_stored` for keys that had to be opened first: a key that could not be opened
    /// (`None`) is counted like one that does not parse, and never signs.
    pub fn from_opened<'a>(opened_keys: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut secrets = SigningSecrets::default();
        for key in opened_keys {
            secrets.stored += 1;
            if let Some(secret) = key.and_then(|key| Secret::parse(key).ok()) {
                secrets.usable.push(secret);
            }
        }
        secrets
    }

    /// Secrets that were already parsed (for callers that hold `Secret` values).
    pub fn from_secrets(secrets: Vec<Secret>) -> Self {
        SigningSecrets {
            stored: secrets.len(),
            usable: secrets,
        }
    }

    /// The secrets to sign with, the current one first.
    pub fn usable(&self) -> &[Secret] {
        &self.usable
    }

    /// How many secrets were stored, usable or not.
    pub fn stored(&self) -> usize {
        self.stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_secrets_that_do_not_parse_are_counted_not_used() {
        let valid = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let broken = "whsec_not base64!";
        // (stored keys, usable, stored)
        let cases: [(&[&str], usize, usize); 5] = [
            (&[], 0, 0),
            (&[valid], 1, 1),
            (&[valid, valid], 2, 2),
            (&[broken, valid], 1, 2),
            (&[broken], 0, 1),
        ];
        for (keys, usable, stored) in cases {
            let secrets = SigningSecrets::from_stored(keys.iter().copied());
            assert_eq!(secrets.usable().len(), usable, "{keys:?}");
            assert_eq!(secrets.stored(), stored, "{keys:?}");
        }
        let secrets = SigningSecrets::from_stored([broken, valid]);
        assert_eq!(secrets.usable()[0], Secret::parse(valid).unwrap());
    }

    #[test]
    fn a_key_pair_shows_only_its_public_key() {
        let symmetric = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            shown_key(&symmetric),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        );
        let pair = Secret::parse("whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==").unwrap();
        assert_eq!(
            shown_key(&pair),
            "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
        );
    }

    #[test]
    fn debug_output_never_shows_a_key() {
        let valid = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let secret = EndpointSecret {
            key: Secret::parse(valid).unwrap(),
            expires_at: None,
        };
        let signing = SigningSecrets::from_stored([valid]);
        for debug in [format!("{secret:?}"), format!("{signing:?}")] {
            assert!(
                !debug.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                "{debug}"
            );
        }
    }
}
