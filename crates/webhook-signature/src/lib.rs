//! Pure signing and verification of webhooks. This crate owns the Standard Webhooks (and Svix)
//! scheme that hookd uses to sign outbound messages, and the schemes of the third-party providers
//! whose webhooks hookd's inbound gateway accepts (GitHub, Slack, Stripe, Twilio, Shopify, the
//! Standard Webhooks family, and a configurable `generic-webhook`). [`Verifier`] is the entry
//! point for a gateway: built once per source from typed configuration (a configuration that
//! cannot work is refused then), it verifies each [`InboundRequest`].
//! It must stay pure: no I/O, no async runtime, no clock and no randomness. The current time and
//! any random bytes are arguments, so every result depends only on what the caller passes in.

#![warn(missing_docs)]

mod asymmetric;
mod error;
pub mod generic;
mod mac;
mod providers;
mod request;
mod secrets;
pub mod standard;
mod timestamp;
mod verifier;

pub use asymmetric::{Ed25519Error, PublicKey};
pub use error::{ConfigError, VerifyError};
pub use providers::{github, shopify, slack, stripe, twilio};
pub use request::InboundRequest;
pub use secrets::{HeaderName, SharedSecrets};
pub use standard::{
    Secret, SecretError, VerificationKey, sign, signature_header, verify, verify_keys,
};
pub use verifier::{SourceType, Verifier};

/// How far, in seconds, a signed timestamp may lie from "now" in either direction before
/// verification rejects it. Five minutes is what Standard Webhooks, Slack and Stripe recommend.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
