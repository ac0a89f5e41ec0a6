//! `alpha-oto serve`: the daemon's start, run and stop. Later issues hang the actors and the
//! API on this skeleton; the order of start-up is the contract: logs, database and
//! migrations, key ring, then work; on SIGTERM or SIGINT a clean stop with every log record
//! flushed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use slog::{Logger, info, warn};

use crate::actors::admission::Admission;
use crate::actors::governor::Governor;
use crate::actors::price_feed::PriceFeeds;
use crate::actors::supervisor::{self, SupervisorHandle};
use crate::actors::webhook::Webhooks;
use crate::actors::{Ctx, Shared, Timing};
use crate::cache::TokenCache;
use crate::clock::Clock;
use crate::domain::admission;
use crate::exchange::rest::RestClient;

use crate::config::Config;
use crate::domain::shown::{AccountState, Phase};
use crate::store::{self, Store};
use crate::telemetry::fields;
use crate::vault::{KeyRing, Vault};

/// Opens the configured database and applies pending migrations.
pub fn open_store(config: &Config, log: &Logger) -> anyhow::Result<Store> {
    let url = config.database_url()?;
    let store = Store::open(&url, &config.store_options())
        .with_context(|| format!("cannot open the database ({:?})", url.backend()))?;
    let applied = store
        .blocking(store::migrate::run_pending)
        .context("cannot migrate the database")?;
    info!(log, "database ready";
        fields::EVENT_ACTION => "database-migrate", fields::EVENT_OUTCOME => "success",
        "trading.database.backend" => format!("{:?}", url.backend()).to_lowercase(),
        "trading.database.migrations_applied" => applied.len());
    Ok(store)
}

/// Loads the key ring, if one is configured.
pub fn open_vault(config: &Config, log: &Logger) -> anyhow::Result<Option<Vault>> {
    match KeyRing::load(config.vault.key_file.as_deref())? {
        Some((ring, source)) => {
            info!(log, "master key loaded"; "trading.vault.source" => source.to_string(),
                "trading.vault.primary_key_id" => ring.primary_id().to_owned(), "trading.vault.keys" => ring.key_ids().len());
            Ok(Some(Vault::new(ring)))
        }
        None => {
            warn!(log, "no master key configured: credentials can be neither stored nor read";
                fields::EVENT_ACTION => "vault-load", fields::EVENT_OUTCOME => "failure");
            Ok(None)
        }
    }
}

/// Opens the token cache: Redis when configured and reachable, in process otherwise.
pub async fn open_cache(config: &Config, log: &Logger) -> TokenCache {
    match &config.redis.url {
        Some(url) => match TokenCache::redis(url, &config.redis.key_prefix, log.clone()).await {
            Ok(c) => c,
            Err(e) => {
                warn!(log, "Redis is unreachable: the token cache stays in process";
                    fields::EVENT_ACTION => "cache-open", fields::EVENT_OUTCOME => "failure",
                    "error.message" => e.to_string());
                TokenCache::in_memory(log.clone())
            }
        },
        None => TokenCache::in_memory(log.clone()),
    }
}

