//! The Binance Alpha client: wire types shared with the simulator, typed errors, and the
//! mapping of short symbols to the exchange's ids. Only this module speaks to the exchange.

pub mod curl;
pub mod error;
pub mod rest;
pub mod session;
pub mod stream;
pub mod wire;
