//! Alpha Points for volume: floor(log2(today's counted buy volume)), where a buy counts its
//! quote amount times the token's `mulPoint`. Only buys count; the day is the UTC day. A target
//! in points is therefore a counted volume of 2^P, and one pair past it is money spent for
//! nothing: the last pair is sized to end the day at or just above the target.

use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy::AwayFromZero;
use serde::Serialize;

use crate::market::{Grid, floor_to};

/// The most points a target may name: 2^40 USDT is far past any account's day, and every
/// product below stays inside a decimal.
pub const MAX_POINTS: u32 = 40;

/// What an account trades towards each UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Real buy volume in USDT.
    Usdt(Decimal),
    /// Alpha Points: counted volume of 2^P.
    Points(u32),
}

/// Today's buy volume, real (USDT paid) and as the exchange counts it for points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Volume {
    pub real: Decimal,
    pub counted: Decimal,
}

/// How the exchange's own figure of today's volume (`today/user-volume`) reads: whether it is
/// already multiplied by `mulPoint` (the protocol is not settled; a setting says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeFigure {
    Counted,
    Real,
}

/// A multiplier below 1 is read as 1: the token list's field is missing or zero for tokens
/// without an incentive, and assuming more would stop short of the target.
pub fn effective_mul(mul_point: Decimal) -> Decimal {
    mul_point.max(Decimal::ONE)
}

/// 2^P.
pub fn counted_for(points: u32) -> Decimal {
    Decimal::from(1_u64 << points.min(MAX_POINTS))
}

/// floor(log2(counted)); 0 below 2 USDT counted.
pub fn points_for(counted: Decimal) -> u32 {
    let whole = counted.trunc();
    if whole < Decimal::ONE {
        return 0;
    }
    let n = u128::try_from(whole.mantissa()).unwrap_or(0) / 10_u128.pow(whole.scale());
    if n == 0 { 0 } else { n.ilog2() }
}

impl Volume {
    /// A buy's quote amount, counted at today's multiplier.
    pub fn add_buy(&mut self, quote: Decimal, mul_point: Decimal) {
        self.real = self.real.saturating_add(quote);
        self.counted = self
            .counted
            .saturating_add(quote.saturating_mul(effective_mul(mul_point)));
    }

    /// The exchange's figure is taken over the own count only where it is larger (trades made
    /// outside the daemon); the other figure follows at today's multiplier.
    pub fn take_over(&mut self, figure: Decimal, reads: ExchangeFigure, mul_point: Decimal) {
        let mul = effective_mul(mul_point);
        let (real, counted) = match reads {
            ExchangeFigure::Counted => (figure.checked_div(mul).unwrap_or(figure), figure),
            ExchangeFigure::Real => (figure, figure.saturating_mul(mul)),
        };
        self.real = self.real.max(real);
        self.counted = self.counted.max(counted);
    }

    /// The exchange's figure read between pairs, every fill of the day already counted here:
    /// where it is counted volume it is the truth about the multipliers (a buy counted here at
    /// a multiplier the daemon had not seen yet is corrected, up or down); read as real volume
    /// it is taken over only where larger.
    pub fn settle(&mut self, figure: Decimal, reads: ExchangeFigure, mul_point: Decimal) {
        match reads {
            ExchangeFigure::Counted => self.counted = figure,
            ExchangeFigure::Real => self.take_over(figure, reads, mul_point),
        }
    }

    /// The volume of a new day from the real buys recorded so far (the multiplier of the
    /// day's first minutes is today's).
    pub fn from_real(real: Decimal, mul_point: Decimal) -> Self {
        Self {
            real,
            counted: real.saturating_mul(effective_mul(mul_point)),
        }
    }

    pub fn points(&self) -> u32 {
        points_for(self.counted)
    }

    pub fn reached(&self, target: Target) -> bool {
        match target {
            Target::Usdt(t) => self.real >= t,
            Target::Points(p) => self.counted >= counted_for(p),
        }
    }

    /// Real USDT still to buy today at this multiplier; 0 once reached.
    pub fn remaining_real(&self, target: Target, mul_point: Decimal) -> Decimal {
        match target {
            Target::Usdt(t) => (t - self.real).max(Decimal::ZERO),
            Target::Points(p) => (counted_for(p) - self.counted)
                .max(Decimal::ZERO)
                .checked_div(effective_mul(mul_point))
                .unwrap_or(Decimal::ZERO),
        }
    }
}

