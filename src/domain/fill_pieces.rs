//! How a part of an order's execution becomes stored fills, each trade exactly once. A part is
//! the growth of the order's cumulative quantity the cycle counted (`Effect::RecordFill`). It
//! is stored as the trades that make it up: the one a report carried when the part is exactly
//! that trade, or else the exchange's trade list between the two cumulative quantities. When
//! neither shows the part yet it waits, and after many tries it is stored as one piece at its
//! average price, so no fill is ever lost.

use rust_decimal::Decimal;

/// Tries a waiting part gets before it is stored as one piece.
pub const ATTEMPTS: u32 = 50;

/// A trade's own details, from the report that carried it or from the trade list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeDetail {
    /// The order's cumulative quantity after this trade.
    pub cum_qty: Decimal,
    /// The trade's own quantity: a report stands for a part of an execution only when the
    /// part is exactly this trade (reordered reports make larger jumps in `cum_qty`).
    pub last_qty: Decimal,
    pub trade_id: String,
    pub price: Decimal,
    pub fee: Decimal,
    pub fee_asset: String,
    pub at_ms: i64,
}

/// One piece of an execution to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub detail: TradeDetail,
    pub qty: Decimal,
    pub quote: Decimal,
}

/// A row of the exchange's trade list for the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTrade {
    /// The exchange's numeric id (orders trades of one millisecond); None when not a number.
    pub seq: Option<u64>,
    /// The row's `pageId`, which grows with each row: one trade of the exchange can be listed
    /// as several rows of one time and one id (the captured list shows it), newest first, so
    /// only this orders them.
    pub page: Option<u64>,
    pub trade_id: String,
    pub qty: Decimal,
    pub quote: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    pub fee_asset: String,
    pub at_ms: i64,
}

/// The piece a report carried, when the part from `before` of `qty` is exactly that trade.
pub fn from_reports(
    details: &[TradeDetail],
    before: Decimal,
    qty: Decimal,
    quote: Decimal,
) -> Option<Piece> {
    let cum_qty = before + qty;
    details
        .iter()
        .find(|d| d.cum_qty == cum_qty && d.last_qty == qty)
        .map(|d| Piece {
            detail: d.clone(),
            qty,
            quote,
        })
}

/// The trades of the list that take the order's cumulative quantity from `before` to
/// `before + qty`, in the exchange's order; None unless they make up the part exactly (the
/// list may not show the last trades yet).
pub fn from_trade_list(
    mut trades: Vec<ListedTrade>,
    before: Decimal,
    qty: Decimal,
) -> Option<Vec<Piece>> {
    trades.sort_by_key(|t| {
        (
            t.at_ms,
            t.seq.unwrap_or(u64::MAX),
            t.page.unwrap_or(u64::MAX),
        )
    });
    let to = before + qty;
    let mut cum = Decimal::ZERO;
    let mut out = Vec::new();
    for t in trades {
        cum += t.qty;
        if cum > before && cum <= to {
            out.push(Piece {
                detail: TradeDetail {
                    cum_qty: cum,
                    last_qty: t.qty,
                    trade_id: t.trade_id,
                    price: t.price,
                    fee: t.fee,
                    fee_asset: t.fee_asset,
                    at_ms: t.at_ms,
                },
                qty: t.qty,
                quote: t.quote,
            });
        }
    }
    (out.iter().map(|p| p.qty).sum::<Decimal>() == qty).then_some(out)
}

/// A part the exchange never showed in pieces, stored as one at its average price, under an
/// id that says so.
pub fn one_piece(before: Decimal, qty: Decimal, quote: Decimal, now_ms: i64) -> Piece {
    let cum_qty = before + qty;
    Piece {
        detail: TradeDetail {
            cum_qty,
            last_qty: qty,
            trade_id: format!("reconciled-{cum_qty}"),
            price: if qty.is_zero() {
                Decimal::ZERO
            } else {
                (quote / qty).round_dp(8)
            },
            fee: Decimal::ZERO,
            fee_asset: String::new(),
            at_ms: now_ms,
        },
        qty,
        quote,
    }
}

/// Whether a part that waited `attempts` tries is stored as one piece now.
pub fn give_up(attempts: u32) -> bool {
    attempts >= ATTEMPTS
}

