//! The stream client against the simulator's WebSockets: many symbols on one connection, the
//! private stream, refused keys, reconnects after drops, staleness, and backoff.

use std::time::Duration;

use alpha_oto::exchange::stream::{self, StreamConfig, StreamEvent};
use alpha_oto::exchange::wire::paths;
use alpha_oto::exchange::wire::stream::{AggTradeEvent, ExecutionReport, ExecutionType};
use alpha_oto::exchange::wire::symbols;
use alpha_oto::sim::server::{SimHandle, SimOptions, start};
use serde_json::json;
use tokio::sync::mpsc::Receiver;

use crate::support::d;

async fn sim() -> SimHandle {
    start(SimOptions {
        seed: 3,
        trade_interval: Duration::from_secs(3600),
        ..SimOptions::default()
    })
    .await
    .unwrap()
}

fn fast(url: String) -> StreamConfig {
    StreamConfig {
        url,
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        healthy_after: Duration::from_secs(60),
        stale_after: Duration::from_millis(600),
        ping_every: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(2),
    }
}

/// The next event that `pick` accepts (others are skipped), within 5 s.
async fn next_matching<T>(
    rx: &mut Receiver<StreamEvent>,
    mut pick: impl FnMut(&StreamEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("no matching stream event in 5 s")
            .expect("stream ended");
        if let Some(t) = pick(&event) {
            return t;
        }
    }
}

fn price(sim: &SimHandle, symbol: &str, p: &str) {
    sim.state
        .with(|s| {
            s.engine
                .set_price(symbol, d(p), alpha_oto::sim::state::now_ms())
        })
        .unwrap();
}

async fn subscribed(rx: &mut Receiver<StreamEvent>) -> Vec<String> {
    next_matching(rx, |e| match e {
        StreamEvent::Subscribed { streams } => Some(streams.clone()),
        _ => None,
    })
    .await
}

async fn trade(rx: &mut Receiver<StreamEvent>) -> (String, AggTradeEvent) {
    next_matching(rx, |e| match e {
        StreamEvent::Frame { stream, data } => {
            Some((stream.clone(), serde_json::from_str(data).unwrap()))
        }
        _ => None,
    })
    .await
}

#[actix_web::test]
async fn one_public_connection_carries_many_symbols() {
    let sim = sim().await;
    let (zkj, nex) = (
        symbols::agg_trade_stream("ALPHA_373").unwrap(),
        symbols::agg_trade_stream("ALPHA_971").unwrap(),
    );
    let (handle, mut rx) = stream::spawn(
        fast(sim.ws_url(paths::PUBLIC_STREAM)),
        vec![zkj.clone(), nex.clone()],
    );
    next_matching(&mut rx, |e| {
        matches!(e, StreamEvent::Connected { .. }).then_some(())
    })
    .await;
    assert_eq!(subscribed(&mut rx).await.len(), 2);

    price(&sim, "ALPHA_373USDT", "0.3");
    price(&sim, "ALPHA_971USDT", "0.000006");
    let (s1, t1) = trade(&mut rx).await;
    let (s2, t2) = trade(&mut rx).await;
    assert_eq!((s1.as_str(), t1.price), (zkj.as_str(), d("0.3")));
    assert_eq!(
        (s2.as_str(), t2.price, t2.symbol.as_str()),
        (nex.as_str(), d("0.000006"), "ALPHA_971USDT")
    );

    handle.unsubscribe(vec![nex.clone()]);
    // Requests on one connection are handled in order: once a later subscribe is confirmed,
    // the unsubscribe has landed. Then NEX moves first, ZKJ second, and the next frame must be
    // ZKJ's.
    handle.subscribe(vec![zkj.clone()]);
    assert_eq!(subscribed(&mut rx).await, vec![zkj.clone()]);
    price(&sim, "ALPHA_971USDT", "0.000007");
    price(&sim, "ALPHA_373USDT", "0.31");
    let (s3, t3) = trade(&mut rx).await;
    assert_eq!((s3.as_str(), t3.price), (zkj.as_str(), d("0.31")));
    handle.close();
    sim.stop().await;
}

