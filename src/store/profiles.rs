//! Profiles, and the accounts' membership of them and tags. A profile change writes, in one
//! transaction, the profile, each member's resolved settings (`trading_configs`, revision up by
//! one) and one audit event per member: no account is left trading an old profile's settings
//! after a crash in the middle.

use diesel::prelude::*;

use super::configs::PutConfig;
use super::models::{AccountRow, NewEvent, ProfileRow, TradingConfigRow};
use super::schema::accounts::dsl as a;
use super::schema::events::dsl as e;
use super::schema::profiles::dsl as p;
use super::{Conn, Dialect, StoreError};
use crate::with_conn;

/// One account's part of a change: its new settings row and the event that records it.
pub struct MemberChange {
    pub config: TradingConfigRow,
    pub event: NewEvent,
}

pub fn list(conn: &mut Conn) -> Result<Vec<ProfileRow>, StoreError> {
    Ok(with_conn!(conn, |c| p::profiles
        .order(p::name.asc())
        .load::<ProfileRow>(c))?)
}

pub fn get(conn: &mut Conn, name: &str) -> Result<Option<ProfileRow>, StoreError> {
    Ok(with_conn!(conn, |c| p::profiles
        .find(name)
        .first::<ProfileRow>(c)
        .optional())?)
}

/// A new profile at revision 1; a taken name is a `Conflict`.
pub fn create(
    conn: &mut Conn,
    name: &str,
    settings: &str,
    now_ms: i64,
) -> Result<ProfileRow, StoreError> {
    let row = ProfileRow {
        name: name.to_owned(),
        settings: settings.to_owned(),
        revision: 1,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    };
    Ok(with_conn!(conn, |c| diesel::insert_into(p::profiles)
        .values(&row)
        .get_result::<ProfileRow>(c))?)
}

/// The accounts on a profile (retired ones left out), by id.
pub fn members(conn: &mut Conn, name: &str) -> Result<Vec<AccountRow>, StoreError> {
    Ok(with_conn!(conn, |c| a::accounts
        .filter(a::profile.eq(name))
        .filter(a::retired_at_ms.is_null())
        .order(a::id.asc())
        .load::<AccountRow>(c))?)
}

/// Removes a profile no account is on; `Conflict` names how many still are. Retired accounts
/// let go of it.
pub fn delete(conn: &mut Conn, name: &str) -> Result<(), StoreError> {
    with_conn!(conn, |c| c.write_tx(|c| {
        let on: i64 = a::accounts
            .filter(a::profile.eq(name))
            .filter(a::retired_at_ms.is_null())
            .count()
            .get_result(c)?;
        if on > 0 {
            return Err(StoreError::Conflict(format!(
                "{on} account(s) are on the profile"
            )));
        }
        diesel::update(a::accounts.filter(a::profile.eq(name)))
            .set(a::profile.eq(None::<String>))
            .execute(c)?;
        match diesel::delete(p::profiles.find(name)).execute(c)? {
            0 => Err(StoreError::NotFound("profile")),
            _ => Ok(()),
        }
    }))
}

/// Writes the profile's new settings (revision up by one) and each member's change, all or
/// nothing. `expected_revision`, when given, must be the stored one (`Conflict` otherwise), so
/// two operators editing at once do not overwrite each other unseen.
pub fn change(
    conn: &mut Conn,
    name: &str,
    settings: &str,
    expected_revision: Option<i64>,
    members: &[MemberChange],
    now_ms: i64,
) -> Result<ProfileRow, StoreError> {
    with_conn!(conn, |c| c.write_tx(|c| {
        let current: i64 = p::profiles
            .find(name)
            .select(p::revision)
            .first(c)
            .optional()?
            .ok_or(StoreError::NotFound("profile"))?;
        if expected_revision.is_some_and(|r| r != current) {
            return Err(StoreError::Conflict(format!(
                "the profile is at revision {current}"
            )));
        }
        let row = diesel::update(p::profiles.find(name))
            .set((
                p::settings.eq(settings),
                p::revision.eq(current + 1),
                p::updated_at_ms.eq(now_ms),
            ))
            .get_result::<ProfileRow>(c)?;
        for m in members {
            c.put_config(&m.config)?;
        }
        let events: Vec<&NewEvent> = members.iter().map(|m| &m.event).collect();
        for chunk in events.chunks(200) {
            for ev in chunk {
                diesel::insert_into(e::events).values(*ev).execute(c)?;
            }
        }
        Ok(row)
    }))
}

/// Puts accounts on a profile (or on none) with their overrides and resolved settings, and
/// records one event each, all or nothing. With a profile, it must exist (`NotFound`).
pub fn assign(
    conn: &mut Conn,
    profile: Option<&str>,
    members: &[(i64, String, MemberChange)],
) -> Result<(), StoreError> {
    with_conn!(conn, |c| c.write_tx(|c| {
        if let Some(name) = profile {
            let found: i64 = p::profiles.find(name).count().get_result(c)?;
            if found == 0 {
                return Err(StoreError::NotFound("profile"));
            }
        }
        for (id, overrides, m) in members {
            diesel::update(a::accounts.find(*id))
                .set((a::profile.eq(profile), a::overrides.eq(overrides)))
                .execute(c)?;
            c.put_config(&m.config)?;
            diesel::insert_into(e::events).values(&m.event).execute(c)?;
        }
        Ok(())
    }))
}

/// An account's membership and settings at once (a settings change, an import's update): its
/// profile when given (`Some(None)` takes it off), its overrides, its tags when given, and its
/// resolved settings with their event.
pub fn update_member(
    conn: &mut Conn,
    id: i64,
    profile: Option<Option<&str>>,
    overrides: &str,
    tags: Option<&str>,
    change: &MemberChange,
) -> Result<(), StoreError> {
    with_conn!(conn, |c| c.write_tx(|c| {
        diesel::update(a::accounts.find(id))
            .set(a::overrides.eq(overrides))
            .execute(c)?;
        if let Some(profile) = profile {
            diesel::update(a::accounts.find(id))
                .set(a::profile.eq(profile))
                .execute(c)?;
        }
        if let Some(tags) = tags {
            diesel::update(a::accounts.find(id))
                .set(a::tags.eq(tags))
                .execute(c)?;
        }
        c.put_config(&change.config)?;
        diesel::insert_into(e::events)
            .values(&change.event)
            .execute(c)?;
        Ok(())
    }))
}

/// Replaces an account's tags (a JSON array, canonical already).
pub fn set_tags(conn: &mut Conn, id: i64, tags: &str) -> Result<(), StoreError> {
    let n = with_conn!(conn, |c| diesel::update(a::accounts.find(id))
        .set(a::tags.eq(tags))
        .execute(c))?;
    match n {
        0 => Err(StoreError::NotFound("account")),
        _ => Ok(()),
    }
}
