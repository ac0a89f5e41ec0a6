//! The daemon's store against the simulator's ledger: the check behind the demo's summary,
//! the benchmark and the trading tests. Every order the simulator holds for an account must be
//! in the store with its status, filled quantity and quote, and every fill piece must be
//! there too; the simulator must have seen no violation and no order may be left open.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::sim::ledger::{Ledger, LedgerFill, LedgerOrder};
use crate::store::models::StoredStatus;
use crate::store::models::{FillRow, OrderRow, Page};
use crate::store::{self, Conn, StoreError};

/// What the check found for one account (when it passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLedger {
    pub account_id: i64,
    pub sim_account: u64,
    pub orders: usize,
    pub fills: usize,
    /// Quote traded, both sides.
    pub traded: Decimal,
}

#[derive(Debug, thiserror::Error)]
pub enum Mismatch {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("account {account}: {detail}")]
    Account { account: i64, detail: String },
    #[error("the simulator saw violations: {0}")]
    Violations(String),
}

/// Every row of a keyset-paged listing, oldest last.
fn all_pages<T>(
    mut page: impl FnMut(Page) -> Result<Vec<T>, StoreError>,
    id: impl Fn(&T) -> i64,
) -> Result<Vec<T>, StoreError> {
    let mut all = Vec::new();
    let mut p = Page::first(Page::MAX_LIMIT);
    loop {
        let rows = page(p)?;
        let Some(last) = rows.last() else { break };
        p.before_id = Some(id(last));
        let n = rows.len();
        all.extend(rows);
        if i64::try_from(n).unwrap_or(i64::MAX) < Page::MAX_LIMIT {
            break;
        }
    }
    Ok(all)
}

/// Checks the accounts `(store id, simulator id)`; `open_allowed` skips the "nothing left
/// open" rule (for accounts that are still trading).
pub fn ledger(
    conn: &mut Conn,
    sim: &Ledger,
    accounts: &[(i64, u64)],
    open_allowed: bool,
) -> Result<Vec<AccountLedger>, Mismatch> {
    if !sim.violations.is_empty() {
        return Err(Mismatch::Violations(sim.violations.join("; ")));
    }
    let mut orders_of: HashMap<u64, Vec<&LedgerOrder>> = HashMap::new();
    for o in &sim.orders {
        orders_of.entry(o.account).or_default().push(o);
    }
    let mut fills_of: HashMap<u64, Vec<&LedgerFill>> = HashMap::new();
    for f in &sim.fills {
        fills_of.entry(f.account).or_default().push(f);
    }
    let mut out = Vec::new();
    for &(account, sim_id) in accounts {
        let fail = |detail: String| Mismatch::Account { account, detail };
        let ours: Vec<OrderRow> = all_pages(|p| store::orders::list(conn, account, p), |o| o.id)?;
        let fills: Vec<FillRow> = all_pages(|p| store::fills::list(conn, account, p), |f| f.id)?;
        let orders = orders_of.remove(&sim_id).unwrap_or_default();
        let sim_fills = fills_of.remove(&sim_id).unwrap_or_default();
        let placed = ours
            .iter()
            .filter(|o| o.exchange_order_id.is_some())
            .count();
        if placed != orders.len() {
            return Err(fail(format!(
                "the store knows {placed} placed orders, the exchange {}",
                orders.len()
            )));
        }
        for o in &orders {
            let x = o.id.to_string();
            if !open_allowed && !o.status.is_final() {
                return Err(fail(format!("order {x} is left open")));
            }
            let row = ours
                .iter()
                .find(|r| r.exchange_order_id.as_deref() == Some(x.as_str()))
                .ok_or_else(|| fail(format!("exchange order {x} is not in the store")))?;
            let status = StoredStatus::from(o.status);
            if row.status != status {
                return Err(fail(format!(
                    "order {x}: {} in the store, {status} on the exchange",
                    row.status
                )));
            }
            if (row.filled_qty, row.filled_quote) != (o.executed_qty, o.cum_quote) {
                return Err(fail(format!(
                    "order {x}: filled {} for {} in the store, {} for {} on the exchange",
                    row.filled_qty, row.filled_quote, o.executed_qty, o.cum_quote
                )));
            }
            let pieces = sim_fills.iter().filter(|f| f.order_id == o.id).count();
            let ours_pieces: Vec<&FillRow> =
                fills.iter().filter(|f| f.order_id == row.id).collect();
            let qty: Decimal = ours_pieces.iter().map(|f| f.qty).sum();
            if ours_pieces.len() != pieces || qty != o.executed_qty {
                return Err(fail(format!(
                    "order {x}: {} fills for {qty} in the store, {pieces} for {} on the exchange",
                    ours_pieces.len(),
                    o.executed_qty
                )));
            }
        }
        let traded: Decimal = sim_fills.iter().map(|f| f.quote).sum();
        let ours_traded: Decimal = fills.iter().map(|f| f.quote_qty).sum();
        if traded != ours_traded {
            return Err(fail(format!(
                "traded {ours_traded} in the store, {traded} on the exchange"
            )));
        }
        out.push(AccountLedger {
            account_id: account,
            sim_account: sim_id,
            orders: orders.len(),
            fills: sim_fills.len(),
            traded,
        });
    }
    Ok(out)
}
