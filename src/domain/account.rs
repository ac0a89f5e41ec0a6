//! One account's decisions in one place. [`AccountCore`] owns the cycle machine and the rules
//! around it: the market guards, the waits errors impose, the balance and session timers, the
//! points multiplier and the re-read of the exchange's figure it calls for, the token policy's
//! moves, the leftovers a crash left, and the day's start. Its one entry point is
//! [`AccountCore::on`]: an [`Input`] and the time in, the [`Step`]s to carry out in order.
//!
//! The account actor is its shell: it reads what the core asks for (a price view, the token
//! list, a wallet, a balance), turns messages and answers into inputs, and carries out steps.
//! The pacing of the shell's own I/O (lease renewal, the write-behind buffer, asking for lost
//! reports, settling ended legs) is the shell's, not a decision about the account.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::cycle::{Cycle, CycleDue, Effect, Event, Intent, Market, Refusal, State};
use super::guards::{self, Holds, Quote, Setback};
use super::pause::PauseReason;
use super::pricing;
use super::token_choice::{self, Choice, Listed, Policy};
use crate::market::Grid;

/// Milliseconds in a UTC day.
const DAY_MS: i64 = 86_400_000;

/// The start of the UTC day `ms` falls in.
pub fn day_start_ms(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

/// How often a token list that did not change is ranked again anyway (the switch interval may
/// have passed): ranking hundreds of tokens on every tick of thousands of accounts would cost a
/// core.
const RANK_AGAIN_MS: i64 = 10_000;
/// A failed cancel is sent again after this.
const CANCEL_RETRY_MS: i64 = 2_000;

/// What the core is configured with: the account's settings and the daemon's timing, as they
/// bear on its decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    pub symbol: String,
    pub alpha_id: String,
    pub grid: Grid,
    /// A price older than this pauses the account (`PriceFeed`).
    pub stale_ms: i64,
    pub volatility_pct: Decimal,
    /// The payment of a pair: the balance guard lifts once the free USDT covers it.
    pub order_usdt: Decimal,
    pub balance_recheck_ms: i64,
    /// Today's realised cost may reach this many bps of the bought volume (B9).
    pub cost_budget_bps: Decimal,
    pub probe_every_ms: i64,
    /// How soon the next look comes when something waits for one (a pair to place, a price
    /// to come back): the shell's tick.
    pub look_ms: i64,
    /// The longest an account goes without a look, whatever it waits for: what the shell
    /// reads without being told (the token list, the multiplier, the volatility of a price
    /// that does not matter yet) is seen within it.
    pub look_max_ms: i64,
    /// `token = "auto"`: the policy, and the least time between two moves.
    pub token_policy: Option<(Policy, i64)>,
}

/// How loud a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Warn,
}

/// Something the operator is told (an event row, a log line, the webhook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: &'static str,
    pub level: NoticeLevel,
    pub reason: Option<&'static str>,
    pub message: String,
}

/// What the shell read without waiting, for the periodic look.
#[derive(Debug, Clone, Default)]
pub struct Look {
    /// The price feed's view of the token.
    pub quote: Option<Quote>,
    /// The token's multiplier as the instance's token list says.
    pub mul_point: Option<Decimal>,
    /// The token list, for an `auto` account.
    pub tokens: Option<TokenLook>,
}

/// The instance's token list as an `auto` account sees it.
#[derive(Debug, Clone, Default)]
pub struct TokenLook {
    /// When the list was read (its version).
    pub version: Option<i64>,
    pub listed: Arc<Vec<Listed>>,
    /// When the policy last put this account on a token.
    pub chosen_at_ms: Option<i64>,
}

/// When the shell looks next ([`AccountCore::wake`]): nothing costs a wake-up before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// The next look (ms).
    pub at_ms: i64,
    /// Look at once when the token's price reaches this or goes below (the live pair's loss
    /// cut): the price feed wakes the account instead of the account polling the price.
    pub price_at_or_below: Option<Decimal>,
}

