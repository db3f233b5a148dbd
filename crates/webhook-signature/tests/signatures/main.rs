//! Table-driven tests of every signing scheme in `webhook-signature`. The positive cases come from
//! the published vectors in `tests/vectors/signatures.json`; each negative case changes one input
//! of a valid request and names the exact `VerifyError` expected, so drift in behaviour fails.

mod inbound;
mod table;
mod vectors;

mod asymmetric;
mod generic;
mod github;
mod provider_libraries;
mod shopify;
mod slack;
mod standard;
mod stripe;
mod twilio;
mod verifier;
