//! The two WebSocket endpoints: `/w3w/wsa/stream` (public) and `/w3w/stream` (private,
//! `alpha@<listenKey>`), with SUBSCRIBE, UNSUBSCRIBE and LIST_SUBSCRIPTION.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::Message;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc::unbounded_channel;

use super::state::{Outgoing, SimState, now_ms};
use crate::exchange::wire::paths;
use crate::exchange::wire::stream::Request;

/// How often the server pings an idle connection.
const PING_EVERY: Duration = Duration::from_secs(20);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::PUBLIC_STREAM, web::get().to(public))
        .route(paths::PRIVATE_STREAM, web::get().to(private));
}

async fn public(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<SimState>,
) -> actix_web::Result<HttpResponse> {
    connect(req, body, state, false)
}

async fn private(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<SimState>,
) -> actix_web::Result<HttpResponse> {
    connect(req, body, state, true)
}

fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<SimState>,
    private: bool,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut incoming) = actix_ws::handle(&req, body)?;
    let (tx, mut rx) = unbounded_channel::<Outgoing>();
    let conn = state.with(|s| s.new_conn_id());
    actix_web::rt::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Outgoing::Text(text)) => if session.text(text).await.is_err() { break },
                    Some(Outgoing::Close) | None => break,
                },
                msg = incoming.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        let answer = state.with(|s| {
                            let now = now_ms();
                            let req: Request = match serde_json::from_str(&text) {
                                Ok(r) => r,
                                Err(e) => return json!({"error": {"code": 2, "msg": format!("Invalid request: {e}")}, "id": null}),
                            };
                            match req.method.as_str() {
                                "SUBSCRIBE" => {
                                    for stream in &req.params {
                                        if let Err((code, msg)) = s.subscribe(conn, &tx, stream, private, now) {
                                            return json!({"error": {"code": code, "msg": msg}, "id": req.id});
                                        }
                                    }
                                    json!({"result": null, "id": req.id})
                                }
                                "UNSUBSCRIBE" => {
                                    for stream in &req.params {
                                        s.unsubscribe(conn, stream);
                                    }
                                    json!({"result": null, "id": req.id})
                                }
                                "LIST_SUBSCRIPTION" => json!({"result": s.subscriptions(conn), "id": req.id}),
                                other => json!({"error": {"code": 1, "msg": format!("Unknown method {other}")}, "id": req.id}),
                            }
                        });
                        if session.text(answer.to_string()).await.is_err() { break }
                    }
                    Some(Ok(Message::Ping(bytes))) => {
                        // A stalled connection stays open but says nothing, pongs included.
                        if !state.with(|s| s.stalled(conn, now_ms())) && session.pong(&bytes).await.is_err() { break }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                _ = ping.tick() => {
                    if !state.with(|s| s.stalled(conn, now_ms())) && session.ping(b"").await.is_err() { break }
                }
            }
        }
        state.with(|s| s.disconnect(conn));
        let _ = session.close(None).await;
    });
    Ok(response)
}
