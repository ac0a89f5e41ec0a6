//! Public market data: token list, exchange info, ticker, trades, depth, fees.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::num;
use crate::market::Grid;

/// One token of the token list or of aggTicker24 (the same objects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    #[serde(default)]
    pub token_id: String,
    #[serde(with = "num::id_text")]
    pub chain_id: String,
    #[serde(default)]
    pub chain_name: String,
    #[serde(default)]
    pub contract_address: String,
    #[serde(default)]
    pub name: String,
    pub symbol: String,
    pub alpha_id: String,
    #[serde(default, with = "num::opt_dec_plain")]
    pub price: Option<Decimal>,
    /// On-chain decimals: not the trading precision.
    #[serde(default)]
    pub decimals: Option<u32>,
    #[serde(default)]
    pub offline: bool,
    #[serde(default)]
    pub offsell: bool,
    #[serde(default)]
    pub stock_state: bool,
    #[serde(default)]
    pub listing_cex: bool,
    #[serde(default)]
    pub cex_off_display: bool,
    #[serde(default = "one", with = "num::dec_number")]
    pub mul_point: Decimal,
    #[serde(default)]
    pub listing_time: Option<i64>,
    /// Quote volume of the last 24 h.
    #[serde(default, rename = "volume24h", with = "num::opt_dec_plain")]
    pub volume_24h: Option<Decimal>,
    #[serde(default, rename = "priceHigh24h", with = "num::opt_dec_plain")]
    pub price_high_24h: Option<Decimal>,
    #[serde(default, rename = "priceLow24h", with = "num::opt_dec_plain")]
    pub price_low_24h: Option<Decimal>,
}

fn one() -> Decimal {
    Decimal::ONE
}

impl TokenInfo {
    /// Tradable on Alpha: listed, not paused (the rule the working bots use).
    pub fn is_tradable(&self) -> bool {
        !self.offline && !self.stock_state
    }
}

/// `token/full/info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenFullInfo {
    pub meta_info: TokenMeta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenMeta {
    #[serde(default)]
    pub token_id: String,
    #[serde(default)]
    pub name: String,
    pub symbol: String,
    #[serde(with = "num::id_text")]
    pub chain_id: String,
    #[serde(default)]
    pub chain_name: String,
    #[serde(default)]
    pub contract_address: String,
    #[serde(default)]
    pub decimals: Option<u32>,
    pub alpha_id: String,
    #[serde(default)]
    pub trade_decimal: Option<u32>,
    #[serde(default)]
    pub listing_time: Option<i64>,
    #[serde(default)]
    pub trading: Option<bool>,
}

/// `get-exchange-info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfo {
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub assets: Vec<AssetInfo>,
    pub symbols: Vec<SymbolInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetInfo {
    pub asset: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    pub symbol: String,
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    #[serde(default)]
    pub price_precision: Option<u32>,
    #[serde(default)]
    pub quantity_precision: Option<u32>,
    #[serde(default)]
    pub base_asset_precision: Option<u32>,
    #[serde(default)]
    pub quote_precision: Option<u32>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    #[serde(default)]
    pub order_types: Vec<String>,
}

/// The filters that define trading precision; others are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "filterType")]
pub enum Filter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        #[serde(with = "num::dec_plain")]
        min_price: Decimal,
        #[serde(with = "num::dec_plain")]
        max_price: Decimal,
        #[serde(with = "num::dec_string")]
        tick_size: Decimal,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        #[serde(with = "num::dec_string")]
        step_size: Decimal,
        #[serde(with = "num::dec_plain")]
        max_qty: Decimal,
        #[serde(with = "num::dec_string")]
        min_qty: Decimal,
    },
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional {
        #[serde(with = "num::dec_plain")]
        min_notional: Decimal,
    },
    #[serde(other)]
    Other,
}

impl SymbolInfo {
    /// The symbol's precision, or the name of the filter that is missing or unusable. No
    /// default is ever guessed: a wrong step would mean rejected or wrong-sized orders.
    pub fn precision(&self) -> Result<Grid, String> {
        let mut price = None;
        let mut lot = None;
        let mut notional = None;
        for f in &self.filters {
            match f {
                Filter::Price {
                    min_price,
                    max_price,
                    tick_size,
                } => price = Some((*min_price, *max_price, *tick_size)),
                Filter::LotSize {
                    step_size,
                    max_qty,
                    min_qty,
                } => lot = Some((*step_size, *min_qty, *max_qty)),
                Filter::MinNotional { min_notional } => notional = Some(*min_notional),
                Filter::Other => {}
            }
        }
        let (min_price, max_price, tick_size) = price.ok_or("PRICE_FILTER is missing")?;
        let (step_size, min_qty, max_qty) = lot.ok_or("LOT_SIZE is missing")?;
        if tick_size <= Decimal::ZERO {
            return Err("PRICE_FILTER tickSize must be positive".into());
        }
        if step_size <= Decimal::ZERO {
            return Err("LOT_SIZE stepSize must be positive".into());
        }
        Ok(Grid {
            tick_size,
            min_price,
            max_price,
            step_size,
            min_qty,
            max_qty,
            min_notional: notional.unwrap_or(Decimal::ZERO),
        })
    }
}

/// `ticker`: the 24 h ticker of one symbol (the fields the daemon uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticker24 {
    pub symbol: String,
    #[serde(with = "num::dec_plain")]
    pub last_price: Decimal,
    #[serde(default, with = "num::opt_dec_plain")]
    pub high_price: Option<Decimal>,
    #[serde(default, with = "num::opt_dec_plain")]
    pub low_price: Option<Decimal>,
    #[serde(default, with = "num::opt_dec_plain")]
    pub volume: Option<Decimal>,
    #[serde(default, with = "num::opt_dec_plain")]
    pub quote_volume: Option<Decimal>,
    #[serde(default)]
    pub close_time: Option<i64>,
}

/// One aggregated trade of `agg-trades` (REST).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggTrade {
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
    #[serde(rename = "T")]
    pub time: i64,
    /// The buyer was the maker.
    #[serde(rename = "m")]
    pub buyer_maker: bool,
}

/// `fullDepth`: an order book snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullDepth {
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    pub symbol: String,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    #[serde(rename = "E", default)]
    pub event_time: Option<i64>,
    #[serde(rename = "T", default)]
    pub time: Option<i64>,
}

/// A book level, `[price, qty]` as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub price: Decimal,
    pub qty: Decimal,
}

impl Serialize for Level {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.price.to_string(), self.qty.to_string()].serialize(s)
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Pair(
            #[serde(with = "num::dec")] Decimal,
            #[serde(with = "num::dec")] Decimal,
        );
        let Pair(price, qty) = Pair::deserialize(d)?;
        Ok(Level { price, qty })
    }
}

/// `get-fee-rate`: commissions in units of 0.0001 % (100 = 0.01 %, as measured live).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeRate {
    #[serde(with = "num::dec_number")]
    pub buyer_commission: Decimal,
    #[serde(with = "num::dec_number")]
    pub seller_commission: Decimal,
}
