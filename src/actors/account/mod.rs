//! One account's actor: a thin shell around its [`AccountCore`] (`domain::account`), which
//! holds every decision about the account. It turns messages (commands, stream reports, ticks,
//! answers) into inputs, calls `core.on(input, now)`, and carries out the steps in order: the
//! store first, then the exchange. Anything it cannot carry out ends the task with a
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

use crate::domain::account::{AccountCore, CoreConfig, Input, Step};
use crate::domain::budget::Purpose;
use crate::domain::cycle::{
    Cycle, CycleConfig, Effect, Event, Intent, Outcome, Refusal, SellIntent, State,
};
use crate::domain::fill_pieces::{self, Piece, TradeDetail};
use crate::domain::pause::PauseReason;
use crate::domain::reconcile::{IntentView, Window};
use crate::domain::settings::AccountSettings;
use crate::domain::shown::{AccountState, Phase};
use crate::domain::{plan, points};
use crate::exchange::error::ExchangeError;
use crate::exchange::rest::RestClient;
use crate::exchange::wire::stream::ExecutionReport;
use crate::exchange::wire::trading::{
    OtoPlaceRequest, PaymentDetail, PlaceOrderRequest, WalletType,
};
use crate::market::{OrderStatus, Side};
use crate::meters;
use crate::store::fills::StoredVolume;
use crate::store::lease::Lease;
use crate::store::models::{
    AccountRow, CycleProgress, CycleState, Desired, EventLevel, NewCycle, NewEvent, NewFill,
    NewOrder, OrderRole, StoredStatus, WebhookStatus,
};
use crate::store::{self, StoreError};
use crate::telemetry::fields;

mod commands;
mod fills;
mod notify;
mod orders;
mod reconcile;
mod start;
mod tick;
mod write_behind;

pub use start::run;

use notify::notify_raw;

use super::Ctx;
use super::exchange_view::{self, Verdict};
use super::price_feed::{AlarmBand, PriceCell};
use super::tokens::{self, TradedToken};
use super::user_stream::StreamNews;
use crate::domain::account::day_start_ms;

/// What the operator asks of an account.
#[derive(Debug)]
pub enum Command {
    Start,
    Pause,
    Resume,
    /// Finish the live pair, then start no other.
    Stop,
    /// Block new orders, cancel everything, check that nothing is left open (B8); the report
    /// goes to the sender, where someone waits for it.
    Kill(Option<oneshot::Sender<KillReport>>),
    /// The credentials changed: start again from the store now.
    Reload,
    /// The settings changed: start again from the store between pairs.
    SettingsChanged,
    /// The account's share moved to another instance (`on`), or back to this one: it is
    /// released between pairs (`domain::shares`).
    HandOver {
        on: bool,
    },
}

/// How far a kill got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillOutcome {
    /// The exchange was asked after the cancels: `open_left` is its count.
    Verified,
    /// The exchange could not be asked: `open_left` is what the store believes open, and the
    /// account keeps trying until it can verify.
    Unverified,
    /// Recorded, not yet carried out: another instance holds the account (`owner`), or none
    /// does and the next to claim it cancels before anything else.
    Pending,
}

/// What a kill found. Only `outcome: verified` with `open_left: 0` means nothing is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KillReport {
    pub account: String,
    pub outcome: KillOutcome,
    /// Orders open after the cancels: the exchange's count when verified, the store's belief
    /// otherwise.
    pub open_left: usize,
    /// Their exchange ids (or intent ids, for orders whose placing is in doubt).
    pub open_orders: Vec<String>,
    /// The instance that holds the account, for a pending kill.
    pub owner: Option<String>,
    pub error: Option<String>,
}

impl KillReport {
    /// A kill recorded for the holder of the account to carry out.
    pub fn pending(account: &str, owner: Option<String>, why: &str) -> Self {
        Self {
            account: account.to_owned(),
            outcome: KillOutcome::Pending,
            open_left: 0,
            open_orders: Vec::new(),
            owner,
            error: Some(why.to_owned()),
        }
    }

    /// Verified on the exchange, with nothing left open.
    pub fn clean(&self) -> bool {
        self.outcome == KillOutcome::Verified && self.open_left == 0
    }
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
    #[cfg(feature = "test-seams")]
    InjectPanic,
    /// The daemon stops: end the task, leaving the live pair on the exchange.
    Shutdown,
}

