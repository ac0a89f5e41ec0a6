//! A simulator, a database and a daemon engine wired together, with the checks every trading
//! test shares: the simulator's ledger against the daemon's store.

use alpha_oto::domain::cycle::Outcome;
use alpha_oto::domain::shown::AccountState;
use std::collections::BTreeMap;
use std::time::Duration;

use alpha_oto::actors::Timing;
use alpha_oto::actors::account::{AccountStatus, KillReport};
use alpha_oto::actors::operator;
use alpha_oto::actors::supervisor::SupervisorHandle;
use alpha_oto::clock::Clock;
use alpha_oto::config::Config;
use alpha_oto::daemon;
use alpha_oto::domain::settings::AccountSettings;
use alpha_oto::exchange::session::Session;
use alpha_oto::sim::server::{SimHandle, SimOptions, start};
use alpha_oto::store::{self, models::Page};
use alpha_oto::vault::{KeyRing, Vault, generate_key_line};
use secrecy::SecretString;
use serde_json::json;

use crate::support::{TestDb, d, unique};

/// Short periods, so a test sees minutes of trading in seconds.
pub fn fast_timing() -> Timing {
    Timing {
        tick: Duration::from_millis(100),
        look_max: Duration::from_secs(1),
        lease_ttl: Duration::from_secs(10),
        lease_margin: Duration::from_secs(3),
        listen_key_keep_alive: Duration::from_secs(60),
        sync_first: Duration::from_secs(3),
        sync_every: Duration::from_secs(3),
        report_overdue: Duration::from_secs(1),
        token_list_every: Duration::from_secs(1),
        price_stale: Duration::from_secs(30),
        ladder_step: Duration::from_millis(800),
        session_probe: Duration::from_secs(1),
        balance_recheck: Duration::from_millis(500),
        volatility_window: Duration::from_secs(3),
        request_timeout: Duration::from_secs(3),
        restart_budget: 5,
        restart_window: Duration::from_secs(60),
        restart_backoff_max: Duration::from_secs(2),
        stream_stale: Duration::from_secs(3),
        stream_backoff_min: Duration::from_millis(200),
        stream_backoff_max: Duration::from_secs(1),
        session_warn: Duration::from_secs(12 * 3600),
        session_check: Duration::from_millis(500),
        session_probe_idle: Duration::from_secs(2),
    }
}

/// Settings whose pairs fill at once: buy above the ask, sell below the bid.
pub fn settings(token: &str, order: &str, target: &str) -> AccountSettings {
    serde_json::from_value(json!({
        "token": token,
        "order_usdt": order,
        "daily_target_usdt": target,
        "buy_offset": {"mode": "percent", "value": "0.5"},
        "sell_offset": {"mode": "percent", "value": "-1"},
        "volatility_pct": "50",
        "cost_budget_bps": "500",
    }))
    .unwrap()
}

pub struct Harness {
    pub sim: SimHandle,
    pub db: TestDb,
    pub vault_line: String,
    pub sup: SupervisorHandle,
    pub clock: Clock,
    pub ctx: alpha_oto::actors::Ctx,
    /// (daemon account id, simulator account id)
    pub accounts: Vec<(i64, u64)>,
}

pub fn logger() -> slog::Logger {
    if std::env::var_os("ALPHA_OTO_TEST_LOG").is_some() {
        use slog::Drain;
        let decorator = slog_term::PlainSyncDecorator::new(std::io::stderr());
        let drain = slog_term::FullFormat::new(decorator).build().fuse();
        // Off the actors' threads, so that logging changes their timing little.
        let drain = slog_async::Async::new(drain)
            .chan_size(1 << 16)
            .build()
            .fuse();
        slog::Logger::root(drain, slog::o!())
    } else {
        slog::Logger::root(slog::Discard, slog::o!())
    }
}

pub async fn sim(seed: u64) -> SimHandle {
    sim_with(seed, |_| {}).await
}

/// The same, with a change to the simulator's options.
pub async fn sim_with(seed: u64, tweak: impl FnOnce(&mut SimOptions)) -> SimHandle {
    let mut options = SimOptions {
        seed,
        trade_interval: Duration::from_millis(200),
        ..SimOptions::default()
    };
    tweak(&mut options);
    start(options).await.unwrap()
}

/// The exchange's own figure of an account's volume today (every token).
pub fn exchange_volume(sim: &SimHandle, sim_id: u64) -> rust_decimal::Decimal {
    let now = chrono::Utc::now().timestamp_millis();
    sim.state
        .with(|st| st.engine.volume_today(sim_id, now))
        .iter()
        .map(|(_, v)| *v)
        .sum()
}

