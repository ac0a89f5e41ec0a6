//! The guards that hold new pairs back, as pure rules. Each takes what the account knows (a
//! price view, the time, its settings, the pauses it holds) and answers which pauses to set or
//! lift; the account actor reads the inputs and turns the answers into `Event::Pause` and
//! `Event::Resume` for the cycle.

use rust_decimal::Decimal;

use super::pause::PauseReason;

/// What the price feed shows of the account's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub price: Decimal,
    /// When the price was seen (ms).
    pub at_ms: i64,
    /// Max minus min over min within the volatility window, in percent.
    pub range_pct: Option<Decimal>,
}

/// A pause to set (`true`) or lift (`false`).
pub type Change = (PauseReason, bool);

/// What the market guards found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketCheck {
    /// Pauses to set or lift, in order.
    pub changes: Vec<Change>,
    /// The price to trade on: None while there is none or it is stale.
    pub tradable_price: Option<Decimal>,
    /// The volatility guard holds (the range is over the limit).
    pub volatile: bool,
}

/// The price-feed and volatility guards: a price older than `stale_ms` pauses with
/// `PriceFeed` (a fresh one lifts it); a range over `volatility_pct` pauses with `Volatility`
/// (back under, it lifts). Without any price yet, nothing changes and nothing is tradable.
pub fn market(
    quote: Option<&Quote>,
    now_ms: i64,
    stale_ms: i64,
    volatility_pct: Decimal,
    holds: impl Fn(PauseReason) -> bool,
) -> MarketCheck {
    let Some(q) = quote else {
        return MarketCheck {
            changes: Vec::new(),
            tradable_price: None,
            volatile: false,
        };
    };
    let mut changes = Vec::new();
    let stale = now_ms.saturating_sub(q.at_ms) > stale_ms;
    if stale != holds(PauseReason::PriceFeed) {
        changes.push((PauseReason::PriceFeed, stale));
    }
    let volatile = q.range_pct.is_some_and(|r| r > volatility_pct);
    if volatile != holds(PauseReason::Volatility) {
        changes.push((PauseReason::Volatility, volatile));
    }
    MarketCheck {
        changes,
        tradable_price: (!stale).then_some(q.price),
        volatile,
    }
}

/// What an exchange error means beyond the request it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setback {
    /// The exchange limits our rate; it may say how long to wait.
    RateLimited { retry_after_ms: Option<i64> },
    /// A request went unanswered (not sent, or its outcome unknown).
    Unanswered,
    /// Anything else: no wait beyond the request.
    Other,
}

/// The waits errors impose on an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holds {
    /// The rate-limit pause holds at least until then.
    pub rate_limited_until_ms: i64,
    /// No new pair until then: the exchange just failed to answer.
    pub quiet_until_ms: i64,
}

impl Holds {
    /// The wait after a rate limit that names none.
    pub const RATE_LIMIT_DEFAULT_MS: i64 = 10_000;
    /// A named wait is kept within these bounds.
    pub const RATE_LIMIT_MIN_MS: i64 = 1_000;
    pub const RATE_LIMIT_MAX_MS: i64 = 600_000;
    /// The quiet after an unanswered request.
    pub const UNANSWERED_QUIET_MS: i64 = 3_000;

    /// Takes in what an error means.
    pub fn after(&mut self, setback: Setback, now_ms: i64) {
        match setback {
            Setback::RateLimited { retry_after_ms } => {
                let wait = retry_after_ms
                    .unwrap_or(Self::RATE_LIMIT_DEFAULT_MS)
                    .clamp(Self::RATE_LIMIT_MIN_MS, Self::RATE_LIMIT_MAX_MS);
                self.rate_limited_until_ms = now_ms.saturating_add(wait);
            }
            Setback::Unanswered => {
                self.quiet_until_ms = now_ms.saturating_add(Self::UNANSWERED_QUIET_MS);
            }
            Setback::Other => {}
        }
    }

    /// The rate-limit pause (when it holds) lifts once the exchange's wait is over.
    pub fn rate_limit_lifts(&self, holds: bool, now_ms: i64) -> bool {
        holds && now_ms >= self.rate_limited_until_ms
    }