impl From<StreamNews> for AccountMsg {
    fn from(news: StreamNews) -> Self {
        match news {
            StreamNews::Up => AccountMsg::StreamUp,
            StreamNews::Down(reason) => AccountMsg::StreamDown(reason),
            StreamNews::Report(r) => AccountMsg::Report(r),
            StreamNews::SessionProblem(e) => AccountMsg::SessionProblem(e),
        }
    }
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
    /// The account belongs to another instance now: released at rest, the next task stands
    /// by until it is this instance's again.
    #[error("handed over to another instance")]
    HandedOver,
}

/// The account as the API and the supervisor see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountStatus {
    pub account_id: i64,
    pub name: String,
    pub state: AccountState,
    /// What the account is doing within its state.
    pub phase: Phase,
    /// The first of the pause reasons, as a stable code.
    pub pause_reason: Option<String>,
    pub pauses: Vec<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub volume_today: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub target: Decimal,
    pub cycles_today: u64,
    /// The token traded (the one chosen, with `token = "auto"`), once resolved.
    pub token: Option<String>,
    /// Alpha Points today, counted and real volume, and what a point cost.
    pub points: points::PointsView,
    /// Today's realised cost (fees and spread loss) in basis points of the volume; absent
    /// before the first fill of the day.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub cost_bps: Option<Decimal>,
    /// The open pair's tokens bought and not yet sold, at the buy price (USDT); absent with
    /// no pair open. Not part of `cost_bps` until the pair closes.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub exposure_usdt: Option<Decimal>,
    pub stream_up: bool,
    pub failure: Option<String>,
    /// The pair on the exchange now, if any.
    pub current_pair: Option<PairView>,
    pub updated_at_ms: i64,
}

/// The live pair as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairView {
    pub intent_id: String,
    pub working_order_id: Option<String>,
    pub pending_order_id: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub buy_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub sell_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub bought: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub sold: Decimal,
    pub since_ms: i64,
}

fn pair_view(state: &State) -> Option<PairView> {
    let from_intent = |i: &Intent| PairView {
        intent_id: i.id.clone(),
        working_order_id: None,
        pending_order_id: None,
        buy_price: i.buy_price,
        sell_price: i.sell_price,
        quantity: i.quantity,
        bought: Decimal::ZERO,
        sold: Decimal::ZERO,
        since_ms: i.created_ms,
    };
    match state {
        State::Placing { intent } | State::Unknown { intent } => Some(from_intent(intent)),
        State::Working { pair } | State::Pending { pair } | State::Cancelling { pair, .. } => {
            Some(PairView {
                working_order_id: Some(pair.working_id.clone()),
                pending_order_id: Some(pair.pending_id.clone()),
                bought: pair.bought,
                sold: pair.sold,
                since_ms: pair.since_ms,
                ..from_intent(&pair.intent)
            })
        }
        _ => None,
    }
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
    /// The legs' rows as the intent stored them (empty for a pair restored from the store).
    legs: Vec<crate::store::models::OrderRow>,
}

/// A leg placed and not yet heard final: when it was placed (for a history query) and, once
/// its pair has ended without hearing it, when that was.
#[derive(Debug, Clone, Copy)]
struct OpenLeg {
    placed_ms: i64,
    ended: Option<Instant>,
}

#[derive(Debug, Clone)]
struct OrderRef {
    row: i64,
    side: Side,
    cycle_id: Option<i64>,
    orig_qty: Decimal,
}

/// A part of an execution whose pieces the exchange's trade list did not show yet.
#[derive(Debug, Clone)]
struct Deferred {
    order_id: String,
    qty: Decimal,
    quote: Decimal,
    attempts: u32,
}

/// How long an ended pair's leg not yet heard final keeps a stopped account from showing
/// stopped: past it, the exchange is not answering and the next reconciliation settles it.
const SETTLE_SHOWN: Duration = Duration::from_secs(10);
/// How long an ended pair's leg may stay unheard before it is asked for.
const SETTLE_AFTER: Duration = Duration::from_secs(1);
/// How long an ended pair's leg is asked for before it is left to the next reconciliation.
const SETTLE_GIVE_UP: Duration = Duration::from_secs(600);

