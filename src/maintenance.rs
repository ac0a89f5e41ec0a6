//! The work of the administrative commands (`migrate`, `keys rotate`, `token refresh`,
//! `webhook-secret`): each opens what it needs through [`crate::admin`] and answers what it
//! did; the command line only prints the answer.

use anyhow::Context;

use crate::admin::{self, DatabaseUse};
use crate::config::Config;
use crate::exchange::rest::RestClient;
use crate::vault::{self, KeyRing, RotationReport, Vault};

/// The webhook signing secret of account `name`, derived from the vault's primary key.
pub fn webhook_secret(config: &Config, name: &str) -> anyhow::Result<String> {
    let (ring, _) =
        KeyRing::load(config.vault.key_file.as_deref())?.ok_or(vault::VaultError::NoKey)?;
    let key = Vault::new(ring).derived_key(crate::actors::webhook::SIGNING_PURPOSE)?;
    Ok(crate::actors::webhook::account_secret(&key, name))
}

/// Applies the pending migrations (`status`: only lists them); `create` may make a new
/// database. The names of the migrations applied, or pending.
pub fn migrate(config: &Config, status: bool, create: bool) -> anyhow::Result<Vec<String>> {
    let store = admin::open_database(
        config,
        DatabaseUse::Migrate {
            create: create && !status,
        },
    )?;
    Ok(if status {
        store.blocking(crate::store::migrate::pending)?
    } else {
        store.blocking(crate::store::migrate::run_pending)?
    })
}

/// Reads every token's mapping and precision from the exchange into the cache and the
/// database; the counts and where they went, as one line.
pub fn token_refresh(config: Config) -> anyhow::Result<String> {
    let store = admin::open_database(&config, DatabaseUse::Use)?;
    store.blocking(crate::store::migrate::run_pending)?;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    actix_web::rt::System::new().block_on(async move {
        let cache = crate::daemon::open_cache(&config, &log).await;
        let rest = RestClient::new(
            &config.exchange.rest_url,
            std::time::Duration::from_secs(u64::from(config.exchange.request_timeout_s)),
        );
        let now = chrono::Utc::now().timestamp_millis();
        let (mappings, precisions) =
            crate::actors::tokens::refresh_all(&cache, &store, &rest, now).await?;
        let where_ = match config.redis.url {
            Some(_) => "Redis and the database",
            None => "the database (no Redis configured: the daemon's cache is its own)",
        };
        Ok(format!(
            "{mappings} token mapping(s) and {precisions} precision(s) written to {where_}"
        ))
    })
}

/// Seals every account's credentials under the ring's primary key. Where the ring came from
/// and its primary key, and what was rotated.
pub fn keys_rotate(config: &Config) -> anyhow::Result<(String, RotationReport)> {
    let (ring, source) =
        KeyRing::load(config.vault.key_file.as_deref())?.ok_or(vault::VaultError::NoKey)?;
    let origin = format!("key ring from {source}; primary key {}", ring.primary_id());
    let vault = Vault::new(ring);
    let store = admin::open_database(config, DatabaseUse::Use)?;
    store.blocking(crate::store::migrate::run_pending)?;
    let now = chrono::Utc::now().timestamp_millis();
    let report = vault
        .rotate(&mut store.conn()?, now)
        .context("rotating the credentials")?;
    Ok((origin, report))
}