/// The USDT the next pair buys: the order size, or for the last pair of the day the smallest
/// amount on the grid that reaches the target (never below the exchange's minimums). The
/// pricing floors the quantity of what this returns, so the amount is a whole number of
/// quantity steps at the buy price.
pub fn pair_usdt(
    order_usdt: Decimal,
    remaining: Decimal,
    buy_price: Decimal,
    grid: &Grid,
) -> Decimal {
    if remaining >= order_usdt || buy_price <= Decimal::ZERO {
        return order_usdt;
    }
    let ceil_qty = |usdt: Decimal| -> Option<Decimal> {
        let raw = usdt.checked_div(buy_price)?;
        let floored = floor_to(raw, grid.step_size);
        Some(if floored < raw {
            floored.checked_add(grid.step_size)?
        } else {
            floored
        })
    };
    let Some(mut qty) = ceil_qty(remaining) else {
        return order_usdt;
    };
    qty = qty.max(grid.min_qty);
    if let Some(min) = ceil_qty(grid.min_notional)
        && qty
            .checked_mul(buy_price)
            .is_some_and(|v| v < grid.min_notional)
    {
        qty = qty.max(min);
    }
    match qty.checked_mul(buy_price) {
        Some(v) if v < order_usdt => v,
        _ => order_usdt,
    }
}

/// Whether a token list read at `read_at_ms` is due again: every `every_ms`, and at the start
/// of each UTC day (multipliers change with the day's incentives).
pub fn list_due(read_at_ms: Option<i64>, now_ms: i64, every_ms: i64) -> bool {
    const DAY_MS: i64 = 86_400_000;
    match read_at_ms {
        None => true,
        Some(at) => now_ms - at >= every_ms || now_ms.div_euclid(DAY_MS) != at.div_euclid(DAY_MS),
    }
}

/// What points cost today: fees and spread loss over points earned, in USDT per point.
pub fn cost_per_point(cost_usdt: Decimal, points: u32) -> Option<Decimal> {
    if points == 0 {
        return None;
    }
    cost_usdt
        .checked_div(Decimal::from(points))
        .map(|v| v.round_dp_with_strategy(8, AwayFromZero))
}

/// Points today as an account shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PointsView {
    pub today: u32,
    /// The target in points, when the account's target is in points.
    pub target: Option<u32>,
    #[serde(with = "rust_decimal::serde::str")]
    pub counted_volume: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub real_volume: Decimal,
    /// The token's multiplier now; absent while the account does not run.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub mul_point: Option<Decimal>,
    /// Today's fees and spread loss per point earned, USDT; absent before the first point.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub cost_per_point_usdt: Option<Decimal>,
}

