//! Notifications (R13, R14, R16-R19): every event worth a person's attention is an event row;
//! where the account has a webhook URL, it is also POSTed there as JSON, a few times with a
//! pause between, and the row records whether it was delivered.

use std::time::Duration;

use slog::{Logger, warn};

use crate::store::Store;
use crate::store::models::WebhookStatus;
use crate::telemetry::fields;

#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    log: Logger,
    timeout: Duration,
}

const ATTEMPTS: u32 = 3;

impl Webhooks {
    /// Sends what an earlier run left undelivered (the process stopped between storing an
    /// event and its POST), to each account's current webhook URL. Only events stored before
    /// `before_ms` (this run's start): this run's own are being posted already.
    pub async fn resend_pending(&self, before_ms: i64) {
        let pending = match self
            .store
            .run(|c| crate::store::events::webhook_pending(c, 500))
            .await
        {
            Ok(p) => p,
            Err(e) => {
                warn!(self.log, "cannot read undelivered webhooks"; "error.message" => e.to_string());
                return;
            }
        };
        for event in pending.into_iter().filter(|e| e.created_at_ms < before_ms) {
            let Some(account_id) = event.account_id else {
                continue;
            };
            let url = self
                .store
                .run(move |c| crate::store::configs::get(c, account_id))
                .await
                .ok()
                .flatten()
                .and_then(|row| crate::store::configs::from_row(&row).ok())
                .and_then(|s| s.webhook_url);
            let body = serde_json::from_str(&event.data).unwrap_or(serde_json::Value::Null);
            match url {
                Some(url) => self.post(url, event.id, body),
                None => {
                    // The URL was removed since: nothing to deliver to.
                    let id = event.id;
                    let _ = self
                        .store
                        .run(move |c| {
                            crate::store::events::set_webhook_status(c, id, WebhookStatus::None)
                        })
                        .await;
                }
            }
        }
    }

    pub fn new(store: Store, log: Logger) -> Self {
        Self {
            store,
            log,
            timeout: Duration::from_secs(5),
        }
    }

    /// Sends `body` to `url` in the background and records the outcome on event `event_id`.
    pub fn post(&self, url: String, event_id: i64, body: serde_json::Value) {
        let this = self.clone();
        actix_rt::spawn(async move {
            let client = awc::Client::builder().timeout(this.timeout).finish();
            let mut status = WebhookStatus::Failed;
            let mut last_error = String::new();
            for attempt in 0..ATTEMPTS {
                match client.post(url.as_str()).send_json(&body).await {
                    Ok(res) if res.status().is_success() => {
                        status = WebhookStatus::Sent;
                        break;
                    }
                    Ok(res) => last_error = format!("HTTP {}", res.status().as_u16()),
                    Err(e) => last_error = e.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            if status == WebhookStatus::Failed {
                warn!(this.log, "webhook not delivered"; fields::EVENT_ACTION => "webhook-post",
                    fields::EVENT_OUTCOME => "failure", "error.message" => last_error,
                    "event.id" => event_id);
            }
            let _ = this
                .store
                .run(move |c| crate::store::events::set_webhook_status(c, event_id, status))
                .await;
        });
    }
}
