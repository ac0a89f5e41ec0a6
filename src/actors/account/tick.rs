//! Each tick: the shell's own upkeep (the lease, a kill to verify, fills waiting to be
//! written, lost reports, settled legs) around the core's look (`domain::account`), and the
//! reads the core asks for.

use super::*;
use crate::domain::account::{Look, NoticeLevel, TokenLook};
use crate::domain::guards;

impl Actor {
    pub(super) async fn on_tick(&mut self) -> Result<(), Failure> {
        self.last_look = Instant::now();
        self.check_lease()?;
        if self.release_pending && self.legs_settled() {
            return Err(Failure::HandedOver);
        }
        self.retry_kill(self.now()).await?;
        if !self.reconciled {
            if self.stream_up {
                self.reconcile_all().await?;
            }
            return Ok(());
        }
        if !self.deferred.is_empty() {
            self.retry_deferred().await?;
        }
        let now = self.now();
        self.read_token_list(now);
        let look = Look {
            quote: self.price.view(now).map(|v| guards::Quote {
                price: v.price,
                at_ms: v.at_ms,
                range_pct: v.range_pct,
            }),
            mul_point: self.ctx.board.mul_point(&self.token.alpha_id),
            tokens: self.settings.is_auto().then(|| TokenLook {
                version: self.ctx.board.read_at_ms(),
                listed: self.ctx.board.listed(),
                chosen_at_ms: self.ctx.board.chosen(self.account.id).map(|(_, at)| at),
            }),
        };
        self.step(Input::Tick(look)).await?;
        // A leftover sale is followed like a live pair: a lost report of it is asked for.
        let cycle = self.core.cycle();
        let followed = cycle.pair_may_be_live() || matches!(cycle.state, State::Liquidating { .. });
        if followed && Instant::now() >= self.sync_due(Instant::now()).0 {
            self.sync_live().await?;
        }
        self.settle_ended().await?;
        self.step(Input::TickEnd).await
    }

    /// Carries out one step of the core: an effect of the cycle, a read (whose answer goes
    /// back as an input), a notice, the day's start, a token move.
    pub(super) async fn shell_step(
        &mut self,
        step: Step,
        queue: &mut VecDeque<Step>,
    ) -> Result<Option<Input>, Failure> {
        match step {
            Step::Effect(e) => Ok(self.effect(e, queue).await?.map(Input::Event)),
            Step::Notify(n) => {
                let level = match n.level {
                    NoticeLevel::Info => EventLevel::Info,
                    NoticeLevel::Warn => EventLevel::Warn,
                };
                self.notify(n.kind, level, n.reason, &n.message).await;
                Ok(None)
            }
            Step::NewDay => self.new_day().await.map(Some),
            Step::ReadUserVolume => {
                self.ctx
                    .governor
                    .acquire(self.account.id, Purpose::Query)
                    .await;
                match self.rest.user_volume().await {
                    Ok(v) => {
                        info!(self.log, "today's volume read again after a multiplier change";
                            fields::EVENT_ACTION => "volume-reread",
                            "trading.volume.exchange" => v.total_volume.to_string(),
                            "trading.volume.counted" => self.core.cycle().volume.counted.to_string());
                        Ok(Some(Input::UserVolume(Some(v.total_volume))))
                    }
                    Err(e) => {
                        warn!(self.log, "cannot read today's volume from the exchange";
                            "error.message" => e.to_string());
                        Ok(Some(Input::UserVolume(None)))
                    }
                }
            }
            Step::ReadWallet => {
                self.ctx
                    .governor
                    .acquire(self.account.id, Purpose::Query)
                    .await;
                match self.rest.alpha_wallet().await {
                    Ok(w) => Ok(Some(Input::Wallet(Some(
                        w.list
                            .iter()
                            .find(|t| t.token_id == self.token.alpha_id)
                            .map(|t| t.free)
                            .unwrap_or_default(),
                    )))),
                    Err(e) => {
                        warn!(self.log, "cannot read the token wallet"; "error.message" => e.to_string());
                        Ok(Some(Input::Wallet(None)))
                    }
                }
            }
            Step::ReadBalance => Ok(free_usdt(&self.ctx, &self.rest, self.account.id)
                .await
                .ok()
                .map(Input::Balance)),
            Step::ProbeSession => {
                self.ctx
                    .governor
                    .acquire(self.account.id, Purpose::Query)
                    .await;
                Ok(match self.rest.probe_session().await {
                    Err(e) => session_pause(&e).map(|r| Input::Event(Event::Pause(r))),
                    Ok(_) => None,
                })
            }
            // Only `Input::PairDue` answers it, and the shell acts on it there.
            Step::Withdraw { .. } => Ok(None),
            Step::Reload => Err(Failure::Reload),
            Step::Release => {
                // The new holder would find a leg not yet heard final open and cancel it: the
                // lease goes once every leg of the ended pairs is settled.
                if self.legs_settled() {
                    Err(Failure::HandedOver)
                } else {
                    self.release_pending = true;
                    Ok(None)
                }
            }
            Step::MoveToken { to_alpha_id } => {
                let now = self.now();
                self.ctx.board.choose(self.account.id, &to_alpha_id, now);
                Err(Failure::Reload)
            }
        }
    }

