//! `/api/v1/accounts...` and `/api/v1/halt`.

use actix_web::{HttpRequest, HttpResponse, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ApiState;
use super::auth::Authorized;
use super::error::ApiError;
use super::listing::{ListQuery, ListedAccount};
use super::names::check_name;
use crate::actors::account::{AccountStatus, Command};
use crate::actors::{credentials, operator, tokens};
use crate::domain::plan::{self, Progress};
use crate::domain::points::{self, PointsView, Volume};
use crate::domain::profile;
use crate::domain::session::{self, SessionHealth};
use crate::domain::settings::AccountSettings;
use crate::domain::shown::{AccountState, Phase};
use crate::store::accounts::Seed;
use crate::store::models::{AccountRow, Desired, Page};
use crate::store::profiles::MemberChange;
use crate::store::{self, StoreError};

/// An account as the API shows it. Credentials are never part of it.
#[derive(Debug, Serialize)]
pub struct AccountView {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    /// The profile whose settings it trades, with `overrides` over them.
    pub profile: Option<String>,
    /// The settings it sets itself over its profile's.
    pub overrides: Map<String, Value>,
    pub tags: Vec<String>,
    pub token: String,
    pub chain: Option<String>,
    pub state: AccountState,
    pub phase: Phase,
    pub pause_reason: Option<String>,
    pub pauses: Vec<String>,
    pub progress: Progress,
    /// Alpha Points today: today's and the target's (with a points target), counted and real
    /// volume, the token's multiplier and the cost per point.
    pub points: PointsView,
    pub stream_up: bool,
    pub failure: Option<String>,
    pub current_pair: Option<crate::actors::account::PairView>,
    pub has_credentials: bool,
    /// How the session stands: none, unknown (no expiry known), ok, expiring, expired.
    pub session: SessionHealth,
    /// When the session's cookies expire (Unix ms), where its credentials said.
    pub session_expires_at_ms: Option<i64>,
    /// Why the account needs a person (a session, a 2FA or face check, an ambiguous order, a
    /// failure); empty when it does not.
    pub needs_person: Vec<String>,
    /// Today's realised cost in basis points of the volume (absent before the first fill).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub cost_bps: Option<Decimal>,
    /// The open pair's unsold tokens at the buy price (USDT); absent with no pair open.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub exposure_usdt: Option<Decimal>,
    /// When the account's newest event was stored (Unix ms).
    pub last_event_at_ms: Option<i64>,
    pub settings: AccountSettings,
}

/// Refused with `held_elsewhere` when another instance holds the account's lease.
async fn held_here_or_free(state: &ApiState, id: i64, name: &str) -> Result<(), ApiError> {
    let holder = state
        .ctx
        .store
        .run(move |c| store::lease::holder(c, id))
        .await?;
    match holder.filter(|h| *h != state.ctx.owner) {
        Some(h) => Err(ApiError::HeldElsewhere(name.to_owned(), h)),
        None => Ok(()),
    }
}

async fn find(state: &ApiState, name: &str) -> Result<AccountRow, ApiError> {
    check_name(name).map_err(|_| ApiError::AccountNotFound(name.to_owned()))?;
    let n = name.to_owned();
    state
        .ctx
        .store
        .run(move |c| store::accounts::find_by_name(c, &n))
        .await?
        .ok_or_else(|| ApiError::AccountNotFound(name.to_owned()))
}

/// What the store holds of an account beside its row.
struct Stored {
    config: Option<store::models::TradingConfigRow>,
    /// Its credentials' expiry: `None` without credentials, `Some(None)` when they did not say.
    credentials: Option<Option<i64>>,
    /// When its newest event was stored.
    last_event_at_ms: Option<i64>,
    /// Why a probe found the stored session refused, since it was stored (the session watch's
    /// `session_refused` event).
    refused: Option<String>,
}

fn stored(c: &mut store::Conn, id: i64) -> Result<Stored, StoreError> {
    let session = store::credentials::session(c, id)?;
    let refused = match session {
        Some((_, stored_at)) => {
            store::events::reason_since(c, id, session::REFUSED_KIND, stored_at)?.flatten()
        }
        None => None,
    };
    Ok(Stored {
        config: store::configs::get(c, id)?,
        credentials: session.map(|(expires, _)| expires),
        last_event_at_ms: store::events::last_at(c, id)?,
        refused,
    })
}

/// Every account with its parts, in five queries whatever their number (a listing of 10,000
/// accounts was 40,000 queries).
fn stored_all(c: &mut store::Conn) -> Result<Vec<(AccountRow, Stored)>, StoreError> {
    let accounts = store::accounts::list(c)?;
    let mut configs = store::configs::all(c)?;
    let sessions: std::collections::HashMap<i64, (Option<i64>, i64)> =
        store::credentials::sessions(c)?
            .into_iter()
            .map(|(id, expires, stored_at)| (id, (expires, stored_at)))
            .collect();
    let last = store::events::last_at_all(c)?;
    // The newest refusal of each account (few rows: one per refused session).
    let mut refusals: std::collections::HashMap<i64, (Option<String>, i64)> =
        std::collections::HashMap::new();
    for (id, reason, at) in store::events::of_kind(c, session::REFUSED_KIND)? {
        refusals.insert(id, (reason, at));
    }
    Ok(accounts
        .into_iter()
        .map(|a| {
            let session = sessions.get(&a.id).copied();
            let refused = match (session, refusals.get(&a.id)) {
                (Some((_, stored_at)), Some((reason, at))) if *at >= stored_at => reason.clone(),
                _ => None,
            };
            let s = Stored {
                config: configs.remove(&a.id),
                credentials: session.map(|(expires, _)| expires),
                last_event_at_ms: last.get(&a.id).copied(),
                refused,
            };
            (a, s)
        })
        .collect())
}

async fn view(state: &ApiState, account: AccountRow) -> Result<AccountView, ApiError> {
    let id = account.id;
    let row = state.ctx.store.run(move |c| stored(c, id)).await?;
    view_of(state, account, row)
}

fn view_of(
    state: &ApiState,
    account: AccountRow,
    Stored {
        config: row,
        credentials,
        last_event_at_ms,
        refused,
    }: Stored,
) -> Result<AccountView, ApiError> {
    let id = account.id;
    let settings = row
        .as_ref()
        .map(store::configs::as_stored)
        .transpose()
        .map_err(|e| ApiError::Internal(format!("stored settings: {e}")))?
        .ok_or_else(|| ApiError::Internal("the account has no settings row".into()))?;
    // A task that stands by (another instance holds the account) knows nothing of it: the
    // store's state, which the holder keeps, is what shows.
    let status: Option<AccountStatus> = state.sup.status(id);
    let standing_by = status.as_ref().is_some_and(|s| s.phase == Phase::Standby);
    let live = status.filter(|_| !standing_by);
    // With `token = "auto"` the account shows the token it trades once it runs.
    let token = live
        .as_ref()
        .and_then(|s| s.token.clone())
        .unwrap_or_else(|| settings.token.clone());
    let current_pair = live.as_ref().and_then(|s| s.current_pair.clone());
    let cost_bps = live.as_ref().and_then(|s| s.cost_bps);
    let exposure_usdt = live.as_ref().and_then(|s| s.exposure_usdt);
    let (st, phase, pause_reason, pauses, points, cycles, stream_up, failure) = match live {
        Some(s) => (
            s.state,
            s.phase,
            s.pause_reason,
            s.pauses,
            s.points,
            s.cycles_today,
            s.stream_up,
            s.failure,
        ),
        None => (
            account.state,
            if standing_by {
                Phase::Standby
            } else {
                Phase::NotRunning
            },
            account.pause_reason.clone(),
            account.pause_reason.iter().cloned().collect(),
            points::view(settings.target(), Volume::default(), None, None),
            0,
            false,
            None,
        ),
    };
    let warn_ms = i64::try_from(state.ctx.timing.session_warn.as_millis()).unwrap_or(i64::MAX);
    // A probe's refusal counts as a pause of the session until new credentials are stored.
    let mut session_pauses = pauses.clone();
    session_pauses.extend(refused);
    let session = session::health(
        credentials,
        &session_pauses,
        state.ctx.clock.now_ms(),
        warn_ms,
    );
    let needs_person = session::needs_person(st, &session_pauses, session);
    // A pair buys about `order_usdt`: the unit of the remaining-cycles estimate (R4).
    let progress = plan::day_progress(
        settings.target(),
        Volume {
            real: points.real_volume,
            counted: points.counted_volume,
        },
        points.mul_point.unwrap_or(Decimal::ONE),
        settings.order_usdt,
        cycles,
    );
    Ok(AccountView {
        id,
        profile: account.profile.clone(),
        overrides: profile::fields_from_text(&account.overrides).unwrap_or_default(),
        tags: profile::tags_from_text(&account.tags),
        name: account.name,
        token,
        chain: settings.chain.clone(),
        state: st,
        phase,
        pause_reason,
        pauses,
        progress,
        points,
        stream_up,
        failure,
        current_pair,
        has_credentials: credentials.is_some(),
        session,
        session_expires_at_ms: credentials.flatten(),
        needs_person,
        cost_bps,
        exposure_usdt,
        last_event_at_ms,
        settings,
    })
}

impl ListedAccount for AccountView {
    fn name(&self) -> &str {
        &self.name
    }
    fn state(&self) -> AccountState {
        self.state
    }
    fn pauses(&self) -> &[String] {
        &self.pauses
    }
    fn token(&self) -> &str {
        &self.token
    }
    fn volume_today(&self) -> Decimal {
        self.progress.volume_today
    }
    fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }
    fn tags(&self) -> &[String] {
        &self.tags
    }
    fn needs_person(&self) -> bool {
        !self.needs_person.is_empty()
    }
}

