//! The exchange's REST paths, answered from the engine with the real envelope, and with the
//! HTTP faults applied.

// Helpers here return a finished answer as their error: it is sent as it is, once per request,
// so its size costs nothing worth boxing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::error::SimError;
use super::faults::FaultKind;
use super::state::{Inner, SimState, now_ms};
use super::views;
use crate::exchange::wire::trading::{CancelRequest, OtoPlaceRequest, PlaceOrderRequest};
use crate::exchange::wire::{self, Envelope, paths};
use crate::market::{OrderStatus, Side};

type Query = web::Query<HashMap<String, String>>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::TOKEN_LIST, web::get().to(token_list))
        .route(paths::AGG_TICKER24, web::get().to(token_list))
        .route(paths::TOKEN_FULL_INFO, web::get().to(token_full_info))
        .route(paths::EXCHANGE_INFO, web::get().to(exchange_info))
        .route(paths::TICKER, web::get().to(ticker))
        .route(paths::AGG_TRADES, web::get().to(agg_trades))
        .route(paths::FULL_DEPTH, web::get().to(full_depth))
        .route(paths::FEE_RATE, web::get().to(fee_rate))
        .route(paths::PLACE_ORDER, web::post().to(place_order))
        .route(paths::PLACE_OTO, web::post().to(place_oto))
        .route(paths::CANCEL_ORDER, web::post().to(cancel))
        .route(paths::CANCEL_ALL, web::post().to(cancel_all))
        .route(paths::OPEN_ORDERS, web::get().to(open_orders))
        .route(paths::ORDER_HISTORY, web::get().to(history))
        .route(paths::USER_TRADES, web::get().to(user_trades))
        .route(paths::LISTEN_KEY, web::post().to(listen_key))
        .route(paths::LISTEN_KEY, web::put().to(keep_alive))
        .route(paths::USER_VOLUME, web::get().to(user_volume))
        .route(paths::ALPHA_WALLET, web::get().to(alpha_wallet))
        .route(paths::WALLET_ASSET, web::post().to(wallet_asset))
        .route(paths::USER_BASE_INFO, web::get().to(user_base_info));
}

fn ok<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(Envelope::ok(data))
}

fn fail(e: &SimError) -> HttpResponse {
    let (code, message) = e.code_and_message();
    HttpResponse::Ok().json(Envelope::<()>::fail(code, &message))
}

