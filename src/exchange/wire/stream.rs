//! WebSocket messages: control requests and answers, and the data frames of both streams.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::market::Level;
use super::num;
use crate::market::{OrderStatus, Side};

/// A control request: `SUBSCRIBE`, `UNSUBSCRIBE` or `LIST_SUBSCRIPTION`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub method: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    pub id: serde_json::Value,
}

/// Anything the server sends: a data frame (`{"stream":..,"data":..}`) or an answer to a
/// request (`{"result":..,"id":..}`, or just `{"id":..}` as one capture shows). A plain struct
/// rather than an untagged enum, so `data` stays raw until its stream says what it is.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerMessage {
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub data: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub id: Option<serde_json::Value>,
}

impl ServerMessage {
    /// The stream name and raw payload of a data frame.
    pub fn frame(&self) -> Option<(&str, &str)> {
        Some((self.stream.as_deref()?, self.data.as_deref()?.get()))
    }
}

/// An outgoing data frame (the simulator's side of [`ServerMessage::Frame`]).
#[derive(Debug, Clone, Serialize)]
pub struct OutFrame<'a, T: Serialize> {
    pub stream: &'a str,
    pub data: &'a T,
}

/// `<symbol>@aggTrade`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggTradeEvent {
    #[serde(rename = "e")]
    pub event_type: String,
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "T")]
    pub trade_time: i64,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "a")]
    pub id: u64,
    #[serde(rename = "p", with = "num::dec_string")]
    pub price: Decimal,
    #[serde(rename = "q", with = "num::dec_string")]
    pub qty: Decimal,
    #[serde(rename = "f")]
    pub first_trade_id: u64,
    #[serde(rename = "l")]
    pub last_trade_id: u64,
    /// The buyer was the maker.
    #[serde(rename = "m")]
    pub buyer_maker: bool,
}

/// `<symbol>@fulldepth@500ms` and `@depth@100ms`: book changes; a quantity of 0 removes a level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthUpdate {
    #[serde(rename = "e")]
    pub event_type: String,
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "T", default)]
    pub time: Option<i64>,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "U")]
    pub first_update_id: u64,
    #[serde(rename = "u")]
    pub last_update_id: u64,
    #[serde(rename = "pu", default)]
    pub prev_update_id: Option<u64>,
    #[serde(rename = "b")]
    pub bids: Vec<Level>,
    #[serde(rename = "a")]
    pub asks: Vec<Level>,
}

/// What happened to an order in this report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionType {
    New,
    Trade,
    Canceled,
    Expired,
    Rejected,
    /// Any type not seen so far; kept so a new one cannot break the stream.
    #[serde(other)]
    Other,
}

/// `executionReport` on `alpha@<listenKey>`: one change of one order. Ids are strings; `t` is
/// `"0"` when there was no trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionReport {
    #[serde(rename = "e")]
    pub event_type: String,
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "u", default)]
    pub update_time: Option<i64>,
    #[serde(rename = "O", default)]
    pub order_time: Option<i64>,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "ba", default)]
    pub base_asset: Option<String>,
    #[serde(rename = "qa", default)]
    pub quote_asset: Option<String>,
    #[serde(rename = "c", default)]
    pub client_order_id: Option<String>,
    #[serde(rename = "S")]
    pub side: Side,
    #[serde(rename = "o", default)]
    pub order_type: Option<String>,
    #[serde(rename = "ot", default, skip_serializing_if = "Option::is_none")]
    pub orig_order_type: Option<String>,
    #[serde(rename = "f", default)]
    pub time_in_force: Option<String>,
    #[serde(rename = "q", with = "num::dec_string")]
    pub qty: Decimal,
    #[serde(rename = "p", with = "num::dec_string")]
    pub price: Decimal,
    #[serde(rename = "ap", default, with = "num::dec_string")]
    pub avg_price: Decimal,
    #[serde(rename = "P", default, with = "num::dec_plain")]
    pub stop_price: Decimal,
    #[serde(rename = "Q", default, with = "num::dec_plain")]
    pub quote_order_qty: Decimal,
    #[serde(rename = "x")]
    pub execution_type: ExecutionType,
    #[serde(rename = "X")]
    pub status: OrderStatus,
    #[serde(rename = "i", with = "num::id_text")]
    pub order_id: String,
    #[serde(rename = "l", with = "num::dec_string")]
    pub last_qty: Decimal,
    #[serde(rename = "z", with = "num::dec_string")]
    pub cum_qty: Decimal,
    #[serde(rename = "L", with = "num::dec_string")]
    pub last_price: Decimal,
    #[serde(rename = "Y", default, with = "num::dec_string")]
    pub last_quote: Decimal,
    #[serde(rename = "Z", default, with = "num::dec_string")]
    pub cum_quote: Decimal,
    /// Commission of this trade; present on TRADE reports only.
    #[serde(
        rename = "n",
        default,
        skip_serializing_if = "Option::is_none",
        with = "num::opt_dec_string"
    )]
    pub commission: Option<Decimal>,
    #[serde(rename = "N", default, skip_serializing_if = "Option::is_none")]
    pub commission_asset: Option<String>,
    #[serde(rename = "t", with = "num::id_text")]
    pub trade_id: String,
    #[serde(rename = "m", default)]
    pub m: bool,
    #[serde(rename = "st", default, skip_serializing_if = "Option::is_none")]
    pub st: Option<i64>,
    /// The event's sequence number.
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// OTO list id.
    #[serde(
        rename = "il",
        default,
        skip_serializing_if = "Option::is_none",
        with = "num::opt_id_text"
    )]
    pub order_list_id: Option<String>,
    /// Contingency type (`OTO`) and position (`OTO_WORKING`, `OTO_PENDING`).
    #[serde(rename = "ct", default, skip_serializing_if = "Option::is_none")]
    pub contingency_type: Option<String>,
    #[serde(rename = "cp", default, skip_serializing_if = "Option::is_none")]
    pub contingency_position: Option<String>,
}

impl ExecutionReport {
    /// A report that carries a fill.
    pub fn is_trade(&self) -> bool {
        self.execution_type == ExecutionType::Trade
    }
}
