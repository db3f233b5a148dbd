//! The inbound gateway's nouns: a *source* (one provider's webhooks arriving at one ingest URL),
//! its type and typed configuration, and the record of each request it received.
//!
//! A source owns a hidden internal application (`source_app_id`): its ingest endpoints are that
//! application's endpoints, and an accepted request becomes one of its messages, so the engine
//! delivers, retries, logs and replays it like any other. What a request is worth (verified,
//! its delivery id, its event type) is decided by the pure rules in `request`; nothing here does
//! I/O or reads a clock.

mod config;
mod generic;
mod request;

use super::{AppId, InboundRequestId, MessageId, Metadata, SourceId, Timestamp, Uid};

pub use config::{
    ConfigError, DEFAULT_DEDUPE_WINDOW_SECS, DEFAULT_MAX_BODY_BYTES, MAX_DEDUPE_WINDOW_SECS,
    SourceConfig, never_forwarded,
};
pub use generic::{BasicCredential, EncodingName, GenericCheck, GenericHmac, HashName};
pub use request::{
    InboundHeaders, RejectReason, dedupe_key, event_type, forwarded_headers, redacted_headers,
    slack_challenge,
};

use webhook_signature::{ConfigError as Refused, SharedSecrets, VerificationKey, Verifier};

/// How a source's requests are verified; each `SourceType` maps to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `generic-webhook`: its configured HMAC, basic auth or token, or nothing.
    Generic,
    /// Standard Webhooks / Svix headers (`webhook-*` or `svix-*`).
    Standard,
    Github,
    Shopify,
    Slack,
    Stripe,
    Twilio,
}

/// Every source type hookd accepts and how it is verified: adding a provider whose scheme
/// exists is one line here.
const SOURCE_TYPES: &[(&str, Scheme)] = &[
    ("generic-webhook", Scheme::Generic),
    ("github", Scheme::Github),
    ("shopify", Scheme::Shopify),
    ("slack", Scheme::Slack),
    ("stripe", Scheme::Stripe),
    ("twilio", Scheme::Twilio),
    ("svix", Scheme::Standard),
    ("standard-webhooks", Scheme::Standard),
    ("replicate", Scheme::Standard),
    ("clerk", Scheme::Standard),
    ("resend", Scheme::Standard),
];

impl Scheme {
    /// The crate's verifier for a source with `config`, built once per request. Its secrets
    /// are tried in order (several during a rotation). `called_url` is the URL the provider
    /// called, without the query, which Twilio signs when the source names no `publicUrl`.
    ///
    /// # Errors
    /// What the crate refuses; `SourceConfig::parse` refuses the same, so a stored config builds.
    pub fn verifier(self, config: &SourceConfig, called_url: &str) -> Result<Verifier, Refused> {
        let shared = || SharedSecrets::new(&config.secrets);
        Ok(match self {
            Scheme::Generic => {
                Verifier::generic(generic::verifier(config.generic.as_ref(), &config.secrets)?)
            }
            Scheme::Standard => Verifier::standard_webhooks(
                config
                    .secrets
                    .iter()
                    .filter_map(|secret| VerificationKey::parse(secret).ok()),
            )?,
            Scheme::Github => Verifier::github(shared()?),
            Scheme::Shopify => Verifier::shopify(shared()?),
            Scheme::Slack => Verifier::slack(shared()?),
            Scheme::Stripe => Verifier::stripe(shared()?),
            Scheme::Twilio => Verifier::twilio(
                shared()?,
                config.public_url.as_deref().unwrap_or(called_url),
            )?,
        })
    }
}

/// A source's `type`, one of `SOURCE_TYPES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceType {
    name: &'static str,
    scheme: Scheme,
}

impl SourceType {
    /// The type named `name`, if hookd knows it.
    pub fn parse(name: &str) -> Option<SourceType> {
        SOURCE_TYPES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|&(name, scheme)| SourceType { name, scheme })
    }

    /// The names hookd accepts, for error messages.
    pub fn known_names() -> Vec<&'static str> {
        SOURCE_TYPES.iter().map(|(name, _)| *name).collect()
    }

    pub fn as_str(&self) -> &'static str {
        self.name
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
}

