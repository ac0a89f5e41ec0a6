//! `POST /api/v1/accounts/import` and `GET /api/v1/accounts/export`: accounts in and out as
//! a file (`crate::accounts_file`: CSV or JSON lines). An import checks every row first and
//! names every bad one by line and field; with a bad row nothing is imported, unless
//! `skip_bad`, when the good rows go in. A row whose name exists updates that account (its
//! credentials only when the row gives them). The writes are one unit of work, one
//! transaction: all of them or none. An export writes the same format, never credentials.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ApiState;
use super::auth::Authorized;
use super::error::{ApiError, RowProblem};
use super::membership;
use super::names::check_name;
use crate::accounts_file::{self, FileRow};
use crate::actors::credentials::{self, CheckedCredentials};
use crate::domain::profile::{self, Fields};
use crate::domain::settings::{AccountSettings, SettingsError};
use crate::store::accounts::Seed;
use crate::store::models::{AccountRow, TradingConfigRow};
use crate::store::profiles::MemberChange;
use crate::store::{self, StoreError};

/// Largest file an import takes (2,000 accounts with cURL credentials are a few MB).
pub const IMPORT_LIMIT: usize = 32 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    #[serde(default)]
    skip_bad: bool,
}

#[derive(Debug, Serialize)]
pub struct ImportReport {
    /// Rows read (blank lines not counted).
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    /// Bad rows left out (with `skip_bad`).
    pub skipped: usize,
    pub problems: Vec<RowProblem>,
}

/// What the store holds that a row is checked against.
struct Known {
    profiles: HashMap<String, AccountSettings>,
    accounts: HashMap<String, (AccountRow, Option<TradingConfigRow>)>,
}

/// One good row, ready to write.
enum Plan {
    Create {
        name: String,
        seed: Seed,
        creds: Option<CheckedCredentials>,
    },
    Update {
        account: AccountRow,
        profile: Option<String>,
        overrides: String,
        tags: Option<String>,
        settings: AccountSettings,
        changed: Vec<String>,
        creds: Option<CheckedCredentials>,
    },
}

/// The row's problems, each named by field.
struct Faults {
    line: usize,
    name: Option<String>,
    list: Vec<RowProblem>,
}

impl Faults {
    fn add(&mut self, field: &str, reason: impl Into<String>) {
        self.list.push(RowProblem {
            line: self.line,
            name: self.name.clone(),
            field: field.to_owned(),
            reason: reason.into(),
        });
    }

    fn settings(&mut self, e: SettingsError) {
        self.add(&e.field.clone(), e.reason);
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => Some(v.to_string()),
        _ => None,
    }
}

