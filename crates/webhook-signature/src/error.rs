//! The one error type that every verifier in this crate returns. It owns the stable list of
//! reasons a signature can be rejected, so a caller (the inbound gateway, a log line, a metric)
//! can branch on a reason without parsing messages, and the reasons a verifier's configuration
//! is refused when it is built. Neither may carry secrets or signatures, nor say which byte of a
//! signature differed.

/// Why a webhook signature was rejected.
///
/// Every verifier returns this type; each documents which variants it can produce. The
/// variants are stable, and [`VerifyError::code`] gives each one a stable snake_case name. New
/// reasons may be added, so a caller's `match` needs a fallback arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The message id (Standard Webhooks' `webhook-id`) is empty.
    #[error("the message id is missing")]
    MissingMessageId,
    /// The signature header is empty.
    #[error("the signature header is missing")]
    MissingSignature,
    /// The signature header does not have the provider's format.
    #[error("the signature header is malformed")]
    MalformedSignature,
    /// The timestamp is empty or absent from the signature header.
    #[error("the timestamp is missing")]
    MissingTimestamp,
    /// The timestamp is not a whole number of seconds since the Unix epoch.
    #[error("the timestamp is not a Unix timestamp in seconds")]
    InvalidTimestamp,
    /// The timestamp is further in the past than the tolerance allows.
    #[error("the timestamp is older than the tolerance allows")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    #[error("the timestamp is further in the future than the tolerance allows")]
    TimestampTooNew,
    /// The header is well formed but none of its signatures matches the payload.
    #[error("no signature matches the payload")]
    NoMatchingSignature,
    /// The credentials a static-token or HTTP basic verifier expects are absent.
    #[error("the credentials are missing")]
    MissingCredentials,
    /// The `Authorization` header is not `Basic <base64 of user:password>`.
    #[error("the credentials are malformed")]
    MalformedCredentials,
    /// The credentials are well formed but match none of the configured ones.
    #[error("the credentials are wrong")]
    WrongCredentials,
}

impl VerifyError {
    /// A stable snake_case name for the reason, fit for logs, metrics and error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingMessageId => "missing_message_id",
            Self::MissingSignature => "missing_signature",
            Self::MalformedSignature => "malformed_signature",
            Self::MissingTimestamp => "missing_timestamp",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampTooNew => "timestamp_too_new",
            Self::NoMatchingSignature => "no_matching_signature",
            Self::MissingCredentials => "missing_credentials",
            Self::MalformedCredentials => "malformed_credentials",
            Self::WrongCredentials => "wrong_credentials",
        }
    }
}

/// Why a verifier's configuration was refused when it was built: each is a configuration that
/// could never verify a request correctly, so it is refused before any request arrives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No secret, token or credential was given; nothing could ever verify.
    #[error("at least one secret is required")]
    NoSecrets,
    /// One of the secrets is empty, which would let anyone sign.
    #[error("a secret must not be empty")]
    EmptySecret,
    /// A configured header name is empty or has characters HTTP does not allow in names.
    #[error("{name:?} is not a valid HTTP header name")]
    InvalidHeaderName {
        /// The refused name.
        name: String,
    },
    /// A tolerance is negative, which would reject every request.
    #[error("the timestamp tolerance must not be negative")]
    NegativeTolerance,
    /// A configured signature prefix is empty; leave it out instead.
    #[error("a signature prefix must not be empty")]
    EmptyPrefix,
    /// Twilio's public URL is not an absolute `http://` or `https://` URL without a query.
    #[error("the public URL must be an absolute http(s) URL without a query or fragment")]
    InvalidPublicUrl,
    /// An HTTP basic username is empty or contains `:`.
    #[error("a basic-auth username must be non-empty and must not contain ':'")]
    InvalidUsername,
    /// The source type is not one this crate verifies.
    #[error("{name:?} is not a known source type")]
    UnknownSourceType {
        /// The refused type name.
        name: String,
    },
}

impl ConfigError {
    /// A stable snake_case name for the reason, fit for logs, metrics and error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSecrets => "no_secrets",
            Self::EmptySecret => "empty_secret",
            Self::InvalidHeaderName { .. } => "invalid_header_name",
            Self::NegativeTolerance => "negative_tolerance",
            Self::EmptyPrefix => "empty_prefix",
            Self::InvalidPublicUrl => "invalid_public_url",
            Self::InvalidUsername => "invalid_username",
            Self::UnknownSourceType { .. } => "unknown_source_type",
        }
    }
}
