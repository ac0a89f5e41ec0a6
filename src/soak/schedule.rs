//! A seed's fault schedule: a pure function of the seed, so a failing seed replays the same
//! faults at the same moments (the processes' own timing is the only thing that varies).

use std::fmt;

use crate::sim::faults::{FaultKind, FaultSpec};
use crate::sim::rng::Rng;

/// Every fault the simulator can inject.
pub const SIM_FAULTS: [FaultKind; 14] = [
    FaultKind::DropWs,
    FaultKind::StallWs,
    FaultKind::Http429,
    FaultKind::Http5xx,
    FaultKind::Slow,
    FaultKind::AmbiguousPlace,
    FaultKind::DupEvents,
    FaultKind::ReorderEvents,
    FaultKind::LoseEvents,
    FaultKind::ExpireSession,
    FaultKind::ExpireListenKey,
    FaultKind::TwoFactor,
    FaultKind::FaceCheck,
    FaultKind::NoPrecision,
];

/// One thing that goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// A simulator fault (its own duration and target are in the spec).
    Sim(FaultSpec),
    /// SIGKILL the daemon, wait `down_ms`, start it again.
    KillDaemon { down_ms: u64 },
    /// Cut every connection to PostgreSQL and refuse new ones for `for_ms`.
    CutDatabase { for_ms: u64 },
    /// Cut every connection to Redis and refuse new ones for `for_ms`.
    CutRedis { for_ms: u64 },
}

impl FaultAction {
    /// The short name the per-seed line prints.
    pub fn name(&self) -> String {
        match self {
            FaultAction::Sim(spec) => serde_json::to_value(spec.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            FaultAction::KillDaemon { .. } => "daemon_kill".into(),
            FaultAction::CutDatabase { .. } => "database_loss".into(),
            FaultAction::CutRedis { .. } => "redis_loss".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaultStep {
    /// Milliseconds from the start of the fault window.
    pub at_ms: u64,
    pub action: FaultAction,
}

impl fmt::Display for FaultStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at_ms as f64 / 1000.0;
        match &self.action {
            FaultAction::Sim(s) => {
                let target = s
                    .account
                    .map_or_else(|| "all".to_owned(), |a| format!("account {a}"));
                let only = s
                    .path
                    .as_deref()
                    .map_or_else(String::new, |p| format!(" on {p}"));
                write!(
                    f,
                    "{at:.1}s {} rate {} for {}s ({target}){only}",
                    self.action.name(),
                    s.rate,
                    s.for_s.unwrap_or_default()
                )
            }
            FaultAction::KillDaemon { down_ms } => {
                write!(f, "{at:.1}s daemon_kill down {down_ms}ms")
            }
            FaultAction::CutDatabase { for_ms } | FaultAction::CutRedis { for_ms } => {
                write!(f, "{at:.1}s {} for {for_ms}ms", self.action.name())
            }
        }
    }
}

/// What the run can break besides the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// The daemon's PostgreSQL goes through a proxy the soak can cut.
    pub database: bool,
    /// The daemon's Redis goes through a proxy the soak can cut.
    pub redis: bool,
}

/// The chance per request or frame each fault strikes with, low to high: some faults are
/// per frame (hundreds a second), others per place request (a few a second).
fn rate_range(kind: FaultKind) -> (f64, f64) {
    match kind {
        FaultKind::DropWs
        | FaultKind::DupEvents
        | FaultKind::ReorderEvents
        | FaultKind::LoseEvents => (0.02, 0.3),
        FaultKind::ExpireSession | FaultKind::ExpireListenKey => (0.01, 0.1),
        FaultKind::StallWs | FaultKind::NoPrecision => (1.0, 1.0),
        _ => (0.05, 0.5),
    }
}

/// The endpoints an HTTP fault may be limited to: a failure of one kind of request while the
/// others work (the trade list failing while orders are readable found a doubled fill).
pub const PATHS: [&str; 5] = [
    "get-user-trades",
    "get-order-history",
    "get-open-order",
    "order/place",
    "cancel",
];

/// Whether the fault is one of an HTTP request (so it can be limited to one endpoint).
fn per_request(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::Http429 | FaultKind::Http5xx | FaultKind::Slow
    )
}

fn pick_rate(rng: &mut Rng, kind: FaultKind) -> f64 {
    let (lo, hi) = rate_range(kind);
    let step = rng.below(1001) as f64 / 1000.0;
    ((lo + (hi - lo) * step) * 1000.0).round() / 1000.0
}