/// A look is never due sooner than this after the one before: a deadline in the past that a
/// look does not clear costs a look every 10 ms, not a spinning core. Counted from the last
/// look, like every wait here, so a stream of messages never pushes a due look away.
pub const LOOK_GAP_MS: i64 = 10;

/// What goes into the core.
#[derive(Debug, Clone)]
pub enum Input {
    /// An event for the cycle machine.
    Event(Event),
    /// The periodic look, first part: the day, the multiplier, the token policy, the guards,
    /// the balance and session timers, leftovers, a reconciliation that is due.
    Tick(Look),
    /// The periodic look, last part (after the shell followed up its live orders): a cancel
    /// to send again, then time passes for the cycle.
    TickEnd,
    /// Today's bought USDT as the store holds it, asked for with [`Step::NewDay`].
    NewDay { volume: Decimal },
    /// The exchange's figure of today's volume, asked for with [`Step::ReadUserVolume`]
    /// (None: it could not be read).
    UserVolume(Option<Decimal>),
    /// The token's free balance in the wallet, asked for with [`Step::ReadWallet`].
    Wallet(Option<Decimal>),
    /// The free USDT, asked for with [`Step::ReadBalance`].
    Balance(Decimal),
    /// What an exchange error meant beyond its request.
    Setback(Setback),
    /// A cancel could not be sent.
    CancelFailed { order_id: String },
    /// The reconciliation could not decide yet: asked again after `wait_ms`.
    ReconcileLater { wait_ms: i64 },
    /// The task starts on a pair the store says may be live: it is in doubt until a
    /// reconciliation settles it (`Cycle::restore`).
    Restore {
        intent: Intent,
        seen: Vec<(String, Decimal, Decimal)>,
    },
    /// The first reconciliation since the task started is done.
    FirstReconciled,
    /// A started account's wallet is looked at once a price is known, for tokens no pair
    /// explains.
    LookForLeftovers,
    /// The operator resumes the account; `stream_live` says whether its private stream is up
    /// and reconciled.
    OperatorResume { stream_live: bool },
    /// A pair is about to be stored, with today's cost as the store counts it: over the
    /// budget, the core withdraws it ([`Step::Withdraw`]) and pauses the account.
    PairDue { intent_id: String, today: DayCost },
    /// The stored settings changed (the operator's edit, a profile's change): new pairs wait,
    /// and once nothing of a pair is live the task starts again on them ([`Step::Reload`]).
    SettingsChanged,
    /// The account belongs to another instance now (`domain::shares`), or (`on: false`) to
    /// this one again: new pairs wait, and once nothing of a pair is live the account is
    /// released ([`Step::Release`]). A pair is never cut short to move an account.
    HandOver { on: bool },
}

/// Today's realised cost as the store counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCost {
    pub cost_usdt: Decimal,
    pub bought_usdt: Decimal,
    /// A part of a fill waits to be written (the count is short).
    pub writes_waiting: bool,
}

/// What the shell carries out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An effect of the cycle machine.
    Effect(Effect),
    Notify(Notice),
    /// A new UTC day: today's counts start again; the shell reads them from its store and
    /// answers with [`Input::NewDay`].
    NewDay,
    /// Read the exchange's figure of today's volume; answer with [`Input::UserVolume`].
    ReadUserVolume,
    /// Read the token's wallet; answer with [`Input::Wallet`].
    ReadWallet,
    /// Read the free USDT; answer with [`Input::Balance`].
    ReadBalance,
    /// Ask a cheap private endpoint whether the session lives.
    ProbeSession,
    /// Put the account on another token (the task starts again on it).
    MoveToken {
        to_alpha_id: String,
    },
    /// Start the account's task again from the store (new credentials may be there).
    Reload,
    /// Give the account's lease up for its new instance: nothing of a pair is live.
    Release,
    /// Neither store nor send this pair (the steps after it say what the cycle made of it).
    Withdraw {
        intent_id: String,
    },
}

