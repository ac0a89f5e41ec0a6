//! Following orders: reports, statuses, fills stored piece by piece, pairs closed.

use super::*;

impl Actor {
    pub(super) async fn on_report(&mut self, r: ExecutionReport) -> Result<(), Failure> {
        if r.symbol != self.token.order_symbol {
            return Ok(());
        }
        // How old a report is when the account acts on it (exchange clock to ours).
        let age_ms = (self.now() - r.event_time).max(0);
        metrics::histogram!(meters::EVENT_AGE_SECONDS).record(age_ms as f64 / 1000.0);
        if r.is_trade() {
            if self.details.len() > 4096 {
                // Reports of orders that never became ours: forget them.
                self.details.retain(|x, _| self.orders.contains_key(x));
            }
            self.details
                .entry(r.order_id.clone())
                .or_default()
                .push(TradeDetail {
                    cum_qty: r.cum_qty,
                    last_qty: r.last_qty,
                    trade_id: r.trade_id.clone(),
                    price: r.last_price,
                    fee: r.commission.unwrap_or_default(),
                    fee_asset: r.commission_asset.clone().unwrap_or_default(),
                    at_ms: r.transaction_time,
                });
        }
        self.statuses.insert(r.order_id.clone(), r.status);
        let update = exchange_view::Seen {
            order: crate::domain::reconcile::ExchangeOrder {
                order_id: r.order_id.clone(),
                list_id: r.order_list_id.clone(),
                order_symbol: r.symbol.clone(),
                is_buy: r.side == Side::Buy,
                price: r.price,
                orig_qty: r.qty,
                time_ms: r.transaction_time,
                position: crate::domain::reconcile::Position::None,
            },
            status: r.status,
            cum_qty: r.cum_qty,
            cum_quote: r.cum_quote,
        }
        .update();
        let ours = self.orders.contains_key(&r.order_id);
        self.event(Event::Report(update)).await?;
        if ours {
            self.heard_report();
        }
        self.read_balance_ahead();
        self.store_status(&r.order_id).await?;
        if r.status.is_final() && self.orders.contains_key(&r.order_id) {
            self.details.remove(&r.order_id);
        }
        Ok(())
    }

    /// Writes an order's latest known status to its row.
    pub(super) async fn store_status(&mut self, exchange_id: &str) -> Result<(), Failure> {
        let (Some(o), Some(st)) = (self.orders.get(exchange_id), self.statuses.get(exchange_id))
        else {
            return Ok(());
        };
        if self.deferred.iter().any(|d| d.order_id == exchange_id) {
            // A part of its fill waits to be written: a final status now would show the order
            // ended with less filled than it was. The status follows the part.
            return Ok(());
        }
        let (row, cycle, status) = (o.row, o.cycle_id, StoredStatus::from(*st));
        let (qty, quote) = self.filled.get(exchange_id).copied().unwrap_or_default();
        let now = self.now();
        // Most reports repeat what the row already says (a fill's own write carries its
        // status): one write fewer on the path from a fill to the next pair.
        if self.written.get(exchange_id) != Some(&(status, qty, quote)) {
            self.keep(write_behind::Later::Status {
                row,
                status,
                qty,
                quote,
                now_ms: now,
            })
            .await?;
        }

        if status.is_terminal() {
            self.open_legs.remove(exchange_id);
            self.statuses.remove(exchange_id);
            self.written.remove(exchange_id);
            // A leg of an ended pair is forgotten once its end is stored: `close_cycle` keeps
            // the legs whose end it has not stored yet (the report that ends a pair is stored
            // after its close), and nothing else would drop them, so the maps grew by a leg a
            // pair, and every close walked them all. Late reports find it in the store.
            let live = self.live.as_ref().map(|l| l.cycle_id);
            if cycle.is_some() && cycle != live {
                self.orders.remove(exchange_id);
                self.filled.remove(exchange_id);
            }
        } else {
            self.written
                .insert(exchange_id.to_owned(), (status, qty, quote));
        }
        Ok(())
    }

