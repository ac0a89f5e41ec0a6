//! Writes kept back for the account's next unit of work.
//!
//! A fill or a pair's close need not be durable before the account acts on it: nothing is sent
//! on their strength, and what a crash loses of them the reconciliation reads back from the
//! exchange (trade list, order statuses). So they are not written one unit each, each waiting
//! for its commit, but kept here and carried by the next unit the account runs: the next
//! pair's intent, which must be durable before its request leaves, or the flush
//! [`FLUSH_AFTER`] the first of them was kept (and at every stop). Every store access of the account goes through [`Actor::db`], so the rows
//! are written in the order the account decided them.

use super::*;

/// At most this many writes wait; one more and they are written at once.
const MAX_KEPT: usize = 32;
/// The longest a write waits for a unit to join: long enough to gather what a placement
/// brings (the ids, the working leg's fills and statuses) into one commit, short enough that
/// the API's views lag the account by no more than this.
pub(super) const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// A write that waits for the next unit of work.
#[derive(Debug)]
pub(super) enum Later {
    Execution(ExecutionWrite),
    Close(fills::CloseWrite),
    /// An order's latest status and cumulative fill.
    Status {
        row: i64,
        status: OrderStatus,
        qty: Decimal,
        quote: Decimal,
        now_ms: i64,
    },
    /// The exchange's ids of a placed pair.
    Placed {
        cycle_id: i64,
        working: String,
        pending: String,
        now_ms: i64,
    },
}

/// One step of an order's execution: its new pieces, the order's status and cumulative fill,
/// and the pair's progress.
#[derive(Debug)]
pub(super) struct ExecutionWrite {
    pub(super) fills: Vec<NewFill>,
    /// Each fill's fee in USDT (today's cost counts it).
    pub(super) fees_usdt: Vec<Decimal>,
    pub(super) order_row: i64,
    pub(super) status: OrderStatus,
    pub(super) filled_qty: Decimal,
    pub(super) filled_quote: Decimal,
    pub(super) progress: Option<(i64, CycleProgress)>,
    pub(super) now_ms: i64,
}

/// What applying a write found: for an execution, which fills were new.
type Applied = Vec<Option<Vec<bool>>>;

fn apply_all(c: &mut store::Conn, later: &[Later]) -> Result<Applied, StoreError> {
    later
        .iter()
        .map(|w| match w {
            Later::Execution(x) => store::fills::record_execution(
                c,
                &store::fills::Execution {
                    fills: &x.fills,
                    order_id: x.order_row,
                    status: x.status,
                    filled_qty: x.filled_qty,
                    filled_quote: x.filled_quote,
                    progress: x.progress.as_ref().map(|(id, p)| (*id, p)),
                    now_ms: x.now_ms,
                },
            )
            .map(Some),
            Later::Close(w) => w.apply(c).map(|()| None),
            Later::Status {
                row,
                status,
                qty,
                quote,
                now_ms,
            } => store::orders::update_status(c, *row, *status, *qty, *quote, *now_ms).map(|_| None),
            Later::Placed {
                cycle_id,
                working,
                pending,
                now_ms,
            } => store::cycles::set_exchange_ids(c, *cycle_id, working, pending, None, *now_ms)
                .map(|_| None),
        })
        .collect()
}

/// A unit of work with the kept writes in front, all in one transaction. `f` runs in a
/// savepoint of its own: when it fails, the kept writes still commit.
pub(super) type WithLater<T> = (Vec<Later>, Applied, Result<T, StoreError>);

impl Actor {
    /// Runs `f` as one unit of work, after the writes kept back for it.
    pub(super) async fn db<T, F>(&mut self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut store::Conn) -> Result<T, StoreError> + Send + 'static,
    {
        if self.later.is_empty() {
            return self.ctx.store.run(f).await;
        }
        let unit = self.with_later(f);
        let done = self.ctx.store.run(unit).await;
        self.settle(done)
    }

    /// The unit of work that writes what was kept back, then runs `f`. Hand its answer to
    /// [`Actor::settle`].
    pub(super) fn with_later<T, F>(
        &mut self,
        f: F,
    ) -> impl FnOnce(&mut store::Conn) -> Result<WithLater<T>, StoreError> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&mut store::Conn) -> Result<T, StoreError> + Send + 'static,
    {
        let later = std::mem::take(&mut self.later);
        self.flush_due = None;
        move |c| {
            store::atomic(c, |c| {
                let applied = apply_all(c, &later)?;
                let r = store::atomic(c, f);
                Ok((later, applied, r))
            })
        }
    }

    /// Takes in what a unit of [`Actor::with_later`] found: fills the store had already
    /// (a replay after a restart) are taken back out of today's count.
    pub(super) fn settle<T>(
        &mut self,
        done: Result<WithLater<T>, StoreError>,
    ) -> Result<T, StoreError> {
        let (later, applied, r) = done?;
        for (w, fresh) in later.iter().zip(applied) {
            let (Later::Execution(x), Some(fresh)) = (w, fresh) else {
                continue;
            };
            for ((f, fee), fresh) in x.fills.iter().zip(&x.fees_usdt).zip(fresh) {
                if fresh {
                    // Telemetry only (a float is fine there): the books stay in exact decimals.
                    let side = if f.side == Side::Buy { "buy" } else { "sell" };
                    metrics::gauge!(meters::TRADED_USDT, "side" => side)
                        .increment(f64::try_from(f.quote_qty).unwrap_or(0.0));
                } else {
                    self.uncount(f, *fee);
                }
            }
        }
        r
    }

    /// Keeps a write for the next unit; writes everything at once when too much waits.
    pub(super) async fn keep(&mut self, w: Later) -> Result<(), Failure> {
        if let Later::Execution(x) = &w {
            for (f, fee) in x.fills.iter().zip(&x.fees_usdt) {
                self.count(f, *fee);
            }
        }
        self.later.push(w);
        self.flush_due
            .get_or_insert_with(|| Instant::now() + FLUSH_AFTER);
        if self.later.len() >= MAX_KEPT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what was kept back, in a unit of its own.
    pub(super) async fn flush(&mut self) -> Result<(), Failure> {
        if !self.later.is_empty() {
            self.db(|_| Ok(())).await?;
        }
        Ok(())
    }

    fn count(&mut self, f: &NewFill, fee_usdt: Decimal) {
        match f.side {
            Side::Buy => self.today.buy_quote += f.quote_qty,
            Side::Sell => self.today.sell_quote += f.quote_qty,
        }
        self.today.quote += f.quote_qty;
        self.today.fees_usdt += fee_usdt;
        self.today.trades += 1;
    }

    fn uncount(&mut self, f: &NewFill, fee_usdt: Decimal) {
        match f.side {
            Side::Buy => self.today.buy_quote -= f.quote_qty,
            Side::Sell => self.today.sell_quote -= f.quote_qty,
        }
        self.today.quote -= f.quote_qty;
        self.today.fees_usdt -= fee_usdt;
        self.today.trades -= 1;
    }
}
