//! `alpha-oto soak` in CI's form: five seeds of faults against real processes, each checked
//! for lost orders, lost fills, unequal volume and accounts left in a state with no true
//! reason; a seed replayed alone draws the same faults; and seeds with orders matched in
//! auctions.

use std::process::Command;

use crate::support::{backend, pg_admin_url, redis_url};
use alpha_oto::config::database::Backend;

fn soak(seeds: &str, matching: &str) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alpha-oto"));
    cmd.env_remove("ALPHA_OTO_CONFIG")
        .env_remove("ALPHA_OTO_MASTER_KEY")
        .args([
            "soak",
            "--seeds",
            seeds,
            "--accounts",
            "3",
            "--seconds",
            "10",
        ])
        .args(["--jobs", "3", "--redis-url", &redis_url()])
        .args(["--matching", matching]);
    // On the PostgreSQL pass each seed gets its own database on the server, behind a proxy
    // the soak cuts; SQLite is the soak's default.
    if backend() == Backend::Postgres {
        cmd.args(["--database-url", &pg_admin_url()]);
    }
    let out = cmd.output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{printed}{err}"))
}

/// The faults a seed's line names.
fn faults_of(printed: &str, seed: u64) -> String {
    let prefix = format!("seed {seed:>4}  ");
    let line = printed
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for seed {seed}:\n{printed}"));
    line.split_once("faults: ").unwrap().1.to_owned()
}

#[test]
fn soak_passes_five_seeds_of_faults_and_a_seed_replays_its_faults() {
    let (ok, printed) = soak("1..5", "continuous");
    assert!(ok, "{printed}");
    assert!(printed.contains("5 passed, 0 failed"), "{printed}");
    for seed in 1..=5 {
        assert!(!faults_of(&printed, seed).is_empty(), "{printed}");
    }
    let seed_lines = printed.lines().filter(|l| l.starts_with("seed ")).count();
    assert_eq!(seed_lines, 5, "{printed}");
    if backend() == Backend::Postgres {
        assert!(printed.contains("database_loss"), "{printed}");
    }

    let (ok, again) = soak("3..3", "continuous");
    assert!(ok, "{again}");
    assert!(again.contains("1 passed, 0 failed"), "{again}");
    assert_eq!(faults_of(&again, 3), faults_of(&printed, 3));
}

/// The same faults with orders matched in auctions (every 500 ms, one price per token, each
/// account's crossing orders netted): fills come in batches. Twenty seeds over the two passes:
/// 1 to 10 on SQLite, 11 to 20 on PostgreSQL.
#[test]
fn soak_passes_seeds_of_faults_with_orders_matched_in_auctions() {
    let seeds = match backend() {
        Backend::Postgres => "11..20",
        _ => "1..10",
    };
    let (ok, printed) = soak(seeds, "auction:500");
    assert!(ok, "{printed}");
    assert!(printed.contains("10 passed, 0 failed"), "{printed}");
}
