//! Pure trading logic: no I/O, no clock reads (time is passed in), nothing from actix, diesel,
//! redis, awc or tungstenite. Everything here is exhaustively unit- and property-tested.

pub mod account;
#[cfg(test)]
mod account_tests;
pub mod admission;
pub mod budget;
pub mod cost;
pub mod crossing;
pub mod cycle;
#[cfg(test)]
mod cycle_tests;
pub mod digest;
pub mod fill_pieces;
pub mod funds;
pub mod guards;
pub mod money;
pub mod pause;
pub mod plan;
pub mod points;
pub mod pricing;
pub mod profile;
pub mod reconcile;
pub mod safety_net;
pub mod session;
pub mod settings;
pub mod shares;
pub mod shown;
#[cfg(test)]
mod test_fixtures;
pub mod token_choice;
pub mod volatility;
