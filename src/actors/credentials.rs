//! An account's session as the operator touches it outside the account's task: new
//! credentials sealed into the store, and a balance read with the account's own request
//! budget. The control API calls these; it never builds an exchange client or opens the vault.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;

use super::Ctx;
use crate::domain::budget::Purpose;
use crate::domain::pause::PauseReason;
use crate::exchange::error::ExchangeError;
use crate::exchange::rest::RestClient;
use crate::exchange::session::Session;
use crate::store::StoreError;

/// How long a balance read waits for the account's request budget.
const BALANCE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The text is not a session; `field` names the part at fault.
    #[error("{reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no master key is configured")]
    NoMasterKey,
    #[error("the account has no credentials")]
    Missing,
    /// The account's request budget stayed spent for the whole wait.
    #[error("the account's request budget is spent")]
    Budget,
    /// The exchange refused or failed; the kind, never its text.
    #[error("{0}")]
    Exchange(String),
    #[error("storing credentials: {0}")]
    Vault(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the credentials text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"headers":{..},"cookies":".."}`
    Json,
    /// A browser's "Copy as cURL" text.
    Curl,
}

/// Credentials read and checked, not yet sealed: an import checks every row before it
/// stores any.
pub struct CheckedCredentials(Session);

impl CheckedCredentials {
    pub fn read(text: &str, format: Format) -> Result<Self, CredentialsError> {
        match format {
            Format::Json => Session::from_json(text),
            Format::Curl => Session::from_curl(text),
        }
        .map(Self)
        .map_err(|e| CredentialsError::Invalid {
            field: e.field,
            reason: e.reason,
        })
    }

    /// JSON when the text opens an object, else a cURL text.
    pub fn read_any(text: &str) -> Result<Self, CredentialsError> {
        let format = if text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Curl
        };
        Self::read(text, format)
    }
}

/// Seals and stores checked credentials inside the caller's unit of work (an import's), so
/// they go in with the account or not at all.
pub fn seal_in(
    ctx: &Ctx,
    c: &mut crate::store::Conn,
    account_id: i64,
    creds: &CheckedCredentials,
    now_ms: i64,
) -> Result<(), StoreError> {
    match &ctx.vault {
        Some(v) => v
            .put(c, account_id, &creds.0, now_ms)
            .map_err(|e| StoreError::Worker(format!("sealing credentials: {e}"))),
        None => Err(StoreError::Worker("no master key is configured".into())),
    }
}

/// Checks and seals an account's credentials, replacing the old ones.
pub async fn put(
    ctx: &Ctx,
    account_id: i64,
    text: &str,
    format: Format,
) -> Result<(), CredentialsError> {
    let creds = CheckedCredentials::read(text, format)?;
    if ctx.vault.is_none() {
        return Err(CredentialsError::NoMasterKey);
    }
    let (now, shared) = (ctx.clock.now_ms(), ctx.clone());
    ctx.store
        .run(move |c| {
            Ok(match &shared.vault {
                Some(v) => v
                    .put(c, account_id, &creds.0, now)
                    .map_err(|e| e.to_string()),
                None => Err("no master key".into()),
            })
        })
        .await?
        .map_err(CredentialsError::Vault)
}

/// One asset's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetBalance {
    pub asset: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub free: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub locked: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
}

/// An exchange client on the account's stored session (opened from the vault, dropped once
/// the client holds it).
async fn rest_for(ctx: &Ctx, account_id: i64) -> Result<RestClient, CredentialsError> {
    let shared = ctx.clone();
    let session = ctx
        .store
        .run(move |c| {
            Ok(match &shared.vault {
                Some(v) => v.get(c, account_id).map_err(|e| e.to_string()),
                None => Err("no master key".into()),
            })
        })
        .await?
        .map_err(|_| CredentialsError::NoMasterKey)?
        .ok_or(CredentialsError::Missing)?;
    Ok(RestClient::new(&ctx.exchange.rest_url, ctx.timing.request_timeout).with_session(&session))
}

/// The pause an exchange error means for the session, if it is about the session (B2).
pub fn session_refusal(e: &ExchangeError) -> Option<PauseReason> {
    match e {
        ExchangeError::SessionExpired => Some(PauseReason::SessionExpired),
        ExchangeError::TwoFactorRequired { .. } => Some(PauseReason::TwoFactor),
        ExchangeError::FaceCheckRequired => Some(PauseReason::FaceCheck),
        _ => None,
    }
}

/// What a probe of a stored session found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeVerdict {
    Alive,
    /// The exchange refused the session: expired, or a 2FA or face check.
    Refused(PauseReason),
    /// The probe could not tell (the exchange failed, the budget was spent): the kind.
    Unknown(String),
}

/// One cheap private request on the account's stored session, from the account's own budget.
pub async fn probe(ctx: &Ctx, account_id: i64) -> Result<ProbeVerdict, CredentialsError> {
    let rest = rest_for(ctx, account_id).await?;
    tokio::time::timeout(
        BALANCE_WAIT,
        ctx.governor.acquire(account_id, Purpose::Query),
    )
    .await
    .map_err(|_| CredentialsError::Budget)?;
    Ok(match rest.probe_session().await {
        Ok(_) => ProbeVerdict::Alive,
        Err(e) => match session_refusal(&e) {
            Some(r) => ProbeVerdict::Refused(r),
            None => ProbeVerdict::Unknown(e.kind().to_owned()),
        },
    })
}

/// R2: available, frozen and total of USDT and of `token`, asked of the exchange with two
/// requests from the account's own budget (waited for briefly: the account's trading draws on
/// the same budget).
pub async fn balances(
    ctx: &Ctx,
    account_id: i64,
    token: &str,
) -> Result<Vec<AssetBalance>, CredentialsError> {
    let governor = &ctx.governor;
    let budget = async {
        governor.acquire(account_id, Purpose::Query).await;
        governor.acquire(account_id, Purpose::Query).await;
    };
    tokio::time::timeout(BALANCE_WAIT, budget)
        .await
        .map_err(|_| CredentialsError::Budget)?;
    let rest = rest_for(ctx, account_id).await?;
    let exchange = |e: ExchangeError| CredentialsError::Exchange(e.kind().to_owned());
    let assets = rest.wallet_assets().await.map_err(exchange)?;
    let wallet = rest.alpha_wallet().await.map_err(exchange)?;
    let mut out = Vec::new();
    if let Some(u) = assets.iter().find(|a| a.asset.eq_ignore_ascii_case("USDT")) {
        out.push(AssetBalance {
            asset: "USDT".into(),
            free: u.spot.free,
            locked: u.spot.locked + u.spot.freeze,
            total: u.spot.free + u.spot.locked + u.spot.freeze,
        });
    }
    for t in wallet
        .list
        .iter()
        .filter(|t| t.symbol.eq_ignore_ascii_case(token))
    {
        out.push(AssetBalance {
            asset: t.symbol.clone(),
            free: t.free,
            locked: t.locked + t.freeze,
            total: t.free + t.locked + t.freeze,
        });
    }
    Ok(out)
}
