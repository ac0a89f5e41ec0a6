//! `GET /api/v1/events/stream`: every account event as Server-Sent Events, the moment it is
//! stored, with a comment line every 15 s so proxies keep the connection open.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::ApiState;
use super::auth::Authorized;

pub async fn stream(_: Authorized, state: web::Data<ApiState>) -> HttpResponse {
    let rx = state.ctx.events.subscribe();
    let body = stream::unfold(rx, |mut rx| async move {
        let next = tokio::time::timeout(Duration::from_secs(15), rx.recv()).await;
        let chunk = match next {
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
            Ok(Ok(ev)) => {
                let json = serde_json::to_string(&ev).unwrap_or_default();
                Bytes::from(format!(
                    "id: {}\nevent: {}\ndata: {json}\n\n",
                    ev.id, ev.kind
                ))
            }
            // Fell behind: the events are in the store; say so and go on.
            Ok(Err(RecvError::Lagged(n))) => {
                Bytes::from(format!(": {n} events skipped; read them from /events\n\n"))
            }
            Ok(Err(RecvError::Closed)) => return None,
        };
        Some((Ok::<_, actix_web::Error>(chunk), rx))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body)
}
