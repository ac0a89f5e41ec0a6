//! The control API (actix-web, under `/api/v1`): accounts, their settings, credentials,
//! actions and history, the global halt, and live events as Server-Sent Events. Every route
//! but `/healthz` and `/readyz` needs a bearer token; every error is a problem+json with a
//! stable code (`error::CODES`).

pub mod accounts;
pub mod auth;
pub mod bulk;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod import;
pub mod limits;
pub mod listing;
pub mod membership;
pub mod names;
pub mod openapi;
pub mod profiles;

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::actors::Ctx;
use crate::actors::supervisor::SupervisorHandle;
use crate::domain::shown::{AccountState, Phase};
use error::ApiError;

/// Largest accepted JSON body.
pub const BODY_LIMIT: usize = 64 * 1024;

pub struct ApiState {
    pub ctx: Ctx,
    pub sup: SupervisorHandle,
    pub token_hashes: Vec<String>,
    pub limits: limits::Limits,
}

impl ApiState {
    pub fn new(ctx: Ctx, sup: SupervisorHandle, token_hashes: Vec<String>) -> Self {
        Self {
            ctx,
            sup,
            token_hashes,
            limits: limits::Limits::new(),
        }
    }
}

/// One table of routes: what `configure` registers and what `/openapi.json` describes are the
/// same list, so the document cannot drift from the server.
macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $auth:literal, $summary:literal; )*) => {
        /// (method, path, needs a token, summary) of every route.
        pub const ROUTES: &[(&str, &str, bool, &str)] =
            &[$( (stringify!($method), $path, $auth, $summary) ),*];

        /// Each route is its own resource, guarded by its method (so one path can have
        /// several), with its panics caught after routing (see `caught`).
        fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.service(
                web::resource($path)
                    .guard(actix_web::guard::Method(method_of(stringify!($method))))
                    .route(web::route().to($handler))
                    .wrap_fn(|req, srv| {
                        let log = req
                            .app_data::<web::Data<ApiState>>()
                            .map(|s| s.ctx.log.clone())
                            .unwrap_or_else(|| slog::Logger::root(slog::Discard, slog::o!()));
                        caught(log, req, srv)
                    }),
            ); )*
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
    post "/api/v1/accounts" => accounts::create, true, "Create an account (stopped until started): whole settings, or a profile and the fields it sets itself";
    post "/api/v1/accounts/actions" => bulk::run, true, "One action (start, pause, resume, stop, kill, set_profile, set_tags, add_tags, remove_tags) for accounts chosen by name, by the list's filters or all; answered per account";
    get "/api/v1/accounts/{name}" => accounts::show, true, "One account: state, pause reason, progress, settings";
    delete "/api/v1/accounts/{name}" => accounts::delete, true, "Delete a stopped account (its events stay)";
    patch "/api/v1/accounts/{name}/config" => accounts::update_config, true, "Change settings (validated whole)";
    get "/api/v1/accounts-file" => import::export, true, "Every account as a file (format=csv or jsonl) that import reads: name, profile, tags and settings; never credentials";
    post "/api/v1/accounts-file" => import::import, true, "Import accounts from a CSV or JSON lines file: every row checked first, nothing imported with a bad row unless skip_bad=true; an existing name is updated";
    put "/api/v1/accounts/{name}/tags" => accounts::put_tags, true, "Replace the account's tags";
    put "/api/v1/accounts/{name}/credentials" => accounts::put_credentials, true, "Store credentials: JSON or Copy as cURL text (write-only)";
    get "/api/v1/accounts/{name}/orders" => accounts::orders, true, "Orders, newest first";
    get "/api/v1/accounts/{name}/cycles" => accounts::cycles, true, "OTO pairs, newest first";
    get "/api/v1/accounts/{name}/fills" => accounts::fills, true, "Fills, newest first";
    get "/api/v1/accounts/{name}/events" => accounts::events, true, "Events, newest first";
    get "/api/v1/accounts/{name}/balance" => accounts::balance, true, "USDT and token balances, from the exchange";
    post "/api/v1/accounts/{name}/{action}" => accounts::action, true, "start, pause, resume, stop or kill";
    get "/api/v1/profiles" => profiles::list, true, "Every profile with its settings and how many accounts are on it";
    post "/api/v1/profiles" => profiles::create, true, "Create a profile from a whole settings object";
    get "/api/v1/profiles/{name}" => profiles::show, true, "One profile";
    patch "/api/v1/profiles/{name}" => profiles::update, true, "Change a profile's settings: every account on it changes (running ones between pairs), one event each";
    delete "/api/v1/profiles/{name}" => profiles::delete, true, "Delete a profile no account is on";
    post "/api/v1/halt" => accounts::halt, true, "The global kill switch";
    get "/api/v1/tokens" => accounts::tokens, true, "Every listed token scored for token = auto: cheapest counted USDT first, the ineligible last with the reason";
    get "/api/v1/events/stream" => events::stream, true, "Every account event as Server-Sent Events (with ?status=true also each account's live status, once a second when it changed)";
}