/// Every account's view, in the order they were made. One unit of work for every row:
/// thousands of accounts list in one turn at the database.
pub(super) async fn views(state: &ApiState) -> Result<Vec<AccountView>, ApiError> {
    let rows = state.ctx.store.run(stored_all).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (a, s) in rows {
        out.push(view_of(state, a, s)?);
    }
    Ok(out)
}

/// Every account, or those the query selects (`super::listing`), with the count selected in
/// `X-Total-Count`.
pub async fn list(
    _: Authorized,
    state: web::Data<ApiState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    query
        .check()
        .map_err(|(field, reason)| ApiError::InvalidField {
            field: field.into(),
            reason,
        })?;
    let out = views(&state).await?;
    let (total, page) = query.select(out);
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", total.to_string()))
        .json(page))
}

/// An account's parts as a request gives them: `name`, and `profile` and `tags`, beside the
/// settings (all of them, or on a profile the ones the account sets itself).
pub(super) struct Parts {
    pub name: String,
    pub profile: Option<String>,
    pub tags: Vec<String>,
    pub fields: Map<String, Value>,
}

impl Parts {
    pub(super) fn from_body(body: Value) -> Result<Self, ApiError> {
        let Value::Object(mut fields) = body else {
            return Err(ApiError::InvalidBody(
                "the body must be a JSON object".into(),
            ));
        };
        let name = match fields.remove("name") {
            Some(Value::String(n)) => n,
            Some(_) => return Err(field_fault("name", "must be a string")),
            None => return Err(field_fault("name", "is required")),
        };
        check_name(&name)?;
        let profile = match fields.remove("profile") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p),
            Some(_) => return Err(field_fault("profile", "must be a profile's name")),
        };
        let tags = match fields.remove("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value::<Vec<String>>(v)
                .map_err(|_| field_fault("tags", "must be a list of strings"))?,
        };
        Ok(Self {
            name,
            profile,
            tags: profile::tags(&tags)?,
            fields,
        })
    }

    /// The settings the account trades (its profile's, when it names one, with its own fields
    /// over them) and the rest of what it is made with.
    pub(super) async fn seed(self, state: &ApiState, now: i64) -> Result<(String, Seed), ApiError> {
        let (settings, overrides) = match &self.profile {
            Some(p) => {
                let row = super::membership::profile_row(state, p).await?;
                let base = super::membership::settings_of(&row)?;
                (profile::lay_over(&base, &self.fields)?, self.fields)
            }
            None => (profile::parse(Value::Object(self.fields))?, Map::new()),
        };
        Ok((
            self.name,
            Seed {
                profile: self.profile,
                overrides: Value::Object(overrides).to_string(),
                tags: serde_json::to_string(&self.tags).unwrap_or_else(|_| "[]".into()),
                config: store::configs::to_row(&settings, 0, now),
            },
        ))
    }
}

