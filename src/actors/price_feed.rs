//! Prices as shared state (R16): one public stream connection carries the aggTrade streams of
//! every token in use; each token's latest price and 60-second window live in a [`PriceCell`]
//! that accounts read when they decide. Thousands of accounts on one token cost one update per
//! trade, not one message per account.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;
use slog::{Logger, info, warn};
use tokio::sync::{Notify, mpsc};

use crate::domain::volatility::{Traded, VolatilityWindow};
use crate::exchange::rest::RestClient;
use crate::exchange::stream::{self, StreamConfig, StreamEvent, StreamHandle};
use crate::exchange::wire::stream::AggTradeEvent;
use crate::telemetry::fields;

use crate::clock::Clock;

/// What an account reads of its token's market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceView {
    pub price: Decimal,
    /// When the price was seen (daemon clock, ms).
    pub at_ms: i64,
    /// Max-min over min in the last 60 s, in percent.
    pub range_pct: Option<Decimal>,
    pub connected: bool,
    /// Since when (daemon clock, ms) the stream has been connected without a break: every
    /// trade since then was seen. `None` while it is down.
    pub unbroken_since_ms: Option<i64>,
}

/// The prices at which an account wants a look: at `below` or under it, at `above` or over it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlarmBand {
    pub below: Option<Decimal>,
    pub above: Option<Decimal>,
}

#[derive(Debug)]
struct Snapshot {
    price: Option<Decimal>,
    at_ms: i64,
    window: VolatilityWindow,
    connected: bool,
    unbroken_since_ms: Option<i64>,
    /// The last aggregate trade id heard on the stream.
    last_id: Option<u64>,
    /// Accounts to wake when the price reaches a level or goes below it, by (level, account).
    below: BTreeMap<(Decimal, i64), Arc<Notify>>,
    /// Accounts to wake when the price reaches a level or goes above it.
    above: BTreeMap<(Decimal, i64), Arc<Notify>>,
    /// Each account's band in `below` and `above`.
    armed: HashMap<i64, AlarmBand>,
    /// Accounts not armed, with the number of the last trade they were watching for (the one
    /// that rang, or the last before they took their alarm off): a band armed again is first
    /// held against every trade since, so none made while nobody watched is missed.
    unwatched: HashMap<i64, u64>,
}

impl Snapshot {
    /// The stream broke: trades may have gone unseen, so every armed account looks again
    /// (and finds the price no longer vouches for its pair).
    fn ring_all(&mut self) {
        let seq = self.window.seq();
        for (account, _) in self.armed.drain() {
            self.unwatched.insert(account, seq);
        }
        let mut bells: HashMap<i64, Arc<Notify>> = HashMap::new();
        let below = std::mem::take(&mut self.below);
        let above = std::mem::take(&mut self.above);
        for ((_, account), bell) in below.into_iter().chain(above) {
            bells.entry(account).or_insert(bell);
        }
        for bell in bells.into_values() {
            bell.notify_one();
        }
    }

    fn record(&mut self, price: Decimal, now_ms: i64) {
        self.price = Some(price);
        self.at_ms = now_ms;
        self.window.push(now_ms, price);
        // Every alarm the price reached rings once: a trade costs two range lookups, not a
        // look by every account on the token.
        let rung: Vec<(i64, Arc<Notify>)> = self
            .below
            .range((price, i64::MIN)..)
            .chain(self.above.range(..=(price, i64::MAX)))
            .map(|((_, account), bell)| (*account, bell.clone()))
            .collect();
        let seq = self.window.seq();
        for (account, bell) in rung {
            if self.armed.contains_key(&account) {
                self.disarm(account);
                self.unwatched.insert(account, seq);
                bell.notify_one();
            }
        }
    }

    /// The stream's aggregate trade `id`: the ids of a symbol follow one another, so a gap
    /// means trades went unseen (frames lost on a connection that stayed up), which counts as
    /// a break of the stream. An id at or under the last (a repeat) changes nothing.
    fn sequence(&mut self, id: u64, now_ms: i64) {
        if let Some(last) = self.last_id {
            if id <= last {
                return;
            }
            if id > last + 1 && self.unbroken_since_ms.is_some() {
                self.unbroken_since_ms = Some(now_ms);
                self.ring_all();
            }
        }
        self.last_id = Some(id);
    }

