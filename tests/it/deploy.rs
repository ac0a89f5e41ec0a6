//! What `deploy/` ships: the Prometheus alert rules and the Grafana dashboard, held against
//! Prometheus's own tools and against the metrics the daemon exports.

use std::collections::BTreeSet;

fn deploy_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/deploy/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The names of the daemon's metrics (and the process metrics) as `/metrics` shows them.
fn exported_names() -> BTreeSet<String> {
    let handle = alpha_oto::meters::handle().expect("the metrics recorder");
    alpha_oto::meters::render(handle)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Metric names in PromQL expressions: `alpha_oto_*` and `process_*`, less the histogram
/// suffixes the exposition adds.
fn referenced_names(exprs: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes: Vec<char> = exprs.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..].iter().collect();
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if boundary && (rest.starts_with("alpha_oto_") || rest.starts_with("process_")) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            i += name.len();
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name)
                .to_owned();
            out.insert(base);
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let check = crate::support::promtool(&["check", "rules", "deploy/prometheus/alerts.yml"], "");
    assert!(
        check.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let tests =
        crate::support::promtool(&["test", "rules", "deploy/prometheus/alerts.test.yml"], "");
    assert!(
        tests.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&tests.stdout),
        String::from_utf8_lossy(&tests.stderr)
    );
    // The rules the issue asks for are all there.
    let rules = deploy_file("prometheus/alerts.yml");
    for alert in [
        "AlphaOtoDown",
        "AlphaOtoRestarted",
        "AlphaOtoAccountRestarts",
        "AlphaOtoStreamLost",
        "AlphaOtoSessionExpired",
        "AlphaOtoAccountsPaused",
        "AlphaOtoNoPairs",
    ] {
        assert!(rules.contains(&format!("alert: {alert}\n")), "{alert}");
        assert!(
            deploy_file("prometheus/alerts.test.yml").contains(&format!("alertname: {alert}\n")),
            "{alert} has no unit test"
        );
    }
}

#[test]
fn the_rules_and_the_dashboard_use_only_metrics_the_daemon_exports() {
    let exported = exported_names();
    let rules = deploy_file("prometheus/alerts.yml");
    let dashboard: serde_json::Value =
        serde_json::from_str(&deploy_file("grafana/alpha-oto.json")).unwrap();
    let mut exprs = String::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{panel}");
        for t in targets {
            exprs.push_str(t["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    for t in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = t["query"].as_str() {
            exprs.push_str(q);
            exprs.push('\n');
        }
    }
    for (what, text) in [("alerts.yml", rules.as_str()), ("the dashboard", &exprs)] {
        let used = referenced_names(text);
        assert!(used.len() >= 5, "{what}: {used:?}");
        let unknown: Vec<&String> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{what} uses metrics the daemon does not export: {unknown:?} (exported: {exported:?})"
        );
    }
}
