//! Ownership of an account across daemon instances (B4).
//!
//! One row per account holds the owner, a fencing token and an expiry, all judged by the
//! database's clock. A claim succeeds only when the lease is free, expired, or already this
//! owner's (a restarted instance with the same id takes its accounts back at once); every claim
//! raises the fencing token, so an instance that lost its lease holds a token that no longer
//! matches, and each order-intent write checks the token inside its own transaction
//! ([`LeaseCheck::hold`]).

use std::collections::HashSet;

use diesel::prelude::*;

use super::schema::leases::dsl as l;
use super::{Conn, Dialect, StoreError};
use crate::with_conn;

/// A held lease: proof of ownership until `expires_at_ms` (database time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub account_id: i64,
    pub owner: String,
    pub fencing_token: i64,
    pub expires_at_ms: i64,
}

/// The stored lease row, held or not.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct LeaseRow {
    pub account_id: i64,
    pub owner: Option<String>,
    pub fencing_token: i64,
    pub expires_at_ms: i64,
    pub claimed_at_ms: Option<i64>,
}

impl LeaseRow {
    fn into_lease(self) -> Option<Lease> {
        Some(Lease {
            account_id: self.account_id,
            owner: self.owner?,
            fencing_token: self.fencing_token,
            expires_at_ms: self.expires_at_ms,
        })
    }
}

/// Claims the account for `owner` for `ttl_ms`. `Ok(None)` when another owner holds it.
pub fn claim(
    conn: &mut Conn,
    account_id: i64,
    owner: &str,
    ttl_ms: i64,
) -> Result<Option<Lease>, StoreError> {
    Ok(claim_many(conn, &[account_id], owner, ttl_ms)?.pop())
}

/// Claims, in one transaction, every lease among `account_ids` that is free, expired or
/// already `owner`'s; answers the leases won (the others are held by another owner). One
/// statement per 500 accounts: an instance that takes over a dead one's thousand accounts
/// claims them at once instead of in a thousand transactions queued behind trading work.
pub fn claim_many(
    conn: &mut Conn,
    account_ids: &[i64],
    owner: &str,
    ttl_ms: i64,
) -> Result<Vec<Lease>, StoreError> {
    if account_ids.is_empty() {
        return Ok(Vec::new());
    }
    with_conn!(conn, |c| c.write_tx(|c| {
        let now = c.now_ms()?;
        let mut won = Vec::new();
        for chunk in account_ids.chunks(RENEW_CHUNK) {
            let fresh: Vec<_> = chunk
                .iter()
                .map(|id| {
                    (
                        l::account_id.eq(*id),
                        l::fencing_token.eq(0_i64),
                        l::expires_at_ms.eq(0_i64),
                    )
                })
                .collect();
            diesel::insert_into(l::leases)
                .values(fresh)
                .on_conflict_do_nothing()
                .execute(c)?;
            let free = c.lock_claimable(chunk, owner, now)?;
            let rows = diesel::update(
                l::leases.filter(l::account_id.eq_any(free)).filter(
                    l::owner
                        .is_null()
                        .or(l::expires_at_ms.le(now))
                        .or(l::owner.eq(owner)),
                ),
            )
            .set((
                l::owner.eq(owner),
                l::fencing_token.eq(l::fencing_token + 1_i64),
                l::expires_at_ms.eq(now + ttl_ms),
                l::claimed_at_ms.eq(now),
            ))
            .get_results::<LeaseRow>(c)?;
            won.extend(rows.into_iter().filter_map(LeaseRow::into_lease));
        }
        Ok::<_, StoreError>(won)
    }))
}

/// Extends a held lease. `LeaseLost` when it expired or was taken over: the caller must stop
/// sending orders for the account at once.
pub fn renew(conn: &mut Conn, lease: &Lease, ttl_ms: i64) -> Result<Lease, StoreError> {
    let row = with_conn!(conn, |c| c.write_tx(|c| {
        let now = c.now_ms()?;
        diesel::update(
            l::leases
                .filter(l::account_id.eq(lease.account_id))
                .filter(l::owner.eq(&lease.owner))
                .filter(l::fencing_token.eq(lease.fencing_token))
                .filter(l::expires_at_ms.gt(now)),
        )
        .set(l::expires_at_ms.eq(now + ttl_ms))
        .get_result::<LeaseRow>(c)
        .optional()
        .map_err(StoreError::from)
    }))?;
    row.and_then(LeaseRow::into_lease)
        .ok_or(StoreError::LeaseLost {
            account_id: lease.account_id,
            fencing_token: lease.fencing_token,
        })
}

