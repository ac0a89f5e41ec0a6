//! One account's actor: a thin shell around its [`Cycle`]. It turns messages (commands, stream
//! reports, ticks) into events, calls `cycle.on(event, now)`, and carries out the effects in
//! order: the store first, then the exchange. Anything it cannot carry out ends the task with a
//! [`Failure`]; the supervisor restarts it and the new task rebuilds from the store and the
//! exchange, which is the same path as a restart after a crash.

use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;
use slog::{Logger, info, warn};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::domain::budget::Purpose;
use crate::domain::cycle::{
    Cycle, CycleConfig, Effect, Event, Intent, Market, Outcome, PauseReason, Refusal, SellIntent,
    State,
};
use crate::domain::reconcile::{IntentView, Window};
use crate::domain::settings::AccountSettings;
use crate::exchange::error::ExchangeError;
use crate::exchange::rest::RestClient;
use crate::exchange::wire::stream::ExecutionReport;
use crate::exchange::wire::trading::{
    OtoPlaceRequest, PaymentDetail, PlaceOrderRequest, WalletType,
};
use crate::exchange::wire::{OrderStatus as WireStatus, Side as WireSide};
use crate::store::fills::Volume;
use crate::store::lease::Lease;
use crate::store::models::{
    Account, AccountState, CycleProgress, EventLevel, NewCycle, NewEvent, NewFill, NewOrder,
    OrderRole, OrderStatus, Side, WebhookStatus,
};
use crate::store::{self, StoreError};
use crate::telemetry::fields;

use super::price_feed::PriceCell;
use super::sync::{self, Verdict};
use super::tokens::{self, Token};
use super::{Ctx, day_start_ms};

/// What the operator asks of an account.
#[derive(Debug)]
pub enum Command {
    Start,
    Pause,
    Resume,
    /// Finish the live pair, then start no other.
    Stop,
    /// Block new orders, cancel everything, check that nothing is left open (B8).
    Kill(oneshot::Sender<KillReport>),
}

/// What a kill found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillReport {
    pub account: String,
    /// Orders still open on the exchange after the cancels (0 when the kill worked).
    pub open_left: usize,
    pub error: Option<String>,
}

#[derive(Debug)]
pub enum AccountMsg {
    Command(Command),
    /// The private stream is subscribed (again): reconcile before trading on.
    StreamUp,
    StreamDown(String),
    Report(Box<ExecutionReport>),
    /// The listen key could not be had because of the session.
    SessionProblem(ExchangeError),
    /// Test hook: make the actor panic, to prove the others are unaffected.
    #[doc(hidden)]
    InjectPanic,
    /// The daemon stops: end the task, leaving the live pair on the exchange.
    Shutdown,
}

/// Why an account's task ended other than by a shutdown.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("the lease on the account was lost")]
    LeaseLost,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Cannot trade until the operator fixes something (config, credentials, key).
    #[error("{0}")]
    Setup(String),
    /// Start again at once with fresh credentials (after an operator's resume).
    #[error("reloading the account")]
    Reload,
}

/// The account as the API and the supervisor see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountStatus {
    pub account_id: i64,
    pub name: String,
    pub state: String,
    pub pauses: Vec<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub volume_today: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub target: Decimal,
    pub cycles_today: u64,
    pub stream_up: bool,
    pub failure: Option<String>,
    pub updated_at_ms: i64,
}

pub type Board = Arc<Mutex<HashMap<i64, AccountStatus>>>;

pub fn publish(board: &Board, status: AccountStatus) {
    let mut b = match board.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    b.insert(status.account_id, status);
}

/// The store rows of the live pair.
#[derive(Debug, Clone)]
struct LiveRows {
    cycle_id: i64,
    intent_id: String,
    progress: CycleProgress,
}

#[derive(Debug, Clone)]
struct OrderRef {
    row: i64,
    side: Side,
    cycle_id: Option<i64>,
    orig_qty: Decimal,
}

/// A trade's own details, from the report that carried it.
#[derive(Debug, Clone)]
struct TradeDetail {
    cum_qty: Decimal,
    trade_id: String,
    price: Decimal,
    fee: Decimal,
    fee_asset: String,
    at_ms: i64,
}

/// One piece of an execution to store.
#[derive(Debug, Clone)]
struct Piece {
    detail: TradeDetail,
    qty: Decimal,
    quote: Decimal,
}

/// The leftover-sale ladder: from the last price down to the floor, in even steps.
fn ladder(floor_pct: Decimal) -> Vec<Decimal> {
    let third = floor_pct / Decimal::from(3);
    vec![Decimal::ZERO, third, third * Decimal::TWO, floor_pct]
}

fn cycle_config(s: &AccountSettings, token: &Token, ctx: &Ctx) -> CycleConfig {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    CycleConfig {
        order_symbol: token.order_symbol.clone(),
        order_usdt: s.order_usdt,
        daily_target: s.daily_target_usdt,
        buy: s.buy_offset,
        sell: s.sell_offset,
        order_timeout_ms: i64::from(s.order_timeout_s) * 1000,
        pending_timeout_ms: i64::from(s.pending_timeout_s) * 1000,
        ladder_step_ms: ms(ctx.timing.ladder_step),
        ladder_pct: ladder(s.leftover_floor_pct),
    }
}

fn refusal_of(e: &ExchangeError) -> Refusal {
    match e {
        ExchangeError::InsufficientBalance { .. } => Refusal::InsufficientBalance,
        ExchangeError::SessionExpired => Refusal::SessionExpired,
        ExchangeError::TwoFactorRequired { .. } => Refusal::TwoFactor,
        ExchangeError::FaceCheckRequired => Refusal::FaceCheck,
        ExchangeError::RateLimited { .. } => Refusal::RateLimited,
        ExchangeError::Rejected { .. } => Refusal::Rejected,
        ExchangeError::NotSent(_) | ExchangeError::Unknown(_) => Refusal::NotSent,
    }
}

fn session_pause(e: &ExchangeError) -> Option<PauseReason> {
    match e {
        ExchangeError::SessionExpired => Some(PauseReason::SessionExpired),
        ExchangeError::TwoFactorRequired { .. } => Some(PauseReason::TwoFactor),
        ExchangeError::FaceCheckRequired => Some(PauseReason::FaceCheck),
        _ => None,
    }
}

