//! Application-scoped tokens: what one token grants and the rules that decide whether it is
//! still good. The token itself is shown once, when it is made; only its SHA-256 is kept.

use sha2::{Digest, Sha256};

use super::{AppId, Timestamp};

/// The prefix of every application-scoped token, so that a leaked one is recognisable. It is
/// never used to decide anything: a presented token is looked up by its hash alone.
pub const APP_TOKEN_PREFIX: &str = "appsk_";

/// A freshly made token and its hash. The token is handed to the caller once; the hash is
/// what the store keeps.
#[derive(Clone)]
pub struct IssuedToken {
    pub token: String,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").finish_non_exhaustive()
    }
}

impl IssuedToken {
    /// `appsk_` followed by 32 random bytes in unpadded base64url (43 characters).
    pub fn from_random(random: [u8; 32]) -> Self {
        Self::with_prefix(APP_TOKEN_PREFIX, random)
    }

    /// `prefix` followed by 32 random bytes in unpadded base64url (an integration's key).
    pub fn with_prefix(prefix: &str, random: [u8; 32]) -> Self {
        use base64::Engine;
        let suffix = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        let token = format!("{prefix}{suffix}");
        let sha256 = token_sha256(&token);
        IssuedToken { token, sha256 }
    }
}

/// The SHA-256 of a presented token: the only form in which tokens are stored and looked up.
pub fn token_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What a token grants, as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    pub id: super::TokenId,
    pub app_id: AppId,
    pub name: Option<String>,
    /// May only read: every call that changes state is refused.
    pub read_only: bool,
    /// Tags a portal session, so that `expire-all` can end just its tokens.
    pub session_id: Option<String>,
    pub created_at: Timestamp,
    /// The token stops working at this time; `None` never expires.
    pub expires_at: Option<Timestamp>,
    /// Revoked tokens are kept (listed as revoked) but never authenticate again.
    pub revoked: bool,
    /// The feature flags and capabilities it carries (Svix's portal access).
    pub grants: super::grants::Grants,
}

impl AppToken {
    /// Whether the token still authenticates at `now`: not revoked and not expired.
    pub fn is_usable_at(&self, now: Timestamp) -> bool {
        !self.revoked && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    #[test]
    fn issued_tokens_have_the_prefix_and_their_hash() {
        let issued = IssuedToken::from_random([7; 32]);
        assert!(issued.token.starts_with(APP_TOKEN_PREFIX));
        assert_eq!(issued.token.len(), APP_TOKEN_PREFIX.len() + 43);
        assert_eq!(issued.sha256, token_sha256(&issued.token));
        assert_ne!(issued.token, IssuedToken::from_random([8; 32]).token);
        assert!(!format!("{issued:?}").contains(&issued.token));
    }

    #[test]
    fn usable_until_expired_or_revoked() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let token = AppToken {
            id: super::super::TokenId::from_trusted("tok_1"),
            app_id: AppId::from_trusted("app_1"),
            name: None,
            read_only: false,
            session_id: None,
            created_at: now,
            expires_at: Some(now + Duration::seconds(60)),
            revoked: false,
            grants: Default::default(),
        };
        let check = |token: &AppToken, at, expected| assert_eq!(token.is_usable_at(at), expected);
        check(&token, now, true);
        check(&token, now + Duration::seconds(59), true);
        check(&token, now + Duration::seconds(60), false);
        check(
            &AppToken {
                expires_at: None,
                ..token.clone()
            },
            now + Duration::days(999),
            true,
        );
        check(
            &AppToken {
                revoked: true,
                ..token.clone()
            },
            now,
            false,
        );
    }
}
