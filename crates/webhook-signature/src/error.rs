//! The one error type that every verifier in this crate returns. It owns the stable list of
//! reasons a signature can be rejected, so a caller (the inbound gateway, a log line, a metric)
//! can branch on a reason without parsing messages. It must not carry secrets or signatures.

/// Why a webhook signature was rejected.
///
/// Every verifier returns this type; each documents which variants it can produce. The
/// variants are stable, and [`VerifyError::code`] gives each one a stable snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
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
        }
    }
}
