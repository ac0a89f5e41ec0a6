//! Logs: one ECS JSON object per line (for Filebeat and ELK), or a readable console format when
//! a person watches a terminal.
//!
//! Records go through slog-async's channel to one writer thread. The overflow policy is
//! explicit: `block` (the default) makes a caller wait rather than lose a record;
//! `drop_and_report` keeps callers fast and writes a record that counts what was dropped.
//! The log file is reopened on SIGHUP, so logrotate can move it without copytruncate. Output of
//! the `log` crate (used by dependencies) is captured into the same stream.

use std::fmt;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slog::{Drain, Level, Logger, Never, OwnedKVList, Record, o};

/// ECS field names used across the crate, so that a field never goes by two names.
pub mod fields {
    pub const EVENT_ACTION: &str = "event.action";
    pub const EVENT_OUTCOME: &str = "event.outcome";
    pub const ERROR_MESSAGE: &str = "error.message";
    pub const ERROR_TYPE: &str = "error.type";
    // The service's own fields, all under `trading.` (ECS leaves custom fields to a
    // namespace of their own; one under an ECS field set would clash with a future ECS field).
    pub const TRADING_ACCOUNT: &str = "trading.account.name";
    pub const TRADING_ACCOUNT_ID: &str = "trading.account.id";
    pub const TRADING_SYMBOL: &str = "trading.symbol";
    pub const TRADING_ORDER_ID: &str = "trading.order.id";
    pub const TRADING_CYCLE_ID: &str = "trading.cycle.id";
}

/// The ECS version the field names follow.
pub const ECS_VERSION: &str = "8.11.0";
pub const SERVICE_NAME: &str = "alpha-oto";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    fn slog(self) -> Level {
        match self {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warning,
            LogLevel::Error => Level::Error,
            LogLevel::Critical => Level::Critical,
        }
    }

    fn log_filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Trace => log::LevelFilter::Trace,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Error | LogLevel::Critical => log::LevelFilter::Error,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON, except the console format when stdout is a terminal and no file is set.
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// A full channel makes the logging caller wait: no record is ever lost.
    Block,
    /// A full channel drops records and then logs how many were dropped.
    DropAndReport,
}

/// What `init` needs; built from `[log]` in the config.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: LogLevel,
    pub file: Option<PathBuf>,
    pub format: LogFormat,
    pub channel_size: usize,
    pub overflow: Overflow,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            file: None,
            format: LogFormat::Auto,
            channel_size: 65_536,
            overflow: Overflow::Block,
        }
    }
}

