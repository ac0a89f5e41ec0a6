//! Every query function, on whichever backend this run uses (the same code runs on both).

use alpha_oto::domain::cycle::Outcome;
use alpha_oto::domain::shown::AccountState;
use alpha_oto::market::Side;
use alpha_oto::store::models::*;
use alpha_oto::store::{self, StoreError};
use diesel::RunQueryDsl;

use crate::support::{TestDb, account_with_lease, d};

fn new_cycle(account_id: i64, token: i64, intent: &str, now: i64) -> NewCycle {
    NewCycle {
        account_id,
        intent_id: intent.to_owned(),
        fencing_token: token,
        state: CycleState::Placing,
        order_symbol: "ALPHA_971USDT".into(),
        buy_price: d("0.000005619"),
        sell_price: d("0.0000058"),
        quantity: d("1779676"),
        payment_amount: d("9.99999944"),
        created_at_ms: now,
        updated_at_ms: now,
    }
}

/// Alice, her lease, and one pair's intent stored under it (intent `i-1`).
fn alice_with_a_pair(c: &mut store::Conn) -> (i64, store::lease::Lease, CycleRow, Vec<OrderRow>) {
    let (acc, lease) = account_with_lease(c, "alice", "host-a");
    let (cycle, legs) = store::cycles::insert_intent(
        c,
        &lease,
        &new_cycle(acc, lease.fencing_token, "i-1", 100),
        true,
    )
    .unwrap();
    (acc, lease, cycle, legs)
}

fn config_row(account_id: i64) -> TradingConfigRow {
    TradingConfigRow {
        account_id,
        token: "KOGE".into(),
        chain: Some("56".into()),
        order_usdt: d("10"),
        daily_target_usdt: d("65536.00000001"),
        buy_offset_mode: OffsetMode::Percent,
        buy_offset_value: d("0.1"),
        sell_offset_mode: OffsetMode::Amount,
        sell_offset_value: d("-0.000000001"),
        order_timeout_s: 300,
        pending_timeout_s: 120,
        volatility_pct: d("2"),
        cost_budget_bps: d("15"),
        leftover_floor_pct: d("3"),
        auto_resume: false,
        webhook_url: Some("https://hooks.example/alpha".into()),
        revision: 0,
        updated_at_ms: 5,
        daily_target_points: None,
        max_hold_loss_pct: d("5"),
        min_mul_point: d("2"),
        token_allow: String::new(),
        token_switch_min_s: 3600,
    }
}

#[test]
fn accounts_create_find_list_state_and_delete() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let a = store::accounts::create(&mut c, "alice", 10).unwrap();
    assert_eq!(
        (a.name.as_str(), a.state, a.created_at_ms),
        ("alice", AccountState::Stopped, 10)
    );
    let b = store::accounts::create(&mut c, "bob", 11).unwrap();
    assert!(
        store::accounts::create(&mut c, "alice", 12)
            .unwrap_err()
            .is_conflict()
    );

    assert_eq!(store::accounts::get(&mut c, a.id).unwrap(), a);
    assert_eq!(
        store::accounts::find_by_name(&mut c, "bob").unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store::accounts::find_by_name(&mut c, "carol").unwrap(),
        None
    );
    let names: Vec<_> = store::accounts::list(&mut c)
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    let paused =
        store::accounts::set_state(&mut c, a.id, AccountState::Paused, Some("stream_lost"), 20)
            .unwrap();
    assert_eq!(
        (
            paused.state,
            paused.pause_reason.as_deref(),
            paused.updated_at_ms
        ),
        (AccountState::Paused, Some("stream_lost"), 20)
    );
    assert!(matches!(
        store::accounts::get(&mut c, 9_999),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store::accounts::set_state(&mut c, 9_999, AccountState::Idle, None, 1),
        Err(StoreError::NotFound(_))
    ));

    // Deleting cascades to what the account owns; its audit events stay, with its name.
    store::configs::upsert(&mut c, &config_row(a.id)).unwrap();
    store::lease::claim(&mut c, a.id, "host-a", 60_000)
        .unwrap()
        .unwrap();
    let ev = store::events::append(&mut c, &event(Some(a.id), "account-created", 1)).unwrap();
    assert!(store::accounts::delete(&mut c, a.id).unwrap());
    assert!(!store::accounts::delete(&mut c, a.id).unwrap());
    assert_eq!(store::configs::get(&mut c, a.id).unwrap(), None);
    assert_eq!(store::lease::current(&mut c, a.id).unwrap(), None);
    let kept = store::events::list(&mut c, None, Page::first(10)).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (
            kept[0].id,
            kept[0].account_id,
            kept[0].account_name.as_deref()
        ),
        (ev.id, None, Some("alice"))
    );
}

