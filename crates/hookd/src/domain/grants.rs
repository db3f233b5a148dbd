//! What an application-scoped token may see and do beyond its application: Svix's
//! `featureFlags` (which flagged event types it sees) and `capabilities` (which parts of the
//! application's API it may call). Pure: parsing, and the two questions the scope check and
//! the catalogue ask (`allows`, `sees_flag`). It knows nothing of routes or HTTP.

use std::collections::BTreeSet;

/// Svix's `AppPortalCapability`: one part of an application's API a token may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Every read, except an endpoint's signing secret. Always required in a capability list.
    ViewBase,
    /// Reading an endpoint's signing secret.
    ViewEndpointSecret,
    /// Rotating an endpoint's signing secret (and reading it).
    ManageEndpointSecret,
    /// Changing an endpoint's transformation.
    ManageTransformations,
    /// Sending again: resend, replays, recovery and example messages.
    CreateAttempts,
    /// Creating, changing and deleting endpoints and their headers (and their secrets).
    ManageEndpoint,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::ViewBase,
        Capability::ViewEndpointSecret,
        Capability::ManageEndpointSecret,
        Capability::ManageTransformations,
        Capability::CreateAttempts,
        Capability::ManageEndpoint,
    ];

    /// The capability Svix names `name` (`ViewBase`, ...), if any.
    pub fn parse(name: &str) -> Option<Capability> {
        Capability::ALL
            .into_iter()
            .find(|capability| capability.as_str() == name)
    }

    /// Svix's name of the capability.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::ViewBase => "ViewBase",
            Capability::ViewEndpointSecret => "ViewEndpointSecret",
            Capability::ManageEndpointSecret => "ManageEndpointSecret",
            Capability::ManageTransformations => "ManageTransformations",
            Capability::CreateAttempts => "CreateAttempts",
            Capability::ManageEndpoint => "ManageEndpoint",
        }
    }

    /// The capabilities that include this one, itself first: Svix's "rotate and view the
    /// secret" and "any field of an endpoint (including secrets)".
    fn granted_by(self) -> &'static [Capability] {
        match self {
            Capability::ViewEndpointSecret => &[
                Capability::ViewEndpointSecret,
                Capability::ManageEndpointSecret,
                Capability::ManageEndpoint,
            ],
            Capability::ManageEndpointSecret => {
                &[Capability::ManageEndpointSecret, Capability::ManageEndpoint]
            }
            Capability::ViewBase => &[Capability::ViewBase],
            Capability::ManageTransformations => &[Capability::ManageTransformations],
            Capability::CreateAttempts => &[Capability::CreateAttempts],
            Capability::ManageEndpoint => &[Capability::ManageEndpoint],
        }
    }
}

/// What a route of an application asks of a token's capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The token holds this capability (or one that includes it).
    Capability(Capability),
    /// Outside every portal capability (sending messages, erasing, moving a polling cursor):
    /// only a token issued without a capability list, whose scope is the whole application.
    WholeApplication,
}

/// The feature flags and capabilities a token carries. `Grants::default()` is a token made
/// without either: no flags (flagged event types are hidden from it, as in Svix) and the whole
/// application (no capability list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// The flags whose event types the token sees, besides every unflagged one.
    pub feature_flags: BTreeSet<String>,
    /// `None`: everything in the application; `Some`: only what these allow.
    pub capabilities: Option<BTreeSet<Capability>>,
}

impl Grants {
    /// Whether a token with these grants may call a route that needs `need`.
    pub fn allows(&self, need: Need) -> bool {
        let Some(held) = &self.capabilities else {
            return true;
        };
        match need {
            Need::WholeApplication => false,
            Need::Capability(wanted) => wanted
                .granted_by()
                .iter()
                .any(|capability| held.contains(capability)),
        }
    }

    /// Whether a token with these grants sees an event type whose flag is `flag`.
    pub fn sees_flag(&self, flag: Option<&str>) -> bool {
        flag.is_none_or(|flag| self.feature_flags.contains(flag))
    }
}

/// The most feature flags one token may carry.
pub const MAX_FEATURE_FLAGS: usize = 64;
/// The longest feature flag, as in Svix.
pub const MAX_FEATURE_FLAG_LENGTH: usize = 256;

/// Why a feature flag or capability list was refused; `index` is the offending element's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantsError {
    #[error("at most {MAX_FEATURE_FLAGS} feature flags may be given")]
    TooManyFlags,
    #[error("a feature flag must not be empty")]
    EmptyFlag { index: usize },
    #[error("a feature flag is at most {MAX_FEATURE_FLAG_LENGTH} characters")]
    FlagTooLong { index: usize },
    #[error("a feature flag may hold only letters, digits, '-', '_' and '.'")]
    FlagCharacters { index: usize },
    #[error(
        "unknown capability {name:?}; known: ViewBase, ViewEndpointSecret, ManageEndpointSecret, ManageTransformations, CreateAttempts, ManageEndpoint"
    )]
    UnknownCapability { index: usize, name: String },
    #[error("the capabilities must include ViewBase")]
    MissingViewBase,
}

