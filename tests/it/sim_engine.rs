//! The simulator's matching engine, driven directly (no sockets): OTO lives, cancels,
//! rejections, balances, volume, violations and determinism.

use alpha_oto::exchange::wire::stream::ExecutionType;
use alpha_oto::exchange::wire::trading::{
    OtoPlaceRequest, PaymentDetail, PlaceOrderRequest, WalletType,
};
use alpha_oto::market::{OrderStatus, Side};
use alpha_oto::sim::engine::{Engine, FillMode, Matching, SimConfig, SimEvent};
use alpha_oto::sim::error::SimError;
use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy::ToZero;

use crate::support::d;

const T0: i64 = 1_759_043_608_334;

fn oto(base: &str, price: &str, qty: &str, pending: &str) -> OtoPlaceRequest {
    let (p, q) = (d(price), d(qty));
    OtoPlaceRequest {
        base_asset: base.into(),
        quote_asset: "USDT".into(),
        working_side: Side::Buy,
        working_price: p,
        working_quantity: q,
        payment_details: vec![PaymentDetail {
            amount: (p * q).round_dp_with_strategy(8, ToZero),
            payment_wallet_type: WalletType::Card,
        }],
        pending_price: d(pending),
        pending_type: Some("LIMIT".into()),
    }
}

fn limit(base: &str, side: Side, price: &str, qty: &str) -> PlaceOrderRequest {
    let (p, q) = (d(price), d(qty));
    let payment = match side {
        Side::Buy => PaymentDetail {
            amount: (p * q).round_dp_with_strategy(8, ToZero),
            payment_wallet_type: WalletType::Card,
        },
        Side::Sell => PaymentDetail {
            amount: q,
            payment_wallet_type: WalletType::Alpha,
        },
    };
    PlaceOrderRequest {
        base_asset: base.into(),
        quote_asset: "USDT".into(),
        side,
        price: p,
        quantity: q,
        payment_details: vec![payment],
        order_type: Some("LIMIT".into()),
    }
}

fn reports(events: &[SimEvent]) -> Vec<(String, ExecutionType, OrderStatus, Decimal)> {
    events
        .iter()
        .filter_map(|e| match e {
            SimEvent::Execution { report, .. } => Some((
                report.order_id.clone(),
                report.execution_type,
                report.status,
                report.qty,
            )),
            SimEvent::AggTrade { .. } => None,
        })
        .collect()
}

fn balance(e: &Engine, account: u64, asset: &str) -> (Decimal, Decimal) {
    let b = e.accounts[&account]
        .balances
        .get(asset)
        .copied()
        .unwrap_or_default();
    (b.free, b.locked)
}

fn engine() -> Engine {
    let mut e = Engine::new(SimConfig {
        seed: 42,
        ..SimConfig::default()
    });
    e.set_price("ALPHA_373", d("0.22690468"), T0).unwrap();
    e.drain_events();
    e
}

