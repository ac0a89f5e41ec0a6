//! The day's plan (R4, R11): how far an account is from its target and how many cycles remain.

use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy::{AwayFromZero, ToZero};
use serde::Serialize;

use super::points::{Target, Volume, counted_for, effective_mul};

/// Progress towards the daily target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    #[serde(with = "rust_decimal::serde::str")]
    pub volume_today: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub target: Decimal,
    /// 0 to 100, two decimals, floored (100 only when the target is reached).
    #[serde(with = "rust_decimal::serde::str")]
    pub percent: Decimal,
    pub cycles_done: u64,
    pub cycles_remaining: u64,
}

/// Cycles still needed: ceil(remaining / volume per cycle); 0 when the target is met.
pub fn cycles_needed(remaining: Decimal, per_cycle: Decimal) -> u64 {
    if remaining <= Decimal::ZERO || per_cycle <= Decimal::ZERO {
        return 0;
    }
    // Checked: settings stored before their bounds existed may hold a target whose quotient
    // does not fit a decimal; the answer is then "more cycles than can be counted".
    let Some(n) = remaining.checked_div(per_cycle) else {
        return u64::MAX;
    };
    let n = n.round_dp_with_strategy(0, AwayFromZero);
    u64::try_from(n.mantissa() / 10_i128.pow(n.scale())).unwrap_or(u64::MAX)
}

/// The target in its own unit: USDT bought, or counted volume (2^P) for points.
pub fn target_amount(target: Target) -> Decimal {
    match target {
        Target::Usdt(t) => t,
        Target::Points(p) => counted_for(p),
    }
}

/// Progress towards the day's target in the target's unit: USDT bought, or counted volume for a
/// points target (a pair then counts its USDT times the multiplier).
pub fn day_progress(
    target: Target,
    volume: Volume,
    mul_point: Decimal,
    order_usdt: Decimal,
    cycles_done: u64,
) -> Progress {
    match target {
        Target::Usdt(t) => progress(volume.real, t, order_usdt, cycles_done),
        Target::Points(p) => progress(
            volume.counted,
            counted_for(p),
            order_usdt.saturating_mul(effective_mul(mul_point)),
            cycles_done,
        ),
    }
}

pub fn progress(
    volume_today: Decimal,
    target: Decimal,
    per_cycle: Decimal,
    cycles_done: u64,
) -> Progress {
    let percent = if target <= Decimal::ZERO {
        Decimal::ONE_HUNDRED
    } else {
        volume_today
            .checked_div(target)
            .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
            .unwrap_or(Decimal::ONE_HUNDRED)
            .min(Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(2, ToZero)
    };
    Progress {
        volume_today,
        target,
        percent,
        cycles_done,
        cycles_remaining: cycles_needed(
            target.checked_sub(volume_today).unwrap_or(Decimal::ZERO),
            per_cycle,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn progress_reports_percent_and_cycles() {
        let p = progress(d("197.4356684052"), d("1024"), d("10"), 20);
        assert_eq!(
            (p.percent, p.cycles_remaining, p.cycles_done),
            (d("19.28"), 83, 20)
        );
        assert_eq!(
            progress(d("1030"), d("1024"), d("10"), 103).cycles_remaining,
            0
        );
        assert_eq!(
            progress(d("1030"), d("1024"), d("10"), 103).percent,
            d("100")
        );
        assert_eq!(cycles_needed(d("10"), d("10")), 1);
        assert_eq!(cycles_needed(d("10.00000001"), d("10")), 2);
        assert_eq!(cycles_needed(d("5"), d("0")), 0);
    }

    #[test]
    fn a_target_too_large_for_a_decimal_quotient_does_not_panic() {
        // 7.9e28 / 0.5 does not fit a decimal: the plain operator panics ("Division overflowed").
        let huge = Decimal::MAX;
        assert_eq!(cycles_needed(huge, d("0.5")), u64::MAX);
        let p = progress(d("0.00000001"), huge, d("0.1"), 0);
        assert_eq!((p.percent, p.cycles_remaining), (d("0"), u64::MAX));
        let p = progress(huge, d("0.00000001"), d("0.1"), 0);
        assert_eq!(p.percent, d("100"));
    }

    proptest! {
        #[test]
        fn the_cycle_count_is_exactly_enough(rem in 1_i64..10_000_000_000, per in 1_i64..1_000_000_000) {
            let (remaining, per_cycle) = (Decimal::new(rem, 4), Decimal::new(per, 4));
            let n = Decimal::from(cycles_needed(remaining, per_cycle));
            prop_assert!(n * per_cycle >= remaining);
            prop_assert!((n - Decimal::ONE) * per_cycle < remaining);
        }
    }
}
