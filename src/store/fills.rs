//! Fills: each piece of an order's execution, recorded exactly once.

use diesel::prelude::*;
use rust_decimal::Decimal;

use super::models::{CycleProgress, FillRow, NewFill, Page, StoredStatus};
use super::schema::fills::dsl as f;
use super::{Conn, Reused, StoreError, Tx, atomic_as, orders};
use crate::market::Side;
use crate::with_conn;

/// Records a fill. Returns `false` when it was already recorded (same order, same cumulative
/// quantity): a duplicated or replayed report is harmless.
pub fn record(conn: &mut Conn, fill: &NewFill) -> Result<bool, StoreError> {
    let n = with_conn!(conn, |c| diesel::insert_into(f::fills)
        .values(fill.clone())
        .on_conflict((f::exchange_order_id, f::cum_qty))
        .do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// One execution step of an order, stored at once: its new fills, the order's status and
/// cumulative fill, and (for a leg of a pair) the cycle's progress. Returns, per fill, whether
/// it was new. A terminal status is never moved back to an open one.
pub struct Execution<'a> {
    pub fills: &'a [NewFill],
    pub order_id: i64,
    pub status: StoredStatus,
    pub filled_qty: Decimal,
    pub filled_quote: Decimal,
    pub progress: Option<(i64, &'a CycleProgress)>,
    pub now_ms: i64,
}

pub fn record_execution(conn: &mut Conn, x: &Execution<'_>) -> Result<Vec<bool>, StoreError> {
    record_execution_as(conn, Tx::Own, x)
}

/// [`record_execution`], in a transaction of its own or the caller's ([`Tx`]).
pub fn record_execution_as(
    conn: &mut Conn,
    tx: Tx,
    x: &Execution<'_>,
) -> Result<Vec<bool>, StoreError> {
    use super::schema::cycles::dsl as cy;
    atomic_as(conn, tx, |conn| {
        let mut fresh = Vec::with_capacity(x.fills.len());
        for fill in x.fills {
            // RETURNING gives a row only when the fill was new (a conflict inserts nothing).
            let n = with_conn!(conn, |c| Reused(
                diesel::insert_into(f::fills)
                    .values(fill.clone())
                    .on_conflict((f::exchange_order_id, f::cum_qty))
                    .do_nothing()
                    .returning(f::id)
            )
            .changed(c))?;
            fresh.push(n == 1);
        }
        orders::set_progress(
            conn,
            x.order_id,
            orders::OrderProgress {
                status: x.status,
                filled_qty: x.filled_qty,
                filled_quote: x.filled_quote,
                now_ms: x.now_ms,
            },
            orders::AfterFinal::QuantitiesMove,
        )?;
        if let Some((cycle_id, p)) = x.progress {
            with_conn!(conn, |c| Reused(
                diesel::update(cy::cycles.find(cycle_id))
                    .set((p.clone(), cy::updated_at_ms.eq(x.now_ms)))
                    .returning(cy::id)
            )
            .changed(c))?;
        }
        Ok(fresh)
    })
}

pub fn for_order(conn: &mut Conn, order_id: i64) -> Result<Vec<FillRow>, StoreError> {
    Ok(with_conn!(conn, |c| f::fills
        .filter(f::order_id.eq(order_id))
        .order(f::id.asc())
        .load::<FillRow>(c))?)
}

/// The account's fills, newest first.
pub fn list(conn: &mut Conn, account_id: i64, page: Page) -> Result<Vec<FillRow>, StoreError> {
    Ok(with_conn!(conn, |c| f::fills
        .filter(f::account_id.eq(account_id))
        .filter(f::id.lt(page.upper_bound()))
        .order(f::id.desc())
        .limit(page.clamped_limit())
        .load::<FillRow>(c))?)
}

/// Traded volume of an account over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredVolume {
    /// Sum of quote quantities (USDT) of both sides.
    pub quote: Decimal,
    /// Quote quantity of buys: the volume a daily target counts.
    pub buy_quote: Decimal,
    pub sell_quote: Decimal,
    /// Fees in USDT (fees paid in the token are valued at their fill's price).
    pub fees_usdt: Decimal,
    pub trades: i64,
}

impl StoredVolume {
    /// What trading cost: money out minus money in plus fees. Meaningful when the account
    /// holds no tokens of its pairs (between pairs).
    pub fn cost(&self) -> Decimal {
        self.buy_quote - self.sell_quote + self.fees_usdt
    }

    /// The cost in basis points of the bought volume, to 2 places; `None` without volume.
    pub fn cost_bps(&self) -> Option<Decimal> {
        if self.buy_quote <= Decimal::ZERO {
            return None;
        }
        self.buy_quote
            .checked_sub(self.sell_quote)
            .and_then(|c| c.checked_add(self.fees_usdt))
            .and_then(|c| c.checked_div(self.buy_quote))
            .and_then(|r| r.checked_mul(Decimal::from(10_000)))
            .map(|bps| bps.round_dp(2))
    }
}

/// Volume of fills with `from_ms <= traded_at_ms < to_ms`. Summed in exact decimals in Rust:
/// the column is text, and SQL sums over text would go through floats on SQLite.
pub fn volume_between(
    conn: &mut Conn,
    account_id: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<StoredVolume, StoreError> {
    type Row = (super::Dec, Side, super::Dec, super::Dec, String);
    let rows: Vec<Row> = with_conn!(conn, |c| f::fills
        .filter(f::account_id.eq(account_id))
        .filter(f::traded_at_ms.ge(from_ms))
        .filter(f::traded_at_ms.lt(to_ms))
        .select((f::quote_qty, f::side, f::fee, f::price, f::fee_asset))
        .load::<Row>(c))?;
    let overflow = || StoreError::Corrupt {
        column: "fills.quote_qty",
        detail: "the volume sum overflows a decimal".into(),
    };
    let mut v = StoredVolume::default();
    for (quote, side, fee, price, fee_asset) in rows {
        v.quote = v.quote.checked_add(quote.0).ok_or_else(overflow)?;
        match side {
            Side::Buy => v.buy_quote = v.buy_quote.checked_add(quote.0).ok_or_else(overflow)?,
            Side::Sell => v.sell_quote = v.sell_quote.checked_add(quote.0).ok_or_else(overflow)?,
        }
        let fee_usdt = if fee_asset.eq_ignore_ascii_case("USDT") || fee_asset.is_empty() {
            Some(fee.0)
        } else {
            fee.0.checked_mul(price.0)
        };
        v.fees_usdt = v
            .fees_usdt
            .checked_add(fee_usdt.ok_or_else(overflow)?)
            .ok_or_else(overflow)?;
        v.trades += 1;
    }
    Ok(v)
}
