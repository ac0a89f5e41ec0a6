//! The simulator's shared state: the engine, the faults, listen keys, and the routing of
//! stream frames to the WebSocket connections subscribed to them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use super::engine::{Engine, SimEvent};
use super::faults::{FaultKind, Faults};
use super::rng::Rng;
use crate::exchange::wire::stream::AggTradeEvent;

/// What a WebSocket connection is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    Close,
}

pub type ConnTx = UnboundedSender<Outgoing>;

#[derive(Debug, Clone)]
struct ListenKey {
    account: u64,
    expires_at: i64,
}

pub(super) struct Subscriber {
    conn: u64,
    tx: ConnTx,
}

/// Frames waiting to be sent, per connection: its sender, its account (private streams), the
/// frames.
pub(super) type Batches = HashMap<u64, (ConnTx, Option<u64>, Vec<String>)>;

/// Everything behind the simulator's one lock. Handlers hold it briefly and never across an
/// await.
pub struct Inner {
    pub engine: Engine,
    pub faults: Faults,
    pub listen_key_ttl_ms: i64,
    rng: Rng,
    listen_keys: HashMap<String, ListenKey>,
    /// The keys of each account (valid or not yet swept), so routing never scans every key.
    account_keys: HashMap<u64, Vec<String>>,
    /// Reaction times (see `Reactions`).
    pub reactions: Reactions,
    pub(super) public: HashMap<String, Vec<Subscriber>>,
    private: HashMap<String, Vec<Subscriber>>,
    /// The clocks of the periodic public streams (depth, ticker list, klines).
    pub(super) feeds: super::streams::Feeds,
    recent: HashMap<String, VecDeque<AggTradeEvent>>,
    next_conn: u64,
    /// How often the heavy public listings were asked for, by path name (tests read it).
    pub listings_served: HashMap<&'static str, u64>,
    /// Order reports the `lose_events` fault kept from the stream (tests read it).
    pub lost_reports: u64,
    /// Authenticated requests of each account, by path (tests hold them to a budget).
    pub requests: HashMap<(u64, String), u64>,
}

pub struct SimState {
    pub inner: Mutex<Inner>,
}

/// Wall-clock milliseconds, the simulator's "now".
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

const RECENT_TRADES: usize = 500;

/// The daemon's reaction, timed on the exchange's side of the wire: from the moment the frame
/// that completes an account's pair is handed to its connection to the moment that account's
/// next pair request arrives.
#[derive(Debug, Default)]
pub struct Reactions {
    completed: HashMap<u64, std::time::Instant>,
    /// Microseconds, one per reaction.
    samples: Vec<u32>,
    /// Pairs completed, all accounts.
    pub pairs_completed: u64,
    /// When each account last sent a pair (Unix ms).
    last_place_ms: HashMap<u64, i64>,
}

impl Reactions {
    pub fn completed(&mut self, account: u64, at: std::time::Instant) {
        self.pairs_completed += 1;
        self.completed.insert(account, at);
    }

    /// A pair request of `account` arrived at `at`.
    pub fn placed(&mut self, account: u64, at: std::time::Instant) {
        self.last_place_ms.insert(account, now_ms());
        if let Some(done) = self.completed.remove(&account) {
            let us = at.saturating_duration_since(done).as_micros();
            self.samples.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
    }

    /// Forgets the completions not yet answered (a restarted daemon's first pair is recovery,
    /// not reaction).
    pub fn forget_pending(&mut self) {
        self.completed.clear();
    }

    pub fn clear(&mut self) {
        self.completed.clear();
        self.samples.clear();
        self.pairs_completed = 0;
    }

    /// Accounts that have sent a pair at or after `since_ms`, in id order.
    pub fn placing_since(&self, since_ms: i64) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .last_place_ms
            .iter()
            .filter(|&(_, &t)| t >= since_ms)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn summary(&self) -> ReactionSummary {
        let mut v = self.samples.clone();
        v.sort_unstable();
        let ms = |q: f64| -> f64 {
            if v.is_empty() {
                return 0.0;
            }
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            f64::from(v[rank - 1]) / 1000.0
        };
        ReactionSummary {
            count: v.len(),
            p50: ms(0.50),
            p90: ms(0.90),
            p99: ms(0.99),
            max: ms(1.0),
            pairs_completed: self.pairs_completed,
        }
    }
}

/// Reaction percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReactionSummary {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub pairs_completed: u64,
}

