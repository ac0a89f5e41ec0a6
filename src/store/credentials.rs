//! Ciphertext rows of the vault. Only `vault` calls these; nothing here sees a plaintext.

use diesel::prelude::*;

use super::models::CredentialRow;
use super::schema::credentials::dsl as cr;
use super::{Conn, StoreError};
use crate::with_conn;

/// Stores the account's sealed credentials, replacing what was there. One statement (an
/// upsert): two writers at once both succeed, the later one's row stays. A delete then an
/// insert let two PostgreSQL writers both insert, and one failed on the primary key.
pub fn put(conn: &mut Conn, row: &CredentialRow) -> Result<(), StoreError> {
    use diesel::upsert::excluded;
    with_conn!(conn, |c| {
        diesel::insert_into(cr::credentials)
            .values(row.clone())
            .on_conflict(cr::account_id)
            .do_update()
            .set((
                cr::key_id.eq(excluded(cr::key_id)),
                cr::headers_ct.eq(excluded(cr::headers_ct)),
                cr::cookies_ct.eq(excluded(cr::cookies_ct)),
                cr::updated_at_ms.eq(excluded(cr::updated_at_ms)),
                cr::expires_at_ms.eq(excluded(cr::expires_at_ms)),
            ))
            .execute(c)
            .map(|_| ())
            .map_err(StoreError::from)
    })
}

pub fn get(conn: &mut Conn, account_id: i64) -> Result<Option<CredentialRow>, StoreError> {
    Ok(with_conn!(conn, |c| cr::credentials
        .find(account_id)
        .first::<CredentialRow>(c)
        .optional())?)
}

/// Every stored session: (account id, its expiry where its credentials said, when they were
/// stored), by account.
pub fn sessions(conn: &mut Conn) -> Result<Vec<(i64, Option<i64>, i64)>, StoreError> {
    Ok(with_conn!(conn, |c| cr::credentials
        .select((cr::account_id, cr::expires_at_ms, cr::updated_at_ms))
        .order(cr::account_id.asc())
        .load::<(i64, Option<i64>, i64)>(c))?)
}

/// An account's session: its expiry where its credentials said, and when they were stored;
/// `None` without credentials.
pub fn session(conn: &mut Conn, account_id: i64) -> Result<Option<(Option<i64>, i64)>, StoreError> {
    Ok(with_conn!(conn, |c| cr::credentials
        .find(account_id)
        .select((cr::expires_at_ms, cr::updated_at_ms))
        .first::<(Option<i64>, i64)>(c)
        .optional())?)
}

/// Account ids whose credentials are sealed under a key other than `key_id` (rotation work).
pub fn ids_not_under_key(conn: &mut Conn, key_id: &str) -> Result<Vec<i64>, StoreError> {
    Ok(with_conn!(conn, |c| cr::credentials
        .filter(cr::key_id.ne(key_id))
        .select(cr::account_id)
        .order(cr::account_id.asc())
        .load::<i64>(c))?)
}

/// Replaces a row only if it is still sealed under `expected_key_id`, so a rotation never
/// overwrites credentials that an operator changed meanwhile. Returns whether it replaced.
pub fn replace_if_key(
    conn: &mut Conn,
    row: &CredentialRow,
    expected_key_id: &str,
) -> Result<bool, StoreError> {
    let n = with_conn!(conn, |c| diesel::update(
        cr::credentials
            .filter(cr::account_id.eq(row.account_id))
            .filter(cr::key_id.eq(expected_key_id))
    )
    .set((
        cr::key_id.eq(&row.key_id),
        cr::headers_ct.eq(&row.headers_ct),
        cr::cookies_ct.eq(&row.cookies_ct),
        cr::updated_at_ms.eq(row.updated_at_ms),
    ))
    .execute(c))?;
    Ok(n == 1)
}

pub fn delete(conn: &mut Conn, account_id: i64) -> Result<bool, StoreError> {
    let n = with_conn!(conn, |c| diesel::delete(cr::credentials.find(account_id))
        .execute(c))?;
    Ok(n == 1)
}
