//! `POST /api/v1/accounts/actions`: one action for many accounts, chosen by name, by the list's
//! filters, or all of them. Each account is answered on its own (done, or refused with the
//! reason); one refusal does not stop the others. The operator's actions go through the same
//! path as the single-account routes (`actors::operator`), so each is recorded first and
//! reaches whichever instance holds the account.

use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiState;
use super::accounts::{AccountView, views};
use super::auth::Authorized;
use super::error::ApiError;
use super::listing::ListQuery;
use crate::actors::account::KillReport;
use crate::actors::operator::{self, Ack, Action};
use crate::domain::profile;
use crate::store;

/// How many accounts' commands are in flight at once (a kill waits for the exchange).
const IN_FLIGHT: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Start,
    Pause,
    Resume,
    Stop,
    Kill,
    /// Put the accounts on `profile` (null: take them off their profile).
    SetProfile,
    /// Replace the accounts' tags with `tags`.
    SetTags,
    AddTags,
    RemoveTags,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    action: BulkAction,
    /// The accounts by name; or
    #[serde(default)]
    names: Option<Vec<String>>,
    /// the accounts the list's filters select (paging and order as the list's); or
    #[serde(default)]
    select: Option<ListQuery>,
    /// every account.
    #[serde(default)]
    all: bool,
    /// `set_profile`: the profile's name, or null (absent is not null).
    #[serde(default, deserialize_with = "present")]
    profile: Option<Value>,
    /// `set_profile`: keep what each account set itself (default: take the profile whole).
    #[serde(default)]
    keep_overrides: bool,
    /// `set_tags`, `add_tags`, `remove_tags`.
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// A field that is there, null or not (serde reads a null `Option` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One account's answer.
#[derive(Debug, Serialize)]
pub struct AccountAnswer {
    pub name: String,
    /// `done` or `refused`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A start, pause, resume or stop: delivered here or pending for the holder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
    /// A kill: what it found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill: Option<KillReport>,
}

impl AccountAnswer {
    fn done(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            result: "done",
            reason: None,
            ack: None,
            kill: None,
        }
    }

    fn refused(name: &str, reason: impl Into<String>) -> Self {
        Self {
            result: "refused",
            reason: Some(reason.into()),
            ..Self::done(name)
        }
    }
}

#[derive(Debug, Serialize)]
pub struct BulkReport {
    pub action: BulkAction,
    pub selected: usize,
    pub done: usize,
    pub refused: usize,
    pub accounts: Vec<AccountAnswer>,
}

