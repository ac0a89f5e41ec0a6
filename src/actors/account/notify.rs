//! The account's state in the store, and notifications: event rows, log lines, webhooks.

use super::*;

impl Actor {
    pub(super) async fn set_state(
        &mut self,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<(), Failure> {
        let (id, now, reason) = (self.account.id, self.now(), reason.map(str::to_owned));
        self.db(move |c| store::accounts::set_state(c, id, state, reason.as_deref(), now))
            .await?;
        self.account.state = state;
        Ok(())
    }

    pub(super) async fn notify(
        &self,
        kind: &str,
        level: EventLevel,
        reason: Option<&str>,
        message: &str,
    ) {
        notify_raw(
            &self.ctx,
            &self.account,
            self.settings.webhook_url.as_deref(),
            kind,
            level,
            reason,
            message,
            &self.log,
        )
        .await;
    }
}

/// "Notify" (SPEC): an event row, a log line, and a webhook POST where one is configured.
#[allow(clippy::too_many_arguments)]
pub(super) async fn notify_raw(
    ctx: &Ctx,
    account: &AccountRow,
    webhook: Option<&str>,
    kind: &str,
    level: EventLevel,
    reason: Option<&str>,
    message: &str,
    log: &Logger,
) {
    let now = ctx.clock.now_ms();
    let data = serde_json::json!({ "account": account.name, "kind": kind, "reason": reason, "message": message, "at_ms": now });
    let event = NewEvent {
        account_id: Some(account.id),
        account_name: Some(account.name.clone()),
        kind: kind.to_owned(),
        level,
        reason: reason.map(str::to_owned),
        actor: "daemon".into(),
        message: message.to_owned(),
        data: data.to_string(),
        webhook_status: if webhook.is_some() {
            WebhookStatus::Pending
        } else {
            WebhookStatus::None
        },
        created_at_ms: now,
    };
    match level {
        EventLevel::Debug | EventLevel::Info => {
            info!(log, "{}", message; fields::EVENT_ACTION => kind.to_owned(), "event.reason" => reason.map(str::to_owned))
        }
        _ => {
            warn!(log, "{}", message; fields::EVENT_ACTION => kind.to_owned(), "event.reason" => reason.map(str::to_owned))
        }
    }
    match ctx
        .store
        .run(move |c| store::events::append(c, &event))
        .await
    {
        Ok(row) => {
            let _ = ctx.events.send(crate::actors::LiveEvent {
                id: row.id,
                account: account.name.clone(),
                kind: row.kind.clone(),
                level: row.level.as_str().to_owned(),
                reason: row.reason.clone(),
                message: row.message.clone(),
                at_ms: row.created_at_ms,
            });
            if let Some(url) = webhook {
                ctx.webhooks
                    .post(url.to_owned(), &account.name, row.id, data);
            }
        }
        Err(e) => warn!(log, "cannot store an event"; "error.message" => e.to_string()),
    }
}
