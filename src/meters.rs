//! Prometheus metrics, served by the API at `/metrics`. Names, help texts and the label values
//! each series can take are in one place; labels are low-cardinality (never an account or
//! order id), so thousands of accounts cost nothing.
//!
//! Every series is present from the start with 0 ([`handle`] registers them), so an alert on
//! `increase(...)` sees the first event too. Traded USDT is a counter of exact decimals kept
//! here (the `metrics` crate's counters are integers); process metrics are read from `/proc`
//! at each scrape.

use std::sync::{Mutex, OnceLock, PoisonError};

use metrics::{describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rust_decimal::Decimal;

mod process;

pub const ACCOUNTS: &str = "alpha_oto_accounts";
pub const CYCLES: &str = "alpha_oto_cycles_total";
pub const TRADED_USDT: &str = "alpha_oto_traded_usdt_total";
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
pub const CROSSING_WAITS: &str = "alpha_oto_crossing_waits_total";
pub const RECONCILIATIONS: &str = "alpha_oto_reconciliations_total";
pub const PAIR_QUESTIONS: &str = "alpha_oto_pair_questions_total";
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
/// Account tasks that ended and were started again by the supervisor.
pub const RESTARTS: &str = "alpha_oto_account_restarts_total";
pub const BUILD_INFO: &str = "alpha_oto_build_info";
/// New orders allowed in flight to the exchange at once (`domain::admission`), and how long
/// an order waited for its turn.
pub const ADMISSION_LIMIT: &str = "alpha_oto_admission_limit";
pub const ADMISSION_WAIT_SECONDS: &str = "alpha_oto_admission_wait_seconds";
pub const ADMISSION_WAITING: &str = "alpha_oto_admission_waiting";

/// `alpha_oto_orders_total{kind, outcome}`.
pub const ORDER_SERIES: &[(&str, &[&str])] = &[
    ("oto", &["placed", "unknown", "refused"]),
    ("cancel", &["sent", "failed"]),
    ("sell", &["placed", "refused"]),
];
/// `alpha_oto_stream_lost_total{stream}`.
pub const STREAMS: &[&str] = &["private", "public"];
/// `alpha_oto_lease_events_total{event}`.
pub const LEASE_EVENT_KINDS: &[&str] = &["claimed", "lost", "renew_failed"];
/// `alpha_oto_traded_usdt_total{side}`.
pub const SIDES: &[&str] = &["buy", "sell"];
/// Why a live pair was asked of the exchange (`domain::safety_net`).
pub const QUESTION_REASONS: &[&str] = &["overdue", "owed", "blind", "fallback"];

const COUNTERS: &[(&str, &str)] = &[
    (
        CYCLES,
        "Pairs closed, by outcome (filled: both legs; timed_out: ended after a part filled).",
    ),
    (
        ORDERS,
        "Order requests sent to the exchange, by kind (oto, cancel, sell) and outcome.",
    ),
    (
        STREAM_LOST,
        "WebSocket streams lost, by stream (private: an account's user stream; public: prices).",
    ),
    (
        PAUSES,
        "Accounts paused, by reason (the pause reason codes of the API).",
    ),
    (
        LEASE_EVENTS,
        "Account leases claimed, lost to another instance, or failed to renew.",
    ),
    (
        RATE_LIMIT_WAITS,
        "Requests that waited for the exchange's request budget.",
    ),
    (
        CROSSING_WAITS,
        "Pairs held back a tick because they would cross a live order of another managed account.",
    ),
    (
        RECONCILIATIONS,
        "Reconciliations of an account's store with the exchange.",
    ),
    (
        PAIR_QUESTIONS,
        "Live pairs asked of the exchange, by reason (overdue: a place or cancel's report; owed: the price reached a leg; blind: the price could not vouch; fallback: the long wait).",
    ),
    (
        API_PANICS,
        "Control API handlers that panicked (answered 500 and logged).",
    ),
    (
        LOG_DROPPED,
        "Log records dropped because the log writer fell behind.",
    ),
    (DB_UNITS, "Units of work done by the database threads."),
    (
        DB_COMMITS,
        "Commits of the database threads (units per commit: group commit).",
    ),
    (
        RESTARTS,
        "Account tasks that ended unexpectedly and were started again.",
    ),
];

const HISTOGRAMS: &[(&str, &str)] = &[
    (
        PLACE_SECONDS,
        "Time the exchange took to answer a pair's place request, in seconds.",
    ),
    (
        REACTION_SECONDS,
        "Time from a pair's last fill to the next pair's request leaving, in seconds.",
    ),
    (
        INTENT_WRITE_SECONDS,
        "Time for a pair's intent to become durable before its request, in seconds.",
    ),
    (
        EVENT_AGE_SECONDS,
        "Age of an execution report when it arrived (event time to receipt), in seconds.",
    ),
    (
        DB_BATCH_SECONDS,
        "Time a database thread took for one batch of units, first statement to commit, in seconds.",
    ),
    (
        ADMISSION_WAIT_SECONDS,
        "Time a new order waited for its turn to go to the exchange, in seconds.",
    ),
];

/// Seconds, from a tenth of a millisecond (a reaction's parts) to a minute.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1,
    0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder once, with every series described and present; None if
/// another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).ok()?;
            let handle = builder.install_recorder().ok()?;
            register_all();
            Some(handle)
        })
        .as_ref()
}