#[test]
fn trading_config_round_trips_exact_decimals_and_counts_revisions() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let a = store::accounts::create(&mut c, "alice", 1).unwrap();
    assert_eq!(store::configs::get(&mut c, a.id).unwrap(), None);
    let first = store::configs::upsert(&mut c, &config_row(a.id)).unwrap();
    assert_eq!(first.revision, 1);
    assert_eq!(first.daily_target_usdt, d("65536.00000001"));
    assert_eq!(first.sell_offset_value, d("-0.000000001"));
    assert_eq!(
        store::configs::get(&mut c, a.id).unwrap(),
        Some(first.clone())
    );

    let mut changed = config_row(a.id);
    changed.order_usdt = d("25.5");
    changed.auto_resume = true;
    changed.webhook_url = None;
    let second = store::configs::upsert(&mut c, &changed).unwrap();
    assert_eq!(
        (
            second.revision,
            second.order_usdt,
            second.auto_resume,
            second.webhook_url
        ),
        (2, d("25.5"), true, None)
    );
    // A config for an account that does not exist is refused by the foreign key.
    assert!(
        store::configs::upsert(&mut c, &config_row(a.id + 100))
            .unwrap_err()
            .is_conflict()
    );
}

/// A points target is stored and read back as a points target: the USDT field is not read.
#[test]
fn a_points_target_round_trips_and_a_usdt_target_replaces_it() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let a = store::accounts::create(&mut c, "pia", 1).unwrap();
    let mut s = store::configs::from_row(&config_row(a.id)).unwrap();
    s.daily_target_usdt = None;
    s.daily_target_points = Some(15);
    let row = store::configs::upsert(&mut c, &store::configs::to_row(&s, a.id, 7)).unwrap();
    let back = store::configs::from_row(&row).unwrap();
    assert_eq!(
        (back.daily_target_usdt, back.daily_target_points),
        (None, Some(15))
    );
    assert_eq!(back, s);
    s.daily_target_points = None;
    s.daily_target_usdt = Some(d("300"));
    let row = store::configs::upsert(&mut c, &store::configs::to_row(&s, a.id, 8)).unwrap();
    let back = store::configs::from_row(&row).unwrap();
    assert_eq!(
        (back.daily_target_usdt, back.daily_target_points),
        (Some(d("300")), None)
    );
}

#[test]
fn token_mappings_and_precisions_upsert_and_read() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let m = |alpha: &str, chain: &str, at| TokenMapping {
        alpha_id: alpha.into(),
        symbol: "KOGE".into(),
        chain_id: chain.into(),
        contract_address: Some(format!("0x{alpha}")),
        fetched_at_ms: at,
    };
    store::tokens::upsert_mapping(&mut c, &m("ALPHA_22", "56", 1)).unwrap();
    store::tokens::upsert_mapping(&mut c, &m("ALPHA_373", "8453", 1)).unwrap();
    store::tokens::upsert_mapping(&mut c, &m("ALPHA_22", "56", 2)).unwrap();
    let all = store::tokens::mappings_by_symbol(&mut c, "KOGE").unwrap();
    assert_eq!(
        all.iter()
            .map(|m| (m.alpha_id.as_str(), m.fetched_at_ms))
            .collect::<Vec<_>>(),
        [("ALPHA_22", 2), ("ALPHA_373", 1)]
    );
    assert_eq!(
        store::tokens::mapping(&mut c, "ALPHA_373").unwrap(),
        Some(m("ALPHA_373", "8453", 1))
    );
    assert!(
        store::tokens::mappings_by_symbol(&mut c, "NOPE")
            .unwrap()
            .is_empty()
    );

    let p = TokenPrecision {
        order_symbol: "ALPHA_971USDT".into(),
        tick_size: d("0.000000001"),
        step_size: d("0.10"),
        min_qty: d("0.10"),
        max_qty: d("9999999999"),
        min_notional: d("0.1"),
        fetched_at_ms: 7,
    };
    store::tokens::upsert_precision(&mut c, &p).unwrap();
    let got = store::tokens::precision(&mut c, "ALPHA_971USDT")
        .unwrap()
        .unwrap();
    assert_eq!(got, p);
    assert_eq!(got.step_size.to_string(), "0.1", "stored in canonical form");
    store::tokens::upsert_precision(
        &mut c,
        &TokenPrecision {
            fetched_at_ms: 8,
            ..p.clone()
        },
    )
    .unwrap();
    assert_eq!(
        store::tokens::precision(&mut c, "ALPHA_971USDT")
            .unwrap()
            .unwrap()
            .fetched_at_ms,
        8
    );
    assert_eq!(
        store::tokens::precision(&mut c, "ALPHA_1USDT").unwrap(),
        None
    );
}

