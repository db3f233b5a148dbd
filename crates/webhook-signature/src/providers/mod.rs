//! Verifiers for the webhooks that third-party providers send to hookd's inbound gateway, one
//! module per provider. Each module owns its provider's header format and the exact bytes that
//! provider signs, and offers `sign` (to build test requests) beside `verify`. All of them return
//! [`crate::VerifyError`] and compare tags in constant time. They do not read requests or the
//! clock: callers pass header values, the raw body as received, and `now` where a scheme has a
//! timestamp.

pub mod github;
pub mod shopify;
pub mod slack;
pub mod stripe;
pub mod twilio;
