//! `alpha-oto bench --instances N`: N daemons on one PostgreSQL database share the accounts
//! out (`domain::shares`). The run samples who holds what every second, SIGKILLs one instance
//! (`--kill-at`), then starts it again with one more (`--join-at`), and reports how the shares
//! looked and how long each move took; then the usual checks: no violation (two live pairs of
//! one account would be one), the store against the ledger, and no order cancelled (a
//! hand-over happens between pairs, never by cutting one short).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::json;

use super::harness::{
    SimAdmin, check_ledger, create_accounts, error_lines, stop_accounts, wait_healthy,
};
use super::procs::{self, DaemonSetup, Proc, Sim, SimArgs, WorkDir};
use super::{BenchOptions, Findings, round2};
use crate::control::Client;
use crate::market::OrderStatus;

/// The shares at one moment: accounts held by each instance.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sample {
    pub at_s: f64,
    pub held: BTreeMap<String, usize>,
}

/// The report of a run of several instances; its JSON keys are published like the bench's.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InstancesReport {
    pub accounts: usize,
    pub instances: usize,
    pub cycles: u64,
    /// The shares just before the kill (or at the end, without one).
    pub before_kill: Sample,
    /// After the kill: the first sample in which each survivor held its fair share within
    /// 5 %, and how long after the kill.
    pub after_kill: Option<Sample>,
    pub after_kill_s: Option<f64>,
    /// After the join: the same, with the tolerance of 5 % of the new share.
    pub after_join: Option<Sample>,
    pub after_join_s: Option<f64>,
    pub errors: u64,
    pub violations: u64,
    /// Orders the exchange saw cancelled before the stop at the end: a hand-over that cut a
    /// pair short would show here.
    pub cancelled_orders: u64,
    pub samples: Vec<Sample>,
}

struct Instance {
    name: String,
    dir: std::path::PathBuf,
    setup: DaemonSetup,
    proc: Option<Proc>,
}

fn start(
    dir: &Path,
    name: &str,
    sim: &Sim,
    opts: &BenchOptions,
    key: Option<&Path>,
) -> anyhow::Result<Instance> {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir)?;
    let setup = procs::instance_setup(
        &dir,
        sim,
        opts.database_url.as_deref(),
        &opts.log_level,
        None,
        opts.cross_account_guard,
        (name, key, opts.lease_ttl_s),
    )?;
    let proc = procs::spawn_daemon(&dir, &setup)?;
    Ok(Instance {
        name: name.to_owned(),
        dir,
        setup,
        proc: Some(proc),
    })
}

/// Whether every instance in `live` holds `accounts / live` within `tolerance` (a share of
/// it, at least one account: shares are whole accounts).
fn balanced(sample: &Sample, live: &[String], accounts: usize, tolerance: f64) -> bool {
    let fair = accounts as f64 / live.len().max(1) as f64;
    live.iter().all(|n| {
        let held = sample.held.get(n).copied().unwrap_or(0) as f64;
        (held - fair).abs() <= (fair * tolerance).max(1.0)
    }) && sample.held.keys().all(|n| live.contains(n))
        && sample.held.values().sum::<usize>() == accounts
}