/// What one [`renew_held`] did with each lease it was given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// Renewed: held for another TTL.
    pub renewed: Vec<(i64, i64)>,
    /// Still held but not renewed this time: another transaction had the row (the account
    /// releasing it, say). Its expiry stands; the next renewal tries again.
    pub busy: Vec<(i64, i64)>,
}

/// Renews, in one transaction, every lease of `owner` among `held` (account, fencing token)
/// that is still unexpired. A lease in neither list of the answer was lost (expired or taken
/// over): its account must stop sending at once. One statement per 500 accounts renews a
/// whole instance's leases, instead of one transaction per account; rows another transaction
/// holds are skipped rather than waited for, so a renewal never joins a deadlock.
pub fn renew_held(
    conn: &mut Conn,
    owner: &str,
    held: &[(i64, i64)],
    ttl_ms: i64,
) -> Result<Renewal, StoreError> {
    if held.is_empty() {
        return Ok(Renewal::default());
    }
    let (renewed, still) = with_conn!(conn, |c| c.write_tx(|c| {
        let now = c.now_ms()?;
        let mut renewed: Vec<(i64, i64)> = Vec::with_capacity(held.len());
        let mut still: Vec<(i64, i64)> = Vec::new();
        for chunk in held.chunks(RENEW_CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
            let free = c.lock_own(&ids, owner, now)?;
            if free.len() < ids.len() {
                still.extend(
                    l::leases
                        .filter(l::account_id.eq_any(&ids))
                        .filter(l::owner.eq(owner))
                        .filter(l::expires_at_ms.gt(now))
                        .select((l::account_id, l::fencing_token))
                        .load::<(i64, i64)>(c)?,
                );
            }
            renewed.extend(
                diesel::update(
                    l::leases
                        .filter(l::account_id.eq_any(free))
                        .filter(l::owner.eq(owner))
                        .filter(l::expires_at_ms.gt(now)),
                )
                .set(l::expires_at_ms.eq(now + ttl_ms))
                .returning((l::account_id, l::fencing_token))
                .get_results::<(i64, i64)>(c)?,
            );
        }
        Ok::<_, StoreError>((renewed, still))
    }))?;
    let renewed: HashSet<(i64, i64)> = renewed.into_iter().collect();
    let still: HashSet<(i64, i64)> = still.into_iter().collect();
    let (mut out, mut busy) = (Vec::new(), Vec::new());
    for h in held.iter().copied() {
        if renewed.contains(&h) {
            out.push(h);
        } else if still.contains(&h) {
            busy.push(h);
        }
    }
    Ok(Renewal { renewed: out, busy })
}

/// Accounts per statement of [`renew_held`] and [`claim_many`]: well inside both backends'
/// parameter limits.
const RENEW_CHUNK: usize = 500;

/// Gives the lease up so another instance can claim it at once. `false` if it was no longer ours.
pub fn release(conn: &mut Conn, lease: &Lease) -> Result<bool, StoreError> {
    let n = with_conn!(conn, |c| diesel::update(
        l::leases
            .filter(l::account_id.eq(lease.account_id))
            .filter(l::owner.eq(&lease.owner))
            .filter(l::fencing_token.eq(lease.fencing_token)),
    )
    .set((l::owner.eq(None::<String>), l::expires_at_ms.eq(0_i64)))
    .execute(c))?;
    Ok(n == 1)
}

/// Who holds the account now (an unexpired lease, by the database clock), if anyone.
pub fn holder(conn: &mut Conn, account_id: i64) -> Result<Option<String>, StoreError> {
    with_conn!(conn, |c| {
        let now = c.now_ms()?;
        l::leases
            .find(account_id)
            .filter(l::expires_at_ms.gt(now))
            .select(l::owner)
            .first::<Option<String>>(c)
            .optional()
            .map(Option::flatten)
    })
    .map_err(StoreError::from)
}

/// Every account some instance holds now (an unexpired lease, by the database clock).
pub fn held_now(conn: &mut Conn) -> Result<Vec<i64>, StoreError> {
    with_conn!(conn, |c| {
        let now = c.now_ms()?;
        l::leases
            .filter(l::expires_at_ms.gt(now))
            .filter(l::owner.is_not_null())
            .select(l::account_id)
            .load::<i64>(c)
    })
    .map_err(StoreError::from)
}