/// One account's decisions (see the module's text).
#[derive(Debug, Clone)]
pub struct AccountCore {
    cycle: Cycle,
    cfg: CoreConfig,
    holds: Holds,
    /// The market as the last look saw it (None: no fresh price).
    market: Option<Market>,
    day: i64,
    /// The exchange's volume today as read at start, taken over the count once the first
    /// reconciliation has recorded what filled meanwhile.
    exchange_volume: Option<Decimal>,
    first_reconciled: bool,
    reconcile_due: Option<i64>,
    cancel_retry: Option<(String, i64)>,
    balance_recheck_at: i64,
    next_probe: i64,
    /// The token policy holds new pairs back until the live one ends, to move the account.
    token_move_held: bool,
    /// The token list's version last ranked, and when to rank it again anyway.
    token_policy_seen: (Option<i64>, i64),
    leftover_check: bool,
    /// The multiplier changed: the exchange's figure is read again between pairs.
    volume_reread: bool,
    /// New settings are stored: the task starts again on them between pairs.
    settings_changed: bool,
    /// When the last look was (`Input::Tick`).
    last_look: i64,
    /// The account goes to another instance at the next moment at rest.
    handing_over: bool,
}

impl AccountCore {
    /// A core around `cycle` (rebuilt from the store), at `now`; `exchange_volume` is the
    /// exchange's count of today read at start, if it could be.
    pub fn new(cycle: Cycle, cfg: CoreConfig, exchange_volume: Option<Decimal>, now: i64) -> Self {
        Self {
            cycle,
            holds: Holds::default(),
            market: None,
            day: day_start_ms(now),
            exchange_volume,
            first_reconciled: false,
            reconcile_due: None,
            cancel_retry: None,
            balance_recheck_at: 0,
            next_probe: now.saturating_add(cfg.probe_every_ms),
            token_move_held: false,
            token_policy_seen: (None, 0),
            leftover_check: false,
            volume_reread: false,
            settings_changed: false,
            last_look: now,
            handing_over: false,
            cfg,
        }
    }

    /// The cycle machine, to read (it changes only through [`AccountCore::on`]).
    pub fn cycle(&self) -> &Cycle {
        &self.cycle
    }

    /// When the next look is due, after the one at `now`: the earliest of what time alone
    /// changes (a leg's timeout, a ladder step, a retry, a reconciliation, the balance and
    /// session timers, the day's end, the price going stale) and, while a pair waits to be
    /// placed or a price pause waits for the price, a tick after the last look; never later
    /// than `look_max_ms` after it. `quote_at_ms` is when the token's last price was seen.
    pub fn wake(&self, now: i64, quote_at_ms: Option<i64>) -> Wake {
        // Counted from the last look, not from now: messages that keep coming (the reports
        // of a busy account) must not keep pushing the next look away.
        let soon = self.last_look.saturating_add(self.cfg.look_ms);
        let mut at = self.last_look.saturating_add(self.cfg.look_max_ms);
        let mut take = |t: i64| at = at.min(t);
        match self.cycle.due() {
            CycleDue::NextLook => take(soon),
            CycleDue::At(t) => take(t),
            CycleDue::Never => {}
        }
        if let Some(t) = self.reconcile_due {
            take(t);
        }
        if let Some((_, t)) = &self.cancel_retry {
            take(*t);
        }
        for p in &self.cycle.pauses {
            match p {
                // Lifted by a fresh, calm price: looked for at each tick.
                PauseReason::PriceFeed | PauseReason::Volatility => take(soon),
                PauseReason::RateLimited => take(self.holds.rate_limited_until_ms),
                PauseReason::InsufficientBalance => take(self.balance_recheck_at),
                _ => {}
            }
        }
        if self.cycle.state == State::Idle && self.holds.quiet(now) {
            take(self.holds.quiet_until_ms);
        }
        // What the look itself starts: a read of leftovers, of today's volume, a reload or a
        // move between pairs.
        let at_rest = self.cycle.state == State::Idle && !self.pair_or_sale_live();
        if (self.leftover_check && !self.pair_or_sale_live())
            || (self.volume_reread && matches!(self.cycle.state, State::Idle | State::DoneForToday))
            || (at_rest && (self.settings_changed || self.token_move_held))
            || (self.handing_over && !self.pair_or_sale_live())
        {
            take(soon);
        }
        take(self.day.saturating_add(DAY_MS));
        take(self.next_probe);
        if self.cfg.token_policy.is_some() {
            take(self.token_policy_seen.1);
        }
        if let Some(q) = quote_at_ms
            && !self.cycle.pauses.contains(&PauseReason::PriceFeed)
        {
            take(q.saturating_add(self.cfg.stale_ms).saturating_add(1));
        }
        Wake {
            at_ms: at.max(self.last_look.saturating_add(LOOK_GAP_MS)),
            price_at_or_below: self.cycle.loss_cut_price(),
        }
    }

