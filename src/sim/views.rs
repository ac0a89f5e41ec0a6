//! The engine's state as the exchange shows it: wire types built from simulator data.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::engine::{Engine, Fill, Leg, Order, QUOTE};
use super::tokens::Token;
use crate::exchange::wire::account::{
    AlphaWallet, TokenVolume, UserVolume, WalletAsset, WalletSlot, WalletToken,
};
use crate::exchange::wire::market::{
    AggTrade, AssetInfo, ExchangeInfo, FeeRate, Filter, SymbolInfo, Ticker24, TokenFullInfo,
    TokenMeta,
};
use crate::exchange::wire::stream::AggTradeEvent;
use crate::exchange::wire::trading::{HistoryOrder, OpenOrder, UserTrade};

/// A token as the token list shows it: every field of the captured entry
/// (`sep25-agg-ticker24-1`), with the same JSON types. The daemon reads a few (`TokenInfo`);
/// the rest are here so a client that reads more meets the real shape. Supplies, holders and
/// liquidity are invented constants; the market figures are the run's.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenListing {
    token_id: String,
    chain_id: String,
    chain_icon_url: String,
    chain_name: String,
    contract_address: String,
    name: String,
    symbol: String,
    icon_url: String,
    price: String,
    #[serde(rename = "percentChange24h")]
    percent_change_24h: String,
    #[serde(rename = "volume24h")]
    volume_24h: String,
    market_cap: String,
    fdv: String,
    liquidity: String,
    total_supply: String,
    circulating_supply: String,
    holders: String,
    decimals: u32,
    listing_cex: bool,
    hot_tag: bool,
    cex_coin_name: String,
    can_transfer: bool,
    denomination: u32,
    offline: bool,
    trade_decimal: u32,
    alpha_id: String,
    offsell: bool,
    #[serde(rename = "priceHigh24h")]
    price_high_24h: String,
    #[serde(rename = "priceLow24h")]
    price_low_24h: String,
    #[serde(rename = "count24h")]
    count_24h: String,
    online_tge: bool,
    online_airdrop: bool,
    score: u32,
    cex_off_display: bool,
    stock_state: bool,
    listing_time: i64,
    #[serde(serialize_with = "crate::exchange::wire::num::as_number")]
    mul_point: Decimal,
    bn_exclusive_state: bool,
}

/// Invented supplies: a billion tokens, a fifth of them in circulation.
const TOTAL_SUPPLY: i64 = 1_000_000_000;
const CIRCULATING_SUPPLY: i64 = 200_000_000;

pub fn token_listing(t: &Token) -> TokenListing {
    let change = if t.open_24h.is_zero() {
        Decimal::ZERO
    } else {
        ((t.price - t.open_24h) / t.open_24h * Decimal::ONE_HUNDRED).round_dp(2)
    };
    let plain = |d: Decimal| d.normalize().to_string();
    TokenListing {
        token_id: t.token_id.clone(),
        chain_id: t.chain_id.clone(),
        chain_icon_url: String::new(),
        chain_name: t.chain_name.clone(),
        contract_address: t.contract_address.clone(),
        name: format!("{} token", t.symbol),
        symbol: t.symbol.clone(),
        icon_url: String::new(),
        price: plain(t.price),
        percent_change_24h: format!("{change:.2}"),
        volume_24h: plain(t.volume_24h.round_dp(8)),
        market_cap: plain((t.price * Decimal::from(CIRCULATING_SUPPLY)).round_dp(8)),
        fdv: plain((t.price * Decimal::from(TOTAL_SUPPLY)).round_dp(8)),
        liquidity: "2000000".into(),
        total_supply: TOTAL_SUPPLY.to_string(),
        circulating_supply: CIRCULATING_SUPPLY.to_string(),
        holders: "10000".into(),
        decimals: t.decimals,
        listing_cex: false,
        hot_tag: false,
        cex_coin_name: String::new(),
        can_transfer: false,
        denomination: 1,
        offline: false,
        trade_decimal: 8,
        alpha_id: t.alpha_id.clone(),
        offsell: false,
        price_high_24h: plain(t.high_24h),
        price_low_24h: plain(t.low_24h),
        count_24h: t.count_24h.to_string(),
        online_tge: false,
        online_airdrop: false,
        score: 1000,
        cex_off_display: false,
        stock_state: false,
        listing_time: 1_750_000_000_000,
        mul_point: t.mul_point,
        bn_exclusive_state: false,
    }
}