fn ecs_level(level: Level) -> &'static str {
    match level {
        Level::Critical => "critical",
        Level::Error => "error",
        Level::Warning => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// The JSON drain with the ECS base fields.
pub fn ecs_json<W: io::Write>(out: W) -> slog_json::Json<W> {
    slog_json::Json::new(out)
        .set_newlines(true)
        .set_flush(true)
        .add_key_value(o!(
            "@timestamp" => slog::PushFnValue(|_: &Record, ser| {
                ser.emit(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            }),
            "log.level" => slog::FnValue(|r: &Record| ecs_level(r.level())),
            "log.logger" => slog::FnValue(|r: &Record| r.module()),
            "log.origin.file.name" => slog::FnValue(|r: &Record| r.file()),
            "log.origin.file.line" => slog::FnValue(|r: &Record| r.line()),
            "message" => slog::PushFnValue(|r: &Record, ser| ser.emit(r.msg())),
            "ecs.version" => ECS_VERSION,
            "service.name" => SERVICE_NAME,
            "service.version" => env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

/// Writes a failure to stderr instead of panicking (slog's `fuse` would) or dropping it.
struct ReportErrors<D>(D);

impl<D> Drain for ReportErrors<D>
where
    D: Drain,
    D::Err: fmt::Debug,
{
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), Never> {
        // slog-async's report of records dropped on overflow: counted for /metrics.
        if record.module().starts_with("slog_async") {
            let mut count = DropCount(0);
            let _ = slog::KV::serialize(&record.kv(), record, &mut count);
            metrics::counter!(crate::meters::LOG_DROPPED).increment(count.0.max(1));
        }
        if let Err(e) = self.0.log(record, values) {
            eprintln!("alpha-oto: a log record could not be written: {e:?}");
        }
        Ok(())
    }
}

/// Reads the `count` of an overflow report.
struct DropCount(u64);

impl slog::Serializer for DropCount {
    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
        if key == "count"
            && let Ok(n) = val.to_string().parse()
        {
            self.0 = n;
        }
        Ok(())
    }
}

/// The running logger. Dropping it flushes every queued record.
pub struct Telemetry {
    pub logger: Logger,
    guard: Option<slog_async::AsyncGuard>,
    reopen: Option<reopen::Handle>,
}

impl Telemetry {
    /// Asks the file writer to reopen its file before the next record (what SIGHUP does).
    pub fn reopen(&self) {
        if let Some(h) = &self.reopen {
            h.reopen();
        }
    }

    /// Reopens the log file whenever the process receives SIGHUP.
    pub fn reopen_on_sighup(&self) -> io::Result<()> {
        if let Some(h) = &self.reopen {
            h.register_signal(signal_hook::consts::SIGHUP)?;
        }
        Ok(())
    }

    /// Flushes and stops the writer thread.
    pub fn shutdown(mut self) {
        self.guard.take();
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.guard.take();
    }
}

fn open_append(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn asynced<D>(drain: D, settings: &LogSettings) -> (slog_async::Async, slog_async::AsyncGuard)
where
    D: Drain<Ok = (), Err = Never> + Send + 'static,
{
    let strategy = match settings.overflow {
        Overflow::Block => slog_async::OverflowStrategy::Block,
        Overflow::DropAndReport => slog_async::OverflowStrategy::DropAndReport,
    };
    slog_async::Async::new(drain)
        .chan_size(settings.channel_size.max(1))
        .overflow_strategy(strategy)
        .thread_name("alpha-oto-log".into())
        .build_with_guard()
}

/// Builds the root logger from settings. Does not install it anywhere; see
/// [`install_log_bridge`] for the `log` crate.
pub fn init(settings: &LogSettings) -> io::Result<Telemetry> {
    // The metrics recorder first, so even the logger's own drop reports are counted.
    let _ = crate::meters::handle();
    let level = settings.level.slog();
    if let Some(path) = &settings.file {
        let owned = path.clone();
        let writer = reopen::Reopen::new(Box::new(move || open_append(&owned))).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot open log file {} as user {}: {e}",
                    path.display(),
                    crate::access::current_user()
                ),
            )
        })?;
        let handle = writer.handle();
        // Buffered, flushed once per record: unbuffered, the JSON writer makes a system call
        // per token of every record.
        let writer = io::BufWriter::with_capacity(1 << 16, writer);
        let drain = slog::LevelFilter::new(ReportErrors(ecs_json(writer)), level).ignore_res();
        let (drain, guard) = asynced(drain, settings);
        return Ok(Telemetry {
            logger: Logger::root(ReportErrors(drain), o!()),
            guard: Some(guard),
            reopen: Some(handle),
        });
    }
    let pretty = match settings.format {
        LogFormat::Pretty => true,
        LogFormat::Json => false,
        LogFormat::Auto => io::stdout().is_terminal(),
    };
    let (drain, guard) = if pretty {
        let decorator = slog_term::TermDecorator::new().stdout().build();
        let format = slog_term::FullFormat::new(decorator)
            .use_utc_timestamp()
            .build();
        asynced(
            slog::LevelFilter::new(ReportErrors(format), level).ignore_res(),
            settings,
        )
    } else {
        asynced(
            slog::LevelFilter::new(ReportErrors(ecs_json(io::stdout())), level).ignore_res(),
            settings,
        )
    };
    Ok(Telemetry {
        logger: Logger::root(ReportErrors(drain), o!()),
        guard: Some(guard),
        reopen: None,
    })
}

/// Routes records of the `log` crate into `logger`. Only the first call in a process wins
/// (the `log` crate allows one global logger); later calls return `false`.
pub fn install_log_bridge(logger: &Logger, level: LogLevel) -> bool {
    let installed = log::set_boxed_logger(Box::new(LogBridge {
        logger: logger.clone(),
    }))
    .is_ok();
    if installed {
        log::set_max_level(level.log_filter());
    }
    installed
}

