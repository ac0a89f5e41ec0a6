//! No trade between two managed accounts. The exchange's self-trade prevention only nets the
//! orders of one user; two of our accounts buying from and selling to each other on one token is
//! wash trading. An account's live pair may fill against another's only where their prices
//! cross, so a pair is not placed while it would cross any live order of another managed account
//! on the same token: it waits a moment (the next tick) for the other pair to end.

use rust_decimal::Decimal;

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

/// A wish not renewed for this long is forgotten (its account stopped trying).
pub const WISH_KEPT_MS: i64 = 5_000;
/// A wish this old holds back younger claims that cross it.
pub const WISH_PRIORITY_MS: i64 = 3_000;

/// The footprints of one token's accounts and the wishes of those held back. A claim is granted
/// when it crosses no other account's footprint and no older wish that has waited
/// `WISH_PRIORITY_MS`: accounts that do not cross each other trade together, and one held back
/// gets its turn once the pairs in its way end (without wishes, accounts whose pairs rest long
/// would starve the others for good; with strict first-come order, they would trade one at a
/// time).
#[derive(Debug, Clone, Default)]
pub struct Book {
    live: std::collections::HashMap<i64, Footprint>,
    /// Held-back accounts: their footprint, when they first asked, when they last asked.
    wishes: std::collections::HashMap<i64, (Footprint, i64, i64)>,
}

impl Book {
    /// Claims `footprint` for `account`; answers whether it was granted. A refused claim is
    /// kept as a wish.
    pub fn claim(&mut self, account: i64, footprint: Footprint, now_ms: i64) -> bool {
        self.wishes
            .retain(|_, (_, _, seen)| now_ms - *seen <= WISH_KEPT_MS);
        let since = self.wishes.get(&account).map_or(now_ms, |w| w.1);
        let live = self
            .live
            .iter()
            .filter(|(a, _)| **a != account)
            .map(|(_, f)| *f);
        let older_wish = self.wishes.iter().any(|(a, (f, at, _))| {
            *a != account
                && *at < since
                && now_ms - *at >= WISH_PRIORITY_MS
                && crosses(footprint, *f)
        });
        if !may_place(footprint, live) || older_wish {
            self.wishes.insert(account, (footprint, since, now_ms));
            return false;
        }
        self.wishes.remove(&account);
        self.live.insert(account, footprint);
        true
    }

    /// Sets what the account has (or may have) resting now, whatever it crosses (its cycle's
    /// state says); `None` when nothing.
    pub fn set(&mut self, account: i64, footprint: Option<Footprint>) {
        match footprint {
            Some(f) => {
                self.live.insert(account, f);
            }
            None => {
                self.live.remove(&account);
            }
        }
    }

    /// Granted without any check (the guard switched off).
    pub fn force(&mut self, account: i64, footprint: Footprint) {
        self.live.insert(account, footprint);
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty() && self.wishes.is_empty()
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

    fn pair_of(buy: i64, sell: i64) -> Footprint {
        Footprint::pair(Decimal::from(buy), Decimal::from(sell))
    }

    #[test]
    fn a_held_back_account_gets_its_turn_before_younger_crossing_pairs() {
        let mut b = Book::default();
        let (maker, maker2, maker3, taker) = (1, 2, 3, 4);
        assert!(b.claim(maker, pair_of(100, 102), 0));
        // The taker's buy reaches the maker's sell: held back, with a wish.
        assert!(!b.claim(taker, pair_of(105, 99), 10));
        // A young wish does not hold back pairs that cross no live one.
        assert!(b.claim(maker2, pair_of(100, 102), 20));
        // Once it has waited long enough, younger crossing pairs wait behind it.
        assert!(!b.claim(taker, pair_of(105, 99), 3_010));
        assert!(!b.claim(maker3, pair_of(100, 102), 3_020));
        b.set(maker, None);
        b.set(maker2, None);
        assert!(
            b.claim(taker, pair_of(105, 99), 3_030),
            "the older wish goes first"
        );
        assert!(!b.claim(maker3, pair_of(100, 102), 3_040));
        b.set(taker, None);
        assert!(b.claim(maker3, pair_of(100, 102), 3_050));
        // A pair that crosses nobody is never held back.
        assert!(b.claim(5, pair_of(99, 103), 3_060));
        // A wish not renewed is forgotten.
        assert!(!b.claim(6, pair_of(103, 98), 3_070));
        b.set(maker3, None);
        b.set(5, None);
        assert!(
            b.claim(7, pair_of(100, 101), 20_000),
            "the old wish expired"
        );
    }

    proptest! {
        /// Granted claims never cross another account's granted footprint: whatever the order
        /// of claims and ends, no two managed accounts can have crossing orders out.
        #[test]
        fn granted_footprints_never_cross(
            steps in proptest::collection::vec((0_i64..6, 90_i64..110, 90_i64..110, any::<bool>()), 1..200),
        ) {
            let mut b = Book::default();
            let mut granted: std::collections::HashMap<i64, Footprint> = Default::default();
            for (n, (account, buy, sell, end)) in steps.into_iter().enumerate() {
                let now = n as i64 * 100;
                if end {
                    b.set(account, None);
                    granted.remove(&account);
                    continue;
                }
                let f = pair_of(buy, sell);
                if b.claim(account, f, now) {
                    for (other, g) in &granted {
                        prop_assert!(*other == account || !crosses(f, *g), "{f:?} granted beside {g:?}");
                    }
                    granted.insert(account, f);
                }
            }
        }

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
