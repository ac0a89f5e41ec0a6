//! Prepared statements kept for the next run of the same SQL.
//!
//! Diesel prepares every `UPDATE` and every upsert afresh: their text can change with the
//! changeset (an `Option` field left out, a list of any length), so it never caches them by
//! type. Parsing was a sixth of the database thread's time on the pair's path. A statement
//! wrapped in [`Reused`] is cached by its SQL text instead, which is right whatever shapes it
//! takes; the cache grows by one entry per distinct text, so wrap only statements of one
//! shape (no `eq_any` list, whose length SQLite spells out).
//!
//! Run it with `load`/`get_result` (or [`Reused::changed`]), never `execute`: diesel hands
//! `execute` a reference to the statement, and a reference answers "may this be cached" by
//! walking the statement again, which says no.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::LoadQuery;
use diesel::{QueryResult, RunQueryDsl};

/// A statement whose prepared form is kept, keyed by its SQL text.
#[derive(Debug, Clone, Copy)]
pub struct Reused<Q>(pub Q);

/// Keyed by text, never by type: the one safe key for a statement diesel calls uncacheable.
impl<Q> QueryId for Reused<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Reused<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> QueryFragment<DB> for Reused<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    // Diesel asks this before it looks in its cache (a hidden but overridable method of the
    // trait, pinned by Cargo.lock; `store_cycles::hot_updates_are_prepared_once` notices when
    // an upgrade stops honouring it).
    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for Reused<Q> {}

impl<Q> Reused<Q> {
    /// Runs a statement whose `RETURNING` gives one id per row it changed; how many it changed.
    pub fn changed<'q, Conn>(self, conn: &mut Conn) -> QueryResult<usize>
    where
        Self: LoadQuery<'q, Conn, i64>,
    {
        Ok(self.load::<i64>(conn)?.len())
    }
}