fn state_name(s: &State) -> &'static str {
    match s {
        State::Idle => "idle",
        State::Placing { .. } => "placing",
        State::Working { .. } => "working",
        State::Pending { .. } => "pending",
        State::Cancelling { .. } => "cancelling",
        State::Liquidating { .. } => "liquidating",
        State::Unknown { .. } => "unknown",
        State::DoneForToday => "done_for_today",
        State::Stopped => "stopped",
    }
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Filled => "filled",
        Outcome::Cancelled => "cancelled",
        Outcome::TimedOut => "timed_out",
        Outcome::NotPlaced => "not_placed",
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs one account until its mailbox closes (a shutdown) or it fails.
pub async fn run(
    ctx: Ctx,
    account: Account,
    me: mpsc::Sender<AccountMsg>,
    mut rx: mpsc::Receiver<AccountMsg>,
    board: Board,
) -> Result<(), Failure> {
    let log = ctx
        .log
        .new(slog::o!("account.name" => account.name.clone(), "account.id" => account.id));
    let id = account.id;
    let row = ctx
        .store
        .run(move |c| store::configs::get(c, id))
        .await?
        .ok_or_else(|| Failure::Setup("the account has no trading configuration".into()))?;
    let settings = store::configs::from_row(&row)
        .map_err(|e| Failure::Setup(format!("invalid trading configuration: {e}")))?;
    let vault = ctx
        .vault
        .as_ref()
        .ok_or_else(|| Failure::Setup("no master key: credentials cannot be read".into()))?;
    let creds = {
        let mut conn = {
            let store = ctx.store.clone();
            tokio::task::spawn_blocking(move || store.conn())
                .await
                .map_err(|e| Failure::Store(StoreError::Worker(e.to_string())))??
        };
        vault
            .get(&mut conn, id)
            .map_err(|e| Failure::Setup(format!("credentials: {e}")))?
            .ok_or_else(|| Failure::Setup("the account has no credentials".into()))?
    };
    let rest = Rc::new(
        RestClient::new(&ctx.exchange.rest_url, ctx.timing.request_timeout).with_session(&creds),
    );
    drop(creds);

    let mut status = AccountStatus {
        account_id: id,
        name: account.name.clone(),
        state: "starting".into(),
        pauses: Vec::new(),
        volume_today: Decimal::ZERO,
        target: settings.daily_target_usdt,
        cycles_today: 0,
        stream_up: false,
        failure: None,
        updated_at_ms: ctx.clock.now_ms(),
    };
    publish(&board, status.clone());

    // The token first: public data, asked before the account is claimed.
    let token = loop {
        let now = ctx.clock.now_ms();
        match tokens::resolve(
            &ctx.cache,
            &ctx.store,
            &rest,
            &settings.token,
            settings.chain.as_deref(),
            now,
        )
        .await
        {
            Ok(t) => break t,
            Err(e) => {
                let reason = match &e {
                    tokens::TokenError::Precision { .. } => PauseReason::Precision,
                    _ => PauseReason::UnknownToken,
                };
                status.state = "paused".into();
                status.pauses = vec![reason.code().into()];
                publish(&board, status.clone());
                if !e.is_transient() {
                    notify_raw(
                        &ctx,
                        &account,
                        settings.webhook_url.as_deref(),
                        "paused",
                        EventLevel::Warn,
                        Some(reason.code()),
                        &e.to_string(),
                        &log,
                    )
                    .await;
                }
                // Wait for a retry: a minute, or the operator's resume; a stop ends the task.
                let wait =
                    tokio::time::sleep(Duration::from_secs(if e.is_transient() { 5 } else { 60 }));
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        _ = &mut wait => break,
                        m = rx.recv() => match m {
                            None | Some(AccountMsg::Shutdown) => return Ok(()),
                            // The operator may have fixed the configuration: read it again.
                            Some(AccountMsg::Command(Command::Resume)) => return Err(Failure::Reload),
                            Some(AccountMsg::Command(c @ (Command::Start | Command::Stop | Command::Pause))) => {
                                // Written down; the account acts on it once its token is known.
                                let (state, reason) = match c {
                                    Command::Start => (AccountState::Trading, None),
                                    Command::Pause => (AccountState::Paused, Some("operator")),
                                    _ => (AccountState::Stopped, None),
                                };
                                let now = ctx.clock.now_ms();
                                ctx.store.run(move |c| store::accounts::set_state(c, id, state, reason, now)).await?;
                            }
                            Some(AccountMsg::Command(Command::Kill(reply))) => {
                                let _ = reply.send(KillReport { account: account.name.clone(), open_left: 0, error: Some("not trading: unknown token".into()) });
                            }
                            Some(AccountMsg::InjectPanic) => panic!("injected panic (test hook)"),
                            Some(_) => {}
                        }
                    }
                }
            }
        }
    };

    // Then the lease: nothing is sent for an account another instance owns.
    let ttl = millis(ctx.timing.lease_ttl);
    let (lease, deadline) = loop {
        let started = Instant::now();
        let owner = ctx.owner.clone();
        let claimed = ctx
            .store
            .run(move |c| store::lease::claim(c, id, &owner, ttl))
            .await;
        match claimed {
            Ok(Some(l)) => break (l, started + ctx.timing.lease_ttl - ctx.timing.lease_margin),
            Ok(None) => {
                status.state = "standby".into();
                publish(&board, status.clone());
            }
            Err(e) => warn!(log, "cannot claim the lease"; "error.message" => e.to_string()),
        }
        let wait = tokio::time::sleep(ctx.timing.lease_ttl / 3);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                m = rx.recv() => match m {
                    None | Some(AccountMsg::Shutdown) => return Ok(()),
                    Some(AccountMsg::InjectPanic) => panic!("injected panic (test hook)"),
                    Some(AccountMsg::Command(Command::Kill(reply))) => {
                        let _ = reply.send(KillReport { account: account.name.clone(), open_left: 0, error: Some("another instance owns the account".into()) });
                    }
                    Some(_) => {}
                }
            }
        }
    };
    info!(log, "lease claimed"; fields::EVENT_ACTION => "lease-claim", "lease.token" => lease.token);

    let now = ctx.clock.now_ms();
    let day = day_start_ms(now);
    let today = ctx
        .store
        .run(move |c| store::fills::volume_between(c, id, day, now + 1))
        .await?;
    let price = ctx.feeds.watch(&token.trade_stream, &token.order_symbol);
    let cycle = Cycle::new(
        &account.name,
        cycle_config(&settings, &token, &ctx),
        today.buy_quote,
    );
    let stream_task = actix_rt::spawn(super::user_stream::run(
        ctx.clone(),
        rest.clone(),
        me,
        log.clone(),
    ));
    let mut actor = Actor {
        ctx: ctx.clone(),
        account,
        settings,
        rest,
        token,
        price,
        lease,
        deadline,
        renewed: Instant::now(),
        cycle,
        live: None,
        last_cycle_id: None,
        sells: HashMap::new(),
        orders: HashMap::new(),
        filled: HashMap::new(),
        details: HashMap::new(),
        statuses: HashMap::new(),
        stream_up: false,
        was_up: false,
        reconciled: false,
        first_reconcile: true,
        reconcile_due: None,
        next_sync: Instant::now() + ctx.timing.sync_every,
        cancel_retry: None,
        hold_until: 0,
        rate_limited_until: 0,
        balance_recheck_at: 0,
        killed: false,
        flush_statuses: false,
        day,
        today,
        cycles_today: 0,
        status,
        board,
        log,
    };
    let result = actor.main_loop(&mut rx).await;
    stream_task.abort();
    if result.is_ok() {
        // A clean stop hands the account over at once instead of after the lease's expiry.
        let lease = actor.lease.clone();
        let _ = ctx
            .store
            .run(move |c| store::lease::release(c, &lease))
            .await;
    }
    result
}

struct Actor {
    ctx: Ctx,
    account: Account,
    settings: AccountSettings,
    rest: Rc<RestClient>,
    token: Token,
    price: Arc<PriceCell>,
    lease: Lease,
    /// Past this instant the lease may have expired: nothing more is sent.
    deadline: Instant,
    renewed: Instant,
    cycle: Cycle,
    live: Option<LiveRows>,
    last_cycle_id: Option<i64>,
    /// Leftover sales by intent id: their order rows.
    sells: HashMap<String, i64>,
    /// Our orders by exchange id.
    orders: HashMap<String, OrderRef>,
    /// What the store holds as filled, by exchange id (cumulative qty, quote).
    filled: HashMap<String, (Decimal, Decimal)>,
    /// Trade details of recent reports, by exchange id (one per piece).
    details: HashMap<String, Vec<TradeDetail>>,
    statuses: HashMap<String, WireStatus>,
    stream_up: bool,
    was_up: bool,
    reconciled: bool,
    first_reconcile: bool,
    reconcile_due: Option<i64>,
    next_sync: Instant,
    cancel_retry: Option<(String, i64)>,
    hold_until: i64,
    rate_limited_until: i64,
    balance_recheck_at: i64,
    killed: bool,
    /// A reconciliation learnt statuses: write them once its effects are carried out.
    flush_statuses: bool,
    day: i64,
    today: Volume,
    cycles_today: u64,
    status: AccountStatus,
    board: Board,
    log: Logger,
}

