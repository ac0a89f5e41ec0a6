//! The admin surface for tests, demos and benchmarks, outside the exchange's paths:
//! accounts, balances, prices, faults, and the ledger of every order ever placed.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::engine::Balance;
use super::error::SimError;
use super::faults::FaultSpec;
use super::state::{SimState, now_ms};
use super::views;
use crate::exchange::wire::num;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sim/accounts", web::post().to(create_account))
        .route("/sim/accounts/{id}", web::get().to(account))
        .route(
            "/sim/accounts/{id}/expire-session",
            web::post().to(expire_session),
        )
        .route(
            "/sim/accounts/{id}/renew-session",
            web::post().to(renew_session),
        )
        .route("/sim/accounts/{id}/stopped", web::post().to(stopped))
        .route(
            "/sim/accounts/{id}/half-fill-buys",
            web::post().to(half_fill_buys),
        )
        .route("/sim/accounts/{id}/hold-sells", web::post().to(hold_sells))
        .route("/sim/ledger", web::get().to(ledger))
        .route("/sim/ledger/violations", web::get().to(violations))
        .route("/sim/ledger/snapshot", web::get().to(snapshot))
        .route("/sim/faults", web::post().to(add_fault))
        .route("/sim/faults", web::get().to(list_faults))
        .route("/sim/faults", web::delete().to(clear_faults))
        .route("/sim/price", web::post().to(set_price))
        .route("/sim/tokens/{symbol}", web::post().to(set_token))
        .route("/sim/release-held", web::post().to(release_held))
        .route("/sim/reactions", web::get().to(reactions))
        .route("/sim/reactions", web::delete().to(clear_reactions))
        .route("/sim/reactions/placing", web::get().to(placing))
        .route(
            "/sim/reactions/forget-pending",
            web::post().to(forget_pending),
        );
}

fn bad(e: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": e.to_string() }))
}

fn admin_error(e: SimError) -> HttpResponse {
    match e {
        SimError::NotFound(what) => {
            HttpResponse::NotFound().json(json!({ "error": format!("{what} not found") }))
        }
        other => bad(other.code_and_message().1),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    #[serde(deserialize_with = "num::decimal")]
    usdt: Decimal,
}

async fn create_account(state: web::Data<SimState>, body: web::Json<NewAccount>) -> HttpResponse {
    if body.usdt < Decimal::ZERO {
        return bad("usdt must not be negative");
    }
    HttpResponse::Ok().json(state.with(|s| s.engine.create_account(body.usdt)))
}

#[derive(Debug, Serialize)]
struct AccountView {
    id: u64,
    balances: BTreeMap<String, Balance>,
    #[serde(serialize_with = "num::as_plain_string")]
    volume_today: Decimal,
    open_orders: Vec<crate::exchange::wire::trading::OpenOrder>,
    session_valid: bool,
}

async fn account(state: web::Data<SimState>, id: web::Path<u64>) -> HttpResponse {
    let id = id.into_inner();
    let now = now_ms();
    state.with(|s| match s.engine.accounts.get(&id) {
        None => admin_error(SimError::NotFound(format!("account {id}"))),
        Some(a) => HttpResponse::Ok().json(AccountView {
            id,
            balances: a.balances.clone(),
            volume_today: s.engine.volume_today(id, now).iter().map(|(_, v)| *v).sum(),
            open_orders: views::open_orders(&s.engine, id)
                .map(views::open_order)
                .collect(),
            session_valid: a.session_valid,
        }),
    })
}

async fn expire_session(state: web::Data<SimState>, id: web::Path<u64>) -> HttpResponse {
    match state.with(|s| s.engine.expire_session(id.into_inner())) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => admin_error(e),
    }
}

