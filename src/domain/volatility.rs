//! The volatility guard's window (R16): the price range over the last 60 seconds, as
//! (max - min) / min, kept with two monotonic queues so each trade costs O(1) amortised.
//! The same queues answer what traded since a given trade (`traded_since`), which the price
//! alarms use to catch a trade made while an account was not watching.

use std::collections::VecDeque;

use rust_decimal::Decimal;

/// One trade in a queue: when (never earlier than the one before), its number, its price.
#[derive(Debug, Clone, Copy)]
struct Entry {
    at: i64,
    seq: u64,
    price: Decimal,
}

/// The prices traded in a stretch of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traded {
    Nothing,
    Span {
        min: Decimal,
        max: Decimal,
    },
    /// Part of the stretch has left the window.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct VolatilityWindow {
    span_ms: i64,
    last_ms: i64,
    /// Trades pushed so far: the number of the latest.
    seq: u64,
    /// The newest trade that left the window (number, time).
    gone: (u64, i64),
    /// Decreasing prices: the front is the window's maximum.
    maxima: VecDeque<Entry>,
    /// Increasing prices: the front is the window's minimum.
    minima: VecDeque<Entry>,
}

impl VolatilityWindow {
    pub fn new(span_ms: i64) -> Self {
        Self {
            span_ms: span_ms.max(1),
            last_ms: i64::MIN,
            seq: 0,
            gone: (0, i64::MIN),
            maxima: VecDeque::new(),
            minima: VecDeque::new(),
        }
    }

    /// A 60-second window.
    pub fn minute() -> Self {
        Self::new(60_000)
    }

    /// The number of the latest trade (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Adds a trade. A trade older than one already seen counts at the newest time seen (trades
    /// can arrive slightly out of order; the window never moves backwards).
    pub fn push(&mut self, at_ms: i64, price: Decimal) {
        let at = at_ms.max(self.last_ms);
        self.last_ms = at;
        self.seq += 1;
        let e = Entry {
            at,
            seq: self.seq,
            price,
        };
        while self.maxima.back().is_some_and(|x| x.price <= price) {
            self.maxima.pop_back();
        }
        self.maxima.push_back(e);
        while self.minima.back().is_some_and(|x| x.price >= price) {
            self.minima.pop_back();
        }
        self.minima.push_back(e);
        self.evict(at);
    }

    fn evict(&mut self, now: i64) {
        let oldest = now.saturating_sub(self.span_ms);
        for q in [&mut self.maxima, &mut self.minima] {
            while let Some(x) = q.front().filter(|x| x.at < oldest).copied() {
                q.pop_front();
                if x.seq > self.gone.0 {
                    self.gone = (x.seq, x.at);
                }
            }
        }
    }

    /// The range in percent of the minimum, over the window ending at `now_ms`; `None` without
    /// trades in the window.
    pub fn range_pct(&mut self, now_ms: i64) -> Option<Decimal> {
        self.evict(now_ms.max(self.last_ms));
        let (max, min) = (self.maxima.front()?.price, self.minima.front()?.price);
        if min <= Decimal::ZERO {
            return None;
        }
        Some((max - min) / min * Decimal::ONE_HUNDRED)
    }

    /// Whether the range exceeds `threshold_pct`.
    pub fn exceeds(&mut self, now_ms: i64, threshold_pct: Decimal) -> bool {
        self.range_pct(now_ms).is_some_and(|r| r > threshold_pct)
    }

    /// The lowest and highest price of the trades numbered after `after_seq` and made at
    /// `from_ms` or later. Each queue holds, for every such stretch (a suffix of the trades),
    /// its extreme as the first entry inside it: a trade dropped from the back was beaten by a
    /// later one. A trade of the stretch that left the window makes the answer `Unknown`.
    pub fn traded_since(&self, after_seq: u64, from_ms: i64) -> Traded {
        if self.gone.0 > after_seq && self.gone.1 >= from_ms {
            return Traded::Unknown;
        }
        let first = |q: &VecDeque<Entry>| {
            let i = q.partition_point(|x| x.seq <= after_seq || x.at < from_ms);
            q.get(i).map(|x| x.price)
        };
        match (first(&self.minima), first(&self.maxima)) {
            (Some(min), Some(max)) => Traded::Span { min, max },
            _ => Traded::Nothing,
        }
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

        #[test]
        fn what_traded_since_a_trade_agrees_with_a_brute_force_scan(
            trades in proptest::collection::vec((0_i64..5_000, 1_i64..1_000_000), 1..120),
            after in 0_u64..130,
            back_ms in 0_i64..30_000,
        ) {
            let mut w = VolatilityWindow::new(10_000);
            let mut seen: Vec<(u64, i64, Decimal)> = Vec::new();
            let mut now = 0_i64;
            for (gap, p) in trades {
                now += gap;
                let price = Decimal::new(p, 4);
                w.push(now, price);
                seen.push((w.seq(), now, price));
            }
            let from = now - back_ms;
            let stretch: Vec<&(u64, i64, Decimal)> =
                seen.iter().filter(|(n, t, _)| *n > after && *t >= from).collect();
            let got = w.traded_since(after, from);
            let want = match (
                stretch.iter().map(|x| x.2).min(),
                stretch.iter().map(|x| x.2).max(),
            ) {
                (Some(min), Some(max)) => Traded::Span { min, max },
                _ => Traded::Nothing,
            };
            // Exact while the stretch is inside the window; past it, exact or unknown (a
            // trade that left may have been beaten by a later one still inside).
            if stretch.iter().all(|(_, t, _)| *t >= now - 10_000) {
                prop_assert_eq!(got, want);
            } else {
                prop_assert!(got == want || got == Traded::Unknown, "{got:?} {want:?}");
            }
        }
    }
}