#[test]
fn a_cycle_intent_writes_both_legs_and_only_one_cycle_is_open_per_account() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (acc, lease, cycle, legs) = alice_with_a_pair(&mut c);
    assert_eq!(cycle.payment_amount, d("9.99999944"));
    assert_eq!(legs.len(), 2);
    // The rows answered are built, not read back: they must be what the table holds.
    assert_eq!(store::cycles::get(&mut c, cycle.id).unwrap(), cycle);
    assert_eq!(store::orders::for_cycle(&mut c, cycle.id).unwrap(), legs);
    assert_eq!(
        (
            legs[0].role,
            legs[0].side,
            legs[0].status,
            legs[0].intent_id.as_str()
        ),
        (OrderRole::Working, Side::Buy, StoredStatus::Intent, "i-1:w")
    );
    assert_eq!(
        (legs[1].role, legs[1].side, legs[1].price),
        (OrderRole::Pending, Side::Sell, d("0.0000058"))
    );

    // A second open pair for the same account is impossible, as is reusing an intent id.
    let err = store::cycles::insert_intent(
        &mut c,
        &lease,
        &new_cycle(acc, lease.fencing_token, "i-2", 101),
        true,
    )
    .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        store::orders::list(&mut c, acc, Page::first(10))
            .unwrap()
            .len(),
        2,
        "the refused intent left nothing"
    );

    store::cycles::set_exchange_ids(
        &mut c,
        cycle.id,
        "176849327",
        "176849328",
        Some("89863105"),
        110,
    )
    .unwrap();
    let placed = store::cycles::get(&mut c, cycle.id).unwrap();
    assert_eq!(
        (
            placed.working_order_id.as_deref(),
            placed.pending_order_id.as_deref(),
            placed.order_list_id.as_deref()
        ),
        (Some("176849327"), Some("176849328"), Some("89863105"))
    );
    assert_eq!(
        store::cycles::set_exchange_ids(&mut c, cycle.id + 1_000, "1", "2", None, 111)
            .unwrap_err()
            .to_string(),
        StoreError::NotFound("cycle").to_string(),
        "ids for a cycle that does not exist are refused"
    );
    let legs = store::orders::for_cycle(&mut c, cycle.id).unwrap();
    assert_eq!(
        legs.iter()
            .map(|o| (o.exchange_order_id.as_deref(), o.status))
            .collect::<Vec<_>>(),
        [
            (Some("176849327"), StoredStatus::New),
            (Some("176849328"), StoredStatus::Pending)
        ]
    );

    let progress = CycleProgress {
        state: CycleState::Placed,
        bought_qty: d("1779676"),
        sold_qty: d("0"),
        volume_usdt: d("9.99999944"),
        fees_usdt: d("0.00099999"),
    };
    let p = store::cycles::record_progress(&mut c, cycle.id, &progress, 120).unwrap();
    assert_eq!(
        (p.bought_qty, p.volume_usdt, p.closed_at_ms),
        (d("1779676"), d("9.99999944"), None)
    );
    assert_eq!(
        store::cycles::live(&mut c, acc).unwrap().map(|c| c.id),
        Some(cycle.id)
    );

    let done = CycleProgress {
        state: CycleState::Closed,
        sold_qty: d("1779676"),
        volume_usdt: d("20.1"),
        ..progress
    };
    let closed = store::cycles::close(&mut c, cycle.id, Outcome::Filled, &done, 130).unwrap();
    assert_eq!(
        (closed.outcome, closed.closed_at_ms, closed.volume_usdt),
        (Some(Outcome::Filled), Some(130), d("20.1"))
    );
    assert!(matches!(
        store::cycles::close(&mut c, cycle.id, Outcome::Filled, &done, 131),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store::cycles::live(&mut c, acc).unwrap(), None);
    assert_eq!(store::cycles::get(&mut c, cycle.id).unwrap(), closed);

    // With the first closed, the next pair may open.
    let (next, _) = store::cycles::insert_intent(
        &mut c,
        &lease,
        &new_cycle(acc, lease.fencing_token, "i-3", 140),
        true,
    )
    .unwrap();
    let listed = store::cycles::list(&mut c, acc, Page::first(10)).unwrap();
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        [next.id, cycle.id]
    );
    let older = store::cycles::list(
        &mut c,
        acc,
        Page {
            before_id: Some(next.id),
            limit: 10,
        },
    )
    .unwrap();
    assert_eq!(older.iter().map(|c| c.id).collect::<Vec<_>>(), [cycle.id]);
}