fn method_of(name: &str) -> actix_web::http::Method {
    match name {
        "post" => actix_web::http::Method::POST,
        "put" => actix_web::http::Method::PUT,
        "patch" => actix_web::http::Method::PATCH,
        "delete" => actix_web::http::Method::DELETE,
        _ => actix_web::http::Method::GET,
    }
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

/// Ready when the database answers and the supervisor runs. Answered from memory (the
/// prober's last answer and the supervisor's board): unauthenticated, it must cost nothing.
async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    let db = state.limits.db_ready(state.ctx.clock.now_ms());
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
        "leases_held": count(&|s| !matches!(s.phase, Phase::Starting | Phase::Standby | Phase::Failed)),
        "standby": count(&|s| s.phase == Phase::Standby),
        "failed": count(&|s| s.state == AccountState::Failed),
    });
    if db {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Asks the database once a second whether it answers, for `/readyz`.
async fn probe_database(state: web::Data<ApiState>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if state.ctx.store.run(crate::store::ping).await.is_ok() {
            state.limits.db_answered(state.ctx.clock.now_ms());
        }
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
    for s in AccountState::ALL {
        by_state.insert(s.as_str().to_owned(), 0u32);
    }
    for s in state.sup.statuses() {
        *by_state.entry(s.state.as_str().to_owned()).or_default() += 1;
    }
    for (s, n) in by_state {
        metrics::gauge!(crate::meters::ACCOUNTS, "state" => s).set(f64::from(n));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::meters::render(handle)))
}

/// Runs a handler in the operator's lane of the database (`store::Lane::First`) with its
/// panics caught (a middleware of each route's resource: the request it keeps for the answer
/// may be cloned only once routing is done): a panic is an ERROR in the JSON log with its cause
/// and the route, and a problem+json 500 for the client, never a dropped connection or a
/// worker that stops answering.
pub fn caught<S>(
    log: slog::Logger,
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<actix_web::dev::ServiceResponse, actix_web::Error>> + use<S>
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    use futures_util::FutureExt;
    let http = req.request().clone();
    let route = format!(
        "{} {}",
        req.method(),
        req.match_pattern().unwrap_or_default()
    );
    // Every unit of database work the request runs waits in the operator's lane, ahead of
    // trading work (`store::Lane`).
    let call = crate::store::LANE.scope(
        crate::store::Lane::First,
        std::panic::AssertUnwindSafe(srv.call(req)).catch_unwind(),
    );
    async move {
        match call.await {
            Ok(Ok(res)) => {
                // An internal error's cause is kept from the client and logged here.
                if let Some(ApiError::Internal(cause)) = res
                    .response()
                    .error()
                    .and_then(|e| e.as_error::<ApiError>())
                {
                    slog::error!(log, "internal error";
                        crate::telemetry::fields::EVENT_ACTION => "api-error",
                        "error.message" => cause.clone(), "trading.http.route" => route);
                }
                Ok(res)
            }
            Ok(answer) => answer,
            Err(panic) => {
                slog::error!(log, "a request handler panicked";
                    crate::telemetry::fields::EVENT_ACTION => "api-panic",
                    "error.message" => crate::telemetry::panic_message(panic.as_ref()),
                    "trading.http.route" => route);
                metrics::counter!(crate::meters::API_PANICS).increment(1);
                Ok(actix_web::dev::ServiceResponse::new(
                    http,
                    actix_web::ResponseError::error_response(&ApiError::Internal(
                        "a handler panicked".into(),
                    )),
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
    let shared = state.clone();
    let server = HttpServer::new(move || App::new().app_data(shared.clone()).configure(configure))
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
    actix_rt::spawn(probe_database(state.clone()));
    actix_rt::spawn(events::publish_statuses(state));
    Ok((addr, handle))
}