#[test]
fn an_oto_pair_lives_its_whole_life() {
    let mut e = engine();
    let acct = e.create_account(d("1000")).id;
    // Working buy above the ask fills at once at the ask; the pending sell far below the
    // market goes live with the bought quantity less the fee and fills at the bid.
    let ids = e
        .place_oto(acct, &oto("ALPHA_373", "0.23", "869.56", "0.0001"), T0)
        .unwrap();
    let events = e.drain_events();
    let r = reports(&events);
    assert_eq!(
        (r[0].0.as_str(), r[0].1, r[0].2, r[0].3),
        (
            ids.working_order_id.as_str(),
            ExecutionType::New,
            OrderStatus::New,
            d("869.56")
        )
    );
    assert_eq!(
        (r[1].0.as_str(), r[1].2, r[1].3),
        (ids.pending_order_id.as_str(), OrderStatus::Pending, d("0"))
    );
    let working_fills: Vec<_> = r
        .iter()
        .filter(|x| x.0 == ids.working_order_id && x.1 == ExecutionType::Trade)
        .collect();
    assert!(!working_fills.is_empty());
    assert_eq!(working_fills.last().unwrap().2, OrderStatus::Filled);
    let activated = r
        .iter()
        .find(|x| x.0 == ids.pending_order_id && x.2 == OrderStatus::New)
        .unwrap();
    // 869.56 - 0.086956 fee = 869.473044, floored to the 0.01 step.
    assert_eq!(activated.3, d("869.47"));
    assert_eq!(r.last().unwrap().2, OrderStatus::Filled);
    assert_eq!(r.last().unwrap().0, ids.pending_order_id);
    assert!(e.live_pair(acct).is_none(), "a finished pair is not live");

    // Balances: the buy cost bid+tick, the sale paid bid less 0.01 %; the fee dust stays.
    let (ask, bid) = (d("0.22690469"), d("0.22690468"));
    let bought = (ask * d("869.56")).round_dp_with_strategy(8, ToZero);
    let sold = (bid * d("869.47")).round_dp_with_strategy(8, ToZero);
    let (usdt, locked) = balance(&e, acct, "USDT");
    assert_eq!(locked, d("0"));
    let sell_fees: Decimal = e
        .fills
        .iter()
        .filter(|f| f.side == Side::Sell)
        .map(|f| f.commission)
        .sum();
    let sold_quote: Decimal = e
        .fills
        .iter()
        .filter(|f| f.side == Side::Sell)
        .map(|f| f.quote)
        .sum();
    assert!(
        (sold_quote - sold).abs() <= d("0.00000003"),
        "pieces add up to the sale"
    );
    assert_eq!(
        usdt,
        d("1000")
            - e.fills
                .iter()
                .filter(|f| f.side == Side::Buy)
                .map(|f| f.quote)
                .sum::<Decimal>()
            + sold_quote
            - sell_fees
    );
    assert!((usdt - (d("1000") - bought + sold)).abs() < d("0.03"));
    let (dust, dust_locked) = balance(&e, acct, "ALPHA_373");
    assert_eq!(
        (dust, dust_locked),
        (d("869.56") - d("0.086956") - d("869.47"), d("0"))
    );

    let volume = e.volume_today(acct, T0);
    assert_eq!(volume.len(), 1);
    assert_eq!(volume[0].0, "ZKJ");
    assert_eq!(
        volume[0].1,
        e.fills
            .iter()
            .filter(|f| f.side == Side::Buy)
            .map(|f| f.quote)
            .sum::<Decimal>()
    );
    assert!(e.violations().is_empty());
}

#[test]
fn cancelling_the_working_leg_before_it_fills_kills_both_legs() {
    let mut e = engine();
    let acct = e.create_account(d("100")).id;
    let ids = e
        .place_oto(acct, &oto("ALPHA_373", "0.2", "100", "0.25"), T0)
        .unwrap();
    assert_eq!(balance(&e, acct, "USDT"), (d("80"), d("20")));
    assert!(e.live_pair(acct).is_some());
    // The pending leg cannot be cancelled on its own before it goes live.
    assert_eq!(
        e.cancel(acct, &ids.pending_order_id, "ALPHA_373USDT", T0 + 1),
        Err(SimError::UnknownOrder)
    );
    e.drain_events();
    e.cancel(acct, &ids.working_order_id, "ALPHA_373USDT", T0 + 2)
        .unwrap();
    let r = reports(&e.drain_events());
    assert_eq!(
        r.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        [(ExecutionType::Canceled, OrderStatus::Canceled); 2]
    );
    assert_eq!(balance(&e, acct, "USDT"), (d("100"), d("0")));
    assert!(e.live_pair(acct).is_none());
    assert_eq!(
        e.cancel(acct, &ids.working_order_id, "ALPHA_373USDT", T0 + 3),
        Err(SimError::UnknownOrder),
        "already cancelled"
    );
}