    /// Stores the new part of an order's execution, piece by piece, each exactly once. The
    /// pieces come from the stream's reports; what the stream did not carry (a crash, a lost
    /// answer) is asked of the exchange's trade list, so the store matches it fill for fill.
    /// When the list cannot be had yet, the part waits (in order, per order) and is tried again
    /// on the next ticks; only after many failures is it stored as one piece, so no fill is ever
    /// lost.
    pub(super) async fn record_fill(
        &mut self,
        order_id: &str,
        qty: Decimal,
        quote: Decimal,
    ) -> Result<(), Failure> {
        if !self.orders.contains_key(order_id) {
            warn!(self.log, "fill of an order the store does not know"; "trading.order.id" => order_id);
            return Ok(());
        }
        // An earlier part of this order still waits: this one queues behind it.
        if let Some(d) = self.deferred.iter_mut().find(|d| d.order_id == order_id) {
            d.qty += qty;
            d.quote += quote;
            return Ok(());
        }
        let (before, _) = self.filled.get(order_id).copied().unwrap_or_default();
        let reported = self
            .details
            .get(order_id)
            .and_then(|all| fill_pieces::from_reports(all, before, qty, quote));
        let pieces = match reported {
            Some(piece) => Some(vec![piece]),
            None => self.pieces_from_exchange(order_id, before, qty).await,
        };
        match pieces {
            Some(pieces) => self.write_pieces(order_id, qty, quote, pieces).await,
            None => {
                self.deferred.push(Deferred {
                    order_id: order_id.to_owned(),
                    qty,
                    quote,
                    attempts: 1,
                });
                Ok(())
            }
        }
    }

    /// What the account knows of an order's fill: what is written and what waits to be.
    pub(super) fn known_fill(&self, order_id: &str) -> (Decimal, Decimal) {
        let (mut qty, mut quote) = self.filled.get(order_id).copied().unwrap_or_default();
        for d in self.deferred.iter().filter(|d| d.order_id == order_id) {
            qty += d.qty;
            quote += d.quote;
        }
        (qty, quote)
    }

    /// Tries the waiting parts again (each tick).
    pub(super) async fn retry_deferred(&mut self) -> Result<(), Failure> {
        let mut waiting = std::mem::take(&mut self.deferred).into_iter();
        while let Some(d) = waiting.next() {
            let order_id = d.order_id.clone();
            if let Err(e) = self.retry_one(d).await {
                // What was not tried yet still waits (the actor's restart reads it back).
                self.deferred.extend(waiting);
                return Err(e);
            }
            // The status held back for the part goes now, when it was the last.
            if !self.deferred.iter().any(|d| d.order_id == order_id) {
                self.store_status(&order_id).await?;
            }
        }
        Ok(())
    }

    /// Tries one waiting part again; puts it back when the exchange still cannot tell.
    async fn retry_one(&mut self, mut d: Deferred) -> Result<(), Failure> {
        let (before, _) = self.filled.get(&d.order_id).copied().unwrap_or_default();
        match self.pieces_from_exchange(&d.order_id, before, d.qty).await {
            Some(p) => self.write_pieces(&d.order_id, d.qty, d.quote, p).await?,
            None if fill_pieces::give_up(d.attempts) => {
                warn!(self.log, "the exchange's trade list does not show the fill; storing it as one piece";
                        "trading.order.id" => &d.order_id, "trading.order.cum_qty" => (before + d.qty).to_string());
                let piece = fill_pieces::one_piece(before, d.qty, d.quote, self.now());
                self.write_pieces(&d.order_id, d.qty, d.quote, vec![piece])
                    .await?;
            }
            None => {
                d.attempts += 1;
                self.deferred.push(d);
            }
        }
        Ok(())
    }