pub async fn run(opts: &BenchOptions) -> anyhow::Result<(InstancesReport, Findings)> {
    let n = opts.instances;
    if !opts
        .database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"))
    {
        bail!(
            "--instances needs --database-url postgres://... (instances share one PostgreSQL database)"
        );
    }
    if opts
        .kill_at
        .is_some_and(|k| opts.join_at.is_some_and(|j| j <= k))
    {
        bail!("--join-at must come after --kill-at");
    }
    let dir = WorkDir::new("bench-instances", opts.keep)?;
    if opts.keep {
        eprintln!("work directory: {}", dir.path.display());
    }
    let mut sim = procs::spawn_sim(
        &dir.path,
        &SimArgs {
            seed: opts.seed,
            accounts: opts.accounts,
            hold_ms: opts.hold_ms,
            trade_interval_ms: 1000,
            matching: opts.matching,
        },
    )?;
    let admin = SimAdmin::new(&sim);
    let mut instances: Vec<Instance> = Vec::new();
    let first = start(&dir.path, "bench-1", &sim, opts, None)?;
    let key = first.setup.key_file.clone();
    instances.push(first);
    for i in 2..=n {
        instances.push(start(
            &dir.path,
            &format!("bench-{i}"),
            &sim,
            opts,
            Some(&key),
        )?);
    }
    for inst in &mut instances {
        let api = Client::new(&inst.setup.api, Some(inst.setup.token.clone()));
        let proc = inst.proc.as_mut().context("an instance did not start")?;
        wait_healthy(&api, proc).await?;
    }
    let api = Client::new(
        &instances[0].setup.api,
        Some(instances[0].setup.token.clone()),
    );
    eprintln!(
        "{n} instances up; creating and starting {} account(s)",
        opts.accounts
    );
    create_accounts(&api, &sim, |_| json!({})).await?;
    admin.post("DELETE", "/sim/reactions").await?;
    let store = crate::store::Store::open(
        &crate::config::database::DatabaseUrl::parse(&instances[0].setup.database_url)?,
        &crate::config::database::StoreOptions {
            pool_size: 2,
            ..crate::config::database::StoreOptions::default()
        },
    )?;
    let sample = |at: Instant| -> anyhow::Result<Sample> {
        let mut held = BTreeMap::new();
        for h in store.blocking(crate::store::instances::holders)? {
            if let Some(o) = h.holder {
                *held.entry(o).or_insert(0) += 1;
            }
        }
        Ok(Sample {
            at_s: round2(at.elapsed().as_secs_f64()),
            held,
        })
    };
    let window = Instant::now();
    let (mut samples, mut before_kill) = (Vec::new(), None);
    let (mut after_kill, mut after_join) = (None::<(Sample, f64)>, None::<(Sample, f64)>);
    let (mut killed_at, mut joined_at) = (None::<Instant>, None::<Instant>);
    let mut killed: Option<usize> = None;
    while window.elapsed() < Duration::from_secs(opts.seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = sample(window)?;
        let t = window.elapsed().as_secs();
        let live: Vec<String> = instances
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != killed || joined_at.is_some())
            .map(|(_, x)| x.name.clone())
            .collect();
        // The first balanced sample after the kill (before the join), then after the join.
        let (since, slot, what) = match joined_at {
            None => (killed_at, &mut after_kill, "kill"),
            Some(_) => (joined_at, &mut after_join, "join"),
        };
        if let Some(at) = since
            && slot.is_none()
            && balanced(&s, &live, opts.accounts, 0.05)
        {
            let secs = at.elapsed().as_secs_f64();
            eprintln!("after the {what}, balanced in {secs:.1} s: {:?}", s.held);
            *slot = Some((s.clone(), round2(secs)));
        }
        if opts.kill_at.is_some_and(|k| t >= k) && killed.is_none() && n > 1 {
            before_kill = Some(s.clone());
            let victim = 1;
            if let Some(mut p) = instances[victim].proc.take() {
                p.kill();
            }
            eprintln!(
                "{}: killed (SIGKILL) at {t} s; shares were {:?}",
                instances[victim].name, s.held
            );
            killed = Some(victim);
            killed_at = Some(Instant::now());
        }
        if let (Some(j), Some(v)) = (opts.join_at, killed)
            && t >= j
            && joined_at.is_none()
        {
            // The killed instance comes back (as systemd would start it) and one more joins.
            let again = procs::spawn_daemon(&instances[v].dir, &instances[v].setup)?;
            instances[v].proc = Some(again);
            let name = format!("bench-{}", instances.len() + 1);
            instances.push(start(&dir.path, &name, &sim, opts, Some(&key))?);
            eprintln!(
                "{} started again and {name} joined at {t} s",
                instances[v].name
            );
            joined_at = Some(Instant::now());
        }
        samples.push(s);
    }
    let reactions = admin.reactions().await?;
    let before_kill = match before_kill {
        Some(s) => s,
        None => sample(window)?,
    };
    // Cancelled during the run (the kill, the join, the hand-overs); what the stop at the end
    // cancels is the stop's.
    let during: crate::sim::ledger::Ledger = admin.get("/sim/ledger/snapshot").await?;
    let cancelled_orders = during
        .orders
        .iter()
        .filter(|o| o.status == OrderStatus::Canceled)
        .count() as u64;
    let mut findings = Findings::default();
    if let Err(e) = stop_accounts(&api, opts.accounts, None).await {
        findings.lines.push(format!("stopping the accounts: {e:#}"));
    }
    let mut errors = 0;
    for inst in &mut instances {
        if let Some(p) = inst.proc.as_mut()
            && !p.terminate(Duration::from_secs(60))
        {
            errors += 1;
            findings
                .lines
                .push(format!("{} did not stop cleanly on SIGTERM", inst.name));
        }
        let logged = error_lines(&inst.setup.log_file)?;
        errors += logged.len() as u64;
        findings.lines.extend(logged.into_iter().take(10));
    }
    let ledger: crate::sim::ledger::Ledger = admin.get("/sim/ledger/snapshot").await?;
    sim.proc.terminate(Duration::from_secs(10));
    let violations = check_ledger(&instances[0].setup, &sim, ledger, &mut findings).await?;
    if opts.kill_at.is_some() && after_kill.is_none() {
        findings
            .lines
            .push("the survivors never held fair shares after the kill".into());
    }
    if opts.join_at.is_some() && after_join.is_none() {
        findings
            .lines
            .push("the shares never balanced after the join".into());
    }
    Ok((
        InstancesReport {
            accounts: opts.accounts,
            instances: n,
            cycles: reactions.pairs_completed,
            before_kill,
            after_kill_s: after_kill.as_ref().map(|a| a.1),
            after_kill: after_kill.map(|a| a.0),
            after_join_s: after_join.as_ref().map(|a| a.1),
            after_join: after_join.map(|a| a.0),
            errors,
            violations,
            cancelled_orders,
            samples,
        },
        findings,
    ))
}

/// The report as a table for people.
pub fn table(r: &InstancesReport, findings: &Findings) -> String {
    let mut out = String::new();
    let row = |out: &mut String, k: &str, v: String| out.push_str(&format!("{k:<22} {v}\n"));
    row(&mut out, "accounts", r.accounts.to_string());
    row(&mut out, "instances", r.instances.to_string());
    row(&mut out, "cycles", r.cycles.to_string());
    row(
        &mut out,
        "shares before kill",
        format!("{:?}", r.before_kill.held),
    );
    if let (Some(s), Some(t)) = (&r.after_kill, r.after_kill_s) {
        row(&mut out, "after kill", format!("{:?} in {t} s", s.held));
    }
    if let (Some(s), Some(t)) = (&r.after_join, r.after_join_s) {
        row(&mut out, "after join", format!("{:?} in {t} s", s.held));
    }
    row(&mut out, "errors", r.errors.to_string());
    row(&mut out, "violations", r.violations.to_string());
    row(&mut out, "cancelled orders", r.cancelled_orders.to_string());
    for l in &findings.lines {
        out.push_str(&format!("  ! {l}\n"));
    }
    out
}
