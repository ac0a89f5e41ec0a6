//! Stream frames written as the exchange writes them, down to the text of each number: the
//! wire types (shared with the daemon) write a decimal in its shortest form, the exchange
//! does not.
//!
//! As captured:
//! - an `executionReport` pads its quantities, prices, quotes and fee to 8 decimals and its
//!   average price `ap` to 9, writes a zero as `"0"`, and writes the first piece of a partial
//!   fill as an integer when it is one (`"l":"200"`, `"z":"200"` in `sep25-private-stream-7`;
//!   the same report's `Z` is padded) — `sep25-private-stream-3` to `-8`;
//! - an `aggTrade` and a `depthUpdate` write prices at the token's price precision and
//!   quantities at its quantity precision (`"0.000005540"`, `"98228237.90"` for a 9 and 2
//!   decimal token in `cap-public-aggregate-trade-1`; `sep25-public-stream-3` has 8 and 8);
//! - a kline and the ticker list write numbers in their shortest form (`"c":"0.00000548"`);
//! - the event time `E` comes 12 to 182 ms after the trade time `T`: the exchange's own
//!   latency. The simulator writes such an `E` (spread by the event's number, not drawn from
//!   the seed, so that a seed's market is what it was) but sends the frame at once.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::book::Delta;
use super::tokens::{Candle, Token};
use crate::exchange::wire::market::Level;
use crate::exchange::wire::stream::{AggTradeEvent, ExecutionReport};
use crate::market::OrderStatus;

/// `E` − `T` of the event numbered `n`: 12 to 182 ms, as captured.
pub fn publish_lag_ms(n: u64) -> i64 {
    12 + (n.wrapping_mul(2_654_435_761) % 171) as i64
}

/// `d` with at least `dp` decimals (a number off the grid keeps all of its own: nothing is
/// rounded away).
pub fn padded(d: Decimal, dp: u32) -> String {
    let mut x = d.normalize();
    if x.scale() < dp {
        x.rescale(dp);
    }
    x.to_string()
}

/// `d` with exactly `dp` decimals, a zero as `"0"`.
fn padded_or_zero(d: Decimal, dp: u32) -> String {
    if d.is_zero() {
        "0".to_owned()
    } else {
        padded(d, dp)
    }
}

fn set(v: &mut Value, key: &str, text: String) {
    if let Some(slot) = v.get_mut(key) {
        *slot = Value::String(text);
    }
}

/// An `executionReport`'s `data`, numbers as the exchange writes them.
pub fn execution_report(r: &ExecutionReport) -> serde_json::Result<Value> {
    let mut v = serde_json::to_value(r)?;
    let eight = [
        ("q", r.qty),
        ("p", r.price),
        ("L", r.last_price),
        ("Y", r.last_quote),
        ("Z", r.cum_quote),
    ];
    for (key, d) in eight {
        set(&mut v, key, padded_or_zero(d, 8));
    }
    if let Some(fee) = r.commission {
        set(&mut v, "n", padded_or_zero(fee, 8));
    }
    set(&mut v, "ap", padded_or_zero(r.avg_price, 9));
    let partial = r.status == OrderStatus::PartiallyFilled;
    for (key, d) in [("l", r.last_qty), ("z", r.cum_qty)] {
        let text = if partial && d.fract().is_zero() {
            d.trunc().normalize().to_string()
        } else {
            padded_or_zero(d, 8)
        };
        set(&mut v, key, text);
    }
    Ok(v)
}

fn price_dp(t: &Token) -> u32 {
    t.precision.tick_size.scale()
}

fn qty_dp(t: &Token) -> u32 {
    t.precision.step_size.scale()
}

/// An `aggTrade`'s `data`.
pub fn agg_trade(e: &AggTradeEvent, t: &Token) -> serde_json::Result<Value> {
    let mut v = serde_json::to_value(e)?;
    set(&mut v, "p", padded(e.price, price_dp(t)));
    set(&mut v, "q", padded(e.qty, qty_dp(t)));
    Ok(v)
}

fn levels(t: &Token, levels: &[Level]) -> Value {
    levels
        .iter()
        .map(|l| json!([padded(l.price, price_dp(t)), padded(l.qty, qty_dp(t))]))
        .collect()
}

/// A `depthUpdate`'s `data`: the changes after `pu` (the stream's previous `u`).
pub fn depth_update(t: &Token, delta: &Delta) -> Value {
    json!({
        "e": "depthUpdate",
        "E": delta.at_ms + publish_lag_ms(delta.last),
        "T": delta.at_ms,
        "s": t.order_symbol,
        "U": delta.first,
        "u": delta.last,
        "pu": delta.first - 1,
        "b": levels(t, &delta.bids),
        "a": levels(t, &delta.asks),
    })
}

/// A `fullDepth` answer: the book at its last update id, written as the depth stream writes
/// it, so that the stream's next frame follows on (`cap-order-book-snapshot-1`).
pub fn full_depth(t: &Token, now: i64) -> Value {
    let (bids, asks) = t.book.levels();
    let id = t.book.last_id();
    json!({
        "lastUpdateId": id,
        "symbol": t.order_symbol,
        "bids": levels(t, &bids),
        "asks": levels(t, &asks),
        "E": now + publish_lag_ms(id),
        "T": now,
    })
}

/// A `kline`'s `data` for a 1 s candle.
pub fn kline(t: &Token, c: &Candle) -> Value {
    let plain = |d: Decimal| d.normalize().to_string();
    json!({
        "e": "kline",
        "ca": format!("{}@{}", t.contract_address, t.chain_id),
        "k": {
            "i": "1s",
            "ot": c.second * 1000,
            "ct": c.second * 1000 + 1000,
            "o": plain(c.open),
            "h": plain(c.high),
            "l": plain(c.low),
            "c": plain(c.close),
            "v": plain(c.volume.round_dp(9)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn numbers_are_padded_as_captured() {
        assert_eq!(padded(d("869.56"), 8), "869.56000000");
        assert_eq!(padded(d("0.00000554"), 9), "0.000005540");
        assert_eq!(padded(d("98228237.9"), 2), "98228237.90");
        assert_eq!(padded_or_zero(Decimal::ZERO, 8), "0");
        assert_eq!(
            padded(d("0.0523456789"), 6),
            "0.0523456789",
            "never rounded"
        );
    }

    #[test]
    fn the_lag_stays_in_the_captured_range() {
        let lags: Vec<i64> = (0..10_000).map(publish_lag_ms).collect();
        assert!(lags.iter().all(|l| (12..=182).contains(l)));
        assert!(lags.iter().any(|&l| l < 30) && lags.iter().any(|&l| l > 160));
    }
}
