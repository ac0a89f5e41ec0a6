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
        status: StoredStatus,
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
    pub(super) status: StoredStatus,
    pub(super) filled_qty: Decimal,
    pub(super) filled_quote: Decimal,
    pub(super) progress: Option<(i64, CycleProgress)>,
    pub(super) now_ms: i64,
}

/// What applying a write found: for an execution, which fills were new.
type Applied = Vec<Option<Vec<bool>>>;

/// Runs inside the unit's transaction, which any error undoes whole: no write needs a
/// savepoint of its own (`store::Tx::Enclosing`).
fn apply_all(c: &mut store::Conn, later: &[Later]) -> Result<Applied, StoreError> {
    use store::Tx::Enclosing;
    later
        .iter()
        .map(|w| match w {
            Later::Execution(x) => store::fills::record_execution_as(
                c,
                Enclosing,
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
            } => {
                let progress = store::orders::OrderProgress {
                    status: *status,
                    filled_qty: *qty,
                    filled_quote: *quote,
                    now_ms: *now_ms,
                };
                store::orders::update_status_as(c, Enclosing, *row, progress).map(|()| None)
            }
            Later::Placed {
                cycle_id,
                working,
                pending,
                now_ms,
            } => {
                let ids = store::cycles::PairIds {
                    working,
                    pending,
                    list: None,
                };
                store::cycles::set_exchange_ids_as(c, Enclosing, *cycle_id, ids, *now_ms)
                    .map(|()| None)
            }
        })
        .collect()
}

/// The unit: `later` then `f`, in one transaction, `f` in a savepoint of its own.
fn unit_of<T, F>(
    later: Vec<Later>,
    f: F,
) -> impl FnOnce(&mut store::Conn) -> Result<WithLater<T>, StoreError> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce(&mut store::Conn) -> Result<T, StoreError> + Send + 'static,
{
    move |c| {
        store::atomic(c, |c| {
            let applied = apply_all(c, &later)?;
            let r = store::atomic(c, f);
            Ok((later, applied, r))
        })
    }
}

