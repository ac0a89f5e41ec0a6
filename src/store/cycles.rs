//! OTO pairs. A cycle and its two leg orders are written together, as an intent, before any
//! request leaves the daemon; the partial unique index keeps at most one open cycle per account.

use diesel::prelude::*;
use diesel::query_builder::AsQuery;

use super::crossing::CrossCheck;
use super::lease::{Lease, LeaseCheck};
use super::models::{
    CycleProgress, CycleRow, NewCycle, NewOrder, OrderRole, OrderRow, Page, StoredStatus,
};
use super::schema::cycles::dsl as cy;
use super::schema::orders::dsl as o;
use super::{Conn, Dialect, Reused, StoreError, Tx};
use crate::domain::crossing::Footprint;
use crate::domain::cycle::Outcome;
use crate::market::Side;
use crate::with_conn;

/// Persists a pair's intent (the cycle and its working and pending legs in status `INTENT`)
/// under the caller's lease. Fails with `LeaseLost` if the lease is gone and with `Conflict` if
/// the account already has an open cycle or the intent id was used before.
/// With `cross_guard`, the pair is not stored when it would cross an open order of an account
/// another instance holds (`StoreError::Crossed`, see `store::crossing`).
pub fn insert_intent(
    conn: &mut Conn,
    lease: &Lease,
    new: &NewCycle,
    cross_guard: bool,
) -> Result<(CycleRow, Vec<OrderRow>), StoreError> {
    if new.account_id != lease.account_id || new.fencing_token != lease.fencing_token {
        return Err(StoreError::LeaseLost {
            account_id: new.account_id,
            fencing_token: new.fencing_token,
        });
    }
    let legs = [
        (OrderRole::Working, Side::Buy, new.buy_price, "w"),
        (OrderRole::Pending, Side::Sell, new.sell_price, "p"),
    ];
    with_conn!(conn, |c| c.write_tx(|c| {
        c.hold(lease)?;
        if cross_guard {
            let ours = Footprint::pair(new.buy_price, new.sell_price);
            c.cross_check(&lease.owner, lease.account_id, &new.order_symbol, ours)?;
        }
        // Only the ids come back: the rest of each row is what was written, and reading
        // whole rows back (every decimal parsed again) was a third of the intent's write.
        let cycle_id: i64 = diesel::insert_into(cy::cycles)
            .values(new.clone())
            .returning(cy::id)
            .get_result(c)?;
        let mut orders = Vec::with_capacity(legs.len());
        for (role, side, price, suffix) in legs {
            let order = NewOrder {
                account_id: new.account_id,
                cycle_id: Some(cycle_id),
                intent_id: format!("{}:{suffix}", new.intent_id),
                role,
                exchange_order_id: None,
                order_symbol: new.order_symbol.clone(),
                side,
                price,
                quantity: new.quantity,
                status: StoredStatus::Intent,
                created_at_ms: new.created_at_ms,
                updated_at_ms: new.created_at_ms,
            };
            let id: i64 = diesel::insert_into(o::orders)
                .values(order.clone())
                .returning(o::id)
                .get_result(c)?;
            orders.push(OrderRow::stored(id, order));
        }
        Ok::<_, StoreError>((CycleRow::stored(cycle_id, new.clone()), orders))
    }))
}

/// Records the exchange's ids for a placed pair, on the cycle and on both legs.
pub fn set_exchange_ids(
    conn: &mut Conn,
    cycle_id: i64,
    working_order_id: &str,
    pending_order_id: &str,
    order_list_id: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let ids = PairIds {
        working: working_order_id,
        pending: pending_order_id,
        list: order_list_id,
    };
    set_exchange_ids_as(conn, Tx::Own, cycle_id, ids, now_ms)
}

/// The exchange's ids of a placed pair.
#[derive(Debug, Clone, Copy)]
pub struct PairIds<'a> {
    pub working: &'a str,
    pub pending: &'a str,
    pub list: Option<&'a str>,
}