/// Everything the trading actors need, built from the configuration. Must run on an actix
/// runtime (the exchange client is single-threaded).
pub async fn engine(
    config: &Config,
    store: Store,
    vault: Option<Vault>,
    log: Logger,
    timing: Timing,
    clock: Clock,
) -> (SupervisorHandle, Ctx) {
    let _ = crate::meters::handle();
    let cache = open_cache(config, &log).await;
    let feeds = PriceFeeds::start(
        &config.exchange.public_ws_url,
        RestClient::new(&config.exchange.rest_url, timing.request_timeout),
        timing.volatility_window,
        clock.clone(),
        log.clone(),
    );
    let policy = crate::actors::webhook::AddressPolicy {
        allow_hosts: config.webhooks.allow_hosts.clone(),
        signing_key: vault
            .as_ref()
            .and_then(|v| v.derived_key(crate::actors::webhook::SIGNING_PURPOSE).ok()),
    };
    let ctx = Arc::new(Shared {
        events: tokio::sync::broadcast::channel(1024).0,
        webhooks: Webhooks::new(store.clone(), log.clone(), policy),
        governor: Governor::new(clock.clone(), config.daemon.egress_per_s),
        admission: Admission::new(admission::InFlightBounds {
            min: admission::MIN_IN_FLIGHT,
            max: config.daemon.orders_in_flight_max,
        }),
        store,
        vault,
        cache,
        exchange: config.exchange.clone(),
        feeds,
        board: Default::default(),
        crossings: crate::actors::crossing::Crossings::new(
            config.daemon.cross_account_guard,
            config.daemon.cross_instance_guard,
        ),
        leases: Default::default(),
        membership: Default::default(),
        capacity: config.daemon.capacity,
        log,
        owner: config.instance_id(),
        on_stop: config.daemon.on_stop,
        clock,
        timing,
    });
    let (webhooks, started_ms) = (ctx.webhooks.clone(), ctx.clock.now_ms());
    actix_rt::spawn(async move { webhooks.resend_pending(started_ms).await });
    crate::actors::notifier::start(&ctx, &config.notify);
    crate::actors::leases::start(&ctx);
    crate::actors::membership::join(&ctx).await;
    let sup = supervisor::start(ctx.clone(), config.daemon.account_threads());
    crate::actors::membership::start(&ctx, sup.clone());
    crate::actors::session_watch::start(&ctx, sup.clone());
    (sup, ctx)
}

/// The trading timings the configuration sets.
pub fn timing(config: &Config) -> Timing {
    Timing {
        lease_ttl: Duration::from_secs(u64::from(config.daemon.lease_ttl_s)),
        lease_margin: Duration::from_secs(u64::from(config.daemon.lease_ttl_s).div_ceil(6)),
        request_timeout: Duration::from_secs(u64::from(config.exchange.request_timeout_s)),
        session_warn: Duration::from_secs(u64::from(config.daemon.session_warn_hours) * 3600),
        ..Timing::default()
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(config: Config, log: Logger) -> anyhow::Result<()> {
    let instance = config.instance_id();
    info!(log, "starting"; fields::EVENT_ACTION => "daemon-start", "service.node.name" => instance.clone());
    // Before any secret is read: a core dump would hold decrypted credentials and the token.
    let guard = crate::hardening::no_core_dumps();
    let (soft, hard) = guard.core_limit.unwrap_or((u64::MAX, u64::MAX));
    if guard.dumpable {
        warn!(log, "core dumps could not be turned off: a dump would hold decrypted credentials";
            fields::EVENT_ACTION => "core-dumps", "trading.process.dumpable" => true,
            "trading.process.core_limit.soft" => soft, "trading.process.core_limit.hard" => hard,
            "error.message" => guard.problems.join("; "));
    } else {
        info!(log, "core dumps are off"; fields::EVENT_ACTION => "core-dumps",
            "trading.process.dumpable" => false, "trading.process.core_limit.soft" => soft,
            "trading.process.core_limit.hard" => hard, "error.message" => guard.problems.join("; "));
    }
    // Taken over from the start: a stop asked for while accounts reconcile is a clean stop.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let store = {
        let (config, log) = (config.clone(), log.clone());
        tokio::task::spawn_blocking(move || open_store(&config, &log)).await??
    };
    let vault = open_vault(&config, &log)?;
    let accounts = store.run(store::accounts::list).await?;
    let (supervisor, ctx) = engine(
        &config,
        store,
        vault,
        log.clone(),
        timing(&config),
        Clock::default(),
    )
    .await;
    supervisor.start_all().await?;
    if config.api.token_hashes.is_empty() {
        warn!(log, "no API token configured: every route but /healthz and /readyz answers 401";
            fields::EVENT_ACTION => "api-start");
    }
    let api_state = actix_web::web::Data::new(crate::api::ApiState::new(
        ctx.clone(),
        supervisor.clone(),
        config.api.token_hashes.clone(),
    ));
    let (addr, api) = crate::api::start(&config.api.listen, api_state)
        .with_context(|| format!("cannot listen on {} (api.listen)", config.api.listen))?;
    info!(log, "control API listening"; fields::EVENT_ACTION => "api-start", "url.full" => format!("http://{addr}"));
    let early = tokio::select! {
        _ = wait_first_reconciliation(&supervisor, accounts.len(), Duration::from_secs(120)) => None,
        _ = term.recv() => Some("SIGTERM"),
        r = tokio::signal::ctrl_c() => { r?; Some("SIGINT") }
    };
    let signal = match early {
        Some(signal) => signal,
        None => run_ready(&log, &supervisor, accounts.len(), &mut term).await?,
    };
    info!(log, "stopping"; fields::EVENT_ACTION => "daemon-stop", "trading.process.signal" => signal);
    let _ = sd_notify::notify(
        false,
        &[
            sd_notify::NotifyState::Stopping,
            sd_notify::NotifyState::Status("stopping: no new orders, settling intents"),
        ],
    );
    api.stop(true).await;
    supervisor.shutdown(STOP_BUDGET).await;
    // Its leases are released: the other instances share its accounts out at their next look.
    crate::actors::membership::leave(&ctx).await;
    Ok(())
}

/// Ready: tells systemd, keeps its watchdog fed, and waits for the signal to stop.
async fn run_ready(
    log: &Logger,
    supervisor: &SupervisorHandle,
    accounts: usize,
    term: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<&'static str> {
    info!(log, "ready"; fields::EVENT_ACTION => "daemon-ready", "trading.accounts" => accounts);
    let _ = sd_notify::notify(
        false,
        &[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&status_line(supervisor)),
        ],
    );
    let mut usec = 0;
    if sd_notify::watchdog_enabled(false, &mut usec) {
        actix_rt::spawn(watchdog(
            supervisor.clone(),
            Duration::from_micros(usec),
            log.clone(),
        ));
    }
    // Test hook: the supervisor wedges after this long (the watchdog's test).
    #[cfg(feature = "test-seams")]
    if let Some(ms) = std::env::var("ALPHA_OTO_TEST_WEDGE_AFTER_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let sup = supervisor.clone();
        actix_rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            sup.wedge().await;
        });
    }

    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        r = tokio::signal::ctrl_c() => { r?; "SIGINT" }
    })
}