pub fn config(sim: &SimHandle, instance: &str) -> Config {
    let mut c = Config::default();
    c.exchange.rest_url = sim.base_url();
    c.exchange.public_ws_url = sim.ws_url("/w3w/wsa/stream");
    c.exchange.private_ws_url = sim.ws_url("/w3w/stream");
    c.daemon.instance_id = Some(instance.to_owned());
    // The tests' webhook receivers listen on loopback.
    c.webhooks.allow_hosts = vec!["127.0.0.1".into()];
    c
}

/// A simulator and a database with funded accounts, before any daemon runs.
pub struct World {
    pub sim: SimHandle,
    pub db: TestDb,
    pub vault_line: String,
    pub accounts: Vec<(i64, u64)>,
}

impl World {
    /// One funded account per entry of `accounts`, with its config and credentials stored.
    pub async fn new(seed: u64, accounts: &[AccountSettings], usdt: &str) -> Self {
        Self::on(sim(seed).await, accounts, usdt)
    }

    /// The same on a simulator started by the caller.
    pub fn on(sim: SimHandle, accounts: &[AccountSettings], usdt: &str) -> Self {
        let db = TestDb::migrated();
        let vault_line = generate_key_line(chrono::Utc::now());
        let vault = vault_of(&vault_line);
        let mut ids = Vec::new();
        let mut conn = db.conn();
        for s in accounts {
            let creds = sim.state.with(|st| st.engine.create_account(d(usdt)));
            let account = store::accounts::create(&mut conn, &unique("acct"), 1_000).unwrap();
            store::configs::upsert(&mut conn, &store::configs::to_row(s, account.id, 1_000))
                .unwrap();
            let headers = creds
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), SecretString::from(v.clone())))
                .collect::<BTreeMap<_, _>>();
            let c = Session::new(headers, SecretString::from(creds.cookies.clone())).unwrap();
            vault.put(&mut conn, account.id, &c, 1_000).unwrap();
            ids.push((account.id, creds.id));
        }
        Self {
            sim,
            db,
            vault_line,
            accounts: ids,
        }
    }

    /// Starts an in-process engine named `instance` on this world.
    pub async fn engine(self, instance: &str) -> Harness {
        self.engine_with(instance, |_| {}).await
    }

    /// The same, with a change to the daemon's configuration.
    pub async fn engine_with(self, instance: &str, tweak: impl FnOnce(&mut Config)) -> Harness {
        self.engine_timed(instance, tweak, fast_timing()).await
    }

    /// The same, with the engine's timings given.
    pub async fn engine_timed(
        self,
        instance: &str,
        tweak: impl FnOnce(&mut Config),
        timing: Timing,
    ) -> Harness {
        let clock = Clock::default();
        let mut cfg = config(&self.sim, instance);
        tweak(&mut cfg);
        let (sup, ctx) = daemon::engine(
            &cfg,
            self.db.store.clone(),
            Some(vault_of(&self.vault_line)),
            logger(),
            timing,
            clock.clone(),
        )
        .await;
        Harness {
            sim: self.sim,
            db: self.db,
            vault_line: self.vault_line,
            sup,
            clock,
            ctx,
            accounts: self.accounts,
        }
    }
}

impl Harness {
    /// Another instance on the same database and simulator, started: it claims what no one
    /// holds (or what is held in its name).
    pub async fn second_engine(
        &self,
        instance: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> (SupervisorHandle, alpha_oto::actors::Ctx) {
        let mut cfg = config(&self.sim, instance);
        tweak(&mut cfg);
        let (sup, ctx) = daemon::engine(
            &cfg,
            self.db.store.clone(),
            Some(vault_of(&self.vault_line)),
            logger(),
            fast_timing(),
            Clock::default(),
        )
        .await;
        sup.start_all().await.unwrap();
        (sup, ctx)
    }

    /// A world and an engine on it; no account trades yet.
    pub async fn new(seed: u64, accounts: &[AccountSettings], usdt: &str) -> Self {
        World::new(seed, accounts, usdt)
            .await
            .engine("test-1")
            .await
    }

    /// Starts every actor and tells every account to trade.
    pub async fn start_trading(&self) {
        self.sup.start_all().await.unwrap();
        for (id, _) in &self.accounts {
            self.act(*id, operator::Action::Start).await;
        }
    }

    /// Adds a simulator fault (the admin surface's JSON form).
    pub async fn fault(&self, spec: serde_json::Value) {
        let url = format!("{}/sim/faults", self.sim.base_url());
        let res = awc::Client::default()
            .post(url)
            .send_json(&spec)
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "fault {spec} refused: {}",
            res.status()
        );
    }

    pub async fn clear_faults(&self) {
        let url = format!("{}/sim/faults", self.sim.base_url());
        awc::Client::default().delete(url).send().await.unwrap();
    }

