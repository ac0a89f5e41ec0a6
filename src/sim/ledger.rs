//! The simulator's ledger as the tools read it: every order and fill piece it holds and every
//! violation it saw, taken in-process or answered by `GET /sim/ledger/snapshot`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::engine::Engine;
use crate::market::OrderStatus;

/// An order as the exchange's ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerOrder {
    pub id: u64,
    pub account: u64,
    pub status: OrderStatus,
    pub executed_qty: Decimal,
    pub cum_quote: Decimal,
}

/// One fill piece as the exchange's ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFill {
    pub account: u64,
    pub order_id: u64,
    pub qty: Decimal,
    pub quote: Decimal,
    /// The simulated account on the other side, when the trade was between two of them
    /// (never allowed: the simulator reports it as `cross_account_match` too).
    #[serde(default)]
    pub counterparty: Option<u64>,
}

/// What the check needs of the simulator: taken in-process, or from `GET /sim/ledger/snapshot`
/// when the simulator is another process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub orders: Vec<LedgerOrder>,
    pub fills: Vec<LedgerFill>,
    /// Every violation the simulator saw, one line each.
    pub violations: Vec<String>,
}

impl Ledger {
    pub fn of(e: &Engine) -> Self {
        Self {
            orders: e
                .orders
                .values()
                .map(|o| LedgerOrder {
                    id: o.id,
                    account: o.account,
                    status: o.status,
                    executed_qty: o.executed_qty,
                    cum_quote: o.cum_quote,
                })
                .collect(),
            fills: e
                .fills
                .iter()
                .map(|f| LedgerFill {
                    account: f.account,
                    order_id: f.order_id,
                    qty: f.qty,
                    quote: f.quote,
                    counterparty: f.counterparty,
                })
                .collect(),
            violations: e
                .violations()
                .iter()
                .map(|v| format!("{} account {}: {}", v.kind, v.account, v.detail))
                .collect(),
        }
    }
}