fn cycle_config(s: &AccountSettings, token: &TradedToken, ctx: &Ctx) -> CycleConfig {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    CycleConfig {
        order_symbol: token.order_symbol.clone(),
        order_usdt: s.order_usdt,
        target: s.target(),
        mul_point: token.mul_point,
        exchange_figure: ctx.exchange.exchange_figure(),
        buy: s.buy_offset,
        sell: s.sell_offset,
        order_timeout_ms: i64::from(s.order_timeout_s) * 1000,
        pending_timeout_ms: i64::from(s.pending_timeout_s) * 1000,
        ladder_step_ms: ms(ctx.timing.ladder_step),
        ladder_pct: crate::domain::pricing::leftover_ladder(s.leftover_floor_pct),
        max_hold_loss_pct: s.max_hold_loss_pct,
    }
}

fn core_config(s: &AccountSettings, token: &TradedToken, ctx: &Ctx) -> CoreConfig {
    CoreConfig {
        symbol: token.symbol.clone(),
        alpha_id: token.alpha_id.clone(),
        grid: token.grid,
        stale_ms: millis(ctx.timing.price_stale),
        volatility_pct: s.volatility_pct,
        order_usdt: s.order_usdt,
        balance_recheck_ms: millis(ctx.timing.balance_recheck),
        cost_budget_bps: s.cost_budget_bps,
        probe_every_ms: millis(ctx.timing.session_probe),
        look_ms: millis(ctx.timing.tick),
        look_max_ms: millis(ctx.timing.look_max),
        token_policy: s
            .is_auto()
            .then(|| (tokens::policy(s), i64::from(s.token_switch_min_s) * 1000)),
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
    super::credentials::session_refusal(e)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

struct Actor {
    ctx: Ctx,
    account: AccountRow,
    settings: AccountSettings,
    rest: Rc<RestClient>,
    token: TradedToken,
    price: Arc<PriceCell>,
    lease: Lease,
    /// The lease as the instance's keeper renews it: whether the account may send.
    held: Arc<crate::actors::leases::HeldLease>,
    /// Every decision about the account (`domain::account`).
    core: AccountCore,
    live: Option<LiveRows>,
    last_cycle_id: Option<i64>,
    /// Leftover sales by intent id: their order rows.
    sells: HashMap<String, i64>,
    /// Our orders by exchange id.
    orders: HashMap<String, OrderRef>,
    /// What the store holds as filled, by exchange id (cumulative qty, quote).
    filled: HashMap<String, (Decimal, Decimal)>,
    /// Parts of executions waiting for the exchange's trade list, in arrival order.
    deferred: Vec<Deferred>,
    /// Trade details of recent reports, by exchange id (one per piece).
    details: HashMap<String, Vec<TradeDetail>>,
    statuses: HashMap<String, OrderStatus>,
    /// Legs not yet final in the store, by exchange id. A pair ends on its working leg's
    /// report; its pending leg's own end comes a moment later, or is asked for (`settle_ended`).
    open_legs: HashMap<String, OpenLeg>,
    /// When the legs of ended pairs are asked for next, and the wait after that.
    settle_next: Option<(Instant, Duration)>,
    /// Writes kept back for the next unit of work (see `later`), and when they are written
    /// at the latest.
    later: Vec<write_behind::Later>,
    flush_due: Option<Instant>,
    /// The balance read for the next pair, taken while the live pair's sale waits.
    balance_read: Option<tick::BalanceRead>,
    /// The free USDT as last read less the pairs committed since (R14 without a request per
    /// pair: `domain::funds`).
    funds: crate::domain::funds::Funds,
    /// What this task last wrote to each open order's row: (status, filled qty, quote).
    written: HashMap<String, (StoredStatus, Decimal, Decimal)>,
    /// Rung by the price feed when the price reaches the `armed` band: the loss cut's level,
    /// or a resting leg's price (`domain::safety_net`).
    bell: Arc<tokio::sync::Notify>,
    /// Rung when an operator's command reaches the mailbox (the supervisor rings it).
    heed: Arc<tokio::sync::Notify>,
    /// The turn (`actors::admission`) the pair being placed holds, from its intent's write to
    /// its request's answer; never kept past one pass of the loop.
    turn: Option<crate::actors::admission::Turn>,
    /// A pair waited for its turn: it is planned again at once, with the price of now.
    replan: bool,
    /// A pair held back by a crossing keeps its turn until then (`orders::keep_turn`).
    turn_kept_until: Option<Instant>,
    armed: AlarmBand,
    stream_up: bool,
    was_up: bool,
    reconciled: bool,
    first_reconcile: bool,
    next_sync: Instant,
    /// The wait before the next `sync_live` of the same pair: doubling from `sync_first` up
    /// to `sync_every` while the pair rests without news.
    sync_wait: Duration,
    /// A report is awaited (a place or cancel answered, a refused cancel): `next_sync` holds
    /// whatever the price says.
    awaiting: bool,
    /// As of when the whole pair is known (its placement, or the exchange's answer to a
    /// question): the daemon clock in ms and as an instant. The net trusts the price only if
    /// its stream has not broken since, and holds the price's alarms against every trade
    /// since. A report is not such news: it tells of one leg, and another's may be lost.
    news_at: (i64, Instant),
    /// Since when a live leg may have traded (the price reached it) without a report, and
    /// whether that leg is the working one. News settles it, and so does the working leg's
    /// end for a fill owed by it; a report of anything else does not (`heard_report`).
    owed_since: Option<(Instant, bool)>,
    /// No question for an owed report before this: the doubling wait after the last such
    /// question about the pair, so a price that stays on a leg without filling it is not
    /// asked about every few seconds.
    asked_until: Instant,
    /// When the shell last looked (`on_tick`).
    last_look: Instant,
    /// Handed over at rest, waiting for the ended pairs' legs to settle before the release.
    release_pending: bool,
    killed: bool,
    /// A kill not yet verified on the exchange: when it is tried next, and the wait after.
    kill_retry: Option<(i64, i64)>,
    /// When the last pair completed (for the reaction-time histogram).
    pair_done_at: Option<Instant>,
    /// A reconciliation learnt statuses: write them once its effects are carried out.
    flush_statuses: bool,
    today: StoredVolume,
    /// Today's cost as shown: taken only while no pair is open.
    shown_cost: crate::domain::cost::ShownCost,
    /// The same settled figure in USDT, for the cost per point.
    shown_cost_usdt: crate::domain::cost::ShownCost,
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
        self.held.may_send()
    }

    async fn main_loop(&mut self, rx: &mut mpsc::Receiver<AccountMsg>) -> Result<(), Failure> {
        let (bell, held) = (self.bell.clone(), self.held.clone());
        let mut next_look = Instant::now() + self.ctx.timing.tick;
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    None => return self.flush().await,
                    Some(AccountMsg::Shutdown) => {
                        self.flush().await?;
                        if self.ctx.on_stop == crate::config::StopMode::Cancel {
                            // The account's own state is kept: it trades again after a start.
                            let c = self.cancel_everything().await;
                            info!(self.log, "stopping: orders cancelled"; fields::EVENT_ACTION => "daemon-stop",
                                "trading.order.open_left" => c.open_left, "trading.kill.verified" => c.verified);
                        }
                        return Ok(());
                    }
                    Some(m) => self.on_msg(m).await?,
                },
                _ = tokio::time::sleep_until(next_look) => self.on_tick().await?,
                // The keeper could not renew the lease: the look stops the task.
                _ = held.lost_bell.notified() => self.on_tick().await?,
                _ = bell.notified() => {
                    // The price reached the band (a leg may have traded, even if the price
                    // is gone again by the look), or the stream broke: the alarm is spent.
                    self.armed = AlarmBand::default();
                    if self.core.cycle().pair_may_be_live() && self.price_vouches() {
                        self.owe(Instant::now());
                    }
                    self.on_tick().await?;
                }
                _ = tokio::time::sleep_until(self.flush_due.unwrap_or_else(Instant::now)),
                    if self.flush_due.is_some() => self.flush().await?,
            }
            if std::mem::take(&mut self.replan) {
                self.on_tick().await?;
            }
            // A turn the pass did not use goes back to the queue, unless a crossing keeps it
            // for the next look.
            if self.turn_kept_until.is_none_or(|t| Instant::now() >= t) {
                self.turn = None;
                self.turn_kept_until = None;
            }
            // Writes wait only while a pair is live: an account at rest (stopped, done, paused)
            // shows that state with its store complete.
            if !self.core.cycle().pair_may_be_live() {
                self.flush().await?;
            }
            self.publish();
            next_look = self.next_look();
        }
    }

    /// When the account looks next: what the core waits for (`AccountCore::wake`), the
    /// shell's own upkeep, and the loss cut's price handed to the price feed as an alarm.
    /// An account with nothing due sleeps: no tick costs it a wake-up.
    fn next_look(&mut self) -> Instant {
        let now_ms = self.now();
        let now = Instant::now();
        let soon = self.last_look + self.ctx.timing.tick;
        let quote_at = self.price.latest().map(|v| v.at_ms);
        let wake = self.core.wake(now_ms, quote_at);
        let (sync_at, quiet) = self.sync_due(now);
        let band = AlarmBand {
            below: wake.price_at_or_below.max(quiet.below),
            above: quiet.above,
        };
        if band != self.armed {
            self.armed = band;
            self.price
                .alarm(self.account.id, band, self.news_at.0, &self.bell);
        }
        let in_ms = |at_ms: i64| {
            now + Duration::from_millis(u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(0))
        };
        let mut at = in_ms(wake.at_ms);
        let mut take = |t: Instant| at = at.min(t);
        if let Some((retry_ms, _)) = self.kill_retry {
            take(in_ms(retry_ms));
        }
        if let Some(t) = self.turn_kept_until {
            take(t);
        }
        if (!self.reconciled && self.stream_up) || !self.deferred.is_empty() || self.release_pending
        {
            take(soon);
        }
        let cycle = self.core.cycle();
        if cycle.pair_may_be_live() || matches!(cycle.state, State::Liquidating { .. }) {
            take(sync_at);
        }
        if let Some((settle, _)) = self.settle_next {
            take(settle);
        }
        // The account shows settled once its ended legs are heard or given time.
        for l in self.open_legs.values() {
            if let Some(ended) = l.ended.filter(|t| t.elapsed() < SETTLE_SHOWN) {
                take(ended + SETTLE_SHOWN);
            }
        }
        at.max(self.last_look + Duration::from_millis(crate::domain::account::LOOK_GAP_MS as u64))
    }

    fn publish(&mut self) {
        // Until the first reconciliation the cycle has not started: an account the store says
        // trades is waiting for its stream (idle) or held by a pause, not stopped.
        let starting =
            self.first_reconcile && !matches!(self.account.desired, Desired::Stop | Desired::Kill);
        // A stopped or finished account shows so once its last pair's legs are final in the
        // store, not between the working leg's end and the pending leg's.
        let settling = self
            .open_legs
            .values()
            .any(|l| l.ended.is_some_and(|t| t.elapsed() < SETTLE_SHOWN))
            // A fill that waits to be written: the store is not yet at rest either.
            || !self.deferred.is_empty();
        let (state, phase) = crate::domain::shown::shown(
            &self.core.cycle().state,
            !self.core.cycle().pauses.is_empty(),
            self.core.cycle().pair_may_be_live(),
            crate::domain::shown::Facts {
                starting,
                settling,
                reconciled: self.reconciled,
            },
        );
        let s = &mut self.status;
        s.state = state;
        s.phase = phase;
        s.pause_reason = self
            .core
            .cycle()
            .pauses
            .iter()
            .next()
            .map(|p| p.code().to_owned());
        s.pauses = self
            .core
            .cycle()
            .pauses
            .iter()
            .map(|p| p.code().to_owned())
            .collect();
        s.volume_today = self.core.cycle().volume.real;
        s.cycles_today = self.cycles_today;
        s.current_pair = pair_view(&self.core.cycle().state);
        let at_rest = !self.core.cycle().pair_may_be_live() && !settling;
        s.cost_bps = self.shown_cost.update(at_rest, self.today.cost_bps());
        let cost_usdt = self
            .shown_cost_usdt
            .update(at_rest, Some(self.today.cost()));
        s.points = points::view(
            self.core.cycle().cfg.target,
            self.core.cycle().volume,
            Some(self.core.cycle().cfg.mul_point),
            cost_usdt,
        );
        s.exposure_usdt = s
            .current_pair
            .as_ref()
            .map(|p| crate::domain::cost::exposure(p.bought, p.sold, p.buy_price));
        s.stream_up = self.stream_up;

        s.updated_at_ms = self.ctx.clock.now_ms();
        publish(&self.board, s.clone());
    }

    async fn on_msg(&mut self, m: AccountMsg) -> Result<(), Failure> {
        match m {
            AccountMsg::Command(c) => {
                // Read now: the ring that announced it has no more to say.
                let _ = futures_util::FutureExt::now_or_never(self.heed.notified());
                self.on_command(c).await
            }
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
                        metrics::counter!(meters::STREAM_LOST, "stream" => "private").increment(1);
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
            #[cfg(feature = "test-seams")]
            AccountMsg::InjectPanic => panic!("injected panic (test hook)"),
            AccountMsg::Shutdown => Ok(()),
        }
    }

    /// Feeds one event to the core and carries out what it says.
    async fn event(&mut self, e: Event) -> Result<(), Failure> {
        self.step(Input::Event(e)).await
    }

    /// Gives the core one input and carries out its steps in order.
    async fn step(&mut self, input: Input) -> Result<(), Failure> {
        let now = self.now();
        let steps = self.core.on(input, now);
        self.carry_out(steps).await
    }

    /// Gives the core an input that only changes what it remembers (a wait, a retry): it
    /// answers no steps.
    fn remember(&mut self, input: Input) {
        let now = self.now();
        let steps = self.core.on(input, now);
        debug_assert!(steps.is_empty(), "{steps:?}");
    }

    async fn apply(&mut self, effects: Vec<Effect>) -> Result<(), Failure> {
        self.carry_out(effects.into_iter().map(Step::Effect).collect())
            .await
    }

    async fn carry_out(&mut self, steps: Vec<Step>) -> Result<(), Failure> {
        let mut queue: VecDeque<Step> = steps.into();
        while let Some(step) = queue.pop_front() {
            if let Some(input) = self.shell_step(step, &mut queue).await? {
                let now = self.now();
                for s in self.core.on(input, now).into_iter().rev() {
                    queue.push_front(s);
                }
            }
        }
        // What the cycle may have resting now is what other accounts keep away from (a
        // leftover sale's held tokens must go whatever it crosses, so it is set, not claimed).
        self.ctx.crossings.set(
            &self.token.order_symbol,
            self.account.id,
            self.core.cycle().footprint(),
        );
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
        queue: &mut VecDeque<Step>,
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
                metrics::counter!(meters::PAUSES, "reason" => reason.code()).increment(1);
                self.set_state(AccountState::Paused, Some(reason.code()))
                    .await?;
                let message = format!("paused: {}", reason.code());
                self.notify("paused", EventLevel::Warn, Some(reason.code()), &message)
                    .await;
                Ok(None)
            }
            Effect::Resumed => {
                if self.status.state != AccountState::Stopped {
                    self.set_state(AccountState::Trading, None).await?;
                }
                self.notify("resumed", EventLevel::Info, None, "trading again")
                    .await;
                Ok(None)
            }
            Effect::DoneForToday => {
                self.set_state(AccountState::DoneForToday, None).await?;
                let v = self.core.cycle().volume;
                let message = match self.core.cycle().cfg.target {
                    points::Target::Points(p) => format!(
                        "daily target reached: {} of {p} points ({} USDT bought, {} counted)",
                        v.points(),
                        v.real,
                        v.counted
                    ),
                    points::Target::Usdt(_) => format!("daily target reached: {} USDT", v.real),
                };
                self.notify("done_for_today", EventLevel::Info, None, &message)
                    .await;
                Ok(None)
            }
            Effect::LossCut {
                buy_price,
                last_price,
            } => {
                let message = format!(
                    "the price {last_price} fell {}% or more below the buy at {buy_price}: the sell is cancelled and the tokens sold down the ladder",
                    self.settings.max_hold_loss_pct
                );
                self.notify("loss_cut", EventLevel::Warn, None, &message)
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
}
