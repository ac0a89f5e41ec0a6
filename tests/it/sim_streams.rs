//! The simulator's public stream against the captures: the names it knows and the error for
//! the rest, the depth stream following on from a `fullDepth` snapshot, the ticker list, the
//! 1 s klines and the trade frame, with numbers written as the exchange writes them.

use std::collections::BTreeMap;
use std::time::Duration;

use alpha_oto::sim::server::{SimHandle, SimOptions, start};
use alpha_oto::sim::state::now_ms;
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::exchange_wire::same_shape;
use crate::exchange_wire_fixture as fixture;
use crate::support::d;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A simulator whose market moves only when a test moves it.
async fn sim() -> SimHandle {
    start(SimOptions {
        seed: 23,
        trade_interval: Duration::from_secs(3600),
        ..SimOptions::default()
    })
    .await
    .unwrap()
}

async fn public_stream(sim: &SimHandle) -> Ws {
    tokio_tungstenite::connect_async(sim.ws_url("/w3w/wsa/stream"))
        .await
        .unwrap()
        .0
}

async fn next_frame(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Sends a request and answers the answer with its id (frames before it are dropped).
async fn request(ws: &mut Ws, method: &str, params: &[&str], id: u64) -> Value {
    let req = json!({"method": method, "params": params, "id": id});
    ws.send(Message::text(req.to_string())).await.unwrap();
    loop {
        let frame = next_frame(ws).await;
        if frame.get("id") == Some(&json!(id)) {
            return frame;
        }
    }
}

/// The next frame of `stream`.
async fn next_on(ws: &mut Ws, stream: &str) -> Value {
    loop {
        let frame = next_frame(ws).await;
        if frame["stream"] == stream {
            return frame;
        }
    }
}

fn set_price(sim: &SimHandle, price: &str) {
    sim.state
        .with(|s| s.engine.set_price("ALPHA_971USDT", d(price), now_ms()))
        .unwrap();
}

fn decimals(text: &Value) -> usize {
    let t = text.as_str().unwrap();
    t.split_once('.').map_or(0, |(_, f)| f.len())
}

fn lag(data: &Value) -> i64 {
    data["E"].as_i64().unwrap() - data["T"].as_i64().unwrap()
}

#[actix_web::test]
async fn an_unknown_stream_is_answered_with_the_exchanges_error() {
    let sim = sim().await;
    let mut ws = public_stream(&sim).await;
    for (id, name) in [
        (7, "no such stream"),
        (8, "alpha_971usdt@aggtrade"),
        (9, "came@alpha_971@short@kline_7s"),
    ] {
        assert_eq!(
            request(&mut ws, "SUBSCRIBE", &[name], id).await,
            json!({"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": id}),
            "{name}"
        );
    }
    // The captured subscriptions are known, and so is a well-formed name of no listed token
    // (the exchange accepts it and says nothing on it).
    let captured = fixture("cap-observed-subscriptions-1");
    let names: Vec<&str> = captured["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .chain(["came@alpha_971@short@kline_1s", "alpha_999999usdt@aggTrade"])
        .collect();
    assert_eq!(
        request(&mut ws, "SUBSCRIBE", &names, 10).await,
        json!({"result": null, "id": 10})
    );
    let listed = request(&mut ws, "LIST_SUBSCRIPTION", &[], 11).await;
    let mut listed: Vec<&str> = listed["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected = names.clone();
    expected.sort_unstable();
    assert_eq!(listed, expected, "only the valid names are held");
    sim.stop().await;
}

/// A client's book: levels by (bid?, price).
type Book = BTreeMap<(bool, Decimal), Decimal>;

fn apply(book: &mut Book, data: &Value) {
    for (bid, key) in [(true, "b"), (false, "a")] {
        for level in data[key].as_array().unwrap() {
            let (price, qty) = (d(level[0].as_str().unwrap()), d(level[1].as_str().unwrap()));
            if qty.is_zero() {
                book.remove(&(bid, price));
            } else {
                book.insert((bid, price), qty);
            }
        }
    }
}

async fn snapshot(sim: &SimHandle) -> (u64, Book) {
    let url = format!(
        "{}/bapi/defi/v1/public/alpha-trade/fullDepth?symbol=ALPHA_971USDT&limit=1000",
        sim.base_url()
    );
    let mut res = awc::Client::default().get(url).send().await.unwrap();
    let body: Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    let data = &body["data"];
    same_shape(data, &fixture("cap-order-book-snapshot-1")["data"]).unwrap();
    let mut book = Book::new();
    apply(&mut book, &json!({"b": data["bids"], "a": data["asks"]}));
    (data["lastUpdateId"].as_u64().unwrap(), book)
}

#[actix_web::test]
async fn the_depth_stream_follows_on_from_the_snapshot() {
    let sim = sim().await;
    let mut ws = public_stream(&sim).await;
    let fast = "alpha_971usdt@depth@100ms";
    let slow = "alpha_971usdt@fulldepth@500ms";
    assert_eq!(
        request(&mut ws, "SUBSCRIBE", &[fast, slow], 1).await["result"],
        Value::Null
    );
    set_price(&sim, "0.000005700");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (mut last, mut book) = snapshot(&sim).await;
    for price in ["0.000005710", "0.000005690", "0.000005720"] {
        set_price(&sim, price);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // The 100 ms stream, applied as Binance's docs say: drop what ends at or before the
    // snapshot; the first kept frame spans it; each next one starts where the last ended.
    let mut first = true;
    let end: Book = [
        ((true, d("0.000005720")), d("1000000000")),
        ((false, d("0.000005721")), d("1000000000")),
    ]
    .into();
    while book != end {
        let frame = next_on(&mut ws, fast).await;
        let data = &frame["data"];
        same_shape(&frame, &fixture("cap-public-order-book-delta-1")).unwrap();
        let (u_first, u_last) = (data["U"].as_u64().unwrap(), data["u"].as_u64().unwrap());
        assert_eq!(data["pu"].as_u64().unwrap(), u_first - 1);
        if u_last <= last {
            continue;
        }
        if first {
            assert!(u_first <= last + 1, "U {u_first} after snapshot {last}");
            first = false;
        } else {
            assert_eq!(u_first, last + 1, "frames follow on");
        }
        // Prices at the token's 9 decimals, quantities at its 2, as captured.
        for level in data["b"]
            .as_array()
            .unwrap()
            .iter()
            .chain(data["a"].as_array().unwrap())
        {
            assert_eq!(
                (decimals(&level[0]), decimals(&level[1])),
                (9, 2),
                "{level}"
            );
        }
        assert!((12..=182).contains(&lag(data)), "{data}");
        apply(&mut book, data);
        last = u_last;
    }
    assert_eq!(
        snapshot(&sim).await,
        (last, book),
        "the book the frames built is the book"
    );
    // The 500 ms stream carries the same book, in fewer frames.
    let frame = next_on(&mut ws, slow).await;
    same_shape(&frame, &fixture("cap-public-order-book-delta-1")).unwrap();
    sim.stop().await;
}

#[actix_web::test]
async fn the_ticker_list_the_klines_and_trades_come_in_the_captured_shapes() {
    let sim = sim().await;
    let mut ws = public_stream(&sim).await;
    let (tickers, kline, trades) = (
        "came@allTokens@ticker24",
        "came@alpha_971@short@kline_1s",
        "alpha_971usdt@aggTrade",
    );
    request(&mut ws, "SUBSCRIBE", &[tickers, kline, trades], 1).await;
    set_price(&sim, "0.000005540");

    let trade = next_on(&mut ws, trades).await;
    same_shape(&trade, &fixture("cap-public-aggregate-trade-1")).unwrap();
    let captured = fixture("cap-public-aggregate-trade-1");
    for key in ["p", "q"] {
        assert_eq!(
            decimals(&trade["data"][key]),
            decimals(&captured["data"][key]),
            "{key}: {trade}"
        );
    }
    assert_eq!(trade["data"]["p"], "0.000005540");
    assert!((12..=182).contains(&lag(&trade["data"])), "{trade}");

    let list = next_on(&mut ws, tickers).await;
    let captured = fixture("cap-public-ticker-list-1");
    same_shape(&list, &captured).unwrap();
    let entries = list["data"]["d"].as_array().unwrap();
    for entry in entries {
        same_shape(entry, &captured["data"]["d"][0]).unwrap();
    }
    let tokens = sim.state.with(|s| s.engine.tokens.clone());
    assert_eq!(entries.len(), tokens.len(), "every token, once");
    let nex = tokens.iter().find(|t| t.alpha_id == "ALPHA_971").unwrap();
    let entry = entries
        .iter()
        .find(|e| e["ca"] == format!("{}@{}", nex.contract_address, nex.chain_id))
        .unwrap();
    assert_eq!(d(entry["p"].as_str().unwrap()), d("0.000005540"));
    assert_eq!(entry["t"].as_i64().unwrap() % 1000, 0);

    let candle = next_on(&mut ws, kline).await;
    same_shape(&candle, &fixture("cap-public-kline-1")).unwrap();
    let k = &candle["data"]["k"];
    assert_eq!(k["ct"].as_i64().unwrap() - k["ot"].as_i64().unwrap(), 1000);
    let price = |key: &str| d(k[key].as_str().unwrap());
    assert!(price("l") <= price("o").min(price("c")) && price("h") >= price("o").max(price("c")));
    assert_eq!(candle["data"]["ca"], entry["ca"]);
    sim.stop().await;
}
