//! The OTO cycle state machine (R7-R9, R13, R14, B1, B3): one per account, deciding everything
//! about its pairs. The account actor turns messages into [`Event`]s, calls
//! [`Cycle::on`] with the time, and carries out the [`Effect`]s in order.
//!
//! Rules kept here, and checked by property tests over random event sequences:
//! - at most one live pair: a new intent only from `Idle`;
//! - an intent is persisted before its request (`PersistIntent` comes before `PlaceOto`);
//! - `Unknown` is left only through a reconciliation;
//! - each fill is counted once: progress is tracked by cumulative quantities, so duplicated,
//!   late or reordered reports change nothing twice;
//! - pausing blocks new pairs only; a live pair is still followed to its end.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::crossing::Footprint;
use super::guards::{self, hold_loss_reached};
use super::pause::PauseReason;
use super::points::{ExchangeFigure, Target, Volume, pair_usdt};
use super::pricing::{Offset, PricingError, price_pair};
use crate::market::{Grid, floor_to};
use crate::text_enum;

mod leftovers;
mod reports;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleConfig {
    pub order_symbol: String,
    pub order_usdt: Decimal,
    pub target: Target,
    /// The token's points multiplier now (`Event::MulPoint` follows its changes).
    pub mul_point: Decimal,
    /// How the exchange's figure of today's volume reads.
    pub exchange_figure: ExchangeFigure,
    pub buy: Offset,
    pub sell: Offset,
    pub order_timeout_ms: i64,
    pub pending_timeout_ms: i64,
    /// How long each step of the leftover-sale ladder waits for its fill.
    pub ladder_step_ms: i64,
    /// The ladder's price steps below the last price, in percent, ending at the floor.
    pub ladder_pct: Vec<Decimal>,
    /// A live pair whose price falls this far below its buy, in percent, sells its tokens
    /// down the ladder at once instead of waiting for the pending leg's timeout.
    pub max_hold_loss_pct: Decimal,
}

/// What the market looks like when the machine decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Market {
    pub last_price: Decimal,
    pub grid: Grid,
    /// The volatility guard has tripped on this token.
    pub volatile: bool,
}

/// A pair about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    pub buy_price: Decimal,
    pub sell_price: Decimal,
    pub quantity: Decimal,
    pub payment: Decimal,
    pub created_ms: i64,
}

/// A leftover sale about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellIntent {
    pub id: String,
    pub price: Decimal,
    pub quantity: Decimal,
}

/// An order's status, as far as the machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegStatus {
    /// Resting (NEW), or a pending leg not yet live (PENDING).
    Open,
    PartiallyFilled,
    Filled,
    /// Cancelled, expired or rejected: final without a full fill.
    Dead,
}

/// One execution report (or its equivalent from a reconciliation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    pub order_id: String,
    pub status: LegStatus,
    pub orig_qty: Decimal,
    pub cum_qty: Decimal,
    pub cum_quote: Decimal,
}

/// How a failed place request ended: each proves the pair was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InsufficientBalance,
    SessionExpired,
    TwoFactor,
    FaceCheck,
    RateLimited,
    Rejected,
    /// Nothing reached the exchange (connection refused): try again later, no pause.
    NotSent,
}