/// The schedule of one seed: 3 to 8 faults at random moments of a `seconds`-long window, each
/// over at most the window's last 5 seconds, aimed at one account (`accounts` are simulator
/// ids) or at all of them.
pub fn schedule(seed: u64, seconds: u64, accounts: &[u64], reach: Reach) -> Vec<FaultStep> {
    let mut rng = Rng::new(seed.wrapping_mul(0x5EED) ^ 0x50A4);
    let mut kinds: Vec<Option<FaultKind>> = SIM_FAULTS.iter().copied().map(Some).collect();
    // None stands for the faults outside the simulator (a daemon kill, a database or Redis
    // loss): together drawn three times as often as any one simulator fault.
    kinds.extend([None, None, None]);
    let window_ms = seconds.max(6) * 1000;
    let latest = window_ms - 5000;
    let count = 3 + rng.below(6);
    let mut steps: Vec<FaultStep> = (0..count)
        .map(|_| {
            let at_ms = 500 + rng.below(latest.saturating_sub(500).max(1));
            let kind = kinds[rng.below(kinds.len() as u64) as usize];
            let action = match kind {
                Some(kind) => {
                    let account = if accounts.is_empty() || rng.chance(0.5) {
                        None
                    } else {
                        Some(accounts[rng.below(accounts.len() as u64) as usize])
                    };
                    let rate = pick_rate(&mut rng, kind);
                    let for_s = Some(1 + rng.below(5));
                    let path = (per_request(kind) && rng.chance(0.4))
                        .then(|| PATHS[rng.below(PATHS.len() as u64) as usize].to_owned());
                    FaultAction::Sim(FaultSpec {
                        kind,
                        rate,
                        for_s,
                        account,
                        order: None,
                        path,
                    })
                }
                None => {
                    let mut outside = vec![0u8];
                    if reach.database {
                        outside.push(1);
                    }
                    if reach.redis {
                        outside.push(2);
                    }
                    let millis = 300 + rng.below(4_000);
                    match outside[rng.below(outside.len() as u64) as usize] {
                        1 => FaultAction::CutDatabase { for_ms: millis },
                        2 => FaultAction::CutRedis { for_ms: millis },
                        _ => FaultAction::KillDaemon {
                            down_ms: millis / 4,
                        },
                    }
                }
            };
            FaultStep { at_ms, action }
        })
        .collect();
    steps.sort_by_key(|s| s.at_ms);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Reach = Reach {
        database: true,
        redis: true,
    };

    #[test]
    fn a_seed_replays_the_same_schedule_and_another_seed_differs() {
        let accounts = [11, 12, 13];
        assert_eq!(
            schedule(17, 20, &accounts, ALL),
            schedule(17, 20, &accounts, ALL)
        );
        assert_ne!(
            schedule(17, 20, &accounts, ALL),
            schedule(18, 20, &accounts, ALL)
        );
    }

    #[test]
    fn steps_are_ordered_inside_the_window_and_aimed_at_known_accounts() {
        let accounts = [5, 6];
        for seed in 0..500 {
            let steps = schedule(seed, 20, &accounts, ALL);
            assert!((3..=8).contains(&steps.len()), "seed {seed}: {steps:?}");
            assert!(steps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            for s in &steps {
                assert!(s.at_ms >= 500 && s.at_ms < 15_000, "seed {seed}: {s}");
                if let FaultAction::Sim(spec) = &s.action {
                    assert!(spec.validate().is_ok(), "seed {seed}: {s}");
                    assert!(spec.account.is_none_or(|a| accounts.contains(&a)));
                    assert!(spec.for_s.is_some_and(|d| (1..=5).contains(&d)));
                }
            }
        }
    }

    #[test]
    fn two_hundred_seeds_reach_every_fault_kind_and_only_what_is_reachable() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 1..=200 {
            for s in schedule(seed, 20, &[1, 2, 3], ALL) {
                seen.insert(s.action.name());
            }
        }
        for kind in SIM_FAULTS {
            let name = FaultAction::Sim(FaultSpec {
                kind,
                rate: 1.0,
                for_s: None,
                account: None,
                order: None,
                path: None,
            })
            .name();
            assert!(seen.contains(&name), "{name} never drawn: {seen:?}");
        }
        for name in ["daemon_kill", "database_loss", "redis_loss"] {
            assert!(seen.contains(name), "{name} never drawn: {seen:?}");
        }
        // Every endpoint an HTTP fault can be limited to is drawn, and only for HTTP faults.
        let mut paths = std::collections::BTreeSet::new();
        for seed in 1..=200 {
            for s in schedule(seed, 20, &[1, 2, 3], ALL) {
                if let FaultAction::Sim(spec) = &s.action
                    && let Some(p) = &spec.path
                {
                    assert!(per_request(spec.kind), "seed {seed}: {s}");
                    paths.insert(p.clone());
                }
            }
        }
        assert_eq!(paths.len(), PATHS.len(), "{paths:?}");
        let none = Reach {
            database: false,
            redis: false,
        };
        for seed in 1..=200 {
            for s in schedule(seed, 20, &[1], none) {
                assert!(
                    !matches!(
                        s.action,
                        FaultAction::CutDatabase { .. } | FaultAction::CutRedis { .. }
                    ),
                    "seed {seed}: {s}"
                );
            }
        }
    }
}