#[test]
fn cancelling_a_live_pending_leg_returns_the_tokens() {
    let mut e = engine();
    let acct = e.create_account(d("100")).id;
    let ids = e
        .place_oto(acct, &oto("ALPHA_373", "0.23", "100", "0.3"), T0)
        .unwrap();
    let pending = &e.orders[&ids.pending_order_id.parse::<u64>().unwrap()];
    assert_eq!(
        (pending.status, pending.orig_qty),
        (OrderStatus::New, d("99.99"))
    );
    assert_eq!(balance(&e, acct, "ALPHA_373").1, d("99.99"));
    // The working leg is final: cancelling it is refused; the pending leg is cancelled alone.
    assert_eq!(
        e.cancel(acct, &ids.working_order_id, "ALPHA_373USDT", T0),
        Err(SimError::UnknownOrder)
    );
    e.cancel(acct, &ids.pending_order_id, "ALPHA_373USDT", T0 + 1)
        .unwrap();
    assert_eq!(
        balance(&e, acct, "ALPHA_373"),
        (d("100") - d("0.01"), d("0"))
    );
}

#[test]
fn a_resting_order_fills_at_its_own_price_when_the_market_reaches_it() {
    let mut e = engine();
    let acct = e.create_account(d("100")).id;
    let id: u64 = e
        .place_limit(acct, &limit("ALPHA_373", Side::Buy, "0.2", "100"), T0)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(e.orders[&id].status, OrderStatus::New);
    e.set_price("ALPHA_373USDT", d("0.19999999"), T0 + 1)
        .unwrap();
    let o = &e.orders[&id];
    assert_eq!((o.status, o.cum_quote), (OrderStatus::Filled, d("20")));
    assert!(
        e.fills
            .iter()
            .all(|f| f.order_id != id || f.price == d("0.2"))
    );
    assert_eq!(balance(&e, acct, "USDT"), (d("80"), d("0")));
    assert_eq!(
        balance(&e, acct, "ALPHA_373").0,
        d("99.99"),
        "the buy fee is paid in the token"
    );
}

#[test]
fn bad_orders_are_refused_with_their_messages_and_lock_nothing() {
    let mut e = engine();
    let acct = e.create_account(d("10")).id;
    fn message<T>(r: Result<T, SimError>) -> (&'static str, String) {
        r.map(|_| ()).unwrap_err().code_and_message()
    }
    let (code, msg) = message(e.place_oto(acct, &oto("ALPHA_373", "0.230000001", "10", "0.1"), T0));
    assert!(code == "-1013" && msg.contains("tick"), "{code} {msg}");
    let (_, msg) = message(e.place_oto(acct, &oto("ALPHA_373", "0.23", "10.001", "0.1"), T0));
    assert!(msg.contains("precision"), "{msg}");
    let mut wrong = oto("ALPHA_373", "0.23", "10", "0.1");
    wrong.payment_details[0].amount = d("2.29999999");
    assert_eq!(
        message(e.place_oto(acct, &wrong, T0)),
        (
            "000002",
            "workingPrice*workingQuantity must be the same as sum(paymentDetail.amount)".into()
        )
    );
    wrong.payment_details[0].amount = d("2.300000001");
    assert_eq!(
        message(e.place_oto(acct, &wrong, T0)).1,
        "Order amount must be an integer multiple of the minimum amount movement."
    );
    let (code, _) = message(e.place_oto(acct, &oto("ALPHA_373", "0.23", "100", "0.1"), T0));
    assert_eq!(code, "-2010", "23 USDT is more than the 10 held");
    let (_, msg) = message(e.place_oto(acct, &oto("ALPHA_373", "0.23", "0.01", "0.1"), T0));
    assert!(msg.contains("notional"), "{msg}");
    let (_, msg) = message(e.place_oto(acct, &oto("ALPHA_9999", "0.23", "10", "0.1"), T0));
    assert_eq!(msg, "Invalid symbol.");
    let mut sell_first = oto("ALPHA_373", "0.23", "10", "0.1");
    sell_first.working_side = Side::Sell;
    assert!(e.place_oto(acct, &sell_first, T0).is_err());
    let mut wrong_limit = limit("ALPHA_373", Side::Buy, "0.23", "10");
    wrong_limit.payment_details[0].amount = d("2.3000001");
    assert_eq!(
        message(e.place_limit(acct, &wrong_limit, T0)).1,
        "price*quantity must be the same as sum(paymentDetail.amount)"
    );
    assert_eq!(
        message(e.place_limit(acct, &limit("ALPHA_373", Side::Sell, "0.23", "10"), T0)).0,
        "-2010",
        "no tokens to sell"
    );

    assert_eq!(balance(&e, acct, "USDT"), (d("10"), d("0")));
    assert!(e.orders.is_empty(), "no refused order reaches the ledger");
}