    /// Writes pieces that together make the next `qty` (and `quote`) of an order.
    async fn write_pieces(
        &mut self,
        order_id: &str,
        qty: Decimal,
        quote: Decimal,
        pieces: Vec<Piece>,
    ) -> Result<(), Failure> {
        let Some(o) = self.orders.get(order_id).cloned() else {
            return Ok(());
        };
        let (before_qty, before_quote) = self.filled.get(order_id).copied().unwrap_or_default();
        let (cum_qty, cum_quote) = (before_qty + qty, before_quote + quote);
        let now = self.now();
        let status = if cum_qty >= o.orig_qty {
            StoredStatus::Filled
        } else {
            StoredStatus::PartiallyFilled
        };
        let fills: Vec<(NewFill, Decimal)> = pieces
            .iter()
            .map(|p| {
                let d = &p.detail;
                let fee_usdt = fill_pieces::fee_usdt(d);
                let fill = NewFill {
                    account_id: self.account.id,
                    order_id: o.row,
                    exchange_order_id: order_id.to_owned(),
                    trade_id: d.trade_id.clone(),
                    cum_qty: d.cum_qty,
                    side: o.side,
                    price: d.price,
                    qty: p.qty,
                    quote_qty: p.quote,
                    fee: d.fee,
                    fee_asset: d.fee_asset.clone(),
                    traded_at_ms: d.at_ms.min(now),
                    recorded_at_ms: now,
                };
                (fill, fee_usdt)
            })
            .collect();
        let fees_usdt: Decimal = fills.iter().map(|(_, f)| *f).sum();
        let mut progress = None;
        if let Some(l) = &mut self.live
            && o.cycle_id == Some(l.cycle_id)
        {
            let p = &mut l.progress;
            match o.side {
                Side::Buy => {
                    p.bought_qty += qty;
                    p.volume_usdt += quote;
                }
                Side::Sell => p.sold_qty += qty,
            }
            p.fees_usdt += fees_usdt;
            progress = Some((l.cycle_id, p.clone()));
        }
        let (new_fills, fees): (Vec<NewFill>, Vec<Decimal>) = fills.into_iter().unzip();
        self.filled
            .insert(order_id.to_owned(), (cum_qty, cum_quote));
        if self.written.len() > 1024 {
            // Entries of orders that ended without a report of it: forgetting them costs at
            // most one repeated write each.
            self.written.clear();
        }
        self.written
            .insert(order_id.to_owned(), (status, cum_qty, cum_quote));
        self.keep(write_behind::Later::Execution(
            write_behind::ExecutionWrite {
                fills: new_fills,
                fees_usdt: fees,
                order_row: o.row,
                status,
                filled_qty: cum_qty,
                filled_quote: cum_quote,
                progress,
                now_ms: now,
            },
        ))
        .await
    }

    /// The exchange's trades of an order that make up the part from `before` of `qty`
    /// (`fill_pieces::from_trade_list`); None while the list cannot be had or does not show
    /// the whole part.
    pub(super) async fn pieces_from_exchange(
        &self,
        order_id: &str,
        before: Decimal,
        qty: Decimal,
    ) -> Option<Vec<Piece>> {
        self.ctx
            .governor
            .acquire(self.account.id, Purpose::Query)
            .await;
        let trades = self
            .rest
            .user_trades(order_id, &self.token.order_symbol)
            .await
            .ok()?;
        let listed = trades
            .into_iter()
            .filter(|t| t.order_id == order_id)
            .map(|t| fill_pieces::ListedTrade {
                seq: t.id.parse().ok(),
                page: t.page_id.as_deref().and_then(|p| p.parse().ok()),
                trade_id: t.trade_id,
                qty: t.qty,
                quote: t.quote_qty,
                price: t.price,
                fee: t.commission,
                fee_asset: t.commission_asset,
                at_ms: t.time,
            })
            .collect();
        fill_pieces::from_trade_list(listed, before, qty)
    }

