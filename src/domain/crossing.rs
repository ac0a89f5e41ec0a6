//! No trade between two managed accounts. The exchange's self-trade prevention only nets the
//! orders of one user; two of our accounts buying from and selling to each other on one token is
//! wash trading. An account's live pair may fill against another's only where their prices
//! cross, so a pair is not placed while it would cross any live order of another managed account
//! on the same token: it waits a moment (the next tick) for the other pair to end.

use rust_decimal::Decimal;

use super::cycle::State;

/// What an account has, or may soon have, resting on a token: the buy and the sell of its live
/// pair (the sell goes live once the buy fills, so both count for the pair's life), or the sell
/// of a leftover sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub buy: Option<Decimal>,
    pub sell: Option<Decimal>,
}

impl Footprint {
    pub fn pair(buy: Decimal, sell: Decimal) -> Self {
        Self {
            buy: Some(buy),
            sell: Some(sell),
        }
    }

    pub fn sale(sell: Decimal) -> Self {
        Self {
            buy: None,
            sell: Some(sell),
        }
    }
}

/// What an account's cycle state may have resting on the exchange: a pair from its intent
/// until it ends (placing and in doubt included), a leftover sale while one is out.
pub fn footprint_of(state: &State) -> Option<Footprint> {
    match state {
        State::Placing { intent } | State::Unknown { intent } => {
            Some(Footprint::pair(intent.buy_price, intent.sell_price))
        }
        State::Working { pair } | State::Pending { pair } | State::Cancelling { pair, .. } => Some(
            Footprint::pair(pair.intent.buy_price, pair.intent.sell_price),
        ),
        State::Liquidating {
            sell: Some((s, _)), ..
        } => Some(Footprint::sale(s.price)),
        State::Liquidating { sell: None, .. }
        | State::Idle
        | State::DoneForToday
        | State::Stopped => None,
    }
}

/// Whether two accounts' footprints on one token could trade with each other: a buy at or
/// above the other's sell.
pub fn crosses(a: Footprint, b: Footprint) -> bool {
    let meets = |buy: Option<Decimal>, sell: Option<Decimal>| match (buy, sell) {
        (Some(buy), Some(sell)) => buy >= sell,
        _ => false,
    };
    meets(a.buy, b.sell) || meets(b.buy, a.sell)
}

/// Whether a new pair may be placed beside the other accounts' footprints on its token.
pub fn may_place(ours: Footprint, others: impl IntoIterator<Item = Footprint>) -> bool {
    others.into_iter().all(|o| !crosses(ours, o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_buy_at_or_above_anothers_sell_crosses() {
        let resting_sell = Footprint::pair(d("1.000"), d("1.005"));
        // Buy at the last price, sell 0.5 % above: two such pairs never meet.
        assert!(!crosses(
            Footprint::pair(d("1.001"), d("1.006")),
            resting_sell
        ));
        // A buy 0.5 % above the last price reaches the other's sell.
        assert!(crosses(
            Footprint::pair(d("1.005"), d("0.995")),
            resting_sell
        ));
        // A sell below the other's buy is taken by it.
        assert!(crosses(Footprint::pair(d("0.9"), d("0.999")), resting_sell));
        // A leftover sale has no buy, but its sell meets the other's buy.
        assert!(crosses(Footprint::sale(d("0.99")), resting_sell));
        assert!(!crosses(Footprint::sale(d("1.01")), resting_sell));
        assert!(may_place(resting_sell, []));
        assert!(!may_place(resting_sell, [Footprint::sale(d("0.5"))]));
    }

    proptest! {
        /// Two footprints that pass the rule have no buy at or above the other's sell: no price
        /// at which they could trade with each other.
        #[test]
        fn footprints_that_pass_never_share_a_price(
            b1 in 1_i64..1000, s1 in 1_i64..1000, b2 in 1_i64..1000, s2 in 1_i64..1000,
        ) {
            let a = Footprint::pair(Decimal::new(b1, 3), Decimal::new(s1, 3));
            let b = Footprint::pair(Decimal::new(b2, 3), Decimal::new(s2, 3));
            prop_assert_eq!(crosses(a, b), crosses(b, a));
            if may_place(a, [b]) {
                prop_assert!(Decimal::new(b1, 3) < Decimal::new(s2, 3));
                prop_assert!(Decimal::new(b2, 3) < Decimal::new(s1, 3));
            }
        }
    }
}