    /// Stops every account, waits until all are stopped, and checks the ledger.
    pub async fn stop_and_check(&self) -> Vec<String> {
        for (id, _) in &self.accounts {
            self.act(*id, operator::Action::Stop).await;
        }
        self.wait_all("stop", Duration::from_secs(30), |s| {
            s.state == AccountState::Stopped
        })
        .await;
        assert_eq!(self.violations(), Vec::<String>::new());
        assert_eq!(self.open_on_exchange(), Vec::<u64>::new());
        self.ledger_check()
    }

    /// Cycles closed with `outcome` for an account.
    pub fn cycles_with(&self, account: i64, outcome: Outcome) -> usize {
        let mut conn = self.db.conn();
        store::cycles::list(&mut conn, account, Page::first(500))
            .unwrap()
            .iter()
            .filter(|c| c.outcome == Some(outcome))
            .count()
    }

    /// Event rows of a kind (and reason) for an account.
    pub fn events(&self, account: i64, kind: &str, reason: Option<&str>) -> usize {
        let mut conn = self.db.conn();
        store::events::list(&mut conn, Some(account), Page::first(500))
            .unwrap()
            .iter()
            .filter(|e| e.kind == kind && (reason.is_none() || e.reason.as_deref() == reason))
            .count()
    }

    /// An operator's action, as the API gives it: recorded (so a restarted task still knows
    /// it), then carried out.
    pub async fn act(&self, id: i64, action: operator::Action) {
        let account = store::accounts::get(&mut self.db.conn(), id).unwrap();
        operator::act(&self.ctx, &self.sup, &account, action)
            .await
            .unwrap();
    }

    /// The kill switch of one account, as the API gives it (recorded, then carried out here).
    pub async fn kill(&self, id: i64) -> KillReport {
        let account = store::accounts::get(&mut self.db.conn(), id).unwrap();
        operator::kill(&self.ctx, &self.sup, &account)
            .await
            .unwrap()
    }

    /// The global kill switch, as the API gives it.
    pub async fn halt(&self) -> Vec<KillReport> {
        operator::halt(&self.ctx, &self.sup).await.unwrap()
    }

    pub fn status(&self, id: i64) -> Option<AccountStatus> {
        self.sup.status(id)
    }

    /// Waits until `pred` holds for every account's status, or panics with the statuses.
    pub async fn wait_all(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&AccountStatus) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let all: Vec<Option<AccountStatus>> = self
                .accounts
                .iter()
                .map(|(id, _)| self.status(*id))
                .collect();
            if all.iter().all(|s| s.as_ref().is_some_and(&pred)) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("not all accounts {what} within {limit:?}: {all:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The simulator's violations: two live pairs, orders after a stop, ...
    pub fn violations(&self) -> Vec<String> {
        self.sim.state.with(|s| {
            s.engine
                .violations()
                .iter()
                .map(|v| format!("{} account {}: {}", v.kind, v.account, v.detail))
                .collect()
        })
    }

    /// Orders the simulator ever took for one of its accounts.
    pub fn placed(&self, sim_id: u64) -> usize {
        self.sim.state.with(|s| {
            s.engine
                .orders
                .values()
                .filter(|o| o.account == sim_id)
                .count()
        })
    }

    /// The simulator's id of an account's live pending leg.
    pub fn live_pending_leg(&self, sim_id: u64) -> u64 {
        self.sim.state.with(|s| {
            s.engine
                .orders
                .values()
                .find(|o| {
                    o.account == sim_id
                        && o.leg == Some(alpha_oto::sim::engine::Leg::Pending)
                        && !o.status.is_final()
                })
                .map(|o| o.id)
                .unwrap()
        })
    }

    /// Moves a token's price on the simulator (it trades there and matches).
    pub async fn set_price(&self, symbol: &str, price: rust_decimal::Decimal) {
        let res = awc::Client::default()
            .post(format!("{}/sim/price", self.sim.base_url()))
            .send_json(&json!({"symbol": symbol, "price": price.to_string()}))
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204);
    }

    /// Orders the simulator still holds open for our accounts.
    pub fn open_on_exchange(&self) -> Vec<u64> {
        let ours: Vec<u64> = self.accounts.iter().map(|(_, s)| *s).collect();
        self.sim.state.with(|s| {
            s.engine
                .orders
                .values()
                .filter(|o| ours.contains(&o.account) && !o.status.is_final())
                .map(|o| o.id)
                .collect()
        })
    }

