//! When a live pair is asked of the exchange though its stream is healthy: the safety net
//! against a report lost without the stream dropping.
//!
//! A resting limit order ends by a trade at its price, or by a cancel the account sent itself
//! (whose report it awaits anyway, `report_overdue`). So while the market stays away from
//! every live leg no report is owed, and a question costs a request for nothing: at 10,000
//! resting pairs the fixed questions were most of what the daemon and the exchange spent on
//! accounts with nothing to do. The account asks once the price has reached a live leg and no
//! report followed ([`Net::FillOwed`]); when it cannot judge by the price, on the fixed
//! doubling schedule ([`Net::Blind`]); otherwise only on a long fallback ([`Net::Quiet`]).

use rust_decimal::Decimal;

use super::cycle::State;

/// What the market's price says about the reports a live pair may owe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// A live leg could have traded at this price: its report is owed; ask if it does not come.
    FillOwed,
    /// No live leg can trade before the price reaches `below` (or goes under it) or `above`
    /// (or goes over it): nothing is owed until then.
    Quiet {
        below: Option<Decimal>,
        above: Option<Decimal>,
    },
    /// The price says nothing: there is none that can be trusted since the last news (never
    /// seen, or its stream dropped meanwhile, so a trade may have gone unseen), or the state is
    /// not a resting pair (a cancel or a placement in flight, a leftover sale).
    Blind,
}

/// `price`: the token's latest price, `None` when the feed cannot vouch for every trade since
/// the pair's last news.
pub fn net(state: &State, price: Option<Decimal>) -> Net {
    let (State::Working { pair } | State::Pending { pair }) = state else {
        return Net::Blind;
    };
    let Some(price) = price else {
        return Net::Blind;
    };
    // The pending leg is on the book only once the working leg has filled.
    let below = (!pair.working_done).then_some(pair.intent.buy_price);
    let above = (pair.working_done && !pair.pending_done).then_some(pair.intent.sell_price);
    if below.is_none() && above.is_none() {
        // Both ends heard: what is left (the ended legs' rows) is not the net's.
        return Net::Blind;
    }
    if below.is_some_and(|b| price <= b) || above.is_some_and(|a| price >= a) {
        return Net::FillOwed;
    }
    Net::Quiet { below, above }
}

/// Whether the pair's working leg has ended, or the pair has: a fill owed by the working leg
/// is then told (a sale printed since is the next alarm's, which holds it against every trade
/// since the ring).
pub fn working_ended(state: &State) -> bool {
    match state {
        State::Working { pair } | State::Pending { pair } | State::Cancelling { pair, .. } => {
            pair.working_done
        }
        State::Placing { .. } | State::Unknown { .. } => false,
        State::Idle | State::Liquidating { .. } | State::DoneForToday | State::Stopped => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cycle::{Intent, Pair};
    use proptest::prelude::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn pair(working_done: bool, pending_done: bool) -> Pair {
        Pair {
            intent: Intent {
                id: "i".into(),
                buy_price: d("1.00"),
                sell_price: d("1.05"),
                quantity: d("10"),
                payment: d("10"),
                created_ms: 0,
            },
            working_id: "w".into(),
            pending_id: "p".into(),
            bought: Decimal::ZERO,
            sold: Decimal::ZERO,
            working_done,
            pending_done,
            since_ms: 0,
        }
    }

    #[test]
    fn a_resting_buy_owes_a_report_once_the_price_reaches_it() {
        let s = State::Working {
            pair: pair(false, false),
        };
        let quiet = Net::Quiet {
            below: Some(d("1.00")),
            above: None,
        };
        assert_eq!(net(&s, Some(d("1.01"))), quiet);
        assert_eq!(net(&s, Some(d("1.00"))), Net::FillOwed);
        assert_eq!(net(&s, Some(d("0.97"))), Net::FillOwed);
        // The sell is not on the book yet: a price over it owes nothing.
        assert_eq!(net(&s, Some(d("1.10"))), quiet);
    }

    #[test]
    fn a_resting_sell_owes_a_report_once_the_price_reaches_it() {
        let s = State::Pending {
            pair: pair(true, false),
        };
        let quiet = Net::Quiet {
            below: None,
            above: Some(d("1.05")),
        };
        assert_eq!(net(&s, Some(d("1.04"))), quiet);
        assert_eq!(net(&s, Some(d("1.05"))), Net::FillOwed);
        // The buy has filled: a price under it owes nothing (the loss cut is not the net's).
        assert_eq!(net(&s, Some(d("0.90"))), quiet);
    }

    #[test]
    fn without_a_price_to_trust_or_a_resting_pair_the_net_is_blind() {
        let resting = State::Pending {
            pair: pair(true, false),
        };
        assert_eq!(net(&resting, None), Net::Blind);
        let ended = State::Pending {
            pair: pair(true, true),
        };
        assert_eq!(net(&ended, Some(d("1.02"))), Net::Blind);
        assert_eq!(net(&State::Idle, Some(d("1.02"))), Net::Blind);
    }

    #[test]
    fn a_fill_owed_by_the_buy_is_told_by_the_buy_s_end_or_the_pair_s() {
        assert!(!working_ended(&State::Working {
            pair: pair(false, false)
        }));
        assert!(working_ended(&State::Pending {
            pair: pair(true, false)
        }));
        assert!(!working_ended(&State::Cancelling {
            pair: pair(false, false),
            target: "w".into(),
        }));
        assert!(working_ended(&State::Idle));
        assert!(!working_ended(&State::Unknown {
            intent: pair(false, false).intent
        }));
    }

    proptest! {
        /// Quiet means exactly this: no live leg could have traded at the price, and the
        /// levels it gives are the live legs' prices, so an alarm at them rings before any
        /// trade that could fill one.
        #[test]
        fn quiet_only_when_no_live_leg_could_trade(
            cents in 50u32..150,
            working_done: bool,
            pending_done: bool,
        ) {
            let price = Decimal::new(i64::from(cents), 2);
            let p = pair(working_done, pending_done);
            let state = if working_done {
                State::Pending { pair: p.clone() }
            } else {
                State::Working { pair: p.clone() }
            };
            let buy_live = !working_done;
            let sell_live = working_done && !pending_done;
            let could_trade = (buy_live && price <= p.intent.buy_price)
                || (sell_live && price >= p.intent.sell_price);
            match net(&state, Some(price)) {
                Net::FillOwed => prop_assert!(could_trade),
                Net::Quiet { below, above } => {
                    prop_assert!(!could_trade);
                    prop_assert_eq!(below, buy_live.then_some(p.intent.buy_price));
                    prop_assert_eq!(above, sell_live.then_some(p.intent.sell_price));
                }
                Net::Blind => prop_assert!(!buy_live && !sell_live),
            }
        }
    }
}