#[test]
fn an_intent_under_a_stale_fencing_token_is_refused() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (acc, lease) = account_with_lease(&mut c, "alice", "host-a");
    let stale = store::lease::Lease {
        fencing_token: lease.fencing_token - 1,
        ..lease.clone()
    };
    let err = store::cycles::insert_intent(
        &mut c,
        &stale,
        &new_cycle(acc, stale.fencing_token, "i-1", 1),
        true,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    // A cycle that names another token than its lease is refused before any write.
    let err = store::cycles::insert_intent(
        &mut c,
        &lease,
        &new_cycle(acc, lease.fencing_token + 5, "i-1", 1),
        true,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert_eq!(store::cycles::live(&mut c, acc).unwrap(), None);
}

fn liquidation(acc: i64, intent: &str) -> NewOrder {
    NewOrder {
        account_id: acc,
        cycle_id: None,
        intent_id: intent.into(),
        role: OrderRole::Liquidation,
        exchange_order_id: None,
        order_symbol: "ALPHA_971USDT".into(),
        side: Side::Sell,
        price: d("0.0000055"),
        quantity: d("12.3"),
        status: StoredStatus::Intent,
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

#[test]
fn orders_move_forward_and_never_back_from_a_final_status() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (acc, lease) = account_with_lease(&mut c, "alice", "host-a");
    let o = store::orders::insert_intent(&mut c, &lease, &liquidation(acc, "liq-1"), true).unwrap();
    assert_eq!(store::orders::get(&mut c, o.id).unwrap(), o);
    assert!(
        store::orders::insert_intent(&mut c, &lease, &liquidation(acc, "liq-1"), true)
            .unwrap_err()
            .is_conflict()
    );

    let placed = store::orders::set_placed(&mut c, o.id, "51481849", StoredStatus::New, 2).unwrap();
    assert_eq!(
        (placed.exchange_order_id.as_deref(), placed.status),
        (Some("51481849"), StoredStatus::New)
    );
    assert_eq!(
        store::orders::by_exchange_id(&mut c, "51481849")
            .unwrap()
            .map(|o| o.id),
        Some(o.id)
    );
    assert_eq!(store::orders::by_exchange_id(&mut c, "1").unwrap(), None);

    // One exchange order id can belong to one row only.
    let other =
        store::orders::insert_intent(&mut c, &lease, &liquidation(acc, "liq-2"), true).unwrap();
    assert!(
        store::orders::set_placed(&mut c, other.id, "51481849", StoredStatus::New, 3)
            .unwrap_err()
            .is_conflict()
    );

    let part = store::orders::update_status(
        &mut c,
        o.id,
        StoredStatus::PartiallyFilled,
        d("5"),
        d("0.0000275"),
        4,
    )
    .unwrap();
    assert_eq!(
        (part.status, part.filled_qty),
        (StoredStatus::PartiallyFilled, d("5"))
    );
    let open: Vec<_> = store::orders::open_for_account(&mut c, acc)
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(open, [o.id, other.id]);

    let filled = store::orders::update_status(
        &mut c,
        o.id,
        StoredStatus::Filled,
        d("12.3"),
        d("0.00006765"),
        5,
    )
    .unwrap();
    assert_eq!(filled.status, StoredStatus::Filled);
    // A late NEW report after the fill changes nothing.
    let late =
        store::orders::update_status(&mut c, o.id, StoredStatus::New, d("0"), d("0"), 6).unwrap();
    assert_eq!(late, filled);
    assert_eq!(store::orders::get(&mut c, o.id).unwrap(), filled);
    let open: Vec<_> = store::orders::open_for_account(&mut c, acc)
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(open, [other.id]);

    let page = store::orders::list(&mut c, acc, Page::first(1)).unwrap();
    assert_eq!(page.iter().map(|o| o.id).collect::<Vec<_>>(), [other.id]);
    let rest = store::orders::list(
        &mut c,
        acc,
        Page {
            before_id: Some(other.id),
            limit: 5,
        },
    )
    .unwrap();
    assert_eq!(rest.iter().map(|o| o.id).collect::<Vec<_>>(), [o.id]);
    assert!(matches!(
        store::orders::get(&mut c, 9_999),
        Err(StoreError::NotFound(_))
    ));
}

fn fill(
    acc: i64,
    order_id: i64,
    trade: &str,
    cum: &str,
    qty: &str,
    quote: &str,
    at: i64,
) -> NewFill {
    NewFill {
        account_id: acc,
        order_id,
        exchange_order_id: "51481849".into(),
        trade_id: trade.into(),
        cum_qty: d(cum),
        side: Side::Sell,
        price: d("0.22690468"),
        qty: d(qty),
        quote_qty: d(quote),
        fee: d("0.0001"),
        fee_asset: "USDT".into(),
        traded_at_ms: at,
        recorded_at_ms: at + 1,
    }
}

#[test]
fn fills_are_recorded_once_and_volume_is_exact() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (acc, lease) = account_with_lease(&mut c, "alice", "host-a");
    let o = store::orders::insert_intent(&mut c, &lease, &liquidation(acc, "liq-1"), true).unwrap();
    assert!(
        store::fills::record(&mut c, &fill(acc, o.id, "798492", "5", "5", "0.1", 1_000)).unwrap()
    );
    // The same report again (the stream repeats, or a reconciliation replays it): ignored.
    assert!(
        !store::fills::record(&mut c, &fill(acc, o.id, "798492", "5", "5", "0.1", 1_000)).unwrap()
    );
    assert!(
        !store::fills::record(
            &mut c,
            &fill(acc, o.id, "798492", "5.00", "5", "0.1", 1_000)
        )
        .unwrap()
    );
    // A second piece with the same trade id but a new cumulative quantity is a real fill.
    assert!(
        store::fills::record(
            &mut c,
            &fill(acc, o.id, "798492", "12.3", "7.3", "0.2", 2_000)
        )
        .unwrap()
    );
    assert_eq!(store::fills::for_order(&mut c, o.id).unwrap().len(), 2);

    let v = store::fills::volume_between(&mut c, acc, 0, 10_000).unwrap();
    assert_eq!(
        v,
        store::fills::StoredVolume {
            quote: d("0.3"),
            buy_quote: d("0"),
            sell_quote: d("0.3"),
            fees_usdt: d("0.0002"),
            trades: 2
        },
        "0.1 + 0.2 is exactly 0.3"
    );
    assert_eq!(
        v.cost(),
        d("-0.2998"),
        "sales bring money in; fees take it out"
    );
    assert_eq!(
        store::fills::volume_between(&mut c, acc, 1_001, 2_000)
            .unwrap()
            .trades,
        0,
        "the range is half-open"
    );
    assert_eq!(
        store::fills::volume_between(&mut c, acc, 2_000, 2_001)
            .unwrap()
            .quote,
        d("0.2")
    );

    let newest = store::fills::list(&mut c, acc, Page::first(1)).unwrap();
    assert_eq!(newest[0].cum_qty, d("12.3"));
    let older = store::fills::list(
        &mut c,
        acc,
        Page {
            before_id: Some(newest[0].id),
            limit: 10,
        },
    )
    .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].trade_id, "798492");
}

