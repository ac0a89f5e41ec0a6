//! One typed configuration: defaults, then the TOML file, then `ALPHA_OTO__SECTION__KEY`
//! environment variables, then command-line flags. Unknown keys are errors (a typo must not
//! silently fall back to a default), and every error names the key and where it came from.

pub mod database;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::Format;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::telemetry::{LogFormat, LogLevel, LogSettings, Overflow};
use database::{DatabaseUrl, StoreOptions, redact_url};

/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "ALPHA_OTO__";
/// File name of the SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "alpha-oto.db";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing, not a file, or this user may not read it.
    #[error("config file {0}")]
    File(crate::access::FileProblem),
    #[error("{}", describe(.0))]
    Parse(Box<figment::Error>),
    #[error("invalid config key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        ConfigError::Parse(Box::new(e))
    }
}

/// Renders figment's errors with the key as the operator wrote it: `database.pool_size` in a
/// file, `ALPHA_OTO__DATABASE__POOL_SIZE` in the environment, `--log-level` on the command line.
fn describe(err: &figment::Error) -> String {
    let lines: Vec<String> = err
        .clone()
        .into_iter()
        .map(|e| {
            let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
            let key = path.join(".");
            let place = match &e.metadata {
                Some(m) if m.name == ENV_LAYER || m.name == FLAG_LAYER => {
                    format!("{} {}", m.name, m.interpolate(&Profile::Default, &path))
                }
                Some(m) => match &m.source {
                    Some(source) => format!("config key `{key}` in {source}"),
                    None => format!("config key `{key}`"),
                },
                None => format!("config key `{key}`"),
            };
            format!("{place}: {}", e.kind)
        })
        .collect();
    lines.join("; ")
}

const ENV_LAYER: &str = "environment variable";
const FLAG_LAYER: &str = "command-line flag";

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub api: ApiConfig,
    pub exchange: ExchangeConfig,
    pub log: LogConfig,
    pub vault: VaultConfig,
    pub webhooks: WebhooksConfig,
    pub notify: NotifyConfig,
}

/// Daemon-wide notifications (beside each account's webhook): events at or above a channel's
/// level, a burst grouped into one message that lists the accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Seconds a burst of events is gathered before its message goes out.
    pub group_s: u32,
    /// Least seconds between two messages of one channel.
    pub min_gap_s: u32,
    pub webhook: Option<NotifyWebhook>,
    pub telegram: Option<NotifyTelegram>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            group_s: 3,
            min_gap_s: 2,
            webhook: None,
            telegram: None,
        }
    }
}

/// A generic webhook: each message is POSTed as JSON (`text` and the `events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyWebhook {
    pub url: String,
    /// debug, info, warn, error or critical.
    #[serde(default = "warn_level")]
    pub min_level: String,
}

/// A Telegram bot: messages go to one chat through the Bot API's sendMessage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyTelegram {
    /// A file holding the bot token (systemd's LoadCredential=): the token is never in the
    /// configuration, a log line or an API answer.
    pub bot_token_file: PathBuf,
    pub chat_id: String,
    #[serde(default = "warn_level")]
    pub min_level: String,
    /// The Bot API's address (a stand-in in tests).
    #[serde(default = "telegram_api")]
    pub api_url: String,
}

fn warn_level() -> String {
    "warn".into()
}

