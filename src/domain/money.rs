//! Exact decimal helpers for USDT amounts (the grid itself is `crate::market`'s).

use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy::ToZero;

/// Decimal places of USDT amounts (the payment amount's grid).
pub const QUOTE_DP: u32 = 8;

/// Floors a USDT amount to 8 decimals.
pub fn floor_quote(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(QUOTE_DP, ToZero)
}

/// The payment of a buy: price x quantity, floored to 8 decimals, exactly as the exchange
/// checks it.
pub fn payment_amount(price: Decimal, qty: Decimal) -> Decimal {
    floor_quote(price * qty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::{floor_to, on_grid};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn flooring_and_payments_match_the_captured_orders() {
        assert_eq!(floor_to(d("1779676.99"), d("0.1")), d("1779676.9"));
        assert_eq!(
            floor_to(d("0.0000056199"), d("0.000000001")),
            d("0.000005619")
        );
        assert_eq!(floor_to(d("5"), d("0")), d("5"));
        assert_eq!(
            payment_amount(d("0.000005619"), d("1779676")),
            d("9.99999944")
        );
        assert_eq!(
            payment_amount(d("0.0000051"), d("1960784.3")),
            d("9.99999993")
        );
        assert_eq!(
            payment_amount(d("48.01706542"), d("0.2082")),
            d("9.99715302")
        );
        assert!(
            on_grid(d("0.30"), d("0.1"))
                && !on_grid(d("0.31"), d("0.1"))
                && !on_grid(d("1"), d("0"))
        );
    }
}
