//! Auction matching (`--matching auction:MS`), as Binance's FAQ for Alpha 2.0 limit orders
//! describes it (December 2025): orders collect, and every MS milliseconds each token's orders
//! match at one uniform price; the fills of one auction are reported together.
//!
//! Self-trade prevention "RETAIN" (the FAQ's "STP for Binance Alpha 2.0 Limit Order"): before
//! matching, each user's eligible bids and asks on a token are netted; only the net quantity
//! (on the larger side) enters the match, and the netted-off quantity stays on the book for the
//! next auction. The net goes to the larger side's orders oldest first.
//!
//! The price: in the market mode it is the walk's price (the market's own liquidity sits
//! there, so every order priced at or through it trades). With `--fill-at-once` (the market
//! meets every order) it is the price that lets the most due orders trade, the one nearest
//! the walk's price among equals; orders left out wait for a later auction. Either way a buy
//! never pays more than its limit and a sell never gets less.

use std::collections::{BTreeMap, HashSet};

use rust_decimal::Decimal;

use super::*;

/// An order as an auction sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuctionOrder {
    pub id: u64,
    pub account: u64,
    pub side: Side,
    pub price: Decimal,
    /// What may still trade in this auction.
    pub left: Decimal,
    /// Time priority: (placed, id).
    pub since: (i64, u64),
}

fn eligible(e: &AuctionOrder, price: Decimal) -> bool {
    match e.side {
        Side::Buy => e.price >= price,
        Side::Sell => e.price <= price,
    }
}

/// The uniform price that lets the most orders trade; among equals the one nearest `walk`,
/// then the lower. `None` for no orders.
pub fn clearing_price(entries: &[AuctionOrder], walk: Decimal) -> Option<Decimal> {
    let mut buys: Vec<Decimal> = entries
        .iter()
        .filter(|e| e.side == Side::Buy)
        .map(|e| e.price)
        .collect();
    let mut sells: Vec<Decimal> = entries
        .iter()
        .filter(|e| e.side == Side::Sell)
        .map(|e| e.price)
        .collect();
    buys.sort_unstable();
    sells.sort_unstable();
    let count = |p: Decimal| {
        let buys_at = buys.len() - buys.partition_point(|b| *b < p);
        let sells_at = sells.partition_point(|s| *s <= p);
        buys_at + sells_at
    };
    let candidates = buys
        .iter()
        .chain(sells.iter())
        .copied()
        .chain(std::iter::once(walk));
    candidates
        .map(|p| (count(p), p))
        .max_by(|(n1, p1), (n2, p2)| {
            n1.cmp(n2)
                .then_with(|| (*p2 - walk).abs().cmp(&(*p1 - walk).abs()))
                .then_with(|| p2.cmp(p1))
        })
        .filter(|(n, _)| *n > 0)
        .map(|(_, p)| p)
}

/// What trades at `price`: each account's eligible orders netted (RETAIN), the net on the
/// larger side given to its orders oldest first. (order id, quantity), in time priority.
pub fn netted_fills(entries: &[AuctionOrder], price: Decimal) -> Vec<(u64, Decimal)> {
    let mut by_account: BTreeMap<u64, Vec<&AuctionOrder>> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| eligible(e, price) && e.left > Decimal::ZERO)
    {
        by_account.entry(e.account).or_default().push(e);
    }
    let mut fills = Vec::new();
    for (_, mut orders) in by_account {
        let side_total = |side: Side| -> Decimal {
            orders
                .iter()
                .filter(|e| e.side == side)
                .map(|e| e.left)
                .sum()
        };
        let (bids, asks) = (side_total(Side::Buy), side_total(Side::Sell));
        let (side, mut net) = if bids >= asks {
            (Side::Buy, bids - asks)
        } else {
            (Side::Sell, asks - bids)
        };
        orders.retain(|e| e.side == side);
        orders.sort_by_key(|e| e.since);
        for e in orders {
            if net <= Decimal::ZERO {
                break;
            }
            let qty = e.left.min(net);
            net -= qty;
            fills.push((e.since, e.id, qty));
        }
    }
    fills.sort_unstable_by_key(|(since, _, _)| *since);
    fills.into_iter().map(|(_, id, qty)| (id, qty)).collect()
}

