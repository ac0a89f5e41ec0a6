//! Orders: every order the daemon ever meant to send, from intent to final status.

use diesel::prelude::*;
use diesel::query_builder::AsQuery;
use rust_decimal::Decimal;

use super::crossing::CrossCheck;
use super::lease::{Lease, LeaseCheck};
use super::models::{NewOrder, OrderRow, Page, StoredStatus};
use super::schema::orders::dsl as o;
use super::{Conn, Dec, Dialect, Reused, StoreError, Tx, atomic_as};
use crate::domain::crossing::Footprint;
use crate::market::Side;
use crate::with_conn;

/// Persists a single order's intent (a leftover sale, an operator's order) under the lease.
/// The intent id is unique: the same intent can never be stored, or sent, twice.
/// With `cross_guard`, a sale is not stored when it would cross an open order of an account
/// another instance holds (`StoreError::Crossed`, see `store::crossing`).
pub fn insert_intent(
    conn: &mut Conn,
    lease: &Lease,
    new: &NewOrder,
    cross_guard: bool,
) -> Result<OrderRow, StoreError> {
    if new.account_id != lease.account_id {
        return Err(StoreError::LeaseLost {
            account_id: new.account_id,
            fencing_token: lease.fencing_token,
        });
    }
    with_conn!(conn, |c| c.write_tx(|c| {
        c.hold(lease)?;
        if cross_guard {
            let ours = match new.side {
                Side::Buy => Footprint {
                    buy: Some(new.price),
                    sell: None,
                },
                Side::Sell => Footprint::sale(new.price),
            };
            c.cross_check(&lease.owner, lease.account_id, &new.order_symbol, ours)?;
        }
        let id: i64 = diesel::insert_into(o::orders)
            .values(new.clone())
            .returning(o::id)
            .get_result(c)?;
        Ok(OrderRow::stored(id, new.clone()))
    }))
}

/// Records the exchange's answer to a place request.
pub fn set_placed(
    conn: &mut Conn,
    order_id: i64,
    exchange_order_id: &str,
    status: StoredStatus,
    now_ms: i64,
) -> Result<OrderRow, StoreError> {
    with_conn!(conn, |c| Reused(
        diesel::update(o::orders.find(order_id))
            .set((
                o::exchange_order_id.eq(exchange_order_id),
                o::status.eq(status),
                o::updated_at_ms.eq(now_ms)
            ))
            .as_query()
    )
    .get_result::<OrderRow>(c)
    .optional())?
    .ok_or(StoreError::NotFound("order"))
}

/// Updates status and cumulative fill. A terminal status is final: a late report cannot move
/// an order back to an open status (the update then matches nothing and the row is returned as
/// it is).
pub fn update_status(
    conn: &mut Conn,
    order_id: i64,
    status: StoredStatus,
    filled_qty: Decimal,
    filled_quote: Decimal,
    now_ms: i64,
) -> Result<OrderRow, StoreError> {
    let progress = OrderProgress {
        status,
        filled_qty,
        filled_quote,
        now_ms,
    };
    update_status_as(conn, Tx::Own, order_id, progress)?;
    get(conn, order_id)
}

/// [`update_status`] without reading the row back, in a transaction of its own or the
/// caller's ([`Tx`]).
pub fn update_status_as(
    conn: &mut Conn,
    tx: Tx,
    order_id: i64,
    progress: OrderProgress,
) -> Result<(), StoreError> {
    atomic_as(conn, tx, |conn| {
        set_progress(conn, order_id, progress, AfterFinal::NothingMoves)
    })
}

/// An order's status and cumulative fill at a moment.
#[derive(Debug, Clone, Copy)]
pub struct OrderProgress {
    pub status: StoredStatus,
    pub filled_qty: Decimal,
    pub filled_quote: Decimal,
    pub now_ms: i64,
}

/// What an open status reported for an order already final changes. Its status never moves;
/// an execution's quantities do (its fills were recorded), a bare status's do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFinal {
    QuantitiesMove,
    NothingMoves,
}