/// [`set_exchange_ids`], in a transaction of its own or the caller's ([`Tx`]).
pub fn set_exchange_ids_as(
    conn: &mut Conn,
    tx: Tx,
    cycle_id: i64,
    ids: PairIds<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let PairIds {
        working: working_order_id,
        pending: pending_order_id,
        list: order_list_id,
    } = ids;
    super::atomic_as(conn, tx, |conn| {
        with_conn!(conn, |c| {
            let n = Reused(
                diesel::update(cy::cycles.find(cycle_id))
                    .set((
                        cy::working_order_id.eq(working_order_id),
                        cy::pending_order_id.eq(pending_order_id),
                        cy::order_list_id.eq(order_list_id),
                        cy::updated_at_ms.eq(now_ms),
                    ))
                    .returning(cy::id),
            )
            .changed(c)?;
            if n == 0 {
                return Err(StoreError::NotFound("cycle"));
            }
            for (role, id, status) in [
                (OrderRole::Working, working_order_id, StoredStatus::New),
                (OrderRole::Pending, pending_order_id, StoredStatus::Pending),
            ] {
                Reused(
                    diesel::update(
                        o::orders
                            .filter(o::cycle_id.eq(cycle_id))
                            .filter(o::role.eq(role)),
                    )
                    .set((
                        o::exchange_order_id.eq(id),
                        o::status.eq(status),
                        o::updated_at_ms.eq(now_ms),
                    ))
                    .returning(o::id),
                )
                .changed(c)?;
            }
            Ok::<_, StoreError>(())
        })
    })
}

/// Writes what the pair has done so far.
pub fn record_progress(
    conn: &mut Conn,
    cycle_id: i64,
    p: &CycleProgress,
    now_ms: i64,
) -> Result<CycleRow, StoreError> {
    with_conn!(conn, |c| Reused(
        diesel::update(cy::cycles.find(cycle_id))
            .set((p.clone(), cy::updated_at_ms.eq(now_ms)))
            .as_query()
    )
    .get_result::<CycleRow>(c)
    .optional())?
    .ok_or(StoreError::NotFound("cycle"))
}

/// Closes the cycle with its outcome, which frees the account for its next pair. Closing an
/// already closed cycle changes nothing and reports `NotFound`.
pub fn close(
    conn: &mut Conn,
    cycle_id: i64,
    outcome: Outcome,
    p: &CycleProgress,
    now_ms: i64,
) -> Result<CycleRow, StoreError> {
    if !mark_closed(conn, cycle_id, outcome, p, now_ms)? {
        return Err(StoreError::NotFound("open cycle"));
    }
    get(conn, cycle_id)
}

/// [`close`] without reading the row back (the hot path: no RETURNING to compile); false when
/// the cycle was closed already.
pub fn mark_closed(
    conn: &mut Conn,
    cycle_id: i64,
    outcome: Outcome,
    p: &CycleProgress,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = with_conn!(conn, |c| Reused(
        diesel::update(cy::cycles.find(cycle_id).filter(cy::closed_at_ms.is_null()))
            .set((
                p.clone(),
                cy::outcome.eq(outcome),
                cy::updated_at_ms.eq(now_ms),
                cy::closed_at_ms.eq(now_ms)
            ))
            .returning(cy::id)
    )
    .changed(c))?;
    Ok(n == 1)
}

/// How many of the account's cycles closed filled in `[from_ms, to_ms)`: the pairs done today
/// survive a restart.
pub fn filled_between(
    conn: &mut Conn,
    account_id: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<u64, StoreError> {
    let n: i64 = with_conn!(conn, |c| cy::cycles
        .filter(cy::account_id.eq(account_id))
        .filter(cy::outcome.eq(Outcome::Filled))
        .filter(cy::closed_at_ms.ge(from_ms))
        .filter(cy::closed_at_ms.lt(to_ms))
        .count()
        .get_result(c))?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// The account's open cycle, if any.
pub fn live(conn: &mut Conn, account_id: i64) -> Result<Option<CycleRow>, StoreError> {
    Ok(with_conn!(conn, |c| cy::cycles
        .filter(cy::account_id.eq(account_id))
        .filter(cy::closed_at_ms.is_null())
        .first::<CycleRow>(c)
        .optional())?)
}

pub fn get(conn: &mut Conn, cycle_id: i64) -> Result<CycleRow, StoreError> {
    with_conn!(conn, |c| cy::cycles
        .find(cycle_id)
        .first::<CycleRow>(c)
        .optional())?
    .ok_or(StoreError::NotFound("cycle"))
}

/// The account's cycles, newest first.
pub fn list(conn: &mut Conn, account_id: i64, page: Page) -> Result<Vec<CycleRow>, StoreError> {
    Ok(with_conn!(conn, |c| cy::cycles
        .filter(cy::account_id.eq(account_id))
        .filter(cy::id.lt(page.upper_bound()))
        .order(cy::id.desc())
        .limit(page.clamped_limit())
        .load::<CycleRow>(c))?)
}