/// Describes every metric (HELP) and registers each series the daemon can write, at 0.
fn register_all() {
    for (name, help) in COUNTERS {
        describe_counter!(*name, *help);
    }
    for (name, help) in HISTOGRAMS {
        describe_histogram!(*name, *help);
        // Registered, so the histogram is rendered (all buckets 0) before its first sample.
        let _ = metrics::histogram!(*name);
    }
    describe_gauge!(
        ACCOUNTS,
        "Accounts run by this instance, by state (what the API shows)."
    );
    describe_gauge!(
        ADMISSION_LIMIT,
        "New orders allowed in flight to the exchange at once (follows the exchange's round trip)."
    );
    describe_gauge!(
        ADMISSION_WAITING,
        "New orders waiting for their turn to go to the exchange."
    );
    metrics::gauge!(ADMISSION_WAITING).set(0.0);
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the labels tell the version of the running binary."
    );
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // The states an account is counted in (`alpha_oto_accounts{state}`).
    for state in crate::domain::shown::AccountState::ALL {
        metrics::gauge!(ACCOUNTS, "state" => state.as_str()).set(0.0);
    }
    // `alpha_oto_cycles_total{outcome}`.
    for outcome in crate::domain::cycle::Outcome::ALL {
        metrics::counter!(CYCLES, "outcome" => outcome.as_str()).absolute(0);
    }
    for (kind, outcomes) in ORDER_SERIES {
        for outcome in *outcomes {
            metrics::counter!(ORDERS, "kind" => *kind, "outcome" => *outcome).absolute(0);
        }
    }
    for stream in STREAMS {
        metrics::counter!(STREAM_LOST, "stream" => *stream).absolute(0);
    }
    for reason in crate::domain::pause::PauseReason::ALL {
        metrics::counter!(PAUSES, "reason" => reason.code()).absolute(0);
    }
    for event in LEASE_EVENT_KINDS {
        metrics::counter!(LEASE_EVENTS, "event" => *event).absolute(0);
    }
    for reason in QUESTION_REASONS {
        metrics::counter!(PAIR_QUESTIONS, "reason" => *reason).absolute(0);
    }
    for name in [
        RATE_LIMIT_WAITS,
        CROSSING_WAITS,
        RECONCILIATIONS,
        API_PANICS,
        LOG_DROPPED,
        DB_UNITS,
        DB_COMMITS,
        RESTARTS,
    ] {
        metrics::counter!(name).absolute(0);
    }
}

/// USDT traded, buys and sells, exact.
static TRADED: Mutex<[Decimal; 2]> = Mutex::new([Decimal::ZERO; 2]);

/// Counts a fill's quote amount in `alpha_oto_traded_usdt_total`.
pub fn add_traded(buy: bool, quote: Decimal) {
    let mut t = TRADED.lock().unwrap_or_else(PoisonError::into_inner);
    let i = usize::from(!buy);
    t[i] = t[i].saturating_add(quote);
}

/// The whole exposition: the recorder's series, traded USDT and the process's own metrics.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut out = handle.render();
    let traded = *TRADED.lock().unwrap_or_else(PoisonError::into_inner);
    out.push_str(&format!(
        "# HELP {TRADED_USDT} Quote volume of this instance's fills in USDT, by side.\n\
         # TYPE {TRADED_USDT} counter\n"
    ));
    for (side, value) in SIDES.iter().zip(traded) {
        out.push_str(&format!(
            "{TRADED_USDT}{{side=\"{side}\"}} {}\n",
            value.normalize()
        ));
    }
    out.push('\n');
    out.push_str(&process::render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every series is there before anything happened, with its HELP and TYPE lines.
    #[test]
    fn every_series_is_described_and_present_at_zero() {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, register_all);
        let text = render(&handle);
        for (name, _) in COUNTERS.iter().chain(HISTOGRAMS) {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
        }
        for name in [ACCOUNTS, BUILD_INFO, TRADED_USDT] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
        }
        for series in [
            "alpha_oto_cycles_total{outcome=\"filled\"} 0",
            "alpha_oto_orders_total{kind=\"oto\",outcome=\"unknown\"} 0",
            "alpha_oto_pauses_total{reason=\"session_expired\"} 0",
            "alpha_oto_stream_lost_total{stream=\"private\"} 0",
            "alpha_oto_account_restarts_total 0",
            "alpha_oto_accounts{state=\"paused\"} 0",
            "alpha_oto_reaction_seconds_count 0",
            "# TYPE alpha_oto_traded_usdt_total counter",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
        ] {
            assert!(text.contains(series), "{series} missing:\n{text}");
        }
    }
}
