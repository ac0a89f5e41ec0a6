//! Trading configuration, one row per account, with a revision that counts every change.

use diesel::prelude::*;

use super::models::TradingConfigRow;
use super::schema::trading_configs::dsl as t;
use super::{Conn, Dialect, StoreError};
use crate::with_conn;

/// Inserts or replaces the account's configuration and returns the stored row; the revision
/// starts at 1 and goes up by one on every write, whatever the caller passed.
pub fn upsert(conn: &mut Conn, row: &TradingConfigRow) -> Result<TradingConfigRow, StoreError> {
    with_conn!(conn, |c| {
        c.write_tx(|c| {
            let current: Option<i64> = t::trading_configs
                .find(row.account_id)
                .select(t::revision)
                .first(c)
                .optional()?;
            let mut next = row.clone();
            next.revision = current.map_or(1, |r| r + 1);
            match current {
                None => diesel::insert_into(t::trading_configs)
                    .values(next)
                    .get_result(c),
                Some(_) => diesel::update(t::trading_configs.find(row.account_id))
                    .set(next)
                    .get_result(c),
            }
            .map_err(StoreError::from)
        })
    })
}

pub fn get(conn: &mut Conn, account_id: i64) -> Result<Option<TradingConfigRow>, StoreError> {
    Ok(with_conn!(conn, |c| t::trading_configs
        .find(account_id)
        .first::<TradingConfigRow>(c)
        .optional())?)
}
