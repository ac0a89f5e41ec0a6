//! Daemon-wide notifications (`[notify]`): every live event at or above a channel's level,
//! gathered for `group_s` after the first of a burst and sent as a few messages that list the
//! accounts (`domain::digest`), at most one message per `min_gap_s` per channel. Channels: a
//! generic webhook (JSON) and a Telegram bot. The bot token is read from a file and lives only
//! in the request path: no log line, answer or row holds it, nor a webhook URL (its host
//! alone is logged).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use slog::{Logger, info, warn};
use tokio::sync::broadcast::error::RecvError;

use super::Ctx;
use super::context::LiveEvent;
use crate::config::NotifyConfig;
use crate::domain::digest::{self, Noted};
use crate::telemetry::fields;

/// Longest Telegram message (the Bot API's limit is 4096 characters).
const TELEGRAM_MAX: usize = 4000;
/// Longest webhook message text.
const WEBHOOK_MAX: usize = 16_000;
const ATTEMPTS: usize = 3;

/// Where a channel sends.
enum Target {
    Webhook {
        url: String,
        host: String,
    },
    Telegram {
        api_url: String,
        token: SecretString,
        chat_id: String,
    },
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Webhook { .. } => "webhook",
            Target::Telegram { .. } => "telegram",
        }
    }

    fn max_chars(&self) -> usize {
        match self {
            Target::Webhook { .. } => WEBHOOK_MAX,
            Target::Telegram { .. } => TELEGRAM_MAX,
        }
    }
}

