//! Sessions that warn before they die, and daemon-wide notifications on a stand-in Telegram
//! server: one grouped message for a burst, never one per account, and the bot token nowhere
//! but in the request path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use alpha_oto::config::{NotifyConfig, NotifyTelegram};
use serde_json::{Value, json};

use crate::api::{Api, Body, api_with};
use crate::trading::harness;

const BOT_TOKEN: &str = "123456:TEST-bot-token-canary";

/// A stand-in for the Bot API: records each sendMessage with the token it came under.
struct Telegram {
    url: String,
    sent: Arc<Mutex<Vec<(String, Value)>>>,
    _server: actix_web::dev::ServerHandle,
}

async fn telegram() -> Telegram {
    let sent: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let shared = sent.clone();
    let server = HttpServer::new(move || {
        let sent = shared.clone();
        App::new().route(
            "/bot{token}/sendMessage",
            web::post().to(move |token: web::Path<String>, body: web::Json<Value>| {
                let sent = sent.clone();
                async move {
                    sent.lock()
                        .unwrap()
                        .push((token.into_inner(), body.into_inner()));
                    HttpResponse::Ok().json(json!({"ok": true, "result": {}}))
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Telegram {
        url: format!("http://{addr}"),
        sent,
        _server: handle,
    }
}

/// An engine whose notifications go to a stand-in Telegram; `probe_idle` is how often it
/// probes the sessions of accounts that do not trade (the warnings' tests store made-up
/// sessions, which a probe would find refused).
async fn with_telegram(dir: &tempfile::TempDir, probe_idle: Duration) -> (Api, Telegram) {
    let tg = telegram().await;
    let token_file = dir.path().join("telegram.token");
    std::fs::write(&token_file, format!("{BOT_TOKEN}\n")).unwrap();
    let api_url = tg.url.clone();
    let a = api_with(move |c, timing| {
        timing.session_probe_idle = probe_idle;
        c.notify = NotifyConfig {
            group_s: 1,
            min_gap_s: 1,
            webhook: None,
            telegram: Some(NotifyTelegram {
                bot_token_file: token_file,
                chat_id: "-1001".into(),
                min_level: "warn".into(),
                api_url,
            }),
        };
    })
    .await;
    (a, tg)
}

/// Credentials as a browser extension exports them: the login cookie expires at `at_ms`.
fn exported(at_ms: i64) -> Value {
    json!({
        "headers": {"csrftoken": "c0ffee", "user-agent": "Mozilla/5.0"},
        "cookies": [
            {"name": "p20t", "value": "web.1.abc", "expirationDate": at_ms as f64 / 1000.0, "domain": ".binance.com"},
            {"name": "__cf_bm", "value": "short", "expirationDate": (at_ms as f64 / 1000.0) - 3000.0},
            {"name": "lang", "value": "en"}
        ]
    })
}

async fn wait_for(what: &str, secs: u64, ok: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {secs} s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_session_that_expires_in_an_hour_is_warned_once_and_notified_on_telegram() {
    let dir = tempfile::tempdir().unwrap();
    let (a, tg) = with_telegram(&dir, Duration::from_secs(3600)).await;
    let mut body = serde_json::to_value(harness::settings("KOGE", "10", "1000")).unwrap();
    body["name"] = json!("s1");
    assert_eq!(
        a.ok("POST", "/api/v1/accounts", Some(Body::Json(body)))
            .await
            .0,
        201
    );
    let expires = chrono::Utc::now().timestamp_millis() + 3_600_000;
    let stored_at = std::time::Instant::now();
    let (s, v) = a
        .ok(
            "PUT",
            "/api/v1/accounts/s1/credentials",
            Some(Body::Json(exported(expires))),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    // The login cookie's expiry, not the short-lived bot-check cookie's.
    let (_, v) = a.ok("GET", "/api/v1/accounts/s1", None).await;
    assert_eq!(
        (
            &v["session"],
            v["session_expires_at_ms"].as_i64().map(|t| t / 1000)
        ),
        (&json!("expiring"), Some(expires / 1000)),
        "{v}"
    );
    assert_eq!(v["needs_person"], json!(["session_expiring"]), "{v}");
    let (_, v) = a
        .ok("GET", "/api/v1/accounts?needs_person=true", None)
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");

    wait_for("one message on Telegram", 10, || {
        !tg.sent.lock().unwrap().is_empty()
    })
    .await;
    eprintln!(
        "the warning reached Telegram {:?} after the credentials were stored",
        stored_at.elapsed()
    );
    let (_, events) = a.ok("GET", "/api/v1/accounts/s1/events", None).await;
    let warnings: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "session_expiring")
        .collect();
    assert_eq!(warnings.len(), 1, "{events}");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("(in 0h59m)")
            || warnings[0]["message"]
                .as_str()
                .unwrap()
                .contains("(in 1h00m)"),
        "{}",
        warnings[0]
    );
    // Looked at again and again: no second warning, no second message.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent = tg.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (token, msg) = &sent[0];
    assert_eq!(token, BOT_TOKEN);
    assert_eq!(msg["chat_id"], "-1001");
    let text = msg["text"].as_str().unwrap();
    assert!(
        text.contains("session_expiring [warn], 1 account(s)") && text.contains("s1"),
        "{text}"
    );
    // The token is in no log line and no answer.
    let logs = String::from_utf8_lossy(&a.logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("notifications on"), "the log was captured");
    assert!(!logs.contains("TEST-bot-token-canary"));
    let (_, doc) = a.ok("GET", "/api/v1/accounts/s1", None).await;
    assert!(!doc.to_string().contains("TEST-bot-token-canary"));
}

#[actix_web::test]
async fn three_hundred_sessions_expiring_together_are_a_few_messages_listing_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, tg) = with_telegram(&dir, Duration::from_secs(3600)).await;
    let expires = chrono::Utc::now().timestamp_millis() + 2 * 3_600_000;
    let mut file = String::new();
    for i in 0..300 {
        let mut row = serde_json::to_value(harness::settings("KOGE", "10", "1000")).unwrap();
        row["name"] = json!(format!("x{i:03}"));
        row["credentials"] = exported(expires);
        file.push_str(&row.to_string());
        file.push('\n');
    }
    let (s, _, v) = a
        .call(
            "POST",
            "/api/v1/accounts-file",
            Some(crate::api::TOKEN),
            Some(Body::Text(file, "application/x-ndjson")),
        )
        .await;
    assert_eq!((s, v["created"].as_u64()), (200, Some(300)), "{v}");
    wait_for("the burst's messages", 10, || {
        !tg.sent.lock().unwrap().is_empty()
    })
    .await;
    // The burst is gathered for a second; whatever follows it would be a new message.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sent = tg.sent.lock().unwrap().clone();
    assert!((1..=3).contains(&sent.len()), "{} messages", sent.len());
    let texts: Vec<&str> = sent
        .iter()
        .map(|(_, m)| m["text"].as_str().unwrap())
        .collect();
    for t in &texts {
        assert!(t.chars().count() <= 4096, "{t}");
        assert!(
            t.contains("x0") || t.contains("x1") || t.contains("x2"),
            "a message without accounts: {t}"
        );
    }
    let all = texts.join("\n");
    for i in 0..300 {
        assert!(
            all.contains(&format!("x{i:03}")),
            "x{i:03} is in no message"
        );
    }
    assert!(
        all.contains("session_expiring [warn], 300 account(s)"),
        "{all}"
    );
}

#[actix_web::test]
async fn a_stored_session_the_exchange_refuses_is_found_by_a_probe_while_the_account_rests() {
    let dir = tempfile::tempdir().unwrap();
    let (a, tg) = with_telegram(&dir, Duration::from_secs(2)).await;
    // An account that never started: only the session watch asks about its session.
    let sim_id = a.account("idle1", "KOGE", "1000").await;
    let (_, v) = a.ok("GET", "/api/v1/accounts/idle1", None).await;
    assert_eq!(
        (&v["session"], &v["needs_person"]),
        (&json!("unknown"), &json!([])),
        "{v}"
    );
    a.sim
        .state
        .with(|s| s.engine.expire_session(sim_id))
        .unwrap();
    wait_for("the refusal on Telegram", 10, || {
        tg.sent
            .lock()
            .unwrap()
            .iter()
            .any(|(_, m)| m["text"].as_str().unwrap_or("").contains("session_refused"))
    })
    .await;
    let (_, v) = a.ok("GET", "/api/v1/accounts/idle1", None).await;
    assert_eq!(
        (&v["session"], &v["needs_person"], &v["state"]),
        (
            &json!("expired"),
            &json!(["session_expired"]),
            &json!("stopped")
        ),
        "{v}"
    );
    let (_, v) = a
        .ok("GET", "/api/v1/accounts?needs_person=true", None)
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    // Probed again and again: one event for these credentials.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, events) = a.ok("GET", "/api/v1/accounts/idle1/events", None).await;
    let refused = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "session_refused")
        .count();
    assert_eq!(refused, 1, "{events}");
    // New credentials: the refusal was of the old ones.
    a.fund("idle1").await;
    let (_, v) = a.ok("GET", "/api/v1/accounts/idle1", None).await;
    assert_eq!(
        (&v["session"], &v["needs_person"]),
        (&json!("unknown"), &json!([])),
        "{v}"
    );
}

/// The generic webhook channel: a JSON body with the message and each event, warnings and
/// above only.
#[actix_web::test]
async fn the_notify_webhook_gets_one_json_message_for_a_burst_and_nothing_below_its_level() {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let shared = got.clone();
    let server = HttpServer::new(move || {
        let got = shared.clone();
        App::new().route(
            "/hook",
            web::post().to(move |body: web::Json<Value>| {
                let got = got.clone();
                async move {
                    got.lock().unwrap().push(body.into_inner());
                    HttpResponse::NoContent().finish()
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/hook", server.addrs()[0]);
    let server = server.run();
    let _handle = server.handle();
    actix_web::rt::spawn(server);
    let a = api_with(move |c, timing| {
        timing.session_probe_idle = Duration::from_secs(3600);
        c.notify = NotifyConfig {
            group_s: 1,
            min_gap_s: 1,
            webhook: Some(alpha_oto::config::NotifyWebhook {
                url,
                min_level: "warn".into(),
            }),
            telegram: None,
        };
    })
    .await;
    for n in ["h1", "h2", "h3"] {
        a.account(n, "KOGE", "100000").await;
    }
    // Started (info events: not sent), then paused by the operator (warnings: one message).
    let start = json!({"action": "start", "all": true});
    a.ok("POST", "/api/v1/accounts/actions", Some(Body::Json(start)))
        .await;
    for n in ["h1", "h2", "h3"] {
        a.wait_state(n, |v| v["progress"]["cycles_done"].as_u64() >= Some(1))
            .await;
    }
    let pause = json!({"action": "pause", "all": true});
    a.ok("POST", "/api/v1/accounts/actions", Some(Body::Json(pause)))
        .await;
    wait_for("the webhook's message", 10, || {
        !got.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["source"], "alpha-oto");
    let text = m["text"].as_str().unwrap();
    assert!(
        text.contains("paused [warn, operator], 3 account(s)"),
        "{text}"
    );
    let events = m["events"].as_array().unwrap();
    assert!(events.iter().all(|e| e["level"] != "info"), "{m}");
    let mut accounts: Vec<&str> = events
        .iter()
        .map(|e| e["account"].as_str().unwrap())
        .collect();
    accounts.sort();
    accounts.dedup();
    assert_eq!(accounts, vec!["h1", "h2", "h3"]);
}
