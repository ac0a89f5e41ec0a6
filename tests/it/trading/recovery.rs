//! Failures inside the daemon or on the wire: a panicking actor, a lost place answer, the
//! kill switch.

use alpha_oto::domain::cycle::Outcome;
use alpha_oto::domain::shown::{AccountState, Phase};
use std::time::Duration;

use alpha_oto::store;
use serde_json::json;

use super::harness::{Harness, World, settings};

/// A panic in one account's actor leaves the others trading; the supervisor restarts it, it
/// reconciles and trades again; nothing is duplicated.
#[actix_web::test]
async fn a_panicking_actor_is_restarted_and_the_others_keep_trading() {
    let accounts: Vec<_> = ["KOGE", "NEX", "LIGHT"]
        .iter()
        .map(|t| settings(t, "10", "100000"))
        .collect();
    let h = Harness::new(103, &accounts, "100000").await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 3)
        .await;
    let (victim, others) = (h.accounts[0].0, &h.accounts[1..]);
    let before: Vec<u64> = others
        .iter()
        .map(|(id, _)| h.status(*id).unwrap().cycles_today)
        .collect();
    h.sup.inject_panic(victim).await.unwrap();
    // A panic that took the runtime or the shared parts down would stop them for good; a
    // window of many seconds keeps out of the verdict a pair whose buy waits for the market
    // on a loaded test machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for ((id, _), b) in others.iter().zip(&before) {
        loop {
            let now = h.status(*id).unwrap().cycles_today;
            if now > *b {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "account {id} stopped trading while another panicked"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Restarted: it claims its lease again (a new fencing token), rebuilds from the store,
    // and trades again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let token = store::lease::current(&mut h.db.conn(), victim)
            .unwrap()
            .map(|l| l.fencing_token)
            .unwrap_or(0);
        let s = h.status(victim).unwrap();
        if token >= 2 && s.cycles_today >= 3 && s.state != AccountState::Failed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not restarted: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.stop_and_check().await.len(), 3);
}

