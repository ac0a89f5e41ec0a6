//! Prometheus metrics (B6), served by the API at `/metrics`. Names are in one place; labels
//! are low-cardinality (never an account or order id), so thousands of accounts cost nothing.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const ACCOUNTS: &str = "alpha_oto_accounts";
pub const CYCLES: &str = "alpha_oto_cycles_total";
pub const TRADED_USDT: &str = "alpha_oto_traded_usdt";
pub const ORDERS: &str = "alpha_oto_orders_total";
pub const PLACE_SECONDS: &str = "alpha_oto_place_seconds";
pub const REACTION_SECONDS: &str = "alpha_oto_reaction_seconds";
/// How long a pair's intent took to become durable: the part of a reaction spent waiting for
/// the database.
pub const INTENT_WRITE_SECONDS: &str = "alpha_oto_intent_write_seconds";
pub const STREAM_LOST: &str = "alpha_oto_stream_lost_total";
pub const PAUSES: &str = "alpha_oto_pauses_total";
pub const LEASE_EVENTS: &str = "alpha_oto_lease_events_total";
pub const RATE_LIMIT_WAITS: &str = "alpha_oto_rate_limit_waits_total";
pub const RECONCILIATIONS: &str = "alpha_oto_reconciliations_total";
pub const EVENT_AGE_SECONDS: &str = "alpha_oto_report_age_seconds";
/// Request handlers that panicked (each answered 500 and logged).
pub const API_PANICS: &str = "alpha_oto_api_panics_total";
pub const LOG_DROPPED: &str = "alpha_oto_log_records_dropped_total";
/// Units of work done by the database threads, and the commits they took (group commit:
/// units per commit is the ratio).
pub const DB_UNITS: &str = "alpha_oto_db_units_total";
pub const DB_COMMITS: &str = "alpha_oto_db_commits_total";
/// How long a database thread took for one batch of units, from its first statement to its
/// commit: what a unit costs beyond its wait in the queue.
pub const DB_BATCH_SECONDS: &str = "alpha_oto_db_batch_seconds";

/// Seconds, from a tenth of a millisecond (a reaction's parts) to a minute.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1,
    0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder once; None if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}
