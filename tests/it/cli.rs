//! The `alpha-oto` binary, run as an operator would.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use alpha_oto::store;
use alpha_oto::vault::{KeyRing, Vault};

use alpha_oto::config::database::Backend;

use crate::support::{TestDb, backend};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alpha-oto"));
    // The child must not pick up a developer's own settings.
    c.env_remove("ALPHA_OTO_CONFIG")
        .env_remove("ALPHA_OTO_MASTER_KEY")
        .env_remove("CREDENTIALS_DIRECTORY");
    c
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    (out, so, se)
}

#[test]
fn config_check_names_the_bad_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[database]\npool_size = 0\n").unwrap();
    let (out, _, err) = run(bin().args(["config", "check", "--config"]).arg(&path));
    assert!(!out.status.success());
    assert!(err.contains("database.pool_size"), "{err}");

    std::fs::write(
        &path,
        "[api]\nlisten = \"127.0.0.1:9999\"\n[database]\nurl = \"postgres://u:pw@db/x\"\n",
    )
    .unwrap();
    let (out, printed, _) = run(bin()
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("ALPHA_OTO__LOG__LEVEL", "debug"));
    assert!(out.status.success());
    assert!(
        printed.contains("listen = \"127.0.0.1:9999\"") && printed.contains("level = \"debug\""),
        "{printed}"
    );
    assert!(
        !printed.contains("pw@"),
        "the password is hidden: {printed}"
    );
}

#[test]
fn keygen_prints_a_usable_key_line_and_hash_token_a_usable_hash() {
    let (out, line, _) = run(bin().arg("keygen"));
    assert!(out.status.success());
    let ring = KeyRing::parse(line.trim(), "keygen output").unwrap();
    assert!(ring.primary_id().starts_with('k'));
    let (_, second, _) = run(bin().arg("keygen"));
    assert_ne!(line, second);

    let (out, hash, err) = with_stdin(bin().arg("hash-token"), "a-long-random-operator-token\n");
    assert!(out.status.success(), "{err}");
    assert_eq!(
        hash.trim(),
        alpha_oto::api::auth::hash("a-long-random-operator-token").unwrap()
    );
    let flags = alpha_oto::config::Overrides::default();
    let text = format!("[api]\ntoken_hashes = [\"{}\"]", hash.trim());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), text).unwrap();
    alpha_oto::config::Config::load_with_env(Some(&dir.path().join("c.toml")), Vec::new(), &flags)
        .unwrap();
    let (out, _, err) = with_stdin(bin().arg("hash-token"), "short");
    assert!(!out.status.success() && err.contains("16"), "{err}");
    // A token is never taken from the command line, where every user sees it.
    let (out, _, err) = run(bin().args(["hash-token", "a-long-random-operator-token"]));
    assert_eq!(out.status.code(), Some(64), "{err}");
    let file = dir.path().join("token");
    std::fs::write(&file, "a-long-random-operator-token\n").unwrap();
    let (out, from_file, _) = run(bin().arg("hash-token").arg("--file").arg(&file));
    assert!(out.status.success());
    assert_eq!(from_file, hash);
}

/// Runs `cmd` with `input` on its stdin.
fn with_stdin(cmd: &mut Command, input: &str) -> (Output, String, String) {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    (out, so, se)
}

