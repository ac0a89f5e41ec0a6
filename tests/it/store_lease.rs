//! Leases: claim, renew, expiry, takeover with a higher fencing token, and racing claimants.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alpha_oto::config::database::Backend;
use alpha_oto::store::lease::LeaseCheck;
use alpha_oto::store::{self, Conn, StoreError};
use diesel::{Connection, RunQueryDsl};

use crate::support::{TestDb, backend};

#[test]
fn claim_renew_and_release() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let acc = store::accounts::create(&mut c, "alice", 1).unwrap().id;
    let a = store::lease::claim(&mut c, acc, "host-a", 60_000)
        .unwrap()
        .unwrap();
    assert_eq!((a.owner.as_str(), a.fencing_token), ("host-a", 1));
    assert_eq!(
        store::lease::claim(&mut c, acc, "host-b", 60_000).unwrap(),
        None,
        "held by another owner"
    );

    let renewed = store::lease::renew(&mut c, &a, 120_000).unwrap();
    assert_eq!(
        renewed.fencing_token, a.fencing_token,
        "renewal keeps the token"
    );
    assert!(renewed.expires_at_ms > a.expires_at_ms);

    assert!(store::lease::release(&mut c, &renewed).unwrap());
    assert!(
        !store::lease::release(&mut c, &renewed).unwrap(),
        "already released"
    );
    assert!(matches!(
        store::lease::renew(&mut c, &renewed, 1_000),
        Err(StoreError::LeaseLost { .. })
    ));
    let b = store::lease::claim(&mut c, acc, "host-b", 60_000)
        .unwrap()
        .unwrap();
    assert_eq!(b.fencing_token, 2, "every claim raises the token");
    let row = store::lease::current(&mut c, acc).unwrap().unwrap();
    assert_eq!(
        (row.owner.as_deref(), row.fencing_token),
        (Some("host-b"), 2)
    );
}

#[test]
fn the_same_owner_reclaims_at_once_with_a_new_token() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let acc = store::accounts::create(&mut c, "alice", 1).unwrap().id;
    let first = store::lease::claim(&mut c, acc, "host-a", 60_000)
        .unwrap()
        .unwrap();
    // A restarted instance with the same id takes its account back without waiting for expiry,
    // and whatever the old process still holds is fenced off.
    let second = store::lease::claim(&mut c, acc, "host-a", 60_000)
        .unwrap()
        .unwrap();
    assert!(second.fencing_token > first.fencing_token);
    assert!(matches!(
        store::lease::renew(&mut c, &first, 1_000),
        Err(StoreError::LeaseLost { .. })
    ));
}

