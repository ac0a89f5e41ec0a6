//! Row types. Field order follows `schema.rs` (rows are read by position). Decimals are
//! `rust_decimal::Decimal` in Rust and canonical text in the database (see [`Dec`]).

use diesel::prelude::*;
use rust_decimal::Decimal;

use super::Dec;
use super::schema;
use crate::domain::cycle::Outcome;
use crate::domain::shown::AccountState;
use crate::market::{OrderStatus, Side};
use crate::text_enum;

text_enum! {
    /// The operator's wish for an account, as recorded: every instance that holds the account
    /// carries it out, at once and after any restart or takeover.
    pub enum Desired {
        Run = "run",
        Pause = "pause",
        Stop = "stop",
        /// Cancel everything and place nothing until a person starts the account.
        Kill = "kill",
    }
}

text_enum! {
    /// Why an order exists: the two legs of an OTO pair, a leftover sale, or an operator's order.
    pub enum OrderRole { Working = "working", Pending = "pending", Liquidation = "liquidation", Manual = "manual" }
}

text_enum! {
    /// An order's status as the store records it: the exchange's [`OrderStatus`] and two of its
    /// own. `INTENT` is stored before the request is sent; `UNKNOWN` means the
    /// request went out and its outcome was lost (resolved only by asking the exchange).
    pub enum StoredStatus {
        Intent = "INTENT",
        Unknown = "UNKNOWN",
        New = "NEW",
        Pending = "PENDING",
        PartiallyFilled = "PARTIALLY_FILLED",
        Filled = "FILLED",
        Canceled = "CANCELED",
        Expired = "EXPIRED",
        Rejected = "REJECTED",
    }
}

impl From<OrderStatus> for StoredStatus {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::New => StoredStatus::New,
            OrderStatus::Pending => StoredStatus::Pending,
            OrderStatus::PartiallyFilled => StoredStatus::PartiallyFilled,
            OrderStatus::Filled => StoredStatus::Filled,
            OrderStatus::Canceled => StoredStatus::Canceled,
            OrderStatus::Expired => StoredStatus::Expired,
            OrderStatus::Rejected => StoredStatus::Rejected,
        }
    }
}

impl StoredStatus {
    /// Statuses after which the exchange can still change the order (an order that rests, or
    /// soon may).
    pub const OPEN: [StoredStatus; 5] = [
        StoredStatus::Intent,
        StoredStatus::Unknown,
        StoredStatus::New,
        StoredStatus::Pending,
        StoredStatus::PartiallyFilled,
    ];

    /// No further change can come from the exchange.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            StoredStatus::Filled
                | StoredStatus::Canceled
                | StoredStatus::Expired
                | StoredStatus::Rejected
        )
    }
}

text_enum! {
    pub enum OffsetMode { Percent = "percent", Amount = "amount" }
}

text_enum! {
    pub enum EventLevel { Debug = "debug", Info = "info", Warn = "warn", Error = "error", Critical = "critical" }
}

text_enum! {
    /// Delivery state of an event's webhook POST.
    pub enum WebhookStatus { None = "none", Pending = "pending", Sent = "sent", Failed = "failed" }
}

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, serde::Serialize)]
#[diesel(table_name = schema::accounts)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub state: AccountState,
    pub pause_reason: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// What the operator asked last; a recorded kill holds until a start.
    pub desired: Desired,
    /// How many commands the account has had: an instance acts on each number once.
    pub command_seq: i64,
    /// When the last command was recorded (database clock).
    pub command_at_ms: i64,
    /// When the account was deleted with its history kept; such an account is never listed,
    /// run or commanded.
    pub retired_at_ms: Option<i64>,
    /// The profile whose settings the account trades, with `overrides` laid over them.
    pub profile: Option<String>,
    /// A JSON object of the settings the account sets itself over its profile's.
    pub overrides: String,
    /// A JSON array of the account's tags.
    pub tags: String,
}