/// Writes an order's progress: one statement unless an open status meets a final one.
/// `NotFound` when there is no such order.
pub(super) fn set_progress(
    conn: &mut Conn,
    order_id: i64,
    p: OrderProgress,
    after_final: AfterFinal,
) -> Result<(), StoreError> {
    let row = o::orders.find(order_id);
    let all = (
        o::status.eq(p.status),
        o::filled_qty.eq(Dec(p.filled_qty)),
        o::filled_quote.eq(Dec(p.filled_quote)),
        o::updated_at_ms.eq(p.now_ms),
    );
    let changed = with_conn!(conn, |c| if p.status.is_terminal() {
        Reused(diesel::update(row).set(all).returning(o::id)).changed(c)
    } else {
        Reused(
            diesel::update(row.filter(o::status.eq_any(StoredStatus::OPEN)))
                .set(all)
                .returning(o::id),
        )
        .changed(c)
    })?;
    if changed == 1 {
        return Ok(());
    }
    // Final already, or no such order.
    let found = match after_final {
        AfterFinal::QuantitiesMove if !p.status.is_terminal() => with_conn!(conn, |c| Reused(
            diesel::update(row)
                .set((
                    o::filled_qty.eq(Dec(p.filled_qty)),
                    o::filled_quote.eq(Dec(p.filled_quote)),
                    o::updated_at_ms.eq(p.now_ms),
                ))
                .returning(o::id)
        )
        .changed(c))?,
        _ => with_conn!(conn, |c| row.select(o::id).load::<i64>(c))?.len(),
    };
    if found == 0 {
        return Err(StoreError::NotFound("order"));
    }
    Ok(())
}

pub fn get(conn: &mut Conn, order_id: i64) -> Result<OrderRow, StoreError> {
    with_conn!(conn, |c| o::orders
        .find(order_id)
        .first::<OrderRow>(c)
        .optional())?
    .ok_or(StoreError::NotFound("order"))
}

pub fn by_exchange_id(
    conn: &mut Conn,
    exchange_order_id: &str,
) -> Result<Option<OrderRow>, StoreError> {
    Ok(with_conn!(conn, |c| o::orders
        .filter(o::exchange_order_id.eq(exchange_order_id))
        .first::<OrderRow>(c)
        .optional())?)
}

pub fn for_cycle(conn: &mut Conn, cycle_id: i64) -> Result<Vec<OrderRow>, StoreError> {
    Ok(with_conn!(conn, |c| o::orders
        .filter(o::cycle_id.eq(cycle_id))
        .order(o::id.asc())
        .load::<OrderRow>(c))?)
}

/// Orders the exchange may still change (or whose fate is unknown): what a reconciliation
/// must check before the account trades again.
pub fn open_for_account(conn: &mut Conn, account_id: i64) -> Result<Vec<OrderRow>, StoreError> {
    Ok(with_conn!(conn, |c| o::orders
        .filter(o::account_id.eq(account_id))
        .filter(o::status.eq_any(StoredStatus::OPEN))
        .order(o::id.asc())
        .load::<OrderRow>(c))?)
}

/// Exchange ids of the account's orders created since `since_ms`: the orders a reconciliation
/// must never give to another intent.
pub fn exchange_ids_since(
    conn: &mut Conn,
    account_id: i64,
    since_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let ids: Vec<Option<String>> = with_conn!(conn, |c| o::orders
        .filter(o::account_id.eq(account_id))
        .filter(o::created_at_ms.ge(since_ms))
        .filter(o::exchange_order_id.is_not_null())
        .select(o::exchange_order_id)
        .load::<Option<String>>(c))?;
    Ok(ids.into_iter().flatten().collect())
}

/// The account's orders, newest first.
pub fn list(conn: &mut Conn, account_id: i64, page: Page) -> Result<Vec<OrderRow>, StoreError> {
    Ok(with_conn!(conn, |c| o::orders
        .filter(o::account_id.eq(account_id))
        .filter(o::id.lt(page.upper_bound()))
        .order(o::id.desc())
        .limit(page.clamped_limit())
        .load::<OrderRow>(c))?)
}