#[test]
fn migrate_applies_then_reports_nothing_pending() {
    let db = TestDb::empty();
    let (out, printed, err) = run(bin().args(["migrate", "--database-url", &db.url]));
    assert!(out.status.success(), "{err}");
    assert!(printed.contains("applied:"), "{printed}");
    let (out, printed, _) = run(bin().args(["migrate", "--status", "--database-url", &db.url]));
    assert!(out.status.success());
    assert_eq!(printed.trim(), "no migration pending");
    assert!(
        db.store
            .blocking(store::migrate::pending)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn keys_rotate_reseals_stored_credentials() {
    let db = TestDb::migrated();
    let key = |id: &str| {
        let line = alpha_oto::vault::generate_key_line(chrono::Utc::now());
        format!("{id}:{}", line.split_once(':').unwrap().1)
    };
    let (old, new) = (key("old"), key("new"));
    let acc = db
        .store
        .blocking(|c| store::accounts::create(c, "alice", 1))
        .unwrap()
        .id;
    let creds = alpha_oto::exchange::session::Session::new(
        Default::default(),
        "session=1".to_owned().into(),
    )
    .unwrap();
    Vault::new(KeyRing::parse(&old, "t").unwrap())
        .put(&mut db.conn(), acc, &creds, 1)
        .unwrap();

    let (out, printed, err) = run(bin()
        .args(["keys", "rotate", "--database-url", &db.url])
        .env("ALPHA_OTO_MASTER_KEY", format!("{new},{old}")));
    assert!(out.status.success(), "{printed}{err}");
    assert!(printed.contains("rotated 1 account"), "{printed}");
    assert_eq!(
        db.store
            .blocking(|c| store::credentials::get(c, acc))
            .unwrap()
            .unwrap()
            .key_id,
        "new"
    );
    assert!(
        !err.contains(new.split_once(':').unwrap().1),
        "the key is never printed"
    );

    let (out, _, err) = run(bin().args(["keys", "rotate", "--database-url", &db.url]));
    assert!(!out.status.success());
    assert!(err.contains("no master key"), "{err}");
}

#[test]
fn serve_starts_without_core_dumps_reports_ready_and_stops_cleanly_on_sigterm() {
    let db = TestDb::empty();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args([
        "serve",
        "--api-listen",
        "127.0.0.1:0",
        "--log-level",
        "debug",
        "--data-dir",
    ])
    .arg(data.path());
    // On SQLite, the default: a database file that does not exist yet, in the data directory.
    if backend() == Backend::Postgres {
        cmd.args(["--database-url", &db.url]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no ready line: {seen:?}");
        let line = lines.next().expect("stdout closed before ready").unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        seen.push(v["message"].as_str().unwrap_or_default().to_owned());
        let problems = crate::ecs::problems(&v);
        assert!(problems.is_empty(), "{problems:?} in {line}");
        assert!(
            !["error", "critical"].contains(&v["log.level"].as_str().unwrap()),
            "an error at start: {line}"
        );
        if v["message"] == "core dumps are off" {
            assert_eq!(v["trading.process.dumpable"], false, "{line}");
        }
        if v["message"] == "ready" {
            assert_eq!(v["event.action"], "daemon-ready");
            break;
        }
    }
    assert!(seen.iter().any(|m| m == "database ready"), "{seen:?}");
    // A core dump would hold decrypted credentials and the API token: the kernel says the
    // process is not dumpable and may not write a core file.
    assert!(seen.iter().any(|m| m == "core dumps are off"), "{seen:?}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(),
        ["0", "0"],
        "{core}"
    );
    let migrated = match backend() {
        Backend::Postgres => db.store.clone(),
        Backend::Sqlite => {
            let file = data.path().join("alpha-oto.db");
            store::Store::open(
                &alpha_oto::config::database::DatabaseUrl::Sqlite(file),
                &alpha_oto::config::database::StoreOptions::default(),
            )
            .unwrap()
        }
    };
    assert!(
        migrated
            .blocking(store::migrate::pending)
            .unwrap()
            .is_empty(),
        "serve migrated the database"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}; rest {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("\"stopping\"") && l.contains("SIGTERM")),
        "{rest:?}"
    );
    // Started with no configuration, it said what to do next (on stderr, beside the log).
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(
        said.contains("no configuration file")
            && said.contains("no token configured")
            && said.contains("alpha-oto init"),
        "{said}"
    );
}

#[test]
fn serve_reopens_its_log_file_on_sighup() {
    let db = TestDb::empty();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("alpha-oto.json");
    let rotated = dir.path().join("alpha-oto.json.1");
    let mut child = bin()
        .args([
            "serve",
            "--api-listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
            "--log-file",
        ])
        .arg(&log)
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("\"ready\"")
    {
        assert!(Instant::now() < deadline, "no ready line in the log file");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::rename(&log, &rotated).unwrap();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        child.wait().unwrap().success(),
        "SIGHUP must not stop the daemon"
    );
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&log).unwrap();
    assert!(
        old.contains("\"ready\"") && !old.contains("\"stopping\""),
        "{old}"
    );
    assert!(
        new.contains("\"stopping\""),
        "the line after SIGHUP goes to the new file: {new}"
    );
}

#[test]
fn serve_fails_with_a_clear_message_when_the_database_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, err) = run(bin()
        .args([
            "serve",
            "--database-url",
            "postgres://postgres@127.0.0.1:9/none",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("ALPHA_OTO__DATABASE__CONNECT_TIMEOUT_S", "1"));
    assert!(!out.status.success());
    assert!(
        err.contains("cannot open the database") && err.contains("unavailable"),
        "{err}"
    );
}

#[actix_web::test]
async fn sim_runs_standalone_with_seeded_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let accounts_file = dir.path().join("accounts.json");
    let mut child = bin()
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "5",
            "--accounts",
            "2",
            "--usdt",
            "250",
            "--trade-interval-ms",
            "50",
            "--write-accounts",
        ])
        .arg(&accounts_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");

    let accounts: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&accounts_file).unwrap()).unwrap();
    assert_eq!(accounts.len(), 2);
    let headers = accounts[1]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                secrecy::SecretString::from(v.as_str().unwrap().to_owned()),
            )
        })
        .collect();
    let cookies = secrecy::SecretString::from(accounts[1]["cookies"].as_str().unwrap().to_owned());
    let creds = alpha_oto::exchange::session::Session::new(headers, cookies).unwrap();
    let client = alpha_oto::exchange::rest::RestClient::new(&url, Duration::from_secs(5))
        .with_session(&creds);
    client.probe_session().await.unwrap();
    assert_eq!(
        client.wallet_assets().await.unwrap()[0].spot.free,
        "250".parse().unwrap()
    );
    // The market moves on its own: trades print every 50 ms.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !client
            .agg_trades("ALPHA_22USDT", 100)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());

    let (out, _, err) = run(bin().args(["sim", "--faults", "earthquake"]));
    assert!(
        !out.status.success() && err.contains("unknown fault"),
        "{err}"
    );
}