/// Checks one row against what the store holds; a good row becomes a plan.
fn check_row(mut row: FileRow, known: &Known, now: i64) -> Result<Plan, Vec<RowProblem>> {
    if let Some(line) = row.fields.remove("line").and_then(|l| l.as_u64()) {
        row.line = usize::try_from(line).unwrap_or(row.line);
    }
    let mut fields = row.fields;
    let name = fields.remove("name");
    let mut f = Faults {
        line: row.line,
        name: name.as_ref().and_then(Value::as_str).map(str::to_owned),
        list: Vec::new(),
    };
    let name = match name {
        Some(Value::String(n)) => match check_name(&n) {
            Ok(()) => Some(n),
            Err(e) => {
                f.add("name", e.to_string());
                None
            }
        },
        _ => {
            f.add("name", "is required, a string");
            None
        }
    };
    let profile = match fields.remove("profile") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if known.profiles.contains_key(&p) => Some(p),
        Some(Value::String(p)) => {
            f.add("profile", format!("no profile named {p:?}"));
            None
        }
        Some(_) => {
            f.add("profile", "must be a profile's name");
            None
        }
    };
    let tags = match fields.remove("tags") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let given: Option<Vec<String>> = match v {
                Value::String(s) => Some(s.split(',').map(str::to_owned).collect()),
                other => serde_json::from_value(other).ok(),
            };
            match given.map(|g| profile::tags(&g)) {
                Some(Ok(t)) => Some(serde_json::to_string(&t).unwrap_or_else(|_| "[]".into())),
                Some(Err(e)) => {
                    f.settings(e);
                    None
                }
                None => {
                    f.add("tags", "must be a list of strings");
                    None
                }
            }
        }
    };
    let creds = match fields.remove("credentials") {
        None | Some(Value::Null) => None,
        Some(v) => match text_of(&v).map(|t| CheckedCredentials::read_any(&t)) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                f.add("credentials", e.to_string());
                None
            }
            None => {
                f.add(
                    "credentials",
                    "JSON {\"headers\":..,\"cookies\":..} or a cURL text",
                );
                None
            }
        },
    };
    // The settings cannot be checked without the name, or against a profile that is not there.
    let profile_missing = f.list.iter().any(|p| p.field == "profile");
    let Some(name) = name.filter(|_| !profile_missing) else {
        return Err(f.list);
    };
    let changed: Vec<String> = fields.keys().cloned().collect();
    let plan = match known.accounts.get(&name) {
        None => {
            let resolved = match &profile {
                Some(p) => profile::lay_over(&known.profiles[p], &fields),
                None => profile::parse(Value::Object(fields.clone())),
            };
            match resolved {
                Ok(settings) => Some(Plan::Create {
                    seed: Seed {
                        overrides: if profile.is_some() {
                            Value::Object(fields).to_string()
                        } else {
                            "{}".into()
                        },
                        profile,
                        tags: tags.unwrap_or_else(|| "[]".into()),
                        config: store::configs::to_row(&settings, 0, now),
                    },
                    name,
                    creds,
                }),
                Err(e) => {
                    f.settings(e);
                    None
                }
            }
        }
        Some((account, config)) => {
            // The row names the profile: its fields are the account's own, all of them. It
            // does not: they join what the account had.
            let on = profile.clone().or_else(|| account.profile.clone());
            let overrides: Fields = match (&profile, &on) {
                (Some(_), _) => fields.clone(),
                (None, Some(_)) => profile::overrides_after(
                    &profile::fields_from_text(&account.overrides).unwrap_or_default(),
                    &fields,
                ),
                (None, None) => Fields::new(),
            };
            let resolved = match (&on, config) {
                (Some(p), _) => match known.profiles.get(p) {
                    Some(base) => profile::lay_over(base, &overrides),
                    None => Err(SettingsError {
                        field: "profile".into(),
                        reason: format!("the account's profile {p:?} is gone"),
                    }),
                },
                (None, Some(row)) => store::configs::as_stored(row)
                    .and_then(|current| profile::lay_over(&current, &fields)),
                (None, None) => profile::parse(Value::Object(fields.clone())),
            };
            match resolved {
                Ok(settings) => Some(Plan::Update {
                    account: account.clone(),
                    profile: on,
                    overrides: Value::Object(overrides).to_string(),
                    tags,
                    settings,
                    changed,
                    creds,
                }),
                Err(e) => {
                    f.settings(e);
                    None
                }
            }
        }
    };
    match plan {
        Some(p) if f.list.is_empty() => Ok(p),
        _ => Err(f.list),
    }
}

/// Reads the body up to `IMPORT_LIMIT`.
async fn body_text(mut payload: web::Payload) -> Result<String, ApiError> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidBody(e.to_string()))?;
        if bytes.len() + chunk.len() > IMPORT_LIMIT {
            return Err(ApiError::PayloadTooLarge(IMPORT_LIMIT));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::InvalidBody("the file is not UTF-8".into()))
}

pub async fn import(
    _: Authorized,
    state: web::Data<ApiState>,
    q: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let text = body_text(payload).await?;
    let rows = accounts_file::parse(&text).map_err(|e| {
        ApiError::InvalidRows(vec![RowProblem {
            line: e.line,
            name: None,
            field: "file".into(),
            reason: e.reason,
        }])
    })?;
    let known = state
        .ctx
        .store
        .run(|c| {
            let profiles = store::profiles::list(c)?;
            let accounts = store::accounts::list(c)?;
            let mut with_configs = HashMap::with_capacity(accounts.len());
            for a in accounts {
                let config = store::configs::get(c, a.id)?;
                with_configs.insert(a.name.clone(), (a, config));
            }
            Ok((profiles, with_configs))
        })
        .await?;
    let mut profiles = HashMap::new();
    for p in &known.0 {
        profiles.insert(p.name.clone(), membership::settings_of(p)?);
    }
    let known = Known {
        profiles,
        accounts: known.1,
    };
    let now = state.ctx.clock.now_ms();
    let total = rows.len();
    let (mut plans, mut problems) = (Vec::new(), Vec::new());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let (line, name) = (
            row.line,
            row.fields
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned),
        );
        if let Some(n) = &name
            && let Some(first) = seen.insert(n.clone(), line)
        {
            problems.push(RowProblem {
                line,
                name: name.clone(),
                field: "name".into(),
                reason: format!("also on line {first}"),
            });
            continue;
        }
        match check_row(row, &known, now) {
            Ok(p) => plans.push(p),
            Err(mut list) => problems.append(&mut list),
        }
    }
    if !problems.is_empty() && !q.skip_bad {
        return Err(ApiError::InvalidRows(problems));
    }
    let needs_vault = plans.iter().any(|p| match p {
        Plan::Create { creds, .. } | Plan::Update { creds, .. } => creds.is_some(),
    });
    if needs_vault && state.ctx.vault.is_none() {
        return Err(ApiError::NoMasterKey);
    }
    let mut bad_lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    bad_lines.dedup();
    let skipped = bad_lines.len();
    let ctx = state.ctx.clone();
    let (created, updated) = state
        .ctx
        .store
        // One transaction: an import is all its rows or none, and no reader sees a part.
        .run(move |c| store::atomic(c, |c| write(&ctx, c, plans, now)))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict,
            other => other.into(),
        })?;
    membership::tell_changed(&state, updated.iter().copied()).await;
    Ok(HttpResponse::Ok().json(ImportReport {
        rows: total,
        created,
        updated: updated.len(),
        skipped,
        problems,
    }))
}