    /// The core's one entry point.
    pub fn on(&mut self, input: Input, now: i64) -> Vec<Step> {
        let mut out = Vec::new();
        match input {
            Input::Event(e) => self.feed(e, now, &mut out),
            Input::Tick(look) => self.look(look, now, &mut out),
            Input::TickEnd => self.tick_end(now, &mut out),
            Input::NewDay { volume } => {
                // The cost budget is a day's: a new day lifts its pause.
                self.feed(Event::Resume(PauseReason::CostBudget), now, &mut out);
                self.feed(Event::NewDay { volume }, now, &mut out);
            }
            Input::UserVolume(volume) => {
                if let Some(volume) = volume {
                    self.feed(Event::ExchangeVolumeAtRest { volume }, now, &mut out);
                }
                // Held until read or given up on: a pair placed before would leave the figure
                // unread until the next boundary.
                self.volume_reread = false;
                self.hold_new_pairs(now, &mut out);
            }
            Input::Wallet(free) => self.leftover(free, now, &mut out),
            Input::Balance(free) => {
                if free >= self.cfg.order_usdt {
                    self.feed(
                        Event::Resume(PauseReason::InsufficientBalance),
                        now,
                        &mut out,
                    );
                }
            }
            Input::Setback(s) => self.holds.after(s, now),
            Input::CancelFailed { order_id } => {
                self.cancel_retry = Some((order_id, now.saturating_add(CANCEL_RETRY_MS)));
            }
            Input::ReconcileLater { wait_ms } => {
                self.reconcile_due = Some(now.saturating_add(wait_ms));
            }
            Input::Restore { intent, seen } => self.cycle.restore(intent, seen),
            Input::FirstReconciled => {
                self.first_reconciled = true;
                self.exchange_volume_due(now, &mut out);
            }
            Input::LookForLeftovers => self.leftover_check = true,
            Input::OperatorResume { stream_live } => {
                self.operator_resume(stream_live, now, &mut out)
            }
            Input::SettingsChanged => {
                self.settings_changed = true;
                self.hold_new_pairs(now, &mut out);
                self.reload_at_rest(&mut out);
            }
            Input::HandOver { on } => {
                self.handing_over = on;
                self.hold_new_pairs(now, &mut out);
                self.release_at_rest(&mut out);
            }
            Input::PairDue { intent_id, today } => {
                // B9: judged before each pair, when no tokens of a pair are held.
                if guards::over_cost_budget(
                    today.cost_usdt,
                    today.bought_usdt,
                    self.cfg.cost_budget_bps,
                    today.writes_waiting,
                ) {
                    out.push(Step::Withdraw {
                        intent_id: intent_id.clone(),
                    });
                    self.feed(Event::Pause(PauseReason::CostBudget), now, &mut out);
                    let refusal = Refusal::NotSent;
                    self.feed(Event::PlaceRefused { intent_id, refusal }, now, &mut out);
                }
            }
        }
        out
    }

