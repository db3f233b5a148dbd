//! Integrations (Svix's): named credentials of one application, each with a key that
//! authenticates as that application, and a set of feature flags. The key is shown once, when
//! it is rotated; only its SHA-256 is kept, as for application tokens (`domain::tokens`).

use std::collections::BTreeSet;

use super::grants::check_feature_flag;
use super::limits::{self, TextRule};
use super::{AppId, IntegrationId, InvalidInput, Timestamp};

/// The prefix of every integration key (Svix's), so that a leaked one is recognisable. As with
/// application tokens it decides nothing: a presented key is looked up by its hash alone.
pub const INTEGRATION_KEY_PREFIX: &str = "integsk_";

/// Svix's bound on an integration's feature flag set (each flag follows `grants`' rule).
pub const MAX_FEATURE_FLAGS: usize = 25;

/// An integration's name: 1 to 256 characters, on one line.
pub const INTEGRATION_NAME: TextRule = TextRule {
    what: "name",
    min_chars: 1,
    max_chars: 256,
    multi_line: false,
};

/// An integration as stored (never its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    pub id: IntegrationId,
    pub app_id: AppId,
    pub fields: IntegrationFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a create or a full update sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationFields {
    pub name: String,
    pub feature_flags: FeatureFlags,
}

impl IntegrationFields {
    /// Checks `name` against `INTEGRATION_NAME`.
    pub fn new(name: String, feature_flags: FeatureFlags) -> Result<Self, InvalidInput> {
        limits::check_text(&name, INTEGRATION_NAME)?;
        Ok(IntegrationFields {
            name,
            feature_flags,
        })
    }
}

/// A set of feature flags: at most 25, each 1 to 256 characters of `[a-zA-Z0-9_.-]` (Svix's
/// `FeatureFlag` rule). A set, as in Svix: a flag named twice is kept once; kept sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureFlags(BTreeSet<String>);

/// A refused flag set: which flag (its index in the input, when it is one flag) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFeatureFlags {
    pub index: Option<usize>,
    pub error: InvalidInput,
}

impl FeatureFlags {
    pub fn parse(flags: Vec<String>) -> Result<Self, InvalidFeatureFlags> {
        if flags.len() > MAX_FEATURE_FLAGS {
            return Err(InvalidFeatureFlags {
                index: None,
                error: InvalidInput::new(format!(
                    "at most {MAX_FEATURE_FLAGS} feature flags are allowed"
                )),
            });
        }
        for (index, flag) in flags.iter().enumerate() {
            check_feature_flag(flag, index).map_err(|error| InvalidFeatureFlags {
                index: Some(index),
                error: InvalidInput::new(error.to_string()),
            })?;
        }
        Ok(FeatureFlags(flags.into_iter().collect()))
    }

    /// Flags read back from the store, which only ever holds parsed ones.
    pub fn from_trusted(flags: Vec<String>) -> Self {
        FeatureFlags(flags.into_iter().collect())
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The flags as the set a principal's `Grants` holds.
    pub fn as_set(&self) -> &BTreeSet<String> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(flags: &[&str], expected: Result<&[&str], Option<usize>>) {
        let parsed = FeatureFlags::parse(flags.iter().map(|flag| (*flag).to_owned()).collect());
        match (parsed, expected) {
            (Ok(parsed), Ok(want)) => assert_eq!(parsed.to_vec(), want, "{flags:?}"),
            (Err(refused), Err(index)) => assert_eq!(refused.index, index, "{flags:?}"),
            (got, want) => panic!("{flags:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn feature_flags_follow_svix_rules() {
        check(&[], Ok(&[]));
        check(&["beta", "a.b-c_d"], Ok(&["a.b-c_d", "beta"]));
        check(&["beta", "beta"], Ok(&["beta"]));
        check(&["ok", ""], Err(Some(1)));
        check(&["has space"], Err(Some(0)));
        check(&["ünï"], Err(Some(0)));
        check(&[&"x".repeat(256)], Ok(&[&"x".repeat(256)]));
        check(&[&"x".repeat(257)], Err(Some(0)));
        let many: Vec<String> = (0..26).map(|n| format!("f{n}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        check(&many, Err(None));
        check(
            &many[..25],
            Ok(&{
                let mut sorted = many[..25].to_vec();
                sorted.sort();
                sorted
            }),
        );
    }

    #[test]
    fn names_are_one_line_and_bounded() {
        let name = |name: &str| IntegrationFields::new(name.to_owned(), FeatureFlags::default());
        assert!(name("Zapier").is_ok());
        assert!(name("").is_err());
        assert!(name("  ").is_err());
        assert!(name("a\nb").is_err());
        assert!(name(&"n".repeat(256)).is_ok());
        assert!(name(&"n".repeat(257)).is_err());
    }
}
