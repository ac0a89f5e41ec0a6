//! Token mappings (kept 7 days) and trading precisions (kept 24 hours): in Redis when
//! `[redis] url` is set, shared by every instance; in the process otherwise. Redis being down
//! never stops trading: the cache falls back to its in-process copy and says so in the log,
//! and the caller goes to the database or the exchange on a miss as it always does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use slog::{Logger, warn};

use crate::market::Grid;
use crate::telemetry::fields;

/// How long a short symbol's mapping is trusted.
pub const MAPPING_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a symbol's precision is trusted.
pub const PRECISION_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest a Redis call may take before the cache gives up on it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// Whose copy answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Redis,
    Memory,
}

pub struct TokenCache {
    redis: Option<redis::aio::ConnectionManager>,
    memory: Mutex<HashMap<String, (String, Instant)>>,
    prefix: String,
    log: Logger,
    /// Held by whoever fills a miss from the exchange, so that accounts starting together ask
    /// once; it keeps the last failure (when, what) for the ones that waited.
    filling: tokio::sync::Mutex<Option<(Instant, String)>>,
}

/// The right to fill a miss, with the last failure to fill one.
pub type Filling<'a> = tokio::sync::MutexGuard<'a, Option<(Instant, String)>>;

impl TokenCache {
    /// An in-process cache.
    pub fn in_memory(log: Logger) -> Self {
        Self {
            redis: None,
            memory: Mutex::new(HashMap::new()),
            prefix: "alpha-oto:".into(),
            log,
            filling: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits for the right to fill a miss from the exchange (see `tokens::resolve`).
    pub async fn filling(&self) -> Filling<'_> {
        self.filling.lock().await
    }

    /// Where answers come from when Redis answers: Redis if configured, else memory.
    pub fn source(&self) -> Source {
        if self.redis.is_some() {
            Source::Redis
        } else {
            Source::Memory
        }
    }

    /// A cache in Redis at `url`, keys under `prefix`. A Redis that cannot be reached now is
    /// an error (the configuration is wrong or the server is down at start); later outages
    /// fall back to memory.
    pub async fn redis(url: &str, prefix: &str, log: Logger) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let manager = redis::aio::ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            redis: Some(manager),
            memory: Mutex::new(HashMap::new()),
            prefix: prefix.to_owned(),
            log,
            filling: tokio::sync::Mutex::new(None),
        })
    }

    fn mapping_key(&self, symbol: &str, chain: Option<&str>) -> String {
        format!(
            "{}mapping:{}:{}",
            self.prefix,
            symbol.trim().to_ascii_uppercase(),
            chain.unwrap_or("*").to_ascii_lowercase()
        )
    }

    fn precision_key(&self, order_symbol: &str) -> String {
        format!("{}precision:{order_symbol}", self.prefix)
    }

    fn memory_get(&self, key: &str) -> Option<String> {
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match m.get(key) {
            Some((v, until)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                m.remove(key);
                None
            }
            None => None,
        }
    }

    fn memory_set(&self, key: &str, value: &str, ttl: Duration) {
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.insert(key.to_owned(), (value.to_owned(), Instant::now() + ttl));
    }

    fn redis_failed(&self, action: &str, e: &dyn std::fmt::Display) {
        warn!(self.log, "redis unavailable, using the in-process cache";
            fields::EVENT_ACTION => format!("cache-{action}"), fields::EVENT_OUTCOME => "failure",
            fields::ERROR_MESSAGE => e.to_string());
    }

    async fn get_raw(&self, key: &str) -> Option<(String, Source)> {
        if let Some(manager) = &self.redis {
            let mut conn = manager.clone();
            let got: Result<Result<Option<String>, redis::RedisError>, _> = tokio::time::timeout(
                REDIS_TIMEOUT,
                redis::cmd("GET").arg(key).query_async(&mut conn),
            )
            .await;
            match got {
                Ok(Ok(Some(v))) => return Some((v, Source::Redis)),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => self.redis_failed("get", &e),
                Err(_) => self.redis_failed("get", &"timed out"),
            }
        }
        self.memory_get(key).map(|v| (v, Source::Memory))
    }

    async fn set_raw(&self, key: &str, value: &str, ttl: Duration) {
        // The in-process copy is always kept: it is what answers while Redis is away.
        self.memory_set(key, value, ttl);
        if let Some(manager) = &self.redis {
            let mut conn = manager.clone();
            let set: Result<Result<(), redis::RedisError>, _> = tokio::time::timeout(
                REDIS_TIMEOUT,
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("EX")
                    .arg(ttl.as_secs().max(1))
                    .query_async(&mut conn),
            )
            .await;
            match set {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.redis_failed("set", &e),
                Err(_) => self.redis_failed("set", &"timed out"),
            }
        }
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<(T, Source)> {
        let (raw, source) = self.get_raw(key).await?;
        // A value that no longer reads (written by another version) is a miss, not an error.
        serde_json::from_str(&raw).ok().map(|v| (v, source))
    }

    async fn set<T: Serialize>(&self, key: &str, value: &T, ttl: Duration) {
        if let Ok(raw) = serde_json::to_string(value) {
            self.set_raw(key, &raw, ttl).await;
        }
    }

    /// The cached mapping of a short symbol (and chain), if fresh.
    pub async fn mapping(
        &self,
        symbol: &str,
        chain: Option<&str>,
    ) -> Option<(CachedToken, Source)> {
        self.get(&self.mapping_key(symbol, chain)).await
    }

    pub async fn put_mapping(&self, symbol: &str, chain: Option<&str>, token: &CachedToken) {
        self.set(&self.mapping_key(symbol, chain), token, MAPPING_TTL)
            .await;
    }

    /// The cached precision of an order symbol, if fresh.
    pub async fn precision(&self, order_symbol: &str) -> Option<(Grid, Source)> {
        self.get(&self.precision_key(order_symbol)).await
    }

    pub async fn put_precision(&self, order_symbol: &str, precision: &Grid) {
        self.set(&self.precision_key(order_symbol), precision, PRECISION_TTL)
            .await;
    }

    /// Sets a value with an explicit lifetime (tests use short ones).
    pub async fn put_mapping_for(
        &self,
        symbol: &str,
        chain: Option<&str>,
        token: &CachedToken,
        ttl: Duration,
    ) {
        self.set(&self.mapping_key(symbol, chain), token, ttl).await;
    }
}

/// A token mapping as cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CachedToken {
    pub alpha_id: String,
    pub chain_id: String,
    pub order_symbol: String,
    pub stream_symbol: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub mul_point: rust_decimal::Decimal,
}