/// The stored row, whoever holds it.
pub fn current(conn: &mut Conn, account_id: i64) -> Result<Option<LeaseRow>, StoreError> {
    Ok(with_conn!(conn, |c| l::leases
        .find(account_id)
        .first::<LeaseRow>(c)
        .optional())?)
}

/// Verifies a lease inside the caller's transaction.
pub trait LeaseCheck {
    /// Succeeds only if `lease` is still held and unexpired; on PostgreSQL it also locks the
    /// lease row until the transaction ends, so no takeover can slip in before the write.
    fn hold(&mut self, lease: &Lease) -> Result<(), StoreError>;
}

impl LeaseCheck for diesel::SqliteConnection {
    fn hold(&mut self, lease: &Lease) -> Result<(), StoreError> {
        // The transaction holds SQLite's one write lock already: no takeover can commit
        // before this one does, so a read is the whole check (and, unlike an update, its
        // statement is prepared once).
        let now = self.now_ms()?;
        let n: i64 = l::leases
            .filter(l::account_id.eq(lease.account_id))
            .filter(l::owner.eq(&lease.owner))
            .filter(l::fencing_token.eq(lease.fencing_token))
            .filter(l::expires_at_ms.gt(now))
            .count()
            .get_result(self)?;
        held(n, lease)
    }
}

impl LeaseCheck for diesel::PgConnection {
    fn hold(&mut self, lease: &Lease) -> Result<(), StoreError> {
        let now = self.now_ms()?;
        // A key-share lock: a takeover (`lock_claimable` takes the row for update) waits for
        // this transaction to end, while the owner's own renewal does not.
        let n = l::leases
            .filter(l::account_id.eq(lease.account_id))
            .filter(l::owner.eq(&lease.owner))
            .filter(l::fencing_token.eq(lease.fencing_token))
            .filter(l::expires_at_ms.gt(now))
            .select(l::account_id)
            .for_key_share()
            .load::<i64>(self)?
            .len();
        held(i64::try_from(n).unwrap_or(0), lease)
    }
}

/// How the batched lease statements take their rows. On PostgreSQL a row another transaction
/// holds is skipped, never waited for: a claim or a renewal of many rows, in whatever order,
/// then cannot deadlock with the instance's group commits (each of which may hold several
/// lease rows). SQLite has one writer at a time: nothing to skip.
trait LeaseLocks {
    /// Of `ids`, the rows `owner` may claim now (free, expired or its own), locked for update.
    fn lock_claimable(
        &mut self,
        ids: &[i64],
        owner: &str,
        now: i64,
    ) -> Result<Vec<i64>, diesel::result::Error>;

    /// Of `ids`, the unexpired rows of `owner`, locked for a renewal.
    fn lock_own(
        &mut self,
        ids: &[i64],
        owner: &str,
        now: i64,
    ) -> Result<Vec<i64>, diesel::result::Error>;
}

impl LeaseLocks for diesel::SqliteConnection {
    fn lock_claimable(
        &mut self,
        ids: &[i64],
        _owner: &str,
        _now: i64,
    ) -> Result<Vec<i64>, diesel::result::Error> {
        Ok(ids.to_vec())
    }

    fn lock_own(
        &mut self,
        ids: &[i64],
        _owner: &str,
        _now: i64,
    ) -> Result<Vec<i64>, diesel::result::Error> {
        Ok(ids.to_vec())
    }
}

impl LeaseLocks for diesel::PgConnection {
    fn lock_claimable(
        &mut self,
        ids: &[i64],
        owner: &str,
        now: i64,
    ) -> Result<Vec<i64>, diesel::result::Error> {
        l::leases
            .filter(l::account_id.eq_any(ids))
            .filter(
                l::owner
                    .is_null()
                    .or(l::expires_at_ms.le(now))
                    .or(l::owner.eq(owner)),
            )
            .select(l::account_id)
            .for_update()
            .skip_locked()
            .load(self)
    }

    fn lock_own(
        &mut self,
        ids: &[i64],
        owner: &str,
        now: i64,
    ) -> Result<Vec<i64>, diesel::result::Error> {
        l::leases
            .filter(l::account_id.eq_any(ids))
            .filter(l::owner.eq(owner))
            .filter(l::expires_at_ms.gt(now))
            .select(l::account_id)
            .for_no_key_update()
            .skip_locked()
            .load(self)
    }
}

fn held(matching: i64, lease: &Lease) -> Result<(), StoreError> {
    if matching == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost {
            account_id: lease.account_id,
            fencing_token: lease.fencing_token,
        })
    }
}
