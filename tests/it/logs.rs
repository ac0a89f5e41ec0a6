//! Logs: ECS JSON lines, no record lost in a burst, drops (when chosen) always reported, the
//! `log` crate captured, and the file reopened on SIGHUP.

use std::path::Path;

use alpha_oto::telemetry::{self, LogFormat, LogLevel, LogSettings, Overflow, fields};
use serde_json::Value;

fn settings(path: &Path, channel_size: usize, overflow: Overflow) -> LogSettings {
    LogSettings {
        level: LogLevel::Debug,
        file: Some(path.to_owned()),
        format: LogFormat::Json,
        channel_size,
        overflow,
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn each_line_is_an_ecs_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let tel = telemetry::init(&settings(&path, 1024, Overflow::Block)).unwrap();
    let log = tel.logger.clone();
    slog::warn!(log, "order rejected";
        fields::EVENT_ACTION => "order-place", fields::EVENT_OUTCOME => "failure",
        fields::ERROR_MESSAGE => "precision over the maximum defined", fields::ERROR_TYPE => "rejected",
        fields::TRADING_ACCOUNT => "alice", fields::TRADING_SYMBOL => "ALPHA_971USDT");
    slog::trace!(log, "below the level: not written");
    // The `log` crate's records (from dependencies) land in the same stream.
    assert!(telemetry::install_log_bridge(&log, LogLevel::Debug));
    log::info!(target: "some_dependency", "hello from the log crate");
    drop(log);
    tel.shutdown();

    let lines = read_lines(&path);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let l = &lines[0];
    for key in [
        "@timestamp",
        "log.level",
        "message",
        "ecs.version",
        "service.name",
        "event.action",
        "event.outcome",
        "error.message",
        "error.type",
        "trading.account.name",
        "trading.symbol",
    ] {
        assert!(l.get(key).is_some(), "missing {key} in {l}");
    }
    let ts = l["@timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z'), "UTC: {ts}");
    chrono::DateTime::parse_from_rfc3339(ts).unwrap();
    assert_eq!(l["log.level"], "warn");
    assert_eq!(l["message"], "order rejected");
    assert_eq!(l["service.name"], "alpha-oto");
    assert_eq!(l["event.outcome"], "failure");
    assert_eq!(l["trading.account.name"], "alice");
    assert_eq!(lines[1]["message"], "hello from the log crate");
    // Its target is the logger, its file and line the origin (ECS objects, never a string).
    assert_eq!(lines[1]["log.logger"], "some_dependency");
    assert!(
        lines[1]["log.origin.file.name"]
            .as_str()
            .is_some_and(|f| f.ends_with("logs.rs")),
        "{}",
        lines[1]
    );
    assert!(lines[1]["log.origin.file.line"].as_u64().is_some());
    assert!(lines[1].get("log.origin").is_none());
    for line in &lines {
        let problems = crate::ecs::problems(line);
        assert!(problems.is_empty(), "{problems:?} in {line}");
    }
    assert_eq!(lines[1]["log.level"], "info");
}

#[test]
fn a_burst_of_100000_records_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("burst.log");
    // A small channel, so the burst overflows it many times over.
    let tel = telemetry::init(&settings(&path, 1024, Overflow::Block)).unwrap();
    std::thread::scope(|s| {
        for t in 0..4_u64 {
            let log = tel.logger.clone();
            s.spawn(move || {
                for i in 0..25_000_u64 {
                    slog::info!(log, "burst"; "seq" => t * 25_000 + i);
                }
            });
        }
    });
    tel.shutdown();
    let mut seen = vec![false; 100_000];
    let text = std::fs::read_to_string(&path).unwrap();
    let mut count = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let seq = v["seq"].as_u64().unwrap() as usize;
        assert!(!seen[seq], "record {seq} written twice");
        seen[seq] = true;
        count += 1;
    }
    assert_eq!(count, 100_000);
}

#[test]
fn the_drop_policy_reports_every_record_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drop.log");
    let tel = telemetry::init(&settings(&path, 1024, Overflow::DropAndReport)).unwrap();
    let log = tel.logger.clone();
    for i in 0..100_000_u64 {
        slog::info!(log, "burst"; "seq" => i);
    }
    // Drop reports ride on the next record; give the writer time to drain, then log once more.
    std::thread::sleep(std::time::Duration::from_millis(500));
    slog::info!(log, "after the burst");
    drop(log);
    tel.shutdown();
    let lines = read_lines(&path);
    let written = lines.iter().filter(|l| l["message"] == "burst").count() as u64;
    let reported: u64 = lines
        .iter()
        .filter_map(|l| l.get("count").and_then(Value::as_u64))
        .sum();
    assert!(written <= 100_000);
    assert!(
        written + reported >= 100_000,
        "written {written} + reported {reported}: a drop went unreported"
    );
    // The drops are counted for /metrics too (other tests may add theirs: at least ours).
    let text = alpha_oto::meters::handle().unwrap().render();
    let counted: f64 = text
        .lines()
        .find(|l| l.starts_with("alpha_oto_log_records_dropped_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    if reported > 0 {
        assert!(
            counted >= reported as f64,
            "{counted} counted, {reported} reported"
        );
    }
}

#[test]
fn sighup_reopens_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alpha-oto.log");
    let rotated = dir.path().join("alpha-oto.log.1");
    let tel = telemetry::init(&settings(&path, 1024, Overflow::Block)).unwrap();
    tel.reopen_on_sighup().unwrap();
    let log = tel.logger.clone();
    slog::info!(log, "before rotation");
    // Wait for the writer thread to put the first record in the file, then rotate it away.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&path)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first record never reached the file"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::rename(&path, &rotated).unwrap();
    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    slog::info!(log, "after rotation");
    drop(log);
    tel.shutdown();

    let old = read_lines(&rotated);
    let new = read_lines(&path);
    assert_eq!(
        old.iter()
            .map(|l| l["message"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["before rotation"]
    );
    assert_eq!(
        new.iter()
            .map(|l| l["message"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["after rotation"]
    );
}
