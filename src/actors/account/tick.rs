//! Each tick: the lease, the UTC day, the guards (price, volatility, rate limit, balance).

use super::*;
use crate::domain::guards;

impl Actor {
    pub(super) async fn on_tick(&mut self) -> Result<(), Failure> {
        self.renew_lease().await?;
        self.retry_kill(self.now()).await?;
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
        if !self.deferred.is_empty() {
            self.retry_deferred().await?;
        }
        self.follow_mul_point(now).await?;
        self.follow_token_policy(now).await?;
        let market = self.guards(now).await?;
        if let Some(m) = market
            && self.leftover_check
        {
            self.recover_leftover(m).await?;
        }
        if now >= self.next_probe {
            self.probe_session(now).await?;
        }
        if let State::Unknown { .. } = self.cycle.state
            && self.reconcile_due.is_some_and(|t| t <= now)
        {
            self.reconcile_due = None;
            self.apply(vec![Effect::Reconcile]).await?;
        }
        // A leftover sale is followed like a live pair: a lost report of it is asked for.
        let followed =
            self.cycle.pair_may_be_live() || matches!(self.cycle.state, State::Liquidating { .. });
        if followed && Instant::now() >= self.next_sync {
            self.sync_live().await?;
        }
        self.settle_ended().await?;
        if let Some((order_id, at)) = self.cancel_retry.clone()
            && at <= now
        {
            self.cancel_retry = None;
            if matches!(&self.cycle.state, State::Cancelling { target, .. } if *target == order_id)
            {
                self.apply(vec![Effect::Cancel { order_id }]).await?;
            }
        }
        if self.cycle.state == State::Idle && self.holds.quiet(now) {
            return Ok(());
        }
        self.event(Event::Tick { market }).await
    }