    /// The ledger check for accounts that may still be trading. A running account keeps its
    /// fills and the ids of a placed pair back for up to 50 ms (`actors::account::later`), so
    /// the store may lag the exchange by that much: the check is tried until it holds, for at
    /// most 2 s, and panics with the last difference.
    pub async fn ledger_check_open(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            let found = alpha_oto::ledger_check::ledger(
                &mut self.db.conn(),
                &self.sim.ledger(),
                &self.accounts,
                true,
            );
            match found {
                Ok(_) => return,
                Err(e) if tokio::time::Instant::now() >= deadline => panic!("ledger check: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// The daemon's store against the simulator's ledger, order for order and fill for fill
    /// (`alpha_oto::ledger_check::ledger`). Returns a line per account or panics on a difference.
    pub fn ledger_check(&self) -> Vec<String> {
        let rows = alpha_oto::ledger_check::ledger(
            &mut self.db.conn(),
            &self.sim.ledger(),
            &self.accounts,
            false,
        )
        .unwrap_or_else(|e| panic!("ledger check: {e}\n{}", self.dump()));
        rows.iter()
            .map(|r| {
                format!(
                    "account {} (sim {}): {} orders, {} fills, {} USDT traded (buys and sells): store = ledger",
                    r.account_id, r.sim_account, r.orders, r.fills, r.traded
                )
            })
            .collect()
    }
}

impl Harness {
    /// The store's orders, fills and events of every account and the simulator's orders of
    /// them: what a failed ledger check needs to be understood.
    fn dump(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut conn = self.db.conn();
        for (id, sim_id) in &self.accounts {
            let _ = writeln!(out, "== account {id} (sim {sim_id})");
            for o in store::orders::list(&mut conn, *id, Page::first(500)).unwrap_or_default() {
                let _ = writeln!(
                    out,
                    "order row {} cycle {:?} {:?} {:?} x={:?} {} filled {} for {} at {}..{}",
                    o.id,
                    o.cycle_id,
                    o.role,
                    o.side,
                    o.exchange_order_id,
                    o.status,
                    o.filled_qty,
                    o.filled_quote,
                    o.created_at_ms,
                    o.updated_at_ms
                );
            }
            for f in store::fills::list(&mut conn, *id, Page::first(500)).unwrap_or_default() {
                let _ = writeln!(
                    out,
                    "fill of row {} x={} trade {} cum {} qty {} quote {}",
                    f.order_id, f.exchange_order_id, f.trade_id, f.cum_qty, f.qty, f.quote_qty
                );
            }
            for e in store::events::list(&mut conn, Some(*id), Page::first(500)).unwrap_or_default()
            {
                let _ = writeln!(
                    out,
                    "event {} {} {:?} {}",
                    e.created_at_ms, e.kind, e.reason, e.message
                );
            }
            self.sim.state.with(|st| {
                for o in st.engine.orders.values().filter(|o| o.account == *sim_id) {
                    let _ = writeln!(
                        out,
                        "sim order {} {:?} {:?} {:?} filled {} for {} at {}..{}",
                        o.id,
                        o.side,
                        o.leg,
                        o.status,
                        o.executed_qty,
                        o.cum_quote,
                        o.created_ms,
                        o.updated_ms
                    );
                }
            });
        }
        out
    }
}

/// Waits until `pred` holds for the account's status as `sup` shows it, or panics with it.
pub async fn wait_account(
    sup: &SupervisorHandle,
    id: i64,
    what: &str,
    limit: Duration,
    pred: impl Fn(&AccountStatus) -> bool,
) -> AccountStatus {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(s) = sup.status(id)
            && pred(&s)
        {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "account {id} did not {what} within {limit:?}: {:?}",
            sup.status(id)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn vault_of(line: &str) -> Vault {
    Vault::new(KeyRing::parse(line, "test").unwrap())
}

/// A webhook receiver on loopback: every JSON body POSTed to it, in order.
pub struct WebhookSink {
    pub url: String,
    /// Every POST: its JSON body, its signature header and its bytes as sent.
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Posted>>>,
    server: actix_web::dev::ServerHandle,
}

#[derive(Debug, Clone)]
pub struct Posted {
    pub body: serde_json::Value,
    pub signature: Option<String>,
    pub raw: Vec<u8>,
}

impl WebhookSink {
    pub fn start() -> Self {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = received.clone();
        let server = HttpServer::new(move || {
            let store = store.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, raw: web::Bytes| {
                    let store = store.clone();
                    async move {
                        let signature = req
                            .headers()
                            .get(alpha_oto::actors::webhook::SIGNATURE_HEADER)
                            .map(|v| v.to_str().unwrap().to_owned());
                        store.lock().unwrap().push(Posted {
                            body: serde_json::from_slice(&raw).unwrap(),
                            signature,
                            raw: raw.to_vec(),
                        });
                        HttpResponse::NoContent().finish()
                    }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            url: format!("http://{addr}/hook"),
            received,
            server: handle,
        }
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.received.lock().unwrap().clone()
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.posted().into_iter().map(|p| p.body).collect()
    }

    pub async fn stop(&self) {
        self.server.stop(false).await;
    }
}
