//! `alpha-oto demo`: the simulator and the daemon in one process on a temporary SQLite
//! database. A few accounts on different tokens trade to small targets with a progress bar
//! each; a summary table and the ledger check follow. Nothing to install, under a minute.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rust_decimal::Decimal;

use crate::actors::Timing;
use crate::clock::Clock;
use crate::config::Config;
use crate::config::database::{DatabaseUrl, StoreOptions};
use crate::domain::settings::AccountSettings;
use crate::domain::shown::AccountState;
use crate::exchange::session::Session;
use crate::sim::engine::Matching;
use crate::sim::faults::FaultSpec;
use crate::sim::server::{SimOptions, start};
use crate::store::models::Page;
use crate::store::{self, Store};
use crate::vault::{KeyRing, Vault, generate_key_line};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub accounts: usize,
    pub target: Decimal,
    pub faults: Vec<FaultSpec>,
    /// Leave the daemon, its API and the simulator running at the end.
    pub keep: bool,
    pub seed: u64,
    /// Give up after this long.
    pub limit: Duration,
    /// How the simulator matches orders.
    pub matching: Matching,
}

const TOKENS: [&str; 3] = ["KOGE", "NEX", "LIGHT"];

fn settings(token: &str, target: Decimal) -> anyhow::Result<AccountSettings> {
    let s: AccountSettings = serde_json::from_value(serde_json::json!({
        "token": token,
        "order_usdt": "10",
        "daily_target_usdt": target.to_string(),
        // Buy just above the market and sell just below: pairs fill at once, for a quick show.
        "buy_offset": {"mode": "percent", "value": "0.5"},
        "sell_offset": {"mode": "percent", "value": "-1"},
        "volatility_pct": "5",
        "cost_budget_bps": "200",
        // A leg that rests (bought on a price that went stale while the stream was down) is
        // cancelled and the pair placed again on a fresh price well within the demo's minute,
        // not after the default five minutes.
        "order_timeout_s": 15,
        "pending_timeout_s": 15,
        "auto_resume": true,
    }))?;
    s.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(s)
}

fn timing() -> Timing {
    Timing {
        tick: Duration::from_millis(100),
        look_max: Duration::from_secs(2),
        lease_ttl: Duration::from_secs(10),
        lease_margin: Duration::from_secs(3),
        sync_first: Duration::from_secs(3),
        sync_every: Duration::from_secs(3),
        request_timeout: Duration::from_secs(3),
        stream_stale: Duration::from_secs(5),
        stream_backoff_min: Duration::from_millis(200),
        stream_backoff_max: Duration::from_secs(2),
        ..Timing::default()
    }
}

/// One summary row.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub token: String,
    pub state: String,
    pub volume: Decimal,
    pub cycles: usize,
    pub fees: Decimal,
    pub cost_bps: Decimal,
    pub pauses: usize,
}