/// The exchange creates the pair but the answer is lost (HTTP 504): the pair is found by what
/// the intent fixed and adopted, never placed twice.
#[actix_web::test]
async fn a_lost_place_answer_is_resolved_by_reconciliation_without_a_duplicate() {
    let h = Harness::new(104, &[settings("KOGE", "10", "40")], "1000").await;
    let sim_id = h.accounts[0].1;
    h.fault(json!({"kind": "ambiguous_place", "rate": 1.0, "for_s": 2, "account": sim_id}))
        .await;
    h.start_trading().await;
    h.wait_all("reach the target", Duration::from_secs(60), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    let id = h.accounts[0].0;
    assert!(h.cycles_with(id, Outcome::Filled) >= 4);
    let lines = h.stop_and_check().await;
    assert_eq!(lines.len(), 1);
}

/// The kill switch blocks new pairs, cancels what is open, and checks that nothing is left.
/// Fills come in several pieces and the stream delivers their reports out of order: a report
/// whose cumulative quantity jumps past a piece not yet seen must not stand for both. The store
/// holds every piece, trade by trade, as the exchange does.
#[actix_web::test]
async fn reordered_fill_reports_are_stored_trade_by_trade() {
    // Pending legs filled by the simulator in several pieces at once, in one batch of frames
    // whose first two the fault swaps.
    let sim = alpha_oto::sim::server::start(alpha_oto::sim::server::SimOptions {
        seed: 106,
        fill: alpha_oto::sim::engine::FillMode::AtOnce { hold_ms: 20 },
        ..alpha_oto::sim::server::SimOptions::default()
    })
    .await
    .unwrap();
    let h = World::on(sim, &[settings("KOGE", "10", "60")], "1000")
        .engine("test-1")
        .await;
    let sim_id = h.accounts[0].1;
    h.fault(json!({"kind": "reorder_events", "rate": 1.0, "account": sim_id}))
        .await;
    h.start_trading().await;
    h.wait_all("reach the target", Duration::from_secs(60), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    h.clear_faults().await;
    let several = h.sim.state.with(|s| {
        s.engine
            .orders
            .values()
            .filter(|o| o.account == sim_id)
            .filter(|o| s.engine.fills.iter().filter(|f| f.order_id == o.id).count() > 1)
            .count()
    });
    assert!(
        several > 0,
        "no order filled in several pieces: the test proves nothing"
    );
    assert_eq!(h.stop_and_check().await.len(), 1);
}

#[actix_web::test]
async fn the_kill_switch_leaves_nothing_open() {
    let mut resting = settings("KOGE", "10", "1000");
    // Buy 5 % under the market: the working leg rests.
    resting.buy_offset = serde_json::from_value(json!({"mode": "percent", "value": "-5"})).unwrap();
    let h = Harness::new(105, &[resting, settings("NEX", "10", "100000")], "100000").await;
    h.start_trading().await;
    let (id, sim_id) = h.accounts[0];
    h.wait_all("trade", Duration::from_secs(30), |s| {
        s.phase == Phase::Working || s.cycles_today >= 2
    })
    .await;
    assert!(!h.open_on_exchange().is_empty());
    let report = h.kill(id).await;
    assert!(report.clean(), "{report:?}");
    assert_eq!(report.error, None);
    let open = h.sim.state.with(|s| {
        s.engine
            .orders
            .values()
            .filter(|o| o.account == sim_id && !o.status.is_final())
            .count()
    });
    assert_eq!(open, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = h.status(id).unwrap();
    assert_eq!(s.state, AccountState::Stopped, "{s:?}");
    assert!(h.cycles_with(id, Outcome::Cancelled) >= 1);
    // The other account was not touched.
    assert!(h.status(h.accounts[1].0).unwrap().cycles_today >= 2);
    h.stop_and_check().await;
}

/// The global kill switch: every account at once, nothing left open anywhere.
#[actix_web::test]
async fn halt_stops_every_account_and_leaves_nothing_open() {
    let mut resting = settings("KOGE", "10", "100000");
    resting.buy_offset = serde_json::from_value(json!({"mode": "percent", "value": "-5"})).unwrap();
    // Sells above the buys: the two accounts on KOGE never cross each other.
    resting.sell_offset = serde_json::from_value(json!({"mode": "percent", "value": "1"})).unwrap();
    let accounts = [resting.clone(), resting, settings("NEX", "10", "100000")];
    let h = Harness::new(106, &accounts, "100000").await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| {
        s.phase == Phase::Working || s.cycles_today >= 1
    })
    .await;
    let reports = h.halt().await;
    assert_eq!(reports.len(), 3);
    for r in reports {
        assert!(r.clean(), "{r:?}");
        assert_eq!(r.error, None, "{r:?}");
    }
    assert_eq!(h.open_on_exchange(), Vec::<u64>::new());
    h.wait_all("stop", Duration::from_secs(10), |s| {
        s.state == AccountState::Stopped
    })
    .await;
    // Nothing new is placed after the halt.
    let placed = || h.sim.state.with(|s| s.engine.orders.len());
    let before = placed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(placed(), before);
    assert_eq!(h.violations(), Vec::<String>::new());
    h.ledger_check();
}

/// An instance whose lease was taken over (it could not renew in time and another instance
/// claimed the account) stops sending for that account at once and waits in standby.
#[actix_web::test]
async fn an_instance_that_lost_its_lease_stops_sending() {
    let h = Harness::new(107, &[settings("NEX", "10", "100000")], "100000").await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 2)
        .await;
    let (id, sim_id) = h.accounts[0];
    // The lease runs out (as if renewals had failed) and another instance claims it.
    let sql = format!("UPDATE leases SET expires_at_ms = 0 WHERE account_id = {id}");
    match &mut h.db.conn() {
        store::Conn::Sqlite(c) => {
            diesel::RunQueryDsl::execute(diesel::sql_query(&sql), &mut **c).unwrap();
        }
        store::Conn::Pg(c) => {
            diesel::RunQueryDsl::execute(diesel::sql_query(&sql), &mut **c).unwrap();
        }
    }
    let intruder = store::lease::claim(&mut h.db.conn(), id, "intruder", 60_000)
        .unwrap()
        .expect("an expired lease can be claimed");
    // Within one renewal period the account notices; from then on nothing is sent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if h.status(id).unwrap().phase == Phase::Standby {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", h.status(id));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let placed = || {
        h.sim.state.with(|s| {
            s.engine
                .orders
                .values()
                .filter(|o| o.account == sim_id)
                .count()
        })
    };
    let before = placed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(placed(), before, "orders sent without the lease");
    // Every intent stored after the takeover would carry the intruder's token: there is none.
    let cycles =
        store::cycles::list(&mut h.db.conn(), id, store::models::Page::first(500)).unwrap();
    assert!(
        cycles
            .iter()
            .all(|c| c.fencing_token < intruder.fencing_token)
    );
    assert_eq!(h.violations(), Vec::<String>::new());
}

