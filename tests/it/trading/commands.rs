//! The operator's commands reach whoever holds the account and say what they did: a kill the
//! exchange cannot confirm says so and is tried again; a command sent to an instance that
//! does not hold the account is carried out by the one that does; a kill recorded while the
//! account waits for its token, or racing a reload, is never lost; the command recorded last
//! is the one carried out.

use alpha_oto::domain::shown::{AccountState, Phase};
use std::time::Duration;

use alpha_oto::actors::account::{AccountStatus, Command, KillOutcome};
use alpha_oto::actors::operator::{self, Action, Delivery};
use alpha_oto::store;
use alpha_oto::store::models::Desired;
use serde_json::json;

use super::harness::{Harness, settings, wait_account};

fn resting(token: &str) -> alpha_oto::domain::settings::AccountSettings {
    let mut s = settings(token, "10", "100000");
    // Buy 5 % under the market: the working leg rests.
    s.buy_offset = serde_json::from_value(json!({"mode": "percent", "value": "-5"})).unwrap();
    s
}

async fn assert_places_nothing(h: &Harness, sim_id: u64, what: &str) {
    let before = h.placed(sim_id);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.placed(sim_id), before, "orders placed after {what}");
}

#[actix_web::test]
async fn a_kill_the_exchange_cannot_confirm_is_unverified_and_retried_until_verified() {
    let h = Harness::new(311, &[resting("KOGE")], "100000").await;
    h.start_trading().await;
    let (id, sim_id) = h.accounts[0];
    h.wait_all("rest a pair", Duration::from_secs(30), |s| {
        s.phase == Phase::Working
    })
    .await;
    assert!(!h.open_on_exchange().is_empty());
    // Every request of the account answers 503 for a while.
    h.fault(json!({"kind": "http_5xx", "rate": 1.0, "account": sim_id, "for_s": 6}))
        .await;
    let report = h.kill(id).await;
    assert_eq!(report.outcome, KillOutcome::Unverified, "{report:?}");
    assert!(!report.clean());
    // What the store believes open: the resting pair's two legs.
    assert_eq!(report.open_left, 2, "{report:?}");
    assert_eq!(report.open_orders.len(), 2, "{report:?}");
    assert!(report.error.is_some());
    assert!(
        !h.open_on_exchange().is_empty(),
        "the exchange refused the cancels"
    );
    // Once the exchange answers, the account cancels, verifies and says so.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while h.events(id, "kill_verified", None) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never verified");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.open_on_exchange(), Vec::<u64>::new());
    assert_places_nothing(&h, sim_id, "the kill").await;
    assert_eq!(h.violations(), Vec::<String>::new());
    h.ledger_check();
}

#[actix_web::test]
async fn a_kill_recorded_while_the_token_is_unknown_holds_once_it_is_known() {
    let h = Harness::new(312, &[settings("NOSUCH", "10", "100000")], "100000").await;
    h.start_trading().await;
    let (id, sim_id) = h.accounts[0];
    wait_account(&h.sup, id, "pause", Duration::from_secs(10), |s| {
        s.pause_reason.as_deref() == Some("unknown_token")
    })
    .await;
    let report = h.kill(id).await;
    assert_eq!(report.outcome, KillOutcome::Pending, "{report:?}");
    // The operator fixes the token (a config change reloads the account).
    let fixed = settings("KOGE", "10", "100000");
    store::configs::upsert(&mut h.db.conn(), &store::configs::to_row(&fixed, id, 3_000)).unwrap();
    h.sup.command(id, Command::Reload).await.unwrap();
    wait_account(&h.sup, id, "rest killed", Duration::from_secs(20), |s| {
        s.state == AccountState::Stopped && s.stream_up
    })
    .await;
    assert!(h.events(id, "killed", None) >= 1);
    assert_places_nothing(&h, sim_id, "the recorded kill").await;
    assert_eq!(h.placed(sim_id), 0, "a killed account placed orders");
}

