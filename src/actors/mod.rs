//! The daemon's moving parts: one task per account, one private stream per account, one price
//! feed shared by every account on a token, a request governor, and the supervisor over them.
//!
//! Actors are tokio tasks with a bounded mailbox and typed messages. An account's task owns its
//! [`crate::domain::account::AccountCore`] and carries out its steps one after another, so
//! "persist the intent, then place" needs no locking; a panic ends only that task, and the
//! supervisor sees it through the task's join handle.

pub mod account;
pub mod admission;
mod context;
pub mod credentials;
pub mod crossing;
pub mod exchange_view;
pub mod governor;
pub mod leases;
pub mod membership;
pub mod notifier;
pub mod operator;
pub mod price_feed;
pub mod session_watch;
pub mod supervisor;
pub mod token_board;
pub mod tokens;
pub mod user_stream;
pub mod webhook;

pub use context::{Ctx, LiveEvent, Shared, Timing};
