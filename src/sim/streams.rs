//! The public stream's names: which the exchange knows, which the simulator feeds, and when.
//!
//! A name of an unknown form is answered with the real exchange's error (`{"code":2,"msg":
//! "Invalid request: invalid stream"}`, as Binance's stream servers answer it); a name of a
//! known form for a symbol that does not exist is accepted and stays silent, as there.

use std::collections::HashMap;

use super::tokens::Token;

/// What a public stream carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicStream {
    /// `<sym>@aggTrade`: every trade, as it happens.
    AggTrade,
    /// `<sym>@fulldepth@500ms`, `<sym>@depth@100ms`, `<sym>@depth`: book changes, at most one
    /// frame per interval.
    Depth {
        stream_symbol: String,
        every_ms: i64,
    },
    /// `came@allTokens@ticker24`: every token's 24 h figures, once a second.
    TickerList,
    /// `came@alpha_<n>@short@kline_1s` or `came@<contract>@<chainId>@kline_1s`: the last
    /// second's candle, once a second.
    Kline1s(KlineKey),
    /// A name the official list has but whose payload was never captured (partial depth,
    /// trade, bookTicker, tickers, klines of other intervals, listing changes): accepted,
    /// and nothing is sent on it.
    Silent,
}

/// Which token a kline stream names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KlineKey {
    /// `alpha_971`: the token's alpha id, lower case.
    AlphaId(String),
    /// The contract address (lower case) and the chain id.
    Contract { address: String, chain_id: String },
}

/// The error the exchange answers a SUBSCRIBE of an unknown stream with.
pub const INVALID_STREAM: (i64, &str) = (2, "Invalid request: invalid stream");

/// Reads a public stream's name; `None` when the exchange would not know its form.
pub fn parse(name: &str) -> Option<PublicStream> {
    if let Some(rest) = name.strip_prefix("came@") {
        return parse_came(rest);
    }
    if matches!(name, "!miniTicker@arr" | "!ticker@arr" | "!bookTicker") {
        return Some(PublicStream::Silent);
    }
    let (symbol, kind) = name.split_once('@')?;
    if !is_symbol(symbol) {
        return None;
    }
    let depth = |every_ms| {
        Some(PublicStream::Depth {
            stream_symbol: symbol.to_owned(),
            every_ms,
        })
    };
    match kind {
        "aggTrade" => Some(PublicStream::AggTrade),
        "depth" => depth(1000),
        "depth@100ms" | "fulldepth@100ms" => depth(100),
        "depth@500ms" | "fulldepth@500ms" => depth(500),
        "fulldepth" | "depth@1000ms" | "fulldepth@1000ms" => depth(1000),
        "trade" | "bookTicker" | "miniTicker" | "ticker" => Some(PublicStream::Silent),
        _ => {
            let partial = ["depth5", "depth10", "depth20"].iter().any(|p| {
                kind.strip_prefix(p)
                    .is_some_and(|s| matches!(s, "" | "@100ms" | "@500ms" | "@1000ms"))
            });
            partial.then_some(PublicStream::Silent)
        }
    }
}

fn parse_came(rest: &str) -> Option<PublicStream> {
    match rest {
        "allTokens@ticker24" => return Some(PublicStream::TickerList),
        "stockToken@metaInfo@change" => return Some(PublicStream::Silent),
        _ => {}
    }
    let parts: Vec<&str> = rest.split('@').collect();
    let (key, interval) = match parts[..] {
        [alpha, "short", kline] if alpha.starts_with("alpha_") && is_symbol(alpha) => {
            (KlineKey::AlphaId(alpha.to_owned()), kline)
        }
        [address, chain, kline] if is_contract(address) && is_chain(chain) => (
            KlineKey::Contract {
                address: address.to_ascii_lowercase(),
                chain_id: chain.to_owned(),
            },
            kline,
        ),
        _ => return None,
    };
    match interval.strip_prefix("kline_")? {
        "1s" => Some(PublicStream::Kline1s(key)),
        "1m" | "3m" | "5m" | "15m" | "30m" | "1h" | "2h" | "4h" | "6h" | "8h" | "12h" | "1d"
        | "3d" | "1w" | "1M" => Some(PublicStream::Silent),
        _ => None,
    }
}