/// A trade's fee in USDT: a fee in the token is worth its quantity at the trade's price.
pub fn fee_usdt(d: &TradeDetail) -> Decimal {
    if d.fee_asset.eq_ignore_ascii_case("USDT") || d.fee_asset.is_empty() {
        d.fee
    } else {
        d.fee * d.price
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn trade(seq: u64, qty: &str, at_ms: i64) -> ListedTrade {
        ListedTrade {
            seq: Some(seq),
            page: None,
            trade_id: format!("t{seq}"),
            qty: d(qty),
            quote: d(qty) / d("4"),
            price: d("0.25"),
            fee: Decimal::ZERO,
            fee_asset: "USDT".into(),
            at_ms,
        }
    }

    #[test]
    fn a_report_stands_for_a_part_only_when_the_part_is_exactly_its_trade() {
        let details = vec![TradeDetail {
            cum_qty: d("30"),
            last_qty: d("10"),
            trade_id: "t2".into(),
            price: d("0.25"),
            fee: d("0.001"),
            fee_asset: "USDT".into(),
            at_ms: 5,
        }];
        let p = from_reports(&details, d("20"), d("10"), d("2.5")).unwrap();
        assert_eq!((p.detail.trade_id.as_str(), p.qty), ("t2", d("10")));
        // A jump over two trades (a report lost or reordered) is not that trade.
        assert_eq!(from_reports(&details, d("10"), d("20"), d("5")), None);
    }

    #[test]
    fn the_trade_list_gives_the_part_in_the_exchanges_order_or_nothing() {
        // Listed out of order; two trades in one millisecond ordered by their ids.
        let list = vec![trade(3, "15", 20), trade(1, "10", 10), trade(2, "5", 20)];
        let pieces = from_trade_list(list.clone(), d("10"), d("20")).unwrap();
        let ids: Vec<&str> = pieces.iter().map(|p| p.detail.trade_id.as_str()).collect();
        assert_eq!(ids, ["t2", "t3"]);
        assert_eq!(pieces[1].detail.cum_qty, d("30"));
        // The list does not show the whole part yet: nothing, the part waits.
        assert_eq!(from_trade_list(list, d("10"), d("25")), None);
    }

    #[test]
    fn rows_of_one_trade_listed_newest_first_are_taken_in_the_order_of_their_pages() {
        // The captured list (`cap-user-trades-1`): one order, two rows of trade 163778 at the
        // same millisecond, the newer (`lastTrade`, the higher pageId) first.
        let row = |qty: &str, page: u64| ListedTrade {
            seq: Some(163_778),
            page: Some(page),
            trade_id: "163778".into(),
            qty: d(qty),
            quote: Decimal::ZERO,
            price: d("0.000005619"),
            fee: Decimal::ZERO,
            fee_asset: "USDT".into(),
            at_ms: 1_779_369_064_032,
        };
        let list = vec![
            row("485278.90", 59_177_352_871),
            row("1305693.70", 59_177_352_869),
        ];
        // The first report's part is the older row; the second's the newer.
        let first = from_trade_list(list.clone(), Decimal::ZERO, d("1305693.70")).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].detail.cum_qty, d("1305693.70"));
        let second = from_trade_list(list, d("1305693.70"), d("485278.90")).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(
            (second[0].qty, second[0].detail.cum_qty),
            (d("485278.90"), d("1790972.60"))
        );
    }

    #[test]
    fn a_part_never_shown_is_stored_as_one_piece_at_its_average_price_after_the_tries() {
        assert!(!give_up(ATTEMPTS - 1));
        assert!(give_up(ATTEMPTS));
        let p = one_piece(d("10"), d("3"), d("1"), 7);
        assert_eq!(p.detail.price, d("0.33333333"));
        assert_eq!(p.detail.trade_id, "reconciled-13");
        assert_eq!((p.qty, p.quote, p.detail.at_ms), (d("3"), d("1"), 7));
    }

    #[test]
    fn a_fee_in_the_token_counts_at_the_trades_price() {
        let mut t = from_reports(
            &[TradeDetail {
                cum_qty: d("1"),
                last_qty: d("1"),
                trade_id: "t".into(),
                price: d("2"),
                fee: d("0.5"),
                fee_asset: "ABC".into(),
                at_ms: 0,
            }],
            Decimal::ZERO,
            d("1"),
            d("2"),
        )
        .unwrap()
        .detail;
        assert_eq!(fee_usdt(&t), d("1"));
        t.fee_asset = "usdt".into();
        assert_eq!(fee_usdt(&t), d("0.5"));
    }

    proptest! {
        /// However an order's trades are split into parts, storing each part's pieces stores
        /// every trade exactly once.
        #[test]
        fn parts_of_any_size_store_each_trade_once(
            qtys in proptest::collection::vec(1_u32..50, 1..20),
            cuts in proptest::collection::vec(any::<bool>(), 20),
        ) {
            // Listed newest first, as the exchange does; pairs of rows share a trade id.
            let list: Vec<ListedTrade> = qtys
                .iter()
                .enumerate()
                .map(|(i, q)| ListedTrade {
                    seq: Some(i as u64 / 2),
                    page: Some(i as u64),
                    trade_id: format!("t{i}"),
                    ..trade(i as u64, &q.to_string(), i as i64 / 3)
                })
                .rev()
                .collect();
            let mut stored: Vec<String> = Vec::new();
            let mut before = Decimal::ZERO;
            let mut pending = Decimal::ZERO;
            for (i, q) in qtys.iter().enumerate() {
                pending += Decimal::from(*q);
                if cuts[i] || i + 1 == qtys.len() {
                    let pieces = from_trade_list(list.clone(), before, pending);
                    prop_assert!(pieces.is_some(), "a part on trade boundaries is found");
                    for p in pieces.unwrap_or_default() {
                        stored.push(p.detail.trade_id);
                    }
                    before += pending;
                    pending = Decimal::ZERO;
                }
            }
            let all: Vec<String> = (0..qtys.len()).map(|i| format!("t{i}")).collect();
            prop_assert_eq!(stored, all);
        }
    }
}