impl Engine {
    /// One auction on every token: what is eligible trades at the token's uniform price.
    pub fn auction(&mut self, now: i64) {
        if self.cfg.matching == Matching::Continuous {
            return;
        }
        // Held pending legs whose time came join this auction; the rest sit it out.
        while self.due.first().is_some_and(|(at, _)| *at <= now) {
            self.due.pop_first();
        }
        let held: HashSet<u64> = self.due.iter().map(|(_, id)| *id).collect();
        for t in 0..self.tokens.len() {
            self.auction_of(t, &held, now);
        }
    }

    fn auction_of(&mut self, t: usize, held: &HashSet<u64>, now: i64) {
        let (alpha, walk, step) = (
            self.tokens[t].alpha_id.clone(),
            self.tokens[t].bid(),
            self.tokens[t].precision.step_size,
        );
        let entries: Vec<AuctionOrder> = self
            .open
            .values()
            .flatten()
            .filter(|id| !held.contains(id))
            .filter_map(|id| self.orders.get(id))
            .filter(|o| {
                o.alpha_id == alpha
                    && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
            })
            .filter_map(|o| {
                let quirks = self.accounts.get(&o.account);
                let mut left = o.orig_qty - o.executed_qty;
                match o.side {
                    Side::Sell if quirks.is_some_and(|a| a.hold_sells) => return None,
                    Side::Buy if quirks.is_some_and(|a| a.half_fill_buys) => {
                        left = left.min(floor_to(o.orig_qty / Decimal::TWO, step) - o.executed_qty);
                    }
                    _ => {}
                }
                Some(AuctionOrder {
                    id: o.id,
                    account: o.account,
                    side: o.side,
                    price: o.price,
                    left,
                    since: (o.created_ms, o.id),
                })
            })
            .collect();
        let price = match self.cfg.fill {
            FillMode::Market => Some(walk),
            FillMode::AtOnce { .. } => clearing_price(&entries, walk),
        };
        let Some(price) = price else {
            return;
        };
        let fills = netted_fills(&entries, price);
        self.flag_crossed_accounts(&entries, &fills, price, now);
        let mut total = Decimal::ZERO;
        for (id, qty) in fills {
            let trade_id = self.tokens[t].next_trade_id;
            self.tokens[t].next_trade_id += 1;
            self.fill_piece(id, price, qty, trade_id, true, true, None, now);
            total += qty;
        }
        if total > Decimal::ZERO {
            // The auction's trade, printed once at its price; with the market meeting every
            // order the market trades back at the walk's price (see `fill`).
            self.print(t, price, total, now);
            if self.cfg.fill != FillMode::Market {
                self.trade_print(t, now);
            }
        }
    }