/// A named set of settings; `settings` is the JSON of the API's settings object, and
/// `revision` counts its changes from 1.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable, serde::Serialize)]
#[diesel(table_name = schema::profiles)]
pub struct ProfileRow {
    pub name: String,
    pub settings: String,
    pub revision: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Encrypted credentials of one account; the vault alone can open the two ciphertexts.
#[derive(Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = schema::credentials)]
pub struct CredentialRow {
    pub account_id: i64,
    pub key_id: String,
    pub headers_ct: Vec<u8>,
    pub cookies_ct: Vec<u8>,
    pub updated_at_ms: i64,
    /// When the session expires (Unix ms), where its credentials said.
    pub expires_at_ms: Option<i64>,
}

impl std::fmt::Debug for CredentialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRow")
            .field("account_id", &self.account_id)
            .field("key_id", &self.key_id)
            .field(
                "headers_ct",
                &format_args!("<{} bytes>", self.headers_ct.len()),
            )
            .field(
                "cookies_ct",
                &format_args!("<{} bytes>", self.cookies_ct.len()),
            )
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = schema::trading_configs, treat_none_as_null = true)]
pub struct TradingConfigRow {
    pub account_id: i64,
    pub token: String,
    pub chain: Option<String>,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub order_usdt: Decimal,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub daily_target_usdt: Decimal,
    pub buy_offset_mode: OffsetMode,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub buy_offset_value: Decimal,
    pub sell_offset_mode: OffsetMode,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub sell_offset_value: Decimal,
    pub order_timeout_s: i32,
    pub pending_timeout_s: i32,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub volatility_pct: Decimal,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub cost_budget_bps: Decimal,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub leftover_floor_pct: Decimal,
    pub auto_resume: bool,
    pub webhook_url: Option<String>,
    pub revision: i64,
    pub updated_at_ms: i64,
    pub daily_target_points: Option<i32>,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub max_hold_loss_pct: Decimal,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub min_mul_point: Decimal,
    /// Comma-separated symbols; empty: every token.
    pub token_allow: String,
    pub token_switch_min_s: i32,
}

#[derive(Debug, Clone, PartialEq, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = schema::token_mappings, treat_none_as_null = true)]
pub struct TokenMapping {
    pub alpha_id: String,
    pub symbol: String,
    pub chain_id: String,
    pub contract_address: Option<String>,
    pub fetched_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = schema::token_precisions)]
pub struct TokenPrecision {
    pub order_symbol: String,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub tick_size: Decimal,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub step_size: Decimal,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub min_qty: Decimal,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub max_qty: Decimal,
    #[diesel(deserialize_as = Dec, serialize_as = Dec)]
    pub min_notional: Decimal,
    pub fetched_at_ms: i64,
}

text_enum! {
    /// Where a stored pair is: its intent stored (`placing`), sent and answered (`placed`),
    /// ended (`closed`, with its outcome).
    pub enum CycleState { Placing = "placing", Placed = "placed", Closed = "closed" }
}

/// One OTO pair, from its intent to its close.
#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, serde::Serialize)]
#[diesel(table_name = schema::cycles)]
pub struct CycleRow {
    pub id: i64,
    pub account_id: i64,
    pub intent_id: String,
    pub fencing_token: i64,
    pub state: CycleState,
    pub order_symbol: String,
    #[diesel(deserialize_as = Dec)]
    pub buy_price: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub sell_price: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub quantity: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub payment_amount: Decimal,
    pub working_order_id: Option<String>,
    pub pending_order_id: Option<String>,
    pub order_list_id: Option<String>,
    #[diesel(deserialize_as = Dec)]
    pub bought_qty: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub sold_qty: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub volume_usdt: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub fees_usdt: Decimal,
    pub outcome: Option<Outcome>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
}