#[test]
fn a_corrupt_stored_decimal_is_an_error_not_a_panic() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (acc, lease) = account_with_lease(&mut c, "alice", "host-a");
    let o = store::orders::insert_intent(&mut c, &lease, &liquidation(acc, "liq-1"), true).unwrap();
    let sql = format!("UPDATE orders SET price = 'twelve' WHERE id = {}", o.id);
    match &mut c {
        store::Conn::Sqlite(x) => diesel::sql_query(sql).execute(&mut **x).unwrap(),
        store::Conn::Pg(x) => diesel::sql_query(sql).execute(&mut **x).unwrap(),
    };
    let err = store::orders::get(&mut c, o.id).unwrap_err();
    assert!(err.to_string().contains("twelve"), "{err}");
}

fn event(account_id: Option<i64>, kind: &str, at: i64) -> NewEvent {
    NewEvent {
        account_id,
        account_name: account_id.map(|_| "alice".to_owned()),
        kind: kind.into(),
        level: EventLevel::Warn,
        reason: Some("stream_lost".into()),
        actor: "daemon".into(),
        message: "private stream silent for 30 s".into(),
        data: r#"{"silent_s":30}"#.into(),
        webhook_status: WebhookStatus::Pending,
        created_at_ms: at,
    }
}

#[test]
fn events_append_page_and_track_webhooks() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let a = store::accounts::create(&mut c, "alice", 1).unwrap();
    let e1 = store::events::append(&mut c, &event(Some(a.id), "paused", 10)).unwrap();
    let e2 = store::events::append(&mut c, &event(None, "halt", 11)).unwrap();
    let e3 = store::events::append(
        &mut c,
        &NewEvent {
            webhook_status: WebhookStatus::None,
            ..event(Some(a.id), "resumed", 12)
        },
    )
    .unwrap();
    let bad = NewEvent {
        data: "[1,2]".into(),
        ..event(None, "x", 1)
    };
    assert!(matches!(
        store::events::append(&mut c, &bad),
        Err(StoreError::Corrupt { .. })
    ));

    let ids = |v: Vec<EventRow>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store::events::list(&mut c, None, Page::first(10)).unwrap()),
        [e3.id, e2.id, e1.id]
    );
    assert_eq!(
        ids(store::events::list(&mut c, Some(a.id), Page::first(10)).unwrap()),
        [e3.id, e1.id]
    );
    assert_eq!(
        ids(store::events::list(
            &mut c,
            Some(a.id),
            Page {
                before_id: Some(e3.id),
                limit: 10
            }
        )
        .unwrap()),
        [e1.id]
    );

    assert_eq!(
        ids(store::events::webhook_pending(&mut c, 10).unwrap()),
        [e1.id, e2.id]
    );
    store::events::set_webhook_status(&mut c, e1.id, WebhookStatus::Sent).unwrap();
    assert_eq!(
        ids(store::events::webhook_pending(&mut c, 10).unwrap()),
        [e2.id]
    );
    assert!(matches!(
        store::events::set_webhook_status(&mut c, 9_999, WebhookStatus::Sent),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn credential_rows_put_get_replace_and_delete() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let a = store::accounts::create(&mut c, "alice", 1).unwrap();
    let row = |key: &str, byte: u8| CredentialRow {
        account_id: a.id,
        key_id: key.into(),
        headers_ct: vec![byte; 40],
        cookies_ct: vec![byte, 0, 255],
        updated_at_ms: 3,
        expires_at_ms: Some(i64::from(byte) * 1000),
    };
    assert_eq!(store::credentials::get(&mut c, a.id).unwrap(), None);
    store::credentials::put(&mut c, &row("k1", 1)).unwrap();
    store::credentials::put(&mut c, &row("k1", 2)).unwrap();
    assert_eq!(
        store::credentials::get(&mut c, a.id).unwrap(),
        Some(row("k1", 2))
    );
    assert_eq!(
        store::credentials::ids_not_under_key(&mut c, "k2").unwrap(),
        [a.id]
    );
    assert!(
        store::credentials::ids_not_under_key(&mut c, "k1")
            .unwrap()
            .is_empty()
    );

    assert!(
        !store::credentials::replace_if_key(&mut c, &row("k2", 3), "k0").unwrap(),
        "wrong expected key"
    );
    assert!(store::credentials::replace_if_key(&mut c, &row("k2", 3), "k1").unwrap());
    // A re-sealing keeps the expiry the credentials were stored with.
    assert_eq!(
        store::credentials::get(&mut c, a.id).unwrap(),
        Some(CredentialRow {
            expires_at_ms: Some(2000),
            ..row("k2", 3)
        })
    );
    assert!(store::credentials::delete(&mut c, a.id).unwrap());
    assert_eq!(store::credentials::get(&mut c, a.id).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_callers_run_units_of_work_off_the_runtime_threads() {
    let db = TestDb::migrated();
    let created = db
        .store
        .run(|c| store::accounts::create(c, "alice", 1))
        .await
        .unwrap();
    let found = db
        .store
        .run(|c| store::accounts::find_by_name(c, "alice"))
        .await
        .unwrap();
    assert_eq!(found, Some(created));
    let many = (0..16).map(|i| {
        let s = db.store.clone();
        tokio::spawn(async move {
            s.run(move |c| store::accounts::create(c, &format!("acc{i}"), 2))
                .await
        })
    });
    for h in many {
        h.await.unwrap().unwrap();
    }
    assert_eq!(db.store.run(store::accounts::list).await.unwrap().len(), 17);
}

#[test]
fn account_settings_survive_the_database_round_trip() {
    use alpha_oto::domain::settings::AccountSettings;
    let db = TestDb::migrated();
    let mut c = db.conn();
    let a = store::accounts::create(&mut c, "alice", 1).unwrap();
    let settings: AccountSettings = serde_json::from_value(serde_json::json!({
        "token": "ZKJ", "chain": "BSC", "order_usdt": "12.5", "daily_target_usdt": "4096.00000001",
        "buy_offset": {"mode": "percent", "value": "0.5"},
        "sell_offset": {"mode": "amount", "value": "-0.000000001"},
        "webhook_url": "https://hooks.example/alpha", "auto_resume": true
    }))
    .unwrap();
    settings.validate().unwrap();
    store::configs::upsert(&mut c, &store::configs::to_row(&settings, a.id, 5)).unwrap();
    let row = store::configs::get(&mut c, a.id).unwrap().unwrap();
    assert_eq!(store::configs::from_row(&row).unwrap(), settings);
    let broken = TradingConfigRow {
        order_timeout_s: -5,
        ..row
    };
    assert_eq!(
        store::configs::from_row(&broken).unwrap_err().field,
        "order_timeout_s"
    );
}

/// An execution step is stored whole: new fills (a replayed one is skipped), the order's
/// status and cumulative fill; a final status is never moved back.
#[test]
fn an_execution_is_recorded_at_once_and_replays_change_nothing() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (acc, lease) = account_with_lease(&mut c, "alice", "host-a");
    let o = store::orders::insert_intent(&mut c, &lease, &liquidation(acc, "liq-1"), true).unwrap();
    let pieces = [
        fill(acc, o.id, "798492", "5", "5", "0.1", 1_000),
        fill(acc, o.id, "798493", "12.3", "7.3", "0.2", 1_001),
    ];
    let step = |fills, status, qty: &str, quote: &str| store::fills::Execution {
        fills,
        order_id: o.id,
        status,
        filled_qty: d(qty),
        filled_quote: d(quote),
        progress: None,
        now_ms: 2_000,
    };
    let fresh =
        store::fills::record_execution(&mut c, &step(&pieces, StoredStatus::Filled, "12.3", "0.3"))
            .unwrap();
    assert_eq!(fresh, vec![true, true]);
    // The same report again, as a late PARTIALLY_FILLED: nothing new, the status stays final.
    let fresh = store::fills::record_execution(
        &mut c,
        &step(&pieces[..1], StoredStatus::PartiallyFilled, "12.3", "0.3"),
    )
    .unwrap();
    assert_eq!(fresh, vec![false]);
    let row = store::orders::get(&mut c, o.id).unwrap();
    assert_eq!(
        (row.status, row.filled_qty),
        (StoredStatus::Filled, d("12.3"))
    );
    assert_eq!(store::fills::for_order(&mut c, o.id).unwrap().len(), 2);

    // A step of an order that does not exist is refused, and stores none of its fills.
    let stray = [fill(acc, o.id, "798494", "1", "1", "0.1", 1_002)];
    let err = store::fills::record_execution(
        &mut c,
        &store::fills::Execution {
            order_id: 9_999,
            ..step(&stray, StoredStatus::Filled, "1", "0.1")
        },
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("order")), "{err}");
    assert_eq!(store::fills::for_order(&mut c, o.id).unwrap().len(), 2);
}

/// Inside a caller's transaction (`Tx::Enclosing`) the writes open no savepoint of their own:
/// the caller's undo takes them all back, and a missing row is still an error.
#[test]
fn writes_in_the_callers_transaction_are_undone_with_it() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (_, _, cycle, legs) = alice_with_a_pair(&mut c);
    let filled = store::orders::OrderProgress {
        status: StoredStatus::Filled,
        filled_qty: d("1779676"),
        filled_quote: d("9.99999944"),
        now_ms: 120,
    };
    let ids = store::cycles::PairIds {
        working: "51",
        pending: "52",
        list: None,
    };
    let undone = store::atomic(&mut c, |c| {
        store::cycles::set_exchange_ids_as(c, store::Tx::Enclosing, cycle.id, ids, 110)?;
        store::orders::update_status_as(c, store::Tx::Enclosing, legs[0].id, filled)?;
        store::orders::update_status_as(c, store::Tx::Enclosing, 9_999, filled)
    })
    .unwrap_err();
    assert!(matches!(undone, StoreError::NotFound("order")), "{undone}");
    assert_eq!(store::cycles::get(&mut c, cycle.id).unwrap(), cycle);
    assert_eq!(store::orders::for_cycle(&mut c, cycle.id).unwrap(), legs);

    store::atomic(&mut c, |c| {
        store::cycles::set_exchange_ids_as(c, store::Tx::Enclosing, cycle.id, ids, 110)?;
        store::orders::update_status_as(c, store::Tx::Enclosing, legs[0].id, filled)
    })
    .unwrap();
    let buy = store::orders::get(&mut c, legs[0].id).unwrap();
    assert_eq!(
        (buy.exchange_order_id.as_deref(), buy.status, buy.filled_qty),
        (Some("51"), StoredStatus::Filled, d("1779676"))
    );
    // A late open status after the final one moves nothing.
    let late = store::orders::OrderProgress {
        status: StoredStatus::New,
        filled_qty: d("0"),
        filled_quote: d("0"),
        now_ms: 130,
    };
    store::orders::update_status_as(&mut c, store::Tx::Own, legs[0].id, late).unwrap();
    assert_eq!(store::orders::get(&mut c, legs[0].id).unwrap(), buy);
}

