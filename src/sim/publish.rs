//! The public streams that speak on a clock rather than on a trade: depth changes at their
//! stream's interval, the ticker list and the 1 s klines once a second.

use serde_json::{Value, json};

use super::frames;
use super::state::{Batches, Inner};
use super::streams::{KlineKey, PublicStream};

/// How often the server asks for due frames: the fastest stream's interval.
pub const PUBLISH_EVERY_MS: u64 = 100;

impl Inner {
    /// Queues and sends the periodic frames that are due at `now`.
    pub fn publish(&mut self, now: i64) {
        let mut batches = Batches::new();
        let listened = |s: &Inner, name: &str| s.public.get(name).is_some_and(|v| !v.is_empty());
        let due: Vec<String> = self
            .feeds
            .depth
            .iter()
            .filter(|(_, f)| f.due_ms <= now)
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            let listening = listened(self, &name);
            let Some(feed) = self.feeds.depth.get_mut(&name) else {
                continue;
            };
            feed.due_ms = now + feed.every_ms;
            let Ok(t) = self.engine.token_index(&feed.stream_symbol) else {
                continue;
            };
            let token = &self.engine.tokens[t];
            let Some(delta) = token.book.since(feed.last_u) else {
                continue;
            };
            // The stream moves on whether or not anyone listens: its numbers are the
            // exchange's, not a subscriber's.
            feed.last_u = delta.last;
            if listening {
                let data = frames::depth_update(token, &delta);
                self.queue(&mut batches, &name, &Ok(data), None);
            }
        }
        if now >= self.feeds.next_second_ms {
            self.feeds.next_second_ms = now - now.rem_euclid(1000) + 1000;
            self.each_second(&mut batches, now);
        }
        if !batches.is_empty() {
            self.send(batches, now);
        }
    }

    fn each_second(&self, batches: &mut Batches, now: i64) {
        let names: Vec<(String, PublicStream)> = self
            .public
            .iter()
            .filter(|(_, subs)| !subs.is_empty())
            .filter_map(|(name, _)| super::streams::parse(name).map(|k| (name.clone(), k)))
            .collect();
        let last_second = now.div_euclid(1000) - 1;
        for (name, kind) in names {
            let data: Value = match kind {
                PublicStream::TickerList => json!({
                    "e": "tickerList",
                    "d": self
                        .engine
                        .tokens
                        .iter()
                        .map(|t| super::views::ticker_entry(t, now))
                        .collect::<Vec<_>>(),
                }),
                PublicStream::Kline1s(key) => {
                    let token = self.engine.tokens.iter().find(|t| match &key {
                        KlineKey::AlphaId(id) => t.alpha_id.eq_ignore_ascii_case(id),
                        KlineKey::Contract { address, chain_id } => {
                            t.contract_address.eq_ignore_ascii_case(address)
                                && &t.chain_id == chain_id
                        }
                    });
                    let Some(t) = token else { continue };
                    let candle = super::tokens::Candle::of(t.candle, last_second, t.price);
                    frames::kline(t, &candle)
                }
                _ => continue,
            };
            self.queue(batches, &name, &Ok(data), None);
        }
    }
}
