//! Which profile an account is on and what that makes its settings: shared by the profile
//! routes, the account routes and the bulk actions. Every change of an account's settings is
//! recorded by an event and told to its task, which takes it between pairs.

use serde_json::{Value, json};

use super::ApiState;
use super::error::ApiError;
use crate::actors::account::Command;
use crate::domain::profile::{self, Fields};
use crate::domain::settings::{AccountSettings, SettingsError};
use crate::store::models::{AccountRow, EventLevel, NewEvent, ProfileRow, WebhookStatus};
use crate::store::profiles::MemberChange;
use crate::store::{self, StoreError};

/// A profile's stored settings (as stored: a row written before a bound existed still shows).
pub(super) fn settings_of(row: &ProfileRow) -> Result<AccountSettings, ApiError> {
    serde_json::from_str(&row.settings)
        .map_err(|e| ApiError::Internal(format!("profile {:?}: stored settings: {e}", row.name)))
}

/// The profile row named `name`.
pub(super) async fn profile_row(state: &ApiState, name: &str) -> Result<ProfileRow, ApiError> {
    super::names::check_name(name).map_err(|_| ApiError::ProfileNotFound(name.to_owned()))?;
    let n = name.to_owned();
    state
        .ctx
        .store
        .run(move |c| store::profiles::get(c, &n))
        .await?
        .ok_or_else(|| ApiError::ProfileNotFound(name.to_owned()))
}

/// The event that records an account's new settings (the audit trail of a profile change).
pub(super) fn settings_event(
    account: &AccountRow,
    now: i64,
    message: String,
    data: Value,
) -> NewEvent {
    NewEvent {
        account_id: Some(account.id),
        account_name: Some(account.name.clone()),
        kind: "settings_changed".into(),
        level: EventLevel::Info,
        reason: None,
        actor: "operator".into(),
        message,
        data: data.to_string(),
        webhook_status: WebhookStatus::None,
        created_at_ms: now,
    }
}

/// Running accounts held here take their new settings between pairs; the others read them
/// when they start.
pub(super) async fn tell_changed(state: &ApiState, ids: impl IntoIterator<Item = i64>) {
    for id in ids {
        if state.sup.status(id).is_some() {
            let _ = state.sup.command(id, Command::SettingsChanged).await;
        }
    }
}

/// An account's settings on a profile: the profile's with the account's overrides over them.
pub(super) fn resolve(
    account: &AccountRow,
    settings: &AccountSettings,
) -> Result<AccountSettings, SettingsError> {
    let overrides = profile::fields_from_text(&account.overrides)?;
    profile::lay_over(settings, &overrides)
}

/// Puts accounts on `profile` (or on none): with `keep_overrides` each keeps what it set
/// itself, otherwise it takes the profile whole. An account the profile does not fit (its
/// overrides would be invalid) is refused with the reason; the rest change together.
pub(super) async fn assign(
    state: &ApiState,
    accounts: &[AccountRow],
    profile_name: Option<&str>,
    keep_overrides: bool,
) -> Result<Vec<Result<(), String>>, ApiError> {
    let settings = match profile_name {
        Some(p) => Some(settings_of(&profile_row(state, p).await?)?),
        None => None,
    };
    let ids: Vec<i64> = accounts.iter().map(|a| a.id).collect();
    let current = state
        .ctx
        .store
        .run(move |c| {
            ids.iter()
                .map(|id| store::configs::get(c, *id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let now = state.ctx.clock.now_ms();
    let mut results = Vec::with_capacity(accounts.len());
    let mut writes = Vec::new();
    for (a, row) in accounts.iter().zip(current) {
        let overrides = if keep_overrides {
            profile::fields_from_text(&a.overrides).unwrap_or_default()
        } else {
            Fields::new()
        };
        let resolved = match (&settings, row) {
            (Some(s), _) => profile::lay_over(s, &overrides).map_err(|e| e.to_string()),
            // Off a profile, the account keeps trading what it trades now, as its own.
            (None, Some(r)) => store::configs::as_stored(&r).map_err(|e| e.to_string()),
            (None, None) => Err("the account has no settings row".to_owned()),
        };
        match resolved {
            Ok(s) => {
                let message = match profile_name {
                    Some(p) => format!("put on profile {p}"),
                    None => "taken off its profile".to_owned(),
                };
                let data = json!({"account": a.name, "profile": profile_name, "kept_overrides": keep_overrides});
                let kept = Value::Object(overrides).to_string();
                writes.push((
                    a.id,
                    kept,
                    MemberChange {
                        config: store::configs::to_row(&s, a.id, now),
                        event: settings_event(a, now, message, data),
                    },
                ));
                results.push(Ok(()));
            }
            Err(why) => results.push(Err(why)),
        }
    }
    let p = profile_name.map(str::to_owned);
    let changed: Vec<i64> = writes.iter().map(|w| w.0).collect();
    match state
        .ctx
        .store
        .run(move |c| store::profiles::assign(c, p.as_deref(), &writes))
        .await
    {
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::ProfileNotFound(
                profile_name.unwrap_or_default().to_owned(),
            ));
        }
        other => other?,
    }
    tell_changed(state, changed).await;
    Ok(results)
}
