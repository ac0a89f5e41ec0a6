//! The exchange's WebSocket streams (tokio-tungstenite), kept connected.
//!
//! One task per connection: it subscribes, forwards data frames, answers pings and sends its
//! own, and reconnects with exponential backoff when the connection drops or goes silent past
//! its limit (a stale stream counts as lost). The backoff resets once a connection has stayed
//! healthy for a while. Every connect is reported, so the caller can reconcile what it may have
//! missed; subscriptions are renewed on every connect.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;

use super::wire::stream::ServerMessage;

/// Exponential backoff between reconnects.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The delay before the next attempt; each call doubles the following one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// How a stream connection behaves.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `wss://.../w3w/wsa/stream` (public) or `wss://.../w3w/stream` (private).
    pub url: String,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A connection that lasted this long resets the backoff.
    pub healthy_after: Duration,
    /// Silence (no message of any kind) longer than this makes the stream stale.
    pub stale_after: Duration,
    /// How often the client pings; the pongs keep an idle stream from looking stale.
    pub ping_every: Duration,
    pub connect_timeout: Duration,
}

impl StreamConfig {
    /// The public market stream: 1 s to 30 s backoff.
    pub fn public(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
            stale_after: Duration::from_secs(30),
            ping_every: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The private user stream: 2 s to 120 s backoff.
    pub fn private(url: &str) -> Self {
        Self {
            backoff_min: Duration::from_secs(2),
            backoff_max: Duration::from_secs(120),
            ..Self::public(url)
        }
    }
}

/// What the stream task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Connected (again) and subscribed: what happened meanwhile must be reconciled.
    Connected { attempt: u32 },
    /// The connection ended or could not be made; a reconnect follows after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// Connected but silent past the limit; the connection is dropped and made again.
    Stale { silent_for: Duration },
    /// The server confirmed a subscription: frames of these streams flow from now on.
    Subscribed { streams: Vec<String> },
    /// The server refused a subscription (an invalid listen key, for one).
    SubscribeFailed {
        streams: Vec<String>,
        reason: String,
    },
    /// A data frame: its stream name and the raw JSON of its `data`.
    Frame { stream: String, data: String },
}

enum Command {
    Subscribe(Vec<String>),
    Unsubscribe(Vec<String>),
    Close,
}

/// Controls a running stream task. Dropping it closes the stream.
pub struct StreamHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl StreamHandle {
    pub fn subscribe(&self, streams: Vec<String>) {
        let _ = self.commands.send(Command::Subscribe(streams));
    }

    pub fn unsubscribe(&self, streams: Vec<String>) {
        let _ = self.commands.send(Command::Unsubscribe(streams));
    }

    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.close();
    }
}

/// Starts a stream task on the current tokio runtime, subscribed to `streams`.
pub fn spawn(
    cfg: StreamConfig,
    streams: Vec<String>,
) -> (StreamHandle, mpsc::Receiver<StreamEvent>) {
    let (commands, rx) = mpsc::unbounded_channel();
    let (events, out) = mpsc::channel(4096);
    tokio::spawn(run(cfg, streams.into_iter().collect(), rx, events));
    (StreamHandle { commands }, out)
}

enum Ended {
    /// The caller closed the stream (or went away).
    Closed,
    Lost(String),
}

async fn run(
    cfg: StreamConfig,
    mut subs: BTreeSet<String>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<StreamEvent>,
) {
    let mut backoff = Backoff::new(cfg.backoff_min, cfg.backoff_max);
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let reason = match timeout(
            cfg.connect_timeout,
            tokio_tungstenite::connect_async_with_config(
                cfg.url.as_str(),
                Some(ws_config()),
                // Nagle off: a pong or a subscription goes out at once.
                true,
            ),
        )
        .await
        {
            Err(_) => "connect timed out".to_owned(),
            Ok(Err(e)) => format!("connect failed: {e}"),
            Ok(Ok((ws, _))) => {
                let started = Instant::now();
                if events
                    .send(StreamEvent::Connected { attempt })
                    .await
                    .is_err()
                {
                    return;
                }
                match serve(&cfg, ws, &mut subs, &mut commands, &events).await {
                    Ended::Closed => return,
                    Ended::Lost(reason) => {
                        if started.elapsed() >= cfg.healthy_after {
                            backoff.reset();
                        }
                        reason
                    }
                }
            }
        };
        let retry_in = backoff.next_delay();
        if events
            .send(StreamEvent::Disconnected { reason, retry_in })
            .await
            .is_err()
        {
            return;
        }
        // Wait, but stay responsive to the caller meanwhile.
        let until = Instant::now() + retry_in;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Close) => return,
                    Some(Command::Subscribe(s)) => subs.extend(s),
                    Some(Command::Unsubscribe(s)) => s.iter().for_each(|x| { subs.remove(x); }),
                },
            }
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn control(method: &str, streams: &[String], id: u64) -> Message {
    Message::text(serde_json::json!({ "method": method, "params": streams, "id": id }).to_string())
}

