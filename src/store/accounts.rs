//! Accounts: the unit of isolation. Deleting one either retires it (its trading history
//! stays, its credentials and name go) or purges it (everything, its events too).

use diesel::prelude::*;

use super::models::{AccountRow, Desired, TradingConfigRow};
use super::schema::accounts::dsl as a;
use super::{Conn, Dialect, StoreError};
use crate::domain::shown::AccountState;
use crate::with_conn;

/// Creates an account in the `stopped` state. A taken name is a `Conflict`.
pub fn create(conn: &mut Conn, name: &str, now_ms: i64) -> Result<AccountRow, StoreError> {
    with_conn!(conn, |c| {
        diesel::insert_into(a::accounts)
            .values((
                a::name.eq(name),
                a::state.eq(AccountState::Stopped),
                a::desired.eq(Desired::Stop),
                a::created_at_ms.eq(now_ms),
                a::updated_at_ms.eq(now_ms),
            ))
            .get_result::<AccountRow>(c)
            .map_err(StoreError::from)
    })
}

/// What an account is made with beyond its name: its profile and overrides (JSON object),
/// its tags (JSON array), and its resolved settings (the row's `account_id` is filled in).
pub struct Seed {
    pub profile: Option<String>,
    pub overrides: String,
    pub tags: String,
    pub config: TradingConfigRow,
}

/// Creates an account (stopped) with its settings, profile and tags in one transaction; a
/// taken name is a `Conflict`, an unknown profile `NotFound("profile")`.
pub fn create_with(
    conn: &mut Conn,
    name: &str,
    seed: &Seed,
    now_ms: i64,
) -> Result<AccountRow, StoreError> {
    use super::configs::PutConfig;
    use super::schema::profiles::dsl as p;
    with_conn!(conn, |c| c.write_tx(|c| {
        if let Some(profile) = &seed.profile {
            let found: i64 = p::profiles.find(profile).count().get_result(c)?;
            if found == 0 {
                return Err(StoreError::NotFound("profile"));
            }
        }
        let account = diesel::insert_into(a::accounts)
            .values((
                a::name.eq(name),
                a::state.eq(AccountState::Stopped),
                a::desired.eq(Desired::Stop),
                a::created_at_ms.eq(now_ms),
                a::updated_at_ms.eq(now_ms),
                a::profile.eq(&seed.profile),
                a::overrides.eq(&seed.overrides),
                a::tags.eq(&seed.tags),
            ))
            .get_result::<AccountRow>(c)?;
        let mut config = seed.config.clone();
        config.account_id = account.id;
        c.put_config(&config)?;
        Ok(account)
    }))
}

pub fn get(conn: &mut Conn, id: i64) -> Result<AccountRow, StoreError> {
    with_conn!(conn, |c| a::accounts
        .find(id)
        .first::<AccountRow>(c)
        .optional())?
    .ok_or(StoreError::NotFound("account"))
}

/// The accounts among `ids` (retired ones too: the caller decides), in one query per 500.
pub fn get_many(conn: &mut Conn, ids: &[i64]) -> Result<Vec<AccountRow>, StoreError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        rows.extend(with_conn!(conn, |c| a::accounts
            .filter(a::id.eq_any(chunk))
            .load::<AccountRow>(c))?);
    }
    Ok(rows)
}

pub fn find_by_name(conn: &mut Conn, name: &str) -> Result<Option<AccountRow>, StoreError> {
    Ok(with_conn!(conn, |c| a::accounts
        .filter(a::name.eq(name))
        .filter(a::retired_at_ms.is_null())
        .first::<AccountRow>(c)
        .optional())?)
}

/// Every account but the retired ones, by id.
pub fn list(conn: &mut Conn) -> Result<Vec<AccountRow>, StoreError> {
    Ok(with_conn!(conn, |c| a::accounts
        .filter(a::retired_at_ms.is_null())
        .order(a::id.asc())
        .load::<AccountRow>(c))?)
}

/// Sets the state and the pause reason together (a reason only makes sense while paused or
/// failed, so callers pass `None` otherwise).
pub fn set_state(
    conn: &mut Conn,
    id: i64,
    state: AccountState,
    pause_reason: Option<&str>,
    now_ms: i64,
) -> Result<AccountRow, StoreError> {
    with_conn!(conn, |c| {
        c.write_tx(|c| {
            diesel::update(a::accounts.find(id))
                .set((
                    a::state.eq(state),
                    a::pause_reason.eq(pause_reason),
                    a::updated_at_ms.eq(now_ms),
                ))
                .get_result::<AccountRow>(c)
                .optional()
        })
    })?
    .ok_or(StoreError::NotFound("account"))
}

