//! Resolving an intent whose place request had an unknown outcome (B1). The place request
//! carries no client id, so the exchange's orders are matched on what the intent fixed:
//! symbol, side, price, quantity, and a time window around the request. Only a unique match is
//! adopted; no match means "not placed" only once the window has closed; several matches are
//! for the operator.

use std::collections::HashSet;

use rust_decimal::Decimal;

/// What an OTO intent fixed before its request went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentView {
    pub order_symbol: String,
    pub buy_price: Decimal,
    pub sell_price: Decimal,
    pub quantity: Decimal,
    /// When the request was sent (ms).
    pub sent_ms: i64,
}

/// Position of an order within an OTO list, as history reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Working,
    Pending,
    None,
}

/// An order as the exchange reports it (open orders and history, already merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeOrder {
    pub order_id: String,
    pub list_id: Option<String>,
    pub order_symbol: String,
    pub is_buy: bool,
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub time_ms: i64,
    pub position: Position,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentMatch {
    /// Exactly one pair matches: adopt it.
    Placed {
        working_id: String,
        pending_id: Option<String>,
    },
    /// Nothing matches and the window has closed: the request was not carried out.
    NotPlaced,
    /// Nothing matches yet, but the exchange may still show the order: ask again later.
    NotYet,
    /// Several orders match: a person must decide.
    Ambiguous { candidates: Vec<String> },
}

/// How far around the send time an order may be stamped (clock skew and latency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub before_ms: i64,
    pub after_ms: i64,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            before_ms: 5_000,
            after_ms: 60_000,
        }
    }
}

/// Matches `intent` against the exchange's orders. `adopted` holds order ids already owned by
/// other intents or cycles, which can never match again. `now_ms` decides whether a miss is
/// final.
pub fn find_intent(
    intent: &IntentView,
    orders: &[ExchangeOrder],
    adopted: &HashSet<String>,
    window: Window,
    now_ms: i64,
) -> IntentMatch {
    let (from, to) = (
        intent.sent_ms - window.before_ms,
        intent.sent_ms + window.after_ms,
    );
    let working: Vec<&ExchangeOrder> = orders
        .iter()
        .filter(|o| !adopted.contains(&o.order_id))
        .filter(|o| o.is_buy && o.position != Position::Pending)
        .filter(|o| {
            o.order_symbol == intent.order_symbol
                && o.price == intent.buy_price
                && o.orig_qty == intent.quantity
        })
        .filter(|o| (from..=to).contains(&o.time_ms))
        .collect();
    match working.as_slice() {
        [] if now_ms > to => IntentMatch::NotPlaced,
        [] => IntentMatch::NotYet,
        [w] => {
            let pending = orders
                .iter()
                .filter(|o| {
                    !o.is_buy
                        && o.order_symbol == intent.order_symbol
                        && !adopted.contains(&o.order_id)
                })
                .find(|o| match (&w.list_id, &o.list_id) {
                    (Some(a), Some(b)) if a != "-1" => a == b && o.position == Position::Pending,
                    // Without list ids: the pending leg's id follows the working leg's.
                    _ => {
                        o.price == intent.sell_price
                            && next_id(&w.order_id).is_some_and(|n| n == o.order_id)
                    }
                })
                .map(|o| o.order_id.clone());
            IntentMatch::Placed {
                working_id: w.order_id.clone(),
                pending_id: pending,
            }
        }
        many => IntentMatch::Ambiguous {
            candidates: many.iter().map(|o| o.order_id.clone()).collect(),
        },
    }
}

fn next_id(id: &str) -> Option<String> {
    id.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_add(1))
        .map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn intent() -> IntentView {
        IntentView {
            order_symbol: "ALPHA_971USDT".into(),
            buy_price: d("0.000005619"),
            sell_price: d("0.0000058"),
            quantity: d("1779676"),
            sent_ms: 1_000_000,
        }
    }

    fn order(
        id: &str,
        list: Option<&str>,
        is_buy: bool,
        price: &str,
        qty: &str,
        at: i64,
        position: Position,
    ) -> ExchangeOrder {
        ExchangeOrder {
            order_id: id.into(),
            list_id: list.map(str::to_owned),
            order_symbol: "ALPHA_971USDT".into(),
            is_buy,
            price: d(price),
            orig_qty: d(qty),
            time_ms: at,
            position,
        }
    }

    #[test]
    fn a_unique_pair_is_adopted_with_its_pending_leg() {
        let orders = [
            order(
                "2465664",
                Some("89863105"),
                true,
                "0.000005619",
                "1779676",
                1_000_250,
                Position::Working,
            ),
            order(
                "2465665",
                Some("89863105"),
                false,
                "0.0000058",
                "0",
                1_000_250,
                Position::Pending,
            ),
            order(
                "2465000",
                Some("-1"),
                true,
                "0.000005619",
                "1779676",
                500_000,
                Position::None,
            ),
        ];
        let m = find_intent(
            &intent(),
            &orders,
            &HashSet::new(),
            Window::default(),
            1_001_000,
        );
        assert_eq!(
            m,
            IntentMatch::Placed {
                working_id: "2465664".into(),
                pending_id: Some("2465665".into())
            }
        );
        // Without list ids (open orders do not carry them), the consecutive id links the legs.
        let bare: Vec<ExchangeOrder> = orders
            .iter()
            .cloned()
            .map(|o| ExchangeOrder {
                list_id: None,
                position: Position::None,
                ..o
            })
            .collect();
        let m = find_intent(
            &intent(),
            &bare,
            &HashSet::new(),
            Window::default(),
            1_001_000,
        );
        assert_eq!(
            m,
            IntentMatch::Placed {
                working_id: "2465664".into(),
                pending_id: Some("2465665".into())
            }
        );
    }

    #[test]
    fn a_miss_is_final_only_after_the_window() {
        let other = [order(
            "1",
            None,
            true,
            "0.000005620",
            "1779676",
            1_000_100,
            Position::None,
        )];
        assert_eq!(
            find_intent(
                &intent(),
                &other,
                &HashSet::new(),
                Window::default(),
                1_010_000
            ),
            IntentMatch::NotYet
        );
        assert_eq!(
            find_intent(
                &intent(),
                &other,
                &HashSet::new(),
                Window::default(),
                1_060_001
            ),
            IntentMatch::NotPlaced
        );
    }

    #[test]
    fn adopted_orders_never_match_twice_and_twins_are_ambiguous() {
        let twins = [
            order(
                "10",
                None,
                true,
                "0.000005619",
                "1779676",
                1_000_100,
                Position::Working,
            ),
            order(
                "20",
                None,
                true,
                "0.000005619",
                "1779676",
                1_000_900,
                Position::Working,
            ),
        ];
        let m = find_intent(
            &intent(),
            &twins,
            &HashSet::new(),
            Window::default(),
            1_001_000,
        );
        assert_eq!(
            m,
            IntentMatch::Ambiguous {
                candidates: vec!["10".into(), "20".into()]
            }
        );
        let owned: HashSet<String> = ["10".to_owned()].into();
        let m = find_intent(&intent(), &twins, &owned, Window::default(), 1_001_000);
        assert_eq!(
            m,
            IntentMatch::Placed {
                working_id: "20".into(),
                pending_id: None
            }
        );
    }
}
