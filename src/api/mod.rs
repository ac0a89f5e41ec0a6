//! The control API (actix-web, under `/api/v1`): accounts, their settings, credentials,
//! actions and history, the global halt, and live events as Server-Sent Events. Every route
//! but `/healthz` and `/readyz` needs a bearer token; every error is a problem+json with a
//! stable code (`error::CODES`).

pub mod accounts;
pub mod auth;
pub mod curl;
pub mod error;
pub mod events;

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::actors::Ctx;
use crate::actors::supervisor::SupervisorHandle;
use error::ApiError;

/// Largest accepted JSON body.
pub const BODY_LIMIT: usize = 64 * 1024;

pub struct ApiState {
    pub ctx: Ctx,
    pub sup: SupervisorHandle,
    pub token_hashes: Vec<String>,
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::InvalidBody(format!("bad path: {e}")).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::InvalidBody(format!("bad query: {e}")).into()),
        )
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text))
        .service(
            web::scope("/api/v1")
                .route("/accounts", web::get().to(accounts::list))
                .route("/accounts", web::post().to(accounts::create))
                .route("/accounts/{name}", web::get().to(accounts::show))
                .route(
                    "/accounts/{name}/config",
                    web::patch().to(accounts::update_config),
                )
                .route(
                    "/accounts/{name}/credentials",
                    web::put().to(accounts::put_credentials),
                )
                .route("/accounts/{name}/orders", web::get().to(accounts::orders))
                .route("/accounts/{name}/cycles", web::get().to(accounts::cycles))
                .route("/accounts/{name}/fills", web::get().to(accounts::fills))
                .route("/accounts/{name}/events", web::get().to(accounts::events))
                .route("/accounts/{name}/balance", web::get().to(accounts::balance))
                .route(
                    "/accounts/{name}/{action}",
                    web::post().to(accounts::action),
                )
                .route("/halt", web::post().to(accounts::halt))
                .route("/events/stream", web::get().to(events::stream)),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NotFound("no such route".into()))
        }));
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(BODY_LIMIT)
        .error_handler(|e, _| {
            use actix_web::error::JsonPayloadError;
            match e {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::PayloadTooLarge(BODY_LIMIT).into()
                }
                JsonPayloadError::ContentType => {
                    ApiError::InvalidBody("the body must be application/json".into()).into()
                }
                other => ApiError::InvalidBody(other.to_string()).into(),
            }
        })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers and the supervisor runs.
async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    let db = state
        .ctx
        .store
        .run(|c| crate::store::accounts::list(c).map(|a| a.len()))
        .await
        .is_ok();
    let body = serde_json::json!({ "database": db, "accounts": state.sup.statuses().len() });
    if db {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text: the counters and histograms the actors record, and accounts by state.
async fn metrics_text(
    _: auth::Authorized,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let handle = crate::meters::handle()
        .ok_or_else(|| ApiError::Unavailable("no metrics recorder".into()))?;
    let mut by_state = std::collections::BTreeMap::new();
    for s in [
        "idle",
        "trading",
        "paused",
        "done_for_today",
        "stopped",
        "failed",
    ] {
        by_state.insert(s.to_owned(), 0u32);
    }
    for s in state.sup.statuses() {
        *by_state.entry(s.state).or_default() += 1;
    }
    for (s, n) in by_state {
        metrics::gauge!(crate::meters::ACCOUNTS, "state" => s).set(f64::from(n));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render()))
}

/// Binds and starts the API server; answers its address and a handle to stop it.
pub fn start(
    listen: &str,
    state: web::Data<ApiState>,
) -> std::io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(configure))
        .workers(2)
        .disable_signals()
        .bind(listen)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the API bound no address"))?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((addr, handle))
}
