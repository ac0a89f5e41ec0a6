//! Fills: each piece of an order's execution, recorded exactly once.

use diesel::prelude::*;
use rust_decimal::Decimal;

use super::models::{Fill, NewFill, Page, Side};
use super::schema::fills::dsl as f;
use super::{Conn, StoreError};
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

pub fn for_order(conn: &mut Conn, order_id: i64) -> Result<Vec<Fill>, StoreError> {
    Ok(with_conn!(conn, |c| f::fills
        .filter(f::order_id.eq(order_id))
        .order(f::id.asc())
        .load::<Fill>(c))?)
}

/// The account's fills, newest first.
pub fn list(conn: &mut Conn, account_id: i64, page: Page) -> Result<Vec<Fill>, StoreError> {
    Ok(with_conn!(conn, |c| f::fills
        .filter(f::account_id.eq(account_id))
        .filter(f::id.lt(page.upper_bound()))
        .order(f::id.desc())
        .limit(page.clamped_limit())
        .load::<Fill>(c))?)
}

/// Traded volume of an account over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Volume {
    /// Sum of quote quantities (USDT) of both sides.
    pub quote: Decimal,
    /// Quote quantity of buys: the volume a daily target counts.
    pub buy_quote: Decimal,
    pub sell_quote: Decimal,
    /// Fees in USDT (fees paid in the token are valued at their fill's price).
    pub fees_usdt: Decimal,
    pub trades: i64,
}

impl Volume {
    /// What trading cost: money out minus money in plus fees. Meaningful when the account
    /// holds no tokens of its pairs (between pairs).
    pub fn cost(&self) -> Decimal {
        self.buy_quote - self.sell_quote + self.fees_usdt
    }
}

/// Volume of fills with `from_ms <= traded_at_ms < to_ms`. Summed in exact decimals in Rust:
/// the column is text, and SQL sums over text would go through floats on SQLite.
pub fn volume_between(
    conn: &mut Conn,
    account_id: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Volume, StoreError> {
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
    let mut v = Volume::default();
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
