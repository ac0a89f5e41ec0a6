//! Instances on one database share the accounts out (`domain::shares`): a joining instance
//! receives its share, and an account changes hands only at rest.

use std::time::Duration;

use alpha_oto::actors::operator;
use alpha_oto::domain::shown::AccountState;
use alpha_oto::market::OrderStatus;
use alpha_oto::store;

use super::harness::{World, settings};

/// Two accounts trade on one instance; each has a pair whose sell the simulator holds. A
/// second instance joins: the shares give it one of the two, but that account is not handed
/// over while its pair is live: the first instance keeps its lease and places nothing new for
/// it. Once the sell fills, the first releases it at rest, the second claims it, reconciles
/// and trades it; no pair of it was cancelled, and the store matches the exchange.
#[actix_web::test]
async fn an_account_is_handed_to_a_joining_instance_only_once_its_live_pair_has_ended() {
    // Two tokens: a held sell of one account would keep the other's next pair back on the
    // same token (no two managed accounts trade with each other).
    let accounts = vec![
        settings("KOGE", "10", "100000"),
        settings("NEX", "10", "100000"),
    ];
    let h = World::new(701, &accounts, "100000")
        .await
        .engine("test-1")
        .await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 1)
        .await;
    let hold = |on: bool| {
        h.sim.state.with(|st| {
            for (_, sim_id) in &h.accounts {
                st.engine.accounts.get_mut(sim_id).unwrap().hold_sells = on;
            }
        })
    };
    hold(true);
    // Each account's pair now waits on its sell: on the simulator (a sell filled before the
    // hold may still be on its way to the daemon, which then places one more pair) and in the
    // daemon's view.
    let held = || {
        h.sim.state.with(|st| {
            h.accounts.iter().all(|(_, sim_id)| {
                st.engine.orders.values().any(|o| {
                    o.account == *sim_id
                        && o.leg == Some(alpha_oto::sim::engine::Leg::Pending)
                        && !o.status.is_final()
                })
            })
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !held() {
        assert!(tokio::time::Instant::now() < deadline, "no held sells");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.wait_all("hold a bought pair", Duration::from_secs(30), |s| {
        s.current_pair
            .as_ref()
            .is_some_and(|p| p.bought > rust_decimal::Decimal::ZERO && p.sold.is_zero())
    })
    .await;

    let (second, ctx2) = h.second_engine("test-2", |_| {}).await;
    let shares = ctx2.membership.current().expect("shares after joining");
    let moving: Vec<(i64, u64)> = h
        .accounts
        .iter()
        .copied()
        .filter(|(id, _)| shares.owner_of(*id) == Some("test-2"))
        .collect();
    assert_eq!(moving.len(), 1, "one of two accounts is the second's share");
    let (id, sim_id) = moving[0];
    let placed = h.placed(sim_id);
    let holder = |id: i64| store::lease::holder(&mut h.db.conn(), id).unwrap();

    // Several looks of both instances later, the account is still where its pair is.
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        assert_eq!(
            holder(id).as_deref(),
            Some("test-1"),
            "handed over mid-pair"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.placed(sim_id), placed, "a new pair while handing over");
    assert!(h.status(id).unwrap().current_pair.is_some());

    // The sell fills: the pair ends, and the account moves.
    hold(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while holder(id).as_deref() != Some("test-2")
        || second.status(id).is_none_or(|s| s.cycles_today < 1)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not traded by the second instance: holder {:?}, {:?}",
            holder(id),
            second.status(id)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stays = h.accounts.iter().find(|(a, _)| *a != id).unwrap().0;
    assert_eq!(holder(stays).as_deref(), Some("test-1"));
    let cancelled = h.sim.state.with(|st| {
        st.engine
            .orders
            .values()
            .filter(|o| o.account == sim_id && o.status == OrderStatus::Canceled)
            .count()
    });
    assert_eq!(cancelled, 0, "a pair was cut short by the hand-over");

    // Both stop at rest, each on its instance; the books agree.
    for (a, _) in &h.accounts {
        h.act(*a, operator::Action::Stop).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let here = h.status(stays).map(|s| s.state);
        let there = second.status(id).map(|s| s.state);
        if here == Some(AccountState::Stopped) && there == Some(AccountState::Stopped) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{here:?} {there:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.violations(), Vec::<String>::new());
    h.ledger_check();
    second.shutdown(Duration::from_secs(10)).await;
    h.sup.shutdown(Duration::from_secs(10)).await;
}