impl SimState {
    /// Paper mode: a live market's trade on `stream_symbol` sets that token's price (floored to
    /// its tick); a symbol the simulator does not list is ignored.
    pub fn follow_price(&self, stream_symbol: &str, price: rust_decimal::Decimal) {
        self.with(|s| {
            if let Ok(t) = s.engine.token_index(stream_symbol) {
                let price = super::tokens::floor_to(price, s.engine.tokens[t].precision.tick_size);
                let _ = s.engine.set_price(stream_symbol, price, now_ms());
            }
        });
    }

    pub fn new(engine: Engine, faults: Faults, listen_key_ttl_ms: i64) -> Self {
        let rng = Rng::new(engine.cfg.seed ^ 0x115_7E11);
        Self {
            inner: Mutex::new(Inner {
                engine,
                faults,
                listen_key_ttl_ms,
                rng,
                listen_keys: HashMap::new(),
                account_keys: HashMap::new(),
                requests: HashMap::new(),
                reactions: Reactions::default(),
                public: HashMap::new(),
                private: HashMap::new(),
                feeds: Default::default(),
                recent: HashMap::new(),
                next_conn: 1,
                listings_served: HashMap::new(),
                lost_reports: 0,
            }),
        }
    }

    /// Runs `f` under the lock, then sends the frames it produced.
    pub fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            // A panic while holding the lock leaves consistent data (every write is whole),
            // so the simulator keeps serving.
            Err(poisoned) => poisoned.into_inner(),
        };
        let out = f(&mut inner);
        inner.dispatch(now_ms());
        out
    }
}