#[test]
fn an_expired_lease_is_taken_over_and_the_old_owner_is_fenced_off() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let acc = store::accounts::create(&mut c, "alice", 1).unwrap().id;
    let old = store::lease::claim(&mut c, acc, "host-a", 200)
        .unwrap()
        .unwrap();
    assert_eq!(
        store::lease::claim(&mut c, acc, "host-b", 60_000).unwrap(),
        None
    );
    std::thread::sleep(Duration::from_millis(350));

    let new = store::lease::claim(&mut c, acc, "host-b", 60_000)
        .unwrap()
        .unwrap();
    assert!(
        new.fencing_token > old.fencing_token,
        "takeover raises the fencing token"
    );
    assert!(matches!(
        store::lease::renew(&mut c, &old, 60_000),
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(
        !store::lease::release(&mut c, &old).unwrap(),
        "the old owner cannot release the new lease"
    );
    // The old owner's order intents are refused; the new owner's go through.
    assert!(matches!(
        store::orders::insert_intent(&mut c, &old, &manual_order(acc, "a-1"), true),
        Err(StoreError::LeaseLost { .. })
    ));
    store::orders::insert_intent(&mut c, &new, &manual_order(acc, "b-1"), true).unwrap();
}

#[test]
fn claim_many_wins_the_free_expired_and_own_leases_and_leaves_the_others_held() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let ids: Vec<i64> = (0..5)
        .map(|i| {
            store::accounts::create(&mut c, &format!("acc-{i}"), 1)
                .unwrap()
                .id
        })
        .collect();
    // ids[0]: never claimed; ids[1]: held by host-b; ids[2]: host-b's, expiring;
    // ids[3]: host-a's already; ids[4]: released by host-b.
    store::lease::claim(&mut c, ids[1], "host-b", 60_000)
        .unwrap()
        .unwrap();
    let expiring = store::lease::claim(&mut c, ids[2], "host-b", 100)
        .unwrap()
        .unwrap();
    let own = store::lease::claim(&mut c, ids[3], "host-a", 60_000)
        .unwrap()
        .unwrap();
    let released = store::lease::claim(&mut c, ids[4], "host-b", 60_000)
        .unwrap()
        .unwrap();
    assert!(store::lease::release(&mut c, &released).unwrap());
    std::thread::sleep(Duration::from_millis(250));

    let mut won = store::lease::claim_many(&mut c, &ids, "host-a", 60_000).unwrap();
    won.sort_by_key(|l| l.account_id);
    let won_ids: Vec<i64> = won.iter().map(|l| l.account_id).collect();
    assert_eq!(won_ids, vec![ids[0], ids[2], ids[3], ids[4]]);
    assert!(won.iter().all(|l| l.owner == "host-a"));
    let token = |id: i64| {
        won.iter()
            .find(|l| l.account_id == id)
            .unwrap()
            .fencing_token
    };
    assert_eq!(token(ids[0]), 1, "a first claim starts the token at 1");
    assert!(
        token(ids[2]) > expiring.fencing_token,
        "a takeover fences the old owner"
    );
    assert!(
        token(ids[3]) > own.fencing_token,
        "a re-claim raises the token"
    );
    assert_eq!(
        store::lease::holder(&mut c, ids[1]).unwrap().as_deref(),
        Some("host-b"),
        "a live lease of another owner is left alone"
    );
    assert!(matches!(
        store::lease::renew(&mut c, &expiring, 60_000),
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(
        store::lease::claim_many(&mut c, &[], "host-a", 60_000)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_expired_lease_can_be_neither_renewed_nor_used_even_before_a_takeover() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let acc = store::accounts::create(&mut c, "alice", 1).unwrap().id;
    let lease = store::lease::claim(&mut c, acc, "host-a", 100)
        .unwrap()
        .unwrap();
    store::orders::insert_intent(&mut c, &lease, &manual_order(acc, "a-1"), true).unwrap();
    std::thread::sleep(Duration::from_millis(250));
    assert!(matches!(
        store::orders::insert_intent(&mut c, &lease, &manual_order(acc, "a-2"), true),
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        store::lease::renew(&mut c, &lease, 60_000),
        Err(StoreError::LeaseLost { .. })
    ));
}

fn manual_order(account_id: i64, intent: &str) -> store::models::NewOrder {
    store::models::NewOrder {
        account_id,
        cycle_id: None,
        intent_id: intent.into(),
        role: store::models::OrderRole::Manual,
        exchange_order_id: None,
        order_symbol: "ALPHA_22USDT".into(),
        side: alpha_oto::market::Side::Sell,
        price: "48".parse().unwrap(),
        quantity: "1".parse().unwrap(),
        status: store::models::StoredStatus::Intent,
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

#[test]
fn racing_claimants_get_exactly_one_lease() {
    let db = TestDb::migrated();
    let contenders = 4;
    for round in 0..10 {
        let acc = db
            .store
            .blocking(|c| store::accounts::create(c, &format!("acc{round}"), 1))
            .unwrap()
            .id;
        let barrier = Barrier::new(contenders);
        let won: Vec<Option<store::lease::Lease>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..contenders)
                .map(|i| {
                    let (store, barrier) = (db.store.clone(), &barrier);
                    s.spawn(move || {
                        let mut conn = store.conn().unwrap();
                        barrier.wait();
                        store::lease::claim(&mut conn, acc, &format!("host-{i}"), 60_000).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<_> = won.into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(winners[0].fencing_token, 1);
        let row = db
            .store
            .blocking(|c| store::lease::current(c, acc))
            .unwrap()
            .unwrap();
        assert_eq!(row.owner.as_deref(), Some(winners[0].owner.as_str()));
    }
}

/// On PostgreSQL an instance's writes (each group commit checks several leases) and the
/// batched statements over many leases meet on the same rows: a renewal must not wait for the
/// owner's writes (it used to, and deadlocked with them), and a takeover must neither slip in
/// before such a write commits nor wait for it (it skips the row and tries again).
#[test]
fn on_postgresql_a_renewal_passes_the_owners_writes_and_a_takeover_skips_them() {
    if backend() != Backend::Postgres {
        // SQLite has one writer at a time: nothing runs beside an open write.
        return;
    }
    let db = TestDb::migrated();
    let mut c = db.conn();
    let ids: Vec<i64> = (0..3)
        .map(|i| {
            store::accounts::create(&mut c, &format!("acc-{i}"), 1)
                .unwrap()
                .id
        })
        .collect();
    let live: Vec<_> = ids[..2]
        .iter()
        .map(|id| {
            store::lease::claim(&mut c, *id, "host-a", 60_000)
                .unwrap()
                .unwrap()
        })
        .collect();
    let expiring = store::lease::claim(&mut c, ids[2], "host-a", 400)
        .unwrap()
        .unwrap();

    let (held, release) = (Barrier::new(2), Barrier::new(2));
    let committed = AtomicBool::new(false);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let Conn::Pg(mut pg) = db.conn() else {
                unreachable!("a PostgreSQL test database")
            };
            pg.transaction::<_, StoreError, _>(|t| {
                t.hold(&expiring)?;
                t.hold(&live[0])?;
                // The owner changing the row itself (a release, say): the renewal skips it.
                diesel::sql_query(format!(
                    "UPDATE leases SET claimed_at_ms = claimed_at_ms WHERE account_id = {}",
                    live[1].account_id
                ))
                .execute(t)?;
                held.wait();
                release.wait();
                committed.store(true, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        });
        held.wait();
        let pairs: Vec<(i64, i64)> = live
            .iter()
            .map(|l| (l.account_id, l.fencing_token))
            .collect();
        let renewal = store::lease::renew_held(&mut c, "host-a", &pairs, 60_000).unwrap();
        assert_eq!(renewal.renewed, pairs[..1], "renewed beside the open write");
        assert_eq!(
            renewal.busy,
            pairs[1..],
            "a row the owner is changing is skipped and reported held, not lost"
        );
        assert!(!committed.load(Ordering::SeqCst));

        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(
            store::lease::claim_many(&mut c, &[ids[2]], "host-b", 60_000).unwrap(),
            Vec::new(),
            "an expired lease still locked by its owner's write is skipped, not waited for"
        );
        assert!(!committed.load(Ordering::SeqCst));
        release.wait();
        writer.join().unwrap();
    });
    let taken = store::lease::claim_many(&mut c, &[ids[2]], "host-b", 60_000).unwrap();
    assert_eq!(taken.len(), 1, "taken over once the write has ended");
    assert!(taken[0].fencing_token > expiring.fencing_token);
}
