//! Trading configuration, one row per account, with a revision that counts every change.

use diesel::prelude::*;

use super::models::{OffsetMode, TradingConfigRow};
use super::schema::trading_configs::dsl as t;
use super::{Conn, Dialect, StoreError};
use rust_decimal::Decimal;

use crate::domain::pricing::Offset;
use crate::domain::settings::{AccountSettings, SettingsError, bad};
use crate::with_conn;

/// Inserts or replaces the account's configuration and returns the stored row; the revision
/// starts at 1 and goes up by one on every write, whatever the caller passed.
pub fn upsert(conn: &mut Conn, row: &TradingConfigRow) -> Result<TradingConfigRow, StoreError> {
    with_conn!(conn, |c| c.write_tx(|c| c.put_config(row)))
}

/// `upsert`'s write, inside a transaction the caller holds (a profile change writes many).
pub(super) trait PutConfig {
    fn put_config(&mut self, row: &TradingConfigRow) -> Result<TradingConfigRow, StoreError>;
}

macro_rules! put_config_for {
    ($($conn:ty),+) => {$(
        impl PutConfig for $conn {
            fn put_config(&mut self, row: &TradingConfigRow) -> Result<TradingConfigRow, StoreError> {
                let current: Option<i64> = t::trading_configs
                    .find(row.account_id)
                    .select(t::revision)
                    .first(self)
                    .optional()?;
                let mut next = row.clone();
                next.revision = current.map_or(1, |r| r + 1);
                match current {
                    None => diesel::insert_into(t::trading_configs)
                        .values(next)
                        .get_result(self),
                    Some(_) => diesel::update(t::trading_configs.find(row.account_id))
                        .set(next)
                        .get_result(self),
                }
                .map_err(StoreError::from)
            }
        }
    )+};
}

put_config_for!(diesel::SqliteConnection, diesel::PgConnection);

pub fn get(conn: &mut Conn, account_id: i64) -> Result<Option<TradingConfigRow>, StoreError> {
    Ok(with_conn!(conn, |c| t::trading_configs
        .find(account_id)
        .first::<TradingConfigRow>(c)
        .optional())?)
}

/// Every account's settings row, by account: one query for a whole listing.
pub fn all(
    conn: &mut Conn,
) -> Result<std::collections::HashMap<i64, TradingConfigRow>, StoreError> {
    let rows = with_conn!(conn, |c| t::trading_configs.load::<TradingConfigRow>(c))?;
    Ok(rows.into_iter().map(|r| (r.account_id, r)).collect())
}

/// The stored form of an account's settings (the revision is the store's to set).
pub fn to_row(s: &AccountSettings, account_id: i64, now_ms: i64) -> TradingConfigRow {
    let (buy_offset_mode, buy_offset_value) = split(&s.buy_offset);
    let (sell_offset_mode, sell_offset_value) = split(&s.sell_offset);
    TradingConfigRow {
        account_id,
        token: s.token.trim().to_owned(),
        chain: s.chain.clone(),
        order_usdt: s.order_usdt,
        // With a points target the USDT column holds 0 and is not read.
        daily_target_usdt: s.daily_target_usdt.unwrap_or(Decimal::ZERO),
        daily_target_points: s
            .daily_target_points
            .map(|p| i32::try_from(p).unwrap_or(i32::MAX)),
        buy_offset_mode,
        buy_offset_value,
        sell_offset_mode,
        sell_offset_value,
        order_timeout_s: i32::try_from(s.order_timeout_s).unwrap_or(i32::MAX),
        pending_timeout_s: i32::try_from(s.pending_timeout_s).unwrap_or(i32::MAX),
        volatility_pct: s.volatility_pct,
        cost_budget_bps: s.cost_budget_bps,
        leftover_floor_pct: s.leftover_floor_pct,
        max_hold_loss_pct: s.max_hold_loss_pct,
        min_mul_point: s.min_mul_point,
        token_allow: s.token_allow.join(","),
        token_switch_min_s: i32::try_from(s.token_switch_min_s).unwrap_or(i32::MAX),
        auto_resume: s.auto_resume,
        webhook_url: s.webhook_url.clone(),
        revision: 0,
        updated_at_ms: now_ms,
    }
}

/// Reads stored settings back; a stored value out of range is an error, not a panic.
pub fn from_row(row: &TradingConfigRow) -> Result<AccountSettings, SettingsError> {
    let settings = as_stored(row)?;
    settings.validate()?;
    Ok(settings)
}

/// The settings as stored, not held to today's bounds: what the API shows and what a change
/// starts from, so a row written before a bound existed can be seen and fixed.
pub fn as_stored(row: &TradingConfigRow) -> Result<AccountSettings, SettingsError> {
    let timeout =
        |field, v: i32| u32::try_from(v).map_err(|_| bad(field, "stored value is negative"));
    let settings = AccountSettings {
        token: row.token.clone(),
        chain: row.chain.clone(),
        order_usdt: row.order_usdt,
        daily_target_usdt: match row.daily_target_points {
            Some(_) => None,
            None => Some(row.daily_target_usdt),
        },
        daily_target_points: row
            .daily_target_points
            .map(|p| {
                u32::try_from(p).map_err(|_| bad("daily_target_points", "stored value is negative"))
            })
            .transpose()?,
        buy_offset: join(row.buy_offset_mode, row.buy_offset_value),
        sell_offset: join(row.sell_offset_mode, row.sell_offset_value),
        order_timeout_s: timeout("order_timeout_s", row.order_timeout_s)?,
        pending_timeout_s: timeout("pending_timeout_s", row.pending_timeout_s)?,
        volatility_pct: row.volatility_pct,
        cost_budget_bps: row.cost_budget_bps,
        leftover_floor_pct: row.leftover_floor_pct,
        max_hold_loss_pct: row.max_hold_loss_pct,
        min_mul_point: row.min_mul_point,
        token_allow: row
            .token_allow
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        token_switch_min_s: timeout("token_switch_min_s", row.token_switch_min_s)?,
        auto_resume: row.auto_resume,
        webhook_url: row.webhook_url.clone(),
    };
    Ok(settings)
}

fn split(o: &Offset) -> (OffsetMode, Decimal) {
    match o {
        Offset::Percent(v) => (OffsetMode::Percent, *v),
        Offset::Amount(v) => (OffsetMode::Amount, *v),
    }
}

fn join(mode: OffsetMode, value: Decimal) -> Offset {
    match mode {
        OffsetMode::Percent => Offset::Percent(value),
        OffsetMode::Amount => Offset::Amount(value),
    }
}
