//! The instances sharing the database (B4): a heartbeat row each, and what the shares are
//! computed from (`domain::shares`): the live instances and who holds each account now.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::accounts::dsl as a;
use super::schema::instances::dsl as i;
use super::schema::leases::dsl as l;
use super::{Conn, Dialect, StoreError};
use crate::domain::shares::{Held, Peer};
use crate::with_conn;

/// Writes this instance's heartbeat (database time) and answers the instances whose
/// heartbeat is younger than `live_ms`, this one included.
pub fn beat(
    conn: &mut Conn,
    id: &str,
    capacity: u32,
    live_ms: i64,
) -> Result<Vec<Peer>, StoreError> {
    let capacity = i32::try_from(capacity.max(1)).unwrap_or(i32::MAX);
    let rows = with_conn!(conn, |c| c.write_tx(|c| {
        let now = c.now_ms()?;
        diesel::insert_into(i::instances)
            .values((
                i::id.eq(id),
                i::capacity.eq(capacity),
                i::started_at_ms.eq(now),
                i::heartbeat_at_ms.eq(now),
            ))
            .on_conflict(i::id)
            .do_update()
            .set((i::capacity.eq(capacity), i::heartbeat_at_ms.eq(now)))
            .execute(c)?;
        i::instances
            .filter(i::heartbeat_at_ms.gt(now - live_ms))
            .select((i::id, i::capacity))
            .order(i::id.asc())
            .load::<(String, i32)>(c)
            .map_err(StoreError::from)
    }))?;
    Ok(rows
        .into_iter()
        .map(|(id, capacity)| Peer {
            id,
            capacity: u32::try_from(capacity).unwrap_or(1).max(1),
        })
        .collect())
}

/// The instance stops cleanly: the others share its accounts out at their next look instead
/// of waiting for its heartbeat to age.
pub fn leave(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    with_conn!(conn, |c| diesel::delete(i::instances.find(id)).execute(c))?;
    Ok(())
}

/// Every account but the retired ones, with the instance holding its lease now (an unexpired
/// lease, by the database clock).
pub fn holders(conn: &mut Conn) -> Result<Vec<Held>, StoreError> {
    let (ids, held) = with_conn!(conn, |c| {
        let now = c.now_ms()?;
        let ids = a::accounts
            .filter(a::retired_at_ms.is_null())
            .select(a::id)
            .load::<i64>(c)?;
        let held = l::leases
            .filter(l::expires_at_ms.gt(now))
            .filter(l::owner.is_not_null())
            .select((l::account_id, l::owner))
            .load::<(i64, Option<String>)>(c)?;
        Ok::<_, StoreError>((ids, held))
    })?;
    let mut by: HashMap<i64, String> = held
        .into_iter()
        .filter_map(|(id, o)| o.map(|o| (id, o)))
        .collect();
    Ok(ids
        .into_iter()
        .map(|account_id| Held {
            account_id,
            holder: by.remove(&account_id),
        })
        .collect())
}

/// The accounts (not retired) whose operator wants them trading or paused: each needs a task
/// on the instance its share is on. A stopped or never-started one needs none until started.
pub fn wanted(conn: &mut Conn) -> Result<Vec<i64>, StoreError> {
    use crate::store::models::Desired;
    Ok(with_conn!(conn, |c| a::accounts
        .filter(a::retired_at_ms.is_null())
        .filter(a::desired.eq_any([Desired::Run, Desired::Pause]))
        .select(a::id)
        .load::<i64>(c))?)
}
