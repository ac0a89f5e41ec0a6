//! `alpha-oto bench`: the daemon at scale, measured from outside. The simulator and the daemon
//! run as separate processes on loopback; the benchmark creates funded accounts in both through
//! their public surfaces, lets them trade, then stops everything and checks the store against
//! the simulator's ledger. Reaction is timed by the simulator (see `sim::state::Reactions`), and
//! the same timing of a minimal reactor gives the floor to compare it with.

pub mod floor;
pub mod harness;
pub mod instances;
pub mod procs;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::control::Client;
use crate::domain::shown::AccountState;
use crate::sim::engine::Matching;
use harness::{
    SimAdmin, account_name, check_ledger, create_accounts, error_lines, now_ms, stop_accounts,
    wait_healthy,
};
use procs::{SimArgs, WorkDir};

/// The tokens accounts trade, in turn.
pub const TOKENS: [&str; 3] = ["KOGE", "NEX", "LIGHT"];
/// USDT per pair.
pub const ORDER_USDT: u32 = 10;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub accounts: usize,
    pub seconds: u64,
    pub database_url: Option<String>,
    /// SIGKILL the daemon this many seconds into the run and start it again.
    pub restart_at: Option<u64>,
    /// How long the simulator holds each pending leg before it fills (ms).
    pub hold_ms: u64,
    pub seed: u64,
    pub log_level: String,
    /// Seconds of the floor measurement (0: skip it).
    pub floor_seconds: u64,
    pub keep: bool,
    /// The daemon's `cross_account_guard` (off only to measure what it costs).
    pub cross_account_guard: bool,
    /// How the simulator matches orders.
    pub matching: Matching,
    /// Daemons on one PostgreSQL database (`instances`); 1 is the plain run.
    pub instances: usize,
    /// With several instances: SIGKILL one this many seconds into the run.
    pub kill_at: Option<u64>,
    /// With several instances: start the killed one again and one more.
    pub join_at: Option<u64>,
    /// The daemons' `[daemon] lease_ttl_s` (None: the default, 30 s).
    pub lease_ttl_s: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Floor {
    pub p50: f64,
    pub p99: f64,
}

/// The report; its JSON keys are the benchmark's published interface.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub accounts: usize,
    pub accounts_trading: usize,
    pub cycles: u64,
    pub cycles_per_s: f64,
    pub reaction_ms: Percentiles,
    pub floor_reaction_ms: Floor,
    pub daemon_cpu_s: f64,
    /// The daemon's CPU over the trading window (set-up excluded), in percent of one core.
    pub window_cpu_pct: f64,
    /// The daemon's CPU, in percent of one core, in a window in which no pair completed (every
    /// account waiting on a live pair: `--hold-ms` longer than the run), from the moment every
    /// account had its pair live: what nothing to do costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_cpu_pct: Option<f64>,
    /// The daemon's CPU over the window per completed pair, in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon_cpu_us_per_cycle: Option<f64>,
    /// The minimal reactor's CPU per pair, measured the same way (its own process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_cpu_us_per_cycle: Option<f64>,
    pub daemon_rss_mb: f64,
    pub rss_per_account_kb: f64,
    pub errors: u64,
    pub violations: u64,
    /// Trades between two of the daemon's accounts (counted among the violations too).
    pub cross_account_matches: u64,
    /// Alpha Points the accounts earned today, summed.
    pub points: u64,
    /// The fleet's fees and spread loss per point, USDT: over the accounts that show a cost
    /// per point, their cost summed over their points summed; absent before any.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub cost_per_point_usdt: Option<rust_decimal::Decimal>,
    /// The API's latency during the window: a list and a pause or resume once a second each
    /// (none in a run held idle).
    pub api_ms: ApiLatency,
    /// The fewest cycles of an account over the median account's (the probe's account left
    /// out): 1 when every account went at the same pace; absent before any cycle.
    pub fairness: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_s: Option<f64>,
    /// After a restart, until every account had sent a new pair (the table shows it; not a
    /// key of the JSON).
    #[serde(skip)]
    pub first_pairs_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct ApiLatency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// Requests timed (failed ones count at their time to fail).
    pub requests: usize,
}