impl CycleRow {
    /// The row [`NewCycle`] becomes when stored under `id`: the table's defaults for the rest.
    pub fn stored(id: i64, new: NewCycle) -> Self {
        Self {
            id,
            account_id: new.account_id,
            intent_id: new.intent_id,
            fencing_token: new.fencing_token,
            state: new.state,
            order_symbol: new.order_symbol,
            buy_price: new.buy_price,
            sell_price: new.sell_price,
            quantity: new.quantity,
            payment_amount: new.payment_amount,
            working_order_id: None,
            pending_order_id: None,
            order_list_id: None,
            bought_qty: Decimal::ZERO,
            sold_qty: Decimal::ZERO,
            volume_usdt: Decimal::ZERO,
            fees_usdt: Decimal::ZERO,
            outcome: None,
            created_at_ms: new.created_at_ms,
            updated_at_ms: new.updated_at_ms,
            closed_at_ms: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = schema::cycles)]
pub struct NewCycle {
    pub account_id: i64,
    pub intent_id: String,
    pub fencing_token: i64,
    pub state: CycleState,
    pub order_symbol: String,
    #[diesel(serialize_as = Dec)]
    pub buy_price: Decimal,
    #[diesel(serialize_as = Dec)]
    pub sell_price: Decimal,
    #[diesel(serialize_as = Dec)]
    pub quantity: Decimal,
    #[diesel(serialize_as = Dec)]
    pub payment_amount: Decimal,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What a cycle has done so far; written as the pair fills.
#[derive(Debug, Clone, PartialEq, AsChangeset)]
#[diesel(table_name = schema::cycles)]
pub struct CycleProgress {
    pub state: CycleState,
    #[diesel(serialize_as = Dec)]
    pub bought_qty: Decimal,
    #[diesel(serialize_as = Dec)]
    pub sold_qty: Decimal,
    #[diesel(serialize_as = Dec)]
    pub volume_usdt: Decimal,
    #[diesel(serialize_as = Dec)]
    pub fees_usdt: Decimal,
}

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, serde::Serialize)]
#[diesel(table_name = schema::orders)]
pub struct OrderRow {
    pub id: i64,
    pub account_id: i64,
    pub cycle_id: Option<i64>,
    pub intent_id: String,
    pub role: OrderRole,
    pub exchange_order_id: Option<String>,
    pub order_symbol: String,
    pub side: Side,
    #[diesel(deserialize_as = Dec)]
    pub price: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub quantity: Decimal,
    pub status: StoredStatus,
    #[diesel(deserialize_as = Dec)]
    pub filled_qty: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub filled_quote: Decimal,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl OrderRow {
    /// The row [`NewOrder`] becomes when stored under `id`: nothing filled yet.
    pub fn stored(id: i64, new: NewOrder) -> Self {
        Self {
            id,
            account_id: new.account_id,
            cycle_id: new.cycle_id,
            intent_id: new.intent_id,
            role: new.role,
            exchange_order_id: new.exchange_order_id,
            order_symbol: new.order_symbol,
            side: new.side,
            price: new.price,
            quantity: new.quantity,
            status: new.status,
            filled_qty: Decimal::ZERO,
            filled_quote: Decimal::ZERO,
            created_at_ms: new.created_at_ms,
            updated_at_ms: new.updated_at_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = schema::orders)]
pub struct NewOrder {
    pub account_id: i64,
    pub cycle_id: Option<i64>,
    pub intent_id: String,
    pub role: OrderRole,
    pub exchange_order_id: Option<String>,
    pub order_symbol: String,
    pub side: Side,
    #[diesel(serialize_as = Dec)]
    pub price: Decimal,
    #[diesel(serialize_as = Dec)]
    pub quantity: Decimal,
    pub status: StoredStatus,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, serde::Serialize)]
#[diesel(table_name = schema::fills)]
pub struct FillRow {
    pub id: i64,
    pub account_id: i64,
    pub order_id: i64,
    pub exchange_order_id: String,
    pub trade_id: String,
    #[diesel(deserialize_as = Dec)]
    pub cum_qty: Decimal,
    pub side: Side,
    #[diesel(deserialize_as = Dec)]
    pub price: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub qty: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub quote_qty: Decimal,
    #[diesel(deserialize_as = Dec)]
    pub fee: Decimal,
    pub fee_asset: String,
    pub traded_at_ms: i64,
    pub recorded_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = schema::fills)]
pub struct NewFill {
    pub account_id: i64,
    pub order_id: i64,
    pub exchange_order_id: String,
    pub trade_id: String,
    /// The order's cumulative filled quantity after this fill: the fill's identity.
    #[diesel(serialize_as = Dec)]
    pub cum_qty: Decimal,
    pub side: Side,
    #[diesel(serialize_as = Dec)]
    pub price: Decimal,
    #[diesel(serialize_as = Dec)]
    pub qty: Decimal,
    #[diesel(serialize_as = Dec)]
    pub quote_qty: Decimal,
    #[diesel(serialize_as = Dec)]
    pub fee: Decimal,
    pub fee_asset: String,
    pub traded_at_ms: i64,
    pub recorded_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, serde::Serialize)]
#[diesel(table_name = schema::events)]
pub struct EventRow {
    pub id: i64,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
    pub kind: String,
    pub level: EventLevel,
    pub reason: Option<String>,
    pub actor: String,
    pub message: String,
    /// A JSON object with the event's details.
    pub data: String,
    pub webhook_status: WebhookStatus,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = schema::events)]
pub struct NewEvent {
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
    pub kind: String,
    pub level: EventLevel,
    pub reason: Option<String>,
    pub actor: String,
    pub message: String,
    pub data: String,
    pub webhook_status: WebhookStatus,
    pub created_at_ms: i64,
}

/// A keyset page: rows with an id below `before_id` (newest first), at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Page {
    pub const MAX_LIMIT: i64 = 500;

    pub fn first(limit: i64) -> Self {
        Self {
            before_id: None,
            limit,
        }
    }

    pub fn clamped_limit(&self) -> i64 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }

    pub fn upper_bound(&self) -> i64 {
        self.before_id.unwrap_or(i64::MAX)
    }
}