#[test]
fn sessions_authenticate_and_expire() {
    let mut e = engine();
    let creds = e.create_account(d("1"));
    let csrf = creds.headers["csrftoken"].clone();
    assert_eq!(
        e.authenticate(Some(&csrf), Some(&creds.cookies)),
        Ok(creds.id)
    );
    assert_eq!(
        e.authenticate(Some("wrong"), Some(&creds.cookies)),
        Err(SimError::SessionExpired)
    );
    assert_eq!(
        e.authenticate(Some(&csrf), Some("p20t=forged")),
        Err(SimError::SessionExpired)
    );
    assert_eq!(
        e.authenticate(Some(&csrf), None),
        Err(SimError::SessionExpired)
    );
    e.expire_session(creds.id).unwrap();
    assert_eq!(
        e.authenticate(Some(&csrf), Some(&creds.cookies)),
        Err(SimError::SessionExpired)
    );
}

#[test]
fn the_simulator_sees_two_live_pairs_and_orders_left_after_a_stop() {
    let mut e = engine();
    let acct = e.create_account(d("100")).id;
    e.place_oto(acct, &oto("ALPHA_373", "0.2", "10", "0.3"), T0)
        .unwrap();
    assert!(e.violations().is_empty());
    e.place_oto(acct, &oto("ALPHA_373", "0.2", "10", "0.3"), T0 + 1)
        .unwrap();
    assert_eq!(
        e.violations().iter().map(|v| v.kind).collect::<Vec<_>>(),
        ["two_live_pairs"]
    );
    e.mark_stopped(acct, T0 + 2).unwrap();
    let kinds: Vec<_> = e.violations().iter().map(|v| v.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "open_after_stop").count(),
        4,
        "{kinds:?}"
    );
    e.cancel_all(acct, T0 + 3);
    assert_eq!(
        e.violations().len(),
        1,
        "cancelled orders are no longer open"
    );
}

/// A scripted scenario: accounts, pairs, walks, cancels. Returns the ledger and the events.
fn scenario(seed: u64) -> (String, Vec<String>) {
    let mut e = Engine::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    let mut log = Vec::new();
    let a = e.create_account(d("1000")).id;
    let b = e.create_account(d("1000")).id;
    let t = e.token_index("ALPHA_373").unwrap();
    for round in 0..20_i64 {
        let now = T0 + round * 1000;
        let price = e.tokens[t].ask();
        let qty = "50";
        let r = oto(
            "ALPHA_373",
            &price.to_string(),
            qty,
            &(price - d("0.001")).to_string(),
        );
        let _ = e.place_oto(if round % 2 == 0 { a } else { b }, &r, now);
        e.tick(t, now + 500);
        e.cancel_all(a, now + 900);
        for ev in e.drain_events() {
            log.push(match ev {
                SimEvent::Execution {
                    account, report, ..
                } => format!(
                    "{account} {} {:?} {:?} {} {} {}",
                    report.order_id,
                    report.execution_type,
                    report.status,
                    report.last_qty,
                    report.last_price,
                    report.trade_id
                ),
                SimEvent::AggTrade { stream, event } => {
                    format!("{stream} {} {} {}", event.id, event.price, event.qty)
                }
            });
        }
    }
    (
        serde_json::to_string(&e.orders.values().collect::<Vec<_>>()).unwrap(),
        log,
    )
}

