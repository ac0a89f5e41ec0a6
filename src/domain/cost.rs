//! Today's cost as an account shows it. Realised cost is money out minus money in plus fees,
//! which is a cost only once a pair is closed: while a pair is open its bought tokens are not
//! yet sold, and counting their price as lost showed nearly 10,000 bps mid-pair. So the figure
//! is taken when no pair is open and held while one is; the open pair shows as exposure.

use rust_decimal::Decimal;

/// The cost shown: the figure taken the last time the account was at rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShownCost {
    settled: Option<Decimal>,
}

impl ShownCost {
    /// The cost in bps to show now. `at_rest`: no pair open and nothing of the last one
    /// waiting to be heard; `current` is today's figure from every fill so far.
    pub fn update(&mut self, at_rest: bool, current: Option<Decimal>) -> Option<Decimal> {
        if at_rest {
            self.settled = current;
        }
        self.settled
    }

    /// A pair just closed. An account that trades without pause is never at rest when it is
    /// shown (the next pair starts in the same step), so the figure is also taken here, when
    /// the closed pair left no tokens (it filled both ways, or bought nothing) and none of its
    /// fills waits to be written.
    pub fn pair_closed(
        &mut self,
        left_tokens: bool,
        writes_waiting: bool,
        current: Option<Decimal>,
    ) -> Option<Decimal> {
        self.update(!left_tokens && !writes_waiting, current)
    }

    /// A new day starts with nothing realised.
    pub fn reset(&mut self) {
        self.settled = None;
    }
}

/// The open pair's exposure in USDT: its tokens bought and not yet sold, at the buy price.
pub fn exposure(bought: Decimal, sold: Decimal, buy_price: Decimal) -> Decimal {
    (bought - sold)
        .max(Decimal::ZERO)
        .checked_mul(buy_price)
        .unwrap_or(Decimal::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_pair_in_the_middle_shows_the_last_settled_cost_and_its_exposure() {
        let mut shown = ShownCost::default();
        assert_eq!(shown.update(true, None), None);
        // The first buy filled, the sell rests: realised from all fills would be ~10,000 bps.
        assert_eq!(shown.update(false, Some(d("9990.01"))), None);
        assert_eq!(exposure(d("100"), d("0"), d("0.1")), d("10"));
        // The pair closed: the figure is taken.
        assert_eq!(shown.update(true, Some(d("6.83"))), Some(d("6.83")));
        assert_eq!(shown.update(false, Some(d("5000"))), Some(d("6.83")));
        assert_eq!(exposure(d("100"), d("40"), d("0.1")), d("6"));
        assert_eq!(exposure(d("100"), d("100"), d("0.1")), d("0"));
        shown.reset();
        assert_eq!(shown.update(false, Some(d("1"))), None);
    }

    #[test]
    fn a_busy_account_takes_the_figure_when_a_pair_closes_clean() {
        let mut shown = ShownCost::default();
        assert_eq!(
            shown.pair_closed(false, false, Some(d("-4.5"))),
            Some(d("-4.5"))
        );
        // A timed-out pair left tokens to sell: not a cost yet.
        assert_eq!(
            shown.pair_closed(true, false, Some(d("900"))),
            Some(d("-4.5"))
        );
        // A fill still waiting to be written: the count is short.
        assert_eq!(
            shown.pair_closed(false, true, Some(d("-1"))),
            Some(d("-4.5"))
        );
        assert_eq!(
            shown.pair_closed(false, false, Some(d("-9"))),
            Some(d("-9"))
        );
    }

    proptest! {
        /// Whatever the figures mid-pair, what is shown is always one taken at rest.
        #[test]
        fn only_figures_taken_at_rest_are_shown(steps in proptest::collection::vec((any::<bool>(), 0u32..20_000), 1..50)) {
            let mut shown = ShownCost::default();
            let mut at_rest_seen: Vec<Option<Decimal>> = vec![None];
            for (rest, bps) in steps {
                let figure = Some(Decimal::from(bps));
                let out = shown.update(rest, figure);
                if rest {
                    at_rest_seen.push(figure);
                    prop_assert_eq!(out, figure);
                }
                prop_assert!(at_rest_seen.contains(&out));
            }
        }
    }
}
