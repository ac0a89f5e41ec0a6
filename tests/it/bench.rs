//! `alpha-oto bench` in its small form: real processes, real sockets, a SIGKILL in the middle.
//! It checks that the instrument works and that nothing is lost or duplicated; speed is the
//! benchmark's business, not a test's.

use std::process::Command;

use crate::support::{TestDb, backend};
use alpha_oto::config::database::Backend;

/// The report's keys, exactly: they are the benchmark's published interface.
const KEYS: &[&str] = &[
    "accounts",
    "accounts_trading",
    "api_ms",
    "cost_per_point_usdt",
    "cross_account_matches",
    "cycles",
    "cycles_per_s",
    "daemon_cpu_s",
    "daemon_cpu_us_per_cycle",
    "daemon_rss_mb",
    "errors",
    "fairness",
    "floor_cpu_us_per_cycle",
    "floor_reaction_ms",
    "points",
    "reaction_ms",
    "recovery_s",
    "rss_per_account_kb",
    "violations",
    "window_cpu_pct",
];

fn sorted_keys(v: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// Runs `alpha-oto bench` with `args` (and `--database-url` when given), asserts it succeeded,
/// and answers its JSON report and its printed table.
fn run_bench(args: &[&str], database_url: Option<&str>) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alpha-oto"));
    cmd.env_remove("ALPHA_OTO_CONFIG")
        .env_remove("ALPHA_OTO_MASTER_KEY")
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let out = cmd.output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}\n{err}");
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (report, printed)
}

#[test]
fn bench_small_form_trades_50_accounts_through_a_kill_with_no_violation() {
    // SQLite is the benchmark's default; on the PostgreSQL pass it runs on a fresh database.
    let db = (backend() == Backend::Postgres).then(TestDb::empty);
    let (report, printed) = run_bench(
        &[
            "--accounts",
            "50",
            "--seconds",
            "10",
            "--restart-at",
            "4",
            "--floor-seconds",
            "3",
        ],
        db.as_ref().map(|d| d.url.as_str()),
    );
    assert_eq!(sorted_keys(&report), KEYS, "{report}");
    for (k, inner) in [
        ("reaction_ms", &["max", "p50", "p90", "p99"][..]),
        ("floor_reaction_ms", &["p50", "p99"][..]),
        ("api_ms", &["max", "p50", "p99", "requests"][..]),
    ] {
        assert_eq!(sorted_keys(&report[k]), inner, "{report}");
    }
    assert_eq!(report["violations"], 0, "{printed}");
    assert_eq!(report["cross_account_matches"], 0, "{printed}");
    // Every account earned points (10 USDT bought is 3 of them), and their cost is a figure.
    assert!(report["points"].as_u64().unwrap() >= 150, "{printed}");
    let per_point = report["cost_per_point_usdt"].as_str().unwrap_or_default();
    assert!(
        per_point.parse::<rust_decimal::Decimal>().is_ok(),
        "{printed}"
    );
    assert_eq!(report["errors"], 0, "{printed}");
    assert_eq!(report["accounts"], 50);
    assert_eq!(report["accounts_trading"], 50, "{printed}");
    assert!(report["cycles"].as_u64().unwrap() > 50, "{printed}");
    // Measured, not defaulted: reactions were timed by the simulator on both sides.
    assert!(
        report["reaction_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{printed}"
    );
    assert!(
        report["floor_reaction_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{printed}"
    );
    assert!(report["daemon_rss_mb"].as_f64().unwrap() > 1.0, "{printed}");
    // Every account traded again after the SIGKILL, within the run.
    let recovery = report["recovery_s"].as_f64().unwrap();
    assert!(recovery > 0.0 && recovery < 6.0, "{printed}");
}

/// With holds longer than the run, no pair completes: the report gives what the daemon costs
/// with nothing to do (`idle_cpu_pct`), and the accounts still stop at rest at the end (the
/// simulator lets the held sells fill first).
#[test]
fn bench_with_every_pair_held_reports_idle_cpu_and_stops_at_rest() {
    let db = (backend() == Backend::Postgres).then(TestDb::empty);
    let (report, printed) = run_bench(
        &[
            "--accounts",
            "20",
            "--seconds",
            "4",
            "--hold-ms",
            "600000",
            "--floor-seconds",
            "0",
        ],
        db.as_ref().map(|d| d.url.as_str()),
    );
    assert_eq!(report["cycles"], 0, "{printed}");
    let idle = report["idle_cpu_pct"].as_f64().unwrap();
    assert!(idle >= 0.0, "{printed}");
    assert!(
        report["window_cpu_pct"].as_f64().unwrap() >= 0.0,
        "{printed}"
    );
    assert_eq!(
        report["api_ms"]["requests"], 0,
        "nothing happens in an idle run"
    );
    assert!(report.get("daemon_cpu_us_per_cycle").is_none(), "{printed}");
    assert_eq!(report["errors"], 0, "{printed}");
    assert_eq!(report["violations"], 0, "{printed}");
}

/// `bench --instances` in its small form, on PostgreSQL (instances share one database): three
/// daemons share 30 accounts, one is SIGKILLed, then it comes back with a fourth; each time
/// the shares balance, no order is cancelled by a hand-over, and the books agree.
#[test]
fn bench_of_three_instances_rebalances_after_a_kill_and_a_join() {
    if backend() != Backend::Postgres {
        return;
    }
    let db = TestDb::empty();
    let (report, printed) = run_bench(
        &[
            "--instances",
            "3",
            "--accounts",
            "30",
            "--seconds",
            "30",
            "--kill-at",
            "5",
            "--join-at",
            "16",
            "--lease-ttl-s",
            "5",
        ],
        Some(&db.url),
    );
    let held = |k: &str| -> Vec<u64> {
        let mut v: Vec<u64> = report[k]["held"]
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_u64().unwrap())
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(held("before_kill"), vec![10, 10, 10], "{printed}");
    assert_eq!(held("after_kill"), vec![15, 15], "{printed}");
    assert_eq!(held("after_join"), vec![7, 7, 8, 8], "{printed}");
    assert_eq!(report["violations"], 0, "{printed}");
    assert_eq!(report["cancelled_orders"], 0, "{printed}");
    assert_eq!(report["errors"], 0, "{printed}");
    assert!(report["cycles"].as_u64().unwrap() > 30, "{printed}");
}
