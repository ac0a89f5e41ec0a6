//! Reconciliation (B1): the pair in doubt, the live pair, and every order left open.

use super::*;
use crate::domain::safety_net::{self, Net};

impl Actor {
    /// Settles the pair in doubt by asking the exchange.
    pub(super) async fn reconcile_intent(&mut self) -> Result<Option<Event>, Failure> {
        // Rows may be written below without the cache of what this task last wrote.
        self.written.clear();
        let State::Unknown { intent } = &self.core.cycle().state else {
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
                let c = self.db(move |c| store::cycles::get(c, cycle_id)).await?;
                c.working_order_id.zip(c.pending_order_id)
            }
            None => None,
        };
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        let asked = (now, Instant::now());
        let seen = match exchange_view::snapshot(&self.rest, intent.created_ms - 60_000, now).await
        {
            Ok(s) => s,
            Err(e) => {
                warn!(self.log, "reconciliation failed; trying again"; fields::EVENT_ACTION => "reconcile",
                    fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
                if let Some(r) = session_pause(&e) {
                    return Ok(Some(Event::Pause(r)));
                }
                self.remember(Input::ReconcileLater { wait_ms: 3_000 });
                return Ok(None);
            }
        };
        let adopted = self.adopted_ids(live.as_ref().map(|l| l.cycle_id)).await?;
        let window = Window {
            before_ms: 5_000,
            after_ms: millis(self.ctx.timing.request_timeout) + 5_000,
        };
        let verdict = exchange_view::judge(
            &view,
            ids.as_ref().map(|(w, p)| (w.as_str(), p.as_str())),
            &seen,
            &adopted,
            window,
            now,
        );
        match verdict {
            Verdict::NotYet => {
                self.remember(Input::ReconcileLater { wait_ms: 2_000 });
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
                    fields::EVENT_OUTCOME => "success", "trading.reconcile.found" => format!("{found:?}"));
                self.flush_statuses = true;
                self.heard_at(asked);
                Ok(Some(Event::Reconciled(found)))
            }
        }
    }

    /// Exchange ids the store already gives to other cycles or orders (of the last hours, far
    /// wider than any match window): never adopted again.
    pub(super) async fn adopted_ids(
        &mut self,
        except_cycle: Option<i64>,
    ) -> Result<HashSet<String>, Failure> {
        // The ids of a placement may still wait to be written.
        self.flush().await?;
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

    /// A place or cancel was answered: its report should follow at once. Past
    /// `report_overdue` without it, the order is asked for (`sync_live`).
    pub(super) fn expect_report(&mut self) {
        self.awaiting = true;
        self.next_sync = self
            .next_sync
            .min(Instant::now() + self.ctx.timing.report_overdue);
    }

    /// The live pair is asked for at once (a cancel refused: most likely the order ended).
    pub(super) fn ask_now(&mut self) {
        self.awaiting = true;
        self.next_sync = Instant::now();
    }

    /// A pair was placed (the placement was sent at `sent`): nothing of it can have traded
    /// before, and its first report should follow at once.
    pub(super) fn pair_placed(&mut self, sent: (i64, Instant)) {
        self.heard_at(sent);
        self.asked_until = sent.1;
        self.expect_report();
    }

    /// A report of one of our orders came: with nothing else awaited (no place or cancel in
    /// flight), the live pair is asked for again only as the healthy stream's safety net
    /// against a report lost without the stream dropping (`sync_due`). It is not news of the
    /// whole pair: a fill the price showed stays owed until the exchange is asked, or, for
    /// a fill owed by the buy, until the buy's end is heard (`safety_net::working_ended`).
    pub(super) fn heard_report(&mut self) {
        if !matches!(
            self.core.cycle().state,
            State::Placing { .. } | State::Cancelling { .. } | State::Unknown { .. }
        ) {
            self.awaiting = false;
            self.sync_wait = self.ctx.timing.sync_first;
            self.next_sync = Instant::now() + self.sync_wait;
        }
        if self.owed_since.is_some_and(|(_, working)| {
            working && safety_net::working_ended(&self.core.cycle().state)
        }) {
            // The buy the price reached has told its end. A sale printed since is found when
            // the alarm for it is armed: the price feed holds it against every trade since
            // the ring.
            self.owed_since = None;
        }
    }

    /// The price may have traded a live leg as of `at`: its report is owed.
    pub(super) fn owe(&mut self, at: Instant) {
        let working = matches!(self.core.cycle().state, State::Working { .. });
        self.owed_since.get_or_insert((at, working));
    }

    /// What the exchange told is the whole pair's state as of `at`.
    fn heard_at(&mut self, at: (i64, Instant)) {
        self.awaiting = false;
        self.owed_since = None;
        self.news_at = at;
    }

    /// The token's price, when its stream has seen every trade since the pair's last news.
    fn vouching_price(&self) -> Option<Decimal> {
        let news_ms = self.news_at.0;
        self.price
            .latest()
            .filter(|v| v.connected && v.unbroken_since_ms.is_some_and(|t| t <= news_ms))
            .map(|v| v.price)
    }

    pub(super) fn price_vouches(&self) -> bool {
        self.vouching_price().is_some()
    }

    /// When the live pair is next asked of the exchange, and the prices at which a look is
    /// wanted. A report awaited, or a price that cannot be trusted: the fixed schedule
    /// (`sync_first` after the last news, then doubling up to `sync_every`). A leg the price
    /// has reached without a report: `report_overdue` after it did. A pair the price stays
    /// away from: `sync_every` after the last news, and an alarm at its legs' prices
    /// (`domain::safety_net`). A trade the price stream saw in the instant between a look
    /// and the alarm's arming is the one the net can miss; the fallback then finds it.
    pub(super) fn sync_due(&mut self, now: Instant) -> (Instant, AlarmBand) {
        let quiet = AlarmBand::default();
        if self.awaiting {
            return (self.next_sync, quiet);
        }
        let news = self.news_at.1;
        let price = self.vouching_price();
        let net = safety_net::net(&self.core.cycle().state, price);
        if net == Net::FillOwed {
            self.owe(now);
        }
        if let Some((since, _)) = self.owed_since {
            return (
                (since + self.ctx.timing.report_overdue).max(self.asked_until),
                quiet,
            );
        }
        match net {
            Net::Quiet { below, above } => (
                self.next_sync.max(news + self.ctx.timing.sync_every),
                AlarmBand { below, above },
            ),
            Net::Blind | Net::FillOwed => (self.next_sync, quiet),
        }
    }

    /// Asks the exchange about the live pair (or leftover sale) and feeds what changed.
    pub(super) async fn sync_live(&mut self) -> Result<(), Failure> {
        self.next_sync = Instant::now() + self.sync_wait;
        if self.owed_since.is_some() {
            // Asked for a fill the price showed: if the price stays on the leg without
            // filling it, the next such question waits the doubling wait.
            self.asked_until = self.next_sync;
        }
        self.sync_wait = (self.sync_wait * 2).min(self.ctx.timing.sync_every);
        let now = self.now();
        let (ids, since): (Vec<String>, i64) = match &self.core.cycle().state {
            // A leg whose end the machine has heard needs no question: asking for the filled
            // working leg of every live pair meant a history read (it is not open any more),
            // the largest cost of an account at rest.
            State::Working { pair } | State::Pending { pair } | State::Cancelling { pair, .. } => (
                [
                    (!pair.working_done).then(|| pair.working_id.clone()),
                    (!pair.pending_done).then(|| pair.pending_id.clone()),
                ]
                .into_iter()
                .flatten()
                .collect(),
                pair.intent.created_ms - 60_000,
            ),
            State::Liquidating {
                sell: Some((_, Some(id))),
                ..
            } => (vec![id.clone()], now - 6 * 3_600_000),
            _ => return Ok(()),
        };
        if ids.is_empty() {
            return Ok(());
        }
        metrics::counter!(meters::PAIR_QUESTIONS, "reason" => self.question_reason()).increment(1);
        // The answer tells the state as of the question: trades after it are the price's.
        let asked = (now, Instant::now());
        if self.follow_by_ids(&ids, since, now).await? {
            self.heard_at(asked);
        }
        Ok(())
    }

    /// Why the live pair is asked now (`meters::QUESTION_REASONS`).
    fn question_reason(&self) -> &'static str {
        if self.awaiting {
            "overdue"
        } else if self.owed_since.is_some() {
            "owed"
        } else if matches!(
            safety_net::net(&self.core.cycle().state, self.vouching_price()),
            Net::Quiet { .. }
        ) {
            "fallback"
        } else {
            "blind"
        }
    }

    /// Asks the exchange about `ids` (placed at `since` or later) and feeds what it says to
    /// the machine and the store, as their reports would have been. False when it did not
    /// answer.
    async fn follow_by_ids(
        &mut self,
        ids: &[String],
        since: i64,
        now: i64,
    ) -> Result<bool, Failure> {
        // Rows may be written below without the cache of what this task last wrote.
        self.written.clear();
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        let seen = match exchange_view::by_ids(&self.rest, ids, since, now).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(r) = session_pause(&e) {
                    self.event(Event::Pause(r)).await?;
                }
                return Ok(false);
            }
        };
        for id in ids {
            if let Some(s) = seen.get(id) {
                self.statuses.insert(id.clone(), s.status);
                self.event(Event::Report(s.update())).await?;
                self.store_status(id).await?;
            }
        }
        Ok(true)
    }

    /// Asks for the legs of ended pairs whose end was not heard: the stream normally tells it
    /// a moment after the pair's end; a lost frame must not leave the row open for good. Asked
    /// with a growing wait, and left to the next reconciliation after `SETTLE_GIVE_UP`.
    pub(super) async fn settle_ended(&mut self) -> Result<(), Failure> {
        let Some((at, wait)) = self.settle_next else {
            return Ok(());
        };
        if Instant::now() < at {
            return Ok(());
        }
        let given_up: Vec<String> = self
            .open_legs
            .iter()
            .filter(|(_, l)| l.ended.is_some_and(|t| t.elapsed() >= SETTLE_GIVE_UP))
            .map(|(x, _)| x.clone())
            .collect();
        for x in &given_up {
            warn!(self.log, "an ended pair's leg was never heard final; the next reconciliation settles it";
                fields::EVENT_ACTION => "settle", fields::EVENT_OUTCOME => "failure", "trading.order.id" => x);
            self.open_legs.remove(x);
            self.orders.remove(x);
        }
        let ended: Vec<(String, i64)> = self
            .open_legs
            .iter()
            .filter(|(_, l)| l.ended.is_some_and(|t| t.elapsed() >= SETTLE_AFTER))
            .map(|(x, l)| (x.clone(), l.placed_ms))
            .collect();
        if ended.is_empty() {
            let waiting = self.open_legs.values().any(|l| l.ended.is_some());
            self.settle_next = waiting.then(|| (Instant::now() + SETTLE_AFTER, SETTLE_AFTER));
            return Ok(());
        }
        self.settle_next = Some((
            Instant::now() + wait,
            (wait * 2).min(Duration::from_secs(60)),
        ));
        let ids: Vec<String> = ended.iter().map(|(x, _)| x.clone()).collect();
        let since = ended.iter().map(|(_, t)| *t).min().unwrap_or_default() - 60_000;
        let now = self.now();
        self.follow_by_ids(&ids, since, now).await.map(|_| ())
    }

    /// Brings the account back to the exchange's truth: on the first stream connection (a
    /// start or restart) and after every reconnect. Nothing new is placed before it is done.
    pub(super) async fn reconcile_all(&mut self) -> Result<(), Failure> {
        // Rows may be written below without the cache of what this task last wrote.
        self.written.clear();
        let id = self.account.id;
        let now = self.now();
        let (open_rows, live_cycle, live_rows) = self
            .db(move |c| {
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
        let seen = match exchange_view::snapshot(&self.rest, since, now).await {
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
                        self.follow_leg(x, o);
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
                        state: c.state,
                        bought_qty: c.bought_qty,
                        sold_qty: c.sold_qty,
                        volume_usdt: c.volume_usdt,
                        fees_usdt: c.fees_usdt,
                    },
                    legs: Vec::new(),
                });
                let intent = Intent {
                    id: c.intent_id.clone(),
                    buy_price: c.buy_price,
                    sell_price: c.sell_price,
                    quantity: c.quantity,
                    payment: c.payment_amount,
                    created_ms: c.created_at_ms,
                };
                self.step(Input::Restore {
                    intent,
                    seen: seen_fills,
                })
                .await?;
                info!(self.log, "a pair may be live: reconciling it"; fields::EVENT_ACTION => "reconcile",
                    "trading.cycle.id" => c.id, "trading.cycle.intent_id" => &c.intent_id);
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
                    let m = exchange_view::find_single(o, &seen, &adopted, window);
                    match m.as_slice() {
                        [one] => Some(*one),
                        [] if now > o.created_at_ms + window.after_ms => {
                            let row = o.id;
                            self.db(move |c| {
                                store::orders::update_status(
                                    c,
                                    row,
                                    StoredStatus::Rejected,
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
                self.db(move |c| store::orders::set_placed(c, row, &xid, StoredStatus::New, now))
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
            // The leftover sale the machine has out (placed as a stream dropped): followed by
            // the machine, never recorded or cancelled here.
            if self.core.cycle().follows(&x) {
                continue;
            }
            // A part that waits to be written is known already: asked for again, it would
            // be counted twice.
            let (had_qty, had_quote) = self.known_fill(&x);
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
                    "trading.order.id" => &x);
                self.cancel(x).await;
            }
        }
        self.reconciled = true;
        if let State::Unknown { .. } = self.core.cycle().state {
            self.apply(vec![Effect::Reconcile]).await?;
        } else {
            self.sync_live().await?;
        }
        if self.first_reconcile {
            self.first_reconcile = false;
            self.step(Input::FirstReconciled).await?;
            let id = self.account.id;
            // The operator's last word, read after every start, restart and takeover: a
            // command recorded while no task of this instance held the account still counts.
            let acc = self.db(move |c| store::accounts::get(c, id)).await?;
            self.account.desired = acc.desired;
            match acc.desired {
                Desired::Stop => {}
                Desired::Kill => {
                    let report = self.kill().await;
                    info!(self.log, "a recorded kill carried out"; fields::EVENT_ACTION => "kill",
                        "trading.kill.verified" => report.outcome == KillOutcome::Verified,
                        "trading.order.open_left" => report.open_left);
                }
                Desired::Pause => {
                    self.step(Input::LookForLeftovers).await?;
                    self.event(Event::Pause(PauseReason::Operator)).await?;
                    self.event(Event::Start).await?;
                }
                Desired::Run => {
                    self.step(Input::LookForLeftovers).await?;
                    self.event(Event::Start).await?
                }
            }
        } else if self.settings.auto_resume {
            self.event(Event::Resume(PauseReason::StreamLost)).await?;
        }
        metrics::counter!(meters::RECONCILIATIONS).increment(1);
        info!(self.log, "reconciled"; fields::EVENT_ACTION => "reconcile", fields::EVENT_OUTCOME => "success",
            "trading.cycle.state" => crate::domain::shown::state_phase(&self.core.cycle().state).as_str());
        Ok(())
    }
}
