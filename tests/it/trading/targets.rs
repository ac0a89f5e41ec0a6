//! Accounts reach their daily targets: the main job.

use alpha_oto::domain::cycle::Outcome;
use alpha_oto::domain::shown::AccountState;
use std::collections::BTreeMap;
use std::time::Duration;

use alpha_oto::store;
use rust_decimal::Decimal;

use super::harness::{Harness, World, exchange_volume, settings, sim_with};
use crate::support::d;

/// 10 accounts on 3 tokens reach their targets; the simulator saw no two live pairs for any
/// account and no order is left open; the store agrees with the ledger order for order and
/// fill for fill.
#[actix_web::test]
async fn ten_accounts_on_three_tokens_reach_their_targets() {
    let tokens = ["KOGE", "NEX", "LIGHT"];
    let accounts: Vec<_> = (0..10)
        .map(|i| settings(tokens[i % 3], "10", "50"))
        .collect();
    let h = Harness::new(101, &accounts, "1000").await;
    h.start_trading().await;
    h.wait_all("reach their targets", Duration::from_secs(90), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    for (id, _) in &h.accounts {
        let s = h.status(*id).unwrap();
        assert!(s.volume_today >= s.target, "{s:?}");
        assert!(s.cycles_today >= 5, "{s:?}");
    }
    assert_eq!(h.violations(), Vec::<String>::new());
    assert_eq!(h.open_on_exchange(), Vec::<u64>::new());
    let lines = h.ledger_check();
    for l in &lines {
        println!("{l}");
    }
    assert_eq!(lines.len(), 10);
    h.sup.shutdown(Duration::from_secs(5)).await;
}

/// Orders meet in auctions (every 250 ms, one price per token, each account's crossing
/// orders netted): fills arrive in batches, several accounts' at one price in one frame
/// burst, and the accounts still reach their targets with the store agreeing with the ledger.
#[actix_web::test]
async fn accounts_reach_their_targets_when_orders_meet_in_auctions() {
    use alpha_oto::sim::engine::{FillMode, Matching};
    // The market meets every order (as in the soak and the bench), each sale held about
    // 300 ms; buys at the market and sales above it, so that accounts on one token never
    // cross each other and their orders meet in the same auctions.
    let sim = sim_with(108, |o| {
        o.matching = Matching::Auction { every_ms: 250 };
        o.fill = FillMode::AtOnce { hold_ms: 300 };
    })
    .await;
    let tokens = ["KOGE", "NEX"];
    let accounts: Vec<_> = (0..6)
        .map(|i| {
            let mut s = settings(tokens[i % 2], "10", "40");
            s.buy_offset =
                serde_json::from_value(serde_json::json!({"mode": "percent", "value": "0"}))
                    .unwrap();
            s.sell_offset =
                serde_json::from_value(serde_json::json!({"mode": "percent", "value": "0.5"}))
                    .unwrap();
            s
        })
        .collect();
    let h = World::on(sim, &accounts, "1000").engine("test-1").await;
    h.start_trading().await;
    h.wait_all("reach their targets", Duration::from_secs(120), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    for (id, _) in &h.accounts {
        let s = h.status(*id).unwrap();
        assert!(s.volume_today >= s.target, "{s:?}");
    }
    // The exchange filled in batches: some auction filled several orders at one price.
    let fills = h.sim.state.with(|s| s.engine.fills.clone());
    let mut per_auction: BTreeMap<(String, i64), Vec<Decimal>> = BTreeMap::new();
    for f in &fills {
        per_auction
            .entry((f.alpha_id.clone(), f.time))
            .or_default()
            .push(f.price);
    }
    assert!(
        per_auction.values().any(|prices| prices.len() > 1),
        "no auction filled more than one order: {per_auction:?}"
    );
    assert!(
        per_auction
            .values()
            .all(|prices| prices.iter().all(|p| *p == prices[0])),
        "one price per auction"
    );
    assert_eq!(h.violations(), Vec::<String>::new());
    assert_eq!(h.open_on_exchange(), Vec::<u64>::new());
    assert_eq!(h.ledger_check().len(), 6);
    h.sup.shutdown(Duration::from_secs(5)).await;
}

/// At 00:00 UTC (the daemon's clock moved forward) accounts at their target start again and
/// reach it again, counting the new day's volume only.
#[actix_web::test]
async fn accounts_at_target_start_again_on_a_new_utc_day() {
    let h = Harness::new(
        102,
        &[settings("KOGE", "10", "20"), settings("NEX", "10", "20")],
        "1000",
    )
    .await;
    h.start_trading().await;
    h.wait_all("reach their targets", Duration::from_secs(60), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    let first: Vec<usize> = h
        .accounts
        .iter()
        .map(|(id, _)| h.cycles_with(*id, Outcome::Filled))
        .collect();
    let now = h.clock.now_ms();
    h.clock
        .advance(86_400_000 - now.rem_euclid(86_400_000) + 1_000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for ((id, _), before) in h.accounts.iter().zip(first) {
        loop {
            let after = h.cycles_with(*id, Outcome::Filled);
            let s = h.status(*id).unwrap();
            if after >= before + 2 && s.state == AccountState::DoneForToday {
                // Today counts today's pairs only.
                assert!(s.volume_today >= s.target, "{s:?}");
                assert!(s.volume_today < rust_decimal::Decimal::from(40), "{s:?}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "account {id}: {before} pairs before midnight, {after} after: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    h.stop_and_check().await;
}

/// Today's volume is read from the exchange at start: volume made elsewhere (by hand, or by an
/// earlier installation) counts toward the target.
#[actix_web::test]
async fn volume_the_exchange_already_counts_toward_the_target() {
    let h = Harness::new(103, &[settings("NEX", "10", "20")], "1000").await;
    h.start_trading().await;
    h.wait_all("reach the target", Duration::from_secs(60), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    h.stop_and_check().await;
    // A second installation, with its own empty database, takes the same exchange account.
    let sim_id = h.accounts[0].1;
    let fresh = h
        .sim
        .state
        .with(|s| s.engine.renew_session(sim_id))
        .unwrap();
    let db = crate::support::TestDb::migrated();
    let vault = super::harness::vault_of(&h.vault_line);
    let mut conn = db.conn();
    let account = alpha_oto::store::accounts::create(&mut conn, "again", 1_000).unwrap();
    alpha_oto::store::configs::upsert(
        &mut conn,
        &alpha_oto::store::configs::to_row(&settings("NEX", "10", "20"), account.id, 1_000),
    )
    .unwrap();
    let creds = alpha_oto::exchange::session::Session::new(
        fresh
            .headers
            .into_iter()
            .map(|(k, v)| (k, secrecy::SecretString::from(v)))
            .collect(),
        secrecy::SecretString::from(fresh.cookies),
    )
    .unwrap();
    vault.put(&mut conn, account.id, &creds, 1_000).unwrap();
    let orders_before = h.sim.state.with(|s| s.engine.orders.len());
    let (sup, _) = alpha_oto::daemon::engine(
        &super::harness::config(&h.sim, "second"),
        db.store.clone(),
        Some(vault),
        super::harness::logger(),
        super::harness::fast_timing(),
        alpha_oto::clock::Clock::default(),
    )
    .await;
    sup.start_all().await.unwrap();
    sup.command(account.id, alpha_oto::actors::account::Command::Start)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = sup.status(account.id)
            && s.state == AccountState::DoneForToday
        {
            assert!(s.volume_today >= s.target, "{s:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sup.status(account.id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.sim.state.with(|s| s.engine.orders.len()), orders_before);
    sup.shutdown(Duration::from_secs(5)).await;
}

/// A flaky exchange (5xx answers, dropped streams, duplicated and reordered reports) delays
/// the targets but loses no fill and duplicates no order.
#[actix_web::test]
async fn a_flaky_exchange_loses_nothing() {
    let accounts: Vec<_> = ["KOGE", "NEX", "LIGHT"]
        .iter()
        .map(|t| {
            let mut s = settings(t, "10", "100");
            s.auto_resume = true;
            s
        })
        .collect();
    let h = Harness::new(104, &accounts, "1000").await;
    for kind in ["http_5xx", "drop_ws", "dup_events", "reorder_events"] {
        let rate = if kind == "http_5xx" { 0.05 } else { 0.2 };
        h.fault(serde_json::json!({"kind": kind, "rate": rate}))
            .await;
    }
    h.start_trading().await;
    h.wait_all("reach their targets", Duration::from_secs(90), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    h.clear_faults().await;
    assert_eq!(h.stop_and_check().await.len(), 3);
}

/// Accounts starting together on a cold cache ask the exchange for the token list and the
/// trading rules once, not once each: the first fills the cache (and the instance's token
/// board, read again only after `token_list_every`), the others wait and read it.
#[actix_web::test]
async fn accounts_starting_together_ask_for_the_listings_once() {
    let accounts: Vec<_> = (0..12).map(|_| settings("KOGE", "10", "100000")).collect();
    let timing = alpha_oto::actors::Timing {
        token_list_every: Duration::from_secs(3600),
        ..super::harness::fast_timing()
    };
    let h = World::new(109, &accounts, "100000")
        .await
        .engine_timed("test-1", |_| {}, timing)
        .await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 1)
        .await;
    let served = h.sim.state.with(|s| s.listings_served.clone());
    assert_eq!(served.get("token-list"), Some(&1), "{served:?}");
    assert_eq!(served.get("exchange-info"), Some(&1), "{served:?}");
    h.stop_and_check().await;
}

/// The cost shown is realised cost: a pair whose buy filled while its sell rests adds nothing
/// to it (it shows as exposure instead, not as a loss of ~10,000 bps); at rest the figure is
/// the store's, fill for fill.
#[actix_web::test]
async fn cost_counts_closed_pairs_only_and_the_open_pair_shows_as_exposure() {
    let mut resting_sell = settings("KOGE", "10", "100000");
    // The sell 5 % above the buy rests.
    resting_sell.sell_offset =
        serde_json::from_value(serde_json::json!({"mode": "percent", "value": "5"})).unwrap();
    let h = Harness::new(
        222,
        &[resting_sell, settings("NEX", "10", "100000")],
        "100000",
    )
    .await;
    h.start_trading().await;
    let (a, b) = (h.accounts[0].0, h.accounts[1].0);
    let held = super::harness::wait_account(
        &h.sup,
        a,
        "hold a bought pair",
        Duration::from_secs(30),
        |s| {
            s.current_pair
                .as_ref()
                .is_some_and(|p| p.bought > Decimal::ZERO)
        },
    )
    .await;
    assert_eq!(held.cost_bps, None, "no pair closed yet: {held:?}");
    let pair = held.current_pair.clone().unwrap();
    assert_eq!(
        held.exposure_usdt,
        Some((pair.bought - pair.sold) * pair.buy_price),
        "{held:?}"
    );
    super::harness::wait_account(&h.sup, b, "close pairs", Duration::from_secs(60), |s| {
        s.cycles_today >= 2
    })
    .await;
    h.act(b, alpha_oto::actors::operator::Action::Stop).await;
    super::harness::wait_account(&h.sup, b, "stop", Duration::from_secs(30), |s| {
        s.state == AccountState::Stopped
    })
    .await;
    let now = h.clock.now_ms();
    let day = alpha_oto::domain::account::day_start_ms(now);
    let volume = store::fills::volume_between(&mut h.db.conn(), b, day, now + 1).unwrap();
    let shown = h.status(b).unwrap();
    assert_eq!(shown.cost_bps, volume.cost_bps(), "{shown:?}");
    assert_eq!(shown.exposure_usdt, None, "{shown:?}");
    assert!(
        shown
            .cost_bps
            .is_some_and(|c| c.abs() < Decimal::from(1_000)),
        "{shown:?}"
    );
    // The resting pair is still open: its cost is still not counted.
    let a_now = h.status(a).unwrap();
    assert!(a_now.current_pair.is_some(), "{a_now:?}");
    assert_eq!(a_now.cost_bps, None, "{a_now:?}");
    assert_eq!(h.violations(), Vec::<String>::new());
    h.ledger_check_open().await;
}

/// Five accounts with a target of 12 points on a x4 token (LIGHT) stop once the exchange counts
/// 2^12 of volume and before one more pair's worth: the day's last pair buys only what is
/// missing. Each shows 12 of 12 points, its multiplier and what a point cost.
#[actix_web::test]
async fn accounts_on_a_points_target_stop_at_it_and_not_a_pair_past_it() {
    let mut s = settings("LIGHT", "100", "100");
    s.daily_target_usdt = None;
    s.daily_target_points = Some(12);
    let sim = sim_with(103, |o| o.volume_uses_mul_point = true).await;
    let h = World::on(sim, &vec![s; 5], "1500").engine("test-1").await;
    h.start_trading().await;
    h.wait_all("reach 12 points", Duration::from_secs(120), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    let (target, one_pair) = (d("4096"), d("400"));
    for (id, sim_id) in &h.accounts {
        let counted = exchange_volume(&h.sim, *sim_id);
        assert!(
            counted >= target && counted < target + one_pair,
            "account {id}: the exchange counts {counted}"
        );
        // Full pairs alone would end at 1,100 USDT (4,400 counted): the last pair bought only
        // the 24 USDT missing (a fill cheaper than its limit may leave a pair of the minimum).
        assert!(
            counted < target + d("20"),
            "account {id}: {counted} counted, more than the last pair needed"
        );
        let st = h.status(*id).unwrap();
        assert_eq!(
            (st.points.today, st.points.target),
            (12, Some(12)),
            "{st:?}"
        );
        assert_eq!(st.points.mul_point, Some(d("4")));
        assert_eq!(st.points.counted_volume, st.points.real_volume * d("4"));
        let per_point = st.points.cost_per_point_usdt.expect("a cost per point");
        assert!(per_point > Decimal::ZERO, "{st:?}");
        assert!(h.events(*id, "done_for_today", None) >= 1);
    }
    assert_eq!(h.violations(), Vec::<String>::new());
    h.ledger_check();
    h.sup.shutdown(Duration::from_secs(5)).await;
}

/// A token's incentive begins mid-day (the simulator raises KOGE's multiplier from 1 to 4):
/// the account follows the token list, says so in an event, reads the exchange's figure again
/// at the next pair boundary (buys made before it saw the change count x4 there), and buys
/// only what reaches 14 points: a few thousand USDT instead of 16,384, ending at the target.
#[actix_web::test]
async fn a_multiplier_change_mid_day_is_followed_to_the_target() {
    let mut s = settings("KOGE", "100", "100");
    s.daily_target_usdt = None;
    s.daily_target_points = Some(14);
    let sim = sim_with(104, |o| o.volume_uses_mul_point = true).await;
    let h = World::on(sim, &[s], "10000").engine("test-1").await;
    h.start_trading().await;
    let (id, sim_id) = h.accounts[0];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while h.cycles_with(id, Outcome::Filled) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no pair filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("{}/sim/tokens/KOGE", h.sim.base_url());
    let res = awc::Client::default()
        .post(url)
        .send_json(&serde_json::json!({"mul_point": "4"}))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    h.wait_all("reach 14 points", Duration::from_secs(60), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    let st = h.status(id).unwrap();
    assert_eq!(st.points.mul_point, Some(d("4")), "{st:?}");
    assert_eq!(st.points.today, 14, "{st:?}");
    assert!(st.points.real_volume < d("8000"), "{st:?}");
    assert!(h.events(id, "mul_point_changed", None) >= 1);
    // Buys made before the token list was read again (at most a second here) count x4 on the
    // exchange and x1 here until its figure is read again at the next pair boundary: then the
    // last pair is sized to the target.
    let counted = exchange_volume(&h.sim, sim_id);
    assert!(
        counted >= d("16384") && counted < d("16404"),
        "the exchange counts {counted}"
    );
    h.sup.shutdown(Duration::from_secs(5)).await;
}

/// Twenty accounts with `token = "auto"` on a listing with two x4 tokens all go to the cheaper
/// one; when the simulator ends its incentive (x4 to x1) every account moves to the other x4
/// token at its next pair boundary, with an event, and no pair is left behind.
#[actix_web::test]
async fn auto_accounts_move_to_another_x4_token_when_their_incentive_ends() {
    let mut s = settings("auto", "10", "100000");
    s.min_mul_point = d("2");
    let sim = sim_with(105, |o| o.volume_uses_mul_point = true).await;
    sim.state
        .with(|st| st.engine.set_mul_point("KOGE", d("4")))
        .unwrap();
    let h = World::on(sim, &vec![s; 20], "100000")
        .engine("test-1")
        .await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(60), |s| {
        s.state == AccountState::Trading && s.cycles_today >= 1
    })
    .await;
    let on = |id: i64| h.ctx.board.chosen(id).map(|(a, _)| a);
    let first = on(h.accounts[0].0).expect("a token chosen");
    for (id, _) in &h.accounts {
        assert_eq!(
            on(*id).as_ref(),
            Some(&first),
            "every account on the cheapest"
        );
    }
    let other = if first == "ALPHA_22" {
        "ALPHA_396"
    } else {
        "ALPHA_22"
    };
    let res = awc::Client::default()
        .post(format!("{}/sim/tokens/{first}", h.sim.base_url()))
        .send_json(&serde_json::json!({"mul_point": "1"}))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let started = std::time::Instant::now();
    let order_on = |sim_id: u64, alpha: &str| {
        h.sim.state.with(|st| {
            st.engine
                .orders
                .values()
                .any(|o| o.account == sim_id && o.alpha_id == alpha)
        })
    };
    loop {
        let moved = h.accounts.iter().all(|(id, sim_id)| {
            on(*id).as_deref() == Some(other)
                && h.events(*id, "token_switched", None) >= 1
                && order_on(*sim_id, other)
        });
        if moved {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not every account moved to {other}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "20 accounts moved from {first} to {other} in {:?}",
        started.elapsed()
    );
    // No pair abandoned: every account stops with nothing open and books that match.
    h.stop_and_check().await;
}
