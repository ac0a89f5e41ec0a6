//! The ground floor's vocabulary: the words the core, the exchange's wire types, the store and
//! the simulator all speak (an order's side and status, a symbol's price and quantity grid).
//! It names nothing above it; everything may name it.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::text_enum;

text_enum! {
    /// An order's side, as the exchange writes it and the store keeps it.
    pub enum Side { Buy = "BUY", Sell = "SELL" }
}

impl Side {
    pub fn opposite(self) -> Self {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

text_enum! {
    /// An order's status as the exchange reports it (history, open orders, the private stream).
    pub enum OrderStatus {
        New = "NEW",
        /// An OTO pending leg before its working leg filled.
        Pending = "PENDING",
        PartiallyFilled = "PARTIALLY_FILLED",
        Filled = "FILLED",
        Canceled = "CANCELED",
        Expired = "EXPIRED",
        Rejected = "REJECTED",
    }
}

impl OrderStatus {
    /// No further change can come from the exchange.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Expired
                | OrderStatus::Rejected
        )
    }
}

/// A symbol's trading grid, from the exchange's filters (decimals as strings when serialised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    #[serde(with = "rust_decimal::serde::str")]
    pub tick_size: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub min_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub max_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub step_size: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub min_qty: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub max_qty: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub min_notional: Decimal,
}

/// Floors `v` to a whole multiple of `step` (the exchange's grids: tick, step, 8-dp amounts).
/// A non-positive step leaves `v` as it is.
pub fn floor_to(v: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return v;
    }
    ((v / step).round_dp_with_strategy(0, rust_decimal::RoundingStrategy::ToZero) * step)
        .normalize()
}

/// True when `v` is a whole multiple of `step`.
pub fn on_grid(v: Decimal, step: Decimal) -> bool {
    step > Decimal::ZERO && (v % step).is_zero()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_and_statuses_read_as_the_exchange_writes_them() {
        assert_eq!(serde_json::to_string(&Side::Buy).unwrap(), "\"BUY\"");
        assert_eq!(Side::Sell.opposite(), Side::Buy);
        let s: OrderStatus = serde_json::from_str("\"PARTIALLY_FILLED\"").unwrap();
        assert_eq!(s, OrderStatus::PartiallyFilled);
        assert!(!s.is_final());
        assert!(OrderStatus::Expired.is_final());
        assert!("INTENT".parse::<OrderStatus>().is_err());
    }
}