fn is_symbol(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_contract(s: &str) -> bool {
    s.len() > 2 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_chain(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The clocks of the periodic public streams.
#[derive(Debug, Default)]
pub struct Feeds {
    /// Per depth stream: the last update id it sent and when it may send next.
    pub depth: HashMap<String, DepthFeed>,
    /// When the once-a-second streams (ticker list, klines) send next.
    pub next_second_ms: i64,
}

#[derive(Debug, Clone)]
pub struct DepthFeed {
    pub stream_symbol: String,
    pub every_ms: i64,
    pub last_u: u64,
    pub due_ms: i64,
}

impl Feeds {
    /// A connection subscribed to `stream`: a depth stream's feed starts at its token's last
    /// update (one feed per name, shared by every subscriber, as the exchange numbers one
    /// stream for all). A symbol that does not exist gets no feed.
    pub fn joined(&mut self, stream: &str, kind: &PublicStream, tokens: &[Token], now: i64) {
        let PublicStream::Depth {
            stream_symbol,
            every_ms,
        } = kind
        else {
            return;
        };
        if self.depth.contains_key(stream) {
            return;
        }
        if let Some(t) = tokens.iter().find(|t| &t.stream_symbol == stream_symbol) {
            self.depth.insert(
                stream.to_owned(),
                DepthFeed {
                    stream_symbol: stream_symbol.clone(),
                    every_ms: *every_ms,
                    last_u: t.book.last_id(),
                    due_ms: now + every_ms,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_captured_names_are_known() {
        // cap-observed-subscriptions-1 and -2, and the two depth speeds of PROTOCOL §7.3.
        assert_eq!(
            parse("alpha_971usdt@aggTrade"),
            Some(PublicStream::AggTrade)
        );
        assert_eq!(
            parse("alpha_971usdt@fulldepth@500ms"),
            Some(PublicStream::Depth {
                stream_symbol: "alpha_971usdt".into(),
                every_ms: 500
            })
        );
        assert_eq!(
            parse("alpha_971usdt@depth@100ms"),
            Some(PublicStream::Depth {
                stream_symbol: "alpha_971usdt".into(),
                every_ms: 100
            })
        );
        assert_eq!(
            parse("came@allTokens@ticker24"),
            Some(PublicStream::TickerList)
        );
        assert_eq!(
            parse("came@stockToken@metaInfo@change"),
            Some(PublicStream::Silent)
        );
        assert_eq!(
            parse("came@alpha_971@short@kline_1s"),
            Some(PublicStream::Kline1s(KlineKey::AlphaId("alpha_971".into())))
        );
        assert_eq!(
            parse("came@0x365DE036a1f7dccb621530d517133521debb2013@56@kline_1s"),
            Some(PublicStream::Kline1s(KlineKey::Contract {
                address: "0x365de036a1f7dccb621530d517133521debb2013".into(),
                chain_id: "56".into()
            }))
        );
        assert_eq!(
            parse("alpha_971usdt@depth20@100ms"),
            Some(PublicStream::Silent)
        );
        assert_eq!(
            parse("came@alpha_971@short@kline_1m"),
            Some(PublicStream::Silent)
        );
    }

    #[test]
    fn names_of_no_known_form_are_invalid() {
        for name in [
            "",
            "alpha_971usdt",
            "alpha_971usdt@",
            "alpha_971usdt@aggtrade",
            "ALPHA_971USDT@aggTrade",
            "alpha_971usdt@depth@250ms",
            "alpha_971usdt@depth7",
            "alpha_971usdt@kline_1s",
            "came@allTokens@ticker",
            "came@alpha_971@short@kline_2s",
            "came@alpha_971@kline_1s",
            "no such stream",
            "alpha@somekey",
        ] {
            assert_eq!(parse(name), None, "{name:?}");
        }
    }
}
