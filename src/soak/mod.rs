//! `alpha-oto soak`: seeds of random faults against the real processes, each followed by the
//! checks that prove nothing was lost. A seed starts a simulator and a daemon (as `bench` does),
//! lets the accounts trade, plays the seed's fault schedule (simulator faults, daemon SIGKILLs,
//! PostgreSQL and Redis taken away through a proxy), clears the faults, waits for every account
//! to settle, stops everything and compares the daemon's books with the exchange's.

pub mod proxy;
pub mod schedule;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::bench::Findings;
use crate::bench::harness::{self, SimAdmin};
use crate::bench::procs::{self, DaemonSetup, Proc, SimArgs, WorkDir};
use crate::control::Client;
use crate::domain::shown::AccountState;
use crate::sim::engine::Matching;
use crate::sim::faults::FaultKind;
use proxy::Proxy;
use schedule::{FaultAction, FaultStep, Reach};

#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub seeds: RangeInclusive<u64>,
    pub accounts: usize,
    /// Length of each seed's fault window.
    pub seconds: u64,
    /// How long accounts get, once the faults end, to trade again.
    pub settle_seconds: u64,
    /// A PostgreSQL server (each seed gets a database of its own on it); SQLite without it.
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    /// Seeds run at the same time.
    pub jobs: usize,
    pub log_level: String,
    pub keep: bool,
    /// How the simulator matches orders.
    pub matching: Matching,
}

/// The outcome of one seed.
#[derive(Debug, Clone)]
pub struct SeedResult {
    pub seed: u64,
    /// Empty when the seed passed.
    pub problems: Vec<String>,
    pub pairs: u64,
    pub schedule: Vec<FaultStep>,
    pub elapsed_s: f64,
    /// From the end of the faults to every account settled.
    pub settled_s: f64,
    /// The work directory, kept when the seed failed (or with --keep).
    pub kept: Option<PathBuf>,
}

impl SeedResult {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The line `soak` prints for the seed (and, when it failed, what went wrong).
    pub fn line(&self) -> String {
        let faults: Vec<String> = self.schedule.iter().map(|s| s.action.name()).collect();
        let mut out = format!(
            "seed {:>4}  {}  {} pairs  settled in {:.1} s  {:.0} s  faults: {}",
            self.seed,
            if self.passed() { "passed" } else { "FAILED" },
            self.pairs,
            self.settled_s,
            self.elapsed_s,
            faults.join(", ")
        );
        if !self.passed() {
            for s in &self.schedule {
                out.push_str(&format!("\n    fault  {s}"));
            }
            for p in &self.problems {
                out.push_str(&format!("\n    ! {p}"));
            }
            if let Some(d) = &self.kept {
                out.push_str(&format!("\n    work directory: {}", d.display()));
            }
        }
        out
    }
}

/// Parses `A..B` (both included) or a single seed `A`.
pub fn parse_seeds(s: &str) -> Result<RangeInclusive<u64>, String> {
    let bad = || format!("seeds {s:?}: use A..B (both included), for example 1..200, or one seed");
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (a, b.trim_start_matches('=')),
        None => (s, s),
    };
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok(a..=b)
}

/// Runs every seed, `jobs` at a time, calling `report` as each one ends; (passed, failed).
pub fn run(opts: &SoakOptions, report: impl Fn(&SeedResult) + Sync) -> (u64, u64) {
    let next = AtomicU64::new(*opts.seeds.start());
    let last = *opts.seeds.end();
    let passed = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed > last {
                        break;
                    }
                    let result = run_seed_blocking(opts, seed);
                    if result.passed() {
                        passed.fetch_add(1, Ordering::SeqCst);
                    } else {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    report(&result);
                }
            });
        }
    });
    (passed.into_inner(), failed.into_inner())
}

