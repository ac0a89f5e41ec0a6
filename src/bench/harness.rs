//! What the benchmark and the soak share to drive a daemon and a simulator: the simulator's
//! admin client, accounts made and stopped through the control API, the ledger check and the
//! log's error lines.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use super::procs::{DaemonSetup, Proc, Sim};
use super::{Findings, ORDER_USDT, TOKENS};
use crate::control::{Body, Client};
use crate::domain::shown::AccountState;
use crate::sim::state::ReactionSummary;

/// Requests in flight while accounts are created.
const SETUP_CONCURRENCY: usize = 16;

/// The simulator's admin surface. A client per request: a few calls in a run, and a pooled
/// client left unused through a long run came back with its connector gone.
pub(crate) struct SimAdmin {
    base: String,
}

impl SimAdmin {
    pub(crate) fn new(sim: &Sim) -> Self {
        Self {
            base: sim.base_url.clone(),
        }
    }

    fn http(&self) -> awc::Client {
        awc::Client::builder()
            .timeout(Duration::from_secs(120))
            .finish()
    }

    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> anyhow::Result<T> {
        let mut res = self
            .http()
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("simulator {path}: {e}"))?;
        let body = res.body().limit(1 << 30).await?;
        serde_json::from_slice(&body).with_context(|| format!("simulator {path}"))
    }

    pub(crate) async fn post(&self, method: &str, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        let req = if method == "DELETE" {
            self.http().delete(url)
        } else {
            self.http().post(url)
        };
        req.send()
            .await
            .map_err(|e| anyhow::anyhow!("simulator {path}: {e}"))?;
        Ok(())
    }

    pub(crate) async fn reactions(&self) -> anyhow::Result<ReactionSummary> {
        self.get("/sim/reactions").await
    }

    /// Accounts that have sent a pair since `since_ms` (Unix ms).
    pub(crate) async fn placing_since(&self, since_ms: i64) -> anyhow::Result<usize> {
        Ok(self.placing_ids_since(since_ms).await?.len())
    }

    /// The simulator ids of the accounts that have sent a pair since `since_ms` (Unix ms).
    pub(crate) async fn placing_ids_since(&self, since_ms: i64) -> anyhow::Result<Vec<u64>> {
        let v: Value = self
            .get(&format!("/sim/reactions/placing?since_ms={since_ms}"))
            .await?;
        Ok(serde_json::from_value(v["ids"].clone()).unwrap_or_default())
    }

    /// POST to an admin path that answers with JSON.
    pub(crate) async fn post_for(&self, path: &str) -> anyhow::Result<Value> {
        let mut res = self
            .http()
            .post(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("simulator {path}: {e}"))?;
        let body = res.body().limit(1 << 20).await?;
        if !res.status().is_success() {
            bail!(
                "simulator {path}: {} {}",
                res.status(),
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body).with_context(|| format!("simulator {path}"))
    }

    /// POST a JSON body to an admin path.
    pub(crate) async fn post_json(&self, path: &str, body: &impl Serialize) -> anyhow::Result<()> {
        let mut res = self
            .http()
            .post(format!("{}{path}", self.base))
            .send_json(body)
            .await
            .map_err(|e| anyhow::anyhow!("simulator {path}: {e}"))?;
        if !res.status().is_success() {
            let text = res.body().await.unwrap_or_default();
            bail!(
                "simulator {path}: {} {}",
                res.status(),
                String::from_utf8_lossy(&text)
            );
        }
        Ok(())
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn account_name(i: usize) -> String {
    format!("acct-{:05}", i + 1)
}

/// Creates, funds (credentials) and starts one daemon account per simulator account; the
/// `i`th account's settings are the benchmark's, with the fields of `tweak(i)` (an object)
/// over them.
pub(crate) async fn create_accounts(
    api: &Client,
    sim: &Sim,
    tweak: impl Fn(usize) -> Value,
) -> anyhow::Result<()> {
    let jobs = sim.accounts.iter().enumerate().map(|(i, (_, creds))| {
        let name = account_name(i);
        let mut body = json!({
            "name": name,
            "token": TOKENS[i % TOKENS.len()],
            "order_usdt": ORDER_USDT.to_string(),
            "daily_target_usdt": "1000000000",
            "buy_offset": {"mode": "percent", "value": "0"},
            "sell_offset": {"mode": "percent", "value": "0.5"},
            "volatility_pct": "50",
        });
        if let (Some(body), Value::Object(over)) = (body.as_object_mut(), tweak(i)) {
            body.extend(over);
        }
        async move {
            api.call("POST", "/api/v1/accounts", Some(Body::Json(body)))
                .await?;
            api.call(
                "PUT",
                &format!("/api/v1/accounts/{name}/credentials"),
                Some(Body::Json(creds.clone())),
            )
            .await?;
            api.call("POST", &format!("/api/v1/accounts/{name}/start"), None)
                .await?;
            Ok::<(), crate::control::ControlError>(())
        }
    });
    let mut results = futures_util::stream::iter(jobs).buffer_unordered(SETUP_CONCURRENCY);
    while let Some(r) = results.next().await {
        r.context("cannot set up an account through the API")?;
    }
    Ok(())
}

/// Stops every account the way an operator would (each finishes its live pair), and waits
/// until all say so: the ledger check then compares two books at rest.
/// With `release`, the simulator's held sells fill once every stop is sent (not before: the
/// accounts would place new pairs with new holds).
pub(crate) async fn stop_accounts(
    api: &Client,
    accounts: usize,
    release: Option<&SimAdmin>,
) -> anyhow::Result<()> {
    let jobs = (0..accounts).map(|i| {
        let path = format!("/api/v1/accounts/{}/stop", account_name(i));
        async move { api.call("POST", &path, None).await }
    });
    let mut results = futures_util::stream::iter(jobs).buffer_unordered(SETUP_CONCURRENCY);
    while let Some(r) = results.next().await {
        r.context("cannot stop an account")?;
    }
    if let Some(admin) = release {
        admin.post("POST", "/sim/release-held").await?;
    }
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        // A failed read is asked again until the deadline: only the answer counts.
        let moving = match api.call("GET", "/api/v1/accounts", None).await {
            Ok(list) => list
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter(|a| a["state"] != json!(AccountState::Stopped))
                        .count()
                })
                .unwrap_or(accounts),
            Err(e) if Instant::now() > until => {
                return Err(e).context("cannot read the account list");
            }
            Err(_) => accounts,
        };
        if moving == 0 {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("{moving} account(s) still not stopped after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// ERROR and CRITICAL records of the daemon's JSON log.
pub(crate) fn error_lines(log: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    Ok(text
        .lines()
        .filter(|l| l.contains(r#""log.level":"error""#) || l.contains(r#""log.level":"critical""#))
        .map(str::to_owned)
        .collect())
}

/// The store against the simulator's ledger; returns the number of violations found.
pub(crate) async fn check_ledger(
    setup: &DaemonSetup,
    sim: &Sim,
    ledger: crate::sim::ledger::Ledger,
    findings: &mut Findings,
) -> anyhow::Result<u64> {
    let store = crate::store::Store::open(
        &crate::config::database::DatabaseUrl::parse(&setup.database_url)?,
        &crate::config::database::StoreOptions {
            pool_size: 2,
            connect_timeout: Duration::from_secs(10),
            ..crate::config::database::StoreOptions::default()
        },
    )?;
    let by_name: HashMap<String, i64> = store
        .blocking(crate::store::accounts::list)?
        .into_iter()
        .map(|a| (a.name, a.id))
        .collect();
    let mut pairs = Vec::new();
    for (i, (sim_id, _)) in sim.accounts.iter().enumerate() {
        let name = account_name(i);
        let id = by_name
            .get(&name)
            .with_context(|| format!("{name} is not in the store"))?;
        pairs.push((*id, *sim_id));
    }
    let mut violations = ledger.violations.len() as u64;
    for v in ledger.violations.iter().take(20) {
        findings.lines.push(format!("violation: {v}"));
    }
    let mismatch = store.blocking(move |c| {
        // Violations are counted above; the comparison itself is what is asked here.
        let ledger = crate::sim::ledger::Ledger {
            violations: Vec::new(),
            ..ledger
        };
        Ok(crate::ledger_check::ledger(c, &ledger, &pairs, false).err())
    })?;
    if let Some(m) = mismatch {
        violations += 1;
        findings.lines.push(format!("ledger: {m}"));
    }
    Ok(violations)
}

pub(crate) async fn wait_healthy(api: &Client, daemon: &mut Proc) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if api.call("GET", "/healthz", None).await.is_ok() {
            return Ok(());
        }
        if daemon.exited() {
            bail!("the daemon exited at start (see daemon.out in the work dir; --keep keeps it)");
        }
        if Instant::now() > until {
            bail!("the daemon's API did not answer within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
