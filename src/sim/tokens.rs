//! The simulated market of each token: its listing, precision, and a seeded random-walk price
//! with a one-tick book around it.

use rust_decimal::Decimal;

use super::rng::Rng;
use crate::exchange::wire::symbols;
use crate::market::Grid;

/// A listed token and its market.
#[derive(Debug, Clone)]
pub struct Token {
    pub token_id: String,
    pub symbol: String,
    pub chain_id: String,
    pub chain_name: String,
    pub contract_address: String,
    pub alpha_id: String,
    pub order_symbol: String,
    pub stream_symbol: String,
    pub mul_point: Decimal,
    pub decimals: u32,
    pub precision: Grid,
    /// The last trade price; the book is one tick wide around it.
    pub price: Decimal,
    pub next_agg_id: u64,
    pub next_trade_id: u64,
    /// The run's highest and lowest trade price and its quote volume (the token list's 24 h
    /// figures: a run is shorter than a day).
    pub high_24h: Decimal,
    pub low_24h: Decimal,
    pub volume_24h: Decimal,
    /// The run's first price and its number of trades (the list's change and count).
    pub open_24h: Decimal,
    pub count_24h: u64,
    /// The book as the depth streams tell it.
    pub book: super::book::BookLog,
    /// The candle of the last second that traded (the 1 s kline stream).
    pub candle: Option<Candle>,
}

impl Token {
    /// Best bid: the price on the tick grid.
    pub fn bid(&self) -> Decimal {
        floor_to(self.price, self.precision.tick_size)
    }

    /// Best ask: one tick above the bid.
    pub fn ask(&self) -> Decimal {
        self.bid() + self.precision.tick_size
    }

    /// One step of the walk: up, down or flat by about 5 bps (at least one tick).
    pub fn walk(&mut self, rng: &mut Rng) {
        let tick = self.precision.tick_size;
        let step = floor_to(self.price * Decimal::new(5, 4), tick).max(tick);
        let next = match rng.below(3) {
            0 => self.price - step,
            1 => self.price,
            _ => self.price + step,
        };
        self.price = next.clamp(self.precision.min_price.max(tick), self.precision.max_price);
    }
}

/// A 1 s candle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    /// The second it covers (Unix seconds).
    pub second: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    /// Quote volume.
    pub volume: Decimal,
}

impl Candle {
    /// A trade at `now` of `qty` at `price`, on the candle of its second.
    pub fn trade(last: Option<Candle>, price: Decimal, qty: Decimal, now: i64) -> Candle {
        let second = now.div_euclid(1000);
        match last {
            Some(c) if c.second == second => Candle {
                high: c.high.max(price),
                low: c.low.min(price),
                close: price,
                volume: c.volume + price * qty,
                ..c
            },
            _ => Candle::flat(second, price, price * qty),
        }
    }

    fn flat(second: i64, price: Decimal, volume: Decimal) -> Candle {
        Candle {
            second,
            open: price,
            high: price,
            low: price,
            close: price,
            volume,
        }
    }

    /// The candle of `second`: the one traded in it, else flat at the price (no trades).
    pub fn of(last: Option<Candle>, second: i64, price: Decimal) -> Candle {
        match last {
            Some(c) if c.second == second => c,
            _ => Candle::flat(second, price, Decimal::ZERO),
        }
    }
}

pub use crate::market::{floor_to, on_grid};

struct Seed {
    symbol: &'static str,
    chain_id: &'static str,
    chain_name: &'static str,
    alpha_n: u32,
    price: &'static str,
    tick: &'static str,
    step: &'static str,
    min_notional: &'static str,
    mul_point: i64,
}

/// The seeded listing: different grids, one symbol on two chains (ZKJ), one token with
/// mulPoint 4 (LIGHT); prices near the captured ones.
const SEEDS: &[Seed] = &[
    Seed {
        symbol: "KOGE",
        chain_id: "56",
        chain_name: "BSC",
        alpha_n: 22,
        price: "48.01706542",
        tick: "0.00000001",
        step: "0.0001",
        min_notional: "0.1",
        mul_point: 1,
    },
    Seed {
        symbol: "ZKJ",
        chain_id: "56",
        chain_name: "BSC",
        alpha_n: 373,
        price: "0.22690468",
        tick: "0.00000001",
        step: "0.01",
        min_notional: "0.1",
        mul_point: 1,
    },
    Seed {
        symbol: "ZKJ",
        chain_id: "8453",
        chain_name: "Base",
        alpha_n: 901,
        price: "0.0512",
        tick: "0.000001",
        step: "1",
        min_notional: "0.5",
        mul_point: 1,
    },
    Seed {
        symbol: "NEX",
        chain_id: "56",
        chain_name: "BSC",
        alpha_n: 971,
        price: "0.000005619",
        tick: "0.000000001",
        step: "0.10",
        min_notional: "0.1",
        mul_point: 1,
    },
    Seed {
        symbol: "LIGHT",
        chain_id: "56",
        chain_name: "BSC",
        alpha_n: 396,
        price: "0.9220",
        tick: "0.0001",
        step: "0.01",
        min_notional: "0.1",
        mul_point: 4,
    },
];

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or(Decimal::ZERO)
}

/// The seeded tokens, in listing order.
pub fn seeded(rng: &mut Rng) -> Vec<Token> {
    SEEDS
        .iter()
        .map(|s| {
            let alpha_id = format!("ALPHA_{}", s.alpha_n);
            let order_symbol = symbols::order_symbol(&alpha_id).unwrap_or_default();
            Token {
                token_id: rng.hex(16).to_ascii_uppercase(),
                symbol: s.symbol.to_owned(),
                chain_id: s.chain_id.to_owned(),
                chain_name: s.chain_name.to_owned(),
                contract_address: format!("0x{}", rng.hex(20)),
                stream_symbol: order_symbol.to_ascii_lowercase(),
                order_symbol,
                alpha_id,
                mul_point: Decimal::from(s.mul_point),
                decimals: 18,
                precision: Grid {
                    tick_size: dec(s.tick),
                    min_price: dec(s.tick),
                    max_price: Decimal::from(100_000),
                    step_size: dec(s.step),
                    min_qty: dec(s.step),
                    max_qty: Decimal::from(9_999_999_999_i64),
                    min_notional: dec(s.min_notional),
                },
                price: dec(s.price),
                next_agg_id: 100_000 + rng.below(100_000),
                next_trade_id: 500_000 + rng.below(100_000),
                high_24h: dec(s.price),
                low_24h: dec(s.price),
                volume_24h: Decimal::ZERO,
                open_24h: dec(s.price),
                count_24h: 0,
                book: Default::default(),
                candle: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn a_candle_follows_its_second() {
        let c = Candle::trade(None, d("2"), d("10"), 5_100);
        let c = Candle::trade(Some(c), d("3"), d("1"), 5_900);
        let c = Candle::trade(Some(c), d("1"), d("1"), 5_950);
        assert_eq!(
            (c.second, c.open, c.high, c.low, c.close, c.volume),
            (5, d("2"), d("3"), d("1"), d("1"), d("24"))
        );
        let next = Candle::trade(Some(c), d("4"), d("1"), 6_000);
        assert_eq!((next.second, next.open, next.volume), (6, d("4"), d("4")));
        let flat = Candle::of(Some(c), 7, d("1.5"));
        assert_eq!(
            (flat.open, flat.close, flat.volume),
            (d("1.5"), d("1.5"), Decimal::ZERO)
        );
    }
}