fn run_seed_blocking(opts: &SoakOptions, seed: u64) -> SeedResult {
    let started = Instant::now();
    let mut result = SeedResult {
        seed,
        problems: Vec::new(),
        pairs: 0,
        schedule: Vec::new(),
        elapsed_s: 0.0,
        settled_s: 0.0,
        kept: None,
    };
    let outcome = actix_web::rt::System::new().block_on(run_seed(opts, seed, &mut result));
    if let Err(e) = outcome {
        result
            .problems
            .push(format!("the seed could not run: {e:#}"));
    }
    result.elapsed_s = started.elapsed().as_secs_f64();
    result
}

/// A database of the seed's own on the PostgreSQL server, reached through a proxy.
struct SeedDatabase {
    admin_url: String,
    name: String,
    /// The URL the daemon is given: the proxy's port.
    daemon_url: String,
    proxy: Arc<Proxy>,
}

impl SeedDatabase {
    fn create(admin_url: &str, seed: u64) -> anyhow::Result<Self> {
        use diesel::{Connection, RunQueryDsl};
        let url = url::Url::parse(admin_url).context("--database-url")?;
        let name = format!(
            "alpha_oto_soak_{seed}_{}_{}",
            std::process::id(),
            harness::now_ms()
        );
        let mut conn = diesel::PgConnection::establish(admin_url)
            .with_context(|| format!("cannot reach PostgreSQL at {}", redact(admin_url)))?;
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
        let (proxy, mut daemon) = proxied(&url, 5432)?;
        daemon.set_path(&format!("/{name}"));
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            daemon_url: daemon.to_string(),
            proxy,
        })
    }

    fn drop_database(&self) -> anyhow::Result<()> {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::PgConnection::establish(&self.admin_url)?;
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)?;
        Ok(())
    }
}

fn redact(url: &str) -> String {
    crate::config::database::redact_url(url)
}

