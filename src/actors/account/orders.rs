//! Sending: pair intents stored then placed, cancels, leftover sales.

use super::*;
use crate::domain::account::DayCost;
use crate::domain::crossing::Footprint;

impl Actor {
    pub(super) async fn persist_intent(
        &mut self,
        intent: Intent,
        queue: &mut VecDeque<Step>,
    ) -> Result<Option<Event>, Failure> {
        let refuse = |queue: &mut VecDeque<Step>, refusal| {
            queue.retain(|e| !matches!(e, Step::Effect(Effect::PlaceOto(i)) if i.id == intent.id));
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
        // The core may withdraw the pair (the cost budget).
        let due = Input::PairDue {
            intent_id: intent.id.clone(),
            today: DayCost {
                cost_usdt: self.today.cost(),
                bought_usdt: self.today.buy_quote,
                writes_waiting: !self.deferred.is_empty(),
            },
        };
        let now = self.now();
        let steps = self.core.on(due, now);
        if !steps.is_empty() {
            queue.retain(|e| !matches!(e, Step::Effect(Effect::PlaceOto(i)) if i.id == intent.id));
            for s in steps.into_iter().rev() {
                queue.push_front(s);
            }
            return Ok(None);
        }
        // Under load new pairs queue for their turn, in the order they asked, rather than at
        // the exchange in none (`domain::admission`). A pair that had to wait is planned again
        // once its turn came (the price it was planned with is as old as the wait); the turn
        // is kept for it. An operator's command does not wait behind the queue: the wait is
        // given up, the pair not sent, and the command read.
        let turn = match self.turn.take().or_else(|| self.ctx.admission.try_turn()) {
            Some(turn) => turn,
            None => {
                tokio::select! {
                    turn = self.ctx.admission.turn() => {
                        self.turn = Some(turn);
                        self.replan = true;
                    }
                    () = self.heed.notified() => {}
                }
                return refuse(queue, Refusal::NotSent);
            }
        };
        // No trade with another managed account: a pair that would cross one of theirs on the
        // token waits for the next tick (`domain::crossing`).
        let footprint = Footprint::pair(intent.buy_price, intent.sell_price);
        if !self.ctx.crossings.claim(
            &self.token.order_symbol,
            self.account.id,
            footprint,
            self.now(),
        ) {
            metrics::counter!(meters::CROSSING_WAITS).increment(1);
            self.keep_turn(turn);
            return refuse(queue, Refusal::NotSent);
        }
        let now = self.now();
        let new = NewCycle {
            account_id: self.account.id,
            intent_id: intent.id.clone(),
            fencing_token: self.lease.fencing_token,
            state: CycleState::Placing,
            order_symbol: self.token.order_symbol.clone(),
            buy_price: intent.buy_price,
            sell_price: intent.sell_price,
            quantity: intent.quantity,
            payment_amount: intent.payment,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let lease = self.lease.clone();
        let store = self.ctx.store.clone();
        // The last pair's close goes first in the same unit (its fills wait for the next one).
        let across = self.ctx.crossings.across_instances();
        let unit = self.with_closes(move |c| store::cycles::insert_intent(c, &lease, &new, across));
        // R14: the balance is checked before each pair; too little pauses, never shrinks it.
        // The check and the intent's write go together: an intent stored but refused for its
        // balance is closed as not placed, which costs a row; waiting for one then the other
        // would cost every pair a round trip.
        let writing = Instant::now();
        let (balance, stored) = tokio::join!(self.balance_ok(intent.payment), store.run(unit));
        metrics::histogram!(meters::INTENT_WRITE_SECONDS).record(writing.elapsed().as_secs_f64());
        let stored = self.settle(stored);
        match stored {
            Ok((cycle, legs)) => {
                self.turn = Some(turn);
                self.live = Some(LiveRows {
                    legs,
                    cycle_id: cycle.id,
                    intent_id: intent.id.clone(),
                    progress: CycleProgress {
                        state: CycleState::Placing,
                        bought_qty: Decimal::ZERO,
                        sold_qty: Decimal::ZERO,
                        volume_usdt: Decimal::ZERO,
                        fees_usdt: Decimal::ZERO,
                    },
                });
            }
            Err(StoreError::LeaseLost { .. }) => return Err(Failure::LeaseLost),
            // It would cross another instance's account: it waits, like a local crossing.
            // It would cross another instance's account: it waits, like a local crossing,
            // and asks for its turn.
            Err(StoreError::Crossed) => {
                metrics::counter!(meters::CROSSING_WAITS).increment(1);
                self.keep_turn(turn);
                self.wish_turn(footprint).await;
                return refuse(queue, Refusal::NotSent);
            }
            Err(e) => return Err(Failure::Store(e)),
        }
        match balance {
            Ok(true) => {
                self.funds.commit(intent.payment);
                Ok(None)
            }
            // The core reads the balance again after a while (`Input::Balance`).
            Ok(false) => refuse(queue, Refusal::InsufficientBalance),
            Err(e) => {
                self.after_error(&e);
                refuse(queue, refusal_of(&e))
            }
        }
    }

    /// Remembers what an error means beyond this request (the waits are
    /// `domain::guards::Holds`).
    pub(super) fn after_error(&mut self, e: &ExchangeError) {
        use crate::domain::guards::Setback;
        let setback = match e {
            ExchangeError::RateLimited { retry_after } => Setback::RateLimited {
                retry_after_ms: retry_after.map(millis),
            },
            ExchangeError::NotSent(_) | ExchangeError::Unknown(_) => Setback::Unanswered,
            _ => Setback::Other,
        };
        self.remember(Input::Setback(setback));
    }

    pub(super) async fn place_oto(&mut self, intent: Intent) -> Result<Option<Event>, Failure> {
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
            working_side: Side::Buy,
            working_price: intent.buy_price,
            working_quantity: intent.quantity,
            payment_details: vec![PaymentDetail {
                amount: intent.payment,
                payment_wallet_type: WalletType::Card,
            }],
            pending_price: intent.sell_price,
            pending_type: Some("LIMIT".into()),
        };
        // The turn taken for the intent's write (`persist_intent`).
        self.turn_kept_until = None;
        let Some(mut turn) = self.turn.take() else {
            return Ok(Some(Event::PlaceRefused {
                intent_id: intent.id,
                refusal: Refusal::NotSent,
            }));
        };
        if let Some(done) = self.pair_done_at.take() {
            metrics::histogram!(meters::REACTION_SECONDS).record(done.elapsed().as_secs_f64());
        }
        let sent = Instant::now();
        let sent_ms = self.now();
        turn.sending();
        let answer = self.rest.place_oto(&req).await;
        turn.answered(answer.as_ref().is_err_and(ExchangeError::overloaded));
        metrics::histogram!(meters::PLACE_SECONDS).record(sent.elapsed().as_secs_f64());
        let outcome = match &answer {
            Ok(_) => "placed",
            Err(e) if e.outcome_unknown() => "unknown",
            Err(_) => "refused",
        };
        metrics::counter!(meters::ORDERS, "kind" => "oto", "outcome" => outcome).increment(1);
        match answer {
            Ok(placed) => {
                let (w, p) = (placed.working_order_id, placed.pending_order_id);
                self.adopt_pair(live.cycle_id, &w, &p).await?;
                self.pair_placed((sent_ms, sent));
                info!(self.log, "pair placed"; fields::EVENT_ACTION => "oto-place", fields::EVENT_OUTCOME => "success",
                    "trading.order.working_id" => &w, "trading.order.pending_id" => &p, "trading.order.buy_price" => intent.buy_price.to_string(),
                    "trading.order.quantity" => intent.quantity.to_string());
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
                self.db(move |c| {
                    for o in store::orders::for_cycle(c, cycle_id)? {
                        store::orders::update_status(
                            c,
                            o.id,
                            StoredStatus::Unknown,
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
                    "trading.error.kind" => e.kind(), "error.message" => e.to_string());
                self.after_error(&e);
                if matches!(e, ExchangeError::InsufficientBalance { .. }) {
                    // Funds left the account outside the daemon: the next pair reads them.
                    self.funds.doubt();
                }
                Ok(Some(Event::PlaceRefused {
                    intent_id: intent.id,
                    refusal: refusal_of(&e),
                }))
            }
        }
    }

    /// Follows a pair's leg `x` (row `o`) until the store holds it final.
    pub(super) fn follow_leg(&mut self, x: &str, o: &crate::store::models::OrderRow) {
        if !o.status.is_terminal() {
            self.open_legs.entry(x.to_owned()).or_insert(OpenLeg {
                placed_ms: o.created_at_ms,
                ended: None,
            });
        }
    }

    /// Records a pair's exchange ids on its rows and follows its orders from now on.
    pub(super) async fn adopt_pair(
        &mut self,
        cycle_id: i64,
        working: &str,
        pending: &str,
    ) -> Result<(), Failure> {
        let now = self.now();
        let (w, p) = (working.to_owned(), pending.to_owned());
        let legs = self
            .live
            .as_ref()
            .filter(|l| l.cycle_id == cycle_id && !l.legs.is_empty())
            .map(|l| l.legs.clone());
        let rows = match legs {
            // The rows as the intent stored them, with what the write below gives them: the
            // write itself waits for the next unit (a crash before it is a lost place answer,
            // which the reconciliation settles by price, quantity and time).
            Some(mut legs) => {
                for o in &mut legs {
                    let (id, status) = match o.role {
                        OrderRole::Working => (&w, StoredStatus::New),
                        OrderRole::Pending => (&p, StoredStatus::Pending),
                        OrderRole::Liquidation | OrderRole::Manual => continue,
                    };
                    o.exchange_order_id = Some(id.clone());
                    o.status = status;
                }
                self.keep(write_behind::Later::Placed {
                    cycle_id,
                    working: w,
                    pending: p,
                    now_ms: now,
                })
                .await?;
                legs
            }
            None => {
                self.db(move |c| {
                    store::cycles::set_exchange_ids(c, cycle_id, &w, &p, None, now)?;
                    store::orders::for_cycle(c, cycle_id)
                })
                .await?
            }
        };
        for o in rows {
            if let Some(x) = &o.exchange_order_id {
                self.follow_leg(x, &o);
                self.filled
                    .entry(x.clone())
                    .or_insert((o.filled_qty, o.filled_quote));
                self.written
                    .insert(x.clone(), (o.status, o.filled_qty, o.filled_quote));
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
        // Reports that came before this answer are replayed by the machine once it hears of
        // the placement; the statuses are written after that, each once.
        self.flush_statuses = true;
        if let Some(l) = &mut self.live {
            l.progress.state = CycleState::Placed;
        }
        Ok(())
    }

    pub(super) async fn cancel(&mut self, order_id: String) {
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Cancel)
            .await;
        let answer = self.rest.cancel(&order_id, &self.token.order_symbol).await;
        let outcome = if answer.is_ok() { "sent" } else { "failed" };
        metrics::counter!(meters::ORDERS, "kind" => "cancel", "outcome" => outcome).increment(1);
        match answer {
            Ok(()) => {
                info!(self.log, "cancel sent"; fields::EVENT_ACTION => "order-cancel", "trading.order.id" => &order_id);
                self.expect_report();
            }
            Err(ExchangeError::Rejected { code, message }) => {
                // Most likely already final: ask the exchange rather than trust the guess.
                info!(self.log, "cancel refused; checking the order"; fields::EVENT_ACTION => "order-cancel",
                    "trading.order.id" => &order_id, "error.code" => code, "error.message" => message);
                self.ask_now();
            }
            Err(e) => {
                warn!(self.log, "cancel failed; trying again"; fields::EVENT_ACTION => "order-cancel",
                    fields::EVENT_OUTCOME => "failure", "trading.order.id" => &order_id, "error.message" => e.to_string());
                self.remember(Input::CancelFailed { order_id });
            }
        }
    }

    pub(super) async fn persist_sell(
        &mut self,
        sell: SellIntent,
        queue: &mut VecDeque<Step>,
    ) -> Result<Option<Event>, Failure> {
        if self.killed || !self.may_send() {
            queue.retain(|e| !matches!(e, Step::Effect(Effect::PlaceSell(s)) if s.id == sell.id));
            return Ok(Some(Event::SellRefused { intent_id: sell.id }));
        }
        // A sale is a trade too: it waits while it would cross another managed account's order.
        if !self.ctx.crossings.claim(
            &self.token.order_symbol,
            self.account.id,
            Footprint::sale(sell.price),
            self.now(),
        ) {
            metrics::counter!(meters::CROSSING_WAITS).increment(1);
            queue.retain(|e| !matches!(e, Step::Effect(Effect::PlaceSell(s)) if s.id == sell.id));
            return Ok(Some(Event::SellDeferred { intent_id: sell.id }));
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
            queue.retain(|e| !matches!(e, Step::Effect(Effect::PlaceSell(s)) if s.id == sell.id));
            return Ok(Some(Event::SellRefused { intent_id: sell.id }));
        }

        if let Some(Step::Effect(Effect::PlaceSell(s))) = queue
            .iter_mut()
            .find(|e| matches!(e, Step::Effect(Effect::PlaceSell(s)) if s.id == sell.id))
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
            status: StoredStatus::Intent,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let lease = self.lease.clone();
        let across = self.ctx.crossings.across_instances();
        match self
            .db(move |c| store::orders::insert_intent(c, &lease, &new, across))
            .await
        {
            Ok(row) => {
                self.sells.insert(sell.id, row.id);
                Ok(None)
            }
            Err(StoreError::LeaseLost { .. }) => Err(Failure::LeaseLost),
            Err(StoreError::Crossed) => {
                metrics::counter!(meters::CROSSING_WAITS).increment(1);
                self.wish_turn(Footprint::sale(sell.price)).await;
                queue.retain(
                    |e| !matches!(e, Step::Effect(Effect::PlaceSell(s)) if s.id == sell.id),
                );
                Ok(Some(Event::SellDeferred { intent_id: sell.id }))
            }
            Err(e) => Err(Failure::Store(e)),
        }
    }

    /// A pair held back by a crossing keeps its turn until its next look: it waited for its
    /// place in the queue once, and goes as soon as the crossing clears, unless that takes
    /// longer than a look (then the turn goes back and the pair asks again).
    fn keep_turn(&mut self, turn: crate::actors::admission::Turn) {
        self.turn = Some(turn);
        self.turn_kept_until
            .get_or_insert(Instant::now() + self.ctx.timing.tick);
    }

    /// Held back by another instance's account: the wish that gives this one its turn
    /// (`store::crossing::wish`). Not written, the account still tries again each tick.
    async fn wish_turn(&mut self, footprint: Footprint) {
        let (owner, id) = (self.lease.owner.clone(), self.account.id);
        let symbol = self.token.order_symbol.clone();
        if let Err(e) = self
            .db(move |c| store::crossing::wish(c, &owner, id, &symbol, footprint))
            .await
        {
            warn!(self.log, "cannot record the wish for a turn on the token"; "error.message" => e.to_string());
        }
    }

    pub(super) async fn place_sell(&mut self, sell: SellIntent) -> Result<Option<Event>, Failure> {
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
            side: Side::Sell,
            price: sell.price,
            quantity: sell.quantity,
            payment_details: vec![PaymentDetail {
                amount: sell.quantity,
                payment_wallet_type: WalletType::Alpha,
            }],
            order_type: Some("LIMIT".into()),
        };
        let now = self.now();
        let answer = self.rest.place_order(&req).await;
        let outcome = if answer.is_ok() { "placed" } else { "refused" };
        metrics::counter!(meters::ORDERS, "kind" => "sell", "outcome" => outcome).increment(1);
        match answer {
            Ok(order_id) => {
                self.expect_report();
                let x = order_id.clone();
                let o = self
                    .db(move |c| store::orders::set_placed(c, row, &x, StoredStatus::New, now))
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
                    "trading.order.id" => &order_id, "trading.order.price" => sell.price.to_string(), "trading.order.quantity" => sell.quantity.to_string());
                self.store_status(&order_id).await?;
                Ok(Some(Event::SellPlaced {
                    intent_id: sell.id,
                    order_id,
                }))
            }
            Err(e) => {
                // An unknown outcome stays UNKNOWN in the store; the next start reconciles it.
                let status = if e.outcome_unknown() {
                    StoredStatus::Unknown
                } else {
                    StoredStatus::Rejected
                };
                warn!(self.log, "leftover sale not placed"; fields::EVENT_ACTION => "order-place",
                    fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
                self.after_error(&e);
                self.db(move |c| {
                    store::orders::update_status(c, row, status, Decimal::ZERO, Decimal::ZERO, now)
                })
                .await?;
                Ok(Some(Event::SellRefused { intent_id: sell.id }))
            }
        }
    }
}
