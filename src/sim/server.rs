//! Starting the simulator: bind, seed accounts, serve, and drive the market clock.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use rust_decimal::Decimal;

use super::engine::{Credentials, Engine, FillMode, Matching, SimConfig};
use super::faults::{FaultSpec, Faults};
use super::state::{SimState, now_ms};
use super::{admin, http, ws};

/// What `alpha-oto sim` takes.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub seed: u64,
    /// Accounts to create at start, each funded with `usdt`.
    pub accounts: usize,
    pub usdt: Decimal,
    /// Where to write the created accounts' credentials (a JSON array).
    pub write_accounts: Option<PathBuf>,
    /// A folder to write each created account's credentials into, one file each
    /// (`account-<id>.json`, the form `alpha-oto account credentials --file` reads).
    pub write_credentials: Option<PathBuf>,
    pub faults: Vec<FaultSpec>,
    /// How often each token's price walks and prints a trade.
    pub trade_interval: Duration,
    pub listen_key_ttl: Duration,
    /// Paper mode: no random walk; the prices come from outside through
    /// [`SimState::follow_price`] (`crate::paper` feeds a live market's trades), so orders
    /// fill against a real market with no real money.
    pub paper: bool,
    /// Report today's volume with each buy multiplied by its token's mulPoint (the daemon's
    /// default reading; false: plain quote volume).
    pub volume_uses_mul_point: bool,
    pub fill: FillMode,
    pub matching: Matching,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 1,
            accounts: 0,
            usdt: Decimal::from(1000),
            write_accounts: None,
            write_credentials: None,
            faults: Vec::new(),
            trade_interval: Duration::from_millis(1000),
            listen_key_ttl: Duration::from_secs(3600),
            paper: false,
            volume_uses_mul_point: true,
            fill: FillMode::Market,
            matching: Matching::Continuous,
        }
    }
}

/// A running simulator.
pub struct SimHandle {
    pub addr: SocketAddr,
    pub state: web::Data<SimState>,
    pub accounts: Vec<Credentials>,
    server: actix_web::dev::ServerHandle,
}

impl SimHandle {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The ledger as it stands, for the tools' check.
    pub fn ledger(&self) -> super::ledger::Ledger {
        self.state.with(|s| super::ledger::Ledger::of(&s.engine))
    }

    /// The stream names of the simulator's tokens (`<symbol>@aggTrade`), for paper mode.
    pub fn trade_streams(&self) -> Vec<String> {
        self.state.with(|s| {
            s.engine
                .tokens
                .iter()
                .map(|t| format!("{}@aggTrade", t.stream_symbol))
                .collect()
        })
    }

    /// Stops serving; open connections are closed.
    pub async fn stop(&self) {
        self.server.stop(false).await;
    }
}

/// Starts the simulator on the current actix runtime.
pub async fn start(opts: SimOptions) -> std::io::Result<SimHandle> {
    let engine = Engine::new(SimConfig {
        seed: opts.seed,
        volume_uses_mul_point: opts.volume_uses_mul_point,
        fill: opts.fill,
        matching: opts.matching,
        ..SimConfig::default()
    });
    let mut faults = Faults::new(opts.seed);
    let now = now_ms();
    for f in &opts.faults {
        faults.add(f.clone(), now);
    }
    let ttl = i64::try_from(opts.listen_key_ttl.as_millis()).unwrap_or(i64::MAX);
    let state = web::Data::new(SimState::new(engine, faults, ttl));
    let accounts: Vec<Credentials> = state.with(|s| {
        (0..opts.accounts)
            .map(|_| s.engine.create_account(opts.usdt))
            .collect()
    });
    if let Some(path) = &opts.write_accounts {
        let text = serde_json::to_string_pretty(&accounts).map_err(std::io::Error::other)?;
        std::fs::write(path, text)?;
    }
    if let Some(dir) = &opts.write_credentials {
        write_credentials(dir, &accounts)?;
    }
    let listener = TcpListener::bind(opts.listen)?;
    let addr = listener.local_addr()?;
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(web::JsonConfig::default().limit(64 * 1024))
            .configure(http::routes)
            .configure(ws::routes)
            .configure(admin::routes)
    })
    .workers(2)
    // Small answers and stream frames go out at once, not after the peer's delayed ACK.
    .tcp_nodelay(true)
    // Thousands of accounts connect at once when a benchmark or a daemon starts.
    .backlog(4096)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let walk = !opts.paper;
    let clock = state.clone();
    let interval = opts.trade_interval.max(Duration::from_millis(1));
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the market's first step comes one interval after start.
        tick.tick().await;
        loop {
            tick.tick().await;
            clock.with(|s| {
                let now = now_ms();
                if walk {
                    for t in 0..s.engine.tokens.len() {
                        s.engine.tick(t, now);
                    }
                }
                s.expire_keys(None, now);
            });
        }
    });
    if let Matching::Auction { every_ms } = opts.matching {
        let auctions = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every_ms));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                auctions.with(|s| s.engine.auction(now_ms()));
            }
        });
    }
    let publisher = state.clone();
    actix_web::rt::spawn(async move {
        let every = Duration::from_millis(super::publish::PUBLISH_EVERY_MS);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            publisher.with(|s| s.publish(now_ms()));
        }
    });
    if let FillMode::AtOnce { hold_ms } = opts.fill
        && hold_ms > 0
    {
        let held = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                held.with(|s| s.engine.fill_due(now_ms()));
            }
        });
    }
    Ok(SimHandle {
        addr,
        state,
        accounts,
        server: handle,
    })
}

/// One file per account, readable by its owner only: what `account credentials --file` takes.
fn write_credentials(dir: &std::path::Path, accounts: &[Credentials]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    for a in accounts {
        let body = serde_json::json!({"headers": a.headers, "cookies": a.cookies});
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(format!("account-{}.json", a.id)))?;
        f.write_all(body.to_string().as_bytes())?;
    }
    Ok(())
}