#[test]
fn the_same_seed_gives_the_same_ledger_and_events() {
    let (ledger1, events1) = scenario(7);
    let (ledger2, events2) = scenario(7);
    assert_eq!(ledger1, ledger2);
    assert_eq!(events1, events2);
    assert!(events1.len() > 40);
    let (ledger3, _) = scenario(8);
    assert_ne!(ledger1, ledger3, "another seed walks another market");
}

#[test]
fn volume_counts_buys_only_and_mul_point_when_configured() {
    for (mul, want) in [(false, d("10")), (true, d("40"))] {
        let mut e = Engine::new(SimConfig {
            seed: 1,
            volume_uses_mul_point: mul,
            ..SimConfig::default()
        });
        e.set_price("ALPHA_396", d("0.9999"), T0).unwrap();
        let acct = e.create_account(d("100")).id;
        // LIGHT has mulPoint 4. Buy 10 USDT at 1.0 (the ask), then sell it all back.
        e.place_limit(acct, &limit("ALPHA_396", Side::Buy, "1", "10"), T0)
            .unwrap();
        let held = e.accounts[&acct].balances["ALPHA_396"].free;
        let held = (held * d("100")).round_dp_with_strategy(0, ToZero) / d("100");
        e.place_limit(
            acct,
            &limit("ALPHA_396", Side::Sell, "0.9", &held.to_string()),
            T0,
        )
        .unwrap();
        let v = e.volume_today(acct, T0);
        assert_eq!(v, [("LIGHT".to_owned(), want)], "mulPoint applied: {mul}");
        // The next UTC day starts from zero.
        assert!(e.volume_today(acct, T0 + 86_400_000).is_empty());
    }
}

fn auction_engine(fill: FillMode) -> Engine {
    let mut e = Engine::new(SimConfig {
        seed: 42,
        fill,
        matching: Matching::Auction { every_ms: 500 },
        ..SimConfig::default()
    });
    e.set_price("ALPHA_373", d("0.22690468"), T0).unwrap();
    e.drain_events();
    e
}

/// ALPHA_373's bid: the price of an auction in the market mode.
fn walk_bid(e: &Engine) -> Decimal {
    e.tokens
        .iter()
        .find(|t| t.alpha_id == "ALPHA_373")
        .unwrap()
        .bid()
}