/// What a caller sets on a source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFields {
    pub uid: Option<Uid>,
    pub name: String,
    pub source_type: SourceType,
    pub config: SourceConfig,
    pub metadata: Metadata,
}

/// A source as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: SourceId,
    pub fields: SourceFields,
    /// The secret part of the ingest URL. Rotating it keeps the previous one valid for a while.
    pub token: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Source {
    /// The internal application that owns this source's ingest endpoints and messages.
    pub fn app_id(&self) -> AppId {
        source_app_id(&self.id)
    }

    /// The verifier of this source (see `Scheme::verifier`).
    ///
    /// # Errors
    /// Only for a config stored before the crate refused it.
    pub fn verifier(&self, called_url: &str) -> Result<Verifier, Refused> {
        self.fields
            .source_type
            .scheme()
            .verifier(&self.fields.config, called_url)
    }
}

/// The id of a source's internal application: `app_` followed by the source id. Generated
/// application ids are base62 after `app_`, so an underscore after the prefix marks an internal
/// application that `/app` never shows.
pub fn source_app_id(source: &SourceId) -> AppId {
    AppId::from_trusted(format!("{}{}", AppId::PREFIX, source.as_str()))
}

/// The prefix of every source's internal application id.
pub const SOURCE_APP_PREFIX: &str = "app_src_";

/// What became of a received request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Verified and forwarded as `msg_id`.
    Accepted,
    /// Verified, but its delivery id was seen within the window: answered 2xx, not forwarded
    /// again (`msg_id` is the first one's message).
    Duplicate,
    /// Not forwarded, for this reason.
    Rejected(RejectReason),
}

/// What became of forwarding an accepted request to the source's `forwardToApp` application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppForward {
    /// It is also this message of the application.
    Forwarded(MessageId),
    /// The application was deleted after the source named it: the request went to the
    /// source's ingest endpoints only.
    ApplicationMissing,
    /// The body is not a JSON object, which every message of a user application's is (Svix
    /// messages are objects): the request went to the source's ingest endpoints only.
    BodyNotJsonObject,
}

impl AppForward {
    /// Why the request did not become a message of the application, as a stable code that the
    /// request log shows and stores; `None` when it did.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AppForward::Forwarded(_) => None,
            AppForward::ApplicationMissing => Some("application_not_found"),
            AppForward::BodyNotJsonObject => Some("body_not_json_object"),
        }
    }

    /// The reason a stored code names.
    pub fn from_error_code(code: &str) -> Option<AppForward> {
        [
            AppForward::ApplicationMissing,
            AppForward::BodyNotJsonObject,
        ]
        .into_iter()
        .find(|reason| reason.error_code() == Some(code))
    }
}

/// One request received at a source's ingest URL, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRequestRecord {
    pub id: InboundRequestId,
    pub source_id: SourceId,
    pub received_at: Timestamp,
    pub verdict: Verdict,
    pub msg_id: Option<MessageId>,
    pub dedupe_key: Option<String>,
    /// Whether it also became a message of the source's `forwardToApp` application.
    pub app_forward: Option<AppForward>,
    /// The request's headers with secrets redacted (`redacted_headers`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_of_standard_webhooks_verifies_as_standard() {
        for name in ["svix", "standard-webhooks", "replicate", "clerk", "resend"] {
            assert_eq!(SourceType::parse(name).unwrap().scheme(), Scheme::Standard);
        }
        assert_eq!(SourceType::parse("cron"), None);
    }

    #[test]
    fn a_source_app_id_is_internal_and_not_a_generated_one() {
        let id = source_app_id(&SourceId::from_trusted("src_abc"));
        assert_eq!(id.as_str(), "app_src_abc");
        assert!(id.as_str().starts_with(SOURCE_APP_PREFIX));
    }
}