/// What a reconciliation found for the pair in doubt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The pair exists, with the legs' current state.
    Pair {
        working: OrderUpdate,
        pending: Option<OrderUpdate>,
    },
    NotPlaced,
    Ambiguous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passes; `market` is the latest snapshot, if there is one.
    Tick {
        market: Option<Market>,
    },
    /// The latest market snapshot, taken before the guards' pauses change (a lifted pause
    /// then starts a pair on today's market, not on the one that set the pause); time does not
    /// pass.
    Market(Market),
    Placed {
        intent_id: String,
        working_id: String,
        pending_id: String,
    },
    PlaceRefused {
        intent_id: String,
        refusal: Refusal,
    },
    PlaceUnknown {
        intent_id: String,
    },
    SellPlaced {
        intent_id: String,
        order_id: String,
    },
    SellRefused {
        intent_id: String,
    },
    /// A leftover sale was not sent because it would cross another managed account's live
    /// order: the same ladder step is tried again later.
    SellDeferred {
        intent_id: String,
    },
    Report(OrderUpdate),
    Reconciled(Found),
    Pause(PauseReason),
    Resume(PauseReason),
    Stop,
    Start,
    /// The exchange's count of today's volume, read before the first reconciliation: what the
    /// count holds beyond the fills the reconciliation has recorded since (trades made outside
    /// the daemon) is added; the fills themselves are not counted twice.
    ExchangeVolume {
        volume: Decimal,
    },
    /// The exchange's figure of today's volume read between pairs (`Volume::settle`); ignored
    /// unless the machine is between pairs.
    ExchangeVolumeAtRest {
        volume: Decimal,
    },
    /// The UTC day changed: today's volume starts again from `volume` (real USDT bought).
    NewDay {
        volume: Decimal,
    },
    /// The token's points multiplier changed (its incentive began or ended).
    MulPoint {
        mul_point: Decimal,
    },
    /// No new pair while on (the account is about to move to another token): the live pair,
    /// if any, is followed to its end and the machine then rests in Idle.
    HoldNewPairs {
        on: bool,
    },
    /// Tokens found in the wallet that no pair explains (a sale cut short by a crash): they
    /// are sold down the ladder before any new pair. Taken only with no pair live.
    Leftover {
        quantity: Decimal,
        market: Market,
    },
}

text_enum! {
    /// How a pair ended.
    pub enum Outcome {
        /// Both legs filled.
        Filled = "filled",
        /// Cancelled before anything filled.
        Cancelled = "cancelled",
        /// Ended by a timeout after part of it filled; leftovers were offered for sale.
        TimedOut = "timed_out",
        /// The request was not carried out.
        NotPlaced = "not_placed",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    PersistIntent(Intent),
    PlaceOto(Intent),
    PersistSell(SellIntent),
    PlaceSell(SellIntent),
    Cancel {
        order_id: String,
    },
    /// Ask the exchange (open orders, history, fills) and answer with `Event::Reconciled`.
    Reconcile,
    /// A new piece of a fill: the increase of the order's cumulative quantity and quote.
    RecordFill {
        order_id: String,
        is_buy: bool,
        qty: Decimal,
        quote: Decimal,
    },
    CloseCycle {
        intent_id: String,
        outcome: Outcome,
    },
    Paused(PauseReason),
    Resumed,
    DoneForToday,
    /// Tokens the ladder could not sell down to its floor.
    Unsold {
        quantity: Decimal,
    },
    /// The price fell `max_hold_loss_pct` below the live pair's buy: its sell is cancelled and
    /// its tokens go down the ladder now.
    LossCut {
        buy_price: Decimal,
        last_price: Decimal,
    },
}

/// A live pair and what is known of its legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub intent: Intent,
    pub working_id: String,
    pub pending_id: String,
    pub bought: Decimal,
    pub sold: Decimal,
    pub working_done: bool,
    pub pending_done: bool,
    pub since_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Idle,
    Placing {
        intent: Intent,
    },
    /// The working leg rests (or fills in pieces).
    Working {
        pair: Pair,
    },
    /// The working leg filled; the pending leg is live.
    Pending {
        pair: Pair,
    },
    /// A cancel was sent for the live leg `target` (an order id).
    Cancelling {
        pair: Pair,
        target: String,
    },
    /// Selling leftovers down the ladder: `step` is the ladder step in use.
    Liquidating {
        intent_id: String,
        quantity: Decimal,
        step: usize,
        sell: Option<(SellIntent, Option<String>)>,
        since_ms: i64,
    },
    /// A place request's outcome is unknown: only a reconciliation leaves this state.
    Unknown {
        intent: Intent,
    },
    DoneForToday,
    Stopped,
}

/// When time alone next moves the machine ([`Cycle::due`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleDue {
    /// At the next look: a new pair to place, a transition to finish.
    NextLook,
    /// At this time (ms): a resting leg's timeout, a ladder step's end.
    At(i64),
    /// Only an event moves it: done, stopped, paused, held, or in doubt.
    Never,
}

