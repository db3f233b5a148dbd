//! hookd's integration tests: one binary, real HTTP on loopback, real SQLite in a temporary
//! directory. `harness` starts servers and scripted receivers; each other module is one area.

mod harness;

mod api_errors;
mod connections;
mod crash;
mod delivery;
mod endpoint_options;
mod engine;
mod error_logs;
mod fairness;
mod first_run;
mod full_disk;
mod idempotency;
mod inbound;
mod inbound_crash;
mod inbound_options;
mod input_limits;
mod layering;
mod list_budget;
mod listen;
mod listing;
mod logs;
mod metrics;
mod not_found_first;
mod operational;
mod ops_scope;
mod outbox_crash;
mod outcomes;
mod payload_bytes;
mod postgres_app;
mod postgres_first_run;
mod postgres_leases;
mod postgres_nodes;
mod postgres_schema;
mod races;
mod rate_limit;
mod readiness;
mod recover_after_outage;
mod replay;
mod replay_dry_run;
mod ssrf;
mod store_contract;
mod tls;
