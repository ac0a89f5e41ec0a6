//! The cross-account guard across instances, where it lives: in the transaction that stores an
//! intent (`store::crossing`), on whichever backend this run uses.

use alpha_oto::config::database::Backend;
use alpha_oto::domain::cycle::Outcome;
use alpha_oto::market::Side;
use alpha_oto::store::lease::Lease;
use alpha_oto::store::models::*;
use alpha_oto::store::{self, Conn, StoreError};
use diesel::RunQueryDsl;

use crate::support::{TestDb, account_with_lease, backend, d};

const SYMBOL: &str = "ALPHA_22USDT";

fn pair(account_id: i64, token: i64, intent: &str, buy: &str, sell: &str) -> NewCycle {
    NewCycle {
        account_id,
        intent_id: intent.to_owned(),
        fencing_token: token,
        state: CycleState::Placing,
        order_symbol: SYMBOL.into(),
        buy_price: d(buy),
        sell_price: d(sell),
        quantity: d("1"),
        payment_amount: d("1"),
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

/// Stores a pair's intent with the check across instances on.
fn store_pair(
    c: &mut Conn,
    lease: &Lease,
    account_id: i64,
    intent: &str,
    buy: &str,
    sell: &str,
) -> Result<(CycleRow, Vec<OrderRow>), StoreError> {
    store::cycles::insert_intent(
        c,
        lease,
        &pair(account_id, lease.fencing_token, intent, buy, sell),
        true,
    )
}

fn sale(account_id: i64, intent: &str, price: &str) -> NewOrder {
    NewOrder {
        account_id,
        cycle_id: None,
        intent_id: intent.into(),
        role: OrderRole::Liquidation,
        exchange_order_id: None,
        order_symbol: SYMBOL.into(),
        side: Side::Sell,
        price: d(price),
        quantity: d("1"),
        status: StoredStatus::Intent,
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

fn crossed<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    match r {
        Err(StoreError::Crossed) => true,
        Ok(_) => false,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn an_intent_that_would_cross_another_instances_account_is_not_stored() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (a, lease_a) = account_with_lease(&mut c, "on-one", "instance-1");
    let (b, lease_b) = account_with_lease(&mut c, "on-two", "instance-2");
    let (b2, lease_b2) = account_with_lease(&mut c, "also-on-two", "instance-2");
    let (b3, lease_b3) = account_with_lease(&mut c, "third-on-two", "instance-2");
    // Instance 1's pair rests: a buy at 1.00, its sell at 0.99.
    store_pair(&mut c, &lease_a, a, "a-1", "1.00", "0.99").unwrap();
    // Instance 2's pair would buy from that sell and sell to that buy: not stored.
    let r = store_pair(&mut c, &lease_b, b, "b-1", "1.00", "0.99");
    assert!(crossed(r));
    assert!(
        store::cycles::live(&mut c, b).unwrap().is_none(),
        "nothing of it was written"
    );
    // A pair that crosses neither side is stored.
    store_pair(&mut c, &lease_b, b, "b-2", "0.98", "1.01").unwrap();
    // A sale at or under instance 1's buy would trade with it; one above does not.
    assert!(crossed(store::orders::insert_intent(
        &mut c,
        &lease_b2,
        &sale(b2, "s-1", "1.00"),
        true
    )));
    store::orders::insert_intent(&mut c, &lease_b2, &sale(b2, "s-2", "1.02"), true).unwrap();
    // The same instance's accounts are the in-memory guard's business, not this one's: b's
    // open pair does not hold back b2.
    store_pair(&mut c, &lease_b2, b2, "b2-1", "0.98", "1.01").unwrap();
    // Switched off, the check is not made.
    let off = pair(b3, lease_b3.fencing_token, "b3-1", "1.00", "0.99");
    store::cycles::insert_intent(&mut c, &lease_b3, &off, false).unwrap();
}

#[test]
fn a_lone_instance_reads_nothing_and_ended_orders_hold_nothing_back() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (a, lease_a) = account_with_lease(&mut c, "first", "instance-1");
    let (b, lease_b) = account_with_lease(&mut c, "second", "instance-1");
    store_pair(&mut c, &lease_a, a, "a-1", "1.00", "0.99").unwrap();
    // One instance: the store does not check (its accounts share the in-memory book).
    store_pair(&mut c, &lease_b, b, "b-1", "1.00", "0.99").unwrap();
    // Another instance's account whose orders all ended holds nothing back.
    let (x, lease_x) = account_with_lease(&mut c, "elsewhere", "instance-2");
    for o in store::orders::open_for_account(&mut c, a).unwrap() {
        store::orders::update_status(&mut c, o.id, StoredStatus::Canceled, d("0"), d("0"), 2)
            .unwrap();
    }
    for o in store::orders::open_for_account(&mut c, b).unwrap() {
        store::orders::update_status(&mut c, o.id, StoredStatus::Filled, d("1"), d("1"), 2)
            .unwrap();
    }
    store_pair(&mut c, &lease_x, x, "x-1", "1.00", "0.99").unwrap();
}

#[test]
fn on_postgresql_a_token_whose_check_another_transaction_holds_waits_instead_of_blocking() {
    if backend() != Backend::Postgres {
        return;
    }
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (_, _) = account_with_lease(&mut c, "there", "instance-1");
    let (b, lease_b) = account_with_lease(&mut c, "here", "instance-2");
    // Another connection is inside a transaction that checked the token.
    let mut other = db.conn();
    let store::Conn::Pg(pg) = &mut other else {
        panic!("a PostgreSQL connection");
    };
    diesel::sql_query("BEGIN").execute(pg).unwrap();
    diesel::sql_query(format!(
        "SELECT pg_advisory_xact_lock(hashtext('alpha-oto crossing {SYMBOL}'))"
    ))
    .execute(pg)
    .unwrap();
    let r = store_pair(&mut c, &lease_b, b, "b-1", "1", "1.1");
    assert!(crossed(r), "answered at once, not waited for");
    diesel::sql_query("COMMIT").execute(pg).unwrap();
    store_pair(&mut c, &lease_b, b, "b-2", "1", "1.1").unwrap();
}

#[test]
fn an_account_held_back_by_another_instance_gets_its_turn_once_its_wish_is_old_enough() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (a, lease_a) = account_with_lease(&mut c, "busy", "instance-1");
    let (a2, lease_a2) = account_with_lease(&mut c, "busy-too", "instance-1");
    let (b, lease_b) = account_with_lease(&mut c, "waiting", "instance-2");
    let theirs = alpha_oto::domain::crossing::Footprint::pair(d("1.00"), d("0.99"));
    store::crossing::wish(&mut c, "instance-2", b, SYMBOL, theirs).unwrap();
    // A young wish holds nothing back.
    let young = pair(a, lease_a.fencing_token, "a-1", "1.00", "0.99");
    store::cycles::insert_intent(&mut c, &lease_a, &young, true).unwrap();
    for o in store::orders::open_for_account(&mut c, a).unwrap() {
        store::orders::update_status(&mut c, o.id, StoredStatus::Filled, d("1"), d("1"), 2)
            .unwrap();
    }
    let cycle = store::cycles::live(&mut c, a).unwrap().unwrap();
    let done = CycleProgress {
        state: CycleState::Closed,
        bought_qty: d("1"),
        sold_qty: d("1"),
        volume_usdt: d("1"),
        fees_usdt: d("0"),
    };
    store::cycles::close(&mut c, cycle.id, Outcome::Filled, &done, 3).unwrap();
    // Renewed 3 s later (here: its start moved back), it has its turn: the other instance's
    // crossing pair waits, one that does not cross goes.
    store::crossing::wish(&mut c, "instance-2", b, SYMBOL, theirs).unwrap();
    age_wish(&mut c, b, 3_500);
    let crossing = pair(a, lease_a.fencing_token, "a-2", "1.00", "0.99");
    assert!(crossed(store::cycles::insert_intent(
        &mut c, &lease_a, &crossing, true
    )));
    let apart = pair(a, lease_a.fencing_token, "a-3", "0.98", "1.01");
    store::cycles::insert_intent(&mut c, &lease_a, &apart, true).unwrap();
    // The waiting account's own pair is stored and its wish granted: nothing waits for it
    // any more.
    let own = pair(b, lease_b.fencing_token, "b-1", "0.97", "1.05");
    store::cycles::insert_intent(&mut c, &lease_b, &own, true).unwrap();
    let again = pair(a2, lease_a2.fencing_token, "a2-1", "1.00", "0.99");
    store::cycles::insert_intent(&mut c, &lease_a2, &again, true).unwrap();
}

/// Moves the start of an account's wish `ms` back.
fn age_wish(c: &mut store::Conn, account: i64, ms: i64) {
    let q = format!(
        "UPDATE crossing_wishes SET since_ms = since_ms - {ms} WHERE account_id = {account}"
    );
    let n = match c {
        store::Conn::Sqlite(c) => diesel::sql_query(q).execute(c),
        store::Conn::Pg(c) => diesel::sql_query(q).execute(c),
    };
    assert_eq!(n.unwrap(), 1);
}

#[test]
fn of_two_accounts_held_back_by_each_other_the_one_that_waited_longer_goes_first() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (a, lease_a) = account_with_lease(&mut c, "longer", "instance-1");
    let (b, _) = account_with_lease(&mut c, "shorter", "instance-2");
    let fp = alpha_oto::domain::crossing::Footprint::pair(d("1.00"), d("0.99"));
    store::crossing::wish(&mut c, "instance-2", b, SYMBOL, fp).unwrap();
    age_wish(&mut c, b, 3_500);
    store::crossing::wish(&mut c, "instance-1", a, SYMBOL, fp).unwrap();
    // a's own wish is younger: b's holds it back.
    let first = pair(a, lease_a.fencing_token, "a-1", "1.00", "0.99");
    assert!(crossed(store::cycles::insert_intent(
        &mut c, &lease_a, &first, true
    )));
    // Older than b's, a's wish goes first.
    age_wish(&mut c, a, 5_000);
    let again = pair(a, lease_a.fencing_token, "a-2", "1.00", "0.99");
    store::cycles::insert_intent(&mut c, &lease_a, &again, true).unwrap();
}
