//! Persistence: one diesel code path over SQLite (the embedded default) and PostgreSQL.
//!
//! Query functions take a [`Conn`] and run the same diesel code on either backend through
//! [`with_conn!`]; the backend is picked once, from the database URL. Diesel is blocking, so
//! async callers go through [`Store::run`], which moves the whole unit of work (checkout and
//! transaction) onto tokio's blocking pool with a bounded wait for a connection.

pub mod accounts;
pub mod configs;
pub mod credentials;
pub mod crossing;
pub mod cycles;
pub mod decimal;
pub mod error;
pub mod events;
pub mod fills;
pub mod instances;
pub mod lease;
pub mod migrate;
pub mod models;
pub mod orders;
pub mod profiles;
mod reused;
pub mod schema;
mod stored_text;

pub mod tokens;
mod workers;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

pub use decimal::Dec;
pub use error::StoreError;
use reused::Reused;
pub use workers::{LANE, Lane};

use crate::config::database::{Backend, DatabaseUrl, StoreOptions};

enum Pools {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Pg(Pool<ConnectionManager<PgConnection>>),
}

/// One checked-out connection of either backend.
pub enum Conn {
    Sqlite(PooledConnection<ConnectionManager<SqliteConnection>>),
    Pg(PooledConnection<ConnectionManager<PgConnection>>),
}

impl Conn {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Pg(_) => Backend::Postgres,
        }
    }
}

/// Runs one body of diesel code on whichever backend `$conn` holds. The body is compiled once
/// per backend, so it may only use what both support; `$c` is the concrete connection.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite($c) => {
                let $c: &mut ::diesel::SqliteConnection = &mut *$c;
                $body
            }
            $crate::store::Conn::Pg($c) => {
                let $c: &mut ::diesel::PgConnection = &mut *$c;
                $body
            }
        }
    };
}

/// What differs between the two dialects, kept to the smallest possible surface.
pub trait Dialect:
    Connection<TransactionManager = diesel::connection::AnsiTransactionManager> + Sized
{
    /// SQL that evaluates to the database's clock in Unix milliseconds.
    const NOW_MS: &'static str;

    /// A transaction that takes the write lock up front (SQLite's `BEGIN IMMEDIATE`), so two
    /// writers never deadlock on a lock upgrade.
    fn write_tx<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>;

    /// Reads the database clock (Unix ms). Leases are judged by this clock only, so hosts with
    /// skewed clocks still agree on who owns an account.
    fn now_ms(&mut self) -> Result<i64, diesel::result::Error>;
}

/// Whether a write of several statements opens a transaction of its own (a savepoint inside
/// the caller's) or runs in the caller's as it is. `Enclosing` is for a caller that undoes
/// everything on any error (the account's kept writes, `actors::account::write_behind`): there
/// a savepoint of the write's own would only cost, as SQLite copies each page a savepoint
/// changes, and every savepoint after another copies the same pages again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    Own,
    Enclosing,
}

macro_rules! impl_now_ms {
    () => {
        fn now_ms(&mut self) -> Result<i64, diesel::result::Error> {
            use diesel::RunQueryDsl;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(Self::NOW_MS))
                .get_result::<i64>(self)
        }
    };
}

impl Dialect for SqliteConnection {
    const NOW_MS: &'static str = "CAST(unixepoch('subsec') * 1000 AS BIGINT)";

    fn write_tx<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        // Inside a group commit the write lock is held already: a savepoint is enough.
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        let depth =
            <AnsiTransactionManager as TransactionManager<Self>>::transaction_manager_status_mut(
                self,
            )
            .transaction_depth()?;
        if depth.is_some() {
            self.transaction(f)
        } else {
            self.immediate_transaction(f)
        }
    }

    /// SQLite's clock is the host's (`unixepoch` reads the system clock), and every user of a
    /// SQLite file is on this host: the same reading without a statement to prepare.
    fn now_ms(&mut self) -> Result<i64, diesel::result::Error> {
        Ok(chrono::Utc::now().timestamp_millis())
    }
}