fn telegram_api() -> String {
    "https://api.telegram.org".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Hosts webhooks may reach although they are loopback, private or link-local (by default
    /// none: a webhook URL cannot make the daemon call its own host or network).
    pub allow_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Where the SQLite database and other state live. Default: $STATE_DIRECTORY (systemd's
    /// StateDirectory=) or ./data.
    pub data_dir: Option<PathBuf>,
    /// This instance's name in account leases; unique among instances sharing a database.
    /// Default: the host name.
    pub instance_id: Option<String>,
    /// How long a lease on an account lasts without renewal.
    pub lease_ttl_s: u32,
    /// This instance's weight in the sharing of accounts among the instances on one database:
    /// an instance of capacity 2 holds twice the accounts of one of capacity 1.
    pub capacity: u32,
    /// Requests per second this instance may send to the exchange over all accounts.
    pub egress_per_s: u32,
    /// The most new orders in flight to the exchange at once. Under it the daemon finds the
    /// number itself from the exchange's round trip (`domain::admission`); orders beyond it
    /// wait their turn in arrival order.
    pub orders_in_flight_max: u32,
    /// Threads the account actors are spread over (each with its own HTTP client and
    /// streams); 0 is one per core.
    pub account_threads: u32,
    /// What a graceful stop (SIGTERM) does with live pairs: `keep` them on the exchange (the
    /// next start reconciles them) or `cancel` everything first.
    pub on_stop: StopMode,
    /// No pair is placed while it would cross a live order of another account of this
    /// instance on the same token (wash trading between managed accounts). Off only in tests
    /// that show the simulator's check of such matches can fail.
    pub cross_account_guard: bool,
    /// The same across instances on one database: a pair or a sale that would cross an open
    /// order of an account another instance holds is not stored (`store::crossing`). Needs
    /// `cross_account_guard`; off only in the test that shows the instances' accounts would
    /// otherwise meet.
    pub cross_instance_guard: bool,
    /// Hours before a session's cookies expire (where its credentials say when) that an event
    /// and a notification warn of it; another goes out at the expiry.
    pub session_warn_hours: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StopMode {
    #[default]
    Keep,
    Cancel,
}

impl DaemonConfig {
    /// The account threads to start: as configured, or one per core.
    pub fn account_threads(&self) -> usize {
        match self.account_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n as usize,
        }
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            instance_id: None,
            lease_ttl_s: 30,
            capacity: 1,
            egress_per_s: 2000,
            orders_in_flight_max: 512,
            account_threads: 0,
            on_stop: StopMode::Keep,
            cross_account_guard: true,
            cross_instance_guard: true,
            session_warn_hours: 12,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH`, a plain path, or `postgres://...`. Default: SQLite in the data dir.
    pub url: Option<String>,
    pub pool_size: u32,
    pub connect_timeout_s: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: 8,
            connect_timeout_s: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Optional shared cache; without it caches live in the process.
    pub url: Option<String>,
    /// Prefix of every key, so several deployments can share one Redis.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "alpha-oto:".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: String,
    /// `sha256:<hex>` hashes of the bearer tokens the API accepts.
    pub token_hashes: Vec<String>,
    /// A file holding the bearer token the command-line client sends (`account`, `halt`);
    /// the daemon does not read it.
    pub token_file: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8642".into(),
            token_hashes: Vec::new(),
            token_file: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeConfig {
    pub rest_url: String,
    pub public_ws_url: String,
    pub private_ws_url: String,
    /// Seconds a REST request may take; after that its outcome is unknown (B1).
    pub request_timeout_s: u32,
    /// Whether `today/user-volume` already counts each buy times its token's mulPoint (the
    /// protocol is not settled). Points targets read the exchange's figure this way.
    pub user_volume_includes_mul_point: bool,
}

impl ExchangeConfig {
    pub fn exchange_figure(&self) -> crate::domain::points::ExchangeFigure {
        if self.user_volume_includes_mul_point {
            crate::domain::points::ExchangeFigure::Counted
        } else {
            crate::domain::points::ExchangeFigure::Real
        }
    }
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        Self {
            rest_url: "https://www.binance.com".into(),
            public_ws_url: "wss://nbstream.binance.com/w3w/wsa/stream".into(),
            private_ws_url: "wss://nbstream.binance.com/w3w/stream".into(),
            request_timeout_s: 10,
            user_volume_includes_mul_point: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
    /// JSON log file, reopened on SIGHUP. Without it logs go to stdout.
    pub file: Option<PathBuf>,
    pub format: LogFormat,
    pub channel_size: usize,
    pub overflow: Overflow,
}

impl Default for LogConfig {
    fn default() -> Self {
        let d = LogSettings::default();
        Self {
            level: d.level,
            file: d.file,
            format: d.format,
            channel_size: d.channel_size,
            overflow: d.overflow,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// A key ring file (see `alpha-oto keygen`). $CREDENTIALS_DIRECTORY/master-key wins over it.
    pub key_file: Option<PathBuf>,
}

/// Values given as command-line flags; they override everything else.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub api_listen: Option<String>,
    pub log_level: Option<String>,
    pub log_file: Option<PathBuf>,
}

impl Overrides {
    fn pairs(&self) -> Vec<(String, Value)> {
        let path = |p: &PathBuf| Value::from(p.to_string_lossy().into_owned());
        let mut out = Vec::new();
        if let Some(v) = &self.data_dir {
            out.push(("daemon.data_dir".to_owned(), path(v)));
        }
        if let Some(v) = &self.database_url {
            out.push(("database.url".to_owned(), Value::from(v.clone())));
        }
        if let Some(v) = &self.api_listen {
            out.push(("api.listen".to_owned(), Value::from(v.clone())));
        }
        if let Some(v) = &self.log_level {
            out.push(("log.level".to_owned(), Value::from(v.clone())));
        }
        if let Some(v) = &self.log_file {
            out.push(("log.file".to_owned(), path(v)));
        }
        out
    }
}

/// A provider of dotted key/value pairs with a name and a way to show a key as its user wrote
/// it (an environment variable, a flag), so errors point at the right place.
struct Layer {
    name: &'static str,
    pairs: Vec<(String, Value)>,
    shown_as: fn(&[&str]) -> String,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let shown_as = self.shown_as;
        Metadata::named(self.name).interpolater(move |_: &Profile, keys: &[&str]| shown_as(keys))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, value) in &self.pairs {
            insert_path(
                &mut dict,
                &key.split('.').collect::<Vec<_>>(),
                value.clone(),
            );
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn insert_path(dict: &mut Dict, keys: &[&str], value: Value) {
    match keys {
        [] => {}
        [last] => {
            dict.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry((*first).to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            } else {
                let mut inner = Dict::new();
                insert_path(&mut inner, rest, value);
                *entry = Value::from(inner);
            }
        }
    }
}

fn env_layer(vars: impl IntoIterator<Item = (String, String)>) -> Layer {
    let pairs = vars
        .into_iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(ENV_PREFIX)?;
            let key = rest
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join(".");
            // Values are read like TOML scalars: numbers, booleans and [lists] keep their type.
            let value = v
                .parse::<Value>()
                .unwrap_or_else(|_| Value::from(v.clone()));
            Some((key, value))
        })
        .collect();
    Layer {
        name: ENV_LAYER,
        pairs,
        shown_as: |keys| format!("{ENV_PREFIX}{}", keys.join("__").to_ascii_uppercase()),
    }
}

fn flag_layer(o: &Overrides) -> Layer {
    Layer {
        name: FLAG_LAYER,
        pairs: o.pairs(),
        shown_as: |keys| {
            let flag = match keys {
                ["daemon", "data_dir"] => "data-dir".to_owned(),
                ["database", "url"] => "database-url".to_owned(),
                ["api", "listen"] => "api-listen".to_owned(),
                ["log", "level"] => "log-level".to_owned(),
                ["log", "file"] => "log-file".to_owned(),
                other => other.join("-").replace('_', "-"),
            };
            format!("--{flag}")
        },
    }
}

impl Config {
    /// Loads from the process environment. `file` must exist when given.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars(), overrides)
    }

    /// Loads with an explicit set of environment variables (tests pass their own).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut figment =
            Figment::from(figment::providers::Serialized::defaults(Config::default()));
        if let Some(path) = file {
            // Told apart before figment reads it (figment takes a missing file for an empty one).
            crate::access::open(path).map_err(ConfigError::File)?;
            figment = figment.merge(figment::providers::Toml::file(path));
        }
        let config: Config = figment
            .merge(env_layer(env))
            .merge(flag_layer(overrides))
            .extract()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot; each error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(5..=600).contains(&self.daemon.lease_ttl_s) {
            return Err(invalid(
                "daemon.lease_ttl_s",
                "must be between 5 and 600 seconds",
            ));
        }
        if !(1..=120).contains(&self.exchange.request_timeout_s) {
            return Err(invalid(
                "exchange.request_timeout_s",
                "must be between 1 and 120 seconds",
            ));
        }
        if self.daemon.account_threads > 64 {
            return Err(invalid(
                "daemon.account_threads",
                "must be at most 64 (0 is one per core)",
            ));
        }
        if !(1..=100_000).contains(&self.daemon.egress_per_s) {
            return Err(invalid(
                "daemon.egress_per_s",
                "must be between 1 and 100000 requests a second",
            ));
        }
        if !(1..=10_000).contains(&self.daemon.orders_in_flight_max) {
            return Err(invalid(
                "daemon.orders_in_flight_max",
                "must be between 1 and 10000",
            ));
        }
        if let Some(id) = &self.daemon.instance_id
            && (id.is_empty() || id.len() > 128 || id.chars().any(char::is_whitespace))
        {
            return Err(invalid(
                "daemon.instance_id",
                "must be 1-128 characters without spaces",
            ));
        }
        if let Some(url) = &self.database.url {
            DatabaseUrl::parse(url).map_err(|e| invalid("database.url", e.to_string()))?;
        }
        if !(1..=512).contains(&self.database.pool_size) {
            return Err(invalid("database.pool_size", "must be between 1 and 512"));
        }
        if !(1..=600).contains(&self.database.connect_timeout_s) {
            return Err(invalid(
                "database.connect_timeout_s",
                "must be between 1 and 600 seconds",
            ));
        }
        if let Some(url) = &self.redis.url {
            check_url("redis.url", url, &["redis", "rediss", "unix"])?;
        }
        self.api.listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "api.listen",
                format!("{:?} is not HOST:PORT with an IP address", self.api.listen),
            )
        })?;
        for (i, h) in self.api.token_hashes.iter().enumerate() {
            let ok = h.strip_prefix("sha256:").is_some_and(|hex| {
                hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            if !ok {
                return Err(invalid(
                    "api.token_hashes",
                    format!(
                        "entry {i} is not sha256:<64 lowercase hex digits> (`alpha-oto hash-token` prints one)"
                    ),
                ));
            }
        }
        check_url(
            "exchange.rest_url",
            &self.exchange.rest_url,
            &["http", "https"],
        )?;
        check_url(
            "exchange.public_ws_url",
            &self.exchange.public_ws_url,
            &["ws", "wss"],
        )?;
        check_url(
            "exchange.private_ws_url",
            &self.exchange.private_ws_url,
            &["ws", "wss"],
        )?;
        if !(1024..=16_777_216).contains(&self.log.channel_size) {
            return Err(invalid(
                "log.channel_size",
                "must be between 1024 and 16777216 records",
            ));
        }
        if let Some(path) = &self.vault.key_file
            && !path.is_file()
        {
            return Err(invalid(
                "vault.key_file",
                format!("{} is not a readable file", path.display()),
            ));
        }
        const LEVELS: &[&str] = &["debug", "info", "warn", "error", "critical"];
        if let Some(w) = &self.notify.webhook {
            check_url("notify.webhook.url", &w.url, &["http", "https"])?;
            if !LEVELS.contains(&w.min_level.as_str()) {
                return Err(invalid(
                    "notify.webhook.min_level",
                    "one of debug, info, warn, error, critical",
                ));
            }
        }
        if let Some(t) = &self.notify.telegram {
            check_url("notify.telegram.api_url", &t.api_url, &["http", "https"])?;
            if !LEVELS.contains(&t.min_level.as_str()) {
                return Err(invalid(
                    "notify.telegram.min_level",
                    "one of debug, info, warn, error, critical",
                ));
            }
            if t.chat_id.trim().is_empty() {
                return Err(invalid(
                    "notify.telegram.chat_id",
                    "the chat's id is needed",
                ));
            }
        }
        if self.notify.group_s > 3600 || self.notify.min_gap_s > 3600 {
            return Err(invalid(
                "notify.group_s",
                "group_s and min_gap_s are at most 3600 seconds",
            ));
        }
        if !(1..=10_000).contains(&self.daemon.capacity) {
            return Err(invalid("daemon.capacity", "between 1 and 10000"));
        }
        if self.daemon.session_warn_hours > 24 * 30 {
            return Err(invalid("daemon.session_warn_hours", "at most 720 hours"));
        }
        Ok(())
    }

    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.daemon.data_dir {
            return dir.clone();
        }
        match std::env::var_os("STATE_DIRECTORY") {
            // systemd may pass several directories separated by ':'; the first is ours.
            Some(v) => PathBuf::from(v.to_string_lossy().split(':').next().unwrap_or("data")),
            None => PathBuf::from("data"),
        }
    }

    /// The database to use: the configured URL, else SQLite in the data directory.
    pub fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        match &self.database.url {
            Some(url) => {
                DatabaseUrl::parse(url).map_err(|e| invalid("database.url", e.to_string()))
            }
            None => Ok(DatabaseUrl::Sqlite(self.data_dir().join(SQLITE_FILE))),
        }
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            pool_size: self.database.pool_size,
            connect_timeout: Duration::from_secs(u64::from(self.database.connect_timeout_s)),
            ..StoreOptions::default()
        }
    }

    pub fn log_settings(&self) -> LogSettings {
        LogSettings {
            level: self.log.level,
            file: self.log.file.clone(),
            format: self.log.format,
            channel_size: self.log.channel_size,
            overflow: self.log.overflow,
        }
    }

    pub fn instance_id(&self) -> String {
        if let Some(id) = &self.daemon.instance_id {
            return id.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "alpha-oto".to_owned())
    }

    /// The resolved configuration as TOML, with passwords in URLs hidden.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        let mut shown = self.clone();
        shown.database.url = Some(match self.database_url() {
            Ok(DatabaseUrl::Postgres(u)) => redact_url(&u),
            Ok(DatabaseUrl::Sqlite(p)) => format!("sqlite://{}", p.display()),
            Err(_) => String::new(),
        });
        shown.redis.url = self.redis.url.as_deref().map(redact_url);
        toml::to_string_pretty(&shown)
    }
}

fn check_url(key: &'static str, raw: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    // The value is not repeated: it may hold a password.
    let url = url::Url::parse(raw).map_err(|e| invalid(key, format!("not a valid URL ({e})")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(invalid(
            key,
            format!("scheme must be one of {}", schemes.join(", ")),
        ));
    }
    if url.scheme() != "unix" && url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(key, "the URL has no host"));
    }
    Ok(())
}