    /// Feeds one event to the cycle; the exchange's count read at start follows once it can
    /// be taken.
    fn feed(&mut self, e: Event, now: i64, out: &mut Vec<Step>) {
        if let Event::PlaceRefused {
            refusal: Refusal::InsufficientBalance,
            ..
        } = &e
        {
            self.balance_recheck_at = now.saturating_add(self.cfg.balance_recheck_ms);
        }
        out.extend(self.cycle.on(e, now).into_iter().map(Step::Effect));
        self.exchange_volume_due(now, out);
    }

    /// The exchange's count of today's volume, read at start, once it can be taken over the
    /// store's: after the first reconciliation and once no pair is in doubt. A pair in doubt
    /// settled later brings its fills to the count; had the exchange's count (which holds
    /// them already) been taken before, they would count twice.
    fn exchange_volume_due(&mut self, now: i64, out: &mut Vec<Step>) {
        if !self.first_reconciled || matches!(self.cycle.state, State::Unknown { .. }) {
            return;
        }
        if let Some(volume) = self.exchange_volume.take() {
            out.extend(
                self.cycle
                    .on(Event::ExchangeVolume { volume }, now)
                    .into_iter()
                    .map(Step::Effect),
            );
        }
    }

    fn look(&mut self, look: Look, now: i64, out: &mut Vec<Step>) {
        self.last_look = now;
        if self.release_at_rest(out) || self.reload_at_rest(out) {
            return;
        }
        if day_start_ms(now) != self.day {
            self.day = day_start_ms(now);
            out.push(Step::NewDay);
        }
        self.follow_mul_point(look.mul_point, now, out);
        if let Some(tokens) = look.tokens {
            self.follow_token_policy(&tokens, now, out);
        }
        self.guards(look.quote, now, out);
        if self.market.is_some() && self.leftover_check && !self.pair_or_sale_live() {
            self.leftover_check = false;
            out.push(Step::ReadWallet);
        }
        if now >= self.next_probe {
            self.next_probe = now.saturating_add(self.cfg.probe_every_ms);
            out.push(Step::ProbeSession);
        }
        if let State::Unknown { .. } = self.cycle.state
            && self.reconcile_due.is_some_and(|t| t <= now)
        {
            self.reconcile_due = None;
            out.push(Step::Effect(Effect::Reconcile));
        }
    }

    fn tick_end(&mut self, now: i64, out: &mut Vec<Step>) {
        if let Some((order_id, at)) = self.cancel_retry.clone()
            && at <= now
        {
            self.cancel_retry = None;
            if matches!(&self.cycle.state, State::Cancelling { target, .. } if *target == order_id)
            {
                out.push(Step::Effect(Effect::Cancel { order_id }));
            }
        }
        // The exchange failed to answer moments ago: no new pair yet.
        if self.cycle.state == State::Idle && self.holds.quiet(now) {
            return;
        }
        let market = self.market;
        self.feed(Event::Tick { market }, now, out);
    }

    /// The operator's resume lifts every pause whose cause is gone (a price still stale or
    /// wild, a stream still down keep theirs); a session pause starts the task again, as new
    /// credentials may have been stored.
    fn operator_resume(&mut self, stream_live: bool, now: i64, out: &mut Vec<Step>) {
        let session = self.cycle.pauses.iter().any(|p| {
            matches!(
                p,
                PauseReason::SessionExpired | PauseReason::TwoFactor | PauseReason::FaceCheck
            )
        });
        if session {
            out.push(Step::Reload);
            return;
        }
        let reasons: Vec<PauseReason> = self.cycle.pauses.iter().copied().collect();
        for r in reasons {
            let cause_present = match r {
                PauseReason::Volatility | PauseReason::PriceFeed => true,
                PauseReason::StreamLost => !stream_live,
                _ => false,
            };
            if !cause_present {
                self.feed(Event::Resume(r), now, out);
            }
        }
        out.push(Step::Notify(Notice {
            kind: "resumed",
            level: NoticeLevel::Info,
            reason: None,
            message: "resumed by the operator".into(),
        }));
        if self.cycle.state == State::Stopped {
            self.feed(Event::Start, now, out);
        }
    }

