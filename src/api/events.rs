//! `GET /api/v1/events/stream`: every account event as Server-Sent Events, the moment it is
//! stored, with a comment line every 15 s so proxies keep the connection open. With
//! `?status=true` it also carries `status` frames: each account's live status once a second
//! when it changed, so a page shows progress without asking again and again.

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use tokio::time::{Instant, MissedTickBehavior};

use super::ApiState;
use super::auth::Authorized;
use super::error::ApiError;
use super::limits::{MAX_STATUS_SUBSCRIBERS, MAX_SUBSCRIBERS, Seat};
use crate::actors::LiveEvent;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Add `status` frames (each account's live status, once a second when it changed).
    #[serde(default)]
    status: bool,
}

const KEEP_ALIVE: Duration = Duration::from_secs(15);
const STATUS_EVERY: Duration = Duration::from_secs(1);

struct Feed {
    rx: Receiver<LiveEvent>,
    /// `Some` when status frames were asked for: the shared frames of each second.
    statuses: Option<Receiver<Arc<Vec<Bytes>>>>,
    queued: VecDeque<Bytes>,
    /// The place among the capped subscribers, held while the stream lives.
    _seat: Seat,
}

pub async fn stream(
    _: Authorized,
    state: web::Data<ApiState>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let seat = state.limits.seat(query.status).ok_or_else(|| {
        ApiError::Unavailable(format!(
            "too many event-stream subscribers (at most {MAX_SUBSCRIBERS}, {MAX_STATUS_SUBSCRIBERS} with statuses): try again later"
        ))
    })?;
    let mut queued = VecDeque::new();
    let statuses = query.status.then(|| {
        // Subscribed before the first frames are taken, so nothing changed in between is
        // missed: every status now, then the shared changes of each second.
        let rx = state.limits.status_frames.subscribe();
        queued.extend(state.sup.statuses().iter().map(frame));
        rx
    });
    let feed = Feed {
        rx: state.ctx.events.subscribe(),
        statuses,
        queued,
        _seat: seat,
    };
    let body = stream::unfold(feed, |mut f| async move {
        let chunk = next_chunk(&mut f).await?;
        Some((Ok::<_, actix_web::Error>(chunk), f))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body))
}

fn frame(s: &crate::actors::account::AccountStatus) -> Bytes {
    let json = serde_json::to_string(s).unwrap_or_default();
    Bytes::from(format!("event: status\ndata: {json}\n\n"))
}

/// Once a second, while anyone subscribes to statuses, the statuses changed since the last
/// scan become frames, built once for all subscribers.
pub async fn publish_statuses(state: web::Data<ApiState>) {
    let mut every = tokio::time::interval_at(Instant::now() + STATUS_EVERY, STATUS_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Statuses updated at or after this were not sent yet (the start of the last scan: one
    // updated during a scan goes out again with the next, never not at all).
    let mut since_ms = state.ctx.clock.now_ms();
    loop {
        every.tick().await;
        let scan = state.ctx.clock.now_ms();
        if state.limits.status_frames.receiver_count() == 0 {
            since_ms = scan;
            continue;
        }
        let frames: Vec<Bytes> = state
            .sup
            .statuses()
            .iter()
            .filter(|s| s.updated_at_ms >= since_ms)
            .map(frame)
            .collect();
        since_ms = scan;
        // Sent even when empty: each subscriber then writes a comment, which is how a
        // subscriber that went away is noticed (and its place freed) within a second.
        let _ = state.limits.status_frames.send(Arc::new(frames));
    }
}

/// The next piece of the stream; `None` ends it (the daemon is stopping).
async fn next_chunk(f: &mut Feed) -> Option<Bytes> {
    loop {
        if let Some(b) = f.queued.pop_front() {
            return Some(b);
        }
        let frames = async {
            match f.statuses.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            next = tokio::time::timeout(KEEP_ALIVE, f.rx.recv()) => {
                return match next {
                    Err(_) => Some(Bytes::from_static(b": keep-alive\n\n")),
                    Ok(Ok(ev)) => {
                        let json = serde_json::to_string(&ev).unwrap_or_default();
                        Some(Bytes::from(format!("id: {}\nevent: {}\ndata: {json}\n\n", ev.id, ev.kind)))
                    }
                    // Fell behind: the events are in the store; say so and go on.
                    Ok(Err(RecvError::Lagged(n))) => {
                        Some(Bytes::from(format!(": {n} events skipped; read them from /events\n\n")))
                    }
                    Ok(Err(RecvError::Closed)) => None,
                };
            }
            got = frames => match got {
                Ok(frames) if frames.is_empty() => return Some(Bytes::from_static(b": tick\n\n")),
                Ok(frames) => f.queued.extend(frames.iter().cloned()),
                // A slow reader skipped seconds: the next changes come with the next frames.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            },
        }
    }
}