impl Dialect for PgConnection {
    const NOW_MS: &'static str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

    fn write_tx<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.transaction(f)
    }

    impl_now_ms!();
}

/// Checkpoints are the checkpointer thread's (`wal_autocheckpoint = 0`): a commit never waits
/// for the copy of the log into the file and its fsyncs. Statement journals (a savepoint's
/// undo) stay in memory: on disk each transaction created, wrote and deleted a temporary file.
const SQLITE_CONNECTION_PRAGMAS: &str = "PRAGMA busy_timeout = 15000; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864; \
     PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384;";

/// The longest a log restart waits for readers, with the writers held.
const RESTART_WAIT: Duration = Duration::from_millis(100);
/// The longest it waits once the log is past `OVERSHOOT` times its bound: readers that keep
/// overlapping (or a starved checkpointer thread on a loaded host) must not let the log grow
/// without end, and a writer held for a second is the lesser harm.
const RESTART_WAIT_OVERSHOOT: Duration = Duration::from_millis(1000);
const OVERSHOOT: i64 = 4;
/// How often the checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

#[derive(diesel::QueryableByName)]
struct CheckpointRow {
    /// Pages in the log.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
}

/// Copies the log into the database file beside the writer (a passive checkpoint takes no lock
/// a writer waits for), until the store is dropped. Had the writer done it, as SQLite does by
/// default every 1,000 pages, every unit of work in the batch behind it would wait for the copy
/// and its fsyncs. But a passive checkpoint never catches up with a writer that commits every
/// few milliseconds, and SQLite starts the log afresh only once it has: past
/// `restart_at` pages the checkpointer takes the writers' turn (`gate`) and restarts the
/// log, which then copies only what the passive ones left.
fn start_checkpointer(
    path: &Path,
    gate: Arc<std::sync::Mutex<()>>,
    restart_at: i64,
) -> Result<std::sync::mpsc::Sender<()>, StoreError> {
    use diesel::RunQueryDsl;
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    // A restart waits for the readers of the old log while it holds the writers' turn: it
    // gives up soon (and is tried again at the next interval) rather than stall every writer
    // for as long as readers keep overlapping.
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {}; PRAGMA synchronous = NORMAL;",
        RESTART_WAIT.as_millis()
    ))?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("alpha-oto-checkpoint".into())
        .spawn(move || {
            // Ends when the store's last handle drops its sender.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(CHECKPOINT_EVERY)
            {
                // A failed checkpoint leaves the log longer; the next one catches up.
                let passive = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
                    .get_result::<CheckpointRow>(&mut conn);
                if let Ok(row) = passive
                    && i64::from(row.log) > restart_at
                {
                    let wait = if i64::from(row.log) > restart_at.saturating_mul(OVERSHOOT) {
                        RESTART_WAIT_OVERSHOOT
                    } else {
                        RESTART_WAIT
                    };
                    let _turn = gate
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let _ = conn.batch_execute(&format!(
                        "PRAGMA busy_timeout = {}; PRAGMA wal_checkpoint(RESTART);",
                        wait.as_millis()
                    ));
                }
            }
        })
        .map_err(|e| StoreError::Worker(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(tx)
}

/// Puts the file in WAL mode (readers run beside the one writer) before the pool opens its
/// connections: switching modes needs the file to itself, which a pool filling up in parallel
/// would not give it.
fn prepare_sqlite_file(path: &Path) -> Result<(), StoreError> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.batch_execute("PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL;")?;
    Ok(())
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // busy_timeout makes writers queue instead of failing; foreign keys are off by default
        // in SQLite. (WAL is set once, when the store opens: it is a property of the file.)
        conn.batch_execute(SQLITE_CONNECTION_PRAGMAS)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The pools and what every user of them shares.
struct Core {
    pools: Pools,
    timeout: Duration,
    /// SQLite has one writer at a time. Users of this process take turns here instead of
    /// meeting at the file lock, where the loser sleeps in SQLite's busy handler (1 ms, then
    /// 2, 5, 10...) long after the lock is free again.
    gate: Option<Arc<std::sync::Mutex<()>>>,
    /// Keeps the SQLite checkpointer running while the store lives.
    _checkpoints: Option<std::sync::mpsc::Sender<()>>,
    /// Units of work queued through `run`, for checks that a path stays off the database.
    units: std::sync::atomic::AtomicU64,
}

impl Core {
    fn conn(&self) -> Result<Conn, StoreError> {
        match &self.pools {
            Pools::Sqlite(p) => p.get_timeout(self.timeout).map(Conn::Sqlite),
            Pools::Pg(p) => p.get_timeout(self.timeout).map(Conn::Pg),
        }
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn turn(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        self.gate
            .as_ref()
            .map(|g| g.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// The database handle the daemon holds: a pool of either backend. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    core: std::sync::Arc<Core>,
    workers: std::sync::Arc<workers::Workers>,
}

impl Store {
    /// Opens a pool on the database at `url`. SQLite files (and their directory) are created.
    pub fn open(url: &DatabaseUrl, opts: &StoreOptions) -> Result<Self, StoreError> {
        let mut checkpoints = None;
        let gate = Arc::new(std::sync::Mutex::new(()));
        let pools = match url {
            DatabaseUrl::Sqlite(path) => {
                ensure_parent_dir(path)?;
                prepare_sqlite_file(path)?;
                checkpoints = Some(start_checkpointer(
                    path,
                    Arc::clone(&gate),
                    opts.sqlite_log_pages,
                )?);
                let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
                let pool = Pool::builder()
                    .max_size(opts.pool_size.max(1))
                    .connection_timeout(opts.connect_timeout)
                    .connection_customizer(Box::new(SqlitePragmas))
                    .build(manager)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Pools::Sqlite(pool)
            }
            DatabaseUrl::Postgres(raw) => {
                let manager = ConnectionManager::<PgConnection>::new(raw.as_str());
                let pool = Pool::builder()
                    .max_size(opts.pool_size.max(1))
                    .connection_timeout(opts.connect_timeout)
                    .build(manager)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Pools::Pg(pool)
            }
        };
        let sqlite = matches!(pools, Pools::Sqlite(_));
        // SQLite: one writer thread (the file has one writer anyway). PostgreSQL: one thread
        // per pooled connection but one, which stays free for the API and the CLI's peers.
        let threads = if sqlite {
            1
        } else {
            (opts.pool_size as usize).saturating_sub(1).max(1)
        };
        let core = std::sync::Arc::new(Core {
            pools,
            timeout: opts.connect_timeout,
            gate: sqlite.then_some(gate),
            _checkpoints: checkpoints,
            units: std::sync::atomic::AtomicU64::new(0),
        });
        // SQLite's one thread keeps its connection (its page cache stays valid) while one
        // stays in the pool for everyone else. PostgreSQL's threads take one per batch: held,
        // they would leave a single connection for the API, the CLI and every other caller.
        let hold = sqlite && (opts.pool_size as usize) > threads;
        let workers = workers::Workers::start(threads, hold, "alpha-oto-db", &core)?;
        Ok(Self {
            core,
            workers: std::sync::Arc::new(workers),
        })
    }

    pub fn backend(&self) -> Backend {
        match &self.core.pools {
            Pools::Sqlite(_) => Backend::Sqlite,
            Pools::Pg(_) => Backend::Postgres,
        }
    }

    /// How many units of work were queued through [`Store::run`] so far.
    pub fn units_run(&self) -> u64 {
        self.core.units.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks out a connection, waiting at most the configured timeout.
    pub fn conn(&self) -> Result<Conn, StoreError> {
        self.core.conn()
    }

    /// Runs `f` on a connection in the calling thread. For the CLI and blocking contexts only;
    /// async code uses [`Store::run`].
    pub fn blocking<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _turn = self.core.turn();
        let mut conn = self.core.conn()?;
        f(&mut conn)
    }

    /// Runs one unit of work off the async threads. This is the only way async code touches
    /// the database. Units queued together may share one transaction (each in its own
    /// savepoint); an answer is given only once its transaction has committed.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    {
        let (unit, rx) = workers::unit(f);
        self.core
            .units
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.workers.submit(unit)?;
        rx.await
            .map_err(|_| StoreError::Worker("a unit of work panicked".into()))?
    }
}

/// The cheapest statement that proves the database answers.
pub fn ping(conn: &mut Conn) -> Result<(), StoreError> {
    with_conn!(conn, |c| diesel::RunQueryDsl::execute(
        diesel::sql_query("SELECT 1"),
        c
    ))?;
    Ok(())
}

/// Runs `f` so that its writes are kept or undone together: a transaction of its own, or a
/// savepoint inside the caller's (SQLite's transaction takes the write lock up front).
pub fn atomic<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    workers::tx(conn, workers::Step::Begin)?;
    match f(conn) {
        Ok(v) => {
            workers::tx(conn, workers::Step::Commit)?;
            Ok(v)
        }
        Err(e) => {
            workers::tx(conn, workers::Step::Rollback)?;
            Err(e)
        }
    }
}

/// [`atomic`], or `f` as it is in the caller's transaction ([`Tx::Enclosing`]).
pub fn atomic_as<T>(
    conn: &mut Conn,
    tx: Tx,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match tx {
        Tx::Own => atomic(conn, f),
        Tx::Enclosing => f(conn),
    }
}

fn ensure_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create the database directory {}: {e}",
                dir.display()
            ))
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_values_parse_back_or_fail_with_a_reason() {
        use crate::domain::shown::AccountState;
        use models::{Page, StoredStatus};
        for s in AccountState::ALL {
            assert_eq!(s.as_str().parse::<AccountState>().unwrap(), *s);
        }
        let err = "FILLEDISH".parse::<StoredStatus>().unwrap_err();
        assert!(
            err.contains("StoredStatus") && err.contains("PARTIALLY_FILLED"),
            "{err}"
        );
        assert!(StoredStatus::Filled.is_terminal() && !StoredStatus::Unknown.is_terminal());
        assert_eq!(
            Page {
                before_id: None,
                limit: 0
            }
            .clamped_limit(),
            1
        );
        assert_eq!(
            Page {
                before_id: None,
                limit: 1_000_000
            }
            .clamped_limit(),
            Page::MAX_LIMIT
        );
        assert_eq!(Dec("0.10".parse().unwrap()).canonical(), "0.1");
        assert_eq!(Dec("100".parse().unwrap()).canonical(), "100");
    }

    /// With the database thread busy, an operator's unit queued after trading units runs
    /// before them (`Lane::First`).
    #[test]
    fn the_operators_units_go_ahead_of_trading_work() {
        let dir = tempfile::tempdir().unwrap();
        let url =
            DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
        let store = Store::open(&url, &StoreOptions::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let unit = |tag: String| {
            let (s, o) = (store.clone(), order.clone());
            async move {
                s.run(move |_| {
                    o.lock().unwrap().push(tag);
                    Ok(())
                })
                .await
            }
        };
        rt.block_on(async {
            // Occupies the one SQLite thread until released.
            let s = store.clone();
            let busy = tokio::spawn(async move {
                s.run(move |_| {
                    let _ = held.recv();
                    Ok(())
                })
                .await
            });
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let waiting: Vec<_> = (0..5)
                .map(|i| tokio::spawn(unit(format!("trading {i}"))))
                .collect();
            let first = tokio::spawn(LANE.scope(Lane::First, unit("operator".into())));
            // Every unit is queued before the thread is let go.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            hold.send(()).unwrap();
            busy.await.unwrap().unwrap();
            first.await.unwrap().unwrap();
            for w in waiting {
                w.await.unwrap().unwrap();
            }
        });
        let order = order.lock().unwrap();
        assert_eq!(
            order.first().map(String::as_str),
            Some("operator"),
            "{order:?}"
        );
        assert_eq!(order.len(), 6);
    }
}
