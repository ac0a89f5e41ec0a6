//! New pairs take their turn (`actors::admission`): an account waiting for one still hears
//! its operator at once, and a pair that waited is placed at the price of when its turn came.

use std::time::Duration;

use alpha_oto::actors::operator::Action;
use alpha_oto::domain::shown::AccountState;
use rust_decimal::Decimal;

use super::harness::{Harness, World, settings, wait_account};

/// One account, one new order in flight at a time, trading; the test then takes that turn, so
/// the account's next pair waits for it.
async fn waiting_behind_the_test() -> (Harness, alpha_oto::actors::admission::Turn) {
    let h = World::new(317, &[settings("KOGE", "10", "100000")], "100000")
        .await
        .engine_with("test-1", |c| c.daemon.orders_in_flight_max = 1)
        .await;
    let (id, _) = h.accounts[0];
    h.start_trading().await;
    wait_account(&h.sup, id, "trade a pair", Duration::from_secs(30), |s| {
        s.cycles_today >= 1
    })
    .await;
    let turn = h.ctx.admission.turn().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while h.ctx.admission.waiting() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the account never waited"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (h, turn)
}

async fn wait_for_a_pair_after(h: &Harness, sim_id: u64, before: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.placed(sim_id) == before {
        assert!(tokio::time::Instant::now() < deadline, "no pair {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_pause_reaches_an_account_waiting_its_turn_to_place_before_the_pair_is_sent() {
    let (h, turn) = waiting_behind_the_test().await;
    let (id, sim_id) = h.accounts[0];
    let before = h.placed(sim_id);
    h.act(id, Action::Pause).await;
    let paused = wait_account(&h.sup, id, "pause", Duration::from_secs(2), |s| {
        s.state == AccountState::Paused
    })
    .await;
    assert!(paused.current_pair.is_none(), "{paused:?}");
    assert_eq!(h.ctx.admission.waiting(), 0, "still in the queue");
    // The turn comes free: the pair given up is not sent.
    turn.answered(false);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.placed(sim_id), before, "a pair placed after the pause");
    // Resumed, it trades on.
    h.act(id, Action::Resume).await;
    wait_for_a_pair_after(&h, sim_id, before, "after the resume").await;
    h.stop_and_check().await;
}

#[actix_web::test]
async fn a_pair_that_waited_for_its_turn_is_placed_at_the_price_of_when_its_turn_came() {
    let (h, turn) = waiting_behind_the_test().await;
    let (_, sim_id) = h.accounts[0];
    let last_buy = |h: &Harness| {
        h.sim.state.with(|s| {
            s.engine
                .orders
                .values()
                .filter(|o| o.account == sim_id && o.side == alpha_oto::market::Side::Buy)
                .max_by_key(|o| o.id)
                .map(|o| o.price)
                .unwrap_or_default()
        })
    };
    let planned_at = last_buy(&h);
    let before = h.placed(sim_id);
    // The market moves a fifth up while the pair waits (under the volatility guard's 50 %).
    let moved = planned_at * Decimal::new(12, 1);
    h.set_price("ALPHA_22USDT", moved).await;
    // The turn comes once the daemon's price feed has seen the move (the account reads it).
    let cell = h.ctx.feeds.watch("alpha_22usdt@aggTrade", "ALPHA_22USDT");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cell
        .latest()
        .is_none_or(|v| v.price < planned_at * Decimal::new(11, 1))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed never showed the move"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    turn.answered(false);
    wait_for_a_pair_after(&h, sim_id, before, "once the turn came").await;
    let placed_at = last_buy(&h);
    assert!(
        placed_at > planned_at * Decimal::new(11, 1),
        "the pair was placed at {placed_at}, the price of its plan ({planned_at}), not of its turn ({moved})"
    );
    assert_eq!(h.violations(), Vec::<String>::new());
    h.stop_and_check().await;
}
