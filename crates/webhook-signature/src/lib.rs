//! Pure signing and verification of webhooks. This crate owns the Standard Webhooks (and Svix)
//! scheme that hookd uses to sign outbound messages, and the schemes of the third-party providers
//! whose webhooks hookd's inbound gateway accepts (GitHub, Slack, Stripe, Twilio, Shopify).
//! It must stay pure: no I/O, no async runtime, no clock and no randomness. The current time and
//! any random bytes are arguments, so every result depends only on what the caller passes in.

#![warn(missing_docs)]

mod error;
mod mac;
mod providers;
pub mod standard;
mod timestamp;

pub use error::VerifyError;
pub use providers::{github, shopify, slack, stripe, twilio};
pub use standard::{Secret, SecretError, sign, signature_header, verify};

/// How far, in seconds, a signed timestamp may lie from "now" in either direction before
/// verification rejects it. Five minutes is what Standard Webhooks, Slack and Stripe recommend.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
