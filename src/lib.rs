//! alpha-oto: trades Binance Alpha tokens with OTO orders for many accounts until each reaches
//! its daily volume target. See ARCHITECTURE.md for the map of this crate.

pub mod access;
pub mod accounts_file;
pub mod actors;
pub mod admin;
pub mod api;
pub mod bench;
pub mod cache;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod domain;
pub mod exchange;
pub mod hardening;
pub mod ledger_check;
pub mod maintenance;
pub mod market;
pub mod meters;
pub mod paper;
pub mod sim;
pub mod soak;
pub mod store;
pub mod telemetry;
pub mod text_enum;
pub mod vault;
