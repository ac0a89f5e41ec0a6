//! The client's wire types against the real captured payloads (tests/fixtures), the decoding
//! of answers into typed errors, and symbol mapping.

use std::time::Duration;

use alpha_oto::exchange::error::{ExchangeError, decode};
use alpha_oto::exchange::wire::account::{AlphaWallet, ListenKeyData, UserVolume};
use alpha_oto::exchange::wire::market::{
    AggTrade, ExchangeInfo, FeeRate, FullDepth, SymbolInfo, TokenFullInfo, TokenInfo,
};
use alpha_oto::exchange::wire::stream::{
    AggTradeEvent, DepthUpdate, ExecutionReport, ExecutionType, Request, ServerMessage,
};
use alpha_oto::exchange::wire::symbols::{self, SymbolError};
use alpha_oto::exchange::wire::trading::{
    CancelRequest, HistoryOrder, OpenOrder, OtoPlaceRequest, OtoPlaceResponse, PlaceOrderRequest,
    UserTrade, WalletType,
};
use alpha_oto::market::{OrderStatus, Side};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::support::d;

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn parse<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Parses a fixture that holds only an envelope's `data` (as part of the capture quoted it).
fn data_of<T: DeserializeOwned>(name: &str) -> T {
    let v: Value = parse(name);
    serde_json::from_value(v["data"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Decodes a full answer fixture as the client does, from a 200 with no headers.
fn answer<T: DeserializeOwned>(name: &str) -> Result<T, ExchangeError> {
    decode::<T>(200, &|_| None, fixture(name).as_bytes()).map(|a| a.data)
}

/// Same keys (recursively) and the same JSON type at every key, a null included, in every
/// element of every array.
pub fn same_shape(a: &Value, b: &Value) -> Result<(), String> {
    match (a, b) {
        (Value::Null, Value::Null) => Ok(()),
        (Value::Object(x), Value::Object(y)) => {
            let (kx, ky): (Vec<_>, Vec<_>) = (x.keys().collect(), y.keys().collect());
            if kx != ky {
                return Err(format!("keys differ: {kx:?} vs {ky:?}"));
            }
            x.iter()
                .try_for_each(|(k, v)| same_shape(v, &y[k]).map_err(|e| format!("{k}: {e}")))
        }
        // Arrays of one length are compared element by element (a symbol's filters differ by
        // kind); otherwise every element against the capture's first.
        (Value::Array(x), Value::Array(y)) => x.iter().enumerate().try_for_each(|(i, p)| {
            let q = if x.len() == y.len() {
                y.get(i)
            } else {
                y.first()
            };
            q.map_or(Ok(()), |q| {
                same_shape(p, q).map_err(|e| format!("[{i}]: {e}"))
            })
        }),
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => Ok(()),
        _ => Err(format!("types differ: {a} vs {b}")),
    }
}

/// Parsing then writing a request gives the browser's JSON back: same keys, same types, same
/// values (numbers compared exactly, as text).
fn round_trips<T: DeserializeOwned + serde::Serialize>(name: &str) -> T {
    let original: Value = parse(name);
    let typed: T = parse(name);
    let written = serde_json::to_value(&typed).unwrap();
    same_shape(&written, &original).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        serde_json::to_string(&written).unwrap(),
        serde_json::to_string(&original).unwrap(),
        "{name}"
    );
    typed
}

#[test]
fn place_and_oto_requests_round_trip_exactly_as_the_browser_sends_them() {
    let buy: PlaceOrderRequest = round_trips("cap-normal-limit-buy-sell-1");
    assert_eq!(
        (buy.side, buy.price, buy.quantity),
        (Side::Buy, d("0.000005583"), d("1791151.7"))
    );
    assert_eq!(buy.payment_details[0].amount, d("9.99999994"));
    assert_eq!(buy.payment_details[0].payment_wallet_type, WalletType::Card);
    round_trips::<PlaceOrderRequest>("cap-normal-limit-buy-sell-2");
    let sell: PlaceOrderRequest = round_trips("cap-normal-limit-buy-sell-5");
    assert_eq!(
        (sell.side, sell.payment_details[0].amount),
        (Side::Sell, d("1790972.6"))
    );
    assert_eq!(
        sell.payment_details[0].payment_wallet_type,
        WalletType::Alpha
    );

    for name in [
        "cap-oto-reverse-order-1",
        "cap-oto-reverse-order-2",
        "sep25-oto-place-1",
    ] {
        let oto: OtoPlaceRequest = round_trips(name);
        assert_eq!(oto.working_side, Side::Buy);
        // The payment is exactly price x quantity, floored to 8 dp.
        let exact = (oto.working_price * oto.working_quantity)
            .round_dp_with_strategy(8, rust_decimal::RoundingStrategy::ToZero);
        assert_eq!(oto.payment_details[0].amount, exact, "{name}");
    }
    let old: OtoPlaceRequest = parse("sep25-oto-place-1");
    assert_eq!(
        (old.pending_type, old.pending_price, old.working_price),
        (None, d("0.001"), d("48.01706542"))
    );

    for name in ["cap-cancel-1", "cap-cancel-2"] {
        let c: CancelRequest = round_trips(name);
        assert_eq!(c.symbol, "ALPHA_971USDT");
    }
}

#[test]
fn place_cancel_and_query_answers_decode() {
    assert_eq!(
        answer::<String>("cap-normal-limit-buy-sell-3").unwrap(),
        "2459886"
    );
    assert_eq!(
        answer::<String>("cap-normal-limit-buy-sell-6").unwrap(),
        "2461654"
    );
    let oto = answer::<OtoPlaceResponse>("cap-oto-reverse-order-3").unwrap();
    assert_eq!(
        (oto.working_order_id.as_str(), oto.pending_order_id.as_str()),
        ("2464786", "2464787")
    );
    let oto = answer::<OtoPlaceResponse>("sep25-oto-place-2").unwrap();
    assert_eq!(oto.pending_order_id, "176849328");
    // Written back, the ids are numbers again, as captured.
    let written =
        serde_json::to_value(answer::<OtoPlaceResponse>("cap-oto-reverse-order-4").unwrap())
            .unwrap();
    let captured: Value = parse("cap-oto-reverse-order-4");
    assert_eq!(written, captured["data"]);
    answer::<()>("cap-cancel-3").unwrap();

    let open: Vec<OpenOrder> = data_of("cap-current-open-orders-1");
    assert!(open.is_empty());
    let open: Vec<OpenOrder> = data_of("cap-cancel-4");
    assert!(open.is_empty());

    let trades = answer::<Vec<UserTrade>>("cap-user-trades-1").unwrap();
    assert_eq!(trades.len(), 2);
    assert_eq!(
        trades[0].trade_id, trades[1].trade_id,
        "two pieces share one trade id"
    );
    assert_ne!(trades[0].page_id, trades[1].page_id);
    assert_eq!(trades[0].qty + trades[1].qty, d("1790972.6"));
    assert_eq!(
        (trades[0].commission_asset.as_str(), trades[0].side),
        ("USDT", Side::Sell)
    );
}

#[test]
fn history_rows_keep_oto_legs_linked() {
    let plain: HistoryOrder = parse("cap-historical-limit-orders-1");
    assert_eq!(
        (plain.oto_list_id(), plain.status, plain.avg_price),
        (None, OrderStatus::Filled, d("0.000005925"))
    );
    let working: HistoryOrder = parse("cap-historical-limit-orders-2");
    let pending: HistoryOrder = parse("cap-historical-limit-orders-3");
    assert_eq!(working.oto_list_id(), Some("1393062340"));
    assert_eq!(working.oto_list_id(), pending.oto_list_id());
    assert_eq!(
        working.contingency_order_position.as_deref(),
        Some("OTO_WORKING")
    );
    assert_eq!(
        (pending.contingency_order_position.as_deref(), pending.side),
        (Some("OTO_PENDING"), Side::Sell)
    );
    let canceled: HistoryOrder = parse("cap-historical-limit-orders-4");
    assert_eq!(
        (canceled.status, canceled.executed_qty),
        (OrderStatus::Canceled, d("0"))
    );
}

#[test]
fn market_data_decodes_with_exact_decimals() {
    let info: SymbolInfo = parse("cap-exchange-info-1");
    let p = info.precision().unwrap();
    assert_eq!(
        (
            p.tick_size,
            p.step_size,
            p.min_qty,
            p.min_notional,
            p.max_price
        ),
        (d("0.000000001"), d("0.1"), d("0.1"), d("0.1"), d("1000"))
    );
    let wrapped: ExchangeInfo = serde_json::from_value(
        serde_json::json!({"timezone": "UTC", "symbols": [parse::<Value>("cap-exchange-info-1")]}),
    )
    .unwrap();
    assert_eq!(wrapped.symbols[0], info);
    let mut no_lot = info.clone();
    no_lot
        .filters
        .retain(|f| !matches!(f, alpha_oto::exchange::wire::market::Filter::LotSize { .. }));
    assert!(no_lot.precision().unwrap_err().contains("LOT_SIZE"));

    let tokens = answer::<Vec<TokenInfo>>("sep25-agg-ticker24-1").unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        (
            tokens[0].symbol.as_str(),
            tokens[0].alpha_id.as_str(),
            tokens[0].mul_point
        ),
        ("LIGHT", "ALPHA_396", d("4"))
    );
    assert!(tokens[0].is_tradable());
    assert!(!tokens[1].is_tradable(), "an offline token is not tradable");
    assert_eq!(tokens[0].price, Some(d("0.92207942985659043632")));

    let full: TokenFullInfo = data_of("cap-token-full-info-1");
    assert_eq!(
        (
            full.meta_info.alpha_id.as_str(),
            full.meta_info.chain_id.as_str()
        ),
        ("ALPHA_971", "56")
    );
    let fee: FeeRate = data_of("cap-fee-rate-1");
    assert_eq!(fee.buyer_commission, d("100"));
    let book: FullDepth = data_of("cap-order-book-snapshot-1");
    assert_eq!(
        (book.bids[0].price, book.asks[0].qty),
        (d("0.000005845"), d("13632133.40"))
    );
    let trade: AggTrade = parse("cap-recent-aggregate-trades-1");
    assert_eq!(
        (trade.id, trade.price, trade.buyer_maker),
        (161336, d("0.000005854"), false)
    );
}

#[test]
fn account_answers_decode_including_float_volumes() {
    let v = answer::<UserVolume>("sep25-user-volume-1").unwrap();
    // The wire has the float 197.43566840519998; its shortest exact form is the volume the
    // exchange computed (PROTOCOL.md quotes 197.4356684052), not a binary approximation.
    assert_eq!(v.total_volume, d("197.4356684052"));
    assert_eq!(v.trade_volume_info_list[0].token_name, "AITECH");
    answer::<UserVolume>("sep25-user-volume-3").unwrap();
    assert_eq!(
        answer::<UserVolume>("sep25-user-volume-2").unwrap_err(),
        ExchangeError::SessionExpired
    );

    let w = answer::<AlphaWallet>("sep25-alpha-wallet-1").unwrap();
    assert_eq!(
        (w.list[1].token_id.as_str(), w.list[1].free),
        ("ALPHA_391", d("250"))
    );
    assert_eq!(w.total_valuation, d("47.52828923"));

    let captured: ListenKeyData = data_of("cap-listen-key-1");
    assert_eq!(captured.into_key(), "<listen_key>");
    let documented: ListenKeyData = parse("sep25-listen-key-1");
    assert_eq!(documented.into_key(), "string");
}

fn report(name: &str) -> ExecutionReport {
    let msg: ServerMessage = parse(name);
    let (stream, data) = msg.frame().unwrap();
    assert!(stream.starts_with("alpha@"), "{stream}");
    serde_json::from_str(data).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_oto_execution_report_sequence_decodes_with_its_semantics() {
    let working_new = report("sep25-private-stream-3");
    let pending_new = report("sep25-private-stream-4");
    let working_fill = report("sep25-private-stream-5");
    let pending_active = report("sep25-private-stream-6");
    let pending_part = report("sep25-private-stream-7");
    let pending_fill = report("sep25-private-stream-8");

    assert_eq!(
        (
            working_new.execution_type,
            working_new.status,
            working_new.side
        ),
        (ExecutionType::New, OrderStatus::New, Side::Buy)
    );
    assert_eq!(
        working_new.contingency_position.as_deref(),
        Some("OTO_WORKING")
    );
    assert_eq!(
        (pending_new.status, pending_new.qty),
        (OrderStatus::Pending, d("0"))
    );
    assert_eq!(
        working_new.event_time, pending_new.event_time,
        "both legs are reported together"
    );
    assert_eq!(working_new.order_list_id, pending_new.order_list_id);
    assert_eq!(working_new.order_id, "51481849");
    assert_eq!(pending_new.seq, Some(12501197287));

    assert!(working_fill.is_trade());
    assert_eq!(
        (
            working_fill.status,
            working_fill.commission,
            working_fill.commission_asset.as_deref()
        ),
        (OrderStatus::Filled, Some(d("0.086956")), Some("ALPHA_373"))
    );
    // The pending leg goes live with the bought quantity less the base fee, floored to step.
    assert_eq!(
        (pending_active.status, pending_active.qty),
        (OrderStatus::New, d("869.47"))
    );
    assert_eq!(
        pending_active.qty,
        (working_fill.cum_qty - working_fill.commission.unwrap())
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
    );

    assert_eq!(
        (
            pending_part.status,
            pending_part.last_qty,
            pending_part.cum_qty
        ),
        (OrderStatus::PartiallyFilled, d("200"), d("200"))
    );
    assert_eq!(
        (pending_fill.status, pending_fill.cum_qty),
        (OrderStatus::Filled, d("869.47"))
    );
    assert_eq!(
        pending_part.trade_id, pending_fill.trade_id,
        "pieces can share a trade id"
    );
    assert_eq!(pending_fill.commission_asset.as_deref(), Some("USDT"));
    assert_eq!(
        pending_part.last_quote + pending_fill.last_quote,
        pending_fill.cum_quote
    );
    assert_eq!(
        pending_fill.last_price,
        d("0.22690468"),
        "the far-below limit fills at the bid"
    );
}

#[test]
fn public_frames_and_control_messages_decode() {
    for name in ["cap-public-aggregate-trade-1", "sep25-public-stream-3"] {
        let msg: ServerMessage = parse(name);
        let (stream, data) = msg.frame().unwrap();
        assert!(stream.ends_with("@aggTrade"));
        let t: AggTradeEvent = serde_json::from_str(data).unwrap();
        assert_eq!(t.event_type, "aggTrade");
        assert!(t.price > d("0"));
    }
    let msg: ServerMessage = parse("cap-public-order-book-delta-1");
    let depth: DepthUpdate = serde_json::from_str(msg.frame().unwrap().1).unwrap();
    assert_eq!(
        (depth.prev_update_id, depth.bids[0].price),
        (Some(59178703146), d("0.000005530"))
    );

    for name in [
        "cap-observed-subscriptions-1",
        "sep25-public-stream-1",
        "sep25-private-stream-1",
    ] {
        let r: Request = round_trips(name);
        assert_eq!(r.method, "SUBSCRIBE");
    }
    for name in [
        "cap-observed-subscriptions-5",
        "sep25-public-stream-2",
        "sep25-private-stream-2",
    ] {
        let a: ServerMessage = parse(name);
        assert!(a.frame().is_none() && a.id.is_some(), "{name} is an answer");
    }
}

#[test]
fn answers_become_typed_errors() {
    let none = |_: &str| None;
    let body =
        br#"{"code":"000000","message":null,"messageDetail":null,"data":"1","success":true}"#;
    assert_eq!(
        decode::<String>(401, &none, body).unwrap_err(),
        ExchangeError::SessionExpired
    );
    assert_eq!(
        decode::<String>(403, &none, b"").unwrap_err(),
        ExchangeError::SessionExpired
    );
    let retry = |h: &str| (h == "retry-after").then(|| "7".to_owned());
    assert_eq!(
        decode::<String>(429, &retry, b"").unwrap_err(),
        ExchangeError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(
        decode::<String>(502, &none, b"<html>bad gateway</html>")
            .unwrap_err()
            .outcome_unknown()
    );
    assert!(
        decode::<String>(200, &none, b"<html>")
            .unwrap_err()
            .outcome_unknown(),
        "an unreadable body is an unknown outcome"
    );
    assert!(
        matches!(decode::<String>(404, &none, b"not found").unwrap_err(), ExchangeError::Rejected { code, .. } if code == "http_404")
    );

    let risk = |h: &str| match h {
        "risk_challenge_biz_no" => Some("biz-1".to_owned()),
        "risk_challenge_enable_flow" => Some("true".to_owned()),
        _ => None,
    };
    assert_eq!(
        decode::<String>(200, &risk, body).unwrap_err(),
        ExchangeError::TwoFactorRequired {
            biz_no: "biz-1".into()
        }
    );

    let fail = |code: &str, msg: &str| {
        format!(
            r#"{{"code":"{code}","message":"{msg}","messageDetail":null,"data":null,"success":false}}"#
        )
    };
    let err = |code: &str, msg: &str| {
        decode::<String>(200, &none, fail(code, msg).as_bytes()).unwrap_err()
    };
    assert_eq!(err("100002001", "x"), ExchangeError::SessionExpired);
    assert_eq!(err("100001003", "verify"), ExchangeError::FaceCheckRequired);
    assert_eq!(
        err("999", "step flows have not finish"),
        ExchangeError::FaceCheckRequired
    );
    assert_eq!(
        err("-1003", "Too many requests."),
        ExchangeError::RateLimited { retry_after: None }
    );
    assert!(matches!(
        err(
            "-2010",
            "Account has insufficient balance for requested action."
        ),
        ExchangeError::InsufficientBalance { .. }
    ));
    let msg = "workingPrice*workingQuantity must be the same as sum(paymentDetail.amount)";
    assert_eq!(
        err("000002", msg),
        ExchangeError::Rejected {
            code: "000002".into(),
            message: msg.into()
        }
    );
    assert_eq!(err("100002001", "x").kind(), "session_expired");

    // A success whose data has an unexpected shape is not silently accepted.
    assert!(
        decode::<Vec<UserTrade>>(200, &none, body)
            .unwrap_err()
            .outcome_unknown()
    );
    // A paged answer keeps its total.
    let paged = br#"{"code":"000000","data":[],"total":18,"success":true}"#;
    assert_eq!(
        decode::<Vec<HistoryOrder>>(200, &none, paged)
            .unwrap()
            .total,
        Some(18)
    );
}

fn token(symbol: &str, chain_id: &str, chain_name: &str, alpha: &str) -> TokenInfo {
    serde_json::from_value(serde_json::json!({
        "symbol": symbol, "chainId": chain_id, "chainName": chain_name, "alphaId": alpha,
        "contractAddress": format!("0x{alpha}"), "mulPoint": 1, "offline": false
    }))
    .unwrap()
}

#[test]
fn short_symbols_map_to_exchange_ids() {
    let list = vec![
        token("KOGE", "56", "BSC", "ALPHA_22"),
        token("ZKJ", "56", "BSC", "ALPHA_373"),
        token("ZKJ", "8453", "Base", "ALPHA_900"),
    ];
    let koge = symbols::resolve(&list, "koge", None).unwrap();
    assert_eq!(
        (
            koge.alpha_id.as_str(),
            koge.order_symbol.as_str(),
            koge.stream_symbol.as_str()
        ),
        ("ALPHA_22", "ALPHA_22USDT", "alpha_22usdt")
    );
    assert!(koge.tradable);
    let err = symbols::resolve(&list, "ZKJ", None).unwrap_err();
    assert!(matches!(&err, SymbolError::Ambiguous { choices, .. } if choices.len() == 2));
    let text = err.to_string();
    assert!(
        text.contains("BSC") && text.contains("Base") && text.contains("ALPHA_900"),
        "{text}"
    );
    assert_eq!(
        symbols::resolve(&list, "ZKJ", Some("8453"))
            .unwrap()
            .alpha_id,
        "ALPHA_900"
    );
    assert_eq!(
        symbols::resolve(&list, "ZKJ", Some("bsc"))
            .unwrap()
            .alpha_id,
        "ALPHA_373"
    );
    assert!(matches!(
        symbols::resolve(&list, "NOPE", None),
        Err(SymbolError::Unknown { .. })
    ));
    assert!(matches!(
        symbols::resolve(&list, "KOGE", Some("1")),
        Err(SymbolError::Unknown { .. })
    ));

    assert_eq!(
        symbols::agg_trade_stream("ALPHA_971").unwrap(),
        "alpha_971usdt@aggTrade"
    );
    assert_eq!(symbols::user_stream("abc"), "alpha@abc");
    assert_eq!(symbols::alpha_id_of("ALPHA_971USDT").unwrap(), "ALPHA_971");
    for bad in ["ALPHA_", "ALPHA_x1", "BTC", "alpha_1"] {
        assert!(symbols::order_symbol(bad).is_err(), "{bad}");
    }
    assert!(symbols::alpha_id_of("ALPHA_1USDC").is_err());
}
