//! From an operator's short symbol (`KOGE`, optionally with a chain) to the exchange's ids:
//! the alphaId (`ALPHA_123`, the base asset), the order symbol (`ALPHA_123USDT`) and the
//! stream name (`alpha_123usdt`).

use rust_decimal::Decimal;

use super::market::TokenInfo;

/// The quote asset of every Alpha pair the daemon trades.
pub const QUOTE: &str = "USDT";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("unknown token {symbol}{}", chain.as_ref().map(|c| format!(" on chain {c}")).unwrap_or_default())]
    Unknown {
        symbol: String,
        chain: Option<String>,
    },
    #[error("token {symbol} exists on several chains; name one: {}", choices.join(", "))]
    Ambiguous {
        symbol: String,
        choices: Vec<String>,
    },
    #[error("{0:?} is not an alphaId (expected ALPHA_<n>)")]
    BadAlphaId(String),
}

/// Everything the daemon needs to trade one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIds {
    pub symbol: String,
    pub chain_id: String,
    pub chain_name: String,
    pub contract_address: String,
    pub alpha_id: String,
    pub order_symbol: String,
    pub stream_symbol: String,
    pub mul_point: Decimal,
    /// Listed and not paused (offline or stockState make it untradable).
    pub tradable: bool,
}

/// `ALPHA_971` -> `ALPHA_971USDT`.
pub fn order_symbol(alpha_id: &str) -> Result<String, SymbolError> {
    check_alpha_id(alpha_id)?;
    Ok(format!("{alpha_id}{QUOTE}"))
}

/// `ALPHA_971` -> `alpha_971usdt`.
pub fn stream_symbol(alpha_id: &str) -> Result<String, SymbolError> {
    Ok(order_symbol(alpha_id)?.to_ascii_lowercase())
}

/// The aggTrade stream of a token: `alpha_971usdt@aggTrade`.
pub fn agg_trade_stream(alpha_id: &str) -> Result<String, SymbolError> {
    Ok(format!("{}@aggTrade", stream_symbol(alpha_id)?))
}

/// The private stream of a listen key: `alpha@<key>`.
pub fn user_stream(listen_key: &str) -> String {
    format!("alpha@{listen_key}")
}

/// `ALPHA_971USDT` -> `ALPHA_971`, for order symbols of the USDT quote.
pub fn alpha_id_of(order_symbol: &str) -> Result<String, SymbolError> {
    let alpha = order_symbol
        .strip_suffix(QUOTE)
        .ok_or_else(|| SymbolError::BadAlphaId(order_symbol.to_owned()))?;
    check_alpha_id(alpha)?;
    Ok(alpha.to_owned())
}

fn check_alpha_id(alpha_id: &str) -> Result<(), SymbolError> {
    let n = alpha_id
        .strip_prefix("ALPHA_")
        .ok_or_else(|| SymbolError::BadAlphaId(alpha_id.to_owned()))?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SymbolError::BadAlphaId(alpha_id.to_owned()));
    }
    Ok(())
}

/// Finds `symbol` (case-insensitive) in the token list, on `chain` (an id like `56` or a name
/// like `BSC`) when given. Several matches without a chain is an error naming the choices.
pub fn resolve(
    tokens: &[TokenInfo],
    symbol: &str,
    chain: Option<&str>,
) -> Result<TokenIds, SymbolError> {
    let wanted = symbol.trim();
    let chain = chain.map(str::trim).filter(|c| !c.is_empty());
    let matches: Vec<&TokenInfo> = tokens
        .iter()
        .filter(|t| t.symbol.eq_ignore_ascii_case(wanted))
        .filter(|t| {
            chain.is_none_or(|c| {
                t.chain_id.eq_ignore_ascii_case(c) || t.chain_name.eq_ignore_ascii_case(c)
            })
        })
        .collect();
    match matches.as_slice() {
        [] => Err(SymbolError::Unknown {
            symbol: wanted.to_owned(),
            chain: chain.map(str::to_owned),
        }),
        [t] => ids(t),
        many => Err(SymbolError::Ambiguous {
            symbol: wanted.to_owned(),
            choices: many
                .iter()
                .map(|t| format!("{} (chain {}, {})", t.chain_name, t.chain_id, t.alpha_id))
                .collect(),
        }),
    }
}

fn ids(t: &TokenInfo) -> Result<TokenIds, SymbolError> {
    Ok(TokenIds {
        symbol: t.symbol.clone(),
        chain_id: t.chain_id.clone(),
        chain_name: t.chain_name.clone(),
        contract_address: t.contract_address.clone(),
        alpha_id: t.alpha_id.clone(),
        order_symbol: order_symbol(&t.alpha_id)?,
        stream_symbol: stream_symbol(&t.alpha_id)?,
        mul_point: t.mul_point,
        tradable: t.is_tradable(),
    })
}