/// Records an operator's command: the wish, a new command number and the database time.
/// Answers the row as it now stands.
pub fn command(conn: &mut Conn, id: i64, desired: Desired) -> Result<AccountRow, StoreError> {
    with_conn!(conn, |c| {
        c.write_tx(|c| {
            let now = c.now_ms()?;
            diesel::update(a::accounts.find(id))
                .set((
                    a::desired.eq(desired),
                    a::command_seq.eq(a::command_seq + 1_i64),
                    a::command_at_ms.eq(now),
                ))
                .get_result::<AccountRow>(c)
                .optional()
        })
    })?
    .ok_or(StoreError::NotFound("account"))
}

/// Records a kill for every account at once (the global halt); answers the rows.
pub fn command_all(conn: &mut Conn, desired: Desired) -> Result<Vec<AccountRow>, StoreError> {
    with_conn!(conn, |c| {
        c.write_tx(|c| {
            let now = c.now_ms()?;
            diesel::update(a::accounts.filter(a::retired_at_ms.is_null()))
                .set((
                    a::desired.eq(desired),
                    a::command_seq.eq(a::command_seq + 1_i64),
                    a::command_at_ms.eq(now),
                ))
                .execute(c)?;
            a::accounts
                .filter(a::retired_at_ms.is_null())
                .order(a::id.asc())
                .load::<AccountRow>(c)
        })
    })
    .map_err(StoreError::from)
}

/// A recorded command: (account id, wish, command number).
pub type Recorded = (i64, Desired, i64);

/// The commands recorded within the last `window_ms` (database clock), for every account.
/// Each instance asks this often and acts on the numbers it has not seen for the accounts it
/// holds; the window is far longer than any transaction, so none commits unseen.
pub fn commands_since(conn: &mut Conn, window_ms: i64) -> Result<Vec<Recorded>, StoreError> {
    with_conn!(conn, |c| {
        let now = c.now_ms()?;
        a::accounts
            .filter(a::command_at_ms.gt(now - window_ms))
            .select((a::id, a::desired, a::command_seq))
            .load::<Recorded>(c)
    })
    .map_err(StoreError::from)
}

/// Removes an account and, by cascade, its credentials, config, cycles, orders, fills and
/// lease; its events keep its name (their account id becomes null).
pub fn delete(conn: &mut Conn, id: i64) -> Result<bool, StoreError> {
    let n = with_conn!(conn, |c| diesel::delete(a::accounts.find(id)).execute(c))?;
    Ok(n == 1)
}

/// Removes an account with everything it owns, its events too.
pub fn purge(conn: &mut Conn, id: i64) -> Result<bool, StoreError> {
    use super::schema::events::dsl as e;
    with_conn!(conn, |c| {
        c.write_tx(|c| {
            diesel::delete(e::events.filter(e::account_id.eq(id))).execute(c)?;
            diesel::delete(a::accounts.find(id)).execute(c)
        })
    })
    .map(|n| n == 1)
    .map_err(StoreError::from)
}

/// Retires an account: its cycles, orders, fills, settings and events stay for the books; its
/// credentials and lease are removed and its name is freed (`NAME~retired-ID`, outside the
/// names the API accepts). A retired account is never listed, run or commanded.
pub fn retire(conn: &mut Conn, id: i64, now_ms: i64) -> Result<bool, StoreError> {
    use super::schema::{credentials::dsl as cr, leases::dsl as l};
    with_conn!(conn, |c| {
        c.write_tx(|c| {
            diesel::delete(cr::credentials.filter(cr::account_id.eq(id))).execute(c)?;
            diesel::delete(l::leases.filter(l::account_id.eq(id))).execute(c)?;
            let Some(name) = a::accounts
                .find(id)
                .filter(a::retired_at_ms.is_null())
                .select(a::name)
                .first::<String>(c)
                .optional()?
            else {
                return Ok(0);
            };
            diesel::update(a::accounts.find(id))
                .set((
                    a::name.eq(format!("{name}~retired-{id}")),
                    a::desired.eq(Desired::Stop),
                    a::state.eq(AccountState::Stopped),
                    a::retired_at_ms.eq(Some(now_ms)),
                    a::updated_at_ms.eq(now_ms),
                ))
                .execute(c)
        })
    })
    .map(|n| n == 1)
    .map_err(StoreError::from)
}