    pub(super) async fn renew_lease(&mut self) -> Result<(), Failure> {
        if self.renewed.elapsed() < self.ctx.timing.lease_ttl / 3 {
            return Ok(());
        }
        let started = Instant::now();
        let lease = self.lease.clone();
        let ttl = millis(self.ctx.timing.lease_ttl);
        match self.db(move |c| store::lease::renew(c, &lease, ttl)).await {
            Ok(l) => {
                self.lease = l;
                self.renewed = started;
                self.deadline = started + self.ctx.timing.lease_ttl - self.ctx.timing.lease_margin;
                Ok(())
            }
            Err(StoreError::LeaseLost { .. }) => {
                metrics::counter!(meters::LEASE_EVENTS, "event" => "lost").increment(1);
                Err(Failure::LeaseLost)
            }
            Err(e) => {
                // The database is away: keep trying; past the deadline nothing is sent.
                metrics::counter!(meters::LEASE_EVENTS, "event" => "renew_failed").increment(1);
                warn!(self.log, "cannot renew the lease"; fields::EVENT_ACTION => "lease-renew",
                    fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
                if !self.may_send() {
                    return Err(Failure::LeaseLost);
                }
                Ok(())
            }
        }
    }

    pub(super) async fn new_day(&mut self, now: i64) -> Result<(), Failure> {
        self.day = day_start_ms(now);
        let (id, day) = (self.account.id, self.day);
        self.today = self
            .db(move |c| store::fills::volume_between(c, id, day, now + 1))
            .await?;
        self.cycles_today = 0;
        self.shown_cost.reset();
        self.shown_cost_usdt.reset();
        info!(self.log, "a new UTC day"; fields::EVENT_ACTION => "day-rollover");
        self.event(Event::Resume(PauseReason::CostBudget)).await?;
        self.event(Event::NewDay {
            volume: self.today.buy_quote,
        })
        .await
    }

    /// The token's points multiplier as the instance's token list says (read by one account
    /// for all, hourly and at the UTC day's start): a change goes to the cycle, with an event.
    pub(super) async fn follow_mul_point(&mut self, now: i64) -> Result<(), Failure> {
        let board = &self.ctx.board;
        if board.claim(now, millis(self.ctx.timing.token_list_every)) {
            let (board, rest, clock) = (board.clone(), self.rest.clone(), self.ctx.clock.clone());
            actix_rt::spawn(async move {
                match rest.token_list().await {
                    Ok(list) => board.put(&list, clock.now_ms()),
                    Err(_) => board.failed(clock.now_ms()),
                }
            });
        }
        let was = self.cycle.cfg.mul_point;
        if let Some(mul_point) = board.mul_point(&self.token.alpha_id)
            && mul_point != was
        {
            self.event(Event::MulPoint { mul_point }).await?;
            let message = format!(
                "{}'s points multiplier changed from x{was} to x{mul_point}",
                self.token.symbol
            );
            self.notify("mul_point_changed", EventLevel::Info, None, &message)
                .await;
            // Buys made before the board saw the change counted at the old multiplier here,
            // at the new one on the exchange: its figure is read again, at the pair boundary
            // (new pairs wait for it).
            self.volume_reread = true;
            self.hold_new_pairs().await?;
        }
        // Only between pairs: a fill the exchange counted before its report reached the cycle
        // would otherwise count twice.
        if self.volume_reread && matches!(self.cycle.state, State::Idle | State::DoneForToday) {
            self.ctx
                .governor
                .acquire(self.account.id, Purpose::Query)
                .await;
            match self.rest.user_volume().await {
                Ok(v) => {
                    info!(self.log, "today's volume read again after a multiplier change";
                        fields::EVENT_ACTION => "volume-reread",
                        "trading.volume.exchange" => v.total_volume.to_string(),
                        "trading.volume.counted" => self.cycle.volume.counted.to_string());
                    self.event(Event::ExchangeVolumeAtRest {
                        volume: v.total_volume,
                    })
                    .await?;
                }
                Err(e) => {
                    warn!(self.log, "cannot read today's volume from the exchange";
                        "error.message" => e.to_string());
                }
            }
            // Held until read (or given up on): a pair placed before would leave the figure
            // unread until the next boundary.
            self.volume_reread = false;
            self.hold_new_pairs().await?;
        }
        Ok(())
    }

    /// New pairs wait while the account is about to move to another token or to read the
    /// exchange's figure of today's volume again.
    async fn hold_new_pairs(&mut self) -> Result<(), Failure> {
        let on = self.token_move_held || self.volume_reread;
        if on == self.cycle.holding() {
            return Ok(());
        }
        self.event(Event::HoldNewPairs { on }).await
    }

    /// `token = "auto"`: between pairs, the policy may move the account to another token
    /// (`domain::token_choice`); the task then starts again on it, with an event.
    async fn follow_token_policy(&mut self, now: i64) -> Result<(), Failure> {
        use crate::domain::token_choice::{self, Choice};
        if !self.settings.is_auto() {
            return Ok(());
        }
        // Ranking a real list (hundreds of tokens) on every tick of thousands of accounts would
        // cost a core: again only when the list changed, a move is pending, or every 10 s
        // (the switch interval may have passed).
        let version = self.ctx.board.read_at_ms();
        if !self.token_move_held
            && version == self.token_policy_seen.0
            && now < self.token_policy_seen.1
        {
            return Ok(());
        }
        self.token_policy_seen = (version, now + 10_000);
        let listed = self.ctx.board.listed();
        if listed.is_empty() {
            return Ok(());
        }
        let ranked = token_choice::ranked(&listed, &tokens::policy(&self.settings));
        let at = self.ctx.board.chosen(self.account.id).map(|(_, at)| at);
        let min_interval = i64::from(self.settings.token_switch_min_s) * 1000;
        let choice =
            token_choice::decide(Some(&self.token.alpha_id), &ranked, at, now, min_interval);
        // A move waits for the pair boundary: no new pair meanwhile, the live one ends.
        let moving = matches!(choice, Choice::Move { .. });
        if moving != self.token_move_held {
            self.token_move_held = moving;
            self.hold_new_pairs().await?;
        }
        let Choice::Move { to, ineligible } = choice else {
            return Ok(());
        };
        if self.cycle.state != State::Idle {
            return Ok(());
        }
        self.ctx.board.choose(self.account.id, &to.alpha_id, now);
        let why = if ineligible {
            "it is no longer eligible".to_owned()
        } else {
            format!(
                "{} bps per counted USDT against {}",
                to.cost_bps_per_counted,
                ranked
                    .iter()
                    .find(|s| s.alpha_id == self.token.alpha_id)
                    .map_or_else(|| "?".to_owned(), |s| s.cost_bps_per_counted.to_string())
            )
        };
        let message = format!(
            "token policy: from {} to {} (x{}): {why}",
            self.token.symbol, to.symbol, to.mul_point
        );
        self.notify("token_switched", EventLevel::Info, None, &message)
            .await;
        Err(Failure::Reload)
    }

    /// Tokens a crash left behind (a sale cut short: the reconciliation cancelled it) are
    /// found in the wallet once no pair is live, and sold down the ladder with an event.
    async fn recover_leftover(&mut self, market: Market) -> Result<(), Failure> {
        if self.cycle.pair_may_be_live() || matches!(self.cycle.state, State::Liquidating { .. }) {
            return Ok(());
        }
        self.leftover_check = false;
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        let free = match self.rest.alpha_wallet().await {
            Ok(w) => w
                .list
                .iter()
                .find(|t| t.token_id == self.token.alpha_id)
                .map(|t| t.free)
                .unwrap_or_default(),
            Err(e) => {
                // Looked for again at the next tick.
                self.leftover_check = true;
                warn!(self.log, "cannot read the token wallet"; "error.message" => e.to_string());
                return Ok(());
            }
        };
        let Some(quantity) =
            crate::domain::pricing::leftover_to_sell(free, market.last_price, &market.grid)
        else {
            return Ok(());
        };
        let message = format!(
            "{quantity} {} held with no pair live (a sale cut short): sold down the ladder",
            self.token.symbol
        );
        self.notify("leftover_recovered", EventLevel::Warn, None, &message)
            .await;
        self.event(Event::Leftover { quantity, market }).await
    }

    /// The market view, and the pauses that follow from it and from time (the rules are
    /// `domain::guards`).
    pub(super) async fn guards(&mut self, now: i64) -> Result<Option<Market>, Failure> {
        let quote = self.price.view(now).map(|v| guards::Quote {
            price: v.price,
            at_ms: v.at_ms,
            range_pct: v.range_pct,
        });
        let check = guards::market(
            quote.as_ref(),
            now,
            millis(self.ctx.timing.price_stale),
            self.settings.volatility_pct,
            |r| self.cycle.pauses.contains(&r),
        );
        for (reason, on) in check.changes {
            if on {
                self.event(Event::Pause(reason)).await?;
            } else {
                self.event(Event::Resume(reason)).await?;
            }
            if on && reason == PauseReason::Volatility {
                let range = quote.and_then(|q| q.range_pct).unwrap_or_default();
                let message = format!("the price moved {}% within 60 s", range.round_dp(2));
                self.notify("volatility", EventLevel::Warn, Some("volatility"), &message)
                    .await;
            }
        }
        let market = check.tradable_price.map(|last_price| Market {
            last_price,
            grid: self.token.grid,
            volatile: check.volatile,
        });
        let holds = |c: &Cycle, r| c.pauses.contains(&r);
        if self
            .holds
            .rate_limit_lifts(holds(&self.cycle, PauseReason::RateLimited), now)
        {
            self.event(Event::Resume(PauseReason::RateLimited)).await?;
        }
        if holds(&self.cycle, PauseReason::InsufficientBalance) && now >= self.balance_recheck_at {
            self.balance_recheck_at = now + millis(self.ctx.timing.balance_recheck);
            let need = self.settings.order_usdt;
            if let Ok(true) = free_usdt(&self.ctx, &self.rest, self.account.id)
                .await
                .map(|free| free >= need)
            {
                self.event(Event::Resume(PauseReason::InsufficientBalance))
                    .await?;
            }
        }
        Ok(market)
    }

    /// Today's realised cost (fees and spread loss) against the budget, in bps of volume.
    pub(super) fn over_cost_budget(&self) -> bool {
        guards::over_cost_budget(
            self.today.cost(),
            self.today.buy_quote,
            self.settings.cost_budget_bps,
            !self.deferred.is_empty(),
        )
    }

    /// R14: whether the free USDT covers the next pair's payment. A read taken while the pair
    /// before it waited for its sale answers when it covers the payment alone: the buy was paid
    /// then, and the sale only adds to it. Anything else is read again now.
    pub(super) async fn balance_ok(&mut self, payment: Decimal) -> Result<bool, ExchangeError> {
        if let Some(read) = self.balance_read.take() {
            if read.at.elapsed() <= BALANCE_READ_MAX_AGE {
                if let Ok(Ok(free)) = read.task.await
                    && free >= payment
                {
                    return Ok(true);
                }
            } else {
                read.task.abort();
            }
        }
        Ok(free_usdt(&self.ctx, &self.rest, self.account.id).await? >= payment)
    }

    /// Starts the balance read for the next pair once the live pair's buy is done (see
    /// `balance_ok`): it runs beside the wait for the sale instead of after it.
    pub(super) fn read_balance_ahead(&mut self) {
        let State::Pending { pair } = &self.cycle.state else {
            return;
        };
        if self
            .balance_read
            .as_ref()
            .is_some_and(|r| r.intent_id == pair.intent.id)
        {
            return;
        }
        let (ctx, rest, id) = (self.ctx.clone(), self.rest.clone(), self.account.id);
        let task = actix_rt::spawn(async move { free_usdt(&ctx, &rest, id).await });
        if let Some(old) = self.balance_read.replace(BalanceRead {
            intent_id: pair.intent.id.clone(),
            at: Instant::now(),
            task,
        }) {
            old.task.abort();
        }
    }

    /// B2: an idle account (at its target, or paused) sends nothing that would reveal an
    /// expired session; a cheap probe on a timer does.
    pub(super) async fn probe_session(&mut self, now: i64) -> Result<(), Failure> {
        self.next_probe = now + millis(self.ctx.timing.session_probe);
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        if let Err(e) = self.rest.probe_session().await
            && let Some(reason) = session_pause(&e)
        {
            self.event(Event::Pause(reason)).await?;
        }
        Ok(())
    }
}

/// A read taken ahead is used for at most this long after it started.
const BALANCE_READ_MAX_AGE: Duration = Duration::from_secs(30);

/// A balance read started ahead of the next pair.
pub(super) struct BalanceRead {
    /// The pair whose sale it waited beside.
    pub(super) intent_id: String,
    at: Instant,
    pub(super) task: actix_rt::task::JoinHandle<Result<Decimal, ExchangeError>>,
}

/// The account's free USDT, asked of the exchange.
async fn free_usdt(
    ctx: &Ctx,
    rest: &RestClient,
    account_id: i64,
) -> Result<Decimal, ExchangeError> {
    ctx.governor.acquire(account_id, Purpose::Query).await;
    let assets = rest.wallet_assets().await?;
    Ok(assets
        .iter()
        .find(|a| a.asset.eq_ignore_ascii_case("USDT"))
        .map(|a| a.spot.free)
        .unwrap_or_default())
}
