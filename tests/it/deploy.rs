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

/// The service's user in the install test (a system user the test creates once).
const SERVICE_USER: &str = "alpha-oto-it";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_alpha-oto")
}

/// Runs a command, returning its exit code, stdout and stderr.
fn run(cmd: &mut std::process::Command) -> (Option<i32>, String, String) {
    let out = cmd
        .env_remove("ALPHA_OTO_CONFIG")
        .env_remove("ALPHA_OTO_MASTER_KEY")
        .env_remove("ALPHA_OTO_API_TOKEN")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `args` as the service's user; setpriv execs the command, so the child is the command
/// itself (a signal reaches it as systemd's would).
fn as_user(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("setpriv");
    c.args([
        "--reuid",
        SERVICE_USER,
        "--regid",
        SERVICE_USER,
        "--init-groups",
        "--",
    ])
    .args(args);
    c
}

/// A plain HTTP GET on loopback: the status code, or None when nothing answers.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

pub fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn mode_and_owner(path: &std::path::Path) -> (u32, String, String) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    let user = nix_name(m.uid(), true);
    let group = nix_name(m.gid(), false);
    (m.mode() & 0o7777, user, group)
}

fn nix_name(id: u32, user: bool) -> String {
    let db = std::fs::read_to_string(if user { "/etc/passwd" } else { "/etc/group" }).unwrap();
    db.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&id.to_string().as_str())).then(|| f[0].to_owned())
        })
        .unwrap_or_else(|| id.to_string())
}

/// The README's install (`deploy/install.sh`) into a temporary root: a system user, root's
/// configuration readable by the service's group, a unit that `systemd-analyze verify`
/// accepts, and the daemon started as that user with the installed files. Errors tell a
/// missing file from an unreadable one and name the user; admin commands refuse the
/// service's database when run as root, and a database that does not exist.
#[test]
fn the_install_script_installs_a_service_that_runs_as_its_user() {
    assert!(
        nix_name(0, true) == "root" && std::env::var("USER").as_deref() != Ok("nobody"),
        "passwd is readable"
    );
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|v| v.split_whitespace().nth(1).unwrap().to_owned())
        })
        .unwrap();
    assert_eq!(
        uid, "0",
        "the install test runs as root (it creates a system user and root-owned files)"
    );
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::set_permissions(r, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let listen = free_port();
    let script = format!("{}/deploy/install.sh", env!("CARGO_MANIFEST_DIR"));
    let (code, out, err) = run(std::process::Command::new("bash").args([
        script.as_str(),
        "--root",
        r.to_str().unwrap(),
        "--user",
        SERVICE_USER,
        "--listen",
        &listen,
        "--bin",
        bin(),
    ]));
    assert_eq!(code, Some(0), "install.sh:\n{out}\n{err}");
    let etc = r.join("etc/alpha-oto");
    let config = etc.join("config.toml");
    let exe = r.join("usr/local/bin/alpha-oto");
    let exe = exe.to_str().unwrap();
    assert_eq!(
        mode_and_owner(&etc),
        (0o750, "root".into(), SERVICE_USER.into())
    );
    assert_eq!(
        mode_and_owner(&config),
        (0o640, "root".into(), SERVICE_USER.into())
    );
    assert_eq!(
        mode_and_owner(&etc.join("master-key")),
        (0o640, "root".into(), SERVICE_USER.into())
    );
    assert_eq!(mode_and_owner(&etc.join("api-token")).0, 0o600);
    let state = r.join("var/lib/alpha-oto");
    assert_eq!(
        mode_and_owner(&state),
        (0o700, SERVICE_USER.into(), SERVICE_USER.into())
    );
    let unit = r.join("etc/systemd/system/alpha-oto.service");
    let (code, out, err) = run(std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit));
    assert!(
        code == Some(0) && !err.contains("alpha-oto.service:"),
        "systemd-analyze verify:\n{out}{err}"
    );
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(unit_text.contains(&format!("User={SERVICE_USER}\n")));
    assert!(unit_text.contains(&format!(
        "ExecStart={exe} serve --config {}",
        config.display()
    )));

    // A configuration the user may not read: said so, with the user's name, not "missing".
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config_arg = config.to_str().unwrap();
    let (code, _, err) = run(&mut as_user(&[
        exe, "config", "check", "--config", config_arg,
    ]));
    assert_eq!(code, Some(78), "{err}");
    assert!(
        err.contains("may not read") && err.contains(&format!("user {SERVICE_USER}")),
        "{err}"
    );
    assert!(!err.contains("does not exist"), "{err}");
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let missing = etc.join("nope.toml");
    let (code, _, err) = run(&mut as_user(&[
        exe,
        "config",
        "check",
        "--config",
        missing.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("does not exist"), "{err}");

    // An admin command before the service ever ran: no database yet, refused, none made.
    let (code, _, err) = run(&mut as_user(&[
        exe, "keys", "rotate", "--config", config_arg,
    ]));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("no database at"), "{err}");
    assert!(!state.join("alpha-oto.db").exists());

    // The daemon, as the service's user, with the installed files only.
    let mut daemon = as_user(&[exe, "serve", "--config", config_arg])
        .env_remove("ALPHA_OTO_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while http_status(&listen, "/readyz") != Some(200) {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never got ready"
        );
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let db = state.join("alpha-oto.db");
    assert_eq!(
        mode_and_owner(&db).1,
        SERVICE_USER,
        "the service's own database"
    );
    let log = r.join("var/log/alpha-oto/alpha-oto.json");
    assert!(std::fs::read_to_string(&log).unwrap().contains("\"ready\""));

    // Root's admin command finds the service's database through the configuration, and
    // refuses to leave root's files beside it.
    let (code, _, err) =
        run(std::process::Command::new(exe).args(["migrate", "--config", config_arg]));
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains(&format!("runuser -u {SERVICE_USER}")), "{err}");
    let (code, out, err) = run(&mut as_user(&[exe, "migrate", "--config", config_arg]));
    assert_eq!(
        (code, out.trim()),
        (Some(0), "no migration applied"),
        "{err}"
    );
    // Root's client finds the API and the token through the same configuration.
    let (code, out, err) =
        run(std::process::Command::new(exe)
            .args(["account", "list", "--json", "--config", config_arg]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([]),
        "{out}"
    );

    nix_kill(daemon.id());
    let status = daemon.wait().unwrap();
    assert!(status.success(), "the daemon's exit on SIGTERM: {status:?}");
}

