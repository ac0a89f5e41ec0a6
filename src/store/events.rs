//! Events: the audit trail (order actions, config and credential changes, pauses) and the
//! notifications that go with them.

use std::collections::HashMap;

use diesel::prelude::*;

use super::models::{EventRow, NewEvent, Page, WebhookStatus};
use super::schema::events::dsl as e;
use super::{Conn, StoreError};
use crate::with_conn;

pub fn append(conn: &mut Conn, event: &NewEvent) -> Result<EventRow, StoreError> {
    if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&event.data).is_err() {
        return Err(StoreError::Corrupt {
            column: "events.data",
            detail: "must be a JSON object".into(),
        });
    }
    Ok(with_conn!(conn, |c| diesel::insert_into(e::events)
        .values(event.clone())
        .get_result::<EventRow>(c))?)
}

/// Events newest first; of one account, or of all when `account_id` is `None`.
pub fn list(
    conn: &mut Conn,
    account_id: Option<i64>,
    page: Page,
) -> Result<Vec<EventRow>, StoreError> {
    Ok(with_conn!(conn, |c| {
        let mut q = e::events.filter(e::id.lt(page.upper_bound())).into_boxed();
        if let Some(id) = account_id {
            q = q.filter(e::account_id.eq(id));
        }
        q.order(e::id.desc())
            .limit(page.clamped_limit())
            .load::<EventRow>(c)
    })?)
}

/// When the account's newest event was stored, if it has one.
pub fn last_at(conn: &mut Conn, account_id: i64) -> Result<Option<i64>, StoreError> {
    Ok(with_conn!(conn, |c| e::events
        .filter(e::account_id.eq(account_id))
        .order(e::id.desc())
        .select(e::created_at_ms)
        .first::<i64>(c)
        .optional())?)
}

/// When each account's newest event was stored: one query for a whole listing.
pub fn last_at_all(conn: &mut Conn) -> Result<HashMap<i64, i64>, StoreError> {
    use diesel::dsl::max;
    let rows = with_conn!(conn, |c| e::events
        .filter(e::account_id.is_not_null())
        .group_by(e::account_id)
        .select((e::account_id, max(e::created_at_ms)))
        .load::<(Option<i64>, Option<i64>)>(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at)| Some((id?, at?)))
        .collect())
}

/// Every event of `kind` of an account: (account, reason, stored at), oldest first.
pub fn of_kind(conn: &mut Conn, kind: &str) -> Result<Vec<(i64, Option<String>, i64)>, StoreError> {
    let rows = with_conn!(conn, |c| e::events
        .filter(e::kind.eq(kind))
        .filter(e::account_id.is_not_null())
        .order(e::id.asc())
        .select((e::account_id, e::reason, e::created_at_ms))
        .load::<(Option<i64>, Option<String>, i64)>(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, reason, at)| Some((id?, reason, at)))
        .collect())
}

/// Whether the account has an event of `kind` stored at or after `since_ms`.
pub fn has_kind_since(
    conn: &mut Conn,
    account_id: i64,
    kind: &str,
    since_ms: i64,
) -> Result<bool, StoreError> {
    let n: i64 = with_conn!(conn, |c| e::events
        .filter(e::account_id.eq(account_id))
        .filter(e::kind.eq(kind))
        .filter(e::created_at_ms.ge(since_ms))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// The reason of the account's newest event of `kind` stored at or after `since_ms`, if any
/// (`Some(None)`: one without a reason).
pub fn reason_since(
    conn: &mut Conn,
    account_id: i64,
    kind: &str,
    since_ms: i64,
) -> Result<Option<Option<String>>, StoreError> {
    Ok(with_conn!(conn, |c| e::events
        .filter(e::account_id.eq(account_id))
        .filter(e::kind.eq(kind))
        .filter(e::created_at_ms.ge(since_ms))
        .order(e::id.desc())
        .select(e::reason)
        .first::<Option<String>>(c)
        .optional())?)
}

/// Events whose webhook POST is still owed, oldest first.
pub fn webhook_pending(conn: &mut Conn, limit: i64) -> Result<Vec<EventRow>, StoreError> {
    Ok(with_conn!(conn, |c| e::events
        .filter(e::webhook_status.eq(WebhookStatus::Pending))
        .order(e::id.asc())
        .limit(limit.clamp(1, Page::MAX_LIMIT))
        .load::<EventRow>(c))?)
}

pub fn set_webhook_status(
    conn: &mut Conn,
    event_id: i64,
    status: WebhookStatus,
) -> Result<(), StoreError> {
    let n = with_conn!(conn, |c| diesel::update(e::events.find(event_id))
        .set(e::webhook_status.eq(status))
        .execute(c))?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound("event"))
    }
}
