//! One account's private stream: a listenKey, kept alive on a timer and replaced when it
//! fails, and the `alpha@<listenKey>` stream whose execution reports go to the account's
//! mailbox. The account hears `Up` only once the subscription is confirmed, so it
//! reconciles after every gap, never before the stream can carry what follows.

use std::rc::Rc;
use std::time::Duration;

use slog::{Logger, debug, warn};
use tokio::sync::mpsc;
use tokio::time::{Instant, interval_at};

use crate::exchange::error::ExchangeError;
use crate::exchange::rest::RestClient;
use crate::exchange::stream::{self, Backoff, StreamConfig, StreamEvent};
use crate::exchange::wire::stream::ExecutionReport;
use crate::exchange::wire::symbols;
use crate::telemetry::fields;

use super::Ctx;

/// What the private stream tells its account.
#[derive(Debug)]
pub enum StreamNews {
    /// Subscribed (again): reconcile before trading on.
    Up,
    Down(String),
    Report(Box<ExecutionReport>),
    /// The listen key could not be had because of the session.
    SessionProblem(ExchangeError),
}

/// Runs until the account's mailbox closes. The mailbox takes any message a [`StreamNews`]
/// becomes, so the stream needs nothing of the account.
pub async fn run<M: From<StreamNews>>(
    ctx: Ctx,
    rest: Rc<RestClient>,
    tx: mpsc::Sender<M>,
    log: Logger,
) {
    let t = &ctx.timing;
    let mut backoff = Backoff::new(t.stream_backoff_min, t.stream_backoff_max);
    loop {
        let key = match rest.listen_key().await {
            Ok(k) => k,
            Err(e) => {
                let wait = backoff.next_delay();
                warn!(log, "cannot get a listen key"; fields::EVENT_ACTION => "listen-key-create",
                    fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string(),
                    "trading.stream.retry_in_ms" => millis(wait));
                let session = matches!(
                    e,
                    ExchangeError::SessionExpired
                        | ExchangeError::TwoFactorRequired { .. }
                        | ExchangeError::FaceCheckRequired
                );
                let msg = if session {
                    StreamNews::SessionProblem(e)
                } else {
                    StreamNews::Down(format!("listen key: {e}"))
                };
                if tx.send(msg.into()).await.is_err() {
                    return;
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let name = symbols::user_stream(&key);
        let cfg = StreamConfig {
            backoff_min: t.stream_backoff_min,
            backoff_max: t.stream_backoff_max,
            stale_after: t.stream_stale,
            ping_every: t.stream_stale / 2,
            ..StreamConfig::private(&ctx.exchange.private_ws_url)
        };
        let (handle, mut events) = stream::spawn(cfg, vec![name.clone()]);
        let every = t.listen_key_keep_alive;
        let mut keep_alive = interval_at(Instant::now() + every, every);
        let reason = loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = keep_alive.tick() => {
                    if let Err(e) = rest.keep_alive(&key).await {
                        break format!("listen key keep-alive failed: {e}");
                    }
                    debug!(log, "listen key kept alive"; fields::EVENT_ACTION => "listen-key-keep-alive");
                }
                event = events.recv() => {
                    let Some(event) = event else { break "stream task ended".to_owned() };
                    let msg = match event {
                        StreamEvent::Subscribed { .. } => {
                            backoff.reset();
                            Some(StreamNews::Up)
                        }
                        StreamEvent::Frame { data, .. } => match parse(&data) {
                            Frame::Report(r) => Some(StreamNews::Report(r)),
                            // The subscription carries nothing more: a new key, a new stream.
                            Frame::KeyExpired => break "the listen key expired".to_owned(),
                            Frame::Other => None,
                        },
                        StreamEvent::Disconnected { reason, .. } => Some(StreamNews::Down(reason)),
                        StreamEvent::Stale { silent_for } => Some(StreamNews::Down(format!(
                            "silent for {} ms", millis(silent_for)))),
                        StreamEvent::SubscribeFailed { reason, .. } => {
                            break format!("subscription refused: {reason}");
                        }
                        StreamEvent::Connected { .. } => None,
                    };
                    if let Some(msg) = msg && tx.send(msg.into()).await.is_err() {
                        return;
                    }
                }
            }
        };
        // The key is gone or refused: the stream goes down until a new key is subscribed.
        handle.close();
        warn!(log, "private stream replaced"; fields::EVENT_ACTION => "listen-key-replace",
            "error.message" => reason.clone());
        if tx.send(StreamNews::Down(reason).into()).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// What a private stream frame says.
enum Frame {
    Report(Box<ExecutionReport>),
    /// `listenKeyExpired`: spot's event for a dead key. Whether Alpha sends it is not captured
    /// (PROTOCOL 7.5); where it does not, the keep-alive's failure and the periodic sync of a
    /// live pair are what notice.
    KeyExpired,
    Other,
}

fn parse(data: &str) -> Frame {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "e")]
        event_type: String,
    }
    match serde_json::from_str::<Kind>(data) {
        Ok(k) if k.event_type == "listenKeyExpired" => Frame::KeyExpired,
        Ok(k) if k.event_type == "executionReport" => serde_json::from_str(data)
            .map(|r| Frame::Report(Box::new(r)))
            .unwrap_or(Frame::Other),
        _ => Frame::Other,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
