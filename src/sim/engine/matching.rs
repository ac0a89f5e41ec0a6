//! Matching: a new order against the book (another account's resting order first, at its
//! price), resting orders as the market moves, fills piece by piece with fees and volume, and
//! an OTO's pending leg going live when its working leg fills.

use super::*;

impl Engine {
    /// Fills an order at once when it crosses the book (taker), at the book's price.
    pub(super) fn match_taker(&mut self, id: u64, now: i64) {
        if self.cfg.matching != Matching::Continuous {
            // Orders wait for the next auction; a pending leg the market holds waits out its
            // hold first.
            if let FillMode::AtOnce { hold_ms } = self.cfg.fill
                && hold_ms > 0
                && self
                    .orders
                    .get(&id)
                    .is_some_and(|o| o.leg == Some(Leg::Pending))
            {
                let held = hold_ms / 2 + self.rng.below(hold_ms + 1);
                self.due
                    .insert((now.saturating_add(i64::try_from(held).unwrap_or(0)), id));
            }
            return;
        }
        // One book for every account: a resting order of another account that the new one
        // reaches trades first, at its own price.
        if self.match_accounts(id, now) {
            return;
        }
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        if !matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled) {
            return;
        }
        let Ok(t) = self.token_index(&o.alpha_id) else {
            return;
        };
        if let FillMode::AtOnce { hold_ms } = self.cfg.fill {
            let price = o.price;
            if hold_ms > 0 && o.leg == Some(Leg::Pending) {
                let held = hold_ms / 2 + self.rng.below(hold_ms + 1);
                self.due
                    .insert((now.saturating_add(i64::try_from(held).unwrap_or(0)), id));
            } else {
                self.fill(id, price, false, now);
            }
            return;
        }
        let (bid, ask) = (self.tokens[t].bid(), self.tokens[t].ask());
        let at = match o.side {
            Side::Buy if o.price >= ask => Some(ask),
            Side::Sell if o.price <= bid => Some(bid),
            _ => None,
        };
        if let Some(price) = at {
            self.fill(id, price, false, now);
        }
    }

    /// Matches a live order against the resting orders of other accounts on its token that it
    /// crosses, best price first, each trade at the resting order's price; answers whether the
    /// order was filled whole. Every such trade is between two sessions handed to the daemon,
    /// which must never happen (wash trading): a `cross_account_match` violation.
    fn match_accounts(&mut self, id: u64, now: i64) -> bool {
        let live = |o: &Order| matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled);
        loop {
            let Some(taker) = self.orders.get(&id).filter(|o| live(o)) else {
                return true;
            };
            let (account, side, price, alpha) = (
                taker.account,
                taker.side,
                taker.price,
                taker.alpha_id.clone(),
            );
            let left = taker.orig_qty - taker.executed_qty;
            let best = self
                .open
                .iter()
                .filter(|(a, _)| **a != account)
                .flat_map(|(_, ids)| ids.iter())
                .filter_map(|i| self.orders.get(i))
                .filter(|o| live(o) && o.alpha_id == alpha && o.side != side)
                .filter(|o| match side {
                    Side::Buy => o.price <= price,
                    Side::Sell => o.price >= price,
                })
                .min_by_key(|o| {
                    let rank = match side {
                        Side::Buy => o.price,
                        Side::Sell => -o.price,
                    };
                    (rank, o.created_ms, o.id)
                })
                .map(|o| (o.id, o.account, o.price, o.orig_qty - o.executed_qty));
            let Some((maker, maker_account, at, maker_left)) = best else {
                return false;
            };
            let qty = left.min(maker_left);
            let Ok(t) = self.token_index(&alpha) else {
                return false;
            };
            let trade_id = self.tokens[t].next_trade_id;
            self.tokens[t].next_trade_id += 1;
            self.violations.push(Violation {
                kind: "cross_account_match",
                account,
                detail: format!(
                    "order {id} of account {account} traded {qty} at {at} with order {maker} of account {maker_account}"
                ),
                at_ms: now,
            });
            let (maker_done, taker_done) = (qty >= maker_left, qty >= left);
            let (them, us) = (Some(account), Some(maker_account));
            self.fill_piece(maker, at, qty, trade_id, true, maker_done, them, now);
            self.fill_piece(id, at, qty, trade_id, false, taker_done, us, now);
        }
    }

    /// `FillMode::AtOnce`: fills the held pending legs whose time has come.
    pub fn fill_due(&mut self, now: i64) {
        if self.cfg.matching != Matching::Continuous {
            return;
        }
        while let Some(&(at, id)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            let live = self
                .orders
                .get(&id)
                .filter(|o| matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled));
            if let Some(price) = live.map(|o| o.price) {
                self.fill(id, price, true, now);
            }
        }
    }

    /// `FillMode::AtOnce`: every held pending leg becomes due now (a benchmark's end, so the
    /// accounts can stop at rest without waiting out long holds).
    pub fn release_held(&mut self, now: i64) {
        let held = std::mem::take(&mut self.due);
        self.due = held.into_iter().map(|(at, id)| (at.min(now), id)).collect();
    }

    /// Fills resting orders of token `t` that the market has reached, at their own price.
    pub(super) fn match_resting(&mut self, t: usize, now: i64) {
        if self.cfg.fill != FillMode::Market || self.cfg.matching != Matching::Continuous {
            return;
        }
        let (alpha, bid, ask) = (
            self.tokens[t].alpha_id.clone(),
            self.tokens[t].bid(),
            self.tokens[t].ask(),
        );
        let reached: Vec<(u64, Decimal)> = self
            .open
            .values()
            .flatten()
            .filter_map(|id| self.orders.get(id))
            .filter(|o| {
                o.alpha_id == alpha
                    && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
            })
            .filter(|o| match o.side {
                Side::Buy => o.price >= ask,
                Side::Sell => o.price <= bid,
            })
            .map(|o| (o.id, o.price))
            .collect();
        for (id, price) in reached {
            self.fill(id, price, true, now);
        }
    }

    /// Fills the rest of an order at `price`, in one or more pieces.
    fn fill(&mut self, id: u64, price: Decimal, maker: bool, now: i64) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        let Ok(t) = self.token_index(&o.alpha_id) else {
            return;
        };
        let step = self.tokens[t].precision.step_size;
        let mut remaining = o.orig_qty - o.executed_qty;
        if o.side == Side::Sell && self.accounts.get(&o.account).is_some_and(|a| a.hold_sells) {
            return;
        }
        if o.side == Side::Buy
            && self
                .accounts
                .get(&o.account)
                .is_some_and(|a| a.half_fill_buys)
        {
            let cap = floor_to(o.orig_qty / Decimal::TWO, step);
            remaining = remaining.min(cap - o.executed_qty);
            if remaining <= Decimal::ZERO {
                return;
            }
        }
        let pieces = 1 + self.rng.below(self.cfg.max_pieces.max(1));
        let mut quantities = Vec::new();
        let mut left = remaining;
        for i in 1..pieces {
            let part = floor_to(remaining * Decimal::from(i) / Decimal::from(pieces), step)
                - quantities.iter().copied().sum::<Decimal>();
            if part > Decimal::ZERO && part < left {
                quantities.push(part);
                left -= part;
            }
        }
        quantities.push(left);
        let mut trade_id = self.tokens[t].next_trade_id;
        let count = quantities.len();
        for (i, qty) in quantities.into_iter().enumerate() {
            // As on the real exchange, consecutive pieces sometimes share one trade id.
            if i == 0 || self.rng.chance(0.5) {
                trade_id = self.tokens[t].next_trade_id;
                self.tokens[t].next_trade_id += 1;
            }
            let last = i + 1 == count;
            self.fill_piece(id, price, qty, trade_id, maker, last, None, now);
        }
        if self.cfg.fill != FillMode::Market {
            // Filled where the market did not go (at once, or after a hold). On the real
            // exchange every fill is a trade everyone sees: it is printed, and the market
            // trades back at its own price at once, so the market's price stays the walk's and
            // orders priced off it do not climb with each other's fills.
            self.print(t, price, remaining, now);
            self.trade_print(t, now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn fill_piece(
        &mut self,
        id: u64,
        price: Decimal,
        qty: Decimal,
        trade_id: u64,
        maker: bool,
        last: bool,
        counterparty: Option<u64>,
        now: i64,
    ) {
        let fee_rate = self.cfg.fee_rate;
        let Some(o) = self.orders.get_mut(&id) else {
            return;
        };
        let quote = floor8(price * qty);
        let (account, side, alpha, limit) = (o.account, o.side, o.alpha_id.clone(), o.price);
        o.executed_qty += qty;
        o.cum_quote += quote;
        o.updated_ms = now;
        let done = o.executed_qty >= o.orig_qty;
        o.status = if done {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        let (commission, commission_asset) = match side {
            Side::Buy => (floor8(qty * fee_rate), alpha.clone()),
            Side::Sell => (floor8(quote * fee_rate), QUOTE.to_owned()),
        };
        // Release what this piece had reserved; the last piece releases any rounding rest.
        let release = match side {
            Side::Buy if done => o.lock,
            Side::Buy => floor8(limit * qty).min(o.lock),
            Side::Sell => qty.min(o.lock),
        };
        o.lock -= release;
        if side == Side::Buy {
            o.base_fees += commission;
        }
        if let Some(acct) = self.accounts.get_mut(&account) {
            match side {
                Side::Buy => {
                    acct.balance(QUOTE).locked -= release;
                    acct.balance(QUOTE).free += release - quote;
                    acct.balance(&alpha).free += qty - commission;
                }
                Side::Sell => {
                    acct.balance(&alpha).locked -= release;
                    acct.balance(QUOTE).free += quote - commission;
                }
            }
        }
        let page_id = self.next_page_id;
        self.next_page_id += 1;
        let mul_point = self
            .tokens
            .iter()
            .find(|t| t.alpha_id == alpha)
            .map_or(Decimal::ONE, |t| t.mul_point);
        let fill = Fill {
            mul_point,
            counterparty,
            account,
            order_id: id,
            symbol: format!("{alpha}{QUOTE}"),
            alpha_id: alpha,
            trade_id,
            page_id,
            side,
            price,
            qty,
            quote,
            commission,
            commission_asset,
            // "buyer is maker": a taker sell or a maker buy.
            buyer_maker: (side == Side::Sell) != maker,
            time: now,
            last_trade: last,
        };
        self.report(id, ExecutionType::Trade, Some(&fill), now);
        self.push_fill(fill);
        if done
            && self
                .orders
                .get(&id)
                .is_some_and(|o| o.leg == Some(Leg::Working))
        {
            self.trigger_pending(id, now);
        }
    }

    /// The working leg filled: the pending leg goes live with what was bought, less the base
    /// commission, floored to the step.
    fn trigger_pending(&mut self, working_id: u64, now: i64) {
        let Some(w) = self.orders.get(&working_id) else {
            return;
        };
        let (Some(pid), account, alpha, bought, fees) = (
            w.partner,
            w.account,
            w.alpha_id.clone(),
            w.executed_qty,
            w.base_fees,
        ) else {
            return;
        };
        let Ok(t) = self.token_index(&alpha) else {
            return;
        };
        let step = self.tokens[t].precision.step_size;
        let qty = floor_to(bought - fees, step);
        let locked = qty > Decimal::ZERO && self.lock(account, &alpha, qty).is_ok();
        let Some(p) = self.orders.get_mut(&pid) else {
            return;
        };
        p.updated_ms = now;
        p.working_time = now;
        if locked {
            p.orig_qty = qty;
            p.lock = qty;
            p.status = OrderStatus::New;
            self.report(pid, ExecutionType::New, None, now);
            self.match_taker(pid, now);
        } else {
            p.status = OrderStatus::Expired;
            self.report(pid, ExecutionType::Expired, None, now);
        }
    }
}