/// The text of a panic's payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Every panic of the process, on any thread, becomes an ERROR record of `logger` with its
/// message and place (the default hook writes it to stderr only, where ELK never sees it).
/// Caught panics (a request handler, an account's task) are logged here too.
pub fn install_panic_hook(logger: &Logger) {
    let logger = logger.clone();
    std::panic::set_hook(Box::new(move |info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        slog::error!(logger, "panic";
            fields::EVENT_ACTION => "panic",
            "error.message" => panic_message(info.payload()),
            "error.stack_trace" => place,
            "process.thread.name" => thread);
    }));
}

/// Replaces what follows `alpha@` (the private stream's name) or `listenKey=` / `"listenKey":"`
/// with `[redacted]`, up to the first character that cannot be part of a key.
pub fn redact_listen_keys(text: &str) -> String {
    const MARKERS: &[&str] = &["alpha@", "listenKey=", "\"listenKey\":\""];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = MARKERS
            .iter()
            .filter_map(|m| rest.find(m).map(|at| (at, m.len())))
            .min();
        let Some((at, len)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at + len]);
        rest = &rest[at + len..];
        let key_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        if key_len > 0 {
            out.push_str("[redacted]");
        }
        rest = &rest[key_len..];
    }
}

/// The place of a `log` crate record, made once per call site and kept for the process (slog
/// wants a `'static` one). Call sites are few and fixed; past `MAX_SITES` distinct ones, a
/// shared place stands in.
fn bridged_location(r: &log::Record<'_>) -> &'static slog::RecordLocation {
    use std::collections::HashMap;
    use std::sync::{Mutex, PoisonError};
    const MAX_SITES: usize = 4096;
    static OTHER: slog::RecordLocation = slog::RecordLocation {
        file: "",
        line: 0,
        column: 0,
        function: "",
        module: "log",
    };
    type Site = (String, Option<&'static str>, Option<u32>);
    static SITES: Mutex<Option<HashMap<Site, &'static slog::RecordLocation>>> = Mutex::new(None);
    let key: Site = (r.target().to_owned(), r.file_static(), r.line());
    let mut sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
    let sites = sites.get_or_insert_with(HashMap::new);
    if let Some(place) = sites.get(&key) {
        return place;
    }
    if sites.len() >= MAX_SITES {
        return &OTHER;
    }
    let place: &'static slog::RecordLocation = Box::leak(Box::new(slog::RecordLocation {
        file: key.1.unwrap_or(""),
        line: key.2.unwrap_or(0),
        column: 0,
        function: "",
        module: Box::leak(key.0.clone().into_boxed_str()),
    }));
    sites.insert(key, place);
    place
}

struct LogBridge {
    logger: Logger,
}

impl log::Log for LogBridge {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, r: &log::Record<'_>) {
        let level = match r.level() {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warning,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        };
        // The libraries' debug and trace records show frames and URLs, which carry the
        // private stream's listen key: it is a credential for the account's reports.
        let text = redact_listen_keys(&r.args().to_string());
        // A record of its own place: `log.logger` is the library's target and
        // `log.origin.file` its file and line, as for the daemon's own records.
        let info = slog::RecordStatic {
            location: bridged_location(r),
            level,
            tag: "",
        };
        self.logger
            .log(&Record::new(&info, &format_args!("{text}"), slog::b!()));
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_keys_are_redacted_wherever_a_library_shows_them() {
        let key = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1";
        for text in [
            format!("Sending frame: {{\"method\":\"SUBSCRIBE\",\"params\":[\"alpha@{key}\"]}}"),
            format!("PUT /bapi/defi/v1/private/alpha-trade/listen-key?listenKey={key} HTTP/1.1"),
            format!("{{\"listenKey\":\"{key}\"}}"),
        ] {
            let shown = redact_listen_keys(&text);
            assert!(!shown.contains(key), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        assert_eq!(redact_listen_keys("no key here"), "no key here");
        assert_eq!(redact_listen_keys("alpha@"), "alpha@");
    }
}