/// How long a graceful stop may take; the unit's TimeoutStopSec is above it.
pub const STOP_BUDGET: Duration = Duration::from_secs(25);

/// Waits until every account has passed its first reconciliation (or is parked, or on
/// standby behind another instance's lease), so READY means "trading from the exchange's
/// truth".
async fn wait_first_reconciliation(sup: &SupervisorHandle, accounts: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        let statuses = sup.statuses();
        // Paused at start (unknown token, no credentials) or failed counts as settled too.
        let settled = statuses
            .iter()
            .filter(|s| {
                matches!(s.state, AccountState::Paused | AccountState::Failed)
                    || !matches!(s.phase, Phase::Starting | Phase::Reconciling)
            })
            .count();
        if statuses.len() >= accounts && settled == statuses.len() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The STATUS= line: accounts by state.
fn status_line(sup: &SupervisorHandle) -> String {
    let mut by_state = std::collections::BTreeMap::<String, usize>::new();
    for s in sup.statuses() {
        *by_state.entry(s.state.as_str().to_owned()).or_default() += 1;
    }
    if by_state.is_empty() {
        return "no accounts".into();
    }
    by_state
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pings systemd's watchdog at half its period, only while the supervisor answers: a wedged
/// daemon is restarted by systemd instead of sitting still with live accounts.
async fn watchdog(sup: SupervisorHandle, period: Duration, log: Logger) {
    let every = (period / 2).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        if sup.ping(every / 2).await {
            let _ = sd_notify::notify(
                false,
                &[
                    sd_notify::NotifyState::Watchdog,
                    sd_notify::NotifyState::Status(&status_line(&sup)),
                ],
            );
        } else {
            warn!(log, "the supervisor does not answer: no watchdog ping";
                fields::EVENT_ACTION => "watchdog", fields::EVENT_OUTCOME => "failure");
        }
    }
}