/// The SQL texts of the statements a connection prepares and keeps, as it does so.
fn watch_cache(c: &mut store::Conn) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use diesel::connection::{Connection, InstrumentationEvent};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let watch = move |e: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::CacheQuery { sql, .. } = e {
            log.lock().unwrap().push(sql.to_owned());
        }
    };
    match c {
        store::Conn::Sqlite(s) => s.set_instrumentation(watch),
        store::Conn::Pg(p) => p.set_instrumentation(watch),
    }
    seen
}

#[test]
fn the_updates_of_a_pair_are_prepared_once_and_kept_for_the_next_pair() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let (acc, lease) = account_with_lease(&mut c, "alice", "host-a");
    let cached = watch_cache(&mut c);
    let mut one_pair = |n: i64| {
        let intent = format!("i-{n}");
        let (cycle, legs) = store::cycles::insert_intent(
            &mut c,
            &lease,
            &new_cycle(acc, lease.fencing_token, &intent, 100 + n),
            true,
        )
        .unwrap();
        store::cycles::set_exchange_ids(
            &mut c,
            cycle.id,
            &format!("{n}1"),
            &format!("{n}2"),
            None,
            110 + n,
        )
        .unwrap();
        let progress = CycleProgress {
            state: CycleState::Placed,
            bought_qty: d("1"),
            sold_qty: d("0"),
            volume_usdt: d("0.5"),
            fees_usdt: d("0"),
        };
        let filled = [fill(
            acc,
            legs[0].id,
            &format!("{n}1"),
            "1",
            "1",
            "0.5",
            120 + n,
        )];
        store::fills::record_execution(
            &mut c,
            &store::fills::Execution {
                fills: &filled,
                order_id: legs[0].id,
                status: StoredStatus::Filled,
                filled_qty: d("1"),
                filled_quote: d("0.5"),
                progress: Some((cycle.id, &progress)),
                now_ms: 120 + n,
            },
        )
        .unwrap();
        let sold = store::orders::OrderProgress {
            status: StoredStatus::Filled,
            filled_qty: d("1"),
            filled_quote: d("0.6"),
            now_ms: 130 + n,
        };
        store::orders::update_status_as(&mut c, store::Tx::Own, legs[1].id, sold).unwrap();
        assert!(
            store::cycles::mark_closed(&mut c, cycle.id, Outcome::Filled, &progress, 140 + n)
                .unwrap()
        );
    };
    // The fill's insert is one too (an upsert, which diesel does not keep by itself).
    let updates = |all: &[String]| {
        all.iter()
            .filter(|s| s.starts_with("UPDATE") || (s.starts_with("INSERT") && s.contains("fills")))
            .count()
    };
    one_pair(1);
    let first = updates(&cached.lock().unwrap());
    assert!(
        first >= 6,
        "the first pair prepares its updates (ids, legs, status, progress, close) and its fill's insert: {:?}",
        cached.lock().unwrap()
    );
    one_pair(2);
    one_pair(3);
    assert_eq!(
        updates(&cached.lock().unwrap()),
        first,
        "later pairs prepare no update again: {:?}",
        cached.lock().unwrap()
    );
}
