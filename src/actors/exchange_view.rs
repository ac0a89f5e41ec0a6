//! Asking the exchange what became of our orders (B1): the live pair by its ids, an intent in
//! doubt by what it fixed (the place request carries no client id), and every order the store
//! still holds open. The answers are turned into the machine's own events, so the same code
//! that follows the stream also follows a reconciliation.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;

use crate::domain::cycle::{Found, LegStatus, OrderUpdate};
use crate::domain::reconcile::{
    ExchangeOrder, IntentMatch, IntentView, Position, Window, find_intent,
};
use crate::exchange::error::ExchangeError;
use crate::exchange::rest::{HistoryQuery, RestClient};
use crate::market::{OrderStatus, Side};
use crate::store::models::OrderRow;

/// One order as the exchange reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub order: ExchangeOrder,
    pub status: OrderStatus,
    pub cum_qty: Decimal,
    pub cum_quote: Decimal,
}

impl Seen {
    pub fn update(&self) -> OrderUpdate {
        OrderUpdate {
            order_id: self.order.order_id.clone(),
            status: leg_status(self.status),
            orig_qty: self.order.orig_qty,
            cum_qty: self.cum_qty,
            cum_quote: self.cum_quote,
        }
    }
}

pub fn leg_status(s: OrderStatus) -> LegStatus {
    match s {
        OrderStatus::New | OrderStatus::Pending => LegStatus::Open,
        OrderStatus::PartiallyFilled => LegStatus::PartiallyFilled,
        OrderStatus::Filled => LegStatus::Filled,
        OrderStatus::Canceled | OrderStatus::Expired | OrderStatus::Rejected => LegStatus::Dead,
    }
}

/// The exchange's view of the account's orders since `since_ms`: open orders and history,
/// merged by id (an open order's state wins: it is the newer).
pub async fn snapshot(
    rest: &RestClient,
    since_ms: i64,
    now_ms: i64,
) -> Result<HashMap<String, Seen>, ExchangeError> {
    let mut all = HashMap::new();
    history(rest, since_ms, now_ms, &mut all, |_| false).await?;
    merge_open(rest, &mut all).await?;
    Ok(all)
}

/// What the exchange says of the orders `ids`, placed at `since_ms` or later. Open orders are
/// asked first: one short answer that is all a pair in flight needs. History, which grows with
/// every cycle of the day, is read only for an id that is not open any more, and only until
/// every id is found.
pub async fn by_ids(
    rest: &RestClient,
    ids: &[String],
    since_ms: i64,
    now_ms: i64,
) -> Result<HashMap<String, Seen>, ExchangeError> {
    let mut all = HashMap::new();
    merge_open(rest, &mut all).await?;
    all.retain(|id, _| ids.contains(id));
    if ids.iter().all(|id| all.contains_key(id)) {
        return Ok(all);
    }
    let mut found = HashMap::new();
    history(rest, since_ms, now_ms, &mut found, |seen| {
        ids.iter().all(|id| seen.contains_key(id))
    })
    .await?;
    for id in ids {
        // As in a snapshot, an open order's state wins: history may lag behind it.
        if let Some(s) = found.remove(id) {
            all.entry(id.clone()).or_insert(s);
        }
    }
    Ok(all)
}

/// Reads history pages from `since_ms` into `all` until the last page or until `enough`.
async fn history(
    rest: &RestClient,
    since_ms: i64,
    now_ms: i64,
    all: &mut HashMap<String, Seen>,
    enough: impl Fn(&HashMap<String, Seen>) -> bool,
) -> Result<(), ExchangeError> {
    for page in 1..=20u32 {
        let (rows, total) = rest
            .order_history(&HistoryQuery {
                start_ms: Some(since_ms),
                end_ms: Some(now_ms + 60_000),
                page,
                rows: 100,
                ..HistoryQuery::default()
            })
            .await?;
        let n = rows.len();
        for h in rows {
            let position = match h.order_list_id.as_deref() {
                Some(id) if id != "-1" => {
                    if h.side == Side::Buy {
                        Position::Working
                    } else {
                        Position::Pending
                    }
                }
                _ => Position::None,
            };
            all.insert(
                h.order_id.clone(),
                Seen {
                    order: ExchangeOrder {
                        order_id: h.order_id,
                        list_id: h.order_list_id,
                        order_symbol: h.symbol,
                        is_buy: h.side == Side::Buy,
                        price: h.price,
                        orig_qty: h.orig_qty,
                        time_ms: h.time.or(h.update_time).unwrap_or(now_ms),
                        position,
                    },
                    status: h.status,
                    cum_qty: h.executed_qty,
                    cum_quote: h.cum_quote,
                },
            );
        }
        let seen_rows = u64::from(page) * 100;
        if n < 100 || total.is_some_and(|t| t <= seen_rows) || enough(all) {
            break;
        }
    }
    Ok(())
}