/// Every plan, in one unit of work; answers how many were made and which were changed.
fn write(
    ctx: &crate::actors::Ctx,
    c: &mut store::Conn,
    plans: Vec<Plan>,
    now: i64,
) -> Result<(usize, Vec<i64>), StoreError> {
    let (mut created, mut updated) = (0, Vec::new());
    for plan in plans {
        match plan {
            Plan::Create { name, seed, creds } => {
                let account = store::accounts::create_with(c, &name, &seed, now)?;
                if let Some(creds) = creds {
                    credentials::seal_in(ctx, c, account.id, &creds, now)?;
                }
                created += 1;
            }
            Plan::Update {
                account,
                profile,
                overrides,
                tags,
                settings,
                changed,
                creds,
            } => {
                let data =
                    json!({"account": account.name, "imported": changed, "profile": profile});
                let change = MemberChange {
                    config: store::configs::to_row(&settings, account.id, now),
                    event: membership::settings_event(
                        &account,
                        now,
                        "settings imported".to_owned(),
                        data,
                    ),
                };
                store::profiles::update_member(
                    c,
                    account.id,
                    Some(profile.as_deref()),
                    &overrides,
                    tags.as_deref(),
                    &change,
                )?;
                if let Some(creds) = creds {
                    credentials::seal_in(ctx, c, account.id, &creds, now)?;
                }
                updated.push(account.id);
            }
        }
    }
    Ok((created, updated))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[serde(default)]
    format: ExportFormat,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Csv,
    Jsonl,
}

/// Every account as an import reads it: on a profile, its own fields only; otherwise its
/// whole settings. Never credentials.
pub async fn export(
    _: Authorized,
    state: web::Data<ApiState>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let rows = state
        .ctx
        .store
        .run(|c| {
            let accounts = store::accounts::list(c)?;
            let mut out = Vec::with_capacity(accounts.len());
            for a in accounts {
                let config = store::configs::get(c, a.id)?;
                out.push((a, config));
            }
            Ok(out)
        })
        .await?;
    let mut accounts = Vec::with_capacity(rows.len());
    for (a, config) in rows {
        let mut m = Map::new();
        m.insert("name".into(), json!(a.name));
        if let Some(p) = &a.profile {
            m.insert("profile".into(), json!(p));
        }
        m.insert("tags".into(), json!(profile::tags_from_text(&a.tags)));
        let own = match (&a.profile, config) {
            (Some(_), _) => profile::fields_from_text(&a.overrides).unwrap_or_default(),
            (None, Some(row)) => store::configs::as_stored(&row)
                .map(|s| profile::fields_of(&s))
                .map_err(|e| ApiError::Internal(format!("stored settings: {e}")))?,
            (None, None) => Fields::new(),
        };
        for (k, v) in own {
            if !v.is_null() {
                m.insert(k, v);
            }
        }
        accounts.push(m);
    }
    Ok(match q.format {
        ExportFormat::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(accounts_file::to_csv(&accounts)),
        ExportFormat::Jsonl => HttpResponse::Ok()
            .content_type("application/x-ndjson")
            .body(accounts_file::to_json_lines(&accounts)),
    })
}