/// `alpha-oto token refresh` fills the shared cache (Redis) and the database from the
/// exchange, so a daemon finds every token without a lookup.
#[actix_web::test]
async fn token_refresh_fills_redis_and_the_database() {
    let sim = alpha_oto::sim::server::start(alpha_oto::sim::server::SimOptions::default())
        .await
        .unwrap();
    let db = TestDb::migrated();
    let redis = crate::support::redis_url();
    let prefix = format!("{}:", crate::support::unique("refresh"));
    let mut cmd = bin();
    cmd.args(["token", "refresh", "--database-url", &db.url])
        .env("ALPHA_OTO__EXCHANGE__REST_URL", sim.base_url())
        .env("ALPHA_OTO__REDIS__URL", &redis)
        .env("ALPHA_OTO__REDIS__KEY_PREFIX", &prefix);
    let out = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap();
    assert!(out.0.status.success(), "{}", out.2);
    assert!(out.1.contains("written to Redis"), "{}", out.1);
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let cache = alpha_oto::cache::TokenCache::redis(&redis, &prefix, log)
        .await
        .unwrap();
    let (koge, source) = cache.mapping("KOGE", None).await.unwrap();
    assert_eq!(source, alpha_oto::cache::Source::Redis);
    assert_eq!(koge.alpha_id, "ALPHA_22");
    // ZKJ is on two chains: only a chain-qualified lookup is cached.
    assert!(cache.mapping("ZKJ", None).await.is_none());
    assert_eq!(
        cache.mapping("ZKJ", Some("Base")).await.unwrap().0.alpha_id,
        "ALPHA_901"
    );
    let (grid, _) = cache.precision("ALPHA_22USDT").await.unwrap();
    assert!(grid.step_size > rust_decimal::Decimal::ZERO);
    let mut conn = db.conn();
    assert_eq!(
        store::tokens::mappings_by_symbol(&mut conn, "ZKJ")
            .unwrap()
            .len(),
        2
    );
    assert!(
        store::tokens::precision(&mut conn, "ALPHA_22USDT")
            .unwrap()
            .is_some()
    );
}

