//! Embedded migrations, one folder per dialect. They run under a lock (an advisory lock on
//! PostgreSQL, the write lock on SQLite) so that two instances starting together cannot race.

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Conn, StoreError};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// An arbitrary constant that names alpha-oto's migration lock among advisory locks.
const PG_LOCK_KEY: i64 = 0x616c_7068_615f_6f74;

fn migration_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Migration(e.to_string())
}

/// Applies every pending migration; returns the versions applied.
pub fn run_pending(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    match conn {
        Conn::Sqlite(c) => {
            // The write lock, taken up front, plays the advisory lock's part: a second runner
            // waits, then finds nothing pending.
            c.immediate_transaction(|c| {
                let applied = c.run_pending_migrations(SQLITE).map_err(migration_err)?;
                Ok(applied.iter().map(ToString::to_string).collect())
            })
        }
        Conn::Pg(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({PG_LOCK_KEY})"))
                .execute(&mut **c)?;
            let result = c
                .run_pending_migrations(POSTGRES)
                .map(|v| v.iter().map(ToString::to_string).collect());
            diesel::sql_query(format!("SELECT pg_advisory_unlock({PG_LOCK_KEY})"))
                .execute(&mut **c)?;
            result.map_err(migration_err)
        }
    }
}

/// Reverts every applied migration (their `down.sql`), newest first.
pub fn revert_all(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    let reverted = match conn {
        Conn::Sqlite(c) => c.revert_all_migrations(SQLITE),
        Conn::Pg(c) => c.revert_all_migrations(POSTGRES),
    }
    .map_err(migration_err)?;
    Ok(reverted.iter().map(ToString::to_string).collect())
}

/// Versions not yet applied.
pub fn pending(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    let pending = match conn {
        Conn::Sqlite(c) => c
            .pending_migrations(SQLITE)
            .map(|m| m.iter().map(|m| m.name().to_string()).collect()),
        Conn::Pg(c) => c
            .pending_migrations(POSTGRES)
            .map(|m| m.iter().map(|m| m.name().to_string()).collect()),
    };
    pending.map_err(migration_err)
}

/// Every migration this build carries, applied or not.
pub fn all_names(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    use diesel::migration::MigrationSource;
    let all = match conn {
        Conn::Sqlite(_) => MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE)
            .map(|m| m.iter().map(|m| m.name().to_string()).collect()),
        Conn::Pg(_) => MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES)
            .map(|m| m.iter().map(|m| m.name().to_string()).collect()),
    };
    all.map_err(migration_err)
}
