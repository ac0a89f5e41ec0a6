//! The supervisor: starts one actor per account, forwards the operator's commands, and
//! restarts an actor that failed or panicked, with backoff and a restart budget; an account
//! over its budget is parked as failed with the reason, for a person to look at. One account's
//! failure never touches another's task.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slog::{error, info, warn};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::store::{self, models::AccountState};
use crate::telemetry::fields;

use super::Ctx;
use super::account::{self, AccountMsg, AccountStatus, Board, Command, Failure, KillReport};

const MAILBOX: usize = 256;

enum Msg {
    StartAll,
    Start(i64),
    Send(i64, AccountMsg),
    Exited {
        id: i64,
        generation: u64,
        outcome: Result<Result<(), Failure>, String>,
    },
    Respawn(i64, u64),
    Shutdown(oneshot::Sender<()>),
    /// Liveness: answered at once by a supervisor that is not stuck.
    Ping(oneshot::Sender<()>),
    /// Test hook: the supervisor stops answering, as if wedged.
    Wedge,
}

struct Slot {
    tx: Option<mpsc::Sender<AccountMsg>>,
    generation: u64,
    restarts: VecDeque<Instant>,
}

/// Steers the supervisor; cheap to clone.
#[derive(Clone)]
pub struct SupervisorHandle {
    tx: mpsc::Sender<Msg>,
    board: Board,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("the supervisor has stopped")]
    Gone,
    #[error("account {0} is not running")]
    NotRunning(i64),
}

impl SupervisorHandle {
    /// Starts an actor for every account in the store.
    pub async fn start_all(&self) -> Result<(), SupervisorError> {
        self.tx
            .send(Msg::StartAll)
            .await
            .map_err(|_| SupervisorError::Gone)
    }

    /// Starts (or restarts, if parked) the actor of one account.
    pub async fn start(&self, id: i64) -> Result<(), SupervisorError> {
        self.tx
            .send(Msg::Start(id))
            .await
            .map_err(|_| SupervisorError::Gone)
    }

    pub async fn command(&self, id: i64, c: Command) -> Result<(), SupervisorError> {
        self.tx
            .send(Msg::Send(id, AccountMsg::Command(c)))
            .await
            .map_err(|_| SupervisorError::Gone)
    }

    /// The kill switch of one account (B8).
    pub async fn kill(&self, id: i64) -> Result<KillReport, SupervisorError> {
        let (reply, rx) = oneshot::channel();
        self.command(id, Command::Kill(reply)).await?;
        rx.await.map_err(|_| SupervisorError::NotRunning(id))
    }

    /// The global kill switch: every running account, at once.
    pub async fn halt(&self) -> Vec<Result<KillReport, SupervisorError>> {
        let ids: Vec<i64> = self.statuses().iter().map(|s| s.account_id).collect();
        let kills = ids.into_iter().map(|id| self.kill(id));
        futures_util::future::join_all(kills).await
    }

    /// Test hook: makes an account's actor panic.
    #[doc(hidden)]
    pub async fn inject_panic(&self, id: i64) -> Result<(), SupervisorError> {
        self.tx
            .send(Msg::Send(id, AccountMsg::InjectPanic))
            .await
            .map_err(|_| SupervisorError::Gone)
    }

    pub fn status(&self, id: i64) -> Option<AccountStatus> {
        self.board.lock().ok()?.get(&id).cloned()
    }

    pub fn statuses(&self) -> Vec<AccountStatus> {
        let mut v: Vec<AccountStatus> = match self.board.lock() {
            Ok(b) => b.values().cloned().collect(),
            Err(p) => p.into_inner().values().cloned().collect(),
        };
        v.sort_by_key(|s| s.account_id);
        v
    }

    /// Whether the supervisor answers within `limit` (the watchdog's question).
    pub async fn ping(&self, limit: Duration) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.tx.try_send(Msg::Ping(reply)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(limit, rx).await, Ok(Ok(())))
    }

    /// Test hook: makes the supervisor stop answering.
    #[doc(hidden)]
    pub async fn wedge(&self) {
        let _ = self.tx.send(Msg::Wedge).await;
    }

    /// Closes every mailbox and waits (up to `budget`) for the actors to end.
    pub async fn shutdown(&self, budget: Duration) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(reply)).await.is_ok() {
            let _ = tokio::time::timeout(budget, rx).await;
        }
    }
}