impl GrantsError {
    /// The position in the list of the element refused, when one element is at fault.
    pub fn index(&self) -> Option<usize> {
        match self {
            GrantsError::EmptyFlag { index }
            | GrantsError::FlagTooLong { index }
            | GrantsError::FlagCharacters { index }
            | GrantsError::UnknownCapability { index, .. } => Some(*index),
            GrantsError::TooManyFlags | GrantsError::MissingViewBase => None,
        }
    }
}

/// Svix's `featureFlags`: each one to 256 of `[a-zA-Z0-9-_.]`, at most 64 of them.
pub fn parse_feature_flags(flags: Vec<String>) -> Result<BTreeSet<String>, GrantsError> {
    if flags.len() > MAX_FEATURE_FLAGS {
        return Err(GrantsError::TooManyFlags);
    }
    for (index, flag) in flags.iter().enumerate() {
        check_feature_flag(flag, index)?;
    }
    Ok(flags.into_iter().collect())
}

/// Svix's rule for one feature flag, the flag being element `index` of its list: one to 256
/// of `[a-zA-Z0-9-_.]`. Tokens and integrations both check flags with it.
pub fn check_feature_flag(flag: &str, index: usize) -> Result<(), GrantsError> {
    if flag.is_empty() {
        return Err(GrantsError::EmptyFlag { index });
    }
    if flag.chars().count() > MAX_FEATURE_FLAG_LENGTH {
        return Err(GrantsError::FlagTooLong { index });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !flag.chars().all(allowed) {
        return Err(GrantsError::FlagCharacters { index });
    }
    Ok(())
}

/// Svix's `capabilities`: known names, `ViewBase` among them.
pub fn parse_capabilities(names: Vec<String>) -> Result<BTreeSet<Capability>, GrantsError> {
    let mut capabilities = BTreeSet::new();
    for (index, name) in names.into_iter().enumerate() {
        match Capability::parse(&name) {
            Some(capability) => capabilities.insert(capability),
            None => return Err(GrantsError::UnknownCapability { index, name }),
        };
    }
    if !capabilities.contains(&Capability::ViewBase) {
        return Err(GrantsError::MissingViewBase);
    }
    Ok(capabilities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn with(capabilities: &[Capability]) -> Grants {
        Grants {
            feature_flags: BTreeSet::new(),
            capabilities: Some(capabilities.iter().copied().collect()),
        }
    }

    #[test]
    fn capabilities_allow_their_needs() {
        let check = |grants: &Grants, need, expected| {
            assert_eq!(grants.allows(need), expected, "{grants:?} {need:?}");
        };
        let whole = Grants::default();
        for capability in Capability::ALL {
            check(&whole, Need::Capability(capability), true);
        }
        check(&whole, Need::WholeApplication, true);
        let base = with(&[ViewBase]);
        check(&base, Need::Capability(ViewBase), true);
        check(&base, Need::Capability(ViewEndpointSecret), false);
        check(&base, Need::WholeApplication, false);
        let manage = with(&[ViewBase, ManageEndpoint]);
        check(&manage, Need::Capability(ViewEndpointSecret), true);
        check(&manage, Need::Capability(ManageEndpointSecret), true);
        check(&manage, Need::Capability(ManageTransformations), false);
        check(&manage, Need::Capability(CreateAttempts), false);
        let rotate = with(&[ViewBase, ManageEndpointSecret]);
        check(&rotate, Need::Capability(ViewEndpointSecret), true);
        check(&rotate, Need::Capability(ManageEndpoint), false);
        check(&with(&Capability::ALL), Need::WholeApplication, false);
    }

    #[test]
    fn flags_hide_flagged_event_types() {
        let grants = Grants {
            feature_flags: ["beta".to_owned()].into(),
            capabilities: None,
        };
        assert!(grants.sees_flag(None));
        assert!(grants.sees_flag(Some("beta")));
        assert!(!grants.sees_flag(Some("gamma")));
        assert!(!Grants::default().sees_flag(Some("beta")));
    }

    #[test]
    fn bad_lists_are_refused() {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_feature_flags(strings(&["a", ""])),
            Err(GrantsError::EmptyFlag { index: 1 })
        );
        assert_eq!(
            parse_feature_flags(vec!["x".repeat(257)]),
            Err(GrantsError::FlagTooLong { index: 0 })
        );
        assert_eq!(
            parse_feature_flags(strings(&["a b"])),
            Err(GrantsError::FlagCharacters { index: 0 })
        );
        assert_eq!(
            parse_feature_flags(vec!["f".to_owned(); 65]),
            Err(GrantsError::TooManyFlags)
        );
        assert_eq!(
            parse_feature_flags(strings(&["beta", "x.y-z_1"]))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            parse_capabilities(strings(&["ViewBase", "Fly"])),
            Err(GrantsError::UnknownCapability {
                index: 1,
                name: "Fly".to_owned()
            })
        );
        assert_eq!(
            parse_capabilities(strings(&["CreateAttempts"])),
            Err(GrantsError::MissingViewBase)
        );
        assert_eq!(
            parse_capabilities(strings(&["ViewBase", "CreateAttempts"])).unwrap(),
            [ViewBase, CreateAttempts].into()
        );
    }
}