fn reply<T: Serialize>(r: Result<T, SimError>) -> HttpResponse {
    match r {
        Ok(data) => ok(data),
        Err(e) => fail(&e),
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The HTTP-level faults shared by every path. `Err` is the answer to send instead.
fn http_faults(
    s: &mut Inner,
    account: Option<u64>,
    path: &str,
    now: i64,
) -> Result<bool, HttpResponse> {
    let path = Some(path);
    if s.faults
        .strikes_request(FaultKind::Http429, account, path, now)
    {
        let (code, message) = (
            wire::CODE_RATE_LIMITED,
            "Too many requests; current limit is exceeded.",
        );
        return Err(HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
            .insert_header(("Retry-After", "1"))
            .json(Envelope::<()>::fail(code, message)));
    }
    if s.faults
        .strikes_request(FaultKind::Http5xx, account, path, now)
    {
        return Err(HttpResponse::ServiceUnavailable().body("Service Unavailable"));
    }
    Ok(s.faults
        .strikes_request(FaultKind::Slow, account, path, now))
}

async fn delay(state: &SimState, slow: bool) {
    if slow {
        let ms = state.with(|s| s.faults.slow_ms);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn public<T: Serialize>(
    state: &SimState,
    f: impl FnOnce(&mut Inner, i64) -> Result<T, SimError>,
) -> HttpResponse {
    let now = now_ms();
    let slow = match state.with(|s| http_faults(s, None, "", now)) {
        Ok(slow) => slow,
        Err(answer) => return answer,
    };
    delay(state, slow).await;
    reply(state.with(|s| f(s, now_ms())))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Query,
    Place,
}

/// Authenticates the session, applies the faults, runs `f` for the account.
async fn private<T: Serialize>(
    req: &HttpRequest,
    state: &SimState,
    call: Call,
    f: impl FnOnce(&mut Inner, u64, i64) -> Result<T, SimError>,
) -> HttpResponse {
    let now = now_ms();
    let (csrf, cookie) = (header(req, "csrftoken"), header(req, "cookie"));
    let pre = state.with(|s| {
        let account = s.engine.authenticate(csrf, cookie).map_err(|e| fail(&e))?;
        *s.requests
            .entry((account, req.path().to_owned()))
            .or_default() += 1;
        if s.faults
            .strikes(FaultKind::ExpireSession, Some(account), now)
        {
            let _ = s.engine.expire_session(account);
            return Err(fail(&SimError::SessionExpired));
        }
        if s.faults
            .strikes(FaultKind::ExpireListenKey, Some(account), now)
        {
            s.expire_keys(Some(account), now);
        }
        let slow = http_faults(s, Some(account), req.path(), now)?;
        if call == Call::Place && s.faults.strikes(FaultKind::TwoFactor, Some(account), now) {
            // The real answer's body was never captured; the two headers are what clients read.
            let biz_no = format!("sim-{account}-{now}");
            return Err(HttpResponse::Ok()
                .insert_header((wire::HEADER_RISK_BIZ_NO, biz_no))
                .insert_header((wire::HEADER_RISK_FLOW, "true"))
                .json(Envelope::<()>::fail(
                    "100001004",
                    "Security verification is required.",
                )));
        }
        if call == Call::Place && s.faults.strikes(FaultKind::FaceCheck, Some(account), now) {
            return Err(HttpResponse::Ok().json(Envelope::<()>::fail(
                wire::CODE_FACE_CHECK,
                "Please complete the face verification.",
            )));
        }
        let ambiguous = call == Call::Place
            && s.faults
                .strikes(FaultKind::AmbiguousPlace, Some(account), now);
        Ok((account, slow, ambiguous))
    });
    let (account, slow, ambiguous) = match pre {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    delay(state, slow).await;
    let result = state.with(|s| f(s, account, now_ms()));
    if ambiguous {
        // Carried out, but the answer is lost on the way back.
        return HttpResponse::GatewayTimeout().finish();
    }
    reply(result)
}

fn token<'a>(s: &'a Inner, q: &Query, key: &str) -> Result<&'a super::tokens::Token, SimError> {
    let symbol = q
        .get(key)
        .ok_or_else(|| SimError::invalid(format!("Parameter {key} is required.")))?;
    let i = s.engine.token_index(symbol)?;
    Ok(&s.engine.tokens[i])
}

async fn token_list(state: web::Data<SimState>) -> HttpResponse {
    public(&state, |s, _| {
        *s.listings_served.entry("token-list").or_default() += 1;
        Ok(s.engine
            .tokens
            .iter()
            .map(views::token_listing)
            .collect::<Vec<_>>())
    })
    .await
}

async fn token_full_info(state: web::Data<SimState>, q: Query) -> HttpResponse {
    public(&state, |s, _| {
        let address = q
            .get("contractAddress")
            .map(String::as_str)
            .unwrap_or_default();
        let chain = q.get("chainId").map(String::as_str).unwrap_or_default();
        s.engine
            .tokens
            .iter()
            .find(|t| t.contract_address.eq_ignore_ascii_case(address) && t.chain_id == chain)
            .map(views::full_info)
            .ok_or_else(|| SimError::invalid("Token not found."))
    })
    .await
}

async fn exchange_info(state: web::Data<SimState>) -> HttpResponse {
    public(&state, |s, now| {
        *s.listings_served.entry("exchange-info").or_default() += 1;
        let mut info = views::exchange_info(&s.engine.tokens);
        if s.faults.strikes(FaultKind::NoPrecision, None, now) {
            for sym in &mut info.symbols {
                sym.filters.retain(|f| {
                    !matches!(f, crate::exchange::wire::market::Filter::LotSize { .. })
                });
            }
        }
        Ok(info)
    })
    .await
}

async fn ticker(state: web::Data<SimState>, q: Query) -> HttpResponse {
    public(&state, |s, now| {
        Ok(views::ticker(token(s, &q, "symbol")?, now))
    })
    .await
}

async fn agg_trades(state: web::Data<SimState>, q: Query) -> HttpResponse {
    public(&state, |s, _| {
        let symbol = token(s, &q, "symbol")?.order_symbol.clone();
        let limit = q
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(500)
            .clamp(1, 1000);
        let trades = s.recent_trades(&symbol);
        let skip = trades.len().saturating_sub(limit);
        Ok(trades
            .iter()
            .skip(skip)
            .map(views::agg_trade)
            .collect::<Vec<_>>())
    })
    .await
}

async fn full_depth(state: web::Data<SimState>, q: Query) -> HttpResponse {
    public(&state, |s, now| {
        let t = s
            .engine
            .token_index(&token(s, &q, "symbol")?.order_symbol)?;
        s.sync_books(now);
        Ok(super::frames::full_depth(&s.engine.tokens[t], now))
    })
    .await
}

async fn fee_rate(state: web::Data<SimState>, q: Query) -> HttpResponse {
    public(&state, |s, _| {
        token(s, &q, "symbol").map(|_| views::fee_rate())
    })
    .await
}

async fn place_order(
    req: HttpRequest,
    state: web::Data<SimState>,
    body: web::Json<PlaceOrderRequest>,
) -> HttpResponse {
    private(&req, &state, Call::Place, |s, account, now| {
        s.engine.place_limit(account, &body, now)
    })
    .await
}

async fn place_oto(
    req: HttpRequest,
    state: web::Data<SimState>,
    body: web::Json<OtoPlaceRequest>,
) -> HttpResponse {
    let arrived = std::time::Instant::now();
    private(&req, &state, Call::Place, |s, account, now| {
        s.reactions.placed(account, arrived);
        s.engine.place_oto(account, &body, now)
    })
    .await
}

async fn cancel(
    req: HttpRequest,
    state: web::Data<SimState>,
    body: web::Json<CancelRequest>,
) -> HttpResponse {
    private(&req, &state, Call::Query, |s, account, now| {
        s.engine
            .cancel(account, &body.order_id, &body.symbol, now)
            .map(|()| None::<()>)
    })
    .await
}

// The body is read (and ignored): a request body left unread makes the server close the
// connection, which a client that keeps connections alive should never see.
async fn cancel_all(
    req: HttpRequest,
    state: web::Data<SimState>,
    _body: web::Bytes,
) -> HttpResponse {
    private(&req, &state, Call::Query, |s, account, now| {
        s.engine.cancel_all(account, now);
        Ok(None::<()>)
    })
    .await
}

async fn open_orders(req: HttpRequest, state: web::Data<SimState>, q: Query) -> HttpResponse {
    let side = match q.get("side").map(String::as_str) {
        Some("BUY") => Some(Side::Buy),
        Some("SELL") => Some(Side::Sell),
        _ => None,
    };
    private(&req, &state, Call::Query, |s, account, _| {
        Ok(views::open_orders(&s.engine, account)
            .filter(|o| side.is_none_or(|sd| o.side == sd))
            .map(views::open_order)
            .collect::<Vec<_>>())
    })
    .await
}

async fn history(req: HttpRequest, state: web::Data<SimState>, q: Query) -> HttpResponse {
    let statuses: Option<Vec<OrderStatus>> = q.get("orderStatus").map(|list| {
        list.split(',')
            .filter_map(|s| {
                serde_json::from_value(serde_json::Value::String(s.trim().to_owned())).ok()
            })
            .collect()
    });
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (start, end) = (
        num("startTime").unwrap_or(0),
        num("endTime").unwrap_or(i64::MAX),
    );
    let (page, rows) = (
        num("page").unwrap_or(1).max(1),
        num("rows").unwrap_or(50).clamp(1, 100),
    );
    let base = q.get("baseAsset").cloned();
    let now = now_ms();
    let pre = state.with(|s| {
        let (csrf, cookie) = (header(&req, "csrftoken"), header(&req, "cookie"));
        s.engine
            .authenticate(csrf, cookie)
            .map_err(|e| fail(&e))
            .and_then(|a| http_faults(s, Some(a), req.path(), now).map(|_| a))
    });
    let account = match pre {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    state.with(|s| {
        let mut all: Vec<_> = s
            .engine
            .account_orders(account)
            .filter(|o| o.created_ms >= start && o.created_ms <= end)
            .filter(|o| statuses.as_ref().is_none_or(|st| st.contains(&o.status)))
            .filter(|o| base.as_ref().is_none_or(|b| &o.alpha_id == b))
            .collect();
        all.sort_by_key(|o| std::cmp::Reverse(o.id));
        let total = all.len() as u64;
        let rows: Vec<_> = all
            .into_iter()
            .skip(((page - 1) * rows) as usize)
            .take(rows as usize)
            .map(views::history_order)
            .collect();
        let mut envelope = Envelope::ok(rows);
        envelope.total = Some(total);
        HttpResponse::Ok().json(envelope)
    })
}

async fn user_trades(req: HttpRequest, state: web::Data<SimState>, q: Query) -> HttpResponse {
    let order_id = q.get("orderId").and_then(|v| v.parse::<u64>().ok());
    let symbol = q.get("symbol").cloned();
    private(&req, &state, Call::Query, |s, account, _| {
        let order_id =
            order_id.ok_or_else(|| SimError::invalid("Parameter orderId is required."))?;
        // Newest first, as the captured list (`cap-user-trades-1`).
        let mut rows = s
            .engine
            .order_fills(order_id)
            .filter(|f| f.account == account)
            .filter(|f| symbol.as_ref().is_none_or(|sym| &f.symbol == sym))
            .map(views::user_trade)
            .collect::<Vec<_>>();
        rows.reverse();
        Ok(rows)
    })
    .await
}

async fn listen_key(
    req: HttpRequest,
    state: web::Data<SimState>,
    _body: web::Bytes,
) -> HttpResponse {
    private(&req, &state, Call::Query, |s, account, now| {
        Ok(s.listen_key(account, now))
    })
    .await
}

async fn keep_alive(
    req: HttpRequest,
    state: web::Data<SimState>,
    q: Query,
    _body: web::Bytes,
) -> HttpResponse {
    let key = q.get("listenKey").cloned().unwrap_or_default();
    private(&req, &state, Call::Query, |s, account, now| {
        if s.keep_alive(account, &key, now) {
            Ok(None::<()>)
        } else {
            Err(SimError::Invalid {
                code: "-1125",
                message: "This listenKey does not exist.".into(),
            })
        }
    })
    .await
}

async fn user_volume(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    private(&req, &state, Call::Query, |s, account, now| {
        Ok(views::user_volume(&s.engine, account, now))
    })
    .await
}

async fn alpha_wallet(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    private(&req, &state, Call::Query, |s, account, _| {
        Ok(views::alpha_wallet(&s.engine, account))
    })
    .await
}

async fn wallet_asset(
    req: HttpRequest,
    state: web::Data<SimState>,
    _body: web::Bytes,
) -> HttpResponse {
    private(&req, &state, Call::Query, |s, account, _| {
        Ok(views::wallet_assets(&s.engine, account))
    })
    .await
}

async fn user_base_info(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    private(&req, &state, Call::Query, |_, account, _| {
        Ok(serde_json::json!({ "userId": account }))
    })
    .await
}
