//! Selling leftovers down the ladder: each step's sale, and what its reports mean.

use super::*;

impl Cycle {
    /// Places the ladder's current step, or reports what could not be sold.
    pub(super) fn sell_step(&mut self, now: i64, out: &mut Vec<Effect>) {
        let State::Liquidating {
            quantity,
            step,
            sell,
            ..
        } = &self.state
        else {
            return;
        };
        let (quantity, step, pending_sell) = (*quantity, *step, sell.clone());
        if pending_sell.is_some_and(|(_, id)| id.is_none()) {
            return;
        }
        let pct = self.cfg.ladder_pct.get(step).copied();
        let market = self.last_market;
        let (Some(pct), Some(m)) = (pct, market) else {
            self.state = State::Idle;
            out.push(Effect::Unsold { quantity });
            self.tick(now, out);
            return;
        };
        let price = floor_to(
            m.last_price * (Decimal::ONE - pct / Decimal::ONE_HUNDRED),
            m.grid.tick_size,
        );
        let sell = SellIntent {
            id: self.intent_id(now, "s"),
            price,
            quantity,
        };
        out.push(Effect::PersistSell(sell.clone()));
        out.push(Effect::PlaceSell(sell.clone()));
        if let State::Liquidating {
            sell: slot,
            since_ms,
            ..
        } = &mut self.state
        {
            *slot = Some((sell, None));
            *since_ms = now;
        }
    }

    pub(super) fn liquidation_report(&mut self, u: OrderUpdate, now: i64, out: &mut Vec<Effect>) {
        let sold = self
            .progress(&u, false, out)
            .map(|(q, _)| q)
            .unwrap_or_default();
        if matches!(u.status, LegStatus::Filled | LegStatus::Dead) {
            // A repeated or late report of the sale still counts, and moves nothing.
            self.retire(&u.order_id, false);
        }
        let State::Liquidating {
            quantity,
            step,
            sell,
            ..
        } = &mut self.state
        else {
            return;
        };
        *quantity -= sold;
        match u.status {
            LegStatus::Filled => {
                self.state = State::Idle;
                self.tick(now, out);
            }
            LegStatus::Dead => {
                *step += 1;
                *sell = None;
                if *quantity <= Decimal::ZERO {
                    self.state = State::Idle;
                    self.tick(now, out);
                } else {
                    self.sell_step(now, out);
                }
            }
            _ => {}
        }
    }
}
