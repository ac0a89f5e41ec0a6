//! Token resolution (R17, R18): short symbol (and chain) to alpha id, order symbol, stream
//! name and precision, through the cache first (Redis or in-process), then the exchange. Every
//! answer from the exchange is written back to the cache and recorded in the database.

use std::time::{Duration, Instant};

use crate::cache::{CachedToken, Filling, TokenCache};
use crate::domain::token_choice;
use crate::exchange::error::ExchangeError;
use crate::exchange::rest::RestClient;
use crate::exchange::wire::market::{ExchangeInfo, TokenInfo};
use crate::exchange::wire::symbols::{self, SymbolError};
use crate::market::Grid;
use crate::store::Store;
use crate::store::models::{TokenMapping, TokenPrecision};

/// What an account needs to know of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradedToken {
    /// The short symbol (`KOGE`).
    pub symbol: String,
    pub alpha_id: String,
    pub order_symbol: String,
    /// The aggTrade stream's name.
    pub trade_stream: String,
    pub grid: Grid,
    /// The points multiplier when the token was resolved (the board follows its changes).
    pub mul_point: rust_decimal::Decimal,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Symbol(#[from] SymbolError),
    #[error("no usable precision for {symbol}: {reason}")]
    Precision { symbol: String, reason: String },
    #[error("the exchange did not answer: {0}")]
    Exchange(#[from] ExchangeError),
    /// `token = "auto"` found nothing to choose; the list is read again.
    #[error("{0}")]
    NoEligible(String),
}

impl TokenError {
    /// Whether trying again later can help (the exchange was away), rather than a config fix.
    pub fn is_transient(&self) -> bool {
        matches!(self, TokenError::Exchange(_) | TokenError::NoEligible(_))
    }
}

/// The token an account's settings name, or for `token = "auto"` the one the policy chooses
/// from the instance's token list (read now when it never was): the account's last choice while
/// it is still eligible, else the best.
pub async fn resolve_setting(
    ctx: &crate::actors::Ctx,
    rest: &RestClient,
    account_id: i64,
    settings: &crate::domain::settings::AccountSettings,
    now_ms: i64,
) -> Result<TradedToken, TokenError> {
    if !settings.is_auto() {
        return resolve(
            ctx,
            rest,
            &settings.token,
            settings.chain.as_deref(),
            now_ms,
        )
        .await;
    }
    if ctx.board.listed().is_empty() {
        let list = rest.token_list().await?;
        ctx.board.put(&list, now_ms);
    }
    let ranked = token_choice::ranked(&ctx.board.listed(), &policy(settings));
    let kept = ctx.board.chosen(account_id);
    let pick = match kept
        .as_ref()
        .and_then(|(a, _)| ranked.iter().find(|s| &s.alpha_id == a))
    {
        Some(s) if s.eligible() => s.clone(),
        _ => match ranked.first().filter(|s| s.eligible()) {
            Some(best) => {
                ctx.board.choose(account_id, &best.alpha_id, now_ms);
                best.clone()
            }
            None => {
                return Err(TokenError::NoEligible(format!(
                    "no token with mulPoint of at least {}{}",
                    settings.min_mul_point,
                    if settings.token_allow.is_empty() {
                        ""
                    } else {
                        " in the allow list"
                    }
                )));
            }
        },
    };
    resolve(ctx, rest, &pick.symbol, Some(&pick.chain_id), now_ms).await
}

/// An account's token policy.
pub fn policy(settings: &crate::domain::settings::AccountSettings) -> token_choice::Policy {
    token_choice::Policy {
        min_mul_point: settings.min_mul_point,
        allow: settings.token_allow.clone(),
    }
}

/// Resolves `symbol` on `chain`.
pub async fn resolve(
    ctx: &crate::actors::Ctx,
    rest: &RestClient,
    symbol: &str,
    chain: Option<&str>,
    now_ms: i64,
) -> Result<TradedToken, TokenError> {
    let (cache, store) = (&ctx.cache, &ctx.store);
    let mapped = match cache.mapping(symbol, chain).await {
        Some((t, _)) => t,
        None => fill_mapping(ctx, rest, symbol, chain, now_ms).await?,
    };
    let grid = match cache.precision(&mapped.order_symbol).await {
        Some((p, _)) => p,
        None => fill_precision(cache, store, rest, &mapped.order_symbol, now_ms).await?,
    };
    Ok(TradedToken {
        symbol: symbol.trim().to_ascii_uppercase(),
        trade_stream: symbols::agg_trade_stream(&mapped.alpha_id)?,
        alpha_id: mapped.alpha_id,
        order_symbol: mapped.order_symbol,
        mul_point: mapped.mul_point,
        grid,
    })
}

// Thousands of accounts starting on a cold cache ask the exchange once: one fills the miss,
// the others wait for it and then read the cache.

async fn fill_mapping(
    ctx: &crate::actors::Ctx,
    rest: &RestClient,
    symbol: &str,
    chain: Option<&str>,
    now_ms: i64,
) -> Result<CachedToken, TokenError> {
    let (cache, store) = (&ctx.cache, &ctx.store);
    let mut filling = cache.filling().await;
    if let Some((t, _)) = cache.mapping(symbol, chain).await {
        return Ok(t);
    }
    shared_failure(&filling)?;
    let list = remember(&mut filling, rest.token_list().await)?;
    // The list just read is the instance's token board's too: not read again for an hour.
    ctx.board.put(&list, now_ms);
    let cached = cached(&symbols::resolve(&list, symbol, chain)?);
    cache.put_mapping(symbol, chain, &cached).await;
    record_mappings(store, &list, now_ms).await;
    Ok(cached)
}

async fn fill_precision(
    cache: &TokenCache,
    store: &Store,
    rest: &RestClient,
    order_symbol: &str,
    now_ms: i64,
) -> Result<Grid, TokenError> {
    let mut filling = cache.filling().await;
    if let Some((p, _)) = cache.precision(order_symbol).await {
        return Ok(p);
    }
    shared_failure(&filling)?;
    let info = remember(&mut filling, rest.exchange_info().await)?;
    let grid = precision_of(&info, order_symbol)?;
    cache.put_precision(order_symbol, &grid).await;
    record_precision(store, order_symbol, &grid, now_ms).await;
    Ok(grid)
}

/// What the cache keeps of a resolved token.
fn cached(ids: &symbols::TokenIds) -> CachedToken {
    CachedToken {
        alpha_id: ids.alpha_id.clone(),
        chain_id: ids.chain_id.clone(),
        order_symbol: ids.order_symbol.clone(),
        stream_symbol: ids.stream_symbol.clone(),
        mul_point: ids.mul_point,
    }
}

/// How long a failure to fill a miss answers for the accounts that waited behind it: each then
/// tries again on its own schedule, not one after another against an exchange that is away.
const SHARED_FAILURE: Duration = Duration::from_secs(2);

fn shared_failure(filling: &Filling<'_>) -> Result<(), TokenError> {
    match filling.as_ref() {
        Some((at, why)) if at.elapsed() < SHARED_FAILURE => {
            Err(TokenError::Exchange(ExchangeError::NotSent(why.clone())))
        }
        _ => Ok(()),
    }
}

fn remember<T>(filling: &mut Filling<'_>, got: Result<T, ExchangeError>) -> Result<T, TokenError> {
    got.map_err(|e| {
        **filling = Some((Instant::now(), e.to_string()));
        TokenError::Exchange(e)
    })
}

fn precision_of(info: &ExchangeInfo, order_symbol: &str) -> Result<Grid, TokenError> {
    let sym = info
        .symbols
        .iter()
        .find(|s| s.symbol == order_symbol)
        .ok_or_else(|| TokenError::Precision {
            symbol: order_symbol.to_owned(),
            reason: "not in exchangeInfo".into(),
        })?;
    sym.precision().map_err(|reason| TokenError::Precision {
        symbol: order_symbol.to_owned(),
        reason,
    })
}

/// Fetches every mapping and precision and writes them to the cache and the database
/// (`alpha-oto token refresh`). Returns (mappings, precisions) written.
pub async fn refresh_all(
    cache: &TokenCache,
    store: &Store,
    rest: &RestClient,
    now_ms: i64,
) -> Result<(usize, usize), TokenError> {
    let list = rest.token_list().await?;
    let mut mappings = 0;
    for t in &list {
        let Ok(ids) = symbols::resolve(std::slice::from_ref(t), &t.symbol, None) else {
            continue;
        };
        let cached = cached(&ids);
        cache
            .put_mapping(&t.symbol, Some(&t.chain_id), &cached)
            .await;
        cache
            .put_mapping(&t.symbol, Some(&t.chain_name), &cached)
            .await;
        if list
            .iter()
            .filter(|o| o.symbol.eq_ignore_ascii_case(&t.symbol))
            .count()
            == 1
        {
            cache.put_mapping(&t.symbol, None, &cached).await;
        }
        mappings += 1;
    }
    record_mappings(store, &list, now_ms).await;
    let info = rest.exchange_info().await?;
    let mut precisions = 0;
    for s in &info.symbols {
        if let Ok(grid) = s.precision() {
            cache.put_precision(&s.symbol, &grid).await;
            record_precision(store, &s.symbol, &grid, now_ms).await;
            precisions += 1;
        }
    }
    Ok((mappings, precisions))
}

async fn record_mappings(store: &Store, list: &[TokenInfo], now_ms: i64) {
    let rows: Vec<TokenMapping> = list
        .iter()
        .map(|t| TokenMapping {
            alpha_id: t.alpha_id.clone(),
            symbol: t.symbol.clone(),
            chain_id: t.chain_id.clone(),
            contract_address: Some(t.contract_address.clone()).filter(|c| !c.is_empty()),
            fetched_at_ms: now_ms,
        })
        .collect();
    // The record is for operators; trading never waits on it.
    let _ = store
        .run(move |c| {
            for r in &rows {
                crate::store::tokens::upsert_mapping(c, r)?;
            }
            Ok(())
        })
        .await;
}

async fn record_precision(store: &Store, order_symbol: &str, g: &Grid, now_ms: i64) {
    let row = TokenPrecision {
        order_symbol: order_symbol.to_owned(),
        tick_size: g.tick_size,
        step_size: g.step_size,
        min_qty: g.min_qty,
        max_qty: g.max_qty,
        min_notional: g.min_notional,
        fetched_at_ms: now_ms,
    };
    let _ = store
        .run(move |c| crate::store::tokens::upsert_precision(c, &row))
        .await;
}

/// Reads the instance's token list when it was never read or is due. `Err` carries the
/// failure's kind only when no list is held at all (an older list still answers).
pub async fn token_list_if_due(ctx: &super::Ctx) -> Result<(), String> {
    let now = ctx.clock.now_ms();
    let every = i64::try_from(ctx.timing.token_list_every.as_millis()).unwrap_or(i64::MAX);
    if !ctx.board.listed().is_empty() && !ctx.board.claim(now, every) {
        return Ok(());
    }
    let rest = RestClient::new(&ctx.exchange.rest_url, ctx.timing.request_timeout);
    match rest.token_list().await {
        Ok(list) => ctx.board.put(&list, ctx.clock.now_ms()),
        Err(e) => {
            ctx.board.failed(ctx.clock.now_ms());
            if ctx.board.listed().is_empty() {
                return Err(e.kind().to_owned());
            }
        }
    }
    Ok(())
}
