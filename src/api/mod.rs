//! The control API (actix-web, under `/api/v1`): accounts, their settings, credentials,
//! actions and history, the global halt, and live events as Server-Sent Events. Every route
//! but `/healthz` and `/readyz` needs a bearer token; every error is a problem+json with a
//! stable code (`error::CODES`).

pub mod accounts;
pub mod auth;
pub mod curl;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod openapi;

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

/// One table of routes: what `configure` registers and what `/openapi.json` describes are the
/// same list, so the document cannot drift from the server.
macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $auth:literal, $summary:literal; )*) => {
        /// (method, path, needs a token, summary) of every route.
        pub const ROUTES: &[(&str, &str, bool, &str)] =
            &[$( (stringify!($method), $path, $auth, $summary) ),*];

        fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
    };
}

routes! {
    get "/" => dashboard::index, false, "The dashboard: a single page that asks for a token";
    get "/assets/{file}" => dashboard::asset, false, "The dashboard's script and style sheet";
    get "/healthz" => healthz, false, "The process is alive";
    get "/readyz" => readyz, false, "The database answers and the supervisor runs";
    get "/metrics" => metrics_text, true, "Prometheus metrics";
    get "/openapi.json" => openapi::document, true, "This document";
    get "/api/v1/accounts" => accounts::list, true, "Every account with its state and progress";
    post "/api/v1/accounts" => accounts::create, true, "Create an account (stopped until started)";
    get "/api/v1/accounts/{name}" => accounts::show, true, "One account: state, pause reason, progress, settings";
    delete "/api/v1/accounts/{name}" => accounts::delete, true, "Delete a stopped account (its events stay)";
    patch "/api/v1/accounts/{name}/config" => accounts::update_config, true, "Change settings (validated whole)";
    put "/api/v1/accounts/{name}/credentials" => accounts::put_credentials, true, "Store credentials: JSON or Copy as cURL text (write-only)";
    get "/api/v1/accounts/{name}/orders" => accounts::orders, true, "Orders, newest first";
    get "/api/v1/accounts/{name}/cycles" => accounts::cycles, true, "OTO pairs, newest first";
    get "/api/v1/accounts/{name}/fills" => accounts::fills, true, "Fills, newest first";
    get "/api/v1/accounts/{name}/events" => accounts::events, true, "Events, newest first";
    get "/api/v1/accounts/{name}/balance" => accounts::balance, true, "USDT and token balances, from the exchange";
    post "/api/v1/accounts/{name}/{action}" => accounts::action, true, "start, pause, resume, stop or kill";
    post "/api/v1/halt" => accounts::halt, true, "The global kill switch";
    get "/api/v1/events/stream" => events::stream, true, "Every account event as Server-Sent Events (with ?status=true also each account's live status, once a second when it changed)";
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
        );
    register(cfg);
    cfg.default_service(web::to(|| async {
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
    let statuses = state.sup.statuses();
    let count = |f: &dyn Fn(&crate::actors::account::AccountStatus) -> bool| {
        statuses.iter().filter(|s| f(s)).count()
    };
    let body = serde_json::json!({
        "database": db,
        "cache": match state.ctx.cache.source() {
            crate::cache::Source::Redis => "redis",
            crate::cache::Source::Memory => "memory",
        },
        "accounts": statuses.len(),
        "streams_up": count(&|s| s.stream_up),
        "leases_held": count(&|s| !matches!(s.phase.as_str(), "starting" | "standby" | "failed")),
        "standby": count(&|s| s.phase == "standby"),
        "failed": count(&|s| s.state == "failed"),
    });
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

/// Runs a handler with its panics caught: a panic is an ERROR in the JSON log with its cause
/// and the route, and a problem+json 500 for the client, never a dropped connection or a
/// worker that stops answering.
pub fn caught<S>(
    log: slog::Logger,
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<actix_web::dev::ServiceResponse, actix_web::Error>>
+ use<S>
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    use futures_util::FutureExt;
    let http = req.request().clone();
    let route = format!("{} {}", req.method(), req.match_pattern().unwrap_or_default());
    let call = std::panic::AssertUnwindSafe(srv.call(req)).catch_unwind();
    async move {
        match call.await {
            Ok(answer) => answer,
            Err(panic) => {
                slog::error!(log, "a request handler panicked";
                    crate::telemetry::fields::EVENT_ACTION => "api-panic",
                    "error.message" => crate::telemetry::panic_message(panic.as_ref()),
                    "http.route" => route);
                metrics::counter!(crate::meters::API_PANICS).increment(1);
                Ok(actix_web::dev::ServiceResponse::new(
                    http,
                    actix_web::ResponseError::error_response(&ApiError::Internal),
                ))
            }
        }
    }
}

/// Binds and starts the API server; answers its address and a handle to stop it.
pub fn start(
    listen: &str,
    state: web::Data<ApiState>,
) -> std::io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let server = HttpServer::new(move || {
        let log = state.ctx.log.clone();
        App::new()
            .app_data(state.clone())
            .wrap_fn(move |req, srv| caught(log.clone(), req, srv))
            .configure(configure)
    })
        .workers(2)
        // Longer than any client keeps an idle connection (awc: 15 s): a server that closes
        // first races a client that just picked the connection for its next request, which
        // then sees it closed before an answer.
        .keep_alive(std::time::Duration::from_secs(75))
        // Small answers and stream frames go out at once, not after the peer's delayed ACK.
        .tcp_nodelay(true)
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