fn nix_kill(pid: u32) {
    let (code, _, err) = run(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]));
    assert_eq!(code, Some(0), "{err}");
}

/// The README's "First run" block, run as written (only its two ports replaced by free ones):
/// from `init` to a daemon trading an account on the simulator.
#[test]
fn the_readme_first_run_ends_with_a_daemon_trading_on_the_simulator() {
    use std::os::unix::process::CommandExt;
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let section = readme
        .split("### First run")
        .nth(1)
        .expect("README has a First run section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the section has a sh block");
    assert!(block.contains("alpha-oto init") && block.contains("alpha-oto account start"));
    let (api, sim) = (free_port(), free_port());
    let script = block
        .replace("127.0.0.1:8642", &api)
        .replace("127.0.0.1:8643", &sim);
    let home = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (output, errors) = (home.path().join("walk.out"), home.path().join("walk.err"));
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &script])
        .env("HOME", home.path())
        .env("PATH", &path)
        .env_remove("ALPHA_OTO_CONFIG")
        .env_remove("ALPHA_OTO_API_TOKEN")
        .env_remove("ALPHA_OTO_API_TOKEN_FILE")
        .env_remove("ALPHA_OTO_MASTER_KEY")
        .env_remove("CREDENTIALS_DIRECTORY")
        // A file, not a pipe: the processes left running keep their output open.
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(std::fs::File::create(&errors).unwrap())
        // Its own process group: the sim and the daemon it leaves running are stopped below.
        .process_group(0);
    let mut walk = cmd.spawn().unwrap();
    let group = walk.id();
    // SIGTERM to the group, then a wait (at most 30 s) until none of it is left.
    let stop = move || {
        let signal = |sig: &str| {
            std::process::Command::new("kill")
                .args([sig, "--", &format!("-{group}")])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        signal("-TERM");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while signal("-0") && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(s) = walk.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            stop();
            panic!("the README's first run did not finish in 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let printed = format!(
        "{}{}",
        std::fs::read_to_string(&output).unwrap(),
        std::fs::read_to_string(&errors).unwrap()
    );
    if !status.success() {
        stop();
        panic!("the README's first run failed ({status:?}):\n{printed}");
    }
    assert!(printed.contains("first"), "{printed}");
    // The account trades: pairs close on the simulator.
    let config = home.path().join("alpha-oto-first/config.toml");
    let shown = loop {
        let (code, out, err) = run(std::process::Command::new(bin())
            .args(["account", "show", "first", "--json", "--config"])
            .arg(&config));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        if code == Some(0) && v["progress"]["cycles_done"].as_u64() >= Some(2) {
            break v;
        }
        if std::time::Instant::now() > deadline {
            stop();
            panic!("no pair closed: {out}{err}\n{printed}");
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    stop();
    assert_eq!(shown["state"], "trading", "{shown}");
    // The daemon's log of the run: every line ECS-valid, the pairs in it.
    let log = std::fs::read_to_string(home.path().join("alpha-oto-first/alpha-oto.log")).unwrap();
    let mut actions = BTreeSet::new();
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let problems = crate::ecs::problems(&v);
        assert!(problems.is_empty(), "{problems:?} in {line}");
        if let Some(a) = v["event.action"].as_str() {
            actions.insert(a.to_owned());
        }
    }
    for action in ["daemon-ready", "oto-place", "cycle-close"] {
        assert!(actions.contains(action), "{action} not in {actions:?}");
    }
}

/// `deploy/filebeat.yml` is right for Filebeat 8: the file the daemon writes, keys expanded
/// into ECS objects, one data stream per Filebeat version with a template of the same name,
/// and credentials from Filebeat's keystore, never in the file.
#[test]
fn the_filebeat_configuration_fits_filebeat_8_and_the_log_file() {
    let text = deploy_file("filebeat.yml");
    let value = |key: &str| -> String {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("{key} is not set"))
    };
    let index = value("index");
    assert!(
        !index.contains("%{+"),
        "a date in the index makes a data stream a day: {index}"
    );
    assert_eq!(value("setup.template.name"), index);
    assert_eq!(value("setup.template.pattern"), index);
    assert_eq!(value("expand_keys"), "true");
    assert_eq!(value("target"), "");
    assert!(
        value("api_key").starts_with("${"),
        "the key comes from the keystore"
    );
    assert!(!text.contains("password:"), "no password in the file");
    // The paths it reads are the ones the install writes and logrotate rotates.
    assert!(text.contains("- /var/log/alpha-oto/*.json"));
    assert!(deploy_file("logrotate.conf").contains("/var/log/alpha-oto/*.json"));
    assert!(deploy_file("install.sh").contains("$logs/alpha-oto.json"));
}