/// Until `until`: once a second, the account list and a pause or resume of the first account,
/// each timed; their latency percentiles, and every call that failed (an error of the run: a
/// pause or resume lost would leave the account in the wrong state).
async fn operator_probe(api: &Client, until: Instant) -> (ApiLatency, Vec<String>) {
    let mut ms: Vec<f64> = Vec::new();
    let mut failed = Vec::new();
    let mut note = |what: &str, r: Result<Value, crate::control::ControlError>| {
        if let Err(e) = r {
            failed.push(format!("the operator probe's {what} failed: {e}"));
        }
    };
    let first = harness::account_name(0);
    let mut pause = true;
    while Instant::now() + Duration::from_secs(1) <= until {
        let next = Instant::now() + Duration::from_secs(1);
        let t = Instant::now();
        let r = api.call("GET", "/api/v1/accounts?limit=100", None).await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        note("list", r);
        let action = if pause { "pause" } else { "resume" };
        pause = !pause;
        let t = Instant::now();
        let r = api
            .call("POST", &format!("/api/v1/accounts/{first}/{action}"), None)
            .await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        note(action, r);
        tokio::time::sleep_until(next.into()).await;
    }
    if !pause {
        let r = api
            .call("POST", &format!("/api/v1/accounts/{first}/resume"), None)
            .await;
        note("last resume", r);
        // Under overload the task takes the resume a few seconds later: the account is not
        // counted paused at the end for the probe's own last pause.
        let give_up = Instant::now() + Duration::from_secs(30);
        while Instant::now() < give_up {
            let shown = api
                .call("GET", &format!("/api/v1/accounts/{first}"), None)
                .await;
            if shown.is_ok_and(|v| v["state"].as_str() != Some("paused")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep_until(until.into()).await;
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        ms.get(((ms.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .map(round2)
            .unwrap_or_default()
    };
    let latency = ApiLatency {
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
        requests: ms.len(),
    };
    (latency, failed)
}

/// What went wrong, for the human reading the report (not part of the JSON).
#[derive(Debug, Default)]
pub struct Findings {
    pub lines: Vec<String>,
}

/// Runs the benchmark; the report, and what the run found wrong.
pub async fn run(opts: &BenchOptions) -> anyhow::Result<(Report, Findings)> {
    if opts.accounts == 0 || opts.seconds == 0 {
        bail!("--accounts and --seconds must be at least 1");
    }
    if opts.restart_at.is_some_and(|t| t >= opts.seconds) {
        bail!("--restart-at must be within --seconds");
    }
    let dir = WorkDir::new("bench", opts.keep)?;
    if opts.keep {
        eprintln!("work directory: {}", dir.path.display());
    }
    let sim_args = SimArgs {
        seed: opts.seed,
        accounts: opts.accounts,
        hold_ms: opts.hold_ms,
        trade_interval_ms: 1000,
        matching: opts.matching,
    };
    let (floor, floor_cpu_us_per_cycle) = if opts.floor_seconds > 0 {
        eprintln!(
            "floor: {} account(s), minimal reactor, {} s",
            opts.accounts, opts.floor_seconds
        );
        let mut sim = procs::spawn_sim(&dir.path, &sim_args)?;
        let admin = SimAdmin::new(&sim);
        let (base, ws, file) = (
            sim.base_url.clone(),
            sim.ws_url("/w3w/stream"),
            sim.accounts_file.clone(),
        );
        let seconds = opts.floor_seconds;
        let floor_run =
            tokio::task::spawn_blocking(move || procs::run_floor_at(&base, &ws, &file, seconds))
                .await??;
        if floor_run.failed > 0 {
            eprintln!(
                "floor: {} request(s) of the minimal reactor failed",
                floor_run.failed
            );
        }
        let r = admin.reactions().await?;
        sim.proc.terminate(Duration::from_secs(10));
        let per_cycle = (r.pairs_completed > 0)
            .then(|| round2(floor_run.cpu_s * 1e6 / r.pairs_completed as f64));
        (
            Floor {
                p50: r.p50,
                p99: r.p99,
            },
            per_cycle,
        )
    } else {
        (Floor { p50: 0.0, p99: 0.0 }, None)
    };

    let mut sim = procs::spawn_sim(&dir.path, &sim_args)?;
    let admin = SimAdmin::new(&sim);
    let setup = procs::daemon_setup(
        &dir.path,
        &sim,
        opts.database_url.as_deref(),
        &opts.log_level,
        None,
        opts.cross_account_guard,
    )?;
    let mut daemon = procs::spawn_daemon(&dir.path, &setup)?;
    let api = Client::new(&setup.api, Some(setup.token.clone()));
    wait_healthy(&api, &mut daemon).await?;

    eprintln!("daemon: creating and starting {} account(s)", opts.accounts);
    let created = Instant::now();
    // A pair's sell waits out its hold (up to 1.5 holds): it is not cancelled before.
    let hold_s = opts.hold_ms.saturating_mul(3) / 2 / 1000;
    let pending_timeout_s = (hold_s + 60).clamp(120, 86_400);
    create_accounts(
        &api,
        &sim,
        |_| json!({"pending_timeout_s": pending_timeout_s}),
    )
    .await?;
    eprintln!(
        "daemon: {} account(s) set up in {:.1} s; trading for {} s",
        opts.accounts,
        created.elapsed().as_secs_f64(),
        opts.seconds
    );
    admin.post("DELETE", "/sim/reactions").await?;
    // Cycles each account made during the set-up (the first ones created trade while the last
    // are created): subtracted, so `fairness` compares the window's cycles only.
    let before = cycles_by_name(&api).await?;
    let window = Instant::now();
    let cpu_at_start = daemon.usage().cpu_s;
    let mut cpu_before_restart = 0.0;
    let mut peak_rss_kb = 0;
    let mut recovery_s = None;
    let mut first_pairs_s = None;
    if let Some(at) = opts.restart_at {
        tokio::time::sleep(Duration::from_secs(at)).await;
        let usage = daemon.usage();
        cpu_before_restart = usage.cpu_s;
        peak_rss_kb = usage.peak_rss_kb;
        daemon.kill();
        eprintln!("daemon: killed (SIGKILL) at {at} s; starting it again");
        admin.post("POST", "/sim/reactions/forget-pending").await?;
        let restarted = Instant::now();
        let restarted_ms = now_ms();
        daemon = procs::spawn_daemon(&dir.path, &setup)?;
        let deadline = window + Duration::from_secs(opts.seconds);
        // Trading again: reconciled from the exchange, stream up, the cycle running. A pair
        // left live at the kill is adopted and followed, so its account sends its next pair
        // only when the pair completes (up to 1.5 holds later): that moment, when every
        // account has sent one, is shown too, but it measures the market's hold as well.
        let (mut trading, mut placing) = (None, None);
        while trading.is_none() || placing.is_none() {
            if trading.is_none() && all_trading_again(&api, opts.accounts).await {
                let s = restarted.elapsed().as_secs_f64();
                eprintln!("daemon: every account reconciled and trading again after {s:.2} s");
                trading = Some(s);
            }
            if placing.is_none() && admin.placing_since(restarted_ms).await? >= opts.accounts {
                let s = restarted.elapsed().as_secs_f64();
                eprintln!("daemon: every account has sent a new pair after {s:.2} s");
                placing = Some(s);
            }
            if Instant::now() >= deadline || daemon.exited() {
                let n = admin.placing_since(restarted_ms).await?;
                eprintln!(
                    "daemon: {n} of {} account(s) sent a new pair",
                    opts.accounts
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        recovery_s = trading;
        first_pairs_s = placing;
    }
    // The operator's view during the run: a list and a pause (or resume) of the first
    // account, once a second each, timed from here.
    // Not in a run held idle (holds longer than the run): there nothing at all should happen.
    let until = window + Duration::from_secs(opts.seconds);
    let held_idle = opts.hold_ms / 2 >= opts.seconds.saturating_mul(1000);
    // Held idle: measured from the moment every account has its pair live (the start-up's
    // reads and first pairs are not what idle costs).
    let mut idle_from = None;
    let (api_ms, probe_failed) = if held_idle {
        let started_ms = now_ms() - window.elapsed().as_millis() as i64 - 60_000;
        while Instant::now() < until {
            if admin.placing_since(started_ms).await? >= opts.accounts {
                idle_from = Some((Instant::now(), daemon.usage().cpu_s));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep_until(until.into()).await;
        (ApiLatency::default(), Vec::new())
    } else {
        operator_probe(&api, until).await
    };
    let elapsed = window.elapsed().as_secs_f64();

    let reactions = admin.reactions().await?;
    let views: Vec<Value> = match api.call("GET", "/api/v1/accounts", None).await? {
        Value::Array(v) => v,
        _ => bail!("the account list is not an array"),
    };
    let usage = daemon.usage();
    let idle_pct = idle_from.and_then(|(from, cpu)| {
        let secs = from.elapsed().as_secs_f64();
        (secs > 1.0).then(|| round2((usage.cpu_s - cpu) / secs * 100.0))
    });
    let daemon_cpu_s = cpu_before_restart + usage.cpu_s;
    // The window's own CPU (without the set-up), in percent of one core.
    let window_cpu_pct = if opts.restart_at.is_none() {
        round2((usage.cpu_s - cpu_at_start) / elapsed * 100.0)
    } else {
        round2((daemon_cpu_s - cpu_at_start) / elapsed * 100.0)
    };
    let peak_rss_kb = peak_rss_kb.max(usage.peak_rss_kb);
    let mut findings = Findings::default();
    // Held sells fill once the stops are sent: the accounts stop at rest without waiting
    // out a long hold.
    if let Err(e) = stop_accounts(&api, opts.accounts, Some(&admin)).await {
        findings.lines.push(format!("stopping the accounts: {e:#}"));
    }
    let stopped = daemon.terminate(Duration::from_secs(60));
    if !stopped {
        findings
            .lines
            .push("the daemon did not stop cleanly on SIGTERM".into());
    }

    let accounts_trading = views
        .iter()
        .filter(|v| v["stream_up"] == json!(true))
        .filter(|v| v["progress"]["cycles_done"].as_u64().unwrap_or_default() >= 1)
        .count();
    let mut errors = u64::from(!stopped) + probe_failed.len() as u64;
    findings.lines.extend(probe_failed);
    for v in &views {
        let state = v["state"].as_str().unwrap_or_default();
        if state == "failed" || state == "paused" {
            errors += 1;
            findings.lines.push(format!(
                "{}: {state} ({})",
                v["name"].as_str().unwrap_or_default(),
                v["failure"]
                    .as_str()
                    .or(v["pause_reason"].as_str())
                    .unwrap_or("no reason")
            ));
        }
    }
    let logged = error_lines(&setup.log_file)?;
    errors += logged.len() as u64;
    findings.lines.extend(logged.into_iter().take(20));

    let (points, cost_per_point_usdt) = fleet_points(&views);
    // The first account is the probe's (paused half the time): left out.
    let mut per_account: Vec<u64> = views
        .iter()
        .filter(|v| v["name"].as_str() != Some(account_name(0).as_str()))
        .map(|v| {
            let done = v["progress"]["cycles_done"].as_u64().unwrap_or_default();
            let name = v["name"].as_str().unwrap_or_default();
            done.saturating_sub(before.get(name).copied().unwrap_or_default())
        })
        .collect();
    per_account.sort_unstable();
    let fairness = match (per_account.first(), per_account.get(per_account.len() / 2)) {
        (Some(least), Some(median)) if *median > 0 => Some(round2(*least as f64 / *median as f64)),
        _ => None,
    };
    let ledger: crate::sim::ledger::Ledger = admin.get("/sim/ledger/snapshot").await?;
    let cross_account_matches = ledger
        .violations
        .iter()
        .filter(|v| v.starts_with("cross_account_match "))
        .count() as u64;
    sim.proc.terminate(Duration::from_secs(10));
    let violations = check_ledger(&setup, &sim, ledger, &mut findings).await?;

    let report = Report {
        accounts: opts.accounts,
        accounts_trading,
        cycles: reactions.pairs_completed,
        cycles_per_s: round2(reactions.pairs_completed as f64 / elapsed),
        reaction_ms: Percentiles {
            p50: reactions.p50,
            p90: reactions.p90,
            p99: reactions.p99,
            max: reactions.max,
        },
        floor_reaction_ms: floor,
        daemon_cpu_s: round2(daemon_cpu_s),
        window_cpu_pct,
        idle_cpu_pct: (reactions.pairs_completed == 0)
            .then_some(idle_pct.unwrap_or(window_cpu_pct)),
        floor_cpu_us_per_cycle,
        daemon_cpu_us_per_cycle: (reactions.pairs_completed > 0).then(|| {
            round2((daemon_cpu_s - cpu_at_start) * 1e6 / reactions.pairs_completed as f64)
        }),
        daemon_rss_mb: round2(peak_rss_kb as f64 / 1024.0),
        rss_per_account_kb: round2(peak_rss_kb as f64 / opts.accounts as f64),
        errors,
        violations,
        cross_account_matches,
        points,
        cost_per_point_usdt,
        api_ms,
        fairness,
        recovery_s: recovery_s.map(round2),
        first_pairs_s: first_pairs_s.map(round2),
    };
    Ok((report, findings))
}

/// Points summed over the accounts, and the fleet's cost per point (see `Report`).
/// Each account's `cycles_done` as the API lists it now.
async fn cycles_by_name(api: &Client) -> anyhow::Result<HashMap<String, u64>> {
    let Value::Array(views) = api.call("GET", "/api/v1/accounts", None).await? else {
        bail!("the account list is not an array");
    };
    Ok(views
        .iter()
        .filter_map(|v| {
            Some((
                v["name"].as_str()?.to_owned(),
                v["progress"]["cycles_done"].as_u64().unwrap_or_default(),
            ))
        })
        .collect())
}

fn fleet_points(views: &[Value]) -> (u64, Option<rust_decimal::Decimal>) {
    use rust_decimal::Decimal;
    let (mut points, mut costed_points, mut cost) = (0_u64, 0_u64, Decimal::ZERO);
    for v in views {
        let today = v["points"]["today"].as_u64().unwrap_or_default();
        points += today;
        let per_point = v["points"]["cost_per_point_usdt"]
            .as_str()
            .and_then(|s| s.parse::<Decimal>().ok());
        if let Some(c) = per_point.filter(|_| today > 0) {
            cost += c * Decimal::from(today);
            costed_points += today;
        }
    }
    let per_point = crate::domain::points::cost_per_point(
        cost,
        u32::try_from(costed_points).unwrap_or(u32::MAX),
    );
    (points, per_point)
}

pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Whether the daemon says every account is trading again: reconciled, its stream up, its
/// cycle running (or done for today).
async fn all_trading_again(api: &Client, accounts: usize) -> bool {
    let Ok(Value::Array(list)) = api.call("GET", "/api/v1/accounts", None).await else {
        return false;
    };
    list.len() >= accounts
        && list.iter().all(|a| {
            matches!(
                a["state"].as_str().and_then(|s| s.parse().ok()),
                Some(AccountState::Trading | AccountState::DoneForToday)
            ) && a["stream_up"] == json!(true)
                && !matches!(a["phase"].as_str(), Some("reconciling" | "starting"))
        })
}

/// The report as a table for people.
pub fn table(r: &Report, findings: &Findings) -> String {
    let mut out = String::new();
    let row = |out: &mut String, k: &str, v: String| out.push_str(&format!("{k:<22} {v}\n"));
    row(&mut out, "accounts", r.accounts.to_string());
    row(&mut out, "accounts trading", r.accounts_trading.to_string());
    row(
        &mut out,
        "cycles",
        format!("{} ({} /s)", r.cycles, r.cycles_per_s),
    );
    row(
        &mut out,
        "reaction ms",
        format!(
            "p50 {}  p90 {}  p99 {}  max {}",
            r.reaction_ms.p50, r.reaction_ms.p90, r.reaction_ms.p99, r.reaction_ms.max
        ),
    );
    row(
        &mut out,
        "floor reaction ms",
        format!(
            "p50 {}  p99 {}",
            r.floor_reaction_ms.p50, r.floor_reaction_ms.p99
        ),
    );
    row(&mut out, "daemon cpu s", r.daemon_cpu_s.to_string());
    row(
        &mut out,
        "window cpu % of a core",
        match r.idle_cpu_pct {
            Some(_) => format!("{} (idle: no pair completed)", r.window_cpu_pct),
            None => r.window_cpu_pct.to_string(),
        },
    );
    if let Some(us) = r.daemon_cpu_us_per_cycle {
        let floor = r
            .floor_cpu_us_per_cycle
            .map(|f| format!(" (floor {f} us)"))
            .unwrap_or_default();
        row(&mut out, "daemon cpu per pair", format!("{us} us{floor}"));
    }
    row(
        &mut out,
        "daemon rss MB (peak)",
        format!("{} ({} KB/account)", r.daemon_rss_mb, r.rss_per_account_kb),
    );
    row(
        &mut out,
        "api ms (list, pause)",
        format!(
            "p50 {}  p99 {}  max {}  ({} requests)",
            r.api_ms.p50, r.api_ms.p99, r.api_ms.max, r.api_ms.requests
        ),
    );
    if let Some(f) = r.fairness {
        row(&mut out, "fairness (least/median)", f.to_string());
    }
    if let Some(s) = r.recovery_s {
        row(&mut out, "recovery s", s.to_string());
    }
    if let Some(s) = r.first_pairs_s {
        row(&mut out, "new pair from all s", s.to_string());
    }
    row(&mut out, "errors", r.errors.to_string());
    row(&mut out, "violations", r.violations.to_string());
    row(
        &mut out,
        "cross-account matches",
        r.cross_account_matches.to_string(),
    );
    let per_point = r.cost_per_point_usdt.map_or_else(
        || "none yet".to_owned(),
        |c| format!("{} USDT", c.round_dp(4)),
    );
    row(
        &mut out,
        "points, cost per point",
        format!("{} ({per_point})", r.points),
    );
    for l in &findings.lines {
        out.push_str(&format!("  ! {l}\n"));
    }
    out
}

/// Where `--json` writes.
pub fn write_json(path: &PathBuf, r: &Report) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(r)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}