/// Starts the supervisor on the current (actix) runtime, with the account actors spread over
/// `threads` threads of their own: one thread of actors was the limit of one host (at 10,000
/// accounts it ran at 100 % while the second core had room).
pub fn start(ctx: Ctx, threads: usize) -> SupervisorHandle {
    let (tx, rx) = mpsc::channel(1024);
    let board: Board = Arc::new(Mutex::new(HashMap::new()));
    let arbiters = (0..threads.max(1))
        .map(|_| actix_rt::Arbiter::new())
        .collect();
    let sup = Supervisor {
        ctx,
        me: tx.clone(),
        board: board.clone(),
        slots: HashMap::new(),
        stopping: None,
        arbiters,
    };
    actix_rt::spawn(sup.run(rx));
    SupervisorHandle { tx, board }
}

struct Supervisor {
    ctx: Ctx,
    me: mpsc::Sender<Msg>,
    board: Board,
    slots: HashMap<i64, Slot>,
    stopping: Option<oneshot::Sender<()>>,
    /// The threads the account actors run on; an account always runs on the same one.
    arbiters: Vec<actix_rt::Arbiter>,
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for a in &self.arbiters {
            a.stop();
        }
    }
}

impl Supervisor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::StartAll => match self.ctx.store.run(store::accounts::list).await {
                    Ok(accounts) => {
                        for a in accounts {
                            self.spawn(a.id).await;
                        }
                    }
                    Err(e) => {
                        error!(self.ctx.log, "cannot list the accounts"; "error.message" => e.to_string())
                    }
                },
                Msg::Start(id) => {
                    if self.slots.get(&id).is_none_or(|s| s.tx.is_none()) {
                        if let Some(s) = self.slots.get_mut(&id) {
                            s.restarts.clear();
                        }
                        self.spawn(id).await;
                    } else {
                        self.forward(id, AccountMsg::Command(Command::Start));
                    }
                }
                Msg::Send(id, m) => self.forward(id, m),
                Msg::Respawn(id, generation) => {
                    if self.stopping.is_none()
                        && self
                            .slots
                            .get(&id)
                            .is_some_and(|s| s.generation == generation && s.tx.is_none())
                    {
                        self.spawn(id).await;
                    }
                }
                Msg::Exited {
                    id,
                    generation,
                    outcome,
                } => self.exited(id, generation, outcome).await,
                Msg::Ping(reply) => {
                    let _ = reply.send(());
                }
                Msg::Wedge => std::future::pending::<()>().await,
                Msg::Shutdown(reply) => {
                    for slot in self.slots.values_mut() {
                        if let Some(tx) = slot.tx.take() {
                            actix_rt::spawn(async move {
                                let _ = tx.send(AccountMsg::Shutdown).await;
                            });
                        }
                    }
                    self.stopping = Some(reply);
                }
            }
            if self.stopping.is_some()
                && self.slots.values().all(|s| s.tx.is_none())
                && self.running() == 0
            {
                if let Some(reply) = self.stopping.take() {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }

    fn running(&self) -> usize {
        self.slots
            .values()
            .filter(|s| !s.generation.is_multiple_of(2))
            .count()
    }

    fn forward(&self, id: i64, m: AccountMsg) {
        match self.slots.get(&id).and_then(|s| s.tx.clone()) {
            Some(tx) => {
                actix_rt::spawn(async move {
                    let _ = tx.send(m).await;
                });
            }
            None => {
                // Between a failure and the restart: the wish is written down, and the
                // restarted actor reads it when it has reconciled.
                let wish = match &m {
                    AccountMsg::Command(Command::Start | Command::Resume) => {
                        Some((AccountState::Trading, None))
                    }
                    AccountMsg::Command(Command::Pause) => {
                        Some((AccountState::Paused, Some("operator")))
                    }
                    AccountMsg::Command(Command::Stop) => Some((AccountState::Stopped, None)),
                    _ => None,
                };
                if let Some((state, reason)) = wish {
                    let (store, now) = (self.ctx.store.clone(), self.ctx.clock.now_ms());
                    actix_rt::spawn(async move {
                        let _ = store
                            .run(move |c| store::accounts::set_state(c, id, state, reason, now))
                            .await;
                    });
                }
                if let AccountMsg::Command(Command::Kill(reply)) = m {
                    let _ = reply.send(KillReport {
                        account: id.to_string(),
                        open_left: 0,
                        error: Some("the account is not running".into()),
                    });
                }
            }
        }
    }

    /// Starts an account's actor. Generations are odd while an actor runs and even after it
    /// ended, so a stale exit or respawn is recognised.
    async fn spawn(&mut self, id: i64) {
        if self.stopping.is_some() {
            return;
        }
        let account = match self
            .ctx
            .store
            .run(move |c| store::accounts::get(c, id))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                warn!(self.ctx.log, "cannot load the account"; "account.id" => id, "error.message" => e.to_string());
                return;
            }
        };
        let slot = self.slots.entry(id).or_insert(Slot {
            tx: None,
            generation: 0,
            restarts: VecDeque::new(),
        });
        if slot.tx.is_some() {
            return;
        }
        slot.generation += if slot.generation.is_multiple_of(2) {
            1
        } else {
            2
        };
        let generation = slot.generation;
        let (tx, rx) = mpsc::channel(MAILBOX);
        slot.tx = Some(tx.clone());
        let (ctx, board) = (self.ctx.clone(), self.board.clone());
        let (handed, task) = oneshot::channel();
        let arbiter = &self.arbiters[(id.unsigned_abs() as usize) % self.arbiters.len()];
        arbiter.spawn_fn(move || {
            let _ = handed.send(actix_rt::spawn(account::run(ctx, account, tx, rx, board)));
        });
        let me = self.me.clone();
        actix_rt::spawn(async move {
            let outcome = match task.await {
                Ok(task) => task.await.map_err(|e| {
                    if e.is_panic() {
                        "the account's task panicked".to_owned()
                    } else {
                        "the account's task was cancelled".to_owned()
                    }
                }),
                Err(_) => Err("the account's thread has stopped".to_owned()),
            };
            let _ = me
                .send(Msg::Exited {
                    id,
                    generation,
                    outcome,
                })
                .await;
        });
    }

    async fn exited(
        &mut self,
        id: i64,
        generation: u64,
        outcome: Result<Result<(), Failure>, String>,
    ) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        if slot.generation != generation {
            return;
        }
        slot.generation += 1;
        slot.tx = None;
        if self.stopping.is_some() {
            return;
        }
        let log = &self.ctx.log;
        let (reason, counted, delay) = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(Failure::Setup(reason))) => {
                self.park(id, &reason).await;
                return;
            }
            Ok(Err(Failure::Reload)) => ("reload".to_owned(), false, Duration::ZERO),
            Ok(Err(Failure::LeaseLost)) => ("lease lost".to_owned(), false, Duration::from_secs(1)),
            Ok(Err(e)) => (e.to_string(), true, Duration::ZERO),
            Err(panic) => (panic, true, Duration::ZERO),
        };
        let window = self.ctx.timing.restart_window;
        let (budget, max) = (
            self.ctx.timing.restart_budget,
            self.ctx.timing.restart_backoff_max,
        );
        let slot = match self.slots.get_mut(&id) {
            Some(s) => s,
            None => return,
        };
        let mut delay = delay;
        if counted {
            let now = Instant::now();
            while slot
                .restarts
                .front()
                .is_some_and(|t| now.duration_since(*t) > window)
            {
                slot.restarts.pop_front();
            }
            slot.restarts.push_back(now);
            if slot.restarts.len() > budget {
                let reason = format!(
                    "restarted {budget} times within {} s; last: {reason}",
                    window.as_secs()
                );
                self.park(id, &reason).await;
                return;
            }
            let n = u32::try_from(slot.restarts.len()).unwrap_or(u32::MAX);
            delay =
                (Duration::from_millis(500) * 2u32.saturating_pow(n.saturating_sub(1))).min(max);
            warn!(log, "account actor failed; restarting"; fields::EVENT_ACTION => "actor-restart",
                "account.id" => id, "error.message" => reason, "restart.delay_ms" => u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "restart.count" => slot.restarts.len());
        } else {
            info!(log, "account actor restarting"; fields::EVENT_ACTION => "actor-restart", "account.id" => id, "event.reason" => reason);
        }
        let (me, generation) = (self.me.clone(), slot.generation);
        actix_rt::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = me.send(Msg::Respawn(id, generation)).await;
        });
    }

    async fn park(&mut self, id: i64, reason: &str) {
        error!(self.ctx.log, "account parked as failed"; fields::EVENT_ACTION => "actor-park",
            "account.id" => id, "error.message" => reason.to_owned());
        let (r, now) = (reason.to_owned(), self.ctx.clock.now_ms());
        let _ = self
            .ctx
            .store
            .run(move |c| store::accounts::set_state(c, id, AccountState::Failed, Some(&r), now))
            .await;
        let mut b = match self.board.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(s) = b.get_mut(&id) {
            s.state = "failed".into();
            s.phase = "failed".into();
            s.failure = Some(reason.to_owned());
        } else {
            b.insert(
                id,
                AccountStatus {
                    account_id: id,
                    name: String::new(),
                    state: "failed".into(),
                    phase: "failed".into(),
                    pause_reason: None,
                    pauses: Vec::new(),
                    volume_today: Default::default(),
                    target: Default::default(),
                    cycles_today: 0,
                    cost_bps: None,
                    stream_up: false,
                    failure: Some(reason.to_owned()),
                    current_pair: None,
                    updated_at_ms: now,
                },
            );
        }
    }
}