impl Actor {
    fn now(&self) -> i64 {
        self.ctx.clock.now_ms()
    }

    fn may_send(&self) -> bool {
        Instant::now() < self.deadline
    }

    async fn main_loop(&mut self, rx: &mut mpsc::Receiver<AccountMsg>) -> Result<(), Failure> {
        let mut tick = tokio::time::interval(self.ctx.timing.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    None | Some(AccountMsg::Shutdown) => return Ok(()),
                    Some(m) => self.on_msg(m).await?,
                },
                _ = tick.tick() => self.on_tick().await?,
            }
            self.publish();
        }
    }

    fn publish(&mut self) {
        let s = &mut self.status;
        s.state = if self.cycle.state == State::Stopped {
            "stopped".into()
        } else if !self.cycle.pauses.is_empty() && !self.cycle.pair_may_be_live() {
            "paused".into()
        } else if !self.reconciled {
            "reconciling".into()
        } else {
            state_name(&self.cycle.state).into()
        };
        s.pauses = self
            .cycle
            .pauses
            .iter()
            .map(|p| p.code().to_owned())
            .collect();
        s.volume_today = self.cycle.volume_today;
        s.cycles_today = self.cycles_today;
        s.stream_up = self.stream_up;
        s.updated_at_ms = self.ctx.clock.now_ms();
        publish(&self.board, s.clone());
    }

    async fn on_msg(&mut self, m: AccountMsg) -> Result<(), Failure> {
        match m {
            AccountMsg::Command(c) => self.on_command(c).await,
            AccountMsg::StreamUp => {
                self.stream_up = true;
                self.was_up = true;
                self.reconciled = false;
                self.reconcile_all().await
            }
            AccountMsg::StreamDown(reason) => {
                let was = self.stream_up;
                self.stream_up = false;
                self.reconciled = false;
                if was || self.was_up {
                    if was {
                        warn!(self.log, "private stream lost"; fields::EVENT_ACTION => "user-stream-lost",
                            "error.message" => reason);
                    }
                    self.event(Event::Pause(PauseReason::StreamLost)).await?;
                }
                Ok(())
            }
            AccountMsg::Report(r) => self.on_report(*r).await,
            AccountMsg::SessionProblem(e) => match session_pause(&e) {
                Some(reason) => self.event(Event::Pause(reason)).await,
                None => Ok(()),
            },
            AccountMsg::InjectPanic => panic!("injected panic (test hook)"),
            AccountMsg::Shutdown => Ok(()),
        }
    }

    async fn on_command(&mut self, c: Command) -> Result<(), Failure> {
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
            Command::Kill(reply) => {
                let report = self.kill(now).await;
                let _ = reply.send(report);
                Ok(())
            }
        }
    }

    async fn kill(&mut self, _now: i64) -> KillReport {
        self.killed = true;
        let _ = self.event(Event::Pause(PauseReason::Operator)).await;
        let _ = self.event(Event::Stop).await;
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
        let _ = self
            .set_state(AccountState::Stopped, Some(PauseReason::Operator.code()))
            .await;
        let open_left = if open_left == usize::MAX {
            0
        } else {
            open_left
        };
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

    async fn on_report(&mut self, r: ExecutionReport) -> Result<(), Failure> {
        if r.symbol != self.token.order_symbol {
            return Ok(());
        }
        if r.is_trade() {
            if self.details.len() > 4096 {
                // Reports of orders that never became ours: forget them.
                self.details.retain(|x, _| self.orders.contains_key(x));
            }
            self.details
                .entry(r.order_id.clone())
                .or_default()
                .push(TradeDetail {
                    cum_qty: r.cum_qty,
                    trade_id: r.trade_id.clone(),
                    price: r.last_price,
                    fee: r.commission.unwrap_or_default(),
                    fee_asset: r.commission_asset.clone().unwrap_or_default(),
                    at_ms: r.transaction_time,
                });
        }
        self.statuses.insert(r.order_id.clone(), r.status);
        let update = sync::Seen {
            order: crate::domain::reconcile::ExchangeOrder {
                order_id: r.order_id.clone(),
                list_id: r.order_list_id.clone(),
                order_symbol: r.symbol.clone(),
                is_buy: r.side == WireSide::Buy,
                price: r.price,
                orig_qty: r.qty,
                time_ms: r.transaction_time,
                position: crate::domain::reconcile::Position::None,
            },
            status: r.status,
            cum_qty: r.cum_qty,
            cum_quote: r.cum_quote,
        }
        .update();
        self.event(Event::Report(update)).await?;
        self.store_status(&r.order_id).await?;
        if r.status.is_final() && self.orders.contains_key(&r.order_id) {
            self.details.remove(&r.order_id);
        }
        Ok(())
    }

    /// Writes an order's latest known status to its row.
    async fn store_status(&mut self, exchange_id: &str) -> Result<(), Failure> {
        let (Some(o), Some(st)) = (self.orders.get(exchange_id), self.statuses.get(exchange_id))
        else {
            return Ok(());
        };
        let (row, status) = (o.row, sync::store_status(*st));
        let (qty, quote) = self.filled.get(exchange_id).copied().unwrap_or_default();
        let now = self.now();
        self.ctx
            .store
            .run(move |c| store::orders::update_status(c, row, status, qty, quote, now))
            .await?;
        if status.is_terminal() {
            self.statuses.remove(exchange_id);
        }
        Ok(())
    }

    async fn on_tick(&mut self) -> Result<(), Failure> {
        self.renew_lease().await?;
        if !self.reconciled {
            if self.stream_up {
                self.reconcile_all().await?;
            }
            return Ok(());
        }
        let now = self.now();
        if day_start_ms(now) != self.day {
            self.new_day(now).await?;
        }
        let market = self.guards(now).await?;
        if let State::Unknown { .. } = self.cycle.state
            && self.reconcile_due.is_some_and(|t| t <= now)
        {
            self.reconcile_due = None;
            self.apply(vec![Effect::Reconcile]).await?;
        }
        if self.cycle.pair_may_be_live() && Instant::now() >= self.next_sync {
            self.sync_live().await?;
        }
        if let Some((order_id, at)) = self.cancel_retry.clone()
            && at <= now
        {
            self.cancel_retry = None;
            if matches!(&self.cycle.state, State::Cancelling { target, .. } if *target == order_id)
            {
                self.apply(vec![Effect::Cancel { order_id }]).await?;
            }
        }
        if self.cycle.state == State::Idle && now < self.hold_until {
            return Ok(());
        }
        self.event(Event::Tick { market }).await
    }

    async fn renew_lease(&mut self) -> Result<(), Failure> {
        if self.renewed.elapsed() < self.ctx.timing.lease_ttl / 3 {
            return Ok(());
        }
        let started = Instant::now();
        let lease = self.lease.clone();
        let ttl = millis(self.ctx.timing.lease_ttl);
        match self
            .ctx
            .store
            .run(move |c| store::lease::renew(c, &lease, ttl))
            .await
        {
            Ok(l) => {
                self.lease = l;
                self.renewed = started;
                self.deadline = started + self.ctx.timing.lease_ttl - self.ctx.timing.lease_margin;
                Ok(())
            }
            Err(StoreError::LeaseLost { .. }) => Err(Failure::LeaseLost),
            Err(e) => {
                // The database is away: keep trying; past the deadline nothing is sent.
                warn!(self.log, "cannot renew the lease"; fields::EVENT_ACTION => "lease-renew",
                    fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
                if !self.may_send() {
                    return Err(Failure::LeaseLost);
                }
                Ok(())
            }
        }
    }

    async fn new_day(&mut self, now: i64) -> Result<(), Failure> {
        self.day = day_start_ms(now);
        let (id, day) = (self.account.id, self.day);
        self.today = self
            .ctx
            .store
            .run(move |c| store::fills::volume_between(c, id, day, now + 1))
            .await?;
        self.cycles_today = 0;
        info!(self.log, "a new UTC day"; fields::EVENT_ACTION => "day-rollover");
        self.event(Event::Resume(PauseReason::CostBudget)).await?;
        self.event(Event::NewDay {
            volume: self.today.buy_quote,
        })
        .await
    }

    /// The market view, and the pauses that follow from it and from time.
    async fn guards(&mut self, now: i64) -> Result<Option<Market>, Failure> {
        let view = self.price.view(now);
        let paused = |c: &Cycle, r| c.pauses.contains(&r);
        let mut market = None;
        if let Some(v) = view {
            let stale = now - v.at_ms > millis(self.ctx.timing.price_stale);
            if stale && !paused(&self.cycle, PauseReason::PriceFeed) {
                self.event(Event::Pause(PauseReason::PriceFeed)).await?;
            } else if !stale && paused(&self.cycle, PauseReason::PriceFeed) {
                self.event(Event::Resume(PauseReason::PriceFeed)).await?;
            }
            let volatile = v
                .range_pct
                .is_some_and(|r| r > self.settings.volatility_pct);
            if volatile && !paused(&self.cycle, PauseReason::Volatility) {
                let message = format!(
                    "the price moved {}% within 60 s",
                    v.range_pct.unwrap_or_default().round_dp(2)
                );
                self.event(Event::Pause(PauseReason::Volatility)).await?;
                self.notify("volatility", EventLevel::Warn, Some("volatility"), &message)
                    .await;
            } else if !volatile && paused(&self.cycle, PauseReason::Volatility) {
                self.event(Event::Resume(PauseReason::Volatility)).await?;
            }
            if !stale {
                market = Some(Market {
                    last_price: v.price,
                    grid: self.token.grid,
                    volatile,
                });
            }
        }
        if paused(&self.cycle, PauseReason::RateLimited) && now >= self.rate_limited_until {
            self.event(Event::Resume(PauseReason::RateLimited)).await?;
        }
        if paused(&self.cycle, PauseReason::InsufficientBalance) && now >= self.balance_recheck_at {
            self.balance_recheck_at = now + millis(self.ctx.timing.balance_recheck);
            let need = self.settings.order_usdt;
            if let Ok(true) = self.balance_ok(need).await {
                self.event(Event::Resume(PauseReason::InsufficientBalance))
                    .await?;
            }
        }
        Ok(market)
    }

    /// Today's realised cost (fees and spread loss) against the budget, in bps of volume.
    fn over_cost_budget(&self) -> bool {
        if self.today.buy_quote <= Decimal::ZERO {
            return false;
        }
        let bps = self.today.cost() / self.today.buy_quote * Decimal::from(10_000);
        bps > self.settings.cost_budget_bps
    }

    async fn balance_ok(&self, payment: Decimal) -> Result<bool, ExchangeError> {
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        let assets = self.rest.wallet_assets().await?;
        let free = assets
            .iter()
            .find(|a| a.asset.eq_ignore_ascii_case("USDT"))
            .map(|a| a.spot.free)
            .unwrap_or_default();
        Ok(free >= payment)
    }

    /// Feeds one event to the machine and carries out what it says.
    async fn event(&mut self, e: Event) -> Result<(), Failure> {
        let now = self.now();
        let effects = self.cycle.on(e, now);
        self.apply(effects).await
    }

    async fn apply(&mut self, effects: Vec<Effect>) -> Result<(), Failure> {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            if let Some(follow) = self.effect(effect, &mut queue).await? {
                let now = self.now();
                for e in self.cycle.on(follow, now).into_iter().rev() {
                    queue.push_front(e);
                }
            }
        }
        if std::mem::take(&mut self.flush_statuses) {
            let ids: Vec<String> = self.orders.keys().cloned().collect();
            for id in ids {
                self.store_status(&id).await?;
            }
        }
        Ok(())
    }

    async fn effect(
        &mut self,
        effect: Effect,
        queue: &mut VecDeque<Effect>,
    ) -> Result<Option<Event>, Failure> {
        match effect {
            Effect::PersistIntent(intent) => self.persist_intent(intent, queue).await,
            Effect::PlaceOto(intent) => self.place_oto(intent).await,
            Effect::Reconcile => self.reconcile_intent().await,
            Effect::Cancel { order_id } => {
                self.cancel(order_id).await;
                Ok(None)
            }
            Effect::PersistSell(sell) => self.persist_sell(sell, queue).await,
            Effect::PlaceSell(sell) => self.place_sell(sell).await,
            Effect::RecordFill {
                order_id,
                qty,
                quote,
                ..
            } => {
                self.record_fill(&order_id, qty, quote).await?;
                Ok(None)
            }
            Effect::CloseCycle { intent_id, outcome } => {
                self.close_cycle(&intent_id, outcome).await?;
                Ok(None)
            }
            Effect::Paused(reason) => {
                self.set_state(AccountState::Paused, Some(reason.code()))
                    .await?;
                let message = format!("paused: {}", reason.code());
                self.notify("paused", EventLevel::Warn, Some(reason.code()), &message)
                    .await;
                Ok(None)
            }
            Effect::Resumed => {
                if self.status.state != "stopped" {
                    self.set_state(AccountState::Trading, None).await?;
                }
                self.notify("resumed", EventLevel::Info, None, "trading again")
                    .await;
                Ok(None)
            }
            Effect::DoneForToday => {
                self.set_state(AccountState::DoneForToday, None).await?;
                let message = format!("daily target reached: {} USDT", self.cycle.volume_today);
                self.notify("done_for_today", EventLevel::Info, None, &message)
                    .await;
                Ok(None)
            }
            Effect::Unsold { quantity } => {
                let message = format!("{quantity} tokens could not be sold down to the floor");
                self.notify("unsold", EventLevel::Warn, Some("unsold"), &message)
                    .await;
                Ok(None)
            }
        }
    }

    async fn persist_intent(
        &mut self,
        intent: Intent,
        queue: &mut VecDeque<Effect>,
    ) -> Result<Option<Event>, Failure> {
        let refuse = |queue: &mut VecDeque<Effect>, refusal| {
            queue.retain(|e| !matches!(e, Effect::PlaceOto(i) if i.id == intent.id));
            Ok(Some(Event::PlaceRefused {
                intent_id: intent.id.clone(),
                refusal,
            }))
        };
        if !self.may_send() {
            return Err(Failure::LeaseLost);
        }
        if self.killed {
            return refuse(queue, Refusal::NotSent);
        }
        // B9: judged before each pair, when no tokens of a pair are held.
        if self.over_cost_budget() {
            let now = self.now();
            for e in self
                .cycle
                .on(Event::Pause(PauseReason::CostBudget), now)
                .into_iter()
                .rev()
            {
                queue.push_front(e);
            }
            return refuse(queue, Refusal::NotSent);
        }
        // R14: the balance is checked before each pair; too little pauses, never shrinks it.
        match self.balance_ok(intent.payment).await {
            Ok(true) => {}
            Ok(false) => {
                self.balance_recheck_at = self.now() + millis(self.ctx.timing.balance_recheck);
                return refuse(queue, Refusal::InsufficientBalance);
            }
            Err(e) => {
                self.after_error(&e);
                return refuse(queue, refusal_of(&e));
            }
        }
        let now = self.now();
        let new = NewCycle {
            account_id: self.account.id,
            intent_id: intent.id.clone(),
            fencing_token: self.lease.token,
            state: "placing".into(),
            order_symbol: self.token.order_symbol.clone(),
            buy_price: intent.buy_price,
            sell_price: intent.sell_price,
            quantity: intent.quantity,
            payment_amount: intent.payment,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let lease = self.lease.clone();
        match self
            .ctx
            .store
            .run(move |c| store::cycles::insert_intent(c, &lease, &new))
            .await
        {
            Ok((cycle, _)) => {
                self.live = Some(LiveRows {
                    cycle_id: cycle.id,
                    intent_id: intent.id,
                    progress: CycleProgress {
                        state: "placing".into(),
                        bought_qty: Decimal::ZERO,
                        sold_qty: Decimal::ZERO,
                        volume_usdt: Decimal::ZERO,
                        fees_usdt: Decimal::ZERO,
                    },
                });
                Ok(None)
            }
            Err(StoreError::LeaseLost { .. }) => Err(Failure::LeaseLost),
            Err(e) => Err(Failure::Store(e)),
        }
    }

    /// Remembers what an error means beyond this request.
    fn after_error(&mut self, e: &ExchangeError) {
        let now = self.now();
        match e {
            ExchangeError::RateLimited { retry_after } => {
                self.rate_limited_until = now
                    + retry_after
                        .map(millis)
                        .unwrap_or(10_000)
                        .clamp(1_000, 600_000);
            }
            ExchangeError::NotSent(_) | ExchangeError::Unknown(_) => self.hold_until = now + 3_000,
            _ => {}
        }
    }

    async fn place_oto(&mut self, intent: Intent) -> Result<Option<Event>, Failure> {
        if !self.may_send() {
            return Err(Failure::LeaseLost);
        }
        let Some(live) = self.live.clone().filter(|l| l.intent_id == intent.id) else {
            // Never send what was not stored.
            return Ok(Some(Event::PlaceRefused {
                intent_id: intent.id,
                refusal: Refusal::NotSent,
            }));
        };
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Order)
            .await;
        if !self.may_send() {
            return Err(Failure::LeaseLost);
        }
        let req = OtoPlaceRequest {
            base_asset: self.token.alpha_id.clone(),
            quote_asset: "USDT".into(),
            working_side: WireSide::Buy,
            working_price: intent.buy_price,
            working_quantity: intent.quantity,
            payment_details: vec![PaymentDetail {
                amount: intent.payment,
                payment_wallet_type: WalletType::Card,
            }],
            pending_price: intent.sell_price,
            pending_type: Some("LIMIT".into()),
        };
        match self.rest.place_oto(&req).await {
            Ok(placed) => {
                let (w, p) = (placed.working_order_id, placed.pending_order_id);
                self.adopt_pair(live.cycle_id, &w, &p).await?;
                info!(self.log, "pair placed"; fields::EVENT_ACTION => "oto-place", fields::EVENT_OUTCOME => "success",
                    "order.working_id" => &w, "order.pending_id" => &p, "order.buy_price" => intent.buy_price.to_string(),
                    "order.quantity" => intent.quantity.to_string());
                Ok(Some(Event::Placed {
                    intent_id: intent.id,
                    working_id: w,
                    pending_id: p,
                }))
            }
            Err(e) if e.outcome_unknown() => {
                warn!(self.log, "place outcome unknown: reconciling"; fields::EVENT_ACTION => "oto-place",
                    fields::EVENT_OUTCOME => "unknown", "error.message" => e.to_string());
                let cycle_id = live.cycle_id;
                let now = self.now();
                self.ctx
                    .store
                    .run(move |c| {
                        for o in store::orders::for_cycle(c, cycle_id)? {
                            store::orders::update_status(
                                c,
                                o.id,
                                OrderStatus::Unknown,
                                Decimal::ZERO,
                                Decimal::ZERO,
                                now,
                            )?;
                        }
                        Ok(())
                    })
                    .await?;
                Ok(Some(Event::PlaceUnknown {
                    intent_id: intent.id,
                }))
            }
            Err(e) => {
                warn!(self.log, "pair refused"; fields::EVENT_ACTION => "oto-place", fields::EVENT_OUTCOME => "failure",
                    "error.kind" => e.kind(), "error.message" => e.to_string());
                self.after_error(&e);
                Ok(Some(Event::PlaceRefused {
                    intent_id: intent.id,
                    refusal: refusal_of(&e),
                }))
            }
        }
    }

    /// Records a pair's exchange ids on its rows and follows its orders from now on.
    async fn adopt_pair(
        &mut self,
        cycle_id: i64,
        working: &str,
        pending: &str,
    ) -> Result<(), Failure> {
        let now = self.now();
        let (w, p) = (working.to_owned(), pending.to_owned());
        let rows = self
            .ctx
            .store
            .run(move |c| {
                store::cycles::set_exchange_ids(c, cycle_id, &w, &p, None, now)?;
                store::orders::for_cycle(c, cycle_id)
            })
            .await?;
        for o in rows {
            if let Some(x) = &o.exchange_order_id {
                self.filled
                    .entry(x.clone())
                    .or_insert((o.filled_qty, o.filled_quote));
                self.orders.insert(
                    x.clone(),
                    OrderRef {
                        row: o.id,
                        side: o.side,
                        cycle_id: o.cycle_id,
                        orig_qty: o.quantity,
                    },
                );
                self.store_status(x).await?;
            }
        }
        if let Some(l) = &mut self.live {
            l.progress.state = "placed".into();
        }
        Ok(())
    }

    /// Settles the pair in doubt by asking the exchange.
    async fn reconcile_intent(&mut self) -> Result<Option<Event>, Failure> {
        let State::Unknown { intent } = &self.cycle.state else {
            return Ok(None);
        };
        let intent = intent.clone();
        let now = self.now();
        let view = IntentView {
            order_symbol: self.token.order_symbol.clone(),
            buy_price: intent.buy_price,
            sell_price: intent.sell_price,
            quantity: intent.quantity,
            sent_ms: intent.created_ms,
        };
        let live = self.live.clone();
        let ids = match &live {
            Some(l) => {
                let cycle_id = l.cycle_id;
                let c = self
                    .ctx
                    .store
                    .run(move |c| store::cycles::get(c, cycle_id))
                    .await?;
                c.working_order_id.zip(c.pending_order_id)
            }
            None => None,
        };
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        let seen = match sync::snapshot(&self.rest, intent.created_ms - 60_000, now).await {
            Ok(s) => s,
            Err(e) => {
                warn!(self.log, "reconciliation failed; trying again"; fields::EVENT_ACTION => "reconcile",
                    fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
                if let Some(r) = session_pause(&e) {
                    return Ok(Some(Event::Pause(r)));
                }
                self.reconcile_due = Some(now + 3_000);
                return Ok(None);
            }
        };
        let adopted = self.adopted_ids(live.as_ref().map(|l| l.cycle_id)).await?;
        let window = Window {
            before_ms: 5_000,
            after_ms: millis(self.ctx.timing.request_timeout) + 5_000,
        };
        let verdict = sync::judge(
            &view,
            ids.as_ref().map(|(w, p)| (w.as_str(), p.as_str())),
            &seen,
            &adopted,
            window,
            now,
        );
        match verdict {
            Verdict::NotYet => {
                self.reconcile_due = Some(now + 2_000);
                Ok(None)
            }
            Verdict::Found(found) => {
                if let (crate::domain::cycle::Found::Pair { working, pending }, Some(l)) =
                    (&found, &live)
                {
                    let p = pending
                        .as_ref()
                        .map(|p| p.order_id.clone())
                        .unwrap_or_default();
                    self.adopt_pair(l.cycle_id, &working.order_id, &p).await?;
                    for u in std::iter::once(working).chain(pending.iter()) {
                        if let Some(s) = seen.get(&u.order_id) {
                            self.statuses.insert(u.order_id.clone(), s.status);
                        }
                    }
                }
                info!(self.log, "pair in doubt settled"; fields::EVENT_ACTION => "reconcile",
                    fields::EVENT_OUTCOME => "success", "reconcile.found" => format!("{found:?}"));
                self.flush_statuses = true;
                Ok(Some(Event::Reconciled(found)))
            }
        }
    }

    /// Exchange ids the store already gives to other cycles or orders (of the last hours, far
    /// wider than any match window): never adopted again.
    async fn adopted_ids(&self, except_cycle: Option<i64>) -> Result<HashSet<String>, Failure> {
        let (id, since) = (self.account.id, self.now() - 6 * 3_600_000);
        let mine: Vec<String> = match except_cycle {
            Some(cycle_id) => self
                .ctx
                .store
                .run(move |c| store::orders::for_cycle(c, cycle_id))
                .await?
                .into_iter()
                .filter_map(|o| o.exchange_order_id)
                .collect(),
            None => Vec::new(),
        };
        let all = self
            .ctx
            .store
            .run(move |c| store::orders::exchange_ids_since(c, id, since))
            .await?;
        Ok(all.into_iter().filter(|x| !mine.contains(x)).collect())
    }

    async fn cancel(&mut self, order_id: String) {
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Cancel)
            .await;
        match self.rest.cancel(&order_id, &self.token.order_symbol).await {
            Ok(()) => {
                info!(self.log, "cancel sent"; fields::EVENT_ACTION => "order-cancel", "order.id" => &order_id);
            }
            Err(ExchangeError::Rejected { code, message }) => {
                // Most likely already final: ask the exchange rather than trust the guess.
                info!(self.log, "cancel refused; checking the order"; fields::EVENT_ACTION => "order-cancel",
                    "order.id" => &order_id, "error.code" => code, "error.message" => message);
                self.next_sync = Instant::now();
            }
            Err(e) => {
                warn!(self.log, "cancel failed; trying again"; fields::EVENT_ACTION => "order-cancel",
                    fields::EVENT_OUTCOME => "failure", "order.id" => &order_id, "error.message" => e.to_string());
                self.cancel_retry = Some((order_id, self.now() + 2_000));
            }
        }
    }

    async fn persist_sell(
        &mut self,
        sell: SellIntent,
        queue: &mut VecDeque<Effect>,
    ) -> Result<Option<Event>, Failure> {
        if self.killed || !self.may_send() {
            queue.retain(|e| !matches!(e, Effect::PlaceSell(s) if s.id == sell.id));
            return Ok(Some(Event::SellRefused { intent_id: sell.id }));
        }
        // Sell what the account holds: the buy's fee was taken in the token, so the wallet,
        // not the machine's count, says how much there is.
        let mut sell = sell;
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        if let Ok(w) = self.rest.alpha_wallet().await {
            let free = w
                .list
                .iter()
                .find(|t| t.token_id == self.token.alpha_id)
                .map(|t| t.free)
                .unwrap_or_default();
            let step = self.token.grid.step_size;
            let held = if step > Decimal::ZERO {
                (free / step).floor() * step
            } else {
                free
            };
            sell.quantity = sell.quantity.min(held);
        }
        if sell.quantity < self.token.grid.min_qty || sell.quantity <= Decimal::ZERO {
            queue.retain(|e| !matches!(e, Effect::PlaceSell(s) if s.id == sell.id));
            return Ok(Some(Event::SellRefused { intent_id: sell.id }));
        }
        if let Some(Effect::PlaceSell(s)) = queue
            .iter_mut()
            .find(|e| matches!(e, Effect::PlaceSell(s) if s.id == sell.id))
        {
            s.quantity = sell.quantity;
        }
        let now = self.now();
        let new = NewOrder {
            account_id: self.account.id,
            cycle_id: self.last_cycle_id,
            intent_id: sell.id.clone(),
            role: OrderRole::Liquidation,
            exchange_order_id: None,
            order_symbol: self.token.order_symbol.clone(),
            side: Side::Sell,
            price: sell.price,
            quantity: sell.quantity,
            status: OrderStatus::Intent,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let lease = self.lease.clone();
        match self
            .ctx
            .store
            .run(move |c| store::orders::insert_intent(c, &lease, &new))
            .await
        {
            Ok(row) => {
                self.sells.insert(sell.id, row.id);
                Ok(None)
            }
            Err(StoreError::LeaseLost { .. }) => Err(Failure::LeaseLost),
            Err(e) => Err(Failure::Store(e)),
        }
    }

    async fn place_sell(&mut self, sell: SellIntent) -> Result<Option<Event>, Failure> {
        let Some(row) = self.sells.get(&sell.id).copied() else {
            return Ok(Some(Event::SellRefused { intent_id: sell.id }));
        };
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Order)
            .await;
        if !self.may_send() {
            return Err(Failure::LeaseLost);
        }
        let req = PlaceOrderRequest {
            base_asset: self.token.alpha_id.clone(),
            quote_asset: "USDT".into(),
            side: WireSide::Sell,
            price: sell.price,
            quantity: sell.quantity,
            payment_details: vec![PaymentDetail {
                amount: sell.quantity,
                payment_wallet_type: WalletType::Alpha,
            }],
            order_type: Some("LIMIT".into()),
        };
        let now = self.now();
        match self.rest.place_order(&req).await {
            Ok(order_id) => {
                let x = order_id.clone();
                let o = self
                    .ctx
                    .store
                    .run(move |c| store::orders::set_placed(c, row, &x, OrderStatus::New, now))
                    .await?;
                self.orders.insert(
                    order_id.clone(),
                    OrderRef {
                        row,
                        side: Side::Sell,
                        cycle_id: o.cycle_id,
                        orig_qty: o.quantity,
                    },
                );
                self.filled
                    .insert(order_id.clone(), (Decimal::ZERO, Decimal::ZERO));
                info!(self.log, "leftover sale placed"; fields::EVENT_ACTION => "order-place",
                    "order.id" => &order_id, "order.price" => sell.price.to_string(), "order.quantity" => sell.quantity.to_string());
                self.store_status(&order_id).await?;
                Ok(Some(Event::SellPlaced {
                    intent_id: sell.id,
                    order_id,
                }))
            }
            Err(e) => {
                // An unknown outcome stays UNKNOWN in the store; the next start reconciles it.
                let status = if e.outcome_unknown() {
                    OrderStatus::Unknown
                } else {
                    OrderStatus::Rejected
                };
                warn!(self.log, "leftover sale not placed"; fields::EVENT_ACTION => "order-place",
                    fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
                self.after_error(&e);
                self.ctx
                    .store
                    .run(move |c| {
                        store::orders::update_status(
                            c,
                            row,
                            status,
                            Decimal::ZERO,
                            Decimal::ZERO,
                            now,
                        )
                    })
                    .await?;
                Ok(Some(Event::SellRefused { intent_id: sell.id }))
            }
        }
    }

    /// Stores the new part of an order's execution, piece by piece, each exactly once. The
    /// pieces come from the stream's reports; what the stream did not carry (a crash, a lost
    /// answer) is asked of the exchange's trade list, so the store matches it fill for fill.
    async fn record_fill(
        &mut self,
        order_id: &str,
        qty: Decimal,
        quote: Decimal,
    ) -> Result<(), Failure> {
        let Some(o) = self.orders.get(order_id).cloned() else {
            warn!(self.log, "fill of an order the store does not know"; "order.id" => order_id);
            return Ok(());
        };
        let (before_qty, before_quote) = self.filled.get(order_id).copied().unwrap_or_default();
        let (cum_qty, cum_quote) = (before_qty + qty, before_quote + quote);
        let now = self.now();
        let reported = self
            .details
            .get(order_id)
            .and_then(|all| all.iter().find(|d| d.cum_qty == cum_qty))
            .cloned();
        let pieces = match reported {
            Some(d) => vec![Piece {
                detail: d,
                qty,
                quote,
            }],
            None => self
                .pieces_from_exchange(order_id, before_qty, cum_qty)
                .await
                .filter(|p| p.iter().map(|x| x.qty).sum::<Decimal>() == qty)
                .unwrap_or_else(|| {
                    vec![Piece {
                        detail: TradeDetail {
                            cum_qty,
                            trade_id: format!("reconciled-{cum_qty}"),
                            price: if qty.is_zero() {
                                Decimal::ZERO
                            } else {
                                (quote / qty).round_dp(8)
                            },
                            fee: Decimal::ZERO,
                            fee_asset: String::new(),
                            at_ms: now,
                        },
                        qty,
                        quote,
                    }]
                }),
        };
        let status = if cum_qty >= o.orig_qty {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        let fills: Vec<(NewFill, Decimal)> = pieces
            .iter()
            .map(|p| {
                let d = &p.detail;
                let fee_usdt = if d.fee_asset.eq_ignore_ascii_case("USDT") || d.fee_asset.is_empty()
                {
                    d.fee
                } else {
                    d.fee * d.price
                };
                let fill = NewFill {
                    account_id: self.account.id,
                    order_id: o.row,
                    exchange_order_id: order_id.to_owned(),
                    trade_id: d.trade_id.clone(),
                    cum_qty: d.cum_qty,
                    side: o.side,
                    price: d.price,
                    qty: p.qty,
                    quote_qty: p.quote,
                    fee: d.fee,
                    fee_asset: d.fee_asset.clone(),
                    traded_at_ms: d.at_ms.min(now),
                    recorded_at_ms: now,
                };
                (fill, fee_usdt)
            })
            .collect();
        let fees_usdt: Decimal = fills.iter().map(|(_, f)| *f).sum();
        let mut progress = None;
        if let Some(l) = &mut self.live
            && o.cycle_id == Some(l.cycle_id)
        {
            let p = &mut l.progress;
            match o.side {
                Side::Buy => {
                    p.bought_qty += qty;
                    p.volume_usdt += quote;
                }
                Side::Sell => p.sold_qty += qty,
            }
            p.fees_usdt += fees_usdt;
            progress = Some((l.cycle_id, p.clone()));
        }
        let row = o.row;
        let fresh = self
            .ctx
            .store
            .run(move |c| {
                let mut fresh = Vec::new();
                for (fill, fee_usdt) in fills {
                    if store::fills::record(c, &fill)? {
                        fresh.push((fill.quote_qty, fee_usdt));
                    }
                }
                store::orders::update_status(c, row, status, cum_qty, cum_quote, now)?;
                if let Some((cycle_id, p)) = progress {
                    store::cycles::record_progress(c, cycle_id, &p, now)?;
                }
                Ok(fresh)
            })
            .await?;
        self.filled
            .insert(order_id.to_owned(), (cum_qty, cum_quote));
        for (quote, fee_usdt) in fresh {
            match o.side {
                Side::Buy => self.today.buy_quote += quote,
                Side::Sell => self.today.sell_quote += quote,
            }
            self.today.quote += quote;
            self.today.fees_usdt += fee_usdt;
            self.today.trades += 1;
        }
        Ok(())
    }

    /// The exchange's trades of an order between two cumulative quantities, in order.
    async fn pieces_from_exchange(
        &self,
        order_id: &str,
        from_qty: Decimal,
        to_qty: Decimal,
    ) -> Option<Vec<Piece>> {
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        let mut trades = self
            .rest
            .user_trades(order_id, &self.token.order_symbol)
            .await
            .ok()?;
        trades.retain(|t| t.order_id == order_id);
        trades.sort_by_key(|t| (t.time, t.id.parse::<u64>().unwrap_or(u64::MAX)));
        let mut cum = Decimal::ZERO;
        let mut out = Vec::new();
        for t in trades {
            cum += t.qty;
            if cum > from_qty && cum <= to_qty {
                out.push(Piece {
                    detail: TradeDetail {
                        cum_qty: cum,
                        trade_id: t.trade_id,
                        price: t.price,
                        fee: t.commission,
                        fee_asset: t.commission_asset,
                        at_ms: t.time,
                    },
                    qty: t.qty,
                    quote: t.quote_qty,
                });
            }
        }
        Some(out)
    }

    async fn close_cycle(&mut self, intent_id: &str, outcome: Outcome) -> Result<(), Failure> {
        let Some(live) = self.live.clone().filter(|l| l.intent_id == intent_id) else {
            return Ok(());
        };
        let now = self.now();
        let name = outcome_name(&outcome);
        let mut p = live.progress.clone();
        p.state = "closed".into();
        let cycle_id = live.cycle_id;
        let not_placed = outcome == Outcome::NotPlaced;
        self.ctx
            .store
            .run(move |c| {
                if not_placed {
                    for o in store::orders::for_cycle(c, cycle_id)? {
                        if !o.status.is_terminal() {
                            store::orders::update_status(
                                c,
                                o.id,
                                OrderStatus::Rejected,
                                o.filled_qty,
                                o.filled_quote,
                                now,
                            )?;
                        }
                    }
                }
                match store::cycles::close(c, cycle_id, name, &p, now) {
                    Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await?;
        self.live = None;
        self.last_cycle_id = Some(cycle_id);
        if outcome == Outcome::Filled {
            self.cycles_today += 1;
        }
        info!(self.log, "pair closed"; fields::EVENT_ACTION => "cycle-close", "cycle.outcome" => name,
            "cycle.id" => cycle_id, "trading.volume_today" => self.cycle.volume_today.to_string());
        // Orders of ended pairs are forgotten once final; late reports find them in the store.
        let orders = std::mem::take(&mut self.orders);
        self.orders = orders
            .into_iter()
            .filter(|(x, o)| o.cycle_id != Some(cycle_id) || self.statuses.contains_key(x))
            .collect();
        let keep: HashSet<&String> = self.orders.keys().collect();
        self.filled.retain(|x, _| keep.contains(x));
        Ok(())
    }

    /// Asks the exchange about the live pair (or leftover sale) and feeds what changed.
    async fn sync_live(&mut self) -> Result<(), Failure> {
        self.next_sync = Instant::now() + self.ctx.timing.sync_every;
        let ids: Vec<String> = match &self.cycle.state {
            State::Working { pair } | State::Pending { pair } | State::Cancelling { pair, .. } => {
                vec![pair.working_id.clone(), pair.pending_id.clone()]
            }
            State::Liquidating {
                sell: Some((_, Some(id))),
                ..
            } => vec![id.clone()],
            _ => return Ok(()),
        };
        let now = self.now();
        let since = self
            .live
            .as_ref()
            .map(|_| now - 6 * 3_600_000)
            .unwrap_or(now - 3_600_000);
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        let seen = match sync::snapshot(&self.rest, since, now).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(r) = session_pause(&e) {
                    self.event(Event::Pause(r)).await?;
                }
                return Ok(());
            }
        };
        for id in ids {
            if let Some(s) = seen.get(&id) {
                self.statuses.insert(id.clone(), s.status);
                self.event(Event::Report(s.update())).await?;
                self.store_status(&id).await?;
            }
        }
        Ok(())
    }

    /// Brings the account back to the exchange's truth: on the first stream connection (a
    /// start or restart) and after every reconnect. Nothing new is placed before it is done.
    async fn reconcile_all(&mut self) -> Result<(), Failure> {
        let id = self.account.id;
        let now = self.now();
        let (open_rows, live_cycle, live_rows) = self
            .ctx
            .store
            .run(move |c| {
                let live = store::cycles::live(c, id)?;
                let rows = match &live {
                    Some(l) => store::orders::for_cycle(c, l.id)?,
                    None => Vec::new(),
                };
                Ok((store::orders::open_for_account(c, id)?, live, rows))
            })
            .await?;
        let since = open_rows
            .iter()
            .map(|o| o.created_at_ms)
            .chain(live_cycle.iter().map(|c| c.created_at_ms))
            .min()
            .unwrap_or(now)
            .min(now - 3_600_000)
            - 60_000;
        self.ctx.governor.acquire(id, Purpose::Query).await;
        let seen = match sync::snapshot(&self.rest, since, now).await {
            Ok(s) => s,
            Err(e) => {
                warn!(self.log, "reconciliation failed; trying again"; fields::EVENT_ACTION => "reconcile",
                    fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
                if let Some(r) = session_pause(&e) {
                    self.event(Event::Pause(r)).await?;
                }
                return Ok(());
            }
        };
        if self.first_reconcile
            && let Some(c) = &live_cycle
        {
            {
                // Every leg, final or not: a leg that filled before the crash counts as
                // counted, or its fill would be counted again.
                let rows = live_rows.iter();
                let mut seen_fills = Vec::new();
                for o in rows {
                    if let Some(x) = &o.exchange_order_id {
                        seen_fills.push((x.clone(), o.filled_qty, o.filled_quote));
                        self.filled
                            .insert(x.clone(), (o.filled_qty, o.filled_quote));
                        self.orders.insert(
                            x.clone(),
                            OrderRef {
                                row: o.id,
                                side: o.side,
                                cycle_id: o.cycle_id,
                                orig_qty: o.quantity,
                            },
                        );
                    }
                }
                self.live = Some(LiveRows {
                    cycle_id: c.id,
                    intent_id: c.intent_id.clone(),
                    progress: CycleProgress {
                        state: c.state.clone(),
                        bought_qty: c.bought_qty,
                        sold_qty: c.sold_qty,
                        volume_usdt: c.volume_usdt,
                        fees_usdt: c.fees_usdt,
                    },
                });
                self.cycle.restore(
                    Intent {
                        id: c.intent_id.clone(),
                        buy_price: c.buy_price,
                        sell_price: c.sell_price,
                        quantity: c.quantity,
                        payment: c.payment_amount,
                        created_ms: c.created_at_ms,
                    },
                    seen_fills,
                );
                info!(self.log, "a pair may be live: reconciling it"; fields::EVENT_ACTION => "reconcile",
                    "cycle.id" => c.id, "cycle.intent_id" => &c.intent_id);
            }
        }
        // Orders outside the live pair: follow each to its end; cancel what is still open.
        let live_id = live_cycle.as_ref().map(|c| c.id);
        let adopted = self.adopted_ids(None).await?;
        let window = Window {
            before_ms: 5_000,
            after_ms: millis(self.ctx.timing.request_timeout) + 5_000,
        };
        for o in open_rows
            .iter()
            .filter(|o| o.cycle_id.is_none() || o.cycle_id != live_id)
        {
            let found = match &o.exchange_order_id {
                Some(x) => seen.get(x),
                None => {
                    let m = sync::find_single(o, &seen, &adopted, window);
                    match m.as_slice() {
                        [one] => Some(*one),
                        [] if now > o.created_at_ms + window.after_ms => {
                            let row = o.id;
                            self.ctx
                                .store
                                .run(move |c| {
                                    store::orders::update_status(
                                        c,
                                        row,
                                        OrderStatus::Rejected,
                                        Decimal::ZERO,
                                        Decimal::ZERO,
                                        now,
                                    )
                                })
                                .await?;
                            None
                        }
                        _ => None,
                    }
                }
            };
            let Some(s) = found else { continue };
            let x = s.order.order_id.clone();
            if o.exchange_order_id.is_none() {
                let (row, xid) = (o.id, x.clone());
                self.ctx
                    .store
                    .run(move |c| store::orders::set_placed(c, row, &xid, OrderStatus::New, now))
                    .await?;
            }
            self.orders.insert(
                x.clone(),
                OrderRef {
                    row: o.id,
                    side: o.side,
                    cycle_id: o.cycle_id,
                    orig_qty: o.quantity,
                },
            );
            self.filled
                .entry(x.clone())
                .or_insert((o.filled_qty, o.filled_quote));
            let (had_qty, had_quote) = self.filled.get(&x).copied().unwrap_or_default();
            if s.cum_qty > had_qty {
                self.record_fill(
                    &x,
                    s.cum_qty - had_qty,
                    (s.cum_quote - had_quote).max(Decimal::ZERO),
                )
                .await?;
            }
            self.statuses.insert(x.clone(), s.status);
            self.store_status(&x).await?;
            if !s.status.is_final() {
                info!(self.log, "cancelling an order left from before"; fields::EVENT_ACTION => "reconcile",
                    "order.id" => &x);
                self.cancel(x).await;
            }
        }
        self.reconciled = true;
        if let State::Unknown { .. } = self.cycle.state {
            self.apply(vec![Effect::Reconcile]).await?;
        } else {
            self.sync_live().await?;
        }
        if self.first_reconcile {
            self.first_reconcile = false;
            let id = self.account.id;
            let acc = self
                .ctx
                .store
                .run(move |c| store::accounts::get(c, id))
                .await?;
            match acc.state {
                AccountState::Stopped => {}
                AccountState::Paused if acc.pause_reason.as_deref() == Some("operator") => {
                    self.event(Event::Pause(PauseReason::Operator)).await?;
                    self.event(Event::Start).await?;
                }
                _ => self.event(Event::Start).await?,
            }
        } else if self.settings.auto_resume {
            self.event(Event::Resume(PauseReason::StreamLost)).await?;
        }
        info!(self.log, "reconciled"; fields::EVENT_ACTION => "reconcile", fields::EVENT_OUTCOME => "success",
            "cycle.state" => state_name(&self.cycle.state));
        Ok(())
    }

    async fn set_state(&self, state: AccountState, reason: Option<&str>) -> Result<(), Failure> {
        let (id, now, reason) = (self.account.id, self.now(), reason.map(str::to_owned));
        self.ctx
            .store
            .run(move |c| store::accounts::set_state(c, id, state, reason.as_deref(), now))
            .await?;
        Ok(())
    }

    async fn notify(&self, kind: &str, level: EventLevel, reason: Option<&str>, message: &str) {
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
async fn notify_raw(
    ctx: &Ctx,
    account: &Account,
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
            if let Some(url) = webhook {
                ctx.webhooks.post(url.to_owned(), row.id, data);
            }
        }
        Err(e) => warn!(log, "cannot store an event"; "error.message" => e.to_string()),
    }
}