    /// No new pair now: the exchange failed to answer moments ago.
    pub fn quiet(&self, now_ms: i64) -> bool {
        now_ms < self.quiet_until_ms
    }
}

/// Today's realised cost (USDT paid minus received plus fees, for the pairs closed) over the
/// budget, in basis points of the bought volume. Never while no buy is counted, nor while a
/// part of an execution waits to be stored (the day's count is short then).
pub fn over_cost_budget(
    cost_usdt: Decimal,
    bought_usdt: Decimal,
    budget_bps: Decimal,
    writes_waiting: bool,
) -> bool {
    if bought_usdt <= Decimal::ZERO || writes_waiting {
        return false;
    }
    cost_usdt
        .checked_mul(Decimal::from(10_000))
        .and_then(|c| c.checked_div(bought_usdt))
        .is_some_and(|bps| bps > budget_bps)
}

/// Whether a live pair's loss has gone far enough to sell its tokens now: the last price at or
/// below the buy price less `max_loss_pct` percent.
pub fn hold_loss_reached(buy_price: Decimal, last_price: Decimal, max_loss_pct: Decimal) -> bool {
    loss_cut_price(buy_price, max_loss_pct).is_some_and(|floor| last_price <= floor)
}

/// The price at or below which [`hold_loss_reached`] holds: the buy price less `max_loss_pct`
/// percent.
pub fn loss_cut_price(buy_price: Decimal, max_loss_pct: Decimal) -> Option<Decimal> {
    buy_price.checked_mul(Decimal::ONE - max_loss_pct / Decimal::ONE_HUNDRED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_sold_once_its_price_falls_the_allowed_loss_below_the_buy() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert!(!hold_loss_reached(d("1.00"), d("0.951"), d("5")));
        assert!(hold_loss_reached(d("1.00"), d("0.95"), d("5")));
        assert!(hold_loss_reached(d("1.00"), d("0.5"), d("5")));
        assert!(!hold_loss_reached(d("1.00"), d("1.2"), d("5")));
    }
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn quote(at_ms: i64, range: Option<&str>) -> Quote {
        Quote {
            price: d("1.5"),
            at_ms,
            range_pct: range.map(d),
        }
    }

    #[test]
    fn a_stale_price_pauses_and_a_fresh_one_resumes() {
        let none = |_| false;
        let stale = market(Some(&quote(0, None)), 10_001, 10_000, d("5"), none);
        assert_eq!(stale.changes, vec![(PauseReason::PriceFeed, true)]);
        assert_eq!(stale.tradable_price, None);
        let held = |r| r == PauseReason::PriceFeed;
        let fresh = market(Some(&quote(10_000, None)), 10_001, 10_000, d("5"), held);
        assert_eq!(fresh.changes, vec![(PauseReason::PriceFeed, false)]);
        assert_eq!(fresh.tradable_price, Some(d("1.5")));
        // Exactly at the limit is still fresh.
        let edge = market(Some(&quote(0, None)), 10_000, 10_000, d("5"), none);
        assert!(edge.changes.is_empty() && edge.tradable_price.is_some());
    }

    #[test]
    fn a_range_over_the_limit_pauses_and_back_under_resumes() {
        let none = |_| false;
        let wild = market(Some(&quote(0, Some("5.01"))), 0, 10_000, d("5"), none);
        assert_eq!(wild.changes, vec![(PauseReason::Volatility, true)]);
        assert!(wild.volatile);
        assert_eq!(wild.tradable_price, Some(d("1.5")), "volatile is not stale");
        let held = |r| r == PauseReason::Volatility;
        let calm = market(Some(&quote(0, Some("5"))), 0, 10_000, d("5"), held);
        assert_eq!(calm.changes, vec![(PauseReason::Volatility, false)]);
        let unknown = market(Some(&quote(0, None)), 0, 10_000, d("5"), held);
        assert_eq!(unknown.changes, vec![(PauseReason::Volatility, false)]);
    }

    #[test]
    fn without_a_price_nothing_changes_and_nothing_trades() {
        let all = |_| true;
        let m = market(None, 0, 10_000, d("5"), all);
        assert_eq!(m.changes, Vec::new());
        assert_eq!(m.tradable_price, None);
    }

    #[test]
    fn the_rate_limit_lifts_when_its_wait_is_over() {
        let mut h = Holds::default();
        h.after(
            Setback::RateLimited {
                retry_after_ms: Some(2_000),
            },
            100,
        );
        assert!(!h.rate_limit_lifts(true, 2_099));
        assert!(h.rate_limit_lifts(true, 2_100));
        assert!(!h.rate_limit_lifts(false, 5_000), "lifts only what holds");
        // No wait named: the default; a wait out of bounds: the bound.
        h.after(
            Setback::RateLimited {
                retry_after_ms: None,
            },
            0,
        );
        assert_eq!(h.rate_limited_until_ms, Holds::RATE_LIMIT_DEFAULT_MS);
        h.after(
            Setback::RateLimited {
                retry_after_ms: Some(5),
            },
            0,
        );
        assert_eq!(h.rate_limited_until_ms, Holds::RATE_LIMIT_MIN_MS);
        h.after(
            Setback::RateLimited {
                retry_after_ms: Some(i64::MAX),
            },
            1,
        );
        assert_eq!(h.rate_limited_until_ms, 1 + Holds::RATE_LIMIT_MAX_MS);
    }

    #[test]
    fn an_unanswered_request_quiets_the_account_for_a_moment() {
        let mut h = Holds::default();
        assert!(!h.quiet(0));
        h.after(Setback::Unanswered, 1_000);
        assert!(h.quiet(1_000 + Holds::UNANSWERED_QUIET_MS - 1));
        assert!(!h.quiet(1_000 + Holds::UNANSWERED_QUIET_MS));
        let before = h;
        h.after(Setback::Other, 2_000);
        assert_eq!(h, before, "other errors impose no wait");
    }

    #[test]
    fn the_cost_budget_counts_closed_cost_against_bought_volume() {
        // 1 USDT lost on 1,000 bought is 10 bps.
        assert!(!over_cost_budget(d("1"), d("1000"), d("10"), false));
        assert!(over_cost_budget(d("1.0001"), d("1000"), d("10"), false));
        assert!(!over_cost_budget(d("5"), d("0"), d("10"), false));
        assert!(!over_cost_budget(d("5"), d("1000"), d("10"), true));
        // A gain is never over a budget.
        assert!(!over_cost_budget(d("-3"), d("1000"), d("0"), false));
    }

    proptest! {
        /// The guards are idempotent: applying their changes, the next check with the same
        /// inputs changes nothing, and each pause holds exactly when its rule says so.
        #[test]
        fn applying_the_changes_settles_the_guards(
            age in 0i64..40_000,
            range in proptest::option::of(0u32..2_000),
            held_feed: bool,
            held_vol: bool,
        ) {
            let q = Quote { price: d("2"), at_ms: 0, range_pct: range.map(|r| Decimal::new(i64::from(r), 2)) };
            let limit = d("5");
            let first = market(Some(&q), age, 10_000, limit, |r| match r {
                PauseReason::PriceFeed => held_feed,
                PauseReason::Volatility => held_vol,
                _ => false,
            });
            let mut feed = held_feed;
            let mut vol = held_vol;
            for (r, on) in &first.changes {
                match r {
                    PauseReason::PriceFeed => feed = *on,
                    PauseReason::Volatility => vol = *on,
                    _ => prop_assert!(false, "an unexpected pause {r:?}"),
                }
            }
            prop_assert_eq!(feed, age > 10_000);
            prop_assert_eq!(vol, q.range_pct.is_some_and(|r| r > limit));
            let again = market(Some(&q), age, 10_000, limit, |r| match r {
                PauseReason::PriceFeed => feed,
                PauseReason::Volatility => vol,
                _ => false,
            });
            prop_assert!(again.changes.is_empty());
            prop_assert_eq!(again.tradable_price.is_some(), !feed);
        }
    }
}