/// Runs the demo; true when every account reached its target and the store matches the
/// simulator's ledger.
pub async fn run(opts: DemoOptions) -> anyhow::Result<bool> {
    let sim = start(SimOptions {
        seed: opts.seed,
        trade_interval: Duration::from_millis(200),
        faults: opts.faults.clone(),
        matching: opts.matching,
        ..SimOptions::default()
    })
    .await
    .context("cannot start the simulator")?;
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "alpha-oto-demo-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db_path = dir.join("demo.db");
    let store = Store::open(
        &DatabaseUrl::Sqlite(db_path.clone()),
        &StoreOptions::default(),
    )?;
    store.blocking(store::migrate::run_pending)?;
    let key_line = generate_key_line(chrono::Utc::now());
    let vault = Vault::new(KeyRing::parse(&key_line, "demo")?);
    let now = chrono::Utc::now().timestamp_millis();
    let mut accounts = Vec::new();
    for i in 0..opts.accounts.max(1) {
        let token = TOKENS[i % TOKENS.len()];
        let creds = sim
            .state
            .with(|s| s.engine.create_account(Decimal::from(1000)));
        let s = settings(token, opts.target)?;
        let name = format!("demo-{}-{}", i + 1, token.to_lowercase());
        let mut conn = store.conn()?;
        let account = store::accounts::create(&mut conn, &name, now)?;
        store::configs::upsert(&mut conn, &store::configs::to_row(&s, account.id, now))?;
        let c = Session::from_plain(creds.headers.clone(), creds.cookies.clone())?;
        vault.put(&mut conn, account.id, &c, now)?;
        store::accounts::set_state(&mut conn, account.id, AccountState::Trading, None, now)?;
        store::accounts::command(&mut conn, account.id, store::models::Desired::Run)?;
        accounts.push((account.id, creds.id, name, token));
    }
    let mut config = Config::default();
    config.exchange.rest_url = sim.base_url();
    config.exchange.public_ws_url = sim.ws_url("/w3w/wsa/stream");
    config.exchange.private_ws_url = sim.ws_url("/w3w/stream");
    config.daemon.instance_id = Some("demo".into());
    // The daemon's log goes to a file beside the database; its path is printed on failure.
    let log_path = dir.join("demo.log");
    let log = {
        use slog::Drain;
        let file = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let drain = slog_term::FullFormat::new(slog_term::PlainSyncDecorator::new(file))
            .build()
            .fuse();
        slog::Logger::root(drain, slog::o!())
    };
    let (sup, ctx) = crate::daemon::engine(
        &config,
        store.clone(),
        Some(vault),
        log,
        timing(),
        Clock::default(),
    )
    .await;
    sup.start_all().await?;

    println!(
        "alpha-oto demo: {} account(s), target {} USDT each, simulator at {}",
        accounts.len(),
        opts.target,
        sim.base_url()
    );
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>16} [{bar:32}] {percent:>3}% {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar: Vec<ProgressBar> = accounts
        .iter()
        .map(|(_, _, name, _)| {
            let b = bars.add(ProgressBar::new(100));
            b.set_style(style.clone());
            b.set_prefix(name.clone());
            b
        })
        .collect();
    let deadline = tokio::time::Instant::now() + opts.limit;
    let mut all_done = false;
    while tokio::time::Instant::now() < deadline {
        let mut done = 0;
        for ((id, _, _, _), b) in accounts.iter().zip(&bar) {
            if let Some(s) = sup.status(*id) {
                let pct = if s.target > Decimal::ZERO {
                    (s.volume_today / s.target * Decimal::ONE_HUNDRED).min(Decimal::ONE_HUNDRED)
                } else {
                    Decimal::ONE_HUNDRED
                };
                b.set_position(u64::try_from(pct.trunc().mantissa()).unwrap_or(0));
                let why = s
                    .pause_reason
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                b.set_message(format!(
                    "{:.2}/{} USDT  {} pairs  {}{}",
                    s.volume_today, s.target, s.cycles_today, s.state, why
                ));
                if s.state == AccountState::DoneForToday {
                    done += 1;
                }
            }
        }
        if done == accounts.len() {
            all_done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for b in &bar {
        b.finish();
    }

    let mut rows = Vec::new();
    for (id, _, name, token) in &accounts {
        let (id, from, to) = (
            *id,
            crate::domain::account::day_start_ms(now),
            chrono::Utc::now().timestamp_millis() + 1,
        );
        let (volume, cycles, pauses) = store
            .run(move |c| {
                let v = store::fills::volume_between(c, id, from, to)?;
                let cycles = store::cycles::list(c, id, Page::first(Page::MAX_LIMIT))?
                    .iter()
                    .filter(|c| c.outcome == Some(crate::domain::cycle::Outcome::Filled))
                    .count();
                let pauses = store::events::list(c, Some(id), Page::first(Page::MAX_LIMIT))?
                    .iter()
                    .filter(|e| e.kind == "paused")
                    .count();
                Ok((v, cycles, pauses))
            })
            .await?;
        let cost_bps = if volume.buy_quote > Decimal::ZERO {
            (volume.cost() / volume.buy_quote * Decimal::from(10_000)).round_dp(2)
        } else {
            Decimal::ZERO
        };
        rows.push(Row {
            name: name.clone(),
            token: token.to_string(),
            state: sup
                .status(id)
                .map(|s| s.state.as_str().to_owned())
                .unwrap_or_default(),
            volume: volume.buy_quote.round_dp(2),
            cycles,
            fees: volume.fees_usdt.round_dp(6),
            cost_bps,
            pauses,
        });
    }
    println!();
    print!("{}", table(&rows));
    let ids: Vec<(i64, u64)> = accounts.iter().map(|(a, s, _, _)| (*a, *s)).collect();
    let checked = crate::ledger_check::ledger(&mut store.conn()?, &sim.ledger(), &ids, false);
    let ledger_ok = match &checked {
        Ok(rows) => {
            let (orders, fills): (usize, usize) = rows
                .iter()
                .fold((0, 0), |(o, f), r| (o + r.orders, f + r.fills));
            println!(
                "ledger: the store matches the simulator's ledger for every account ({orders} orders, {fills} fills, 0 violations, nothing left open)"
            );
            true
        }
        Err(e) => {
            println!("ledger: MISMATCH: {e}");
            false
        }
    };
    if opts.keep {
        let token = crate::api::auth::new_token()?;
        let state = actix_web::web::Data::new(crate::api::ApiState::new(
            ctx,
            sup.clone(),
            vec![crate::api::auth::hash(&token)?],
        ));
        let (addr, api) = crate::api::start("127.0.0.1:0", state)?;
        println!("\nKept running. Control API: http://{addr}/api/v1/accounts");
        println!("  curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/accounts");
        println!("  dashboard: http://{addr}/#token={token}");
        println!("  ALPHA_OTO_API_TOKEN={token} alpha-oto --api-listen {addr} account list");
        println!(
            "Simulator admin: {}/sim/ledger   Database: {}",
            sim.base_url(),
            db_path.display()
        );
        println!("Ctrl-C to stop.");
        tokio::signal::ctrl_c().await?;
        api.stop(true).await;
    }
    sup.shutdown(Duration::from_secs(5)).await;
    sim.stop().await;
    let ok = all_done && ledger_ok;
    if !ok {
        println!("the daemon's log: {}", log_path.display());
    } else if !opts.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ok)
}

/// The summary as a plain text table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<16} {:<6} {:<15} {:>12} {:>7} {:>12} {:>9} {:>7}\n",
        "account", "token", "state", "volume USDT", "cycles", "fees USDT", "cost bps", "pauses"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<16} {:<6} {:<15} {:>12} {:>7} {:>12} {:>9} {:>7}\n",
            r.name, r.token, r.state, r.volume, r.cycles, r.fees, r.cost_bps, r.pauses
        ));
    }
    out
}
