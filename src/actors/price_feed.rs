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

use crate::domain::volatility::VolatilityWindow;
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
}

#[derive(Debug)]
struct Snapshot {
    price: Option<Decimal>,
    at_ms: i64,
    window: VolatilityWindow,
    connected: bool,
    /// Accounts to wake when the price reaches a level or goes below it, by (level, account).
    alarms: BTreeMap<(Decimal, i64), Arc<Notify>>,
    /// Each account's level in `alarms`.
    armed: HashMap<i64, Decimal>,
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
                alarms: BTreeMap::new(),
                armed: HashMap::new(),
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
        s.price = Some(price);
        s.at_ms = now_ms;
        s.window.push(now_ms, price);
        // Every alarm at this price or above rings once: a trade costs one range lookup, not
        // a look by every account on the token.
        let rung: Vec<(Decimal, i64)> = s
            .alarms
            .range((price, i64::MIN)..)
            .map(|(k, _)| *k)
            .collect();
        for key in rung {
            if let Some(bell) = s.alarms.remove(&key) {
                s.armed.remove(&key.1);
                bell.notify_one();
            }
        }
    }

    /// Rings `bell` once when the price reaches `level` or goes below it (at once if it is
    /// there already); `None` takes the account's alarm off. One alarm per account: a new
    /// level replaces the old.
    pub fn alarm(&self, account_id: i64, level: Option<Decimal>, bell: &Arc<Notify>) {
        let mut s = self.lock();
        if let Some(old) = s.armed.remove(&account_id) {
            s.alarms.remove(&(old, account_id));
        }
        let Some(level) = level else {
            return;
        };
        if s.price.is_some_and(|p| p <= level) {
            bell.notify_one();
            return;
        }
        s.alarms.insert((level, account_id), bell.clone());
        s.armed.insert(account_id, level);
    }

    fn set_connected(&self, connected: bool) {
        self.lock().connected = connected;
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
                        cell.record(trade.price, clock.now_ms());
                        cell.set_connected(true);
                    }
                }
                StreamEvent::Connected { attempt } => {
                    info!(log, "price stream connected"; fields::EVENT_ACTION => "price-stream-connect",
                        "trading.stream.attempt" => attempt);
                    for cell in cells.values() {
                        cell.set_connected(true);
                    }
                }
                StreamEvent::Disconnected { reason, retry_in } => {
                    metrics::counter!(crate::meters::STREAM_LOST, "stream" => "public").increment(1);
                    warn!(log, "price stream lost"; fields::EVENT_ACTION => "price-stream-lost",
                        "error.message" => reason, "trading.stream.retry_in_ms" => u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX));
                    for cell in cells.values() {
                        cell.set_connected(false);
                    }
                }
                StreamEvent::Stale { .. } => {
                    for cell in cells.values() {
                        cell.set_connected(false);
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
        let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        cell.record(d("1.00"), 0);
        cell.alarm(1, Some(d("0.95")), &a);
        cell.alarm(2, Some(d("0.90")), &b);
        cell.record(d("0.96"), 1);
        assert!(!rang(&a) && !rang(&b));
        cell.record(d("0.95"), 2);
        assert!(rang(&a), "at the level");
        assert!(!rang(&b));
        cell.record(d("0.94"), 3);
        assert!(!rang(&a), "once: the account arms it again after its look");
        // Replaced, then taken off: the old level no longer rings.
        cell.alarm(2, Some(d("0.80")), &b);
        cell.record(d("0.85"), 4);
        assert!(!rang(&b));
        cell.alarm(2, None, &b);
        cell.record(d("0.70"), 5);
        assert!(!rang(&b));
        // Armed below the price already there: rings at once.
        cell.alarm(1, Some(d("0.75")), &a);
        assert!(rang(&a));
    }
}
