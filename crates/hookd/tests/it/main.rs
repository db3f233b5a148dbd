//! hookd's integration tests: one binary, real HTTP on loopback, real SQLite in a temporary
//! directory. `harness` starts servers and scripted receivers; each other module is one area.

mod harness;

mod api_errors;
mod crash;
mod delivery;
mod endpoint_options;
mod engine;
mod full_disk;
mod idempotency;
mod input_limits;
mod listing;
mod logs;
mod operational;
mod payload_bytes;
mod postgres_app;
mod postgres_nodes;
mod postgres_schema;
mod replay;
mod ssrf;
mod store_contract;
