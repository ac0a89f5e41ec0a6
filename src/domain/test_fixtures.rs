//! What the core's tests share: decimals from text, a symbol's grid and a cycle's settings.

use rust_decimal::Decimal;

use super::cycle::CycleConfig;
use super::points::{ExchangeFigure, Target};
use super::pricing::Offset;
use crate::market::Grid;

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn grid() -> Grid {
    Grid {
        tick_size: d("0.00000001"),
        min_price: d("0.00000001"),
        max_price: d("1000"),
        step_size: d("0.01"),
        min_qty: d("0.01"),
        max_qty: d("9999999"),
        min_notional: d("0.1"),
    }
}

/// A 25 USDT target in pairs of 10 USDT on `ALPHA_373USDT`, at a multiplier of 1.
pub fn cycle_cfg() -> CycleConfig {
    CycleConfig {
        order_symbol: "ALPHA_373USDT".into(),
        order_usdt: d("10"),
        target: Target::Usdt(d("25")),
        mul_point: d("1"),
        exchange_figure: ExchangeFigure::Counted,
        buy: Offset::Percent(d("0")),
        sell: Offset::Percent(d("-1")),
        order_timeout_ms: 300_000,
        pending_timeout_ms: 120_000,
        ladder_step_ms: 5_000,
        ladder_pct: vec![d("0"), d("1"), d("3")],
        max_hold_loss_pct: d("5"),
    }
}
