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

use crate::domain::shown::{AccountState, Phase};
use crate::store::{self, models::Desired};
use crate::telemetry::fields;

use super::Ctx;
use super::account::{self, AccountMsg, AccountStatus, Board, Command, Failure, KillReport};

const MAILBOX: usize = 256;
/// How often the instance looks for commands recorded by any instance, and how far back.
const COMMAND_POLL: Duration = Duration::from_millis(500);
const COMMAND_WINDOW_MS: i64 = 15_000;

enum Msg {
    StartAll,
    Start(i64),
    /// Accounts this instance should run: a task for each that has none here yet (one
    /// created through another instance, one whose share moved here).
    Ensure(Vec<i64>),
    Send(i64, AccountMsg),
    /// An operator's command, recorded under `seq`, for this instance's task of the account.
    Deliver(i64, i64, AccountMsg),
    /// Commands recorded lately by any instance: (account, wish, number).
    Recorded(Vec<store::accounts::Recorded>),
    Exited {
        id: i64,
        generation: u64,
        outcome: Result<Result<(), Failure>, String>,
        /// The ended task's mailbox, with what it did not read.
        mailbox: Option<mpsc::Receiver<AccountMsg>>,
    },
    Respawn(i64, u64),
    /// Ends the account's task and forgets the account (it is being deleted).
    Forget(i64, oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
    /// Liveness: answered at once by a supervisor that is not stuck.
    Ping(oneshot::Sender<()>),
    /// Test hook: the supervisor stops answering, as if wedged.
    #[cfg(feature = "test-seams")]
    Wedge,
}

struct Slot {
    tx: Option<mpsc::Sender<AccountMsg>>,
    generation: u64,
    restarts: VecDeque<Instant>,
    /// A new task is due (a restart): messages wait here for it instead of being lost.
    restarting: bool,
    pending: Vec<AccountMsg>,
    /// The highest command number this instance has handed to the account's tasks.
    applied: i64,
    /// Someone waits for the task's end to forget the account.
    forget: Option<oneshot::Sender<()>>,
    /// Rung once an operator's command is in the mailbox: a task waiting for its turn to place
    /// a pair gives the turn up and reads it (`account::orders`).
    heed: Arc<tokio::sync::Notify>,
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

    /// Starts a task for each of `ids` that has none on this instance; running, parked or
    /// restarting accounts are left alone.
    pub async fn ensure(&self, ids: Vec<i64>) -> Result<(), SupervisorError> {
        self.tx
            .send(Msg::Ensure(ids))
            .await
            .map_err(|_| SupervisorError::Gone)
    }

    pub async fn command(&self, id: i64, c: Command) -> Result<(), SupervisorError> {
        self.tx
            .send(Msg::Send(id, AccountMsg::Command(c)))
            .await
            .map_err(|_| SupervisorError::Gone)
    }

    /// Hands an operator's command, recorded under number `seq`, to this instance's task of
    /// the account (or the next one, during a restart). The instance's poll of recorded
    /// commands skips numbers handed over this way.
    pub async fn deliver(&self, id: i64, seq: i64, c: Command) -> Result<(), SupervisorError> {
        self.tx
            .send(Msg::Deliver(id, seq, AccountMsg::Command(c)))
            .await
            .map_err(|_| SupervisorError::Gone)
    }

    /// The kill switch of one account (B8), recorded under `seq`, carried out by this
    /// instance's task. `NotRunning` when the task ended before it answered (the recorded
    /// kill is then carried out by the next task).
    pub async fn kill(&self, id: i64, seq: i64) -> Result<KillReport, SupervisorError> {
        let (reply, rx) = oneshot::channel();
        self.deliver(id, seq, Command::Kill(Some(reply))).await?;
        rx.await.map_err(|_| SupervisorError::NotRunning(id))
    }

    /// Test hook: makes an account's actor panic.
    #[cfg(feature = "test-seams")]
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

