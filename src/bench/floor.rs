//! The physical floor of reaction on this machine: a minimal reactor, in a process of its own
//! (`alpha-oto bench-floor`, so its CPU per pair is measured as the daemon's is), that places
//! an account's next pair the instant it reads the frame completing the last one. No actors,
//! no database, no checks; the same simulator, sockets and wire types as the daemon, so the
//! difference between the two is what the daemon adds.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use tokio_tungstenite::tungstenite::Message;

use crate::domain::pricing::{Offset, price_pair};
use crate::exchange::rest::RestClient;
use crate::exchange::session::Session;
use crate::exchange::wire::stream::ExecutionReport;
use crate::exchange::wire::trading::{OtoPlaceRequest, PaymentDetail, WalletType};
use crate::market::Side;

use super::TOKENS;

#[derive(serde::Deserialize)]
struct Frame {
    data: ExecutionReport,
}

/// One fixed pair per token: in fill-at-once mode every order fills at its own price, so the
/// price never needs to follow the market.
async fn pairs(rest: &RestClient) -> anyhow::Result<Vec<OtoPlaceRequest>> {
    let list = rest.token_list().await?;
    let info = rest.exchange_info().await?;
    let mut out = Vec::new();
    for symbol in TOKENS {
        let t = list
            .iter()
            .find(|t| t.symbol == symbol)
            .with_context(|| format!("{symbol} is not listed"))?;
        let order_symbol = crate::exchange::wire::symbols::order_symbol(&t.alpha_id)?;
        let grid = info
            .symbols
            .iter()
            .find(|s| s.symbol == order_symbol)
            .with_context(|| format!("{order_symbol} has no precision"))?
            .precision()
            .map_err(|e| anyhow!("{order_symbol}: {e}"))?;
        let price = t.price.context("no price")?;
        let p = price_pair(
            price,
            Decimal::from(super::ORDER_USDT),
            Offset::Percent(Decimal::ZERO),
            Offset::Percent(Decimal::new(5, 1)),
            &grid,
        )?;
        out.push(OtoPlaceRequest {
            base_asset: t.alpha_id.clone(),
            quote_asset: "USDT".into(),
            working_side: Side::Buy,
            working_price: p.buy_price,
            working_quantity: p.quantity,
            payment_details: vec![PaymentDetail {
                amount: p.payment,
                payment_wallet_type: WalletType::Card,
            }],
            pending_price: p.sell_price,
            pending_type: Some("LIMIT".into()),
        });
    }
    Ok(out)
}

fn credentials(json: &serde_json::Value) -> anyhow::Result<Session> {
    let headers: BTreeMap<String, String> = serde_json::from_value(json["headers"].clone())?;
    let cookies = json["cookies"].as_str().context("no cookies")?;
    Ok(Session::from_plain(headers, cookies.to_owned())?)
}

/// Runs every account for `run_for`; returns the number of failed requests.
pub async fn run(
    base_url: &str,
    ws_url: &str,
    accounts: &[(u64, serde_json::Value)],
    run_for: Duration,
) -> anyhow::Result<u64> {
    let timeout = Duration::from_secs(10);
    let orders = pairs(&RestClient::new(base_url, timeout)).await?;
    let until = tokio::time::Instant::now() + run_for;
    let mut tasks = Vec::new();
    for (i, (_, creds)) in accounts.iter().enumerate() {
        let rest = RestClient::new(base_url, timeout).with_session(&credentials(creds)?);
        let order = orders[i % orders.len()].clone();
        let url = ws_url.to_owned();
        tasks.push(actix_web::rt::spawn(async move {
            react(rest, &url, order, until).await
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += match t.await {
            Ok(Ok(n)) => n,
            _ => 1,
        };
    }
    Ok(errors)
}

async fn react(
    rest: RestClient,
    ws_url: &str,
    order: OtoPlaceRequest,
    until: tokio::time::Instant,
) -> anyhow::Result<u64> {
    let key = rest.listen_key().await?;
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, None, true).await?;
    let subscribe =
        serde_json::json!({"method": "SUBSCRIBE", "params": [format!("alpha@{key}")], "id": 1});
    ws.send(Message::Text(subscribe.to_string().into())).await?;
    // The confirmation comes first; nothing else flows before the first pair.
    let _ = ws.next().await;
    let mut errors = 0;
    if rest.place_oto(&order).await.is_err() {
        errors += 1;
    }
    loop {
        let msg = match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(m)) => m?,
        };
        let Message::Text(text) = msg else { continue };
        let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
            continue;
        };
        let r = frame.data;
        if r.contingency_position.as_deref() == Some("OTO_PENDING")
            && r.status.is_final()
            && rest.place_oto(&order).await.is_err()
        {
            errors += 1;
        }
    }
    let _ = ws.close(None).await;
    Ok(errors)
}