/// The machine.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub cfg: CycleConfig,
    pub state: State,
    pub pauses: std::collections::BTreeSet<PauseReason>,
    /// Today's buy volume, real and as counted for points.
    pub volume: Volume,
    /// Cumulative (qty, quote) seen per order: the basis of "each fill once".
    seen: BTreeMap<String, (Decimal, Decimal)>,
    /// Reports for orders not yet known (they can beat the place answer).
    early: Vec<OrderUpdate>,
    next_seq: u64,
    account: String,
    last_market: Option<Market>,
    /// Stop once the live pair (if any) has ended.
    stopping: bool,
    /// No new pair (`Event::HoldNewPairs`).
    holding: bool,
    /// Orders of ended pairs and sales, whether each is a buy: late reports still count
    /// their fills but change no state.
    ended: std::collections::HashMap<String, bool>,
    /// `ended` oldest first: the oldest is forgotten, with what was seen of it, once
    /// [`ENDED_KEPT`] are remembered, so a long-running account's memory stays bounded.
    ended_order: std::collections::VecDeque<String>,
}

/// How many ended orders are remembered for late reports.
pub const ENDED_KEPT: usize = 1024;
/// How many reports of not-yet-known orders are kept (the newest win).
const EARLY_KEPT: usize = 256;

impl Cycle {
    pub fn new(account: &str, cfg: CycleConfig, volume_today: Decimal) -> Self {
        Self {
            volume: Volume::from_real(volume_today, cfg.mul_point),
            cfg,
            state: State::Stopped,
            pauses: Default::default(),
            seen: BTreeMap::new(),
            early: Vec::new(),
            next_seq: 1,
            account: account.to_owned(),
            last_market: None,
            stopping: false,
            holding: false,
            ended: Default::default(),
            ended_order: Default::default(),
        }
    }

    /// Restarts the machine on a pair the store says may be live: it is in doubt until a
    /// reconciliation settles it. `seen` holds what was already counted of its orders
    /// (cumulative quantity and quote per order id), so nothing is counted twice.
    pub fn restore(&mut self, intent: Intent, seen: Vec<(String, Decimal, Decimal)>) {
        for (id, qty, quote) in seen {
            self.seen.insert(id, (qty, quote));
        }
        self.state = State::Unknown { intent };
    }

    /// Cumulative quantity and quote counted so far for an order.
    pub fn counted(&self, order_id: &str) -> (Decimal, Decimal) {
        self.seen.get(order_id).copied().unwrap_or_default()
    }

    /// How many orders the machine remembers what it counted of: bounded however long the
    /// account trades.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// Whether the machine follows this order itself (the leftover sale it has out): its fills
    /// come to it as reports, and counted anywhere else they would count twice.
    pub fn follows(&self, order_id: &str) -> bool {
        matches!(&self.state, State::Liquidating { sell: Some((_, Some(id))), .. } if id == order_id)
    }

    /// Whether new pairs are held back (`Event::HoldNewPairs`).
    pub fn holding(&self) -> bool {
        self.holding
    }

    /// Whether a pair may be live on the exchange (placed, placing, or in doubt).
    pub fn pair_may_be_live(&self) -> bool {
        matches!(
            self.state,
            State::Placing { .. }
                | State::Working { .. }
                | State::Pending { .. }
                | State::Cancelling { .. }
                | State::Unknown { .. }
        )
    }

    fn intent_id(&mut self, now: i64, kind: &str) -> String {
        let id = format!("{}-{now}-{kind}{}", self.account, self.next_seq);
        self.next_seq += 1;
        id
    }