/// A graceful stop places nothing new; with `on_stop = "cancel"` it cancels what is open
/// first, with the default `keep` it leaves the live pair for the next start.
#[actix_web::test]
async fn a_graceful_stop_keeps_or_cancels_live_pairs_as_configured() {
    use alpha_oto::config::StopMode;
    for mode in [StopMode::Keep, StopMode::Cancel] {
        let mut resting = settings("KOGE", "10", "100000");
        resting.buy_offset =
            serde_json::from_value(json!({"mode": "percent", "value": "-5"})).unwrap();
        let world = super::harness::World::new(108, &[resting], "100000").await;
        let h = world
            .engine_with("stopper", |c| c.daemon.on_stop = mode)
            .await;
        h.start_trading().await;
        h.wait_all("rest a pair", Duration::from_secs(30), |s| {
            s.phase == Phase::Working
        })
        .await;
        h.sup.shutdown(Duration::from_secs(20)).await;
        let open = h.open_on_exchange();
        match mode {
            StopMode::Keep => assert_eq!(open.len(), 2, "the pair stays: {open:?}"),
            StopMode::Cancel => assert_eq!(open, Vec::<u64>::new()),
        }
        // The account's own state is untouched: it trades again after a restart.
        let account = store::accounts::get(&mut h.db.conn(), h.accounts[0].0).unwrap();
        assert_eq!(account.state, AccountState::Trading, "{mode:?}");
        assert_eq!(h.violations(), Vec::<String>::new());
        h.ledger_check_open().await;
    }
}

/// A fill heard only from the exchange's order list (its reports lost) while the trade list
/// fails: the fill counts at once, but its row shows no final status before the fill itself
/// is written, so a stop or a crash in between cannot leave an order ended with less filled
/// than it was. Once the trade list answers, the fill is stored piece for piece.
#[actix_web::test]
async fn a_fill_whose_trades_cannot_be_read_yet_never_shows_its_order_ended() {
    let h = Harness::new(105, &[settings("KOGE", "10", "100000")], "1000").await;
    let (id, sim_id) = h.accounts[0];
    h.fault(json!({"kind": "lose_events", "account": sim_id}))
        .await;
    h.fault(json!({"kind": "http_5xx", "account": sim_id, "path": "get-user-trades"}))
        .await;
    h.start_trading().await;
    let ended_short = || {
        store::orders::list(&mut h.db.conn(), id, store::models::Page::first(100))
            .unwrap()
            .into_iter()
            .filter(|o| o.status.is_terminal() && o.filled_qty < o.quantity)
            .filter(|o| o.status == store::models::StoredStatus::Filled)
            .map(|o| format!("{o:?}"))
            .collect::<Vec<_>>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while h.status(id).is_none_or(|s| s.volume_today.is_zero()) {
        assert_eq!(ended_short(), Vec::<String>::new());
        assert!(tokio::time::Instant::now() < deadline, "no fill heard");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Counted, not yet written: the trade list still fails.
    for _ in 0..25 {
        assert_eq!(ended_short(), Vec::<String>::new());
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let fills = store::fills::list(&mut h.db.conn(), id, store::models::Page::first(100)).unwrap();
    assert_eq!(fills.len(), 0, "{fills:?}");
    h.clear_faults().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store::fills::list(&mut h.db.conn(), id, store::models::Page::first(100))
        .unwrap()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fill was never stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.stop_and_check().await;
}
