//! No trade between two managed accounts, on the simulator's shared book: half the accounts
//! rest sells just above the market, the other half buy through it. Without the guard their
//! orders meet (the simulator reports `cross_account_match`); with it they never do.

use alpha_oto::domain::cycle::Outcome;
use std::time::{Duration, Instant};

use alpha_oto::domain::pricing::Offset;
use alpha_oto::domain::settings::AccountSettings;

use alpha_oto::actors::supervisor::SupervisorHandle;
use alpha_oto::config::Config;
use alpha_oto::store;

use super::harness::{Harness, World, settings};
use crate::support::d;

const ACCOUNTS: usize = 50;

/// Makers buy at the last price and rest their sell 0.2 % above it; takers buy 0.5 % above
/// the last price, which reaches the makers' resting sells.
fn crossing_accounts() -> Vec<AccountSettings> {
    (0..ACCOUNTS)
        .map(|i| {
            let mut s = settings("KOGE", "10", "100000");
            if i % 2 == 0 {
                s.buy_offset = Offset::Percent(d("0"));
                s.sell_offset = Offset::Percent(d("0.2"));
            }
            s.order_timeout_s = 5;
            s.pending_timeout_s = 5;
            s
        })
        .collect()
}

fn matches(h: &Harness) -> Vec<String> {
    h.violations()
        .into_iter()
        .filter(|v| v.starts_with("cross_account_match"))
        .collect()
}

/// 50 accounts with offsets that cross trade for 60 s and never meet; both kinds of account
/// complete pairs.
#[actix_web::test]
async fn fifty_accounts_with_crossing_offsets_never_trade_with_each_other() {
    let h = World::new(601, &crossing_accounts(), "100000")
        .await
        .engine("test-1")
        .await;
    h.start_trading().await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        assert_eq!(matches(&h), Vec::<String>::new());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Both kinds get their turns: each group closes pairs (filled, or ended by a timeout).
    let turns = |id: i64| {
        [Outcome::Filled, Outcome::TimedOut, Outcome::Cancelled]
            .iter()
            .map(|o| h.cycles_with(id, *o))
            .sum::<usize>()
    };
    let (mut makers, mut takers, mut filled) = (0, 0, 0);
    for (i, (id, _)) in h.accounts.iter().enumerate() {
        *(if i % 2 == 0 { &mut makers } else { &mut takers }) += turns(*id);
        filled += h.cycles_with(*id, Outcome::Filled);
    }
    eprintln!("pairs closed in 60 s: makers {makers}, takers {takers} ({filled} filled)");
    assert!(makers > 0 && takers > 0, "makers {makers}, takers {takers}");
    let ledger = h.sim.ledger();
    assert!(ledger.fills.iter().all(|f| f.counterparty.is_none()));
    // Every account stops with nothing open, no violation of any kind, and its books agree
    // with the exchange's.
    h.stop_and_check().await;
}

/// The same accounts with the guard switched off: the simulator sees them trade with each
/// other, so the check above can fail.
#[actix_web::test]
async fn without_the_guard_the_same_accounts_trade_with_each_other() {
    let h = World::new(601, &crossing_accounts(), "100000")
        .await
        .engine_with("test-1", |c| c.daemon.cross_account_guard = false)
        .await;
    h.start_trading().await;
    let started = Instant::now();
    while matches(&h).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no cross-account match within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "first match after {:?}: {}",
        started.elapsed(),
        matches(&h)[0]
    );
    h.sup.shutdown(Duration::from_secs(10)).await;
    // The ledger names the counterparty of each such fill: two of the daemon's accounts,
    // each on the other's side.
    let ledger = h.sim.ledger();
    let managed: Vec<u64> = h.accounts.iter().map(|(_, sim)| *sim).collect();
    let crossed: Vec<_> = ledger
        .fills
        .iter()
        .filter_map(|f| f.counterparty.map(|c| (f.account, c)))
        .collect();
    assert!(!crossed.is_empty(), "no fill names a counterparty");
    for (us, them) in &crossed {
        assert!(managed.contains(us) && managed.contains(them) && us != them);
        assert!(
            crossed.contains(&(*them, *us)),
            "one side only: {us} with {them}"
        );
    }
}

