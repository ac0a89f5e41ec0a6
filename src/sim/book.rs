//! A token's order book as the depth streams tell it: numbered changes of price levels, so a
//! client can start from a `fullDepth` snapshot (`lastUpdateId`) and apply `depthUpdate` frames
//! (`U`, `u`, `pu`) without a gap, as on the real exchange (PROTOCOL §7.3).
//!
//! The simulator's book is one level a side (the walk's bid and ask, see `tokens`), so a change
//! of price is two changes: the old level removed (quantity 0), the new one added.

use std::collections::{BTreeMap, VecDeque};

use rust_decimal::Decimal;

use crate::exchange::wire::market::Level;

/// How many changes a token keeps for its feeds. A feed reads them at least every second; the
/// book changes at most four times a trade, so this covers hundreds of trades between reads.
const KEPT: usize = 4096;

/// The quantity shown at each level: the book is deep (the simulator never runs out).
pub fn depth_qty() -> Decimal {
    Decimal::from(1_000_000_000_i64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BookSide {
    Bid,
    Ask,
}

#[derive(Debug, Clone)]
struct Change {
    id: u64,
    side: BookSide,
    level: Level,
    at_ms: i64,
}

/// The changes between two update ids, each level at its last quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// `U`: the first update id in it.
    pub first: u64,
    /// `u`: the last.
    pub last: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    /// When the last change in it happened (the frame's `T`).
    pub at_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct BookLog {
    /// The last update id given out.
    id: u64,
    bid: Option<Level>,
    ask: Option<Level>,
    changes: VecDeque<Change>,
}

impl BookLog {
    /// The last update id (a snapshot's `lastUpdateId`).
    pub fn last_id(&self) -> u64 {
        self.id
    }

    /// The book as it stands: (bids, asks).
    pub fn levels(&self) -> (Vec<Level>, Vec<Level>) {
        (
            self.bid.into_iter().collect(),
            self.ask.into_iter().collect(),
        )
    }

    /// Brings the book to the market's bid and ask, numbering each change.
    pub fn sync(&mut self, bid: Decimal, ask: Decimal, now: i64) {
        let qty = depth_qty();
        for (side, price) in [(BookSide::Bid, bid), (BookSide::Ask, ask)] {
            let slot = match side {
                BookSide::Bid => &mut self.bid,
                BookSide::Ask => &mut self.ask,
            };
            if slot.is_some_and(|l| l.price == price) {
                continue;
            }
            let old = slot.replace(Level { price, qty });
            if let Some(old) = old {
                self.push(
                    side,
                    Level {
                        qty: Decimal::ZERO,
                        ..old
                    },
                    now,
                );
            }
            self.push(side, Level { price, qty }, now);
        }
    }

    fn push(&mut self, side: BookSide, level: Level, at_ms: i64) {
        self.id += 1;
        self.changes.push_back(Change {
            id: self.id,
            side,
            level,
            at_ms,
        });
        if self.changes.len() > KEPT {
            self.changes.pop_front();
        }
    }

    /// What changed after update `after` (a feed's last `u`); `None` when nothing did.
    /// Were the changes after `after` dropped already (a feed silent for thousands of changes,
    /// which `KEPT` rules out at the feeds' intervals), the delta holds the book as it stands.
    pub fn since(&self, after: u64) -> Option<Delta> {
        if self.id <= after {
            return None;
        }
        let mut bids = BTreeMap::new();
        let mut asks = BTreeMap::new();
        let mut at_ms = 0;
        let complete = self.changes.front().is_some_and(|c| c.id <= after + 1);
        if complete {
            for c in self.changes.iter().filter(|c| c.id > after) {
                let map = match c.side {
                    BookSide::Bid => &mut bids,
                    BookSide::Ask => &mut asks,
                };
                map.insert(c.level.price, c.level.qty);
                at_ms = c.at_ms;
            }
        } else {
            bids.extend(self.bid.map(|l| (l.price, l.qty)));
            asks.extend(self.ask.map(|l| (l.price, l.qty)));
            at_ms = self.changes.back().map_or(0, |c| c.at_ms);
        }
        let level = |(price, qty)| Level { price, qty };
        Some(Delta {
            first: after + 1,
            last: self.id,
            // Bids best (highest) first, asks best (lowest) first.
            bids: bids.into_iter().rev().map(level).collect(),
            asks: asks.into_iter().map(level).collect(),
            at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// A client's book: a snapshot, then deltas applied as the exchange's docs say.
    fn apply(book: &mut BTreeMap<(bool, Decimal), Decimal>, delta: &Delta) {
        for (bid, levels) in [(true, &delta.bids), (false, &delta.asks)] {
            for l in levels {
                if l.qty.is_zero() {
                    book.remove(&(bid, l.price));
                } else {
                    book.insert((bid, l.price), l.qty);
                }
            }
        }
    }

    fn snapshot(log: &BookLog) -> BTreeMap<(bool, Decimal), Decimal> {
        let (bids, asks) = log.levels();
        bids.iter()
            .map(|l| ((true, l.price), l.qty))
            .chain(asks.iter().map(|l| ((false, l.price), l.qty)))
            .collect()
    }

    #[test]
    fn a_move_of_price_removes_the_old_level_and_adds_the_new() {
        let mut log = BookLog::default();
        log.sync(d("1.00"), d("1.01"), 10);
        let start = log.last_id();
        assert_eq!(start, 2);
        log.sync(d("1.01"), d("1.02"), 20);
        let delta = log.since(start).unwrap();
        assert_eq!((delta.first, delta.last, delta.at_ms), (3, 6, 20));
        assert_eq!(
            delta.bids,
            vec![
                Level {
                    price: d("1.01"),
                    qty: depth_qty()
                },
                Level {
                    price: d("1.00"),
                    qty: Decimal::ZERO
                },
            ]
        );
        assert_eq!(
            delta.asks,
            vec![
                Level {
                    price: d("1.01"),
                    qty: Decimal::ZERO
                },
                Level {
                    price: d("1.02"),
                    qty: depth_qty()
                },
            ]
        );
        assert_eq!(log.since(log.last_id()), None, "nothing new");
        log.sync(d("1.01"), d("1.02"), 30);
        assert_eq!(log.since(6), None, "an unchanged market changes nothing");
    }

    proptest! {
        /// A client that takes a snapshot at any moment and then applies every later delta
        /// (from feeds reading at any moments) holds the book as it stands, and the deltas
        /// chain: each `U` is the previous `u` + 1.
        #[test]
        fn snapshot_then_deltas_is_the_book(
            moves in proptest::collection::vec((0i64..20, any::<bool>()), 1..60),
            snap_at in 0usize..60,
        ) {
            let mut log = BookLog::default();
            let mut client = None;
            let mut feed_u = 0;
            let mut price = 100i64;
            for (i, (step, read)) in moves.iter().enumerate() {
                price = (price + step - 10).max(1);
                let bid = Decimal::new(price, 2);
                log.sync(bid, bid + d("0.01"), i as i64);
                if i == snap_at.min(moves.len() - 1) {
                    client = Some((snapshot(&log), log.last_id()));
                }
                if (*read || i == moves.len() - 1)
                    && let Some(delta) = log.since(feed_u)
                {
                    prop_assert_eq!(delta.first, feed_u + 1);
                    feed_u = delta.last;
                    // Binance's rule: drop deltas ending at or before the snapshot.
                    if let Some((book, from)) = client.as_mut()
                        && delta.last > *from
                    {
                        prop_assert!(delta.first <= *from + 1);
                        apply(book, &delta);
                        *from = delta.last;
                    }
                }
            }
            let (book, _) = client.unwrap();
            prop_assert_eq!(book, snapshot(&log));
        }
    }
}