    /// Buys of one account and sells of another in one auction traded with each other (every
    /// matched buy is the counterparty of every matched sell): a `cross_account_match`.
    fn flag_crossed_accounts(
        &mut self,
        entries: &[AuctionOrder],
        fills: &[(u64, Decimal)],
        price: Decimal,
        now: i64,
    ) {
        let side_of = |id: u64| {
            entries
                .iter()
                .find(|e| e.id == id)
                .map(|e| (e.account, e.side))
        };
        let buyers: Vec<u64> = fills
            .iter()
            .filter_map(|(id, _)| side_of(*id))
            .filter(|(_, s)| *s == Side::Buy)
            .map(|(a, _)| a)
            .collect();
        let sellers: Vec<u64> = fills
            .iter()
            .filter_map(|(id, _)| side_of(*id))
            .filter(|(_, s)| *s == Side::Sell)
            .map(|(a, _)| a)
            .collect();
        let Some((&buyer, &seller)) = buyers
            .iter()
            .flat_map(|b| sellers.iter().map(move |s| (b, s)))
            .find(|(b, s)| b != s)
        else {
            return;
        };
        self.violations.push(Violation {
            kind: "cross_account_match",
            account: buyer,
            detail: format!(
                "account {buyer} bought and account {seller} sold in one auction at {price}"
            ),
            at_ms: now,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(id: u64, account: u64, side: Side, price: i64, left: i64) -> AuctionOrder {
        AuctionOrder {
            id,
            account,
            side,
            price: Decimal::from(price),
            left: Decimal::from(left),
            since: (id as i64, id),
        }
    }

    #[test]
    fn an_accounts_crossing_orders_trade_only_their_net_the_rest_is_retained() {
        // The FAQ's rule: |eligible bids − eligible asks| on the larger side.
        let entries = [
            e(1, 7, Side::Buy, 101, 5),
            e(2, 7, Side::Sell, 99, 3),
            e(3, 7, Side::Buy, 102, 4),
            e(4, 8, Side::Sell, 98, 6),
            e(5, 8, Side::Buy, 97, 9), // not eligible at 100
        ];
        let fills = netted_fills(&entries, Decimal::from(100));
        // Account 7: bids 9, asks 3: 6 bought, oldest first (5 of order 1, then 1 of order 3).
        // Account 8: only its sell is eligible: 6 sold.
        assert_eq!(
            fills,
            vec![
                (1, Decimal::from(5)),
                (3, Decimal::from(1)),
                (4, Decimal::from(6)),
            ]
        );
    }

    #[test]
    fn the_clearing_price_trades_the_most_orders_nearest_the_walk() {
        let entries = [
            e(1, 1, Side::Buy, 100, 1),
            e(2, 2, Side::Buy, 100, 1),
            e(3, 3, Side::Sell, 105, 1),
        ];
        // At 100 both buys trade; at 105 only the sell.
        assert_eq!(
            clearing_price(&entries, Decimal::from(103)),
            Some(Decimal::from(100))
        );
        let one_each = [e(1, 1, Side::Buy, 100, 1), e(3, 3, Side::Sell, 105, 1)];
        assert_eq!(
            clearing_price(&one_each, Decimal::from(104)),
            Some(Decimal::from(105))
        );
        assert_eq!(
            clearing_price(&one_each, Decimal::from(101)),
            Some(Decimal::from(100))
        );
        // A walk between a sell below and a buy above serves both at the walk's price.
        let crossing = [e(1, 1, Side::Buy, 103, 1), e(3, 3, Side::Sell, 99, 1)];
        assert_eq!(
            clearing_price(&crossing, Decimal::from(101)),
            Some(Decimal::from(101))
        );
        assert_eq!(clearing_price(&[], Decimal::from(101)), None);
    }

    fn entry() -> impl Strategy<Value = AuctionOrder> {
        (1u64..6, any::<bool>(), 90i64..110, 1i64..20, 0i64..50).prop_map(
            |(account, buy, price, left, since)| AuctionOrder {
                id: 0,
                account,
                side: if buy { Side::Buy } else { Side::Sell },
                price: Decimal::from(price),
                left: Decimal::from(left),
                since: (since, 0),
            },
        )
    }

    proptest! {
        /// Whatever the book: only eligible orders trade, none past what it has left, each
        /// account on one side only, by exactly its net.
        #[test]
        fn an_auction_keeps_limits_and_nets_each_account(
            mut entries in proptest::collection::vec(entry(), 0..30),
            walk in 90i64..110,
            at_once in any::<bool>(),
        ) {
            for (i, en) in entries.iter_mut().enumerate() {
                en.id = i as u64;
                en.since.1 = i as u64;
            }
            let walk = Decimal::from(walk);
            let price = if at_once { clearing_price(&entries, walk) } else { Some(walk) };
            let Some(price) = price else {
                prop_assert!(entries.is_empty());
                return Ok(());
            };
            let fills = netted_fills(&entries, price);
            let mut per_account: BTreeMap<u64, (Decimal, HashSet<bool>)> = BTreeMap::new();
            for (id, qty) in &fills {
                let en = &entries[*id as usize];
                prop_assert!(eligible(en, price), "{en:?} at {price}");
                prop_assert!(*qty > Decimal::ZERO && *qty <= en.left);
                let slot = per_account.entry(en.account).or_default();
                slot.0 += qty;
                slot.1.insert(en.side == Side::Buy);
            }
            for (account, (qty, sides)) in per_account {
                prop_assert_eq!(sides.len(), 1, "account {} on both sides", account);
                let total = |side: Side| -> Decimal {
                    entries.iter().filter(|en| en.account == account && en.side == side && eligible(en, price)).map(|en| en.left).sum()
                };
                prop_assert_eq!(qty, (total(Side::Buy) - total(Side::Sell)).abs());
            }
        }
    }
}