/// Trade reports as (order id, quantity, price).
fn trades(events: &[SimEvent]) -> Vec<(String, Decimal, Decimal)> {
    events
        .iter()
        .filter_map(|e| match e {
            SimEvent::Execution { report, .. } if report.is_trade() => {
                Some((report.order_id.clone(), report.last_qty, report.last_price))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn in_auction_mode_orders_wait_and_one_auction_fills_them_together_at_one_price() {
    let mut e = auction_engine(FillMode::Market);
    let (a, b) = (
        e.create_account(d("1000")).id,
        e.create_account(d("1000")).id,
    );
    let pa = e
        .place_oto(a, &oto("ALPHA_373", "0.23", "100", "0.0001"), T0)
        .unwrap();
    let pb = e
        .place_oto(b, &oto("ALPHA_373", "0.2275", "50", "0.0001"), T0 + 10)
        .unwrap();
    assert!(
        trades(&e.drain_events()).is_empty(),
        "nothing trades before the auction"
    );

    e.auction(T0 + 500);
    let first = trades(&e.drain_events());
    let walk = walk_bid(&e);
    assert_eq!(
        first,
        vec![
            (pa.working_order_id.clone(), d("100"), walk),
            (pb.working_order_id.clone(), d("50"), walk),
        ],
        "both buys, at the one price, in one auction"
    );
    // The sells went live with this auction; they trade in the next one.
    e.auction(T0 + 1000);
    let second: Vec<String> = trades(&e.drain_events()).into_iter().map(|t| t.0).collect();
    assert_eq!(second, vec![pa.pending_order_id, pb.pending_order_id]);
    assert!(e.violations().is_empty(), "{:?}", e.violations());
}

#[test]
fn an_accounts_own_crossing_orders_trade_only_their_net_and_the_rest_waits() {
    let mut e = auction_engine(FillMode::Market);
    let acct = e.create_account(d("1000")).id;
    e.place_limit(acct, &limit("ALPHA_373", Side::Buy, "0.23", "200"), T0)
        .unwrap();
    e.auction(T0 + 500);
    e.drain_events();
    // Now a buy of 100 above the market and a sell of 60 below it: the net, 40, is bought.
    let buy = e
        .place_limit(
            acct,
            &limit("ALPHA_373", Side::Buy, "0.23", "100"),
            T0 + 600,
        )
        .unwrap();
    let sell = e
        .place_limit(acct, &limit("ALPHA_373", Side::Sell, "0.2", "60"), T0 + 610)
        .unwrap();
    e.auction(T0 + 1000);
    let walk = walk_bid(&e);
    assert_eq!(
        trades(&e.drain_events()),
        vec![(buy.clone(), d("40"), walk)]
    );
    let status = |e: &Engine, id: &str| {
        let o = &e.orders[&id.parse::<u64>().unwrap()];
        (o.status, o.executed_qty)
    };
    assert_eq!(status(&e, &buy), (OrderStatus::PartiallyFilled, d("40")));
    assert_eq!(status(&e, &sell), (OrderStatus::New, d("0")), "retained");
    // 60 against 60: nothing trades, both wait for a counterparty.
    e.auction(T0 + 1500);
    assert!(trades(&e.drain_events()).is_empty());
    assert_eq!(status(&e, &sell), (OrderStatus::New, d("0")));
    assert!(e.violations().is_empty());
}

#[test]
fn two_accounts_matched_in_one_auction_are_a_cross_account_violation() {
    let mut e = auction_engine(FillMode::Market);
    let (a, b) = (
        e.create_account(d("1000")).id,
        e.create_account(d("1000")).id,
    );
    e.place_limit(b, &limit("ALPHA_373", Side::Buy, "0.23", "100"), T0)
        .unwrap();
    e.auction(T0 + 500);
    e.place_limit(a, &limit("ALPHA_373", Side::Buy, "0.23", "10"), T0 + 600)
        .unwrap();
    e.place_limit(b, &limit("ALPHA_373", Side::Sell, "0.2", "10"), T0 + 610)
        .unwrap();
    e.auction(T0 + 1000);
    let v = e.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0].kind, v[0].account), ("cross_account_match", a));
}

#[test]
fn with_the_market_meeting_every_order_an_auction_picks_the_price_that_trades_the_most() {
    let mut e = auction_engine(FillMode::AtOnce { hold_ms: 0 });
    let accounts: Vec<u64> = (0..3).map(|_| e.create_account(d("1000")).id).collect();
    for (i, a) in accounts.iter().enumerate() {
        e.place_oto(
            *a,
            &oto("ALPHA_373", "0.2269", "10", "0.2281"),
            T0 + i as i64,
        )
        .unwrap();
    }
    // Three buys at 0.2269: the auction's price is theirs (no sell is live yet).
    e.auction(T0 + 500);
    let first = trades(&e.drain_events());
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|t| t.2 == d("0.2269")), "{first:?}");
    // Then the three sells at 0.2281, at their price: never below a sell's limit.
    e.auction(T0 + 1000);
    let second = trades(&e.drain_events());
    assert_eq!(second.len(), 3);
    assert!(second.iter().all(|t| t.2 == d("0.2281")), "{second:?}");
}