/// What an account shows of its points: today's, the target's, both volumes, the multiplier
/// and the settled cost per point.
pub fn view(
    target: Target,
    v: Volume,
    mul_point: Option<Decimal>,
    cost_usdt: Option<Decimal>,
) -> PointsView {
    let today = v.points();
    PointsView {
        today,
        target: match target {
            Target::Points(p) => Some(p),
            Target::Usdt(_) => None,
        },
        counted_volume: v.counted,
        real_volume: v.real,
        mul_point,
        cost_per_point_usdt: cost_usdt.and_then(|c| cost_per_point(c, today)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn grid() -> Grid {
        Grid {
            tick_size: d("0.0001"),
            step_size: d("0.01"),
            min_qty: d("0.01"),
            max_qty: d("1000000"),
            min_price: d("0.0001"),
            max_price: d("100000"),
            min_notional: d("0.1"),
        }
    }

    #[test]
    fn points_are_the_floor_of_log2_of_counted_volume() {
        assert_eq!(points_for(d("0")), 0);
        assert_eq!(points_for(d("1.99")), 0);
        assert_eq!(points_for(d("2")), 1);
        assert_eq!(points_for(d("4095.999")), 11);
        assert_eq!(points_for(d("4096")), 12);
        assert_eq!(points_for(d("8191")), 12);
        assert_eq!(
            counted_for(15) / d("4"),
            d("8192"),
            "15 points on x4 is 8,192 USDT"
        );
    }

    #[test]
    fn a_points_target_counts_buys_at_the_multiplier() {
        let mut v = Volume::default();
        let t = Target::Points(12);
        v.add_buy(d("1000"), d("4"));
        assert_eq!(v.counted, d("4000"));
        assert!(!v.reached(t));
        assert_eq!(v.remaining_real(t, d("4")), d("24"));
        // The incentive ended: the rest is bought at x1.
        assert_eq!(v.remaining_real(t, d("1")), d("96"));
        v.add_buy(d("24"), d("4"));
        assert!(v.reached(t));
        assert_eq!(v.points(), 12);
        assert_eq!(v.remaining_real(t, d("4")), d("0"));
        assert!(!v.reached(Target::Usdt(d("1025"))));
        assert!(v.reached(Target::Usdt(d("1024"))));
    }

    #[test]
    fn the_exchange_figure_is_read_as_the_setting_says_and_taken_only_where_larger() {
        let mut v = Volume::from_real(d("100"), d("4"));
        assert_eq!(v.counted, d("400"));
        v.take_over(d("800"), ExchangeFigure::Counted, d("4"));
        assert_eq!((v.real, v.counted), (d("200"), d("800")));
        v.take_over(d("800"), ExchangeFigure::Real, d("4"));
        assert_eq!((v.real, v.counted), (d("800"), d("3200")));
        v.take_over(d("1"), ExchangeFigure::Real, d("4"));
        assert_eq!((v.real, v.counted), (d("800"), d("3200")));
        // A missing multiplier is 1.
        assert_eq!(Volume::from_real(d("5"), d("0")).counted, d("5"));
    }

    #[test]
    fn a_figure_read_between_pairs_corrects_the_counted_volume_both_ways() {
        // A buy counted here at x4 that the exchange counted at x1 (the multiplier changed
        // between its fill and its report): the exchange is right.
        let mut v = Volume {
            real: d("200"),
            counted: d("800"),
        };
        v.settle(d("500"), ExchangeFigure::Counted, d("4"));
        assert_eq!((v.real, v.counted), (d("200"), d("500")));
        v.settle(d("900"), ExchangeFigure::Counted, d("4"));
        assert_eq!(v.counted, d("900"));
        // Read as real volume, it only ever raises the count.
        v.settle(d("100"), ExchangeFigure::Real, d("4"));
        assert_eq!((v.real, v.counted), (d("200"), d("900")));
    }

    #[test]
    fn the_last_pair_is_sized_to_reach_the_target_on_the_grid() {
        let g = grid();
        // A full pair while the rest is larger.
        assert_eq!(pair_usdt(d("50"), d("120"), d("2"), &g), d("50"));
        // 7.005 at price 2 is 3.5025 tokens: 3.51 tokens, 7.02 USDT.
        assert_eq!(pair_usdt(d("50"), d("7.005"), d("2"), &g), d("7.02"));
        // Never under the minimum notional (0.1) nor the minimum quantity.
        assert_eq!(pair_usdt(d("50"), d("0.0001"), d("2"), &g), d("0.10"));
        assert_eq!(pair_usdt(d("50"), d("0.0001"), d("20"), &g), d("0.20"));
    }

    #[test]
    fn the_token_list_is_read_hourly_and_at_the_days_start() {
        let hour = 3_600_000;
        let day = 86_400_000;
        assert!(list_due(None, 5, hour));
        assert!(!list_due(Some(day + 10), day + hour - 1, hour));
        assert!(list_due(Some(day + 10), day + 10 + hour, hour));
        assert!(list_due(Some(2 * day - 5), 2 * day, hour), "a new UTC day");
    }

    #[test]
    fn cost_per_point_needs_a_point() {
        assert_eq!(cost_per_point(d("3"), 0), None);
        assert_eq!(cost_per_point(d("3"), 12), Some(d("0.25")));
    }

    proptest! {
        /// The last pair reaches the target and overshoots by less than one quantity step
        /// (or the exchange's minimum).
        #[test]
        fn the_last_pair_reaches_the_target_with_less_than_a_step_over(
            rem in 1_i64..5_000_000, price in 1_i64..1_000_000,
        ) {
            let g = grid();
            let (remaining, buy_price) = (Decimal::new(rem, 4), Decimal::new(price, 4));
            let usdt = pair_usdt(d("1000"), remaining, buy_price, &g);
            let qty = floor_to(usdt / buy_price, g.step_size);
            let paid = qty * buy_price;
            if remaining < d("1000") {
                prop_assert!(paid >= remaining.min(usdt), "paid {paid} for {remaining}");
                let floor = (g.step_size * buy_price).max(g.min_notional).max(g.min_qty * buy_price);
                prop_assert!(paid < remaining + floor + g.step_size * buy_price, "paid {paid} for {remaining}");
            } else {
                prop_assert_eq!(usdt, d("1000"));
            }
        }

        #[test]
        fn points_double_with_volume(p in 0_u32..MAX_POINTS) {
            prop_assert_eq!(points_for(counted_for(p)), p);
            prop_assert_eq!(points_for(counted_for(p) * d("2") - d("0.00000001")), p);
        }
    }
}