impl Inner {
    pub fn new_conn_id(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    // ----- listen keys -----

    /// Returns the account's valid key, extended, or a new one (as spot user streams do).
    pub fn listen_key(&mut self, account: u64, now: i64) -> String {
        let ttl = self.listen_key_ttl_ms;
        let keys = self.account_keys.get(&account).into_iter().flatten();
        for key in keys {
            if let Some(lk) = self.listen_keys.get_mut(key)
                && lk.expires_at > now
            {
                lk.expires_at = now + ttl;
                return key.clone();
            }
        }
        let key = self.rng.hex(32);
        self.account_keys
            .entry(account)
            .or_default()
            .push(key.clone());
        self.listen_keys.insert(
            key.clone(),
            ListenKey {
                account,
                expires_at: now + ttl,
            },
        );
        key
    }

    /// Extends a key; false if it is unknown or expired.
    pub fn keep_alive(&mut self, account: u64, key: &str, now: i64) -> bool {
        let ttl = self.listen_key_ttl_ms;
        match self.listen_keys.get_mut(key) {
            Some(lk) if lk.account == account && lk.expires_at > now => {
                lk.expires_at = now + ttl;
                true
            }
            _ => false,
        }
    }

    /// The account behind a valid key.
    pub fn key_account(&self, key: &str, now: i64) -> Option<u64> {
        self.listen_keys
            .get(key)
            .filter(|lk| lk.expires_at > now)
            .map(|lk| lk.account)
    }

    /// Invalidates keys (of one account, or the expired ones) and tells their subscribers.
    pub fn expire_keys(&mut self, account: Option<u64>, now: i64) {
        let dead: Vec<String> = match account {
            Some(a) => self.account_keys.get(&a).cloned().unwrap_or_default(),
            None => self
                .listen_keys
                .iter()
                .filter(|(_, lk)| lk.expires_at <= now)
                .map(|(k, _)| k.clone())
                .collect(),
        };
        for key in dead {
            if let Some(lk) = self.listen_keys.remove(&key)
                && let Some(keys) = self.account_keys.get_mut(&lk.account)
            {
                keys.retain(|k| k != &key);
            }
            let stream = format!("alpha@{key}");
            if let Some(subs) = self.private.remove(&stream) {
                // Invented (spot's behaviour): a listenKeyExpired event on the stream.
                let frame = json!({"stream": stream, "data": {"e": "listenKeyExpired", "E": now, "listenKey": key}});
                for s in subs {
                    let _ = s.tx.send(Outgoing::Text(frame.to_string()));
                }
            }
        }
    }

    // ----- subscriptions -----

    /// Subscribes a connection to a stream; false for a private stream whose key is not valid.
    pub fn subscribe(
        &mut self,
        conn: u64,
        tx: &ConnTx,
        stream: &str,
        private: bool,
        now: i64,
    ) -> Result<(), (i64, String)> {
        let map = if private {
            let valid = stream
                .strip_prefix("alpha@")
                .is_some_and(|k| self.key_account(k, now).is_some());
            if !valid {
                return Err((-1102, format!("Invalid stream {stream}")));
            }
            &mut self.private
        } else {
            let Some(kind) = super::streams::parse(stream) else {
                let (code, msg) = super::streams::INVALID_STREAM;
                return Err((code, msg.to_owned()));
            };
            self.feeds.joined(stream, &kind, &self.engine.tokens, now);
            &mut self.public
        };
        let subs = map.entry(stream.to_owned()).or_default();
        if !subs.iter().any(|s| s.conn == conn) {
            subs.push(Subscriber {
                conn,
                tx: tx.clone(),
            });
        }
        Ok(())
    }

    pub fn unsubscribe(&mut self, conn: u64, stream: &str) {
        for map in [&mut self.public, &mut self.private] {
            if let Some(subs) = map.get_mut(stream) {
                subs.retain(|s| s.conn != conn);
            }
        }
    }

    pub fn subscriptions(&self, conn: u64) -> Vec<String> {
        let mut out: Vec<String> = [&self.public, &self.private]
            .into_iter()
            .flat_map(|m| {
                m.iter()
                    .filter(|(_, subs)| subs.iter().any(|s| s.conn == conn))
                    .map(|(k, _)| k.clone())
            })
            .collect();
        out.sort();
        out
    }

    pub fn disconnect(&mut self, conn: u64) {
        for map in [&mut self.public, &mut self.private] {
            for subs in map.values_mut() {
                subs.retain(|s| s.conn != conn);
            }
        }
    }

    /// Closes every connection (of one account's private streams, or all).
    pub fn drop_connections(&mut self, account: Option<u64>, now: i64) {
        let conns: Vec<(u64, ConnTx)> = match account {
            None => self
                .public
                .values()
                .chain(self.private.values())
                .flatten()
                .map(|s| (s.conn, s.tx.clone()))
                .collect(),
            Some(a) => self
                .account_keys
                .get(&a)
                .into_iter()
                .flatten()
                .filter(|k| self.key_account(k, now).is_some())
                .filter_map(|k| self.private.get(&format!("alpha@{k}")))
                .flat_map(|subs| subs.iter().map(|s| (s.conn, s.tx.clone())))
                .collect(),
        };
        for (conn, tx) in conns {
            let _ = tx.send(Outgoing::Close);
            self.disconnect(conn);
        }
    }

    /// Whether a stall is in force for this connection (global, or for its account).
    pub fn stalled(&mut self, conn: u64, now: i64) -> bool {
        // Asked on every ping of every connection: the cheap answer first.
        if !self.faults.any(FaultKind::StallWs, now) {
            return false;
        }
        let account = self
            .private
            .iter()
            .filter(|(_, subs)| subs.iter().any(|s| s.conn == conn))
            .find_map(|(stream, _)| {
                stream
                    .strip_prefix("alpha@")
                    .and_then(|k| self.key_account(k, now))
            });
        self.faults.active(FaultKind::StallWs, account, now)
    }

    pub fn recent_trades(&self, symbol: &str) -> Vec<AggTradeEvent> {
        self.recent
            .get(symbol)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    // ----- sending -----

    /// Numbers the depth books' changes. Every change of a price happens under the lock, and
    /// every use of the lock ends in `dispatch`, which calls this: the books follow the market.
    pub fn sync_books(&mut self, now: i64) {
        for t in &mut self.engine.tokens {
            let (bid, ask) = (t.bid(), t.ask());
            t.book.sync(bid, ask, now);
        }
    }

    /// Sends the engine's new events to their subscribers, with the stream faults applied.
    pub fn dispatch(&mut self, now: i64) {
        self.sync_books(now);
        let events = self.engine.drain_events();
        if events.is_empty() {
            return;
        }
        let mut batches = Batches::new();
        let mut completed = Vec::new();
        for event in events {
            let (stream, data, account) = match event {
                SimEvent::AggTrade { stream, event } => {
                    let q = self.recent.entry(event.symbol.clone()).or_default();
                    q.push_back(event.clone());
                    if q.len() > RECENT_TRADES {
                        q.pop_front();
                    }
                    let data = match self.engine.token_index(&event.symbol) {
                        Ok(t) => super::frames::agg_trade(&event, &self.engine.tokens[t]),
                        Err(_) => serde_json::to_value(&event),
                    };
                    (stream, data, None)
                }
                SimEvent::Execution {
                    account,
                    report,
                    completes_pair,
                } => {
                    if let Ok(order) = report.order_id.parse::<u64>()
                        && self
                            .faults
                            .strikes_order(FaultKind::LoseEvents, account, order, now)
                    {
                        self.lost_reports += 1;
                        continue;
                    }
                    if completes_pair {
                        completed.push(account);
                    }
                    let keys: Vec<String> = self
                        .account_keys
                        .get(&account)
                        .into_iter()
                        .flatten()
                        .filter(|k| self.key_account(k, now).is_some())
                        .map(|k| format!("alpha@{k}"))
                        .collect();
                    let data = super::frames::execution_report(&report);
                    for stream in keys {
                        self.queue(&mut batches, &stream, &data, Some(account));
                    }
                    continue;
                }
            };
            self.queue(&mut batches, &stream, &data, account);
        }
        self.send(batches, now);
        let sent = std::time::Instant::now();
        for account in completed {
            self.reactions.completed(account, sent);
        }
    }

    /// Sends queued frames, with the stream faults applied.
    pub(super) fn send(&mut self, batches: Batches, now: i64) {
        for (conn, (tx, account, mut frames)) in batches {
            if self.faults.active(FaultKind::StallWs, account, now) {
                continue;
            }
            if self.faults.strikes(FaultKind::DropWs, account, now) {
                let _ = tx.send(Outgoing::Close);
                self.disconnect(conn);
                continue;
            }
            if frames.len() > 1 && self.faults.strikes(FaultKind::ReorderEvents, account, now) {
                frames.swap(0, 1);
            }
            for frame in frames {
                let twice = self.faults.strikes(FaultKind::DupEvents, account, now);
                let _ = tx.send(Outgoing::Text(frame.clone()));
                if twice {
                    let _ = tx.send(Outgoing::Text(frame));
                }
            }
        }
    }

    pub(super) fn queue(
        &self,
        batches: &mut Batches,
        stream: &str,
        data: &Result<serde_json::Value, serde_json::Error>,
        account: Option<u64>,
    ) {
        let Ok(data) = data else { return };
        let map = if account.is_some() {
            &self.private
        } else {
            &self.public
        };
        let Some(subs) = map.get(stream) else { return };
        let frame = json!({"stream": stream, "data": data}).to_string();
        for s in subs {
            batches
                .entry(s.conn)
                .or_insert_with(|| (s.tx.clone(), account, Vec::new()))
                .2
                .push(frame.clone());
        }
    }
}