    pub(super) async fn close_cycle(
        &mut self,
        intent_id: &str,
        outcome: Outcome,
    ) -> Result<(), Failure> {
        let Some(live) = self.live.clone().filter(|l| l.intent_id == intent_id) else {
            return Ok(());
        };
        let now = self.now();
        let mut p = live.progress.clone();
        p.state = CycleState::Closed;
        let cycle_id = live.cycle_id;
        let write = CloseWrite {
            cycle_id,
            outcome,
            progress: p,
            not_placed: outcome == Outcome::NotPlaced,
            now,
        };
        // Kept for the next unit: the next pair's intent when one follows at once, so a pair's
        // last fill, its close and the next intent cost one commit. Until then the store still
        // shows the pair open, which a restart would reconcile.
        self.keep(write_behind::Later::Close(write)).await?;
        self.live = None;
        self.last_cycle_id = Some(cycle_id);
        if outcome != Outcome::Filled
            && let Some(read) = self.balance_read.take()
        {
            // Only a pair that sold what it bought leaves the balance the read saw, or more.
            read.task.abort();
        }
        if outcome == Outcome::Filled {
            self.cycles_today += 1;
        }
        let left_tokens = outcome == Outcome::TimedOut;
        let waiting = !self.deferred.is_empty();
        self.shown_cost
            .pair_closed(left_tokens, waiting, self.today.cost_bps());
        self.shown_cost_usdt
            .pair_closed(left_tokens, waiting, Some(self.today.cost()));
        metrics::counter!(meters::CYCLES, "outcome" => outcome.as_str()).increment(1);
        if outcome == Outcome::Filled {
            // The next place request's delay from here is the reaction time.
            self.pair_done_at = Some(Instant::now());
        }
        info!(self.log, "pair closed"; fields::EVENT_ACTION => "cycle-close", "trading.cycle.outcome" => outcome.as_str(),
            "trading.cycle.id" => cycle_id, "trading.volume_today" => self.core.cycle().volume.real.to_string());
        // Orders of ended pairs are forgotten once final; late reports find them in the store.
        let ended = Instant::now();
        for (x, o) in &self.orders {
            if o.cycle_id == Some(cycle_id)
                && let Some(leg) = self.open_legs.get_mut(x)
            {
                leg.ended.get_or_insert(ended);
                self.settle_next
                    .get_or_insert((ended + SETTLE_AFTER, SETTLE_AFTER));
            }
        }
        let orders = std::mem::take(&mut self.orders);
        self.orders = orders
            .into_iter()
            .filter(|(x, o)| {
                o.cycle_id != Some(cycle_id)
                    || self.statuses.contains_key(x)
                    || self.open_legs.contains_key(x)
                    || self.deferred.iter().any(|d| d.order_id == **x)
            })
            .collect();
        let keep: HashSet<&String> = self.orders.keys().collect();
        self.filled.retain(|x, _| keep.contains(x));
        Ok(())
    }
}

/// A pair's closing write, kept for the next unit of work when an intent follows.
#[derive(Debug, Clone)]
pub(super) struct CloseWrite {
    pub(super) cycle_id: i64,
    outcome: Outcome,
    progress: CycleProgress,
    pub(super) not_placed: bool,
    now: i64,
}

impl CloseWrite {
    /// Runs among the kept writes (`write_behind`), in a transaction any error undoes whole.
    pub(super) fn apply(&self, c: &mut store::Conn) -> Result<(), StoreError> {
        if self.not_placed {
            for o in store::orders::for_cycle(c, self.cycle_id)? {
                if !o.status.is_terminal() {
                    let rejected = store::orders::OrderProgress {
                        status: StoredStatus::Rejected,
                        filled_qty: o.filled_qty,
                        filled_quote: o.filled_quote,
                        now_ms: self.now,
                    };
                    store::orders::update_status_as(c, store::Tx::Enclosing, o.id, rejected)?;
                }
            }
        }
        store::cycles::mark_closed(c, self.cycle_id, self.outcome, &self.progress, self.now)
            .map(|_| ())
    }
}