/// `alpha-oto demo` runs to completion and its summary agrees with the simulator's ledger, on
/// a calm market, on a faulty one, and with orders matched in auctions.
#[test]
fn the_demo_reaches_every_target_and_matches_the_ledger() {
    for (faults, matching) in [
        (None, None),
        (Some("drop_ws:0.2,http_5xx:0.05,dup_events:0.2"), None),
        (None, Some("auction:250")),
    ] {
        let mut cmd = bin();
        cmd.args(["demo", "--accounts", "3", "--target", "60"]);
        if let Some(f) = faults {
            cmd.args(["--faults", f]);
        }
        if let Some(m) = matching {
            cmd.args(["--matching", m]);
        }
        let (out, printed, err) = run(&mut cmd);
        assert!(
            out.status.success(),
            "{faults:?} {matching:?}: {printed}\n{err}"
        );
        assert!(
            printed.contains("account") && printed.contains("cost bps"),
            "{printed}"
        );
        assert_eq!(printed.matches("done_for_today").count(), 3, "{printed}");
        assert!(
            printed.contains("the store matches the simulator's ledger for every account"),
            "{printed}"
        );
    }
}

/// The unit file passes `systemd-analyze verify` and scores 2.0 or lower in
/// `systemd-analyze security` (the hardening).
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string("deploy/alpha-oto.service").unwrap();
    assert!(
        unit.lines().any(|l| l == "LimitCORE=0"),
        "core dumps stay off"
    );
    let (out, printed, err) = run(Command::new("systemd-analyze").args([
        "security",
        "--offline=true",
        "deploy/alpha-oto.service",
    ]));
    assert!(out.status.success(), "{err}");
    let score: f64 = printed
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for alpha-oto.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in: {printed}"));
    println!("systemd-analyze security: {score}");
    assert!(score <= 2.0, "exposure {score}:\n{printed}");
    // verify needs the executable to exist: point a copy at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("alpha-oto.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/alpha-oto", env!("CARGO_BIN_EXE_alpha-oto")),
    )
    .unwrap();
    let (out, printed, err) = run(Command::new("systemd-analyze").arg("verify").arg(&copy));
    assert!(
        out.status.success() && !err.contains("alpha-oto.service:"),
        "{printed}{err}"
    );
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "KillMode=mixed",
        "LoadCredential=master-key:",
        "StateDirectory=alpha-oto",
        "LogsDirectory=alpha-oto",
        "User=alpha-oto",
    ] {
        assert!(unit.contains(key), "{key} missing");
    }
}

/// READY reaches systemd's socket once the daemon is up, watchdog pings follow while the
/// supervisor answers and stop when it is wedged, and STOPPING comes with SIGTERM.
#[test]
fn serve_talks_to_systemd_and_its_watchdog_stops_when_wedged() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // systemd names the watched process in WATCHDOG_PID: `exec` keeps the shell's pid.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"WATCHDOG_PID=$$ exec "$0" serve --api-listen 127.0.0.1:0 --data-dir "$1""#)
        .arg(env!("CARGO_BIN_EXE_alpha-oto"))
        .arg(dir.path())
        .env_remove("ALPHA_OTO_CONFIG")
        .env_remove("ALPHA_OTO_MASTER_KEY")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "300000")
        .env("ALPHA_OTO_TEST_WEDGE_AFTER_MS", "2500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Times are taken from READY: the wedge hook fires 2.5 s after it.
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let mut ready_at = None;
    while ready_at.is_none() && started.elapsed() < Duration::from_secs(60) {
        if let Ok(n) = sock.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("READY=1")
        {
            ready_at = Some(Instant::now());
        }
    }
    let ready_at = ready_at.expect("no READY=1 within 60 s");
    let mut pings: Vec<Duration> = Vec::new();
    while ready_at.elapsed() < Duration::from_secs(5) {
        if let Ok(n) = sock.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1")
        {
            pings.push(ready_at.elapsed());
        }
    }
    assert!(pings.len() >= 3, "too few pings: {pings:?}");
    // Wedged at 2.5 s: a ping in flight may land shortly after, then silence.
    assert!(
        pings.iter().all(|t| *t < Duration::from_millis(3_000)),
        "pings after the wedge: {pings:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // A healthy daemon says STOPPING on SIGTERM and exits 0.
    let data = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["serve", "--api-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(n) = sock.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("READY=1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no READY");
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut stopping = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stopping && Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            stopping = String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1");
        }
    }
    assert!(stopping, "no STOPPING");
    assert!(child.wait().unwrap().success());
}