/// One token's entry of the `tickerList` frame, its figures those of the token list.
pub fn ticker_entry(t: &Token, now: i64) -> Value {
    let l = token_listing(t);
    json!({
        "ca": format!("{}@{}", t.contract_address, t.chain_id),
        "p": l.price,
        "pc24": l.percent_change_24h,
        "vol24": l.volume_24h,
        "mc": l.market_cap,
        "fdv": l.fdv,
        "liq": l.liquidity,
        "hc": l.holders,
        "cnt24": t.count_24h,
        "s": l.score.to_string(),
        "t": now - now.rem_euclid(1000),
    })
}

pub fn full_info(t: &Token) -> TokenFullInfo {
    TokenFullInfo {
        meta_info: TokenMeta {
            token_id: t.token_id.clone(),
            name: format!("{} token", t.symbol),
            symbol: t.symbol.clone(),
            chain_id: t.chain_id.clone(),
            chain_name: t.chain_name.clone(),
            contract_address: t.contract_address.clone(),
            decimals: Some(t.decimals),
            alpha_id: t.alpha_id.clone(),
            trade_decimal: Some(8),
            listing_time: Some(1_750_000_000_000),
            trading: Some(true),
        },
    }
}

pub fn exchange_info(tokens: &[Token]) -> ExchangeInfo {
    ExchangeInfo {
        timezone: Some("UTC".into()),
        assets: std::iter::once(QUOTE.to_owned())
            .chain(tokens.iter().map(|t| t.alpha_id.clone()))
            .map(|asset| AssetInfo { asset })
            .collect(),
        symbols: tokens
            .iter()
            .map(|t| {
                let p = &t.precision;
                SymbolInfo {
                    symbol: t.order_symbol.clone(),
                    status: "TRADING".into(),
                    base_asset: t.alpha_id.clone(),
                    quote_asset: QUOTE.into(),
                    price_precision: Some(p.tick_size.scale()),
                    quantity_precision: Some(p.step_size.scale()),
                    base_asset_precision: Some(p.step_size.scale()),
                    quote_precision: Some(8),
                    filters: vec![
                        Filter::Price {
                            min_price: p.min_price,
                            max_price: p.max_price,
                            tick_size: p.tick_size,
                        },
                        Filter::LotSize {
                            step_size: p.step_size,
                            max_qty: p.max_qty,
                            min_qty: p.min_qty,
                        },
                        Filter::MinNotional {
                            min_notional: p.min_notional,
                        },
                    ],
                    order_types: vec!["LIMIT".into()],
                }
            })
            .collect(),
    }
}

pub fn ticker(t: &Token, now: i64) -> Ticker24 {
    Ticker24 {
        symbol: t.order_symbol.clone(),
        last_price: t.price,
        high_price: None,
        low_price: None,
        volume: None,
        quote_volume: None,
        close_time: Some(now),
    }
}

pub fn agg_trade(e: &AggTradeEvent) -> AggTrade {
    AggTrade {
        id: e.id,
        price: e.price,
        qty: e.qty,
        first_trade_id: e.first_trade_id,
        last_trade_id: e.last_trade_id,
        time: e.trade_time,
        buyer_maker: e.buyer_maker,
    }
}

pub fn fee_rate() -> FeeRate {
    FeeRate {
        buyer_commission: Decimal::from(100),
        seller_commission: Decimal::from(100),
    }
}

pub fn open_order(o: &Order) -> OpenOrder {
    OpenOrder {
        order_id: o.id.to_string(),
        symbol: o.symbol.clone(),
        side: o.side,
        order_type: Some("LIMIT".into()),
        status: o.status,
        price: o.price,
        orig_qty: o.orig_qty,
        executed_qty: o.executed_qty,
        cum_quote: o.cum_quote,
        time: o.created_ms,
        update_time: Some(o.updated_ms),
        base_asset: Some(o.alpha_id.clone()),
        quote_asset: Some(QUOTE.into()),
        alpha_id: Some(o.alpha_id.clone()),
        order_list_id: o.list_id.map(|l| l.to_string()),
    }
}