    /// Ends the account's task (if any) and forgets the account; answers once the task ended.
    pub async fn forget(&self, id: i64) -> Result<(), SupervisorError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Forget(id, reply))
            .await
            .map_err(|_| SupervisorError::Gone)?;
        rx.await.map_err(|_| SupervisorError::Gone)
    }

    /// The supervisor has stopped (after `shutdown`): the instance holds nothing any more.
    pub fn is_stopped(&self) -> bool {
        self.tx.is_closed()
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
    #[cfg(feature = "test-seams")]
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
        .map(|_| {
            let arbiter = actix_rt::Arbiter::new();
            let log = ctx.log.clone();
            arbiter.spawn_fn(move || {
                if let Err(e) =
                    crate::hardening::lower_this_thread(crate::hardening::TRADING_NICENESS)
                {
                    slog::warn!(log, "cannot lower the trading thread's priority"; "error.message" => e);
                }
            });
            arbiter
        })
        .collect();
    let sup = Supervisor {
        ctx,
        me: tx.clone(),
        board: board.clone(),
        slots: HashMap::new(),
        stopping: None,
        arbiters,
    };
    let store = sup.ctx.store.clone();
    actix_rt::spawn(sup.run(rx));
    actix_rt::spawn(poll_commands(store, tx.clone()));
    SupervisorHandle { tx, board }
}