    /// Applies one event at time `now` (ms) and returns what must be done, in order.
    pub fn on(&mut self, event: Event, now: i64) -> Vec<Effect> {
        let mut out = Vec::new();
        match event {
            Event::Tick { market } => {
                if market.is_some() {
                    self.last_market = market;
                }
                self.tick(now, &mut out);
            }
            Event::Market(market) => self.last_market = Some(market),
            Event::Start => {
                self.stopping = false;
                if self.state == State::Stopped {
                    self.state = State::Idle;
                }
                self.tick(now, &mut out);
            }
            Event::Stop => {
                // A live pair is still followed to its end; a quiet machine stops at once.
                self.stopping = true;
                self.tick(now, &mut out);
            }
            Event::Pause(reason) => {
                if self.pauses.insert(reason) {
                    out.push(Effect::Paused(reason));
                }
            }
            Event::Resume(reason) => {
                if self.pauses.remove(&reason) && self.pauses.is_empty() {
                    out.push(Effect::Resumed);
                }
                self.tick(now, &mut out);
            }
            Event::ExchangeVolume { volume } => {
                self.volume
                    .take_over(volume, self.cfg.exchange_figure, self.cfg.mul_point);
                self.tick(now, &mut out);
            }
            Event::HoldNewPairs { on } => {
                self.holding = on;
                self.tick(now, &mut out);
            }
            Event::Leftover { quantity, market } => {
                if matches!(
                    self.state,
                    State::Idle | State::Stopped | State::DoneForToday
                ) {
                    self.last_market = Some(market);
                    self.state = State::Liquidating {
                        intent_id: self.intent_id(now, "r"),
                        quantity,
                        step: 0,
                        sell: None,
                        since_ms: now,
                    };
                    self.sell_step(now, &mut out);
                }
            }
            Event::ExchangeVolumeAtRest { volume } => {
                if matches!(self.state, State::Idle | State::DoneForToday) {
                    self.volume
                        .settle(volume, self.cfg.exchange_figure, self.cfg.mul_point);
                    if self.state == State::DoneForToday && !self.volume.reached(self.cfg.target) {
                        // Done too early: the exchange counts less than was believed.
                        self.state = State::Idle;
                        out.push(Effect::Resumed);
                    }
                }
                self.tick(now, &mut out);
            }
            Event::MulPoint { mul_point } => {
                self.cfg.mul_point = mul_point;
                self.tick(now, &mut out);
            }
            Event::NewDay { volume } => {
                self.volume = Volume::from_real(volume, self.cfg.mul_point);
                if self.state == State::DoneForToday {
                    self.state = State::Idle;
                }
                self.tick(now, &mut out);
            }
            Event::Placed {
                intent_id,
                working_id,
                pending_id,
            } => self.placed(intent_id, working_id, pending_id, now, &mut out),
            Event::PlaceRefused { intent_id, refusal } => {
                if let State::Placing { intent } = &self.state
                    && intent.id == intent_id
                {
                    let id = intent.id.clone();
                    self.state = State::Idle;
                    out.push(Effect::CloseCycle {
                        intent_id: id,
                        outcome: Outcome::NotPlaced,
                    });
                    let reason = match refusal {
                        Refusal::InsufficientBalance => PauseReason::InsufficientBalance,
                        Refusal::SessionExpired => PauseReason::SessionExpired,
                        Refusal::TwoFactor => PauseReason::TwoFactor,
                        Refusal::FaceCheck => PauseReason::FaceCheck,
                        Refusal::RateLimited => PauseReason::RateLimited,
                        Refusal::Rejected => PauseReason::OrderRejected,
                        Refusal::NotSent => return out,
                    };
                    if self.pauses.insert(reason) {
                        out.push(Effect::Paused(reason));
                    }
                }
            }
            Event::PlaceUnknown { intent_id } => {
                if let State::Placing { intent } = &self.state
                    && intent.id == intent_id
                {
                    self.state = State::Unknown {
                        intent: intent.clone(),
                    };
                    out.push(Effect::Reconcile);
                }
            }
            Event::Reconciled(found) => self.reconciled(found, now, &mut out),
            Event::Report(update) => self.report(update, now, &mut out),
            Event::SellPlaced {
                intent_id,
                order_id,
            } => {
                if let State::Liquidating {
                    sell: Some((s, id)),
                    since_ms,
                    ..
                } = &mut self.state
                    && s.id == intent_id
                    && id.is_none()
                {
                    *id = Some(order_id);
                    *since_ms = now;
                }
                self.replay_early(now, &mut out);
            }
            Event::SellRefused { intent_id } => {
                // Not placed: the slot is free again and the next tick tries the ladder's next
                // step (the same request again at once would meet the same refusal). Left
                // holding the refused sale, the machine waited for an order that never existed.
                if let State::Liquidating {
                    sell: slot @ Some((_, None)),
                    step,
                    since_ms,
                    ..
                } = &mut self.state
                    && slot.as_ref().is_some_and(|(s, _)| s.id == intent_id)
                {
                    *slot = None;
                    *step += 1;
                    *since_ms = now;
                }
            }
            Event::SellDeferred { intent_id } => {
                if let State::Liquidating {
                    sell: slot @ Some((_, None)),
                    ..
                } = &mut self.state
                    && slot.as_ref().is_some_and(|(s, _)| s.id == intent_id)
                {
                    // Not sent: the same step is tried again on a later tick.
                    *slot = None;
                }
            }
        }
        out
    }