/// A proxy to the server of `url`, and `url` pointed at the proxy.
fn proxied(url: &url::Url, default_port: u16) -> anyhow::Result<(Arc<Proxy>, url::Url)> {
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(default_port);
    let upstream: SocketAddr = (host, port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve {host}"))?;
    let proxy = Arc::new(Proxy::start(upstream)?);
    let mut through = url.clone();
    through
        .set_host(Some("127.0.0.1"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    through
        .set_port(Some(proxy.port))
        .map_err(|()| anyhow::anyhow!("cannot set the port"))?;
    Ok((proxy, through))
}

/// Redis through a proxy.
struct SeedRedis {
    daemon_url: String,
    proxy: Arc<Proxy>,
}

impl SeedRedis {
    fn start(redis_url: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(redis_url).context("--redis-url")?;
        let (proxy, daemon) = proxied(&url, 6379)?;
        Ok(Self {
            daemon_url: daemon.to_string(),
            proxy,
        })
    }
}

/// The `i`th account's settings over the benchmark's. The first reaches a target of 6 points
/// during the seed (done for today is one of the states to end in); the third lets the daemon
/// choose its token (`token = "auto"`). Every other account resumes by itself once a lost
/// stream is back; the rest keep the default, a pause the operator ends.
fn settings_of(i: usize) -> Value {
    let mut s = serde_json::json!({ "auto_resume": auto_resumes(i) });
    match i {
        0 => {
            s["daily_target_usdt"] = Value::Null;
            s["daily_target_points"] = 6.into();
        }
        2 => s["token"] = "auto".into(),
        _ => {}
    }
    s
}

fn auto_resumes(i: usize) -> bool {
    i % 2 == 1
}

/// The pause reasons a person has to act on, and the faults that can make each one true. A
/// lost stream waits for the operator only where the account does not resume by itself.
fn causes_of(reason: &str, auto_resume: bool) -> &'static [FaultKind] {
    match reason {
        "session_expired" => &[FaultKind::ExpireSession],
        "two_factor" => &[FaultKind::TwoFactor],
        "face_check" => &[FaultKind::FaceCheck],
        "precision" | "unknown_token" => &[FaultKind::NoPrecision],
        "ambiguous_order" => &[FaultKind::AmbiguousPlace],
        "stream_lost" if !auto_resume => &[
            FaultKind::DropWs,
            FaultKind::StallWs,
            FaultKind::ExpireListenKey,
            FaultKind::ExpireSession,
        ],
        _ => &[],
    }
}

async fn run_seed(opts: &SoakOptions, seed: u64, result: &mut SeedResult) -> anyhow::Result<()> {
    let mut dir = WorkDir::new(&format!("soak-{seed}"), true)?;
    let database = match &opts.database_url {
        Some(u) if u.starts_with("postgres") => Some(SeedDatabase::create(u, seed)?),
        Some(u) => bail!(
            "--database-url {}: the soak needs a PostgreSQL server (SQLite is its default)",
            redact(u)
        ),
        None => None,
    };
    let redis = opts
        .redis_url
        .as_deref()
        .map(SeedRedis::start)
        .transpose()?;
    let outcome = seed_body(opts, seed, &dir, database.as_ref(), redis.as_ref(), result).await;
    if let Err(e) = outcome {
        result.problems.push(format!("{e:#}"));
    }
    let keep = opts.keep || !result.passed();
    dir.keep = keep;
    if keep {
        result.kept = Some(dir.path.clone());
    } else if let Some(db) = &database
        && let Err(e) = db.drop_database()
    {
        result
            .problems
            .push(format!("cannot drop the seed's database: {e:#}"));
    }
    Ok(())
}

/// Everything the seed injected, by target: `None` is every account.
#[derive(Default)]
struct Injected(HashMap<Option<u64>, HashSet<FaultKind>>);

impl Injected {
    fn hit(&self, account: u64, kind: FaultKind) -> bool {
        [None, Some(account)]
            .iter()
            .any(|k| self.0.get(k).is_some_and(|s| s.contains(&kind)))
    }
}

async fn seed_body(
    opts: &SoakOptions,
    seed: u64,
    dir: &WorkDir,
    database: Option<&SeedDatabase>,
    redis: Option<&SeedRedis>,
    result: &mut SeedResult,
) -> anyhow::Result<()> {
    let mut sim = procs::spawn_sim(
        &dir.path,
        &SimArgs {
            seed,
            accounts: opts.accounts,
            hold_ms: 300,
            trade_interval_ms: 1000,
            matching: opts.matching,
        },
    )?;
    let admin = SimAdmin::new(&sim);
    let setup = procs::daemon_setup(
        &dir.path,
        &sim,
        database.map(|d| d.daemon_url.as_str()),
        &opts.log_level,
        redis.map(|r| r.daemon_url.as_str()),
        true,
    )?;
    let mut daemon = procs::spawn_daemon(&dir.path, &setup)?;
    let api = Client::new(&setup.api, Some(setup.token.clone()));
    harness::wait_healthy(&api, &mut daemon).await?;
    let trading_from = harness::now_ms();
    harness::create_accounts(&api, &sim, settings_of).await?;
    let sim_ids: Vec<u64> = sim.accounts.iter().map(|(id, _)| *id).collect();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let n = admin.placing_ids_since(trading_from).await?.len();
        if n >= sim_ids.len() {
            break;
        }
        if Instant::now() > until {
            bail!("only {n} of {} account(s) started trading", sim_ids.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let reach = Reach {
        database: database.is_some(),
        redis: redis.is_some(),
    };
    result.schedule = schedule::schedule(seed, opts.seconds, &sim_ids, reach);
    let injected = play(
        &result.schedule,
        opts.seconds,
        &admin,
        &dir.path,
        &setup,
        &mut daemon,
        database,
        redis,
    )
    .await?;

    admin.post("DELETE", "/sim/faults").await?;
    for p in [database.map(|d| &d.proxy), redis.map(|r| &r.proxy)]
        .into_iter()
        .flatten()
    {
        p.restore();
    }
    let cleared = harness::now_ms();
    let settling = Instant::now();
    let renewed = log_in_again(&api, &admin, &sim_ids).await?;
    if let Some(line) = settle(opts, &api, &admin, &sim_ids, &injected, &renewed, cleared).await {
        result.problems.extend(line);
    }
    result.settled_s = settling.elapsed().as_secs_f64();
    result.pairs = admin.reactions().await.map_or(0, |r| r.pairs_completed);

    let mut findings = Findings::default();
    if let Err(e) = harness::stop_accounts(&api, sim_ids.len(), None).await {
        result
            .problems
            .push(format!("stopping the accounts: {e:#}"));
    }
    compare_volume(&api, &admin, &sim_ids, result).await;
    if !daemon.terminate(Duration::from_secs(60)) {
        result
            .problems
            .push("the daemon did not stop cleanly on SIGTERM".into());
    }
    for line in harness::error_lines(&setup.log_file)? {
        if line.contains("panicked") {
            result.problems.push(format!("the daemon panicked: {line}"));
        }
    }
    let ledger: crate::sim::ledger::Ledger = admin.get("/sim/ledger/snapshot").await?;
    sim.proc.terminate(Duration::from_secs(10));
    let violations = harness::check_ledger(&setup, &sim, ledger, &mut findings).await?;
    if violations > 0 {
        result.problems.extend(findings.lines);
    }
    Ok(())
}

/// Plays the schedule over a window of `seconds`; what was injected, for the settle check.
#[allow(clippy::too_many_arguments)]
async fn play(
    steps: &[FaultStep],
    seconds: u64,
    admin: &SimAdmin,
    dir: &std::path::Path,
    setup: &DaemonSetup,
    daemon: &mut Proc,
    database: Option<&SeedDatabase>,
    redis: Option<&SeedRedis>,
) -> anyhow::Result<Injected> {
    let start = Instant::now();
    let mut injected = Injected::default();
    for step in steps {
        let at = start + Duration::from_millis(step.at_ms);
        tokio::time::sleep_until(at.into()).await;
        match &step.action {
            FaultAction::Sim(spec) => {
                admin.post_json("/sim/faults", spec).await?;
                injected
                    .0
                    .entry(spec.account)
                    .or_default()
                    .insert(spec.kind);
            }
            FaultAction::KillDaemon { down_ms } => {
                daemon.kill();
                tokio::time::sleep(Duration::from_millis(*down_ms)).await;
                *daemon = procs::spawn_daemon(dir, setup)?;
            }
            FaultAction::CutDatabase { for_ms } => cut_for(database.map(|d| &d.proxy), *for_ms),
            FaultAction::CutRedis { for_ms } => cut_for(redis.map(|r| &r.proxy), *for_ms),
        }
    }
    let end = start + Duration::from_secs(seconds.max(6));
    tokio::time::sleep_until(end.into()).await;
    Ok(injected)
}

fn cut_for(proxy: Option<&Arc<Proxy>>, for_ms: u64) {
    if let Some(p) = proxy {
        p.cut();
        let p = p.clone();
        actix_web::rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(for_ms)).await;
            p.restore();
        });
    }
}

/// What the operator does after a "session expired" alert, once the faults are over: logs in
/// again (the simulator renews the session), stores the new credentials and resumes. Without
/// it the daemon cannot see the account at all, and what happened to its live pair while it
/// was blind (a fill during a restart) could never reach its books. The accounts renewed.
async fn log_in_again(
    api: &Client,
    admin: &SimAdmin,
    sim_ids: &[u64],
) -> anyhow::Result<HashSet<u64>> {
    let mut renewed = HashSet::new();
    for (i, sim_id) in sim_ids.iter().enumerate() {
        let view: Value = admin.get(&format!("/sim/accounts/{sim_id}")).await?;
        if view["session_valid"].as_bool() != Some(false) {
            continue;
        }
        let fresh = admin
            .post_for(&format!("/sim/accounts/{sim_id}/renew-session"))
            .await?;
        let creds = serde_json::json!({"headers": fresh["headers"], "cookies": fresh["cookies"]});
        let name = harness::account_name(i);
        api.call(
            "PUT",
            &format!("/api/v1/accounts/{name}/credentials"),
            Some(crate::control::Body::Json(creds)),
        )
        .await
        .with_context(|| format!("storing {name}'s new credentials"))?;
        resume(api, &name).await?;
        renewed.insert(*sim_id);
    }
    Ok(renewed)
}

async fn resume(api: &Client, name: &str) -> anyhow::Result<()> {
    api.call("POST", &format!("/api/v1/accounts/{name}/resume"), None)
        .await
        .with_context(|| format!("resuming {name}"))?;
    Ok(())
}

/// Waits until every account trades again, is done for today, or is paused for a reason a
/// fault of the seed made true; what is still wrong at the deadline. An account that was
/// given new credentials must not stay paused for its session: it is resumed again (a resume
/// can meet the restart the new credentials cause) every few seconds until it trades.
async fn settle(
    opts: &SoakOptions,
    api: &Client,
    admin: &SimAdmin,
    sim_ids: &[u64],
    injected: &Injected,
    renewed: &HashSet<u64>,
    cleared_ms: i64,
) -> Option<Vec<String>> {
    let until = Instant::now() + Duration::from_secs(opts.settle_seconds);
    let mut wrong: Vec<String>;
    let mut resumed_at = Instant::now();
    loop {
        wrong = Vec::new();
        let views = api.call("GET", "/api/v1/accounts", None).await;
        let placed = admin.placing_ids_since(cleared_ms).await;
        match (views, placed) {
            (_, Err(e)) => wrong.push(format!("the simulator does not answer: {e:#}")),
            (Ok(Value::Array(views)), Ok(placed)) => {
                let by_name: HashMap<&str, &Value> = views
                    .iter()
                    .filter_map(|v| Some((v["name"].as_str()?, v)))
                    .collect();
                for (i, sim_id) in sim_ids.iter().enumerate() {
                    let name = harness::account_name(i);
                    let Some(v) = by_name.get(name.as_str()) else {
                        wrong.push(format!("{name} is not in the account list"));
                        continue;
                    };
                    let auto = auto_resumes(i);
                    let relogged = renewed.contains(sim_id);
                    let w = account_wrong(&name, v, *sim_id, auto, relogged, &placed, injected);
                    if let Some(w) = w {
                        if relogged && resumed_at.elapsed() > Duration::from_secs(3) {
                            let _ = resume(api, &name).await;
                        }
                        wrong.push(w);
                    }
                }
            }
            (Ok(other), _) => wrong.push(format!("the account list is not a list: {other}")),
            (Err(e), _) => wrong.push(format!("the API does not answer: {e}")),
        }
        if wrong.is_empty() {
            return None;
        }
        if resumed_at.elapsed() > Duration::from_secs(3) {
            resumed_at = Instant::now();
        }
        if Instant::now() > until {
            return Some(
                wrong
                    .into_iter()
                    .map(|w| format!("{w}, {} s after the faults ended", opts.settle_seconds))
                    .collect(),
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What is wrong with one account's view, if anything. `relogged`: the soak gave it new
/// credentials and resumed it, so no pause for its session or its stream is true any more.
fn account_wrong(
    name: &str,
    v: &Value,
    sim_id: u64,
    auto_resume: bool,
    relogged: bool,
    placed: &[u64],
    injected: &Injected,
) -> Option<String> {
    let text = v["state"].as_str().unwrap_or_default();
    let Ok(state) = text.parse::<AccountState>() else {
        return Some(format!("{name} shows an unknown state {text:?}"));
    };
    match state {
        AccountState::DoneForToday => None,
        AccountState::Trading if placed.contains(&sim_id) => None,
        AccountState::Trading => Some(format!("{name} is trading but placed no pair")),
        AccountState::Paused => {
            let reason = v["pause_reason"].as_str().unwrap_or("none");
            if relogged && matches!(reason, "session_expired" | "stream_lost") {
                return Some(format!(
                    "{name} is still paused ({reason}) after new credentials and a resume"
                ));
            }
            let causes = causes_of(reason, auto_resume);
            if causes.iter().any(|k| injected.hit(sim_id, *k)) {
                None
            } else if causes.is_empty() {
                Some(format!("{name} is still paused ({reason})"))
            } else {
                Some(format!("{name} is paused ({reason}) with no such fault"))
            }
        }
        other @ (AccountState::Idle | AccountState::Stopped | AccountState::Failed) => {
            Some(format!(
                "{name} is {other} ({})",
                v["failure"].as_str().unwrap_or("no failure given")
            ))
        }
    }
}

/// The daemon's volume today against the simulator's, account by account.
async fn compare_volume(api: &Client, admin: &SimAdmin, sim_ids: &[u64], result: &mut SeedResult) {
    let views = match api.call("GET", "/api/v1/accounts", None).await {
        Ok(Value::Array(v)) => v,
        Ok(_) | Err(_) => {
            result
                .problems
                .push("cannot read the daemon's volumes".into());
            return;
        }
    };
    for (i, sim_id) in sim_ids.iter().enumerate() {
        let name = harness::account_name(i);
        let ours = views
            .iter()
            .find(|v| v["name"].as_str() == Some(name.as_str()))
            // The simulator counts each buy times its token's mulPoint, as the daemon reads it.
            .and_then(|v| {
                v["points"]["counted_volume"]
                    .as_str()?
                    .parse::<Decimal>()
                    .ok()
            });
        let theirs = admin
            .get::<Value>(&format!("/sim/accounts/{sim_id}"))
            .await
            .ok()
            .and_then(|v| v["volume_today"].as_str()?.parse::<Decimal>().ok());
        if ours != theirs || ours.is_none() {
            result.problems.push(format!(
                "{name}: volume today {} in the daemon, {} on the exchange",
                ours.map_or("?".into(), |d| d.to_string()),
                theirs.map_or("?".into(), |d| d.to_string())
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_as_an_inclusive_range_or_one_seed() {
        assert_eq!(parse_seeds("1..200"), Ok(1..=200));
        assert_eq!(parse_seeds("17..17"), Ok(17..=17));
        assert_eq!(parse_seeds("3..=5"), Ok(3..=5));
        assert_eq!(parse_seeds("9"), Ok(9..=9));
        assert!(parse_seeds("5..1").is_err());
        assert!(parse_seeds("a..b").is_err());
        assert!(parse_seeds("").is_err());
    }

    #[test]
    fn only_a_fault_of_the_seed_makes_a_pause_true() {
        let mut injected = Injected::default();
        injected
            .0
            .entry(Some(7))
            .or_default()
            .insert(FaultKind::ExpireSession);
        injected
            .0
            .entry(None)
            .or_default()
            .insert(FaultKind::FaceCheck);
        let paused = |reason: &str| serde_json::json!({"state": "paused", "pause_reason": reason});
        let wrong = |v: &Value, sim: u64, auto: bool, placed: &[u64]| {
            account_wrong("a", v, sim, auto, false, placed, &injected)
        };
        assert_eq!(wrong(&paused("session_expired"), 7, false, &[]), None);
        assert!(wrong(&paused("session_expired"), 8, false, &[]).is_some());
        assert_eq!(wrong(&paused("face_check"), 8, false, &[]), None);
        // An expired session loses the stream too: the operator resumes unless told not to.
        assert_eq!(wrong(&paused("stream_lost"), 7, false, &[]), None);
        assert!(wrong(&paused("stream_lost"), 7, true, &[]).is_some());
        assert!(wrong(&paused("stream_lost"), 8, false, &[]).is_some());
        // A reason that passes by itself must have passed once the faults ended.
        assert!(wrong(&paused("rate_limited"), 7, false, &[]).is_some());
        let trading = serde_json::json!({"state": "trading"});
        assert_eq!(wrong(&trading, 7, false, &[7]), None);
        assert!(wrong(&trading, 7, false, &[8]).is_some());
        let failed = serde_json::json!({"state": "failed", "failure": "boom"});
        assert!(wrong(&failed, 7, false, &[7]).is_some());
        // Once the soak logged the account in again, its session is no reason to wait.
        let relogged = |v: &Value| account_wrong("a", v, 7, false, true, &[7], &injected);
        assert!(relogged(&paused("session_expired")).is_some());
        assert!(relogged(&paused("stream_lost")).is_some());
        assert_eq!(relogged(&paused("face_check")), None);
        assert_eq!(relogged(&trading), None);
    }
}