fn field_fault(field: &str, reason: &str) -> ApiError {
    ApiError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Creates an account, stopped: a whole settings object, or `profile` and the fields the
/// account sets itself; `tags` optional.
pub async fn create(
    _: Authorized,
    state: web::Data<ApiState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let now = state.ctx.clock.now_ms();
    let (name, seed) = Parts::from_body(body.into_inner())?
        .seed(&state, now)
        .await?;
    let n = name.clone();
    let created = state
        .ctx
        .store
        .run(move |c| store::accounts::create_with(c, &n, &seed, now))
        .await;
    let account = match created {
        Ok(a) => a,
        Err(StoreError::Conflict(_)) => return Err(ApiError::NameTaken(name)),
        Err(e) => return Err(e.into()),
    };
    Ok(HttpResponse::Created().json(view(&state, account).await?))
}

pub async fn show(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = find(&state, &name).await?;
    Ok(HttpResponse::Ok().json(view(&state, account).await?))
}

/// Changes some settings: the body holds the keys to change; the result is validated whole.
/// On a profile, the changed keys become (or replace) the account's overrides. A running
/// account takes the new settings between pairs.
pub async fn update_config(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let account = find(&state, &name).await?;
    let Value::Object(changes) = body.into_inner() else {
        return Err(ApiError::InvalidBody(
            "the body must be a JSON object".into(),
        ));
    };
    let id = account.id;
    let now = state.ctx.clock.now_ms();
    let data = json!({"account": account.name, "changed": changes.keys().collect::<Vec<_>>()});
    let message = format!(
        "settings changed: {}",
        changes.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    match account.profile.clone() {
        Some(p) => {
            let row = super::membership::profile_row(&state, &p).await?;
            let overrides = profile::overrides_after(
                &profile::fields_from_text(&account.overrides).unwrap_or_default(),
                &changes,
            );
            let settings = profile::lay_over(&super::membership::settings_of(&row)?, &overrides)?;
            let change = MemberChange {
                config: store::configs::to_row(&settings, id, now),
                event: super::membership::settings_event(&account, now, message, data),
            };
            let text = Value::Object(overrides).to_string();
            state
                .ctx
                .store
                .run(move |c| store::profiles::update_member(c, id, None, &text, None, &change))
                .await?;
        }
        None => {
            let row = state
                .ctx
                .store
                .run(move |c| store::configs::get(c, id))
                .await?
                .ok_or_else(|| ApiError::Internal("the account has no settings row".into()))?;
            let current = store::configs::as_stored(&row)
                .map_err(|e| ApiError::Internal(format!("stored settings: {e}")))?;
            let settings = profile::lay_over(&current, &changes)?;
            let change = MemberChange {
                config: store::configs::to_row(&settings, id, now),
                event: super::membership::settings_event(&account, now, message, data),
            };
            let text = account.overrides.clone();
            state
                .ctx
                .store
                .run(move |c| store::profiles::update_member(c, id, None, &text, None, &change))
                .await?;
        }
    }
    super::membership::tell_changed(&state, [id]).await;
    let account = find(&state, &name).await?;
    Ok(HttpResponse::Ok().json(view(&state, account).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    tags: Vec<String>,
}

/// Replaces the account's tags.
pub async fn put_tags(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<TagsBody>,
) -> Result<HttpResponse, ApiError> {
    let account = find(&state, &name).await?;
    let tags = profile::tags(&body.tags)?;
    let (id, text) = (account.id, serde_json::to_string(&tags).unwrap_or_default());
    state
        .ctx
        .store
        .run(move |c| store::profiles::set_tags(c, id, &text))
        .await?;
    let account = find(&state, &name).await?;
    Ok(HttpResponse::Ok().json(view(&state, account).await?))
}

/// Stores credentials, from JSON `{"headers":{..},"cookies":".."}` or a "Copy as cURL" text.
/// Write-only: no route ever answers them.
pub async fn put_credentials(
    _: Authorized,
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if body.len() > super::BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge(super::BODY_LIMIT));
    }
    let account = find(&state, &name).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::InvalidBody("the body is not UTF-8".into()))?;
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let format = if is_json || text.trim_start().starts_with('{') {
        credentials::Format::Json
    } else {
        credentials::Format::Curl
    };
    let id = account.id;
    credentials::put(&state.ctx, id, text, format).await?;
    if state.sup.status(id).is_some() {
        let _ = state.sup.command(id, Command::Reload).await;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `start`, `pause`, `resume`, `stop` or `kill`: recorded first, then handed to this
/// instance's task where the account is held here. 202 with `outcome: delivered` or `pending`
/// (and the holder); a kill carried out here answers its report with 200 when verified and
/// nothing is left open, 202 otherwise.
pub async fn action(
    _: Authorized,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, action) = path.into_inner();
    let account = find(&state, &name).await?;
    if action == "kill" {
        let report = operator::kill(&state.ctx, &state.sup, &account).await?;
        return Ok(if report.clean() {
            HttpResponse::Ok().json(report)
        } else {
            HttpResponse::Accepted().json(report)
        });
    }
    let Some(a) = operator::Action::parse(&action) else {
        return Err(ApiError::NotFound(format!("no action {action:?}")));
    };
    let ack = operator::act(&state.ctx, &state.sup, &account, a).await?;
    Ok(HttpResponse::Accepted().json(ack))
}

/// Removes a stopped account and everything it owns but its events. Refused while it trades
/// here or another instance holds it.
/// What a deletion does with the account's history.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum History {
    /// Its cycles, orders, fills and events stay for the books (the account is retired).
    #[default]
    Keep,
    /// Everything goes, its events too.
    Purge,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    #[serde(default)]
    history: History,
}

pub async fn delete(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    q: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let account = find(&state, &name).await?;
    let id = account.id;
    let live = state.sup.status(id);
    let at_rest = live
        .as_ref()
        .is_none_or(|s| matches!(s.state, AccountState::Stopped | AccountState::Failed));
    let wished = matches!(account.desired, Desired::Stop | Desired::Kill);
    if !at_rest || !wished {
        return Err(ApiError::NotStopped(name.into_inner()));
    }
    held_here_or_free(&state, id, &name).await?;
    state
        .sup
        .forget(id)
        .await
        .map_err(|_| ApiError::Unavailable("the supervisor has stopped".into()))?;
    let now = state.ctx.clock.now_ms();
    let history = q.history;
    state
        .ctx
        .store
        .run(move |c| match history {
            History::Keep => store::accounts::retire(c, id, now),
            History::Purge => store::accounts::purge(c, id),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

impl PageQuery {
    fn page(&self) -> Page {
        Page {
            before_id: self.before,
            limit: self.limit.unwrap_or(100),
        }
    }
}

macro_rules! listing {
    ($fn_name:ident, $query:path) => {
        pub async fn $fn_name(
            _: Authorized,
            state: web::Data<ApiState>,
            name: web::Path<String>,
            q: web::Query<PageQuery>,
        ) -> Result<HttpResponse, ApiError> {
            let account = find(&state, &name).await?;
            let (id, page) = (account.id, q.page());
            let rows = state.ctx.store.run(move |c| $query(c, id, page)).await?;
            Ok(HttpResponse::Ok().json(rows))
        }
    };
}

listing!(orders, store::orders::list);
listing!(cycles, store::cycles::list);
listing!(fills, store::fills::list);

pub async fn events(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let account = find(&state, &name).await?;
    let (id, page) = (account.id, q.page());
    let rows = state
        .ctx
        .store
        .run(move |c| store::events::list(c, Some(id), page))
        .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// R2: available, frozen and total of USDT and the account's token, asked of the exchange.
pub async fn balance(
    _: Authorized,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = find(&state, &name).await?;
    let id = account.id;
    // The account's own budgets: a read another instance would make against its budget is
    // sent there, a session the exchange refused is not asked again, and this instance's
    // governor takes the two requests (or the caller is told when to come back).
    held_here_or_free(&state, id, &account.name).await?;
    if let Some(s) = state.sup.status(id)
        && let Some(p) = s
            .pauses
            .iter()
            .find(|p| matches!(p.as_str(), "session_expired" | "two_factor" | "face_check"))
    {
        return Err(ApiError::Exchange(format!(
            "the account is paused for {p}: renew its session first"
        )));
    }
    let row = state
        .ctx
        .store
        .run(move |c| store::configs::get(c, id))
        .await?;
    let token = row
        .as_ref()
        .map(store::configs::as_stored)
        .transpose()
        .map_err(|e| ApiError::Internal(format!("stored settings: {e}")))?
        .map(|s| s.token)
        .unwrap_or_default();
    let out = credentials::balances(&state.ctx, id, &token).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The global kill switch (B8): a kill recorded for every account, carried out at once for
/// those held here. 200 only when every account is verified with nothing open; 202 otherwise,
/// with each account's report.
pub async fn halt(_: Authorized, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let reports = operator::halt(&state.ctx, &state.sup).await?;
    let (open_left, verified, unverified, pending) = operator::tally(&reports);
    let clean = reports.iter().all(|r| r.clean());
    let body = serde_json::json!({
        "accounts": reports,
        "open_left": open_left,
        "verified": verified,
        "unverified": unverified,
        "pending": pending,
        "clean": clean,
    });
    Ok(if clean {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Accepted().json(body)
    })
}

/// Every listed token scored as `token = "auto"` would (cheapest counted USDT first, the
/// ineligible ones last with the reason), from the instance's token list; read from the
/// exchange when it was never read or is due.
pub async fn tokens(_: Authorized, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let ctx = &state.ctx;
    tokens::token_list_if_due(ctx)
        .await
        .map_err(|kind| ApiError::Exchange(format!("the token list could not be read: {kind}")))?;
    let policy = crate::domain::token_choice::Policy {
        min_mul_point: Decimal::from(2),
        allow: Vec::new(),
    };
    Ok(HttpResponse::Ok().json(crate::domain::token_choice::ranked(
        &ctx.board.listed(),
        &policy,
    )))
}
