//! The exchange client against the simulator over real sockets: every endpoint, the OTO life,
//! rejections, faults as typed errors, and the simulator's output against the captured shapes.

use std::collections::BTreeMap;
use std::time::Duration;

use alpha_oto::exchange::error::ExchangeError;
use alpha_oto::exchange::rest::{HistoryQuery, RestClient};
use alpha_oto::exchange::session::Session;
use alpha_oto::exchange::wire::symbols;
use alpha_oto::exchange::wire::trading::{
    OtoPlaceRequest, PaymentDetail, PlaceOrderRequest, WalletType,
};
use alpha_oto::market::{OrderStatus, Side};
use alpha_oto::sim::server::{SimHandle, SimOptions, start};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy::ToZero;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::exchange_wire::same_shape;
use crate::support::d;

async fn sim() -> SimHandle {
    start(SimOptions {
        seed: 11,
        trade_interval: Duration::from_secs(3600),
        ..SimOptions::default()
    })
    .await
    .unwrap()
}

async fn admin(sim: &SimHandle, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = awc::Client::default();
    let url = format!("{}{path}", sim.base_url());
    let req = match method {
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        _ => client.get(url),
    };
    let mut res = match body {
        Some(b) => req.send_json(&b).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    let bytes = res.body().limit(1 << 24).await.unwrap();
    (
        res.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A funded account created through the admin surface, and a client signed in with it.
async fn account(sim: &SimHandle, usdt: &str) -> (u64, RestClient) {
    let (status, created) =
        admin(sim, "POST", "/sim/accounts", Some(json!({ "usdt": usdt }))).await;
    assert_eq!(status, 200, "{created}");
    let headers: BTreeMap<String, SecretString> = created["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                SecretString::from(v.as_str().unwrap().to_owned()),
            )
        })
        .collect();
    let creds = Session::new(
        headers,
        SecretString::from(created["cookies"].as_str().unwrap().to_owned()),
    )
    .unwrap();
    let client = RestClient::new(&sim.base_url(), Duration::from_secs(5)).with_session(&creds);
    (created["id"].as_u64().unwrap(), client)
}

fn oto(base: &str, price: Decimal, qty: &str, pending: Decimal) -> OtoPlaceRequest {
    let q = d(qty);
    OtoPlaceRequest {
        base_asset: base.into(),
        quote_asset: "USDT".into(),
        working_side: Side::Buy,
        working_price: price,
        working_quantity: q,
        payment_details: vec![PaymentDetail {
            amount: (price * q).round_dp_with_strategy(8, ToZero),
            payment_wallet_type: WalletType::Card,
        }],
        pending_price: pending,
        pending_type: Some("LIMIT".into()),
    }
}

async fn set_price(sim: &SimHandle, symbol: &str, price: &str) {
    let (status, body) = admin(
        sim,
        "POST",
        "/sim/price",
        Some(json!({"symbol": symbol, "price": price})),
    )
    .await;
    assert!(status == 204 || status == 200, "{status} {body}");
}

#[actix_web::test]
async fn public_market_data_maps_tokens_and_precisions() {
    let sim = sim().await;
    let client = RestClient::new(&sim.base_url(), Duration::from_secs(5));
    let tokens = client.token_list().await.unwrap();
    assert!(tokens.len() >= 4);
    assert_eq!(client.agg_ticker24().await.unwrap(), tokens);
    assert!(matches!(
        symbols::resolve(&tokens, "ZKJ", None),
        Err(symbols::SymbolError::Ambiguous { .. })
    ));
    let zkj = symbols::resolve(&tokens, "ZKJ", Some("BSC")).unwrap();
    assert_eq!(zkj.order_symbol, "ALPHA_373USDT");
    assert!(tokens.iter().any(|t| t.mul_point == d("4")));
    // Both lists carry every captured field of an entry, with its type, not only those read.
    let captured = crate::exchange_wire_fixture("sep25-agg-ticker24-1");
    assert_eq!(captured["data"][0].as_object().unwrap().len(), 38);
    for path in [
        alpha_oto::exchange::wire::paths::AGG_TICKER24,
        alpha_oto::exchange::wire::paths::TOKEN_LIST,
    ] {
        let raw: Value = awc::Client::default()
            .get(format!("{}{path}", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .limit(1 << 20)
            .await
            .unwrap();
        for entry in raw["data"].as_array().unwrap() {
            same_shape(entry, &captured["data"][0]).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }

    let info = client.exchange_info().await.unwrap();
    let grids: Vec<_> = info
        .symbols
        .iter()
        .map(|s| s.precision().unwrap())
        .map(|p| (p.tick_size, p.step_size))
        .collect();
    assert!(
        grids.windows(2).any(|w| w[0] != w[1]),
        "tokens have different grids"
    );
    let zkj_info = info
        .symbols
        .iter()
        .find(|s| s.symbol == "ALPHA_373USDT")
        .unwrap();
    same_shape(
        &serde_json::to_value(zkj_info).unwrap(),
        &crate::exchange_wire_fixture("cap-exchange-info-1"),
    )
    .unwrap();

    set_price(&sim, "ALPHA_373USDT", "0.25").await;
    assert_eq!(
        client.ticker("ALPHA_373USDT").await.unwrap().last_price,
        d("0.25")
    );
    let trades = client.agg_trades("ALPHA_373USDT", 10).await.unwrap();
    assert_eq!(trades.last().unwrap().price, d("0.25"));
    let book = client.full_depth("ALPHA_373USDT").await.unwrap();
    assert_eq!(
        (book.bids[0].price, book.asks[0].price),
        (d("0.25"), d("0.25000001"))
    );
    assert!(matches!(
        client.ticker("ALPHA_0USDT").await,
        Err(ExchangeError::Rejected { .. })
    ));
    sim.stop().await;
}

#[actix_web::test]
async fn private_calls_need_a_live_session() {
    let sim = sim().await;
    let anonymous = RestClient::new(&sim.base_url(), Duration::from_secs(5));
    assert_eq!(
        anonymous.open_orders(None).await.unwrap_err(),
        ExchangeError::SessionExpired
    );
    let forged = Session::new(
        BTreeMap::new(),
        SecretString::from("p20t=nothing".to_owned()),
    )
    .unwrap();
    let forged = RestClient::new(&sim.base_url(), Duration::from_secs(5)).with_session(&forged);
    assert_eq!(
        forged.user_volume().await.unwrap_err(),
        ExchangeError::SessionExpired
    );

    let (id, client) = account(&sim, "100").await;
    client.probe_session().await.unwrap();
    let (status, _) = admin(
        &sim,
        "POST",
        &format!("/sim/accounts/{id}/expire-session"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        client.probe_session().await.unwrap_err(),
        ExchangeError::SessionExpired
    );
    sim.stop().await;
}

#[actix_web::test]
async fn an_oto_pair_through_its_life_over_the_wire() {
    let sim = sim().await;
    set_price(&sim, "ALPHA_373USDT", "0.22690468").await;
    let (id, client) = account(&sim, "1000").await;
    let placed = client
        .place_oto(&oto("ALPHA_373", d("0.23"), "869.56", d("0.0001")))
        .await
        .unwrap();
    assert_eq!(
        placed.pending_order_id.parse::<u64>().unwrap(),
        placed.working_order_id.parse::<u64>().unwrap() + 1
    );
    assert!(
        client.open_orders(None).await.unwrap().is_empty(),
        "both legs filled at once"
    );

    let q = HistoryQuery {
        statuses: vec!["FILLED", "CANCELED"],
        rows: 50,
        ..HistoryQuery::default()
    };
    let (rows, total) = client.order_history(&q).await.unwrap();
    assert_eq!((rows.len(), total), (2, Some(2)));
    assert_eq!(rows[0].oto_list_id(), rows[1].oto_list_id());
    let pending = rows
        .iter()
        .find(|r| r.order_id == placed.pending_order_id)
        .unwrap();
    assert_eq!(
        (
            pending.contingency_order_position.as_deref(),
            pending.executed_qty
        ),
        (Some("OTO_PENDING"), d("869.47"))
    );
    // The fullest captured row (a plain order's), with the fields of the captured OTO pending
    // row over it (those rows were quoted without their times).
    let mut captured = crate::exchange_wire_fixture("cap-historical-limit-orders-1");
    let oto_row = crate::exchange_wire_fixture("cap-historical-limit-orders-3");
    for (k, v) in oto_row.as_object().unwrap() {
        captured[k] = v.clone();
    }
    same_shape(&serde_json::to_value(pending).unwrap(), &captured).unwrap();

    let trades = client
        .user_trades(&placed.pending_order_id, "ALPHA_373USDT")
        .await
        .unwrap();
    assert_eq!(trades.iter().map(|t| t.qty).sum::<Decimal>(), d("869.47"));
    assert!(
        trades
            .iter()
            .all(|t| t.commission_asset == "USDT" && t.side == Side::Sell)
    );
    let fixture = crate::exchange_wire_fixture("cap-user-trades-1");
    same_shape(
        &serde_json::to_value(&trades[0]).unwrap(),
        &fixture["data"][0],
    )
    .unwrap();

    let volume = client.user_volume().await.unwrap();
    assert_eq!(volume.trade_volume_info_list[0].token_name, "ZKJ");
    assert!(volume.total_volume > d("197") && volume.total_volume < d("198"));
    let wallet = client.alpha_wallet().await.unwrap();
    assert_eq!(wallet.list[0].token_id, "ALPHA_373");
    // Every captured field of a row, with its type (`cexAsset` among them).
    let captured = crate::exchange_wire_fixture("sep25-alpha-wallet-1");
    same_shape(&serde_json::to_value(&wallet).unwrap(), &captured["data"]).unwrap();
    assert_eq!(
        wallet.list[0].free,
        d("0.003044"),
        "the fee dust the pending leg could not sell"
    );
    let usdt = client.wallet_assets().await.unwrap();
    assert_eq!(usdt[0].asset, "USDT");
    assert_eq!(usdt[0].spot.locked, d("0"));

    let (_, view) = admin(&sim, "GET", &format!("/sim/accounts/{id}"), None).await;
    assert_eq!(view["open_orders"], json!([]));
    let (_, ledger) = admin(&sim, "GET", "/sim/ledger", None).await;
    assert_eq!(ledger.as_array().unwrap().len(), 2);
    let (_, violations) = admin(&sim, "GET", "/sim/ledger/violations", None).await;
    assert_eq!(violations, json!([]));
    sim.stop().await;
}

/// The trade list is newest first, as captured (`cap-user-trades-1`: the row with `lastTrade`
/// leads, the pages fall), and one trade id can cover several rows.
#[actix_web::test]
async fn an_orders_trades_are_listed_newest_first() {
    let sim = sim().await;
    sim.state.with(|st| st.engine.cfg.max_pieces = 8);
    set_price(&sim, "ALPHA_373USDT", "0.22690468").await;
    let (_, client) = account(&sim, "1000").await;
    let placed = client
        .place_oto(&oto("ALPHA_373", d("0.23"), "869.56", d("0.0001")))
        .await
        .unwrap();
    let captured = &crate::exchange_wire_fixture("cap-user-trades-1")["data"];
    assert_eq!(captured[0]["lastTrade"], json!(true));
    assert!(captured[0]["pageId"].as_str() > captured[1]["pageId"].as_str());
    let mut shown = 0;
    for leg in [&placed.working_order_id, &placed.pending_order_id] {
        let rows = client.user_trades(leg, "ALPHA_373USDT").await.unwrap();
        assert_eq!(rows[0].last_trade, Some(true), "{rows:?}");
        assert!(
            rows[1..].iter().all(|r| r.last_trade == Some(false)),
            "{rows:?}"
        );
        let pages: Vec<u64> = rows
            .iter()
            .map(|t| t.page_id.as_deref().unwrap().parse().unwrap())
            .collect();
        assert!(pages.windows(2).all(|w| w[0] > w[1]), "{pages:?}");
        shown += rows.len();
    }
    assert!(
        shown >= 3,
        "the legs filled in too few pieces to show an order: {shown}"
    );
    sim.stop().await;
}

#[actix_web::test]
async fn cancels_before_and_after_the_trigger() {
    let sim = sim().await;
    set_price(&sim, "ALPHA_373USDT", "0.22690468").await;
    let (_, client) = account(&sim, "1000").await;
    // Resting working leg: cancelling it kills the pending leg too.
    let resting = client
        .place_oto(&oto("ALPHA_373", d("0.2"), "100", d("0.3")))
        .await
        .unwrap();
    let open = client.open_orders(None).await.unwrap();
    assert_eq!(
        open.iter().map(|o| o.status).collect::<Vec<_>>(),
        [OrderStatus::New, OrderStatus::Pending]
    );
    client
        .cancel(&resting.working_order_id, "ALPHA_373USDT")
        .await
        .unwrap();
    assert!(client.open_orders(None).await.unwrap().is_empty());
    let err = client
        .cancel(&resting.working_order_id, "ALPHA_373USDT")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Rejected { code, .. } if code == "-2011"),
        "{err}"
    );

    // Filled working leg, pending resting above the market: cancel the pending leg itself.
    let live = client
        .place_oto(&oto("ALPHA_373", d("0.23"), "100", d("0.3")))
        .await
        .unwrap();
    let open = client.open_orders(Some(Side::Sell)).await.unwrap();
    assert_eq!(
        (open.len(), open[0].order_id.as_str(), open[0].orig_qty),
        (1, live.pending_order_id.as_str(), d("99.99"))
    );
    client
        .cancel(&live.pending_order_id, "ALPHA_373USDT")
        .await
        .unwrap();
    assert!(client.open_orders(None).await.unwrap().is_empty());

    // A plain sell of the leftover tokens, then cancel-all for a resting buy.
    let sold = client
        .place_order(&PlaceOrderRequest {
            base_asset: "ALPHA_373".into(),
            quote_asset: "USDT".into(),
            side: Side::Sell,
            price: d("0.2"),
            quantity: d("99.99"),
            payment_details: vec![PaymentDetail {
                amount: d("99.99"),
                payment_wallet_type: WalletType::Alpha,
            }],
            order_type: Some("LIMIT".into()),
        })
        .await
        .unwrap();
    assert!(!sold.is_empty());
    // Its history row is a plain order's, as captured: no list, and a working time of 0.
    let q = HistoryQuery {
        statuses: vec!["FILLED", "CANCELED"],
        rows: 50,
        ..HistoryQuery::default()
    };
    let (rows, _) = client.order_history(&q).await.unwrap();
    let plain = serde_json::to_value(rows.iter().find(|r| r.order_id == sold).unwrap()).unwrap();
    let captured = crate::exchange_wire_fixture("cap-historical-limit-orders-1");
    for (key, value) in [("orderListId", json!("-1")), ("workingTime", json!(0))] {
        assert_eq!(captured[key], value, "the capture's {key}");
        assert_eq!(plain[key], value, "{key} of {plain}");
    }
    same_shape(&plain, &captured).unwrap();
    client
        .place_oto(&oto("ALPHA_373", d("0.2"), "10", d("0.3")))
        .await
        .unwrap();
    client.cancel_all().await.unwrap();
    assert!(client.open_orders(None).await.unwrap().is_empty());
    sim.stop().await;
}

#[actix_web::test]
async fn orders_asked_for_by_id_come_from_open_orders_or_from_any_page_of_history() {
    use alpha_oto::actors::exchange_view;
    let sim = sim().await;
    set_price(&sim, "ALPHA_373USDT", "0.22690468").await;
    let (_, client) = account(&sim, "1000").await;
    // 61 pairs that fill at once: 122 rows of history, more than one page.
    let mut done = Vec::new();
    for _ in 0..61 {
        let p = client
            .place_oto(&oto("ALPHA_373", d("0.23"), "10", d("0.0001")))
            .await
            .unwrap();
        done.push(p);
    }
    // A pair whose working leg rests below the market.
    let open = client
        .place_oto(&oto("ALPHA_373", d("0.2"), "10", d("0.3")))
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();

    let ids = vec![open.working_order_id.clone(), open.pending_order_id.clone()];
    let seen = exchange_view::by_ids(&client, &ids, now - 60_000, now)
        .await
        .unwrap();
    assert_eq!(seen.len(), 2, "only the ids asked for: {seen:?}");
    assert_eq!(seen[&ids[0]].status, OrderStatus::New);
    assert_eq!(seen[&ids[1]].status, OrderStatus::Pending);

    // The first and the last of the filled pairs: found whichever page holds them.
    for p in [&done[0], &done[60]] {
        let ids = vec![p.working_order_id.clone(), p.pending_order_id.clone()];
        let seen = exchange_view::by_ids(&client, &ids, now - 60_000, now)
            .await
            .unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(ids.iter().all(|id| seen[id].status == OrderStatus::Filled));
        assert_eq!(seen[&ids[1]].cum_qty, d("9.99"));
    }
    // An id the exchange never gave is simply not there.
    let seen = exchange_view::by_ids(&client, &["999999999".to_owned()], now - 60_000, now)
        .await
        .unwrap();
    assert!(seen.is_empty());
    sim.stop().await;
}

#[actix_web::test]
async fn precision_and_amount_rejections_keep_their_messages() {
    let sim = sim().await;
    let (_, client) = account(&sim, "1000").await;
    let err = client
        .place_oto(&oto("ALPHA_373", d("0.230000001"), "10", d("0.1")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExchangeError::Rejected { message, .. } if message.contains("tick")),
        "{err}"
    );
    let mut wrong = oto("ALPHA_373", d("0.23"), "10", d("0.1"));
    wrong.payment_details[0].amount = d("2.29");
    let err = client.place_oto(&wrong).await.unwrap_err();
    assert_eq!(
        err,
        ExchangeError::Rejected {
            code: "000002".into(),
            message: "workingPrice*workingQuantity must be the same as sum(paymentDetail.amount)"
                .into()
        }
    );
    let err = client
        .place_oto(&oto("ALPHA_373", d("0.23"), "10000", d("0.1")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExchangeError::InsufficientBalance { .. }),
        "{err}"
    );
    sim.stop().await;
}

async fn fault(sim: &SimHandle, spec: Value) {
    assert_eq!(admin(sim, "DELETE", "/sim/faults", None).await.0, 204);
    let (status, body) = admin(sim, "POST", "/sim/faults", Some(spec)).await;
    assert_eq!(status, 204, "{body}");
}

#[actix_web::test]
async fn every_http_fault_reaches_the_client_as_its_typed_error() {
    let sim = sim().await;
    set_price(&sim, "ALPHA_373USDT", "0.22690468").await;
    let (id, client) = account(&sim, "1000").await;
    let pair = oto("ALPHA_373", d("0.2"), "10", d("0.3"));

    fault(&sim, json!({"kind": "http_429", "rate": 1.0})).await;
    assert_eq!(
        client.open_orders(None).await.unwrap_err(),
        ExchangeError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    fault(&sim, json!({"kind": "http_5xx", "rate": 1.0})).await;
    assert!(client.place_oto(&pair).await.unwrap_err().outcome_unknown());
    fault(
        &sim,
        json!({"kind": "two_factor", "rate": 1.0, "account": id}),
    )
    .await;
    assert!(matches!(
        client.place_oto(&pair).await.unwrap_err(),
        ExchangeError::TwoFactorRequired { .. }
    ));

    // Ambiguous: the pair exists although the answer was lost.
    fault(&sim, json!({"kind": "ambiguous_place", "rate": 1.0})).await;
    assert!(client.place_oto(&pair).await.unwrap_err().outcome_unknown());
    assert_eq!(admin(&sim, "DELETE", "/sim/faults", None).await.0, 204);
    assert_eq!(
        client.open_orders(None).await.unwrap().len(),
        2,
        "the lost pair is found by asking"
    );

    let (_, impatient) = account(&sim, "10").await;
    let impatient = impatient;
    fault(&sim, json!({"kind": "slow", "rate": 1.0})).await;
    let short = RestClient::new(&sim.base_url(), Duration::from_millis(300));
    assert!(
        short.token_list().await.unwrap_err().outcome_unknown(),
        "no answer in time"
    );
    assert_eq!(admin(&sim, "DELETE", "/sim/faults", None).await.0, 204);
    impatient.probe_session().await.unwrap();

    fault(
        &sim,
        json!({"kind": "expire_session", "rate": 1.0, "account": id}),
    )
    .await;
    assert_eq!(
        client.user_volume().await.unwrap_err(),
        ExchangeError::SessionExpired
    );
    assert_eq!(admin(&sim, "DELETE", "/sim/faults", None).await.0, 204);
    assert_eq!(
        client.user_volume().await.unwrap_err(),
        ExchangeError::SessionExpired,
        "an expired session stays expired"
    );

    let (status, body) = admin(
        &sim,
        "POST",
        "/sim/faults",
        Some(json!({"kind": "nonsense"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    sim.stop().await;

    // Nobody listening: the request was never sent.
    let gone = RestClient::new(&sim.base_url(), Duration::from_secs(2));
    assert!(matches!(
        gone.token_list().await.unwrap_err(),
        ExchangeError::NotSent(_)
    ));
}

#[actix_web::test]
async fn listen_keys_are_created_kept_alive_and_refused_when_unknown() {
    let sim = sim().await;
    let (_, client) = account(&sim, "10").await;
    let key = client.listen_key().await.unwrap();
    assert_eq!(key.len(), 64);
    assert_eq!(
        client.listen_key().await.unwrap(),
        key,
        "a valid key is reused"
    );
    client.keep_alive(&key).await.unwrap();
    assert!(matches!(
        client.keep_alive("nope").await.unwrap_err(),
        ExchangeError::Rejected { .. }
    ));
    sim.stop().await;
}

#[actix_web::test]
async fn the_private_stream_sends_the_captured_oto_sequence() {
    let sim = sim().await;
    set_price(&sim, "ALPHA_373USDT", "0.22690468").await;
    let (_, client) = account(&sim, "1000").await;
    let key = client.listen_key().await.unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(sim.ws_url("/w3w/stream"))
        .await
        .unwrap();
    let sub = json!({"method": "SUBSCRIBE", "params": [symbols::user_stream(&key)], "id": 2});
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        sub.to_string(),
    ))
    .await
    .unwrap();
    let answer: Value =
        serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(
        answer,
        crate::exchange_wire_fixture("sep25-private-stream-2")
    );

    client
        .place_oto(&oto("ALPHA_373", d("0.23"), "869.56", d("0.0001")))
        .await
        .unwrap();
    let mut reports = Vec::new();
    while reports
        .last()
        .is_none_or(|r: &Value| !(r["cp"] == "OTO_PENDING" && r["X"] == "FILLED"))
    {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let frame: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        assert_eq!(frame["stream"], format!("alpha@{key}"));
        reports.push(frame["data"].clone());
    }
    let fixture =
        |n: u32| crate::exchange_wire_fixture(&format!("sep25-private-stream-{n}"))["data"].clone();
    same_shape(&reports[0], &fixture(3)).unwrap();
    same_shape(&reports[1], &fixture(4)).unwrap();
    assert_eq!(
        (reports[1]["X"].as_str(), reports[1]["q"].as_str()),
        (Some("PENDING"), Some("0"))
    );
    let working_trade = reports
        .iter()
        .find(|r| r["cp"] == "OTO_WORKING" && r["x"] == "TRADE")
        .unwrap();
    same_shape(working_trade, &fixture(5)).unwrap();
    let activated = reports
        .iter()
        .find(|r| r["cp"] == "OTO_PENDING" && r["X"] == "NEW")
        .unwrap();
    same_shape(activated, &fixture(6)).unwrap();
    assert_eq!(activated["q"], "869.47000000");
    // Numbers as captured: 8 decimals, `ap` 9, a zero "0", the first piece of a partial fill
    // an integer when it is one; `E` 12 to 182 ms after `T`.
    for r in &reports {
        for key in ["q", "p", "L", "Y", "Z", "n", "l", "z"] {
            let Some(text) = r[key].as_str() else {
                continue;
            };
            let integral_piece = r["X"] == "PARTIALLY_FILLED" && !text.contains('.');
            assert!(
                text == "0"
                    || integral_piece
                    || text.split_once('.').is_some_and(|(_, f)| f.len() == 8),
                "{key}: {text} in {r}"
            );
        }
        let ap = r["ap"].as_str().unwrap();
        assert!(ap == "0" || ap.split_once('.').unwrap().1.len() == 9, "{r}");
        let lag = r["E"].as_i64().unwrap() - r["T"].as_i64().unwrap();
        assert!((12..=182).contains(&lag), "{r}");
    }
    same_shape(reports.last().unwrap(), &fixture(8)).unwrap();
    sim.stop().await;
}

/// An answer's raw JSON, as the simulator sent it.
async fn raw(method: &str, url: String, headers: &[(&str, &str)], body: Option<Value>) -> Value {
    let client = awc::Client::default();
    let mut req = if method == "POST" {
        client.post(url)
    } else {
        client.get(url)
    };
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut res = match body {
        Some(b) => req.send_json(&b).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    serde_json::from_slice(&res.body().limit(1 << 24).await.unwrap()).unwrap()
}

#[actix_web::test]
async fn the_simulators_answers_have_the_captured_shapes() {
    let sim = sim().await;
    set_price(&sim, "ALPHA_971USDT", "0.000005619").await;
    let creds = sim.state.with(|s| s.engine.create_account(d("100")));
    let csrf = creds.headers["csrftoken"].clone();
    let auth = [
        ("csrftoken", csrf.as_str()),
        ("cookie", creds.cookies.as_str()),
    ];
    let url = |path: &str| format!("{}{path}", sim.base_url());
    let fixture = crate::exchange_wire_fixture;
    let pairs: Vec<(Value, Value)> = vec![
        (
            raw(
                "POST",
                url("/bapi/asset/v1/private/alpha-trade/oto-order/place"),
                &auth,
                Some(fixture("cap-oto-reverse-order-2")),
            )
            .await,
            fixture("cap-oto-reverse-order-3"),
        ),
        (
            raw(
                "GET",
                url("/bapi/defi/v1/private/wallet-direct/buw/wallet/today/user-volume"),
                &[],
                None,
            )
            .await,
            fixture("sep25-user-volume-2"),
        ),
        (
            raw(
                "GET",
                url("/bapi/defi/v1/public/alpha-trade/get-fee-rate?symbol=ALPHA_971USDT"),
                &[],
                None,
            )
            .await["data"]
                .clone(),
            fixture("cap-fee-rate-1")["data"].clone(),
        ),
        (
            raw(
                "GET",
                url("/bapi/defi/v1/public/alpha-trade/fullDepth?symbol=ALPHA_971USDT&limit=1000"),
                &[],
                None,
            )
            .await["data"]
                .clone(),
            fixture("cap-order-book-snapshot-1")["data"].clone(),
        ),
        (
            raw(
                "GET",
                url("/bapi/defi/v1/public/alpha-trade/agg-trades?symbol=ALPHA_971USDT&limit=1"),
                &[],
                None,
            )
            .await["data"][0]
                .clone(),
            fixture("cap-recent-aggregate-trades-1"),
        ),
        (
            raw(
                "POST",
                url("/bapi/defi/v1/private/alpha-trade/get-listen-key"),
                &auth,
                Some(json!({})),
            )
            .await["data"]
                .clone(),
            fixture("cap-listen-key-1")["data"].clone(),
        ),
        (
            raw(
                "GET",
                url("/bapi/defi/v1/private/wallet-direct/buw/wallet/today/user-volume"),
                &auth,
                None,
            )
            .await,
            fixture("sep25-user-volume-1"),
        ),
        (
            raw(
                "GET",
                url("/bapi/defi/v1/private/wallet-direct/cloud-wallet/alpha"),
                &auth,
                None,
            )
            .await,
            fixture("sep25-alpha-wallet-1"),
        ),
    ];
    for (i, (ours, captured)) in pairs.iter().enumerate() {
        same_shape(ours, captured).unwrap_or_else(|e| panic!("answer {i}: {e}\nours: {ours}"));
    }
    sim.stop().await;
}

#[actix_web::test]
async fn browser_headers_are_forwarded_except_the_ones_the_transport_owns() {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(|| {
        App::new().default_service(web::to(|req: HttpRequest| async move {
            let headers: BTreeMap<String, String> = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            HttpResponse::Ok().json(json!({"code": "000000", "data": headers, "success": true}))
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let browser = [
        ("csrftoken", "c5f"),
        ("Device-Info", "eyJ9"),
        ("Host", "www.binance.com"),
        ("Content-Length", "999"),
        ("Cookie", "stale=1"),
        ("accept-encoding", "br"),
        ("connection", "keep-alive"),
    ];
    let creds_of = |pairs: &[(&str, &str)]| {
        let headers = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretString::from((*v).to_owned())))
            .collect();
        Session::new(
            headers,
            SecretString::from("p20t=fresh; lang=en".to_owned()),
        )
    };
    // A pseudo-header is not a valid header name: the credentials refuse it outright.
    assert!(creds_of(&[(":authority", "www.binance.com")]).is_err());
    let creds = creds_of(&browser).unwrap();
    let client =
        RestClient::new(&format!("http://{addr}"), Duration::from_secs(5)).with_session(&creds);
    let echoed: BTreeMap<String, String> =
        serde_json::from_value(client.probe_session().await.unwrap()).unwrap();
    assert_eq!(echoed.get("csrftoken").map(String::as_str), Some("c5f"));
    assert_eq!(echoed.get("device-info").map(String::as_str), Some("eyJ9"));
    assert_eq!(
        echoed.get("cookie").map(String::as_str),
        Some("p20t=fresh; lang=en"),
        "the session's cookie, not a copied header"
    );
    assert_eq!(
        echoed.get("host").map(String::as_str),
        Some(addr.to_string().as_str()),
        "the transport's own host"
    );
    assert_eq!(echoed.get("clienttype").map(String::as_str), Some("web"));
    assert!(!echoed.contains_key("accept-encoding") || echoed["accept-encoding"] != "br");
    assert_ne!(
        echoed.get("content-length").map(String::as_str),
        Some("999")
    );
    handle.stop(false).await;
}
