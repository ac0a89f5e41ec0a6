//! The integration suite: one binary, real databases. The backend comes from
//! `ALPHA_OTO_TEST_BACKEND` (`sqlite`, the default, or `postgres`); the test command runs the
//! suite once on each. Every test gets its own database, so tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod bench;
mod boundaries;
mod browser;
mod cache;
mod cli;
mod config;
mod dashboard;
mod deploy;
mod ecs;
mod exchange_client;
mod exchange_stream;
mod exchange_wire;
mod fleet;
mod logs;
mod notify;
mod sim_engine;
mod sim_streams;
mod soak;
mod store_crossing;
mod store_lease;
mod store_log;
mod store_queries;
mod store_schema;
mod support;
mod trading;
mod vault;

/// A golden fixture as JSON.
fn exchange_wire_fixture(name: &str) -> serde_json::Value {
    serde_json::from_str(&exchange_wire::fixture(name)).unwrap()
}
