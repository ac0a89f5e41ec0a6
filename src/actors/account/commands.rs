//! The operator's commands: start, pause, resume, stop, and the kill switch (B8).

use super::*;

/// The first wait before an unverified kill is tried again, and the longest.
const KILL_RETRY_FIRST_MS: i64 = 2_000;
const KILL_RETRY_MAX_MS: i64 = 60_000;

/// What cancelling everything achieved.
pub(super) struct Cancelled {
    /// The exchange answered the open-order query after the cancels.
    pub verified: bool,
    /// Open orders: the exchange's, or the store's belief when the exchange could not be asked.
    pub open_left: usize,
    pub open_orders: Vec<String>,
    pub error: Option<String>,
}

impl Actor {
    pub(super) async fn on_command(&mut self, c: Command) -> Result<(), Failure> {
        match c {
            Command::Start => {
                self.killed = false;
                self.kill_retry = None;
                self.set_state(AccountState::Trading, None).await?;
                self.event(Event::Resume(PauseReason::Operator)).await?;
                self.event(Event::Start).await
            }
            Command::Pause => {
                self.set_state(AccountState::Paused, Some(PauseReason::Operator.code()))
                    .await?;
                self.event(Event::Pause(PauseReason::Operator)).await
            }
            Command::Resume => self.resume().await,
            Command::Stop => {
                self.set_state(AccountState::Stopped, None).await?;
                self.notify("stopped", EventLevel::Info, None, "stopped by the operator")
                    .await;
                self.event(Event::Stop).await
            }
            Command::Reload => Err(Failure::Reload),
            Command::SettingsChanged => self.step(Input::SettingsChanged).await,
            Command::HandOver { on } => {
                if !on {
                    self.release_pending = false;
                }
                self.step(Input::HandOver { on }).await
            }
            Command::Kill(reply) => {
                let report = self.kill().await;
                if let Some(reply) = reply {
                    let _ = reply.send(report);
                }
                Ok(())
            }
        }
    }

    async fn resume(&mut self) -> Result<(), Failure> {
        if self.killed {
            // Only a start undoes a kill: a resume meant for a pause must not restart it.
            warn!(self.log, "resume ignored: the account was killed and needs a start";
                fields::EVENT_ACTION => "resume");
            return Ok(());
        }
        self.set_state(AccountState::Trading, None).await?;
        let stream_live = self.stream_up && self.reconciled;
        self.step(Input::OperatorResume { stream_live }).await
    }

    /// The kill switch: blocks new orders, cancels everything and asks the exchange what is
    /// left. A kill the exchange could not confirm says so and is tried again on the tick
    /// until it can (`retry_kill`).
    pub(super) async fn kill(&mut self) -> KillReport {
        self.killed = true;
        let _ = self.event(Event::Pause(PauseReason::Operator)).await;
        let _ = self.event(Event::Stop).await;
        let c = self.cancel_everything().await;
        let _ = self
            .set_state(AccountState::Stopped, Some(PauseReason::Operator.code()))
            .await;
        let report = self.kill_report(c);
        let message = match report.outcome {
            KillOutcome::Verified => {
                format!("kill switch: {} order(s) left open", report.open_left)
            }
            _ => format!(
                "kill switch: the exchange could not be asked what is open ({}); the store \
                 believes {} order(s) open; trying again",
                report.error.as_deref().unwrap_or("no answer"),
                report.open_left
            ),
        };
        let clean = report.clean();
        self.kill_retry = (!clean).then(|| (self.now() + KILL_RETRY_FIRST_MS, KILL_RETRY_FIRST_MS));
        let level = if clean {
            EventLevel::Warn
        } else {
            EventLevel::Critical
        };
        self.notify("killed", level, None, &message).await;
        report
    }

    fn kill_report(&self, c: Cancelled) -> KillReport {
        KillReport {
            account: self.account.name.clone(),
            outcome: if c.verified {
                KillOutcome::Verified
            } else {
                KillOutcome::Unverified
            },
            open_left: c.open_left,
            open_orders: c.open_orders,
            owner: Some(self.ctx.owner.clone()),
            error: c.error,
        }
    }

    /// An unverified kill (or one that left orders open) is tried again until the exchange
    /// confirms that nothing is open, with an event when it does.
    pub(super) async fn retry_kill(&mut self, now: i64) -> Result<(), Failure> {
        let Some((at, wait)) = self.kill_retry else {
            return Ok(());
        };
        if now < at || !self.killed || !self.may_send() {
            return Ok(());
        }
        let c = self.cancel_everything().await;
        let report = self.kill_report(c);
        if report.clean() {
            self.kill_retry = None;
            self.notify(
                "kill_verified",
                EventLevel::Info,
                None,
                "kill switch: the exchange confirms nothing is left open",
            )
            .await;
        } else {
            let wait = (wait * 2).min(KILL_RETRY_MAX_MS);
            self.kill_retry = Some((now + wait, wait));
            warn!(self.log, "the kill is still not verified"; fields::EVENT_ACTION => "kill-retry",
                "trading.order.open_left" => report.open_left,
                "error.message" => report.error.unwrap_or_default(), "trading.retry.wait_ms" => wait);
        }
        Ok(())
    }

    /// Cancels every open order of the account and asks the exchange whether any is left;
    /// what the cancels ended is followed to its end (fills recorded, pair closed). Nothing new
    /// is placed meanwhile.
    pub(super) async fn cancel_everything(&mut self) -> Cancelled {
        self.killed = true;
        let mut error = None;
        let mut seen: Option<Vec<String>> = None;
        for attempt in 0..5u64 {
            self.ctx
                .governor
                .acquire(self.account.id, Purpose::Cancel)
                .await;
            if let Err(e) = self.rest.cancel_all().await {
                error = Some(e.to_string());
            }
            self.ctx
                .governor
                .acquire(self.account.id, Purpose::Cancel)
                .await;
            match self.rest.open_orders(None).await {
                Ok(open) => {
                    let ids: Vec<String> = open.iter().map(|o| o.order_id.clone()).collect();
                    let empty = ids.is_empty();
                    seen = Some(ids);
                    if empty {
                        error = None;
                        break;
                    }
                }
                Err(e) => error = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
        }
        // What the cancels ended is followed to its end (fills recorded, pair closed).
        if let Err(e) = self.sync_live().await {
            error.get_or_insert(e.to_string());
        }
        match seen {
            Some(ids) => Cancelled {
                verified: true,
                open_left: ids.len(),
                open_orders: ids,
                error,
            },
            None => {
                let id = self.account.id;
                let believed = self
                    .db(move |c| store::orders::open_for_account(c, id))
                    .await
                    .map(|rows| {
                        rows.into_iter()
                            .map(|o| o.exchange_order_id.unwrap_or(o.intent_id))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                Cancelled {
                    verified: false,
                    open_left: believed.len(),
                    open_orders: believed,
                    error: error.or_else(|| Some("the exchange did not answer".into())),
                }
            }
        }
    }
}
