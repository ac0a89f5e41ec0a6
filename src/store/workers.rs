//! The threads that run async code's units of work (`Store::run`). A fixed set of threads
//! serves one queue: one thread for SQLite, which has one writer anyway, and for PostgreSQL
//! one per pooled connection but one. A busy worker takes the next unit without a wake-up,
//! and SQLite writers never meet at the file lock.
//!
//! Group commit: the units waiting in the queue when a worker takes one run together in one
//! transaction, each inside its own savepoint, so a unit that fails is undone alone. Answers
//! are sent only after the commit: nothing acts on a write that could still be lost. One commit
//! for many units is what lets thousands of accounts share one SQLite file.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{PgConnection, SqliteConnection};

use super::{Conn, Core, StoreError};

/// Units run in one transaction at most.
const MAX_BATCH: usize = 64;

/// One unit of work and the channel of its answer.
pub(super) trait Unit: Send {
    /// Runs the unit; false when it failed (its savepoint is rolled back).
    fn run(&mut self, conn: &mut Conn) -> bool;
    /// Sends the answer, or `failed` when the transaction did not commit.
    fn answer(self: Box<Self>, failed: Option<&str>);
}

struct Typed<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    tx: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Unit for Typed<T, F>
where
    T: Send,
    F: FnOnce(&mut Conn) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &mut Conn) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let r = f(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn answer(self: Box<Self>, failed: Option<&str>) {
        let result = match (failed, self.result) {
            (_, Some(Err(e))) => Err(e),
            (Some(why), _) => Err(StoreError::Unavailable(why.to_owned())),
            (None, Some(ok)) => ok,
            (None, None) => Err(StoreError::Worker("the unit did not run".into())),
        };
        let _ = self.tx.send(result);
    }
}

pub(super) type Answer<T> = tokio::sync::oneshot::Receiver<Result<T, StoreError>>;

pub(super) fn unit<T, F>(f: F) -> (Box<dyn Unit>, Answer<T>)
where
    T: Send + 'static,
    F: FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let unit = Typed {
        f: Some(f),
        result: None,
        tx,
    };
    (Box::new(unit), rx)
}

/// Which of the two queues a unit waits in. An operator's request (anything the control API
/// does, `Lane::First` for the task that serves it) is taken before any trading work that
/// waits, so a host saturated with pairs still answers a pause, a kill or a list at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    First,
    Trading,
}

tokio::task_local! {
    /// The lane of the current task's units (`Lane::Trading` outside a scope).
    pub static LANE: Lane;
}

#[derive(Default)]
struct Lanes {
    first: VecDeque<Box<dyn Unit>>,
    trading: VecDeque<Box<dyn Unit>>,
    closed: bool,
}

struct Queue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next batch: every operator unit waiting first, then trading units, up to
    /// `MAX_BATCH`; `None` once closed and empty.
    fn take(&self) -> Option<Vec<Box<dyn Unit>>> {
        let mut l = self.lock();
        while l.first.is_empty() && l.trading.is_empty() {
            if l.closed {
                return None;
            }
            l = self.ready.wait(l).unwrap_or_else(PoisonError::into_inner);
        }
        let mut batch = Vec::with_capacity(MAX_BATCH.min(l.first.len() + l.trading.len()));
        while batch.len() < MAX_BATCH
            && let Some(u) = l.first.pop_front()
        {
            batch.push(u);
        }
        while batch.len() < MAX_BATCH
            && let Some(u) = l.trading.pop_front()
        {
            batch.push(u);
        }
        Some(batch)
    }
}

pub(super) struct Workers {
    queue: Arc<Queue>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

impl Workers {
    /// Starts `threads` workers; they end when the last handle is dropped.
    /// `hold`: each thread keeps a connection of its own (the pool must have one more).
    pub(super) fn start(
        threads: usize,
        hold: bool,
        name: &str,
        core: &Arc<Core>,
    ) -> Result<Self, StoreError> {
        let queue = Arc::new(Queue {
            lanes: Mutex::new(Lanes::default()),
            ready: Condvar::new(),
        });
        for i in 0..threads.max(1) {
            let (queue, core) = (Arc::clone(&queue), Arc::clone(core));
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || serve(&queue, &core, hold))
                .map_err(|e| StoreError::Worker(format!("cannot start a database thread: {e}")))?;
        }
        Ok(Self { queue })
    }

