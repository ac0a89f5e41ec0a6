//! Pricing an OTO pair (R6): the buy from the latest trade moved by the buy offset, the sell
//! from the buy moved by the sell offset, both floored to the tick; the quantity from the order
//! size floored to the step; the payment at exactly 8 decimals; the exchange's minimums checked
//! before anything is sent.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::payment_amount;
use crate::market::{Grid, floor_to};

/// A signed price move: positive moves up. `Percent(0.5)` is +0.5 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "value", rename_all = "lowercase")]
pub enum Offset {
    Percent(#[serde(with = "rust_decimal::serde::str")] Decimal),
    Amount(#[serde(with = "rust_decimal::serde::str")] Decimal),
}

impl Offset {
    pub fn apply(&self, base: Decimal) -> Option<Decimal> {
        match self {
            Offset::Percent(p) => base.checked_mul(Decimal::ONE + p / Decimal::ONE_HUNDRED),
            Offset::Amount(a) => base.checked_add(*a),
        }
    }
}

/// A priced pair, ready to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairPrice {
    pub buy_price: Decimal,
    pub sell_price: Decimal,
    pub quantity: Decimal,
    /// The buy's payment: buy price x quantity at 8 decimals.
    pub payment: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the {leg} price {price} is not positive after the offset and the tick")]
    NonPositive { leg: &'static str, price: Decimal },
    #[error("the {leg} price {price} is outside the symbol's range [{min}, {max}]")]
    OutOfRange {
        leg: &'static str,
        price: Decimal,
        min: Decimal,
        max: Decimal,
    },
    #[error("quantity {qty} is below the minimum {min}: raise the order size")]
    BelowMinQty { qty: Decimal, min: Decimal },
    #[error("quantity {qty} is above the maximum {max}: lower the order size")]
    AboveMaxQty { qty: Decimal, max: Decimal },
    #[error("order value {value} is below the minimum notional {min}")]
    BelowMinNotional { value: Decimal, min: Decimal },
    #[error("the arithmetic overflows a decimal")]
    Overflow,
}

/// Prices one pair from the latest trade price and an order size in USDT.
pub fn price_pair(
    last: Decimal,
    order_usdt: Decimal,
    buy: Offset,
    sell: Offset,
    grid: &Grid,
) -> Result<PairPrice, PricingError> {
    let buy_price = floor_to(
        buy.apply(last).ok_or(PricingError::Overflow)?,
        grid.tick_size,
    );
    check_price("buy", buy_price, grid)?;
    let sell_price = floor_to(
        sell.apply(buy_price).ok_or(PricingError::Overflow)?,
        grid.tick_size,
    );
    check_price("sell", sell_price, grid)?;
    let quantity = floor_to(
        order_usdt
            .checked_div(buy_price)
            .ok_or(PricingError::Overflow)?,
        grid.step_size,
    );
    if quantity < grid.min_qty || quantity <= Decimal::ZERO {
        return Err(PricingError::BelowMinQty {
            qty: quantity,
            min: grid.min_qty,
        });
    }
    if quantity > grid.max_qty {
        return Err(PricingError::AboveMaxQty {
            qty: quantity,
            max: grid.max_qty,
        });
    }
    let payment = payment_amount(buy_price, quantity);
    if payment < grid.min_notional {
        return Err(PricingError::BelowMinNotional {
            value: payment,
            min: grid.min_notional,
        });
    }
    Ok(PairPrice {
        buy_price,
        sell_price,
        quantity,
        payment,
    })
}

fn check_price(leg: &'static str, price: Decimal, grid: &Grid) -> Result<(), PricingError> {
    if price <= Decimal::ZERO {
        return Err(PricingError::NonPositive { leg, price });
    }
    if price < grid.min_price || price > grid.max_price {
        return Err(PricingError::OutOfRange {
            leg,
            price,
            min: grid.min_price,
            max: grid.max_price,
        });
    }
    Ok(())
}

/// The leftover sale's ladder: the percents below the last price each step sells at, from the
/// last price itself down to the floor in even steps.
pub fn leftover_ladder(floor_pct: Decimal) -> Vec<Decimal> {
    let third = floor_pct / Decimal::from(3);
    vec![Decimal::ZERO, third, third * Decimal::TWO, floor_pct]
}

/// Tokens found in the wallet with no pair live, worth selling: floored to the step, at least
/// the minimum quantity and the minimum notional at the last price; `None` for dust.
pub fn leftover_to_sell(free: Decimal, last_price: Decimal, grid: &Grid) -> Option<Decimal> {
    let qty = floor_to(free, grid.step_size);
    let value = qty.checked_mul(last_price)?;
    (qty > Decimal::ZERO && qty >= grid.min_qty && value >= grid.min_notional).then_some(qty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::on_grid;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn nex() -> Grid {
        Grid {
            tick_size: d("0.000000001"),
            min_price: d("0.000000001"),
            max_price: d("1000"),
            step_size: d("0.1"),
            min_qty: d("0.1"),
            max_qty: d("9999999999"),
            min_notional: d("0.1"),
        }
    }

    #[test]
    fn both_loops_price_as_the_captures_did() {
        // 10 USDT at 0.000005619 gives the captured OTO exactly: quantity 1779676, payment
        // "9.99999944". Here the sell is 1 % under the buy (a volume loop).
        let p = price_pair(
            d("0.000005619"),
            d("10"),
            Offset::Percent(d("0")),
            Offset::Percent(d("-1")),
            &nex(),
        )
        .unwrap();
        assert_eq!(
            (p.buy_price, p.quantity, p.payment),
            (d("0.000005619"), d("1779676"), d("9.99999944"))
        );
        assert_eq!(p.sell_price, d("0.000005562"));
        // "Buy below, sell above" maker loop with fixed amounts.
        let m = price_pair(
            d("0.000005619"),
            d("10"),
            Offset::Amount(d("-0.000000010")),
            Offset::Amount(d("0.000000020")),
            &nex(),
        )
        .unwrap();
        assert_eq!(
            (m.buy_price, m.sell_price),
            (d("0.000005609"), d("0.000005629"))
        );
        // Percent moves are floored to the tick.
        let up = price_pair(
            d("0.22690468"),
            d("10"),
            Offset::Percent(d("0.5")),
            Offset::Percent(d("-0.5")),
            &Grid {
                tick_size: d("0.00000001"),
                step_size: d("0.01"),
                min_qty: d("0.01"),
                ..nex()
            },
        )
        .unwrap();
        assert_eq!(up.buy_price, d("0.2280392"));
        assert!(on_grid(up.sell_price, d("0.00000001")));
    }

    #[test]
    fn the_exchange_minimums_are_checked_before_sending() {
        assert!(matches!(
            price_pair(
                d("0.000005619"),
                d("0.0000001"),
                Offset::Percent(d("0")),
                Offset::Percent(d("0")),
                &nex()
            ),
            Err(PricingError::BelowMinQty { .. })
        ));
        assert!(matches!(
            price_pair(
                d("0.000005619"),
                d("0.05"),
                Offset::Percent(d("0")),
                Offset::Percent(d("0")),
                &nex()
            ),
            Err(PricingError::BelowMinNotional { .. })
        ));
        assert!(matches!(
            price_pair(
                d("0.000005619"),
                d("10"),
                Offset::Percent(d("-100")),
                Offset::Percent(d("0")),
                &nex()
            ),
            Err(PricingError::NonPositive { leg: "buy", .. })
        ));
        assert!(matches!(
            price_pair(
                d("999"),
                d("10"),
                Offset::Percent(d("1")),
                Offset::Percent(d("0")),
                &nex()
            ),
            Err(PricingError::OutOfRange { .. })
        ));
        assert!(matches!(
            price_pair(
                d("0.000000001"),
                d("1000000"),
                Offset::Percent(d("0")),
                Offset::Percent(d("0")),
                &nex()
            ),
            Err(PricingError::AboveMaxQty { .. })
        ));
        let json = serde_json::to_string(&Offset::Percent(d("-0.5"))).unwrap();
        assert_eq!(json, r#"{"mode":"percent","value":"-0.5"}"#);
        assert_eq!(
            serde_json::from_str::<Offset>(r#"{"mode":"amount","value":"0.01"}"#).unwrap(),
            Offset::Amount(d("0.01"))
        );
    }

    fn decimal(lo: i64, hi: i64, scale: u32) -> impl Strategy<Value = Decimal> {
        (lo..hi).prop_map(move |n| Decimal::new(n, scale))
    }

    proptest! {
        #[test]
        fn a_priced_pair_is_always_on_the_grid_and_within_the_order_size(
            last in decimal(1, 10_000_000, 9),
            order in decimal(1_000, 100_000_000, 4),
            buy_pct in decimal(-500, 500, 2),
            sell_pct in decimal(-500, 500, 2),
            tick_exp in 0_u32..9,
            step_exp in 0_u32..4,
        ) {
            let grid = Grid {
                tick_size: Decimal::new(1, tick_exp),
                min_price: Decimal::new(1, tick_exp),
                max_price: Decimal::from(1_000_000),
                step_size: Decimal::new(1, step_exp),
                min_qty: Decimal::new(1, step_exp),
                max_qty: Decimal::from(1_000_000_000_000_i64),
                min_notional: d("0.1"),
            };
            if let Ok(p) = price_pair(last, order, Offset::Percent(buy_pct), Offset::Percent(sell_pct), &grid) {
                prop_assert!(on_grid(p.buy_price, grid.tick_size) && on_grid(p.sell_price, grid.tick_size));
                prop_assert!(on_grid(p.quantity, grid.step_size));
                prop_assert!(p.quantity >= grid.min_qty && p.payment >= grid.min_notional);
                prop_assert_eq!(p.payment, payment_amount(p.buy_price, p.quantity));
                prop_assert!(p.payment <= order, "never more than the order size");
                // One more step would exceed the order size: the quantity is not shrunk needlessly.
                prop_assert!(p.buy_price * (p.quantity + grid.step_size) > order);
                prop_assert!(p.payment.scale() <= 8);
            }
        }
    }

    #[test]
    fn a_leftover_is_sold_only_above_dust() {
        let g = nex();
        // NEX: step 0.1, minimum notional 0.1 USDT at about 0.0000056 a token.
        assert_eq!(
            leftover_to_sell(d("12.34"), d("0.000005619"), &g),
            None,
            "dust"
        );
        assert_eq!(
            leftover_to_sell(d("20000.05"), d("0.000005619"), &g),
            Some(d("20000.0"))
        );
        assert_eq!(leftover_to_sell(d("0"), d("1"), &g), None);
    }

    #[test]
    fn the_leftover_ladder_steps_evenly_from_the_last_price_to_the_floor() {
        let steps = leftover_ladder(Decimal::from(3));
        assert_eq!(
            steps,
            vec![Decimal::ZERO, Decimal::ONE, Decimal::TWO, Decimal::from(3)]
        );
        assert!(steps.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(leftover_ladder(Decimal::ZERO), vec![Decimal::ZERO; 4]);
    }
}
