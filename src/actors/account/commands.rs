//! The operator's commands: start, pause, resume, stop, and the kill switch (B8).

use super::*;

impl Actor {
    pub(super) async fn on_command(&mut self, c: Command) -> Result<(), Failure> {
        let now = self.now();
        match c {
            Command::Start => {
                self.killed = false;
                self.set_state(AccountState::Trading, None).await?;
                self.event(Event::Resume(PauseReason::Operator)).await?;
                self.event(Event::Start).await
            }
            Command::Pause => {
                self.set_state(AccountState::Paused, Some(PauseReason::Operator.code()))
                    .await?;
                self.event(Event::Pause(PauseReason::Operator)).await
            }
            Command::Resume => {
                let session = self.cycle.pauses.iter().any(|p| {
                    matches!(
                        p,
                        PauseReason::SessionExpired
                            | PauseReason::TwoFactor
                            | PauseReason::FaceCheck
                    )
                });
                self.killed = false;
                self.set_state(AccountState::Trading, None).await?;
                if session {
                    // New credentials may have been stored: start again with them.
                    return Err(Failure::Reload);
                }
                let reasons: Vec<PauseReason> = self.cycle.pauses.iter().copied().collect();
                for r in reasons {
                    let cause_present = match r {
                        PauseReason::Volatility | PauseReason::PriceFeed => true,
                        PauseReason::StreamLost => !(self.stream_up && self.reconciled),
                        _ => false,
                    };
                    if !cause_present {
                        self.event(Event::Resume(r)).await?;
                    }
                }
                self.notify("resumed", EventLevel::Info, None, "resumed by the operator")
                    .await;
                if self.cycle.state == State::Stopped {
                    self.event(Event::Start).await?;
                }
                Ok(())
            }
            Command::Stop => {
                self.set_state(AccountState::Stopped, None).await?;
                self.notify("stopped", EventLevel::Info, None, "stopped by the operator")
                    .await;
                self.event(Event::Stop).await
            }
            Command::Reload => Err(Failure::Reload),
            Command::Kill(reply) => {
                let report = self.kill(now).await;
                let _ = reply.send(report);
                Ok(())
            }
        }
    }

    pub(super) async fn kill(&mut self, _now: i64) -> KillReport {
        self.killed = true;
        let _ = self.event(Event::Pause(PauseReason::Operator)).await;
        let _ = self.event(Event::Stop).await;
        let (open_left, error) = self.cancel_everything().await;
        let _ = self
            .set_state(AccountState::Stopped, Some(PauseReason::Operator.code()))
            .await;
        let message = format!("kill switch: {open_left} order(s) left open");
        self.notify(
            "killed",
            if open_left == 0 && error.is_none() {
                EventLevel::Warn
            } else {
                EventLevel::Critical
            },
            None,
            &message,
        )
        .await;
        KillReport {
            account: self.account.name.clone(),
            open_left,
            error,
        }
    }

    /// Cancels every open order of the account and checks that none is left; what the cancels
    /// ended is followed to its end (fills recorded, pair closed). Nothing new is placed
    /// meanwhile. Returns what is left open and the last error.
    pub(super) async fn cancel_everything(&mut self) -> (usize, Option<String>) {
        self.killed = true;
        let mut error = None;
        let mut open_left = usize::MAX;
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
                    open_left = open.len();
                    if open.is_empty() {
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
        let open_left = if open_left == usize::MAX {
            0
        } else {
            open_left
        };
        (open_left, error)
    }
}