/// Puts the open orders into `all`, over what history said of them (an open order's state is
/// the newer), keeping the list and position that history knew.
async fn merge_open(
    rest: &RestClient,
    all: &mut HashMap<String, Seen>,
) -> Result<(), ExchangeError> {
    for o in rest.open_orders(None).await? {
        let list_id = all.get(&o.order_id).and_then(|s| s.order.list_id.clone());
        let position = all
            .get(&o.order_id)
            .map(|s| s.order.position)
            .unwrap_or(Position::None);
        all.insert(
            o.order_id.clone(),
            Seen {
                order: ExchangeOrder {
                    order_id: o.order_id,
                    list_id,
                    order_symbol: o.symbol,
                    is_buy: o.side == Side::Buy,
                    price: o.price,
                    orig_qty: o.orig_qty,
                    time_ms: o.time,
                    position,
                },
                status: o.status,
                cum_qty: o.executed_qty,
                cum_quote: o.cum_quote,
            },
        );
    }
    Ok(())
}

/// What a reconciliation of the pair in doubt concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Found(Found),
    /// Not visible yet; ask again shortly.
    NotYet,
}

/// Settles a pair in doubt: by its ids when the store has them, else by what the intent fixed.
pub fn judge(
    intent: &IntentView,
    ids: Option<(&str, &str)>,
    seen: &HashMap<String, Seen>,
    adopted: &HashSet<String>,
    window: Window,
    now_ms: i64,
) -> Verdict {
    if let Some((working, pending)) = ids {
        return match seen.get(working) {
            Some(w) => Verdict::Found(Found::Pair {
                working: w.update(),
                pending: seen.get(pending).map(Seen::update),
            }),
            // The store knows the ids, so the pair was placed: the exchange must show it.
            None => Verdict::NotYet,
        };
    }
    let orders: Vec<ExchangeOrder> = seen.values().map(|s| s.order.clone()).collect();
    match find_intent(intent, &orders, adopted, window, now_ms) {
        IntentMatch::Placed {
            working_id,
            pending_id,
        } => match seen.get(&working_id) {
            Some(w) => Verdict::Found(Found::Pair {
                working: w.update(),
                pending: pending_id.and_then(|p| seen.get(&p)).map(Seen::update),
            }),
            None => Verdict::NotYet,
        },
        IntentMatch::NotPlaced => Verdict::Found(Found::NotPlaced),
        IntentMatch::NotYet => Verdict::NotYet,
        IntentMatch::Ambiguous { .. } => Verdict::Found(Found::Ambiguous),
    }
}

/// Finds the order a single (non-OTO) intent may have created: same symbol, side, price and
/// quantity, stamped inside the window, not owned by anything else.
pub fn find_single<'a>(
    intent: &OrderRow,
    seen: &'a HashMap<String, Seen>,
    adopted: &HashSet<String>,
    window: Window,
) -> Vec<&'a Seen> {
    let sent = intent.created_at_ms;
    let is_buy = intent.side == Side::Buy;
    seen.values()
        .filter(|s| !adopted.contains(&s.order.order_id))
        .filter(|s| {
            s.order.order_symbol == intent.order_symbol
                && s.order.is_buy == is_buy
                && s.order.price == intent.price
                && s.order.orig_qty == intent.quantity
                && (sent - window.before_ms..=sent + window.after_ms).contains(&s.order.time_ms)
        })
        .collect()
}
