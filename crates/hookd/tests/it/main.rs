//! hookd's integration tests: one binary, real HTTP on loopback, real SQLite in a temporary
//! directory. `harness` starts servers and scripted receivers; each other module is one area.

mod harness;

mod api_errors;
mod connections;
mod crash;
mod delivery;
mod endpoint_options;
mod engine;
mod listing;
mod logs;
mod operational;
mod postgres_app;
mod postgres_nodes;
mod postgres_schema;
mod replay;
mod ssrf;
mod store_contract;
