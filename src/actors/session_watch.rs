//! The session watch: where stored credentials said when their cookies expire, an event (and,
//! through `[notify]`, a message) goes out `session_warn_hours` before, and another at the
//! expiry. A warning already stored for the same expiry is not given again, by this instance
//! after a restart or by another one on the same database.
//!
//! It also probes the sessions no instance is trading on (a trading account probes its own):
//! each about once per `Timing::session_probe_idle`, spread over the checks, one request from
//! the account's own budget. A refusal (expired, 2FA, face check) is a `session_refused` event,
//! once per stored credentials.

use std::collections::{HashMap, HashSet};

use slog::{info, warn};

use super::Ctx;
use super::context::LiveEvent;
use super::credentials::{self, ProbeVerdict};
use super::supervisor::SupervisorHandle;
use crate::domain::session::{self, Stage};
use crate::store::models::{EventLevel, NewEvent, WebhookStatus};
use crate::store::{self, StoreError};
use crate::telemetry::fields;

/// One warning to give.
struct Due {
    account_id: i64,
    account: String,
    stage: Stage,
    expires_at_ms: i64,
}

pub fn start(ctx: &Ctx, sup: SupervisorHandle) {
    let ctx = ctx.clone();
    actix_rt::spawn(async move {
        let mut given: HashSet<(i64, i64, &'static str)> = HashSet::new();
        let mut probed: HashMap<i64, i64> = HashMap::new();
        loop {
            tokio::time::sleep(ctx.timing.session_check).await;
            if let Err(e) = look(&ctx, &mut given).await {
                warn!(ctx.log, "the session watch could not read the store";
                    fields::EVENT_ACTION => "session-watch", "error.message" => e.to_string());
            }
            if let Err(e) = probe_idle(&ctx, &sup, &mut probed).await {
                warn!(ctx.log, "the session watch could not probe";
                    fields::EVENT_ACTION => "session-probe", "error.message" => e.to_string());
            }
        }
    });
}

/// Probes this check's share of the sessions no instance trades on, the longest unprobed
/// first.
async fn probe_idle(
    ctx: &Ctx,
    sup: &SupervisorHandle,
    probed: &mut HashMap<i64, i64>,
) -> Result<(), StoreError> {
    let now = ctx.clock.now_ms();
    let every = ctx.timing.session_probe_idle.as_millis().max(1);
    let (sessions, held, names) = ctx
        .store
        .run(|c| {
            let names: HashMap<i64, String> = store::accounts::list(c)?
                .into_iter()
                .map(|a| (a.id, a.name))
                .collect();
            Ok((
                store::credentials::sessions(c)?,
                store::lease::held_now(c)?,
                names,
            ))
        })
        .await?;
    let held: HashSet<i64> = held.into_iter().collect();
    let mut idle: Vec<(i64, i64)> = sessions
        .iter()
        .filter(|(id, _, _)| {
            names.contains_key(id) && !held.contains(id) && sup.status(*id).is_none()
        })
        .map(|(id, _, stored_at)| (*id, *stored_at))
        .collect();
    probed.retain(|id, _| idle.iter().any(|(i, _)| i == id));
    // This check's share: every idle session once per `every`, spread over the checks.
    let share = (idle.len() as u128 * ctx.timing.session_check.as_millis()).div_ceil(every);
    let due_before = now.saturating_sub(i64::try_from(every).unwrap_or(i64::MAX));
    // A session is first due a probe one interval after it was stored.
    let last =
        |id: &i64, stored_at: i64| probed.get(id).copied().unwrap_or(stored_at).max(stored_at);
    idle.retain(|(id, stored_at)| last(id, *stored_at) <= due_before);
    idle.sort_by_key(|(id, stored_at)| (last(id, *stored_at), *id));
    for (id, stored_at) in idle
        .into_iter()
        .take(usize::try_from(share).unwrap_or(usize::MAX))
    {
        probed.insert(id, now);
        let verdict = match credentials::probe(ctx, id).await {
            Ok(v) => v,
            Err(e) => ProbeVerdict::Unknown(e.to_string()),
        };
        let ProbeVerdict::Refused(reason) = verdict else {
            continue;
        };
        let account = names.get(&id).cloned().unwrap_or_default();
        let event = NewEvent {
            account_id: Some(id),
            account_name: Some(account.clone()),
            kind: session::REFUSED_KIND.to_owned(),
            level: EventLevel::Error,
            reason: Some(reason.code().to_owned()),
            actor: "daemon".into(),
            message: format!(
                "the exchange refused the stored session of {account} ({}): log in again and store new credentials",
                reason.code()
            ),
            data: serde_json::json!({"account": account, "reason": reason.code()}).to_string(),
            webhook_status: WebhookStatus::None,
            created_at_ms: now,
        };
        let row = ctx
            .store
            .run(move |c| {
                if store::events::has_kind_since(c, id, session::REFUSED_KIND, stored_at)? {
                    return Ok(None);
                }
                store::events::append(c, &event).map(Some)
            })
            .await?;
        if let Some(row) = row {
            broadcast(ctx, row);
        }
    }
    Ok(())
}

/// A stored event, logged and sent to the live stream (and so to `[notify]`).
fn broadcast(ctx: &Ctx, row: crate::store::models::EventRow) {
    info!(ctx.log, "{}", row.message; fields::EVENT_ACTION => row.kind.clone(),
        fields::TRADING_ACCOUNT => row.account_name.clone().unwrap_or_default());
    let _ = ctx.events.send(LiveEvent {
        id: row.id,
        account: row.account_name.clone().unwrap_or_default(),
        kind: row.kind.clone(),
        level: row.level.as_str().to_owned(),
        reason: row.reason.clone(),
        message: row.message.clone(),
        at_ms: row.created_at_ms,
    });
}

async fn look(ctx: &Ctx, given: &mut HashSet<(i64, i64, &'static str)>) -> Result<(), StoreError> {
    let now = ctx.clock.now_ms();
    let warn_ms = i64::try_from(ctx.timing.session_warn.as_millis()).unwrap_or(i64::MAX);
    let expiring = ctx
        .store
        .run(|c| {
            let names: std::collections::HashMap<i64, String> = store::accounts::list(c)?
                .into_iter()
                .map(|a| (a.id, a.name))
                .collect();
            Ok(store::credentials::sessions(c)?
                .into_iter()
                .filter_map(|(id, at, _)| Some((id, names.get(&id)?.clone(), at?)))
                .collect::<Vec<_>>())
        })
        .await?;
    let due: Vec<Due> = expiring
        .into_iter()
        .filter_map(|(account_id, account, expires_at_ms)| {
            let stage = session::stage(expires_at_ms, now, warn_ms)?;
            (!given.contains(&(account_id, expires_at_ms, stage.kind()))).then_some(Due {
                account_id,
                account,
                stage,
                expires_at_ms,
            })
        })
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    let keys: Vec<(i64, i64, &'static str)> = due
        .iter()
        .map(|d| (d.account_id, d.expires_at_ms, d.stage.kind()))
        .collect();
    let stored = ctx
        .store
        .run(move |c| {
            let mut stored = Vec::new();
            for d in due {
                // Given already for this expiry (since its window opened)?
                let since = match d.stage {
                    Stage::Expiring => d.expires_at_ms.saturating_sub(warn_ms),
                    Stage::Expired => d.expires_at_ms,
                };
                if store::events::has_kind_since(c, d.account_id, d.stage.kind(), since)? {
                    continue;
                }
                let event = warning(&d, now);
                stored.push(store::events::append(c, &event)?);
            }
            Ok(stored)
        })
        .await?;
    given.extend(keys);
    for row in stored {
        broadcast(ctx, row);
    }
    Ok(())
}

fn warning(d: &Due, now: i64) -> NewEvent {
    let at = chrono::DateTime::from_timestamp_millis(d.expires_at_ms).map_or_else(
        || d.expires_at_ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    let (level, message) = match d.stage {
        Stage::Expiring => {
            let mins = d.expires_at_ms.saturating_sub(now) / 60_000;
            (
                EventLevel::Warn,
                format!(
                    "the session of {} expires at {at} (in {}h{:02}m): log in again and store new credentials",
                    d.account,
                    mins / 60,
                    mins % 60
                ),
            )
        }
        Stage::Expired => (
            EventLevel::Error,
            format!(
                "the session of {} expired at {at}: it cannot trade until new credentials are stored",
                d.account
            ),
        ),
    };
    let data = serde_json::json!({"account": d.account, "expires_at_ms": d.expires_at_ms});
    NewEvent {
        account_id: Some(d.account_id),
        account_name: Some(d.account.clone()),
        kind: d.stage.kind().to_owned(),
        level,
        reason: Some(match d.stage {
            Stage::Expiring => "session_expiring".to_owned(),
            Stage::Expired => "session_expired".to_owned(),
        }),
        actor: "daemon".into(),
        message,
        data: data.to_string(),
        webhook_status: WebhookStatus::None,
        created_at_ms: now,
    }
}