async fn renew_session(state: web::Data<SimState>, id: web::Path<u64>) -> HttpResponse {
    match state.with(|s| s.engine.renew_session(id.into_inner())) {
        Ok(creds) => HttpResponse::Ok().json(creds),
        Err(e) => admin_error(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    on: bool,
}

/// Sets one of an account's switches, or answers 404.
fn switch(
    state: &SimState,
    id: u64,
    set: impl FnOnce(&mut super::engine::Account),
) -> HttpResponse {
    state.with(|s| match s.engine.accounts.get_mut(&id) {
        Some(a) => {
            set(a);
            HttpResponse::NoContent().finish()
        }
        None => admin_error(SimError::NotFound(format!("account {id}"))),
    })
}

async fn half_fill_buys(
    state: web::Data<SimState>,
    id: web::Path<u64>,
    body: web::Json<Switch>,
) -> HttpResponse {
    switch(&state, id.into_inner(), |a| a.half_fill_buys = body.on)
}

/// Sells of the account rest unfilled while on (a sale left hanging for a crash to cut short).
async fn hold_sells(
    state: web::Data<SimState>,
    id: web::Path<u64>,
    body: web::Json<Switch>,
) -> HttpResponse {
    switch(&state, id.into_inner(), |a| a.hold_sells = body.on)
}

async fn stopped(state: web::Data<SimState>, id: web::Path<u64>) -> HttpResponse {
    match state.with(|s| s.engine.mark_stopped(id.into_inner(), now_ms())) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => admin_error(e),
    }
}

async fn ledger(state: web::Data<SimState>) -> HttpResponse {
    state.with(|s| HttpResponse::Ok().json(s.engine.orders.values().collect::<Vec<_>>()))
}

async fn violations(state: web::Data<SimState>) -> HttpResponse {
    state.with(|s| HttpResponse::Ok().json(s.engine.violations()))
}

async fn add_fault(state: web::Data<SimState>, body: web::Json<FaultSpec>) -> HttpResponse {
    let spec = body.into_inner();
    if let Err(e) = spec.validate() {
        return bad(e);
    }
    state.with(|s| s.faults.add(spec, now_ms()));
    HttpResponse::NoContent().finish()
}

async fn list_faults(state: web::Data<SimState>) -> HttpResponse {
    state.with(|s| HttpResponse::Ok().json(s.faults.list()))
}

async fn clear_faults(state: web::Data<SimState>) -> HttpResponse {
    state.with(|s| s.faults.clear());
    HttpResponse::NoContent().finish()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPrice {
    symbol: String,
    #[serde(deserialize_with = "num::decimal")]
    price: Decimal,
}

async fn set_price(state: web::Data<SimState>, body: web::Json<NewPrice>) -> HttpResponse {
    match state.with(|s| s.engine.set_price(&body.symbol, body.price, now_ms())) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => admin_error(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenChange {
    #[serde(deserialize_with = "num::decimal")]
    mul_point: Decimal,
}

/// Changes a token's listing: its points multiplier (an incentive that begins or ends).
async fn set_token(
    state: web::Data<SimState>,
    symbol: web::Path<String>,
    body: web::Json<TokenChange>,
) -> HttpResponse {
    match state.with(|s| s.engine.set_mul_point(&symbol, body.mul_point)) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => admin_error(e),
    }
}

/// The daemon's reaction times as the exchange saw them (see `state::Reactions`).
async fn reactions(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.with(|s| s.reactions.summary()))
}

async fn clear_reactions(state: web::Data<SimState>) -> HttpResponse {
    state.with(|s| s.reactions.clear());
    HttpResponse::NoContent().finish()
}

async fn release_held(state: web::Data<SimState>) -> HttpResponse {
    let now = super::state::now_ms();
    state.with(|s| s.engine.release_held(now));
    HttpResponse::NoContent().finish()
}

async fn forget_pending(state: web::Data<SimState>) -> HttpResponse {
    state.with(|s| s.reactions.forget_pending());
    HttpResponse::NoContent().finish()
}

/// The ledger as the daemon-versus-exchange check reads it (`ledger::Ledger`).
async fn snapshot(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.with(|s| super::ledger::Ledger::of(&s.engine)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Since {
    since_ms: i64,
}

/// How many accounts have sent a pair since a moment (a restarted daemon's recovery).
async fn placing(state: web::Data<SimState>, q: web::Query<Since>) -> HttpResponse {
    let ids = state.with(|s| s.reactions.placing_since(q.since_ms));
    HttpResponse::Ok().json(json!({ "accounts": ids.len(), "ids": ids }))
}
