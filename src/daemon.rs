//! `alpha-oto serve`: the daemon's start, run and stop. Later issues hang the actors and the
//! API on this skeleton; the order of start-up is the contract: logs, database and
//! migrations, key ring, then work; on SIGTERM or SIGINT a clean stop with every log record
//! flushed.

use anyhow::Context;
use slog::{Logger, info, warn};

use crate::config::Config;
use crate::store::{self, Store};
use crate::telemetry::fields;
use crate::vault::{KeyRing, Vault};

/// Opens the configured database and applies pending migrations.
pub fn open_store(config: &Config, log: &Logger) -> anyhow::Result<Store> {
    let url = config.database_url()?;
    let store = Store::open(&url, &config.store_options())
        .with_context(|| format!("cannot open the database ({:?})", url.backend()))?;
    let applied = store
        .blocking(store::migrate::run_pending)
        .context("cannot migrate the database")?;
    info!(log, "database ready";
        fields::EVENT_ACTION => "database-migrate", fields::EVENT_OUTCOME => "success",
        "database.backend" => format!("{:?}", url.backend()).to_lowercase(),
        "database.migrations_applied" => applied.len());
    Ok(store)
}

/// Loads the key ring, if one is configured.
pub fn open_vault(config: &Config, log: &Logger) -> anyhow::Result<Option<Vault>> {
    match KeyRing::load(config.vault.key_file.as_deref())? {
        Some((ring, source)) => {
            info!(log, "master key loaded"; "vault.source" => source.to_string(),
                "vault.primary_key_id" => ring.primary_id().to_owned(), "vault.keys" => ring.key_ids().len());
            Ok(Some(Vault::new(ring)))
        }
        None => {
            warn!(log, "no master key configured: credentials can be neither stored nor read";
                fields::EVENT_ACTION => "vault-load", fields::EVENT_OUTCOME => "failure");
            Ok(None)
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(config: Config, log: Logger) -> anyhow::Result<()> {
    let instance = config.instance_id();
    info!(log, "starting"; fields::EVENT_ACTION => "daemon-start", "service.node.name" => instance.clone());
    let store = {
        let (config, log) = (config.clone(), log.clone());
        tokio::task::spawn_blocking(move || open_store(&config, &log)).await??
    };
    let _vault = open_vault(&config, &log)?;
    let accounts = store.run(store::accounts::list).await?;
    info!(log, "ready"; fields::EVENT_ACTION => "daemon-ready", "trading.accounts" => accounts.len());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let signal = tokio::select! {
        _ = term.recv() => "SIGTERM",
        r = tokio::signal::ctrl_c() => { r?; "SIGINT" }
    };
    info!(log, "stopping"; fields::EVENT_ACTION => "daemon-stop", "process.signal" => signal);
    Ok(())
}