    /// A pair from its intent to its end, or a leftover sale.
    /// New settings are taken between pairs: with no pair and no sale live, the task starts
    /// again from the store (which reconciles before it trades). Says whether it asked.
    fn reload_at_rest(&mut self, out: &mut Vec<Step>) -> bool {
        if !self.settings_changed || self.cycle.state != State::Idle || self.pair_or_sale_live() {
            return false;
        }
        self.settings_changed = false;
        out.push(Step::Reload);
        true
    }

    /// An account handed to another instance is released once nothing of a pair or a sale is
    /// live (idle, paused, done or stopped). Says whether it asked.
    fn release_at_rest(&mut self, out: &mut Vec<Step>) -> bool {
        if !self.handing_over || self.pair_or_sale_live() {
            return false;
        }
        self.handing_over = false;
        out.push(Step::Release);
        true
    }

    fn pair_or_sale_live(&self) -> bool {
        self.cycle.pair_may_be_live() || matches!(self.cycle.state, State::Liquidating { .. })
    }

    /// The token's multiplier as the token list says: a change goes to the cycle, with a
    /// notice, and the exchange's figure of today's volume is read again at the next moment
    /// between pairs (new pairs wait for it): buys made before the list showed the change
    /// counted at the old multiplier here and at the new one on the exchange.
    fn follow_mul_point(&mut self, seen: Option<Decimal>, now: i64, out: &mut Vec<Step>) {
        let was = self.cycle.cfg.mul_point;
        if let Some(mul_point) = seen
            && mul_point != was
        {
            self.volume_reread = true;
            self.hold_new_pairs(now, out);
            self.feed(Event::MulPoint { mul_point }, now, out);
            out.push(Step::Notify(Notice {
                kind: "mul_point_changed",
                level: NoticeLevel::Info,
                reason: None,
                message: format!(
                    "{}'s points multiplier changed from x{was} to x{mul_point}",
                    self.cfg.symbol
                ),
            }));
        }
        // Only between pairs: a fill the exchange counted before its report reached the cycle
        // would otherwise count twice.
        if self.volume_reread && matches!(self.cycle.state, State::Idle | State::DoneForToday) {
            out.push(Step::ReadUserVolume);
        }
    }

    /// New pairs wait while the account is about to move to another token or to read the
    /// exchange's figure of today's volume again.
    fn hold_new_pairs(&mut self, now: i64, out: &mut Vec<Step>) {
        let on = self.token_move_held
            || self.volume_reread
            || self.settings_changed
            || self.handing_over;
        if on != self.cycle.holding() {
            self.feed(Event::HoldNewPairs { on }, now, out);
        }
    }