/// Starts one task per configured channel. A channel that cannot start (an unreadable token
/// file, a bad level) is logged and left off; the others run.
pub fn start(ctx: &Ctx, config: &NotifyConfig) {
    let log = &ctx.log;
    let group = Duration::from_secs(u64::from(config.group_s));
    let gap = Duration::from_secs(u64::from(config.min_gap_s));
    let mut channels = Vec::new();
    if let Some(w) = &config.webhook {
        let host = url::Url::parse(&w.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        match host {
            Some(host) => channels.push((
                Target::Webhook {
                    url: w.url.clone(),
                    host,
                },
                w.min_level.clone(),
            )),
            None => {
                warn!(log, "the notify webhook's url is not a URL: webhook notifications are off";
                fields::EVENT_ACTION => "notify-start")
            }
        }
    }
    if let Some(t) = &config.telegram {
        match std::fs::read_to_string(&t.bot_token_file) {
            Ok(token) if !token.trim().is_empty() => channels.push((
                Target::Telegram {
                    api_url: t.api_url.trim_end_matches('/').to_owned(),
                    token: SecretString::from(token.trim().to_owned()),
                    chat_id: t.chat_id.clone(),
                },
                t.min_level.clone(),
            )),
            Ok(_) => {
                warn!(log, "the Telegram bot token file is empty: Telegram notifications are off";
                fields::EVENT_ACTION => "notify-start", "file.path" => t.bot_token_file.display().to_string())
            }
            Err(e) => {
                warn!(log, "cannot read the Telegram bot token file: Telegram notifications are off";
                fields::EVENT_ACTION => "notify-start", "file.path" => t.bot_token_file.display().to_string(),
                "error.message" => e.to_string())
            }
        }
    }
    for (target, min_level) in channels {
        info!(log, "notifications on"; fields::EVENT_ACTION => "notify-start",
            "trading.notify.channel" => target.name(), "trading.notify.min_level" => min_level.clone());
        let rx = ctx.events.subscribe();
        let (log, title) = (ctx.log.clone(), format!("alpha-oto {}", ctx.owner));
        actix_rt::spawn(run(target, min_level, rx, group, gap, title, log));
    }
}

async fn run(
    target: Target,
    min_level: String,
    mut rx: tokio::sync::broadcast::Receiver<LiveEvent>,
    group: Duration,
    gap: Duration,
    title: String,
    log: Logger,
) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .disable_redirects()
        .finish();
    let mut last_sent: Option<tokio::time::Instant> = None;
    loop {
        // The first event of a burst, then whatever follows within the window.
        let mut burst: Vec<Noted> = Vec::new();
        let mut missed = 0u64;
        while burst.is_empty() {
            match rx.recv().await {
                Ok(e) if digest::passes(&e.level, &min_level) => burst.push(noted(e)),
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => missed += n,
                Err(RecvError::Closed) => return,
            }
        }
        let until = tokio::time::Instant::now() + group;
        loop {
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(e) if digest::passes(&e.level, &min_level) => burst.push(noted(e)),
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => missed += n,
                    Err(RecvError::Closed) => break,
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        if let Some(at) = last_sent {
            tokio::time::sleep_until(at + gap).await;
        }
        let mut texts = digest::messages(&title, &burst, target.max_chars());
        if missed > 0
            && let Some(first) = texts.first_mut()
        {
            // Events that went by while the channel was behind are in the store, not here.
            first.push_str(&format!(
                "\n(and {missed} event(s) not seen here: see the events)"
            ));
        }
        for text in texts {
            send(&client, &target, &text, &burst, &log).await;
            last_sent = Some(tokio::time::Instant::now());
            tokio::time::sleep(gap).await;
        }
    }
}

fn noted(e: LiveEvent) -> Noted {
    Noted {
        account: e.account,
        kind: e.kind,
        level: e.level,
        reason: e.reason,
        message: e.message,
    }
}

/// One message, tried a few times; a refusal is logged by channel and status only.
async fn send(client: &awc::Client, target: &Target, text: &str, burst: &[Noted], log: &Logger) {
    let mut wait = Duration::from_secs(1);
    let mut last_error = String::new();
    for _ in 0..ATTEMPTS {
        let sent = match target {
            Target::Webhook { url, .. } => {
                let events: Vec<_> = burst
                    .iter()
                    .map(|e| json!({"account": e.account, "kind": e.kind, "level": e.level, "reason": e.reason, "message": e.message}))
                    .collect();
                client
                    .post(url.as_str())
                    .send_json(&json!({"source": "alpha-oto", "text": text, "events": events}))
                    .await
            }
            Target::Telegram {
                api_url,
                token,
                chat_id,
            } => {
                let url = format!("{api_url}/bot{}/sendMessage", token.expose_secret());
                client
                    .post(url)
                    .send_json(&json!({"chat_id": chat_id, "text": text, "disable_web_page_preview": true}))
                    .await
            }
        };
        match sent {
            Ok(res) if res.status().is_success() => return,
            Ok(mut res) => {
                last_error = format!("HTTP {}", res.status().as_u16());
                // Telegram says how long to wait when it limits a chat.
                if res.status().as_u16() == 429
                    && let Ok(body) = res.json::<serde_json::Value>().await
                    && let Some(s) = body["parameters"]["retry_after"].as_u64()
                {
                    wait = Duration::from_secs(s.min(60));
                }
            }
            // The error's text may name the URL, and with it the token: only its kind.
            Err(e) => last_error = send_error_kind(&e).to_owned(),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
    let host = match target {
        Target::Webhook { host, .. } => host.clone(),
        Target::Telegram { .. } => "telegram".into(),
    };
    warn!(log, "a notification could not be sent"; fields::EVENT_ACTION => "notify-send",
        fields::EVENT_OUTCOME => "failure", "trading.notify.channel" => target.name(),
        "server.domain" => host, "error.message" => last_error);
}

fn send_error_kind(e: &awc::error::SendRequestError) -> &'static str {
    use awc::error::SendRequestError;
    match e {
        SendRequestError::Timeout => "timeout",
        SendRequestError::Connect(_) => "cannot connect",
        SendRequestError::Url(_) => "bad URL",
        _ => "request failed",
    }
}