    /// What the account may have resting on the exchange now, for the cross-account guard (a
    /// deferred sale is not out: its claim waits as a wish, with its turn).
    pub fn footprint(&self) -> Option<Footprint> {
        footprint_of(&self.state)
    }

    /// When time alone next changes something for the machine.
    pub fn due(&self) -> CycleDue {
        match &self.state {
            State::Working { pair } => {
                CycleDue::At(pair.since_ms.saturating_add(self.cfg.order_timeout_ms))
            }
            State::Pending { pair } => {
                CycleDue::At(pair.since_ms.saturating_add(self.cfg.pending_timeout_ms))
            }
            State::Liquidating {
                sell: Some((_, Some(_))),
                since_ms,
                ..
            } => CycleDue::At(since_ms.saturating_add(self.cfg.ladder_step_ms)),
            State::Liquidating { .. } | State::Placing { .. } | State::Cancelling { .. } => {
                CycleDue::NextLook
            }
            // Only a reconciliation leaves it; the core times that.
            State::Unknown { .. } => CycleDue::Never,
            State::Idle if self.stopping => CycleDue::NextLook,
            // A new pair waits for the next look unless a pause or a hold keeps it back
            // (which the core times: what lifts them is not the cycle's).
            State::Idle if self.pauses.is_empty() && !self.holding => CycleDue::NextLook,
            State::Idle | State::DoneForToday | State::Stopped => CycleDue::Never,
        }
    }

    /// The price at or below which the live pair's tokens are sold now (the loss cut), while
    /// its sell rests: the shell looks at once when the price reaches it.
    pub fn loss_cut_price(&self) -> Option<Decimal> {
        match &self.state {
            State::Pending { pair } => {
                guards::loss_cut_price(pair.intent.buy_price, self.cfg.max_hold_loss_pct)
            }
            _ => None,
        }
    }

    /// Timeouts, and a new pair when everything allows it.
    fn tick(&mut self, now: i64, out: &mut Vec<Effect>) {
        match &mut self.state {
            State::Working { pair } if now - pair.since_ms >= self.cfg.order_timeout_ms => {
                let target = pair.working_id.clone();
                out.push(Effect::Cancel {
                    order_id: target.clone(),
                });
                let pair = pair.clone();
                self.state = State::Cancelling { pair, target };
            }
            State::Pending { pair }
                if now - pair.since_ms >= self.cfg.pending_timeout_ms
                    || self.last_market.is_some_and(|m| {
                        hold_loss_reached(
                            pair.intent.buy_price,
                            m.last_price,
                            self.cfg.max_hold_loss_pct,
                        )
                    }) =>
            {
                if now - pair.since_ms < self.cfg.pending_timeout_ms
                    && let Some(m) = self.last_market
                {
                    out.push(Effect::LossCut {
                        buy_price: pair.intent.buy_price,
                        last_price: m.last_price,
                    });
                }
                let target = pair.pending_id.clone();
                out.push(Effect::Cancel {
                    order_id: target.clone(),
                });
                let pair = pair.clone();
                self.state = State::Cancelling { pair, target };
            }
            State::Liquidating {
                sell: Some((_, Some(order_id))),
                since_ms,
                ..
            } if now - *since_ms >= self.cfg.ladder_step_ms => {
                out.push(Effect::Cancel {
                    order_id: order_id.clone(),
                });
                *since_ms = now;
            }
            State::Idle | State::DoneForToday if self.stopping => self.state = State::Stopped,
            State::Idle => self.maybe_place(now, out),
            State::Liquidating { sell: None, .. } => self.sell_step(now, out),
            _ => {}
        }
    }

