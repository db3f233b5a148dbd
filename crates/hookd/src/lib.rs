//! hookd: a webhook delivery server. The binary's `main` hands over to `cli`; integration tests
//! start servers through `app`.
//!
//! One message passes through the modules in this order: `api` parses it, `ops` checks the
//! caller and runs the use case, `store` commits it with its deliveries, `engine` claims, signs,
//! sends and records each attempt.

pub mod api;
pub mod app;
pub mod background;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod environment_cli;
pub mod http_server;
pub mod listen_cli;
pub mod operator_cli;
pub mod ops;
pub mod policy;
pub mod retention;
pub mod rotate_key_cli;
pub mod store;
pub mod telemetry;
pub mod web;