/// Finds the commands any instance recorded lately and hands them to the supervisor, which
/// passes each new one to the account's task if the account runs here.
async fn poll_commands(store: store::Store, sup: mpsc::Sender<Msg>) {
    let mut every = tokio::time::interval(COMMAND_POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Ok(rows) = store
            .run(|c| store::accounts::commands_since(c, COMMAND_WINDOW_MS))
            .await
            && !rows.is_empty()
            && sup.send(Msg::Recorded(rows)).await.is_err()
        {
            return;
        }
        if sup.is_closed() {
            return;
        }
    }
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
                            self.spawn_row(a);
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
                Msg::Ensure(ids) => {
                    // One query for all of them: a share moved here after a peer died can
                    // be a thousand accounts, each loaded in turn would hold this loop up.
                    let ids: Vec<i64> = ids
                        .into_iter()
                        .filter(|id| !self.slots.contains_key(id))
                        .collect();
                    if ids.is_empty() {
                        continue;
                    }
                    match self
                        .ctx
                        .store
                        .run(move |c| store::accounts::get_many(c, &ids))
                        .await
                    {
                        Ok(accounts) => {
                            for a in accounts {
                                if !self.slots.contains_key(&a.id) {
                                    self.spawn_row(a);
                                }
                            }
                        }
                        Err(e) => {
                            warn!(self.ctx.log, "cannot load the accounts"; "error.message" => e.to_string())
                        }
                    }
                }
                Msg::Send(id, m) => self.forward(id, m),
                Msg::Deliver(id, seq, m) => {
                    // Two operators' commands can be recorded in one order and handed over in
                    // the other: the one recorded last is the account's word (the store says
                    // so), so an older one that comes late is not carried out. A kill always
                    // is, and answers.
                    let stale = self.slots.get(&id).is_some_and(|slot| seq < slot.applied);
                    if let Some(slot) = self.slots.get_mut(&id) {
                        slot.applied = slot.applied.max(seq);
                    }
                    if !stale || matches!(m, AccountMsg::Command(Command::Kill(_))) {
                        self.forward(id, m);
                    }
                }
                Msg::Recorded(rows) => self.recorded(rows),
                Msg::Forget(id, reply) => match self.slots.get_mut(&id) {
                    Some(slot) if slot.tx.is_some() => {
                        slot.forget = Some(reply);
                        slot.restarting = false;
                        if let Some(tx) = slot.tx.take() {
                            actix_rt::spawn(async move {
                                let _ = tx.send(AccountMsg::Shutdown).await;
                            });
                        }
                    }
                    _ => {
                        self.slots.remove(&id);
                        self.unpublish(id);
                        let _ = reply.send(());
                    }
                },
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
                    mailbox,
                } => {
                    if self.slots.get(&id).is_some_and(|s| s.forget.is_some()) {
                        if let Some(reply) = self.slots.remove(&id).and_then(|s| s.forget) {
                            self.unpublish(id);
                            let _ = reply.send(());
                        }
                    } else {
                        if let (Some(mut rx), Some(slot)) = (mailbox, self.slots.get_mut(&id)) {
                            rx.close();
                            while let Ok(m) = rx.try_recv() {
                                slot.pending.push(m);
                            }
                        }
                        self.exited(id, generation, outcome).await;
                        self.answer_stranded(id);
                    }
                }
                Msg::Ping(reply) => {
                    let _ = reply.send(());
                }
                #[cfg(feature = "test-seams")]
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

    fn unpublish(&self, id: i64) {
        let mut b = match self.board.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        b.remove(&id);
    }

    fn running(&self) -> usize {
        self.slots
            .values()
            .filter(|s| !s.generation.is_multiple_of(2))
            .count()
    }

    fn forward(&mut self, id: i64, m: AccountMsg) {
        let Some(slot) = self.slots.get_mut(&id) else {
            Self::not_here(id, m);
            return;
        };
        match slot.tx.clone() {
            Some(tx) => {
                let me = self.me.clone();
                let heed = matches!(m, AccountMsg::Command(_)).then(|| slot.heed.clone());
                actix_rt::spawn(async move {
                    // The task ended between the choice and the send: the supervisor keeps
                    // the message for the next task.
                    match tx.send(m).await {
                        Err(mpsc::error::SendError(m)) => {
                            let _ = me.send(Msg::Send(id, m)).await;
                        }
                        Ok(()) => {
                            // Kept if the task is not waiting yet (it may be about to).
                            if let Some(heed) = heed {
                                heed.notify_one();
                            }
                        }
                    }
                });
            }
            // Between a failure or a reload and the restart: the next task reads it first.
            None if slot.restarting => slot.pending.push(m),
            None => Self::not_here(id, m),
        }
    }

    /// A message for an account with no task here and none due. Operators' commands are
    /// recorded in the store by whoever sent them; a kill's caller is told so.
    fn not_here(id: i64, m: AccountMsg) {
        if let AccountMsg::Command(Command::Kill(Some(reply))) = m {
            let _ = reply.send(KillReport::pending(
                &id.to_string(),
                None,
                "the account does not run on this instance: the kill is recorded and carried out before it trades again",
            ));
        }
    }

    /// Messages kept for a task that will not come (the account was parked): kills are told.
    fn answer_stranded(&mut self, id: i64) {
        if let Some(slot) = self.slots.get_mut(&id)
            && slot.tx.is_none()
            && !slot.restarting
        {
            for m in std::mem::take(&mut slot.pending) {
                Self::not_here(id, m);
            }
        }
    }

    /// Commands recorded by any instance: each new number for an account that runs here goes
    /// to its task (a standby task reads the wish itself once it holds the account).
    fn recorded(&mut self, rows: Vec<store::accounts::Recorded>) {
        for (id, desired, seq) in rows {
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            if seq <= slot.applied {
                continue;
            }
            slot.applied = seq;
            let c = match desired {
                Desired::Run => Command::Start,
                Desired::Pause => Command::Pause,
                Desired::Stop => Command::Stop,
                Desired::Kill => Command::Kill(None),
            };
            self.forward(id, AccountMsg::Command(c));
        }
    }

    /// Loads the account and starts its actor.
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
                warn!(self.ctx.log, "cannot load the account"; "trading.account.id" => id, "error.message" => e.to_string());
                return;
            }
        };
        self.spawn_row(account);
    }

    /// Starts the account's actor from its row, unless one runs or the account was deleted
    /// meanwhile (a share computed before the deletion). Generations are odd while an actor
    /// runs and even after it ended, so a stale exit or respawn is recognised.
    fn spawn_row(&mut self, account: store::models::AccountRow) {
        if self.stopping.is_some() || account.retired_at_ms.is_some() {
            return;
        }
        let id = account.id;
        let slot = self.slots.entry(id).or_insert(Slot {
            tx: None,
            generation: 0,
            restarts: VecDeque::new(),
            restarting: false,
            pending: Vec::new(),
            applied: 0,
            forget: None,
            heed: Arc::new(tokio::sync::Notify::new()),
        });
        if slot.tx.is_some() {
            return;
        }
        // The task reads the recorded wish at its first reconciliation: numbers up to this
        // one need no delivery.
        slot.applied = slot.applied.max(account.command_seq);
        slot.restarting = false;
        slot.generation += if slot.generation.is_multiple_of(2) {
            1
        } else {
            2
        };
        let generation = slot.generation;
        let (tx, rx) = mpsc::channel(MAILBOX);
        slot.tx = Some(tx.clone());
        for m in std::mem::take(&mut slot.pending) {
            if let Err(mpsc::error::TrySendError::Full(m)) = tx.try_send(m) {
                let tx = tx.clone();
                actix_rt::spawn(async move {
                    let _ = tx.send(m).await;
                });
            }
        }
        let (ctx, board, heed) = (self.ctx.clone(), self.board.clone(), slot.heed.clone());
        let (handed, task) = oneshot::channel();
        let arbiter = &self.arbiters[(id.unsigned_abs() as usize) % self.arbiters.len()];
        arbiter.spawn_fn(move || {
            let _ = handed.send(actix_rt::spawn(account::run(
                ctx, account, tx, rx, board, heed,
            )));
        });
        let me = self.me.clone();
        actix_rt::spawn(async move {
            let (outcome, mailbox) = match task.await {
                Ok(task) => match task.await {
                    Ok((outcome, rx)) => (Ok(outcome), Some(rx)),
                    Err(e) if e.is_panic() => (Err("the account's task panicked".to_owned()), None),
                    Err(_) => (Err("the account's task was cancelled".to_owned()), None),
                },
                Err(_) => (Err("the account's thread has stopped".to_owned()), None),
            };
            let _ = me
                .send(Msg::Exited {
                    id,
                    generation,
                    outcome,
                    mailbox,
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
            Ok(Err(Failure::HandedOver)) => ("handed over".to_owned(), false, Duration::ZERO),
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
            metrics::counter!(crate::meters::RESTARTS).increment(1);
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
                "trading.account.id" => id, "error.message" => reason, "trading.restart.delay_ms" => u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "trading.restart.count" => slot.restarts.len());
        } else {
            info!(log, "account actor restarting"; fields::EVENT_ACTION => "actor-restart", "trading.account.id" => id, "event.reason" => reason);
        }
        slot.restarting = true;
        let (me, generation) = (self.me.clone(), slot.generation);
        actix_rt::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = me.send(Msg::Respawn(id, generation)).await;
        });
    }

    async fn park(&mut self, id: i64, reason: &str) {
        error!(self.ctx.log, "account parked as failed"; fields::EVENT_ACTION => "actor-park",
            "trading.account.id" => id, "error.message" => reason.to_owned());
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
            s.state = AccountState::Failed;
            s.phase = Phase::Failed;
            s.failure = Some(reason.to_owned());
        } else {
            b.insert(
                id,
                AccountStatus {
                    account_id: id,
                    name: String::new(),
                    state: AccountState::Failed,
                    phase: Phase::Failed,
                    pause_reason: None,
                    pauses: Vec::new(),
                    volume_today: Default::default(),
                    target: Default::default(),
                    cycles_today: 0,
                    token: None,
                    points: Default::default(),
                    cost_bps: None,
                    exposure_usdt: None,
                    stream_up: false,
                    failure: Some(reason.to_owned()),
                    current_pair: None,
                    updated_at_ms: now,
                },
            );
        }
    }
}