#[actix_web::test]
async fn the_private_stream_delivers_execution_reports_and_refuses_bad_keys() {
    let sim = sim().await;
    let creds = sim.state.with(|s| s.engine.create_account(d("100")));
    let key = sim
        .state
        .with(|s| s.listen_key(creds.id, alpha_oto::sim::state::now_ms()));
    let user = symbols::user_stream(&key);
    let (_handle, mut rx) =
        stream::spawn(fast(sim.ws_url(paths::PRIVATE_STREAM)), vec![user.clone()]);
    assert_eq!(subscribed(&mut rx).await, vec![user.clone()]);

    price(&sim, "ALPHA_373USDT", "0.2269");
    sim.state.with(|s| {
        let p = d("0.2");
        let req = alpha_oto::exchange::wire::trading::OtoPlaceRequest {
            base_asset: "ALPHA_373".into(),
            quote_asset: "USDT".into(),
            working_side: alpha_oto::market::Side::Buy,
            working_price: p,
            working_quantity: d("10"),
            payment_details: vec![alpha_oto::exchange::wire::trading::PaymentDetail {
                amount: p * d("10"),
                payment_wallet_type: alpha_oto::exchange::wire::trading::WalletType::Card,
            }],
            pending_price: d("0.3"),
            pending_type: None,
        };
        s.engine
            .place_oto(creds.id, &req, alpha_oto::sim::state::now_ms())
            .unwrap()
    });
    let first: ExecutionReport = next_matching(&mut rx, |e| match e {
        StreamEvent::Frame { stream, data } if *stream == user => {
            Some(serde_json::from_str(data).unwrap())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        (first.execution_type, first.contingency_position.as_deref()),
        (ExecutionType::New, Some("OTO_WORKING"))
    );

    let (_bad, mut bad_rx) = stream::spawn(
        fast(sim.ws_url(paths::PRIVATE_STREAM)),
        vec!["alpha@not-a-key".into()],
    );
    let refused = next_matching(&mut bad_rx, |e| match e {
        StreamEvent::SubscribeFailed { streams, .. } => Some(streams.clone()),
        _ => None,
    })
    .await;
    assert_eq!(refused, ["alpha@not-a-key"]);
    sim.stop().await;
}

async fn set_fault(sim: &SimHandle, spec: serde_json::Value) {
    let spec: alpha_oto::sim::faults::FaultSpec = serde_json::from_value(spec).unwrap();
    sim.state.with(|s| {
        s.faults.clear();
        s.faults.add(spec, alpha_oto::sim::state::now_ms());
    });
}

#[actix_web::test]
async fn a_dropped_connection_is_made_again_and_resubscribed() {
    let sim = sim().await;
    let zkj = symbols::agg_trade_stream("ALPHA_373").unwrap();
    let (_handle, mut rx) =
        stream::spawn(fast(sim.ws_url(paths::PUBLIC_STREAM)), vec![zkj.clone()]);
    subscribed(&mut rx).await;
    set_fault(&sim, json!({"kind": "drop_ws", "rate": 1.0})).await;
    price(&sim, "ALPHA_373USDT", "0.3");
    let reason = next_matching(&mut rx, |e| match e {
        StreamEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(!reason.is_empty());
    sim.state.with(|s| s.faults.clear());
    let attempt = next_matching(&mut rx, |e| match e {
        StreamEvent::Connected { attempt } => Some(*attempt),
        _ => None,
    })
    .await;
    assert_eq!(attempt, 2);
    assert_eq!(
        subscribed(&mut rx).await,
        vec![zkj.clone()],
        "subscriptions are renewed"
    );
    price(&sim, "ALPHA_373USDT", "0.32");
    assert_eq!(trade(&mut rx).await.1.price, d("0.32"));
    sim.stop().await;
}

#[actix_web::test]
async fn a_silent_stream_is_reported_stale_and_reconnected() {
    let sim = sim().await;
    let (_handle, mut rx) = stream::spawn(
        fast(sim.ws_url(paths::PUBLIC_STREAM)),
        vec![symbols::agg_trade_stream("ALPHA_22").unwrap()],
    );
    subscribed(&mut rx).await;
    set_fault(&sim, json!({"kind": "stall_ws", "rate": 1.0})).await;
    let silent = next_matching(&mut rx, |e| match e {
        StreamEvent::Stale { silent_for } => Some(*silent_for),
        _ => None,
    })
    .await;
    assert!(silent >= Duration::from_millis(600));
    sim.state.with(|s| s.faults.clear());
    let attempt = next_matching(&mut rx, |e| match e {
        StreamEvent::Connected { attempt } => Some(*attempt),
        _ => None,
    })
    .await;
    assert!(attempt >= 2);
    sim.stop().await;
}

#[actix_web::test]
async fn an_unreachable_server_is_retried_with_growing_delays() {
    let sim = sim().await;
    let url = sim.ws_url(paths::PUBLIC_STREAM);
    sim.stop().await;
    let (_handle, mut rx) = stream::spawn(fast(url), vec![]);
    let mut delays = Vec::new();
    while delays.len() < 4 {
        delays.push(
            next_matching(&mut rx, |e| match e {
                StreamEvent::Disconnected { retry_in, .. } => Some(*retry_in),
                _ => None,
            })
            .await,
        );
    }
    let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [50, 100, 200, 400]);
}

fn place_crossing_pair(sim: &SimHandle, account: u64) {
    use alpha_oto::exchange::wire::trading::{OtoPlaceRequest, PaymentDetail, WalletType};
    let (p, q) = (d("0.23"), d("10"));
    let req = OtoPlaceRequest {
        base_asset: "ALPHA_373".into(),
        quote_asset: "USDT".into(),
        working_side: alpha_oto::market::Side::Buy,
        working_price: p,
        working_quantity: q,
        payment_details: vec![PaymentDetail {
            amount: p * q,
            payment_wallet_type: WalletType::Card,
        }],
        pending_price: d("0.0001"),
        pending_type: Some("LIMIT".into()),
    };
    sim.state
        .with(|s| {
            s.engine
                .place_oto(account, &req, alpha_oto::sim::state::now_ms())
        })
        .unwrap();
}

async fn private_stream(
    sim: &SimHandle,
) -> (u64, String, stream::StreamHandle, Receiver<StreamEvent>) {
    let creds = sim.state.with(|s| s.engine.create_account(d("100")));
    let key = sim
        .state
        .with(|s| s.listen_key(creds.id, alpha_oto::sim::state::now_ms()));
    let (handle, mut rx) = stream::spawn(
        fast(sim.ws_url(paths::PRIVATE_STREAM)),
        vec![symbols::user_stream(&key)],
    );
    subscribed(&mut rx).await;
    (creds.id, key, handle, rx)
}

async fn reports(rx: &mut Receiver<StreamEvent>, n: usize) -> Vec<ExecutionReport> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(
            next_matching(rx, |e| match e {
                StreamEvent::Frame { data, .. } => {
                    serde_json::from_str::<ExecutionReport>(data).ok()
                }
                _ => None,
            })
            .await,
        );
    }
    out
}

#[actix_web::test]
async fn duplicated_and_reordered_events_reach_the_client_as_sent() {
    let sim = sim().await;
    price(&sim, "ALPHA_373USDT", "0.2269");
    let (account, _, _handle, mut rx) = private_stream(&sim).await;

    set_fault(
        &sim,
        json!({"kind": "dup_events", "rate": 1.0, "account": account}),
    )
    .await;
    place_crossing_pair(&sim, account);
    let got = reports(&mut rx, 2).await;
    assert_eq!(got[0], got[1], "the same report twice");

    sim.state.with(|s| s.faults.clear());
    // Let the rest of the first pair's (doubled) reports arrive and drop them.
    while tokio::time::timeout(Duration::from_millis(300), rx.recv())
        .await
        .is_ok()
    {}
    set_fault(
        &sim,
        json!({"kind": "reorder_events", "rate": 1.0, "account": account}),
    )
    .await;
    place_crossing_pair(&sim, account);
    let got = reports(&mut rx, 2).await;
    assert!(
        got[0].seq > got[1].seq,
        "the first two reports arrive swapped: {:?} {:?}",
        got[0].seq,
        got[1].seq
    );
    sim.stop().await;
}

#[actix_web::test]
async fn an_invalidated_listen_key_is_announced_on_its_stream() {
    let sim = sim().await;
    let (account, key, _handle, mut rx) = private_stream(&sim).await;
    set_fault(
        &sim,
        json!({"kind": "expire_listen_key", "rate": 1.0, "account": account}),
    )
    .await;
    // Any private call of the account lets the fault strike.
    let creds = sim.state.with(|s| {
        let a = &s.engine.accounts[&account];
        let mut headers = std::collections::BTreeMap::new();
        headers.insert(
            "csrftoken".to_owned(),
            secrecy::SecretString::from(a.csrftoken.clone()),
        );
        alpha_oto::exchange::session::Session::new(
            headers,
            secrecy::SecretString::from(format!("p20t={}", a.session)),
        )
        .unwrap()
    });
    let client =
        alpha_oto::exchange::rest::RestClient::new(&sim.base_url(), Duration::from_secs(5))
            .with_session(&creds);
    client.probe_session().await.unwrap();
    let expired: serde_json::Value = next_matching(&mut rx, |e| match e {
        StreamEvent::Frame { data, .. } => serde_json::from_str(data).ok(),
        _ => None,
    })
    .await;
    assert_eq!(
        (expired["e"].as_str(), expired["listenKey"].as_str()),
        (Some("listenKeyExpired"), Some(key.as_str()))
    );
    sim.state.with(|s| s.faults.clear());
    assert!(
        client.keep_alive(&key).await.is_err(),
        "the old key is gone"
    );
    assert_ne!(
        client.listen_key().await.unwrap(),
        key,
        "a new key replaces it"
    );
    sim.stop().await;
}

#[actix_web::test]
async fn paper_mode_follows_another_markets_prices() {
    let source = sim().await;
    let paper = start(SimOptions {
        seed: 4,
        trade_interval: Duration::from_secs(3600),
        paper: true,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    alpha_oto::paper::follow_prices(&paper, &source.ws_url(paths::PUBLIC_STREAM));
    let client =
        alpha_oto::exchange::rest::RestClient::new(&paper.base_url(), Duration::from_secs(5));
    // The paper market connects to its source on its own; move the source until it follows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut step = 0;
    loop {
        step += 1;
        let target = format!("0.3{step:02}");
        price(&source, "ALPHA_373USDT", &target);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if client.ticker("ALPHA_373USDT").await.unwrap().last_price == d(&target) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the paper market never followed its source"
        );
    }
    // Prices off the paper market's grid are floored to its tick.
    price(&source, "ALPHA_901USDT", "0.0523456789");
    let followed = async {
        loop {
            let p = client.ticker("ALPHA_901USDT").await.unwrap().last_price;
            if p == d("0.052345") {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), followed)
        .await
        .unwrap();
    paper.stop().await;
    source.stop().await;
}

#[actix_web::test]
async fn a_listen_key_without_keep_alive_expires() {
    let sim = start(SimOptions {
        seed: 9,
        trade_interval: Duration::from_millis(50),
        listen_key_ttl: Duration::from_millis(300),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let (_account, key, _handle, mut rx) = private_stream(&sim).await;
    let expired: serde_json::Value = next_matching(&mut rx, |e| match e {
        StreamEvent::Frame { data, .. } => serde_json::from_str::<serde_json::Value>(data)
            .ok()
            .filter(|v| v["e"] == "listenKeyExpired"),
        _ => None,
    })
    .await;
    assert_eq!(expired["listenKey"].as_str(), Some(key.as_str()));
    assert!(
        sim.state
            .with(|s| s.key_account(&key, alpha_oto::sim::state::now_ms()))
            .is_none()
    );
    sim.stop().await;
}