/// The crossing accounts on two instances: every other pair of them (a maker and a taker) held
/// by the second from the start, the rest by the first (each instance claims what is held in
/// its name), both started.
async fn two_instances(seed: u64, tweak: fn(&mut Config)) -> (Harness, SupervisorHandle) {
    let world = World::new(seed, &crossing_accounts(), "100000").await;
    {
        let mut c = world.db.conn();
        for (i, (id, _)) in world.accounts.iter().enumerate() {
            let owner = if i % 4 >= 2 { "test-2" } else { "test-1" };
            store::lease::claim(&mut c, *id, owner, 30_000)
                .unwrap()
                .expect("a fresh account's lease is free");
        }
    }
    // The instances' capacities make the split above their fair shares (26 and 24 of 50),
    // so neither hands an account to the other.
    let h = world
        .engine_with("test-1", |c| {
            tweak(c);
            c.daemon.capacity = 26;
        })
        .await;
    let (second, _) = h
        .second_engine("test-2", |c| {
            tweak(c);
            c.daemon.capacity = 24;
        })
        .await;
    h.start_trading().await;
    (h, second)
}

/// Each instance holds the accounts given to it.
fn assert_split(h: &Harness) {
    let mut c = h.db.conn();
    for (i, (id, _)) in h.accounts.iter().enumerate() {
        let expected = if i % 4 >= 2 { "test-2" } else { "test-1" };
        let holder = store::lease::holder(&mut c, *id).unwrap();
        assert_eq!(holder.as_deref(), Some(expected), "account {id}");
    }
}

/// Closed pairs of the accounts each instance holds: (first, second).
fn turns_by_instance(h: &Harness) -> (usize, usize) {
    let mut by = (0, 0);
    for (i, (id, _)) in h.accounts.iter().enumerate() {
        let n: usize = [Outcome::Filled, Outcome::TimedOut, Outcome::Cancelled]
            .iter()
            .map(|o| h.cycles_with(*id, *o))
            .sum();
        *(if i % 4 >= 2 { &mut by.1 } else { &mut by.0 }) += n;
    }
    by
}

/// The same 50 accounts held by two instances on one database: for 60 s their orders never
/// meet, and the accounts of both instances trade.
#[actix_web::test]
async fn accounts_of_two_instances_never_trade_with_each_other() {
    let (h, second) = two_instances(603, |_| {}).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        assert_eq!(matches(&h), Vec::<String>::new());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_split(&h);
    let (first, other) = turns_by_instance(&h);
    eprintln!("pairs closed in 60 s: first instance {first}, second {other}");
    assert!(first > 0 && other > 0, "first {first}, second {other}");
    let ledger = h.sim.ledger();
    assert!(ledger.fills.iter().all(|f| f.counterparty.is_none()));
    second.shutdown(Duration::from_secs(10)).await;
    h.sup.shutdown(Duration::from_secs(10)).await;
}

/// Without the check across instances (each instance's own guard still on), the two
/// instances' accounts meet: the test above can fail.
#[actix_web::test]
async fn without_the_check_across_instances_their_accounts_meet() {
    let (h, second) = two_instances(603, |c| c.daemon.cross_instance_guard = false).await;
    let started = Instant::now();
    while matches(&h).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no cross-account match within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Each match is between the two instances' accounts.
    let ledger = h.sim.ledger();
    let second_holds = |sim: u64| {
        let i = h.accounts.iter().position(|(_, s)| *s == sim).unwrap();
        i % 4 >= 2
    };
    assert_split(&h);
    for f in ledger.fills.iter().filter(|f| f.counterparty.is_some()) {
        let them = f.counterparty.unwrap();
        assert_ne!(second_holds(f.account), second_holds(them), "{f:?}");
    }
    second.shutdown(Duration::from_secs(10)).await;
    h.sup.shutdown(Duration::from_secs(10)).await;
}