pub fn history_order(o: &Order) -> HistoryOrder {
    HistoryOrder {
        kind: Some("LIMIT".into()),
        order_id: o.id.to_string(),
        symbol: o.symbol.clone(),
        status: o.status,
        price: o.price,
        avg_price: if o.executed_qty.is_zero() {
            Decimal::ZERO
        } else {
            (o.cum_quote / o.executed_qty).round_dp(9)
        },
        orig_qty: o.orig_qty,
        executed_qty: o.executed_qty,
        cum_quote: o.cum_quote,
        order_type: Some("LIMIT".into()),
        side: o.side,
        stop_price: Some(Decimal::ZERO),
        time: Some(o.created_ms),
        update_time: Some(o.updated_ms),
        order_list_id: Some(o.list_id.map_or_else(|| "-1".to_owned(), |l| l.to_string())),
        base_asset: Some(o.alpha_id.clone()),
        quote_asset: Some(QUOTE.into()),
        alpha_id: Some(o.alpha_id.clone()),
        contingency_type: o.list_id.map(|_| "OTO".to_owned()),
        contingency_order_position: o.leg.map(|l| match l {
            Leg::Working => "OTO_WORKING".to_owned(),
            Leg::Pending => "OTO_PENDING".to_owned(),
        }),
        // Only a list's orders have one (`cap-historical-limit-orders-1`: a plain order's is 0).
        working_time: Some(if o.list_id.is_some() {
            o.working_time
        } else {
            0
        }),
        target_strategy: None,
    }
}

pub fn user_trade(f: &Fill) -> UserTrade {
    UserTrade {
        symbol: f.symbol.clone(),
        id: f.trade_id.to_string(),
        order_id: f.order_id.to_string(),
        trade_id: f.trade_id.to_string(),
        side: f.side,
        price: f.price,
        qty: f.qty,
        quote_qty: f.quote,
        commission: f.commission,
        commission_asset: f.commission_asset.clone(),
        time: f.time,
        page_id: Some(f.page_id.to_string()),
        buyer: Some(f.side == crate::market::Side::Buy),
        base_asset: Some(f.alpha_id.clone()),
        quote_asset: Some(QUOTE.into()),
        order_type: Some("LIMIT".into()),
        last_trade: Some(f.last_trade),
    }
}

pub fn user_volume(e: &Engine, account: u64, now: i64) -> UserVolume {
    let per = e.volume_today(account, now);
    UserVolume {
        total_volume: per.iter().map(|(_, v)| *v).sum(),
        trade_volume_info_list: per
            .into_iter()
            .map(|(token_name, volume)| TokenVolume {
                icon: None,
                token_name,
                volume,
            })
            .collect(),
    }
}

pub fn alpha_wallet(e: &Engine, account: u64) -> AlphaWallet {
    let mut list = Vec::new();
    let mut total = Decimal::ZERO;
    if let Some(a) = e.accounts.get(&account) {
        for (asset, b) in &a.balances {
            let Some(t) = e.tokens.iter().find(|t| &t.alpha_id == asset) else {
                continue;
            };
            let amount = b.free + b.locked;
            let valuation = (amount * t.price).round_dp(8);
            total += valuation;
            list.push(WalletToken {
                chain_id: Some(t.chain_id.clone()),
                contract_address: Some(t.contract_address.clone()),
                cex_asset: Some(false),
                name: Some(format!("{} token", t.symbol)),
                symbol: t.symbol.clone(),
                token_id: t.alpha_id.clone(),
                free: b.free,
                freeze: Decimal::ZERO,
                locked: b.locked,
                withdrawing: Decimal::ZERO,
                amount,
                valuation: Some(valuation),
            });
        }
    }
    AlphaWallet {
        total_valuation: total,
        list,
    }
}

pub fn wallet_assets(e: &Engine, account: u64) -> Vec<WalletAsset> {
    let Some(a) = e.accounts.get(&account) else {
        return Vec::new();
    };
    a.balances
        .iter()
        .filter(|(asset, _)| asset.as_str() == QUOTE)
        .map(|(asset, b)| WalletAsset {
            asset: asset.clone(),
            coin_business_type: None,
            spot: WalletSlot {
                free: b.free,
                locked: b.locked,
                ..WalletSlot::default()
            },
            funding: WalletSlot::default(),
        })
        .collect()
}

/// Orders the account still has open, pending OTO legs included.
pub fn open_orders(e: &Engine, account: u64) -> impl Iterator<Item = &Order> {
    e.open_orders(account)
}