#[actix_web::test]
async fn stop_start_and_halt_sent_to_a_standby_instance_reach_the_holder() {
    let h = Harness::new(313, &[settings("NEX", "10", "100000")], "100000").await;
    h.start_trading().await;
    let (id, sim_id) = h.accounts[0];
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 1)
        .await;
    let (sup_b, ctx_b) = h.second_engine("test-2", |_| {}).await;
    wait_account(&sup_b, id, "stand by", Duration::from_secs(10), |s| {
        s.phase == Phase::Standby
    })
    .await;
    let account = || store::accounts::get(&mut h.db.conn(), id).unwrap();

    let ack = operator::act(&ctx_b, &sup_b, &account(), Action::Stop)
        .await
        .unwrap();
    assert_eq!(
        (ack.outcome, ack.owner.as_deref()),
        (Delivery::Pending, Some("test-1"))
    );
    h.wait_all("stop", Duration::from_secs(10), |s| {
        s.state == AccountState::Stopped
    })
    .await;
    assert_places_nothing(&h, sim_id, "a stop sent to the standby instance").await;

    let cycles = h.status(id).unwrap().cycles_today;
    let ack = operator::act(&ctx_b, &sup_b, &account(), Action::Start)
        .await
        .unwrap();
    assert_eq!(
        (ack.outcome, ack.owner.as_deref()),
        (Delivery::Pending, Some("test-1"))
    );
    h.wait_all(
        "trade again",
        Duration::from_secs(20),
        |s: &AccountStatus| s.cycles_today > cycles,
    )
    .await;

    let reports = operator::halt(&ctx_b, &sup_b).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].outcome, KillOutcome::Pending, "{reports:?}");
    assert_eq!(reports[0].owner.as_deref(), Some("test-1"));
    h.wait_all("halt", Duration::from_secs(10), |s| {
        s.state == AccountState::Stopped
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !h.open_on_exchange().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            h.open_on_exchange()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_places_nothing(&h, sim_id, "a halt sent to the standby instance").await;

    // The holder goes away: the standby instance takes the account over and keeps it killed.
    h.sup.shutdown(Duration::from_secs(10)).await;
    wait_account(
        &sup_b,
        id,
        "take over, killed",
        Duration::from_secs(20),
        |s| s.state == AccountState::Stopped && s.stream_up,
    )
    .await;
    assert_places_nothing(&h, sim_id, "the takeover").await;
    sup_b.shutdown(Duration::from_secs(10)).await;
    assert_eq!(h.violations(), Vec::<String>::new());
    h.ledger_check();
}

/// A kill sent while the account reloads (a config or credentials change) is carried out by
/// the task that ends or by the next one, never lost: 500 rounds, over ten accounts at once.
#[actix_web::test]
async fn a_kill_racing_a_reload_is_never_lost() {
    const ACCOUNTS: usize = 10;
    const ROUNDS: usize = 50;
    let all = vec![settings("NEX", "10", "100000000"); ACCOUNTS];
    let h = Harness::new(314, &all, "100000000").await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| {
        s.state == AccountState::Trading
    })
    .await;
    let started = std::time::Instant::now();
    let rounds = h
        .accounts
        .iter()
        .map(|(id, _)| race_rounds(&h, *id, ROUNDS));
    let carried_by_next: usize = futures_util::future::join_all(rounds).await.iter().sum();
    eprintln!(
        "{} rounds in {:?}; {carried_by_next} kills carried out by the next task",
        ACCOUNTS * ROUNDS,
        started.elapsed()
    );
    for (_, sim_id) in &h.accounts {
        assert_places_nothing(&h, *sim_id, "the last kill").await;
    }
    assert_eq!(h.violations(), Vec::<String>::new());
    h.ledger_check();
}

/// Start, then a reload and a kill at once, then wait until the account rests killed; answers
/// how many kills the next task carried out.
async fn race_rounds(h: &Harness, id: i64, rounds: usize) -> usize {
    let account = || store::accounts::get(&mut h.db.conn(), id).unwrap();
    let mut carried_by_next = 0;
    for round in 0..rounds {
        operator::act(&h.ctx, &h.sup, &account(), Action::Start)
            .await
            .unwrap();
        wait_account(&h.sup, id, "trade", Duration::from_secs(20), |s| {
            s.state == AccountState::Trading
        })
        .await;
        let acc = account();
        // The two orders, and the reload a little later each round: the kill meets the
        // ending task, the supervisor between tasks, and the next task.
        let delay = Duration::from_millis((round % 8) as u64);
        let (reload, report) = if round % 2 == 0 {
            tokio::join!(
                h.sup.command(id, Command::Reload),
                operator::kill(&h.ctx, &h.sup, &acc)
            )
        } else {
            tokio::join!(
                async {
                    tokio::time::sleep(delay).await;
                    h.sup.command(id, Command::Reload).await
                },
                operator::kill(&h.ctx, &h.sup, &acc)
            )
        };
        reload.unwrap();
        let report = report.unwrap();
        match report.outcome {
            KillOutcome::Verified => assert!(report.clean(), "round {round}: {report:?}"),
            KillOutcome::Pending => carried_by_next += 1,
            KillOutcome::Unverified => panic!("round {round}: {report:?}"),
        }
        // Lost, the kill would leave the account trading: it must come to rest killed.
        wait_account(&h.sup, id, "rest killed", Duration::from_secs(20), |s| {
            s.state == AccountState::Stopped && s.stream_up
        })
        .await;
    }
    carried_by_next
}

/// Two operators' commands recorded in one order can reach the supervisor in the other: the
/// resume recorded last is the account's word (the store says so), so the pause recorded
/// before it and handed over after it is not carried out; a newer pause still is.
#[actix_web::test]
async fn a_command_handed_over_after_a_newer_one_is_not_carried_out() {
    let h = Harness::new(315, &[settings("NEX", "10", "100000000")], "100000000").await;
    h.start_trading().await;
    let (id, _) = h.accounts[0];
    h.wait_all("trade", Duration::from_secs(30), |s| {
        s.state == AccountState::Trading
    })
    .await;
    // Recorded pause then resume (as the store numbers them), handed over resume first.
    let seq = |d: Desired| {
        store::accounts::command(&mut h.db.conn(), id, d)
            .unwrap()
            .command_seq
    };
    let (paused, resumed) = (seq(Desired::Pause), seq(Desired::Run));
    h.sup.deliver(id, resumed, Command::Resume).await.unwrap();
    h.sup.deliver(id, paused, Command::Pause).await.unwrap();
    let before = h.status(id).unwrap().cycles_today;
    wait_account(
        &h.sup,
        id,
        "pairs after the late pause",
        Duration::from_secs(15),
        |s| s.cycles_today >= before + 2,
    )
    .await;
    assert_eq!(h.status(id).unwrap().state, AccountState::Trading);
    let newer = seq(Desired::Pause);
    h.sup.deliver(id, newer, Command::Pause).await.unwrap();
    wait_account(&h.sup, id, "paused", Duration::from_secs(15), |s| {
        s.state == AccountState::Paused
    })
    .await;
    h.stop_and_check().await;
}