    fn maybe_place(&mut self, now: i64, out: &mut Vec<Effect>) {
        if !self.pauses.is_empty() || self.stopping || self.holding {
            return;
        }
        if self.volume.reached(self.cfg.target) {
            self.state = State::DoneForToday;
            out.push(Effect::DoneForToday);
            return;
        }
        let Some(market) = self.last_market else {
            return;
        };
        if market.volatile {
            self.pauses.insert(PauseReason::Volatility);
            out.push(Effect::Paused(PauseReason::Volatility));
            return;
        }
        // The day's last pair buys only what reaches the target.
        let remaining = self
            .volume
            .remaining_real(self.cfg.target, self.cfg.mul_point);
        let size = match self.cfg.buy.apply(market.last_price) {
            Some(p) => pair_usdt(
                self.cfg.order_usdt,
                remaining,
                floor_to(p, market.grid.tick_size),
                &market.grid,
            ),
            None => self.cfg.order_usdt,
        };
        match price_pair(
            market.last_price,
            size,
            self.cfg.buy,
            self.cfg.sell,
            &market.grid,
        ) {
            Ok(p) => {
                let intent = Intent {
                    id: self.intent_id(now, "p"),
                    buy_price: p.buy_price,
                    sell_price: p.sell_price,
                    quantity: p.quantity,
                    payment: p.payment,
                    created_ms: now,
                };
                out.push(Effect::PersistIntent(intent.clone()));
                out.push(Effect::PlaceOto(intent.clone()));
                self.state = State::Placing { intent };
            }
            Err(
                PricingError::Overflow
                | PricingError::NonPositive { .. }
                | PricingError::OutOfRange { .. },
            )
            | Err(
                PricingError::BelowMinQty { .. }
                | PricingError::AboveMaxQty { .. }
                | PricingError::BelowMinNotional { .. },
            ) => {
                self.pauses.insert(PauseReason::Precision);
                out.push(Effect::Paused(PauseReason::Precision));
            }
        }
    }

    fn placed(
        &mut self,
        intent_id: String,
        working_id: String,
        pending_id: String,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        // Only an answer to the request in flight counts; once in doubt, only a reconciliation
        // settles it.
        let intent = match &self.state {
            State::Placing { intent } if intent.id == intent_id => intent.clone(),
            _ => return,
        };
        self.state = State::Working {
            pair: Pair {
                intent,
                working_id,
                pending_id,
                bought: Decimal::ZERO,
                sold: Decimal::ZERO,
                working_done: false,
                pending_done: false,
                since_ms: now,
            },
        };
        self.replay_early(now, out);
    }

    fn replay_early(&mut self, now: i64, out: &mut Vec<Effect>) {
        for u in std::mem::take(&mut self.early) {
            self.report(u, now, out);
        }
    }

    fn reconciled(&mut self, found: Found, now: i64, out: &mut Vec<Effect>) {
        let State::Unknown { intent } = &self.state else {
            return;
        };
        let intent = intent.clone();
        match found {
            Found::Pair { working, pending } => {
                let pending_id = pending
                    .as_ref()
                    .map(|p| p.order_id.clone())
                    .unwrap_or_default();
                // What was counted before a restart is part of the pair already.
                let bought = self.counted(&working.order_id).0;
                let sold = self.counted(&pending_id).0;
                self.state = State::Working {
                    pair: Pair {
                        intent,
                        working_id: working.order_id.clone(),
                        pending_id,
                        bought,
                        sold,
                        working_done: false,
                        pending_done: false,
                        since_ms: now,
                    },
                };
                // Reports that came while in doubt carry the fills piece by piece: they go
                // first; the snapshot then adds only what they did not cover.
                self.replay_early(now, out);
                self.report(working, now, out);
                if let Some(p) = pending {
                    self.report(p, now, out);
                }
            }
            Found::NotPlaced => {
                self.state = State::Idle;
                out.push(Effect::CloseCycle {
                    intent_id: intent.id,
                    outcome: Outcome::NotPlaced,
                });
                self.early.clear();
                self.tick(now, out);
            }
            Found::Ambiguous => {
                // Stay in doubt: nothing new may be placed until a person decides.
                if self.pauses.insert(PauseReason::Ambiguous) {
                    out.push(Effect::Paused(PauseReason::Ambiguous));
                }
            }
        }
    }
}

/// What an account's cycle state may have resting on the exchange: a pair from its intent
/// until it ends (placing and in doubt included), a leftover sale while one is out.
fn footprint_of(state: &State) -> Option<Footprint> {
    match state {
        State::Placing { intent } | State::Unknown { intent } => {
            Some(Footprint::pair(intent.buy_price, intent.sell_price))
        }
        State::Working { pair } | State::Pending { pair } | State::Cancelling { pair, .. } => Some(
            Footprint::pair(pair.intent.buy_price, pair.intent.sell_price),
        ),
        State::Liquidating {
            sell: Some((s, _)), ..
        } => Some(Footprint::sale(s.price)),
        State::Liquidating { sell: None, .. }
        | State::Idle
        | State::DoneForToday
        | State::Stopped => None,
    }
}