/// Drops the writes that a later one makes redundant, so a unit runs fewer statements: an open
/// status that a later status or execution of the same order overwrites, a status folded into
/// the execution just before it, and a pair's progress that a later one (or its close)
/// replaces. Progress and statuses are cumulative, so the last one alone is the truth.
fn compact(later: &mut Vec<Later>) {
    let row_of = |w: &Later| match w {
        Later::Execution(x) => Some(x.order_row),
        Later::Status { row, .. } => Some(*row),
        _ => None,
    };
    let cycle_of = |w: &Later| match w {
        Later::Execution(x) => x.progress.as_ref().map(|(id, _)| *id),
        Later::Close(c) => Some(c.cycle_id),
        _ => None,
    };
    let mut keep = vec![true; later.len()];
    for i in 0..later.len() {
        // Placements and closes of unplaced pairs write order rows by cycle: nothing moves
        // across them.
        let barrier = |w: &Later| {
            matches!(w, Later::Placed { .. }) || matches!(w, Later::Close(c) if c.not_placed)
        };
        let after = || (i + 1..later.len()).take_while(|&j| !barrier(&later[j]));
        // A terminal status is never dropped: the store keeps it over any later open one.
        if let Later::Status { row, status, .. } = &later[i]
            && !status.is_terminal()
            && after().any(|j| row_of(&later[j]) == Some(*row))
        {
            keep[i] = false;
        }
        if let Some(cycle) = cycle_of(&later[i])
            && matches!(later[i], Later::Execution(_))
            && after().any(|j| cycle_of(&later[j]) == Some(cycle))
            && let Later::Execution(x) = &mut later[i]
        {
            x.progress = None;
        }
    }
    // A status right after its order's execution is folded into it.
    for i in 1..later.len() {
        if !keep[i] {
            continue;
        }
        let Some(prev) = (0..i).rev().find(|&j| keep[j]) else {
            continue;
        };
        if let Later::Status {
            row,
            status,
            qty,
            quote,
            now_ms,
        } = later[i]
            && let Later::Execution(x) = &mut later[prev]
            && x.order_row == row
        {
            // As `update_status` would: a terminal status is not moved back to an open one.
            if x.status.is_terminal() && !status.is_terminal() {
                keep[i] = false;
                continue;
            }
            x.status = status;
            x.filled_qty = qty;
            x.filled_quote = quote;
            x.now_ms = now_ms;
            keep[i] = false;
        }
    }
    let mut k = keep.into_iter();
    later.retain(|_| k.next().unwrap_or(true));
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
        let mut later = std::mem::take(&mut self.later);
        self.flush_due = None;
        compact(&mut later);
        unit_of(later, f)
    }

    /// Like [`Actor::with_later`], for the next pair's intent: only the closes and the
    /// placements of pairs go in front; fills and statuses stay kept, so the unit a place
    /// request waits for is short. A close, because the account's one open pair must be closed
    /// before the next is stored; a placement, because a pair whose ids the store lacks looks,
    /// to a reconciliation after a crash, like the next pair in doubt (same price and quantity,
    /// moments apart), which would leave that one ambiguous. Everything goes in front when a
    /// close must change order rows (a pair that was never placed).
    pub(super) fn with_closes<T, F>(
        &mut self,
        f: F,
    ) -> impl FnOnce(&mut store::Conn) -> Result<WithLater<T>, StoreError> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&mut store::Conn) -> Result<T, StoreError> + Send + 'static,
    {
        compact(&mut self.later);
        let reorders_rows = self
            .later
            .iter()
            .any(|w| matches!(w, Later::Close(c) if c.not_placed));
        let ahead = if reorders_rows {
            self.flush_due = None;
            std::mem::take(&mut self.later)
        } else {
            let (closes, rest): (Vec<Later>, Vec<Later>) = std::mem::take(&mut self.later)
                .into_iter()
                .partition(|w| matches!(w, Later::Close(_) | Later::Placed { .. }));
            self.later = rest;
            // A close carries its pair's final progress: the fills written after it must not
            // write an earlier one over it.
            for w in &mut self.later {
                if let Later::Execution(x) = w
                    && x.progress.as_ref().is_some_and(|(id, _)| {
                        closes
                            .iter()
                            .any(|c| matches!(c, Later::Close(c) if c.cycle_id == *id))
                    })
                {
                    x.progress = None;
                }
            }
            if self.later.is_empty() {
                self.flush_due = None;
            }
            closes
        };
        unit_of(ahead, f)
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
                    meters::add_traded(f.side == Side::Buy, f.quote_qty);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(bought: i64) -> CycleProgress {
        CycleProgress {
            state: CycleState::Placed,
            bought_qty: Decimal::from(bought),
            sold_qty: Decimal::ZERO,
            volume_usdt: Decimal::ZERO,
            fees_usdt: Decimal::ZERO,
        }
    }

    fn execution(row: i64, cum: i64, status: StoredStatus, cycle: i64) -> Later {
        Later::Execution(ExecutionWrite {
            fills: Vec::new(),
            fees_usdt: Vec::new(),
            order_row: row,
            status,
            filled_qty: Decimal::from(cum),
            filled_quote: Decimal::from(cum),
            progress: Some((cycle, progress(cum))),
            now_ms: cum,
        })
    }

    fn status(row: i64, status: StoredStatus, cum: i64) -> Later {
        Later::Status {
            row,
            status,
            qty: Decimal::from(cum),
            quote: Decimal::from(cum),
            now_ms: cum,
        }
    }

    /// (kind, row, status, cumulative qty, whether it writes progress) of each write.
    fn shape(later: &[Later]) -> Vec<(&'static str, i64, Option<StoredStatus>, i64, bool)> {
        later
            .iter()
            .map(|w| match w {
                Later::Execution(x) => (
                    "execution",
                    x.order_row,
                    Some(x.status),
                    i64::try_from(x.filled_qty.mantissa()).unwrap_or(-1),
                    x.progress.is_some(),
                ),
                Later::Status {
                    row, status, qty, ..
                } => (
                    "status",
                    *row,
                    Some(*status),
                    i64::try_from(qty.mantissa()).unwrap_or(-1),
                    false,
                ),
                Later::Close(c) => ("close", c.cycle_id, None, 0, true),
                Later::Placed { cycle_id, .. } => ("placed", *cycle_id, None, 0, false),
            })
            .collect()
    }

    fn compacted(mut w: Vec<Later>) -> Vec<(&'static str, i64, Option<StoredStatus>, i64, bool)> {
        compact(&mut w);
        shape(&w)
    }

    #[test]
    fn an_open_status_gives_way_to_a_later_write_of_its_order() {
        assert_eq!(
            compacted(vec![
                status(1, StoredStatus::New, 0),
                execution(1, 5, StoredStatus::PartiallyFilled, 9),
                status(2, StoredStatus::New, 0),
                status(2, StoredStatus::PartiallyFilled, 3),
            ]),
            vec![
                ("execution", 1, Some(StoredStatus::PartiallyFilled), 5, true),
                ("status", 2, Some(StoredStatus::PartiallyFilled), 3, false),
            ]
        );
    }

    #[test]
    fn a_terminal_status_is_never_dropped_nor_overwritten_by_an_open_one() {
        assert_eq!(
            compacted(vec![
                status(1, StoredStatus::Canceled, 4),
                execution(1, 5, StoredStatus::PartiallyFilled, 9),
                execution(2, 8, StoredStatus::Filled, 9),
                status(2, StoredStatus::PartiallyFilled, 8),
            ]),
            vec![
                ("status", 1, Some(StoredStatus::Canceled), 4, false),
                (
                    "execution",
                    1,
                    Some(StoredStatus::PartiallyFilled),
                    5,
                    false
                ),
                ("execution", 2, Some(StoredStatus::Filled), 8, true),
            ]
        );
    }

    #[test]
    fn a_status_folds_into_the_execution_before_it_and_only_the_last_progress_is_written() {
        assert_eq!(
            compacted(vec![
                execution(1, 2, StoredStatus::PartiallyFilled, 9),
                execution(1, 5, StoredStatus::Filled, 9),
                status(1, StoredStatus::Filled, 5),
                execution(3, 1, StoredStatus::PartiallyFilled, 10),
            ]),
            vec![
                (
                    "execution",
                    1,
                    Some(StoredStatus::PartiallyFilled),
                    2,
                    false
                ),
                ("execution", 1, Some(StoredStatus::Filled), 5, true),
                ("execution", 3, Some(StoredStatus::PartiallyFilled), 1, true),
            ]
        );
    }

    #[test]
    fn nothing_moves_across_a_placement() {
        assert_eq!(
            compacted(vec![
                status(1, StoredStatus::New, 0),
                Later::Placed {
                    cycle_id: 9,
                    working: "w".into(),
                    pending: "p".into(),
                    now_ms: 1,
                },
                status(1, StoredStatus::PartiallyFilled, 2),
            ]),
            vec![
                ("status", 1, Some(StoredStatus::New), 0, false),
                ("placed", 9, None, 0, false),
                ("status", 1, Some(StoredStatus::PartiallyFilled), 2, false),
            ]
        );
    }
}
