//! Following a live pair by its reports: what each adds (counted once, from cumulative
//! quantities), reports that come before the place answer, and the pair's end.

use super::*;

impl Cycle {
    /// Counts what is new in a report; returns (qty, quote) increases, or None if nothing is.
    pub(super) fn progress(
        &mut self,
        u: &OrderUpdate,
        is_buy: bool,
        out: &mut Vec<Effect>,
    ) -> Option<(Decimal, Decimal)> {
        let (qty, quote) = self.seen.get(&u.order_id).copied().unwrap_or_default();
        if u.cum_qty <= qty {
            return None;
        }
        let delta = (u.cum_qty - qty, (u.cum_quote - quote).max(Decimal::ZERO));
        self.seen
            .insert(u.order_id.clone(), (u.cum_qty, u.cum_quote.max(quote)));
        out.push(Effect::RecordFill {
            order_id: u.order_id.clone(),
            is_buy,
            qty: delta.0,
            quote: delta.1,
        });
        if is_buy {
            self.volume.add_buy(delta.1, self.cfg.mul_point);
        }
        Some(delta)
    }

    pub(super) fn keep_early(&mut self, u: OrderUpdate) {
        if self.early.len() >= EARLY_KEPT {
            self.early.remove(0);
        }
        self.early.push(u);
    }

    pub(super) fn report(&mut self, u: OrderUpdate, now: i64, out: &mut Vec<Effect>) {
        if let Some(&is_buy) = self.ended.get(&u.order_id) {
            // A late report of an ended pair: its fill still counts, the state does not move.
            self.progress(&u, is_buy, out);
            return;
        }
        let (mut pair, cancelling) = match &self.state {
            State::Working { pair } | State::Pending { pair } => (pair.clone(), None),
            State::Cancelling { pair, target } => (pair.clone(), Some(target.clone())),
            State::Liquidating {
                sell: Some((_, Some(id))),
                ..
            } if *id == u.order_id => {
                self.liquidation_report(u, now, out);
                return;
            }
            _ => {
                self.keep_early(u);
                return;
            }
        };
        let final_status = matches!(u.status, LegStatus::Filled | LegStatus::Dead);
        if u.order_id == pair.working_id {
            if let Some((q, _)) = self.progress(&u, true, out) {
                pair.bought += q;
            }
            pair.working_done |= final_status;
        } else if u.order_id == pair.pending_id {
            if let Some((q, _)) = self.progress(&u, false, out) {
                pair.sold += q;
            }
            pair.pending_done |= final_status;
        } else {
            self.keep_early(u);
            return;
        }
        let working_filled = pair.bought >= pair.intent.quantity;
        let timed_out = cancelling.is_some();
        if pair.pending_done && working_filled {
            let outcome =
                if pair.sold > Decimal::ZERO && !timed_out && u.status == LegStatus::Filled {
                    Outcome::Filled
                } else {
                    Outcome::TimedOut
                };
            self.finish(pair, outcome, now, out);
        } else if pair.working_done && !working_filled {
            // The working leg died part-way (cancelled by us or by the exchange): the pending
            // leg dies with it; whatever was bought is sold down the ladder.
            let outcome = if pair.bought.is_zero() {
                Outcome::Cancelled
            } else {
                Outcome::TimedOut
            };
            self.finish(pair, outcome, now, out);
        } else if working_filled && cancelling.as_deref().is_none_or(|t| t == pair.working_id) {
            // Filled (perhaps just as its cancel went out): the pending leg is live now.
            if !matches!(self.state, State::Pending { .. }) {
                pair.since_ms = now;
            }
            self.state = State::Pending { pair };
        } else if let Some(target) = cancelling {
            self.state = State::Cancelling { pair, target };
        } else {
            self.state = State::Working { pair };
        }
    }

    /// Remembers an ended order for its late reports, forgetting the oldest beyond
    /// [`ENDED_KEPT`].
    pub(super) fn retire(&mut self, order_id: &str, is_buy: bool) {
        if order_id.is_empty() || self.ended.insert(order_id.to_owned(), is_buy).is_some() {
            return;
        }
        self.ended_order.push_back(order_id.to_owned());
        while self.ended_order.len() > ENDED_KEPT {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
                self.seen.remove(&old);
            }
        }
    }

    /// Ends a pair: leftovers go to the ladder, then the cycle closes.
    pub(super) fn finish(&mut self, pair: Pair, outcome: Outcome, now: i64, out: &mut Vec<Effect>) {
        self.retire(&pair.working_id, true);
        self.retire(&pair.pending_id, false);
        let step = self
            .last_market
            .map(|m| m.grid.step_size)
            .unwrap_or(Decimal::ZERO);
        let leftover = floor_to(pair.bought - pair.sold, step);
        let min = self
            .last_market
            .map(|m| m.grid.min_qty)
            .unwrap_or(Decimal::ONE);
        if outcome != Outcome::Filled && leftover >= min && leftover > Decimal::ZERO {
            self.state = State::Liquidating {
                intent_id: pair.intent.id.clone(),
                quantity: leftover,
                step: 0,
                sell: None,
                since_ms: now,
            };
            out.push(Effect::CloseCycle {
                intent_id: pair.intent.id,
                outcome,
            });
            self.sell_step(now, out);
            return;
        }
        self.state = State::Idle;
        out.push(Effect::CloseCycle {
            intent_id: pair.intent.id,
            outcome,
        });
        self.tick(now, out);
    }
}
