//! Accounts reach their daily targets: the main job.

use std::time::Duration;

use super::harness::{Harness, settings};

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
        s.state == "done_for_today"
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
        s.state == "done_for_today"
    })
    .await;
    let first: Vec<usize> = h
        .accounts
        .iter()
        .map(|(id, _)| h.cycles_with(*id, "filled"))
        .collect();
    let now = h.clock.now_ms();
    h.clock
        .advance(86_400_000 - now.rem_euclid(86_400_000) + 1_000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for ((id, _), before) in h.accounts.iter().zip(first) {
        loop {
            let after = h.cycles_with(*id, "filled");
            let s = h.status(*id).unwrap();
            if after >= before + 2 && s.state == "done_for_today" {
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
