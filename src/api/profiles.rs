//! `/api/v1/profiles`: named sets of settings. An account on a profile trades the profile's
//! settings with its own overrides laid over them (`domain::profile`); a change to the profile
//! is written with every member's new settings and one event each in one transaction, and the
//! members running here take it between pairs.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Authorized;
use super::error::ApiError;
use super::membership;
use super::names::check_name;
use crate::domain::profile;
use crate::domain::settings::AccountSettings;
use crate::store::models::ProfileRow;
use crate::store::profiles::MemberChange;
use crate::store::{self, StoreError};

/// A profile as the API shows it.
#[derive(Debug, Serialize)]
pub struct ProfileView {
    pub name: String,
    pub settings: AccountSettings,
    pub revision: i64,
    /// How many accounts are on it.
    pub accounts: usize,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

fn view(row: ProfileRow, accounts: usize) -> Result<ProfileView, ApiError> {
    Ok(ProfileView {
        settings: membership::settings_of(&row)?,
        name: row.name,
        revision: row.revision,
        accounts,
        created_at_ms: row.created_at_ms,
        updated_at_ms: row.updated_at_ms,
    })
}

pub async fn list(_: Authorized, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let (rows, accounts) = state
        .ctx
        .store
        .run(|c| Ok((store::profiles::list(c)?, store::accounts::list(c)?)))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let n = accounts
            .iter()
            .filter(|a| a.profile.as_deref() == Some(r.name.as_str()))
            .count();
        out.push(view(r, n)?);
    }
    Ok(HttpResponse::Ok().json(out))
}

pub async fn show(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = membership::profile_row(&state, &name).await?;
    let n = name.to_string();
    let members = state
        .ctx
        .store
        .run(move |c| store::profiles::members(c, &n))
        .await?;
    Ok(HttpResponse::Ok().json(view(row, members.len())?))
}

/// Creates a profile from a whole settings object and its `name`.
pub async fn create(
    _: Authorized,
    state: web::Data<ApiState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let Value::Object(mut fields) = body.into_inner() else {
        return Err(ApiError::InvalidBody(
            "the body must be a JSON object".into(),
        ));
    };
    let name = match fields.remove("name") {
        Some(Value::String(n)) => n,
        _ => {
            return Err(ApiError::InvalidField {
                field: "name".into(),
                reason: "is required, a string".into(),
            });
        }
    };
    check_name(&name)?;
    let settings = profile::parse(Value::Object(fields))?;
    let text = serde_json::to_string(&settings).map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = state.ctx.clock.now_ms();
    let n = name.clone();
    let row = match state
        .ctx
        .store
        .run(move |c| store::profiles::create(c, &n, &text, now))
        .await
    {
        Err(StoreError::Conflict(_)) => return Err(ApiError::ProfileTaken(name)),
        other => other?,
    };
    Ok(HttpResponse::Created().json(view(row, 0)?))
}

/// Changes some of a profile's settings (the body holds the keys to change, and may hold the
/// `revision` it was read at). Every member's settings are worked out first: if the change
/// leaves one member's overrides invalid, nothing changes and the answer names the account
/// and the field.
pub async fn update(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let Value::Object(mut changes) = body.into_inner() else {
        return Err(ApiError::InvalidBody(
            "the body must be a JSON object".into(),
        ));
    };
    let expected = match changes.remove("revision") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| ApiError::InvalidField {
            field: "revision".into(),
            reason: "must be an integer".into(),
        })?),
    };
    let row = membership::profile_row(&state, &name).await?;
    let settings = profile::lay_over(&membership::settings_of(&row)?, &changes)?;
    let n = name.to_string();
    let members = state
        .ctx
        .store
        .run(move |c| store::profiles::members(c, &n))
        .await?;
    let now = state.ctx.clock.now_ms();
    let revision = row.revision + 1;
    let mut writes = Vec::with_capacity(members.len());
    for a in &members {
        let resolved = membership::resolve(a, &settings).map_err(|e| ApiError::InvalidField {
            field: e.field.clone(),
            reason: format!(
                "account {:?}'s override would be invalid ({}); no account changed",
                a.name, e.reason
            ),
        })?;
        let data = json!({"account": a.name, "profile": row.name, "revision": revision,
            "changed": changes.keys().collect::<Vec<_>>()});
        writes.push(MemberChange {
            config: store::configs::to_row(&resolved, a.id, now),
            event: membership::settings_event(
                a,
                now,
                format!("settings from profile {} revision {revision}", row.name),
                data,
            ),
        });
    }
    let text = serde_json::to_string(&settings).map_err(|e| ApiError::Internal(e.to_string()))?;
    let n = name.to_string();
    let stored = state
        .ctx
        .store
        .run(move |c| store::profiles::change(c, &n, &text, expected, &writes, now))
        .await?;
    membership::tell_changed(&state, members.iter().map(|a| a.id)).await;
    Ok(HttpResponse::Ok().json(view(stored, members.len())?))
}

/// Removes a profile no account is on.
pub async fn delete(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_name(&name).map_err(|_| ApiError::ProfileNotFound(name.to_string()))?;
    let n = name.to_string();
    match state
        .ctx
        .store
        .run(move |c| store::profiles::delete(c, &n))
        .await
    {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(StoreError::NotFound(_)) => Err(ApiError::ProfileNotFound(name.into_inner())),
        Err(StoreError::Conflict(why)) => Err(ApiError::ProfileInUse(name.into_inner(), why)),
        Err(e) => Err(e.into()),
    }
}