    /// Queues a unit in the current task's lane ([`LANE`]).
    pub(super) fn submit(&self, unit: Box<dyn Unit>) -> Result<(), StoreError> {
        let lane = LANE.try_with(|l| *l).unwrap_or(Lane::Trading);
        let mut l = self.queue.lock();
        if l.closed {
            return Err(StoreError::Worker(
                "the database threads have stopped".into(),
            ));
        }
        match lane {
            Lane::First => l.first.push_back(unit),
            Lane::Trading => l.trading.push_back(unit),
        }
        drop(l);
        self.queue.ready.notify_one();
        Ok(())
    }
}

fn serve(queue: &Queue, core: &Core, hold: bool) {
    // The thread keeps its connection: SQLite's page cache and the prepared statements stay
    // warm (a connection that another one wrote behind must drop its cache), and no batch pays
    // for the pool's check on checkout. A batch that fails hands it back to the pool, which
    // replaces a broken one.
    let mut held: Option<Conn> = None;
    loop {
        let Some(mut batch) = queue.take() else {
            return;
        };
        metrics::counter!(crate::meters::DB_UNITS).increment(batch.len() as u64);
        metrics::counter!(crate::meters::DB_COMMITS).increment(1);
        let failed = {
            let _turn = core.turn();
            let conn = match held.take() {
                Some(c) => Ok(c),
                None => core.conn(),
            };
            match conn {
                Ok(mut conn) => {
                    let started = std::time::Instant::now();
                    let failed = run_batch(&mut conn, &mut batch).err();
                    metrics::histogram!(crate::meters::DB_BATCH_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    if failed.is_none() && hold {
                        held = Some(conn);
                    }
                    failed
                }
                Err(e) => Some(e.to_string()),
            }
        };
        for u in batch {
            u.answer(failed.as_deref());
        }
    }
}

/// Runs the units in one transaction, each in a savepoint. `Err` when it did not commit.
fn run_batch(conn: &mut Conn, batch: &mut [Box<dyn Unit>]) -> Result<(), String> {
    if let [only] = batch {
        // Alone, a unit runs as it would on its own connection: its writes open their own
        // transaction.
        return match std::panic::catch_unwind(AssertUnwindSafe(|| only.run(conn))) {
            Ok(_) => Ok(()),
            Err(_) => Err("a unit of work panicked".into()),
        };
    }
    tx(conn, Step::Begin).map_err(|e| format!("cannot begin: {e}"))?;
    for u in batch.iter_mut() {
        let ran = tx(conn, Step::Begin).and_then(|()| {
            match std::panic::catch_unwind(AssertUnwindSafe(|| u.run(conn))) {
                Ok(true) => tx(conn, Step::Commit),
                Ok(false) => tx(conn, Step::Rollback),
                Err(_) => Err(diesel::result::Error::RollbackTransaction),
            }
        });
        if let Err(e) = ran {
            let _ = tx(conn, Step::Rollback);
            return Err(format!("a unit of work failed its transaction: {e}"));
        }
    }
    tx(conn, Step::Commit).map_err(|e| {
        let _ = tx(conn, Step::Rollback);
        format!("cannot commit: {e}")
    })
}

#[derive(Clone, Copy)]
pub(super) enum Step {
    Begin,
    Commit,
    Rollback,
}

/// One step of diesel's transaction manager: at depth 0 a transaction (SQLite's takes the
/// write lock at once), deeper a savepoint.
pub(super) fn tx(conn: &mut Conn, step: Step) -> diesel::QueryResult<()> {
    type Tm = AnsiTransactionManager;
    match conn {
        Conn::Sqlite(c) => {
            let c: &mut SqliteConnection = c;
            match step {
                Step::Begin => {
                    let depth =
                        <Tm as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(c)
                            .transaction_depth()?;
                    if depth.is_none() {
                        Tm::begin_transaction_sql(c, "BEGIN IMMEDIATE")
                    } else {
                        <Tm as TransactionManager<SqliteConnection>>::begin_transaction(c)
                    }
                }
                Step::Commit => <Tm as TransactionManager<SqliteConnection>>::commit_transaction(c),
                Step::Rollback => {
                    <Tm as TransactionManager<SqliteConnection>>::rollback_transaction(c)
                }
            }
        }
        Conn::Pg(c) => {
            let c: &mut PgConnection = c;
            match step {
                Step::Begin => <Tm as TransactionManager<PgConnection>>::begin_transaction(c),
                Step::Commit => <Tm as TransactionManager<PgConnection>>::commit_transaction(c),
                Step::Rollback => <Tm as TransactionManager<PgConnection>>::rollback_transaction(c),
            }
        }
    }
}
