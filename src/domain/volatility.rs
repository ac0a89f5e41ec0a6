//! The volatility guard's window (R16): the price range over the last 60 seconds, as
//! (max - min) / min, kept with two monotonic queues so each trade costs O(1) amortised.

use std::collections::VecDeque;

use rust_decimal::Decimal;

#[derive(Debug, Clone)]
pub struct VolatilityWindow {
    span_ms: i64,
    last_ms: i64,
    /// Decreasing prices: the front is the window's maximum.
    maxima: VecDeque<(i64, Decimal)>,
    /// Increasing prices: the front is the window's minimum.
    minima: VecDeque<(i64, Decimal)>,
}

impl VolatilityWindow {
    pub fn new(span_ms: i64) -> Self {
        Self {
            span_ms: span_ms.max(1),
            last_ms: i64::MIN,
            maxima: VecDeque::new(),
            minima: VecDeque::new(),
        }
    }

    /// A 60-second window.
    pub fn minute() -> Self {
        Self::new(60_000)
    }

    /// Adds a trade. A trade older than one already seen counts at the newest time seen (trades
    /// can arrive slightly out of order; the window never moves backwards).
    pub fn push(&mut self, at_ms: i64, price: Decimal) {
        let at = at_ms.max(self.last_ms);
        self.last_ms = at;
        while self.maxima.back().is_some_and(|&(_, p)| p <= price) {
            self.maxima.pop_back();
        }
        self.maxima.push_back((at, price));
        while self.minima.back().is_some_and(|&(_, p)| p >= price) {
            self.minima.pop_back();
        }
        self.minima.push_back((at, price));
        self.evict(at);
    }

    fn evict(&mut self, now: i64) {
        let oldest = now.saturating_sub(self.span_ms);
        while self.maxima.front().is_some_and(|&(t, _)| t < oldest) {
            self.maxima.pop_front();
        }
        while self.minima.front().is_some_and(|&(t, _)| t < oldest) {
            self.minima.pop_front();
        }
    }

    /// The range in percent of the minimum, over the window ending at `now_ms`; `None` without
    /// trades in the window.
    pub fn range_pct(&mut self, now_ms: i64) -> Option<Decimal> {
        self.evict(now_ms.max(self.last_ms));
        let (&(_, max), &(_, min)) = (self.maxima.front()?, self.minima.front()?);
        if min <= Decimal::ZERO {
            return None;
        }
        Some((max - min) / min * Decimal::ONE_HUNDRED)
    }

    /// Whether the range exceeds `threshold_pct`.
    pub fn exceeds(&mut self, now_ms: i64, threshold_pct: Decimal) -> bool {
        self.range_pct(now_ms).is_some_and(|r| r > threshold_pct)
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
    fn the_range_covers_exactly_the_last_minute() {
        let mut w = VolatilityWindow::minute();
        assert_eq!(w.range_pct(0), None);
        w.push(0, d("100"));
        w.push(10_000, d("103"));
        w.push(20_000, d("101"));
        assert_eq!(w.range_pct(20_000), Some(d("3")));
        assert!(w.exceeds(20_000, d("2")) && !w.exceeds(20_000, d("3")));
        // At 60.001 s the 100 trade has left: range of 103 and 101.
        assert_eq!(
            w.range_pct(60_001).map(|r| r.round_dp(4)),
            Some(d("1.9802"))
        );
        // A late trade does not move the window back.
        w.push(5_000, d("90"));
        assert_eq!(
            w.range_pct(60_001).map(|r| r.round_dp(4)),
            Some(d("14.4444"))
        );
        assert_eq!(w.range_pct(200_000), None);
    }

    proptest! {
        #[test]
        fn the_window_agrees_with_a_brute_force_scan(trades in proptest::collection::vec((0_i64..5_000, 1_i64..1_000_000), 1..200)) {
            let mut w = VolatilityWindow::new(10_000);
            let mut seen: Vec<(i64, Decimal)> = Vec::new();
            let mut now = 0_i64;
            for (gap, p) in trades {
                now += gap;
                let price = Decimal::new(p, 4);
                w.push(now, price);
                seen.push((now, price));
                let inside: Vec<Decimal> = seen.iter().filter(|(t, _)| *t >= now - 10_000).map(|(_, p)| *p).collect();
                let (max, min) = (inside.iter().max().copied(), inside.iter().min().copied());
                let want = match (max, min) {
                    (Some(max), Some(min)) => Some((max - min) / min * Decimal::ONE_HUNDRED),
                    _ => None,
                };
                prop_assert_eq!(w.range_pct(now), want);
            }
        }
    }
}