    fn set_connected(&mut self, connected: bool, now_ms: i64) {
        if !connected {
            self.unbroken_since_ms = None;
            if self.connected {
                self.ring_all();
            }
        } else if !self.connected {
            self.unbroken_since_ms = Some(now_ms);
        }
        self.connected = connected;
    }

    fn disarm(&mut self, account_id: i64) {
        if let Some(old) = self.armed.remove(&account_id) {
            if let Some(level) = old.below {
                self.below.remove(&(level, account_id));
            }
            if let Some(level) = old.above {
                self.above.remove(&(level, account_id));
            }
        }
    }
}

/// One token's latest price and volatility window.
#[derive(Debug)]
pub struct PriceCell {
    snap: Mutex<Snapshot>,
}

impl PriceCell {
    fn new(window_ms: i64) -> Self {
        Self {
            snap: Mutex::new(Snapshot {
                price: None,
                at_ms: 0,
                window: VolatilityWindow::new(window_ms),
                connected: false,
                unbroken_since_ms: None,
                last_id: None,
                below: BTreeMap::new(),
                above: BTreeMap::new(),
                armed: HashMap::new(),
                unwatched: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        match self.snap.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn record(&self, price: Decimal, now_ms: i64) {
        let mut s = self.lock();
        s.record(price, now_ms);
    }

    /// A trade of the stream: one lock for its id, the connection and its price.
    fn trade(&self, id: u64, price: Decimal, now_ms: i64) {
        let mut s = self.lock();
        s.set_connected(true, now_ms);
        s.sequence(id, now_ms);
        s.record(price, now_ms);
    }

    /// Rings `bell` once when the price reaches the band's `below` or goes under it, or its
    /// `above` or over it; an empty band takes the account's alarm off. One band per account:
    /// a new one replaces the old, and the account is taken to have watched all along.
    ///
    /// It rings at once when the price is there already, or when a trade made at `since_ms`
    /// or later, since the account last stopped watching (a ring, or its alarm taken off),
    /// reached the band: a fill printed between a ring and the next look, or between a
    /// placement and its first alarm, is not missed. A stretch longer than the window (60 s)
    /// cannot be judged and rings too.
    pub fn alarm(&self, account_id: i64, band: AlarmBand, since_ms: i64, bell: &Arc<Notify>) {
        let mut s = self.lock();
        let after = if s.armed.contains_key(&account_id) {
            s.window.seq()
        } else {
            s.unwatched.get(&account_id).copied().unwrap_or(0)
        };
        s.disarm(account_id);
        s.unwatched.insert(account_id, after);
        if band == AlarmBand::default() {
            return;
        }
        let reaches =
            |p: Decimal| band.below.is_some_and(|l| p <= l) || band.above.is_some_and(|l| p >= l);
        let traded = match s.window.traded_since(after, since_ms) {
            Traded::Nothing => false,
            Traded::Span { min, max } => reaches(min) || reaches(max),
            Traded::Unknown => true,
        };
        if traded || s.price.is_some_and(reaches) {
            let seq = s.window.seq();
            s.unwatched.insert(account_id, seq);
            bell.notify_one();
            return;
        }
        s.unwatched.remove(&account_id);
        if let Some(level) = band.below {
            s.below.insert((level, account_id), bell.clone());
        }
        if let Some(level) = band.above {
            s.above.insert((level, account_id), bell.clone());
        }
        s.armed.insert(account_id, band);
    }

    #[cfg(test)]
    fn sequence(&self, id: u64, now_ms: i64) {
        self.lock().sequence(id, now_ms);
    }

    fn set_connected(&self, connected: bool, now_ms: i64) {
        self.lock().set_connected(connected, now_ms);
    }

    /// The latest price without the window's range (which costs its queues' upkeep): what an
    /// account reads on every look to judge its pair, or None before the first price.
    pub fn latest(&self) -> Option<PriceView> {
        let s = self.lock();
        Some(PriceView {
            price: s.price?,
            at_ms: s.at_ms,
            range_pct: None,
            connected: s.connected,
            unbroken_since_ms: s.unbroken_since_ms,
        })
    }

    /// The latest view, or None before the first price.
    pub fn view(&self, now_ms: i64) -> Option<PriceView> {
        let mut s = self.lock();
        let price = s.price?;
        let range_pct = s.window.range_pct(now_ms);
        Some(PriceView {
            price,
            at_ms: s.at_ms,
            range_pct,
            connected: s.connected,
            unbroken_since_ms: s.unbroken_since_ms,
        })
    }
}

enum Command {
    Watch {
        stream: String,
        order_symbol: String,
        cell: Arc<PriceCell>,
    },
}

/// The hub of all price feeds of this instance.
pub struct PriceFeeds {
    cells: Mutex<HashMap<String, Arc<PriceCell>>>,
    window_ms: i64,
    commands: mpsc::UnboundedSender<Command>,
}

impl PriceFeeds {
    /// Starts the shared public stream task on the current (actix) runtime.
    pub fn start(
        ws_url: &str,
        rest: RestClient,
        window: Duration,
        clock: Clock,
        log: Logger,
    ) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        actix_rt::spawn(run(StreamConfig::public(ws_url), rest, clock, log, rx));
        Self {
            cells: Mutex::new(HashMap::new()),
            window_ms: i64::try_from(window.as_millis()).unwrap_or(60_000),
            commands,
        }
    }

    /// The cell of a token's aggTrade `stream` (created and subscribed on first use).
    pub fn watch(&self, stream: &str, order_symbol: &str) -> Arc<PriceCell> {
        let mut cells = match self.cells.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(cell) = cells.get(stream) {
            return cell.clone();
        }
        let cell = Arc::new(PriceCell::new(self.window_ms));
        cells.insert(stream.to_owned(), cell.clone());
        let _ = self.commands.send(Command::Watch {
            stream: stream.to_owned(),
            order_symbol: order_symbol.to_owned(),
            cell: cell.clone(),
        });
        cell
    }
}

async fn run(
    cfg: StreamConfig,
    rest: RestClient,
    clock: Clock,
    log: Logger,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let rest = std::rc::Rc::new(rest);
    let mut cells: HashMap<String, Arc<PriceCell>> = HashMap::new();
    let mut handle: Option<StreamHandle> = None;
    let (mut events, _keep) = {
        let (_tx, rx) = mpsc::channel::<StreamEvent>(1);
        (rx, _tx)
    };
    loop {
        tokio::select! {
            cmd = commands.recv() => {
                let Some(Command::Watch { stream, order_symbol, cell }) = cmd else { return };
                seed(rest.clone(), order_symbol, cell.clone(), clock.clone(), log.clone());
                cells.insert(stream.clone(), cell);
                match &handle {
                    Some(h) => h.subscribe(vec![stream]),
                    None => {
                        let (h, rx) = stream::spawn(cfg.clone(), vec![stream]);
                        handle = Some(h);
                        events = rx;
                    }
                }
            }
            Some(event) = events.recv() => match event {
                StreamEvent::Frame { stream, data } => {
                    if let Some(cell) = cells.get(&stream)
                        && let Ok(trade) = serde_json::from_str::<AggTradeEvent>(&data)
                    {
                        cell.trade(trade.id, trade.price, clock.now_ms());
                    }
                }
                StreamEvent::Connected { attempt } => {
                    info!(log, "price stream connected"; fields::EVENT_ACTION => "price-stream-connect",
                        "trading.stream.attempt" => attempt);
                    let now = clock.now_ms();
                    for cell in cells.values() {
                        cell.set_connected(true, now);
                    }
                }
                StreamEvent::Disconnected { reason, retry_in } => {
                    metrics::counter!(crate::meters::STREAM_LOST, "stream" => "public").increment(1);
                    warn!(log, "price stream lost"; fields::EVENT_ACTION => "price-stream-lost",
                        "error.message" => reason, "trading.stream.retry_in_ms" => u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX));
                    for cell in cells.values() {
                        cell.set_connected(false, 0);
                    }
                }
                StreamEvent::Stale { .. } => {
                    for cell in cells.values() {
                        cell.set_connected(false, 0);
                    }
                }
                StreamEvent::Subscribed { .. } | StreamEvent::SubscribeFailed { .. } => {}
            },
        }
    }
}

/// The first price comes from the recent trades, so an account need not wait for a print.
fn seed(
    rest: std::rc::Rc<RestClient>,
    order_symbol: String,
    cell: Arc<PriceCell>,
    clock: Clock,
    log: Logger,
) {
    actix_rt::spawn(async move {
        for attempt in 0..5u64 {
            match rest.agg_trades(&order_symbol, 1).await {
                Ok(trades) => {
                    if let Some(t) = trades.last()
                        && cell.view(clock.now_ms()).is_none()
                    {
                        cell.record(t.price, clock.now_ms());
                    }
                    return;
                }
                Err(e) => {
                    warn!(log, "cannot read recent trades"; "trading.token.order_symbol" => &order_symbol,
                        "error.message" => e.to_string());
                    tokio::time::sleep(Duration::from_secs(1 + attempt * 2)).await;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rang(bell: &Arc<Notify>) -> bool {
        // A stored permit is taken at once; none means it did not ring.
        let waiting = bell.notified();
        tokio::pin!(waiting);
        waiting.as_mut().enable()
    }

    #[test]
    fn an_alarm_rings_once_when_the_price_reaches_its_level_and_not_above_it() {
        let cell = PriceCell::new(60_000);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let under = |l: &str| AlarmBand {
            below: Some(d(l)),
            above: None,
        };
        let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        cell.record(d("1.00"), 0);
        cell.alarm(1, under("0.95"), 0, &a);
        cell.alarm(2, under("0.90"), 0, &b);
        cell.record(d("0.96"), 1);
        assert!(!rang(&a) && !rang(&b));
        cell.record(d("0.95"), 2);
        assert!(rang(&a), "at the level");
        assert!(!rang(&b));
        cell.record(d("0.94"), 3);
        assert!(!rang(&a), "once: the account arms it again after its look");
        // Replaced, then taken off: the old level no longer rings.
        cell.alarm(2, under("0.80"), 0, &b);
        cell.record(d("0.85"), 4);
        assert!(!rang(&b));
        cell.alarm(2, AlarmBand::default(), 0, &b);
        cell.record(d("0.70"), 5);
        assert!(!rang(&b));
        // Armed below the price already there: rings at once.
        cell.alarm(1, under("0.75"), 0, &a);
        assert!(rang(&a));
    }

    #[test]
    fn a_band_rings_once_at_either_edge_and_then_is_spent() {
        let cell = PriceCell::new(60_000);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let band = AlarmBand {
            below: Some(d("0.90")),
            above: Some(d("1.10")),
        };
        let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        cell.record(d("1.00"), 0);
        cell.alarm(1, band, 0, &a);
        cell.alarm(
            2,
            AlarmBand {
                below: None,
                above: Some(d("1.20")),
            },
            0,
            &b,
        );
        cell.record(d("1.09"), 1);
        cell.record(d("0.91"), 2);
        assert!(!rang(&a) && !rang(&b), "inside the band");
        cell.record(d("1.10"), 3);
        assert!(rang(&a), "at the upper edge");
        assert!(!rang(&b));
        // Spent on both edges: the lower one no longer rings.
        cell.record(d("0.80"), 4);
        assert!(!rang(&a));
        cell.record(d("1.25"), 5);
        assert!(rang(&b), "over the upper edge");
        // Armed with the price over its upper edge already: rings at once.
        cell.alarm(1, band, 0, &a);
        assert!(rang(&a));
    }

    #[test]
    fn the_stream_vouches_for_its_trades_only_since_it_last_connected_or_skipped_one() {
        let cell = PriceCell::new(60_000);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        cell.record(d("1.00"), 10);
        cell.set_connected(true, 10);
        cell.set_connected(true, 20);
        assert_eq!(cell.view(30).unwrap().unbroken_since_ms, Some(10));
        cell.set_connected(false, 0);
        assert_eq!(cell.view(40).unwrap().unbroken_since_ms, None);
        cell.set_connected(true, 50);
        assert_eq!(cell.view(60).unwrap().unbroken_since_ms, Some(50));
        // Trade ids that follow one another keep it; a repeat changes nothing; a gap (a frame
        // lost on a connection that stayed up) is a break.
        cell.sequence(7, 60);
        cell.sequence(8, 61);
        cell.sequence(8, 62);
        cell.sequence(5, 63);
        assert_eq!(cell.view(64).unwrap().unbroken_since_ms, Some(50));
        cell.sequence(10, 70);
        assert_eq!(cell.view(71).unwrap().unbroken_since_ms, Some(70));
        cell.sequence(11, 80);
        assert_eq!(cell.view(81).unwrap().unbroken_since_ms, Some(70));
    }

    #[test]
    fn a_break_of_the_stream_rings_every_armed_account() {
        let cell = PriceCell::new(60_000);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        cell.record(d("1.00"), 0);
        cell.set_connected(true, 0);
        cell.sequence(1, 0);
        let band = |below: Option<&str>, above: Option<&str>| AlarmBand {
            below: below.map(d),
            above: above.map(d),
        };
        cell.alarm(1, band(Some("0.90"), None), 0, &a);
        cell.alarm(2, band(None, Some("1.10")), 0, &b);
        cell.sequence(3, 10);
        assert!(rang(&a) && rang(&b), "a skipped trade rings both");
        cell.alarm(1, band(Some("0.90"), Some("1.10")), 0, &a);
        cell.set_connected(false, 0);
        assert!(rang(&a), "a lost connection rings");
        assert!(
            !rang(&b),
            "an account rung before and not armed again is not"
        );
    }

    #[test]
    fn an_alarm_armed_again_rings_for_a_trade_made_while_the_account_was_not_watching() {
        let cell = PriceCell::new(60_000);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let band = |below: Option<&str>, above: Option<&str>| AlarmBand {
            below: below.map(d),
            above: above.map(d),
        };
        let (a, b, c) = (
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
        );
        cell.record(d("1.00"), 0);
        cell.alarm(1, band(Some("0.90"), None), 0, &a);
        // The buy fills (its print rings), the sale fills before the account looks, and the
        // market trades back: the sale's alarm, armed after, rings at once.
        cell.record(d("0.90"), 1);
        assert!(rang(&a));
        cell.record(d("1.10"), 2);
        cell.record(d("1.00"), 3);
        cell.alarm(1, band(None, Some("1.10")), 0, &a);
        assert!(rang(&a), "the sale printed between the ring and the look");
        // The trade that rang is not held against the account again: armed again at the
        // same level with nothing since, it waits.
        cell.alarm(1, band(None, Some("1.10")), 0, &a);
        assert!(!rang(&a));
        // An account armed for the first time holds its band against the trades since its
        // pair's news (a fill printed during the placement), not before.
        cell.record(d("0.89"), 5);
        cell.record(d("1.00"), 6);
        cell.alarm(2, band(Some("0.90"), None), 5, &b);
        assert!(rang(&b), "a fill printed since the placement");
        cell.alarm(3, band(Some("0.90"), None), 6, &c);
        assert!(!rang(&c), "a print before the placement is not the pair's");
        // Not watching for longer than the window: the stretch cannot be judged, so it rings.
        cell.alarm(3, AlarmBand::default(), 0, &c);
        cell.record(d("1.01"), 7);
        cell.record(d("1.00"), 70_000);
        cell.alarm(3, band(Some("0.90"), None), 6, &c);
        assert!(
            rang(&c),
            "trades since it stopped watching have left the window"
        );
    }
}