    /// The instance's token list is read by one account for all, hourly and at the UTC day's
    /// start (`TokenBoard::claim`).
    fn read_token_list(&self, now: i64) {
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
    }

    /// Every leg of the ended pairs heard final and every fill written: nothing of the
    /// account is left for another holder to find open.
    pub(super) fn legs_settled(&self) -> bool {
        self.open_legs.is_empty() && self.deferred.is_empty()
    }

    /// The lease is renewed by the instance's keeper (`actors::leases`): a lost one ends
    /// the task, which claims it again (or stands by) from the start.
    pub(super) fn check_lease(&self) -> Result<(), Failure> {
        if self.held.is_lost() {
            return Err(Failure::LeaseLost);
        }
        Ok(())
    }

    /// A new UTC day (the core saw it): today's counts start again from the store's.
    async fn new_day(&mut self) -> Result<Input, Failure> {
        let now = self.now();
        let (id, day) = (self.account.id, day_start_ms(now));
        self.today = self
            .db(move |c| store::fills::volume_between(c, id, day, now + 1))
            .await?;
        self.cycles_today = 0;
        self.shown_cost.reset();
        self.shown_cost_usdt.reset();
        info!(self.log, "a new UTC day"; fields::EVENT_ACTION => "day-rollover");
        Ok(Input::NewDay {
            volume: self.today.buy_quote,
        })
    }

    /// R14: whether the free USDT covers the next pair's payment. The funds known (the last
    /// read less every pair committed since, `domain::funds`) answer when they cover it; else
    /// a read taken while the pair before it waited for its sale, when it covers it; anything
    /// else is read again now.
    pub(super) async fn balance_ok(&mut self, payment: Decimal) -> Result<bool, ExchangeError> {
        if self.funds.covers(payment, self.now()) {
            return Ok(true);
        }
        if let Some(read) = self.balance_read.take() {
            if read.at.elapsed() <= BALANCE_READ_MAX_AGE {
                if let Ok(Ok(free)) = read.task.await {
                    self.funds.read(read.ticket, free);
                    if self.funds.covers(payment, self.now()) {
                        return Ok(true);
                    }
                }
            } else {
                read.task.abort();
            }
        }
        let ticket = self.funds.start_read(self.now());
        let free = free_usdt(&self.ctx, &self.rest, self.account.id).await?;
        self.funds.read(ticket, free);
        Ok(free >= payment)
    }

    /// Starts the balance read for the next pair once the live pair's buy is done (see
    /// `balance_ok`): it runs beside the wait for the sale instead of after it. None when the
    /// funds known cover another pair like this one.
    pub(super) fn read_balance_ahead(&mut self) {
        let State::Pending { pair } = &self.core.cycle().state else {
            return;
        };
        if self
            .balance_read
            .as_ref()
            .is_some_and(|r| r.intent_id == pair.intent.id)
            || self.funds.covers(pair.intent.payment, self.now())
        {
            return;
        }
        let (ctx, rest, id) = (self.ctx.clone(), self.rest.clone(), self.account.id);
        let intent_id = pair.intent.id.clone();
        let ticket = self.funds.start_read(self.now());
        let task = actix_rt::spawn(async move { free_usdt(&ctx, &rest, id).await });
        if let Some(old) = self.balance_read.replace(BalanceRead {
            intent_id,
            at: Instant::now(),
            ticket,
            task,
        }) {
            old.task.abort();
        }
    }
}

/// A read taken ahead is used for at most this long after it started.
const BALANCE_READ_MAX_AGE: Duration = Duration::from_secs(30);

/// A balance read started ahead of the next pair.
pub(super) struct BalanceRead {
    /// The pair whose sale it waited beside.
    pub(super) intent_id: String,
    at: Instant,
    ticket: crate::domain::funds::ReadTicket,
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
