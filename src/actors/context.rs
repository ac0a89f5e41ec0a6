//! What every actor shares: the store, the vault, the caches, the governor, the feeds, the
//! clock and the timing of the trading loop.

use std::sync::Arc;
use std::time::Duration;

use slog::Logger;

use super::{admission, crossing, governor, leases, membership, price_feed, token_board, webhook};
use crate::cache::TokenCache;
use crate::clock::Clock;
use crate::config::ExchangeConfig;
use crate::store::Store;
use crate::vault::Vault;

/// Every period and limit of the trading loop, in one place; tests shorten them.
#[derive(Debug, Clone)]
pub struct Timing {
    /// How soon an account looks again while something waits for a look (a pair to place,
    /// a price to come back, a transition to finish).
    pub tick: Duration,
    /// The longest an account goes without a look when nothing is due (`AccountCore::wake`).
    pub look_max: Duration,
    pub lease_ttl: Duration,
    /// How long before the lease's expiry an account stops sending.
    pub lease_margin: Duration,
    pub listen_key_keep_alive: Duration,
    /// A live pair whose stream is healthy is asked of the exchange anyway, in case a report
    /// was lost without the stream dropping: `sync_first` after its last news, then at
    /// doubling waits up to `sync_every`. A safety net, not the pace.
    pub sync_first: Duration,
    pub sync_every: Duration,
    /// A place or cancel answered without its report for this long: the order is asked for.
    pub report_overdue: Duration,
    /// How often the token list (each token's points multiplier) is read again; it is also
    /// read at the start of each UTC day.
    pub token_list_every: Duration,
    /// A price older than this pauses new pairs on the token.
    pub price_stale: Duration,
    /// How long each leftover-sale step waits for its fill.
    pub ladder_step: Duration,
    /// How often the session is probed (B2), so an idle account learns of its expiry too.
    pub session_probe: Duration,
    /// How often an account paused for its balance looks again.
    pub balance_recheck: Duration,
    /// The span of the volatility guard's window (R16: 60 s).
    pub volatility_window: Duration,
    pub request_timeout: Duration,
    /// Restarts allowed within `restart_window` before an account is parked as failed.
    pub restart_budget: usize,
    pub restart_window: Duration,
    pub restart_backoff_max: Duration,
    /// Silence after which the private stream counts as lost (B5); a ping goes out once it
    /// has been silent for half of it, so a quiet but healthy stream never trips it and a
    /// stream that hears frames sends none.
    pub stream_stale: Duration,
    /// The private stream's reconnect backoff (fast in tests).
    pub stream_backoff_min: Duration,
    pub stream_backoff_max: Duration,
    /// How long before a session's expiry it is warned of (`[daemon] session_warn_hours`).
    pub session_warn: Duration,
    /// How often the session watch looks at the stored expiries.
    pub session_check: Duration,
    /// About how often a session no instance trades on is probed.
    pub session_probe_idle: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(500),
            look_max: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(30),
            lease_margin: Duration::from_secs(5),
            listen_key_keep_alive: Duration::from_secs(30 * 60),
            sync_first: Duration::from_secs(30),
            sync_every: Duration::from_secs(600),
            report_overdue: Duration::from_secs(5),
            token_list_every: Duration::from_secs(3600),
            price_stale: Duration::from_secs(120),
            ladder_step: Duration::from_secs(20),
            session_probe: Duration::from_secs(300),
            balance_recheck: Duration::from_secs(30),
            volatility_window: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            restart_budget: 5,
            restart_window: Duration::from_secs(600),
            restart_backoff_max: Duration::from_secs(60),
            stream_stale: Duration::from_secs(30),
            stream_backoff_min: Duration::from_secs(2),
            stream_backoff_max: Duration::from_secs(120),
            session_warn: Duration::from_secs(12 * 3600),
            session_check: Duration::from_secs(60),
            session_probe_idle: Duration::from_secs(6 * 3600),
        }
    }
}

/// An account event as it is broadcast live (Server-Sent Events).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LiveEvent {
    pub id: i64,
    pub account: String,
    pub kind: String,
    pub level: String,
    pub reason: Option<String>,
    pub message: String,
    pub at_ms: i64,
}

/// What every actor shares.
pub struct Shared {
    /// Every stored account event, live; receivers that fall behind skip (the rows remain).
    pub events: tokio::sync::broadcast::Sender<LiveEvent>,
    pub store: Store,
    pub vault: Option<Vault>,
    pub cache: TokenCache,
    pub exchange: ExchangeConfig,
    pub governor: governor::Governor,
    /// New orders take their turn here, first come first served.
    pub admission: admission::Admission,
    pub feeds: price_feed::PriceFeeds,
    /// Each token's points multiplier, from the token list read once for the instance.
    pub board: token_board::TokenBoard,
    /// Every live pair's prices per token: no two managed accounts trade with each other.
    pub crossings: crossing::Crossings,
    /// The leases this instance holds, renewed together.
    pub leases: leases::LeaseKeeper,
    /// The instances on the database and the share of accounts each holds.
    pub membership: membership::Membership,
    /// This instance's weight in the shares (`[daemon] capacity`).
    pub capacity: u32,
    pub webhooks: webhook::Webhooks,
    pub log: Logger,
    /// This instance's name in leases.
    pub owner: String,
    /// What a graceful stop does with live pairs.
    pub on_stop: crate::config::StopMode,
    pub clock: Clock,
    pub timing: Timing,
}

pub type Ctx = Arc<Shared>;