    /// `token = "auto"`: between pairs, the policy may move the account to another token
    /// (`token_choice`), with a notice.
    fn follow_token_policy(&mut self, tokens: &TokenLook, now: i64, out: &mut Vec<Step>) {
        let Some((policy, min_interval)) = self.cfg.token_policy.clone() else {
            return;
        };
        if !self.token_move_held
            && tokens.version == self.token_policy_seen.0
            && now < self.token_policy_seen.1
        {
            return;
        }
        self.token_policy_seen = (tokens.version, now.saturating_add(RANK_AGAIN_MS));
        if tokens.listed.is_empty() {
            return;
        }
        let ranked = token_choice::ranked(&tokens.listed, &policy);
        let choice = token_choice::decide(
            Some(&self.cfg.alpha_id),
            &ranked,
            tokens.chosen_at_ms,
            now,
            min_interval,
        );
        // A move waits for the pair boundary: no new pair meanwhile, the live one ends.
        let moving = matches!(choice, Choice::Move { .. });
        if moving != self.token_move_held {
            self.token_move_held = moving;
            self.hold_new_pairs(now, out);
        }
        let Choice::Move { to, ineligible } = choice else {
            return;
        };
        if self.cycle.state != State::Idle {
            return;
        }
        let why = if ineligible {
            "it is no longer eligible".to_owned()
        } else {
            format!(
                "{} bps per counted USDT against {}",
                to.cost_bps_per_counted,
                ranked
                    .iter()
                    .find(|s| s.alpha_id == self.cfg.alpha_id)
                    .map_or_else(|| "?".to_owned(), |s| s.cost_bps_per_counted.to_string())
            )
        };
        out.push(Step::Notify(Notice {
            kind: "token_switched",
            level: NoticeLevel::Info,
            reason: None,
            message: format!(
                "token policy: from {} to {} (x{}): {why}",
                self.cfg.symbol, to.symbol, to.mul_point
            ),
        }));
        out.push(Step::MoveToken {
            to_alpha_id: to.alpha_id,
        });
    }

    /// The market view, and the pauses that follow from it and from time (the rules are
    /// `guards`).
    fn guards(&mut self, quote: Option<Quote>, now: i64, out: &mut Vec<Step>) {
        let check = guards::market(
            quote.as_ref(),
            now,
            self.cfg.stale_ms,
            self.cfg.volatility_pct,
            |r| self.cycle.pauses.contains(&r),
        );
        self.market = check.tradable_price.map(|last_price| Market {
            last_price,
            grid: self.cfg.grid,
            volatile: check.volatile,
        });
        if let Some(market) = self.market {
            self.feed(Event::Market(market), now, out);
        }
        for (reason, on) in check.changes {
            let event = if on {
                Event::Pause(reason)
            } else {
                Event::Resume(reason)
            };
            self.feed(event, now, out);
            if on && reason == PauseReason::Volatility {
                let range = quote.and_then(|q| q.range_pct).unwrap_or_default();
                out.push(Step::Notify(Notice {
                    kind: "volatility",
                    level: NoticeLevel::Warn,
                    reason: Some("volatility"),
                    message: format!("the price moved {}% within 60 s", range.round_dp(2)),
                }));
            }
        }
        let holds = |c: &Cycle, r| c.pauses.contains(&r);
        if self
            .holds
            .rate_limit_lifts(holds(&self.cycle, PauseReason::RateLimited), now)
        {
            self.feed(Event::Resume(PauseReason::RateLimited), now, out);
        }
        if holds(&self.cycle, PauseReason::InsufficientBalance) && now >= self.balance_recheck_at {
            self.balance_recheck_at = now.saturating_add(self.cfg.balance_recheck_ms);
            out.push(Step::ReadBalance);
        }
    }

    /// Tokens a crash left behind (a sale cut short: the reconciliation cancelled it), found
    /// in the wallet once no pair is live, are sold down the ladder, with a notice.
    fn leftover(&mut self, free: Option<Decimal>, now: i64, out: &mut Vec<Step>) {
        let Some(free) = free else {
            // Looked for again at the next look.
            self.leftover_check = true;
            return;
        };
        let Some(market) = self.market else {
            self.leftover_check = true;
            return;
        };
        if self.pair_or_sale_live() {
            return;
        }
        let Some(quantity) = pricing::leftover_to_sell(free, market.last_price, &market.grid)
        else {
            return;
        };
        out.push(Step::Notify(Notice {
            kind: "leftover_recovered",
            level: NoticeLevel::Warn,
            reason: None,
            message: format!(
                "{quantity} {} held with no pair live (a sale cut short): sold down the ladder",
                self.cfg.symbol
            ),
        }));
        self.feed(Event::Leftover { quantity, market }, now, out);
    }
}