async fn serve(
    cfg: &StreamConfig,
    mut ws: Ws,
    subs: &mut BTreeSet<String>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &mpsc::Sender<StreamEvent>,
) -> Ended {
    let mut next_id: u64 = 1;
    let mut pending: Vec<(u64, Vec<String>)> = Vec::new();
    if !subs.is_empty() {
        let all: Vec<String> = subs.iter().cloned().collect();
        if ws.send(control("SUBSCRIBE", &all, next_id)).await.is_err() {
            return Ended::Lost("subscribe failed".into());
        }
        pending.push((next_id, all));
        next_id += 1;
    }
    let mut last_heard = Instant::now();
    let mut last_ping = last_heard;
    loop {
        // One timer per connection, set by the silence: a stream that hears frames sends no
        // pings, and a quiet one wakes only to ping or to be judged stale.
        let ping_due = last_heard.max(last_ping) + cfg.ping_every;
        let stale_due = last_heard + cfg.stale_after + Duration::from_millis(1);
        tokio::select! {
            cmd = commands.recv() => {
                let (method, streams) = match cmd {
                    None | Some(Command::Close) => {
                        let _ = ws.close(None).await;
                        return Ended::Closed;
                    }
                    Some(Command::Subscribe(s)) => {
                        subs.extend(s.iter().cloned());
                        ("SUBSCRIBE", s)
                    }
                    Some(Command::Unsubscribe(s)) => {
                        s.iter().for_each(|x| { subs.remove(x); });
                        ("UNSUBSCRIBE", s)
                    }
                };
                if ws.send(control(method, &streams, next_id)).await.is_err() {
                    return Ended::Lost(format!("{method} could not be sent"));
                }
                if method == "SUBSCRIBE" {
                    pending.push((next_id, streams));
                }
                next_id += 1;
            }
            msg = ws.next() => {
                last_heard = Instant::now();
                let text = match msg {
                    None => return Ended::Lost("the server closed the stream".into()),
                    Some(Err(e)) => return Ended::Lost(format!("stream error: {e}")),
                    Some(Ok(Message::Close(frame))) => {
                        return Ended::Lost(format!("closed by the server{}", frame.map(|f| format!(": {}", f.reason)).unwrap_or_default()));
                    }
                    Some(Ok(Message::Text(t))) => t,
                    // Pings are answered by tungstenite itself; pongs and the rest only prove life.
                    Some(Ok(_)) => continue,
                };
                let Ok(parsed) = serde_json::from_str::<ServerMessage>(text.as_str()) else { continue };
                if let Some((stream, data)) = parsed.frame() {
                    let event = StreamEvent::Frame { stream: stream.to_owned(), data: data.to_owned() };
                    if events.send(event).await.is_err() {
                        return Ended::Closed;
                    }
                    continue;
                }
                let id = parsed.id.as_ref().and_then(serde_json::Value::as_u64);
                let refused = serde_json::from_str::<serde_json::Value>(text.as_str()).ok().and_then(|v| v.get("error").cloned());
                if let Some(pos) = pending.iter().position(|(pid, _)| Some(*pid) == id) {
                    let (_, streams) = pending.remove(pos);
                    let event = match refused {
                        Some(error) => {
                            streams.iter().for_each(|s| { subs.remove(s); });
                            StreamEvent::SubscribeFailed { streams, reason: error.to_string() }
                        }
                        None => StreamEvent::Subscribed { streams },
                    };
                    if events.send(event).await.is_err() {
                        return Ended::Closed;
                    }
                }
            }
            _ = sleep_until(ping_due.min(stale_due)) => {
                let silent_for = last_heard.elapsed();
                if silent_for <= cfg.stale_after {
                    if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return Ended::Lost("ping could not be sent".into());
                    }
                    last_ping = Instant::now();
                } else {
                    if events.send(StreamEvent::Stale { silent_for }).await.is_err() {
                        return Ended::Closed;
                    }
                    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Ended::Lost(format!("silent for {} ms", silent_for.as_millis()));
                }
            }
        }
    }
}

/// Buffers sized for thousands of connections carrying small frames: the library's default
/// allocates 128 KiB for reading on each, and holds writes back until 128 KiB are queued.
fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
        let mut odd = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(
            odd.next_delay(),
            Duration::from_millis(1),
            "never a busy loop"
        );
    }

    #[test]
    fn the_default_limits_follow_the_working_bots() {
        let public = StreamConfig::public("wss://x/w3w/wsa/stream");
        let private = StreamConfig::private("wss://x/w3w/stream");
        assert_eq!(
            (public.backoff_min, public.backoff_max),
            (Duration::from_secs(1), Duration::from_secs(30))
        );
        assert_eq!(
            (private.backoff_min, private.backoff_max),
            (Duration::from_secs(2), Duration::from_secs(120))
        );
        assert!(public.ping_every < public.stale_after);
    }
}
