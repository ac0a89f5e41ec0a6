//! Test databases: a fresh SQLite file or a fresh PostgreSQL database per test, migrated,
//! dropped at the end. A PostgreSQL run that cannot reach its server fails loudly: a database
//! test is never skipped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use alpha_oto::config::database::{Backend, DatabaseUrl, StoreOptions};
use alpha_oto::store::lease::Lease;
use alpha_oto::store::{self, Conn, Store};
use diesel::{Connection, PgConnection, RunQueryDsl};

pub const PG_ADMIN_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn backend() -> Backend {
    match std::env::var("ALPHA_OTO_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("ALPHA_OTO_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("ALPHA_OTO_TEST_PG_URL").unwrap_or_else(|_| PG_ADMIN_DEFAULT.to_owned())
}

/// The Redis the tests use (its keys are prefixed per test).
pub fn redis_url() -> String {
    std::env::var("ALPHA_OTO_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A unique name for this process and call.
pub fn unique(prefix: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// One test's database, dropped with it.
pub struct TestDb {
    pub store: Store,
    /// The URL as the daemon's config takes it.
    pub url: String,
    /// The SQLite file (for tests that inspect it).
    pub sqlite_path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// A new, empty, unmigrated database.
    pub fn empty() -> Self {
        match backend() {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("test.db");
                let url = format!("sqlite://{}", path.display());
                let store =
                    Store::open(&DatabaseUrl::Sqlite(path.clone()), &StoreOptions::default())
                        .unwrap();
                Self {
                    store,
                    url,
                    sqlite_path: Some(path),
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = unique("alpha_oto_t");
                let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {admin} is required for ALPHA_OTO_TEST_BACKEND=postgres: {e}"
                    )
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
                let url = format!("{base}/{name}");
                let store = Store::open(
                    &DatabaseUrl::Postgres(url.clone()),
                    &StoreOptions::default(),
                )
                .unwrap();
                Self {
                    store,
                    url,
                    sqlite_path: None,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A new database with every migration applied.
    pub fn migrated() -> Self {
        let db = Self::empty();
        db.store.blocking(store::migrate::run_pending).unwrap();
        db
    }

    pub fn conn(&self) -> Conn {
        self.store.conn().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut conn) = PgConnection::establish(&pg_admin_url())
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// Creates an account and claims its lease for `owner`.
pub fn account_with_lease(conn: &mut Conn, name: &str, owner: &str) -> (i64, Lease) {
    let account = store::accounts::create(conn, name, 1_000).unwrap();
    let lease = store::lease::claim(conn, account.id, owner, 60_000)
        .unwrap()
        .expect("a fresh account's lease is free");
    (account.id, lease)
}

/// Decimal literal helper.
pub fn d(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

/// Runs Prometheus's `promtool` (`ALPHA_OTO_TEST_PROMTOOL`, default from the PATH; the test
/// command installs it) with `input` on its stdin; panics when it cannot be started.
pub fn promtool(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let bin = std::env::var("ALPHA_OTO_TEST_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    let mut child = std::process::Command::new(&bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{bin} cannot be started ({e}): install Prometheus's promtool or set ALPHA_OTO_TEST_PROMTOOL")
        });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}
