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
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::ApiState;
use super::auth::Authorized;
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
    state: web::Data<ApiState>,
    /// `Some` when status frames were asked for.
    statuses: Option<Interval>,
    /// Statuses updated at or after this were not sent yet (the start of the last scan: one
    /// updated during a scan goes out again with the next, never not at all).
    since_ms: i64,
    queued: VecDeque<Bytes>,
}

pub async fn stream(
    _: Authorized,
    state: web::Data<ApiState>,
    query: web::Query<StreamQuery>,
) -> HttpResponse {
    let statuses = query.status.then(|| {
        let mut t = tokio::time::interval_at(Instant::now(), STATUS_EVERY);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    });
    let feed = Feed {
        rx: state.ctx.events.subscribe(),
        state,
        statuses,
        since_ms: i64::MIN,
        queued: VecDeque::new(),
    };
    let body = stream::unfold(feed, |mut f| async move {
        let chunk = next_chunk(&mut f).await?;
        Some((Ok::<_, actix_web::Error>(chunk), f))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body)
}

/// The next piece of the stream; `None` ends it (the daemon is stopping).
async fn next_chunk(f: &mut Feed) -> Option<Bytes> {
    loop {
        if let Some(b) = f.queued.pop_front() {
            return Some(b);
        }
        let tick = async {
            match f.statuses.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
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
            () = tick => {
                let scan = f.state.ctx.clock.now_ms();
                for s in f.state.sup.statuses() {
                    if s.updated_at_ms >= f.since_ms {
                        let json = serde_json::to_string(&s).unwrap_or_default();
                        f.queued.push_back(Bytes::from(format!("event: status\ndata: {json}\n\n")));
                    }
                }
                f.since_ms = scan;
            }
        }
    }
}