fn fault(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The accounts the request names or selects, in the list's order; names that are no account
/// come back as refusals.
async fn selection(
    state: &ApiState,
    req: &BulkRequest,
) -> Result<(Vec<AccountView>, Vec<AccountAnswer>), ApiError> {
    let ways =
        usize::from(req.names.is_some()) + usize::from(req.select.is_some()) + usize::from(req.all);
    if ways != 1 {
        return Err(fault(
            "select",
            "give exactly one of names, select (the list's filters) or all: true",
        ));
    }
    let every = views(state).await?;
    if req.all {
        return Ok((every, Vec::new()));
    }
    if let Some(q) = &req.select {
        if *q == ListQuery::default() {
            return Err(fault(
                "select",
                "an empty filter selects every account: say all: true for that",
            ));
        }
        q.check().map_err(|(field, reason)| fault(field, reason))?;
        return Ok((q.clone().select(every).1, Vec::new()));
    }
    let names = req.names.as_deref().unwrap_or_default();
    let mut by_name: std::collections::HashMap<String, AccountView> =
        every.into_iter().map(|v| (v.name.clone(), v)).collect();
    let mut chosen = Vec::with_capacity(names.len());
    let mut missing = Vec::new();
    for n in names {
        match by_name.remove(n) {
            Some(v) => chosen.push(v),
            None if chosen.iter().any(|v: &AccountView| &v.name == n) => {}
            None => missing.push(AccountAnswer::refused(n, "no such account")),
        }
    }
    Ok((chosen, missing))
}

pub async fn run(
    _: Authorized,
    state: web::Data<ApiState>,
    body: web::Json<BulkRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let (chosen, mut answers) = selection(&state, &req).await?;
    let selected = chosen.len();
    let ids: Vec<i64> = chosen.iter().map(|v| v.id).collect();
    let rows = state
        .ctx
        .store
        .run(move |c| {
            ids.iter()
                .map(|id| store::accounts::get(c, *id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let state = &state;
    let done: Vec<AccountAnswer> = match req.action {
        BulkAction::SetProfile => {
            let profile = match &req.profile {
                Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.as_str()),
                _ => {
                    return Err(fault(
                        "profile",
                        "set_profile needs profile: a name, or null",
                    ));
                }
            };
            let results =
                super::membership::assign(state, &rows, profile, req.keep_overrides).await?;
            rows.iter()
                .zip(results)
                .map(|(a, r)| match r {
                    Ok(()) => AccountAnswer::done(&a.name),
                    Err(why) => AccountAnswer::refused(&a.name, why),
                })
                .collect()
        }
        BulkAction::SetTags | BulkAction::AddTags | BulkAction::RemoveTags => {
            let given = req
                .tags
                .clone()
                .ok_or_else(|| fault("tags", "the tag actions need tags: a list"))?;
            let given = profile::tags(&given)?;
            let mut out = Vec::with_capacity(rows.len());
            for a in &rows {
                let mut tags = profile::tags_from_text(&a.tags);
                match req.action {
                    BulkAction::SetTags => tags = given.clone(),
                    BulkAction::AddTags => tags.extend(given.iter().cloned()),
                    _ => tags.retain(|t| !given.contains(t)),
                }
                match profile::tags(&tags) {
                    Ok(tags) => {
                        let (id, text) = (a.id, serde_json::to_string(&tags).unwrap_or_default());
                        state
                            .ctx
                            .store
                            .run(move |c| store::profiles::set_tags(c, id, &text))
                            .await?;
                        out.push(AccountAnswer::done(&a.name));
                    }
                    Err(e) => out.push(AccountAnswer::refused(&a.name, e.to_string())),
                }
            }
            out
        }
        BulkAction::Kill => {
            futures_util::stream::iter(rows.iter())
                .map(|a| async move {
                    match operator::kill(&state.ctx, &state.sup, a).await {
                        Ok(report) => AccountAnswer {
                            kill: Some(report),
                            ..AccountAnswer::done(&a.name)
                        },
                        Err(e) => AccountAnswer::refused(&a.name, ApiError::from(e).to_string()),
                    }
                })
                .buffered(IN_FLIGHT)
                .collect()
                .await
        }
        BulkAction::Start | BulkAction::Pause | BulkAction::Resume | BulkAction::Stop => {
            let action = match req.action {
                BulkAction::Start => Action::Start,
                BulkAction::Pause => Action::Pause,
                BulkAction::Resume => Action::Resume,
                _ => Action::Stop,
            };
            futures_util::stream::iter(rows.iter())
                .map(|a| async move {
                    match operator::act(&state.ctx, &state.sup, a, action).await {
                        Ok(ack) => AccountAnswer {
                            ack: Some(ack),
                            ..AccountAnswer::done(&a.name)
                        },
                        Err(e) => AccountAnswer::refused(&a.name, ApiError::from(e).to_string()),
                    }
                })
                .buffered(IN_FLIGHT)
                .collect()
                .await
        }
    };
    answers.splice(0..0, done);
    let done_n = answers.iter().filter(|a| a.result == "done").count();
    Ok(HttpResponse::Ok().json(BulkReport {
        action: req.action,
        selected,
        done: done_n,
        refused: answers.len() - done_n,
        accounts: answers,
    }))
}
