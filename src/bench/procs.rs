//! The benchmark's and the soak's child processes: `alpha-oto sim` and `alpha-oto serve` on
//! loopback, their configuration, and what the kernel says of their CPU time and memory.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A scratch directory removed on drop unless kept.
pub struct WorkDir {
    pub path: PathBuf,
    pub keep: bool,
}

impl WorkDir {
    pub fn new(what: &str, keep: bool) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("alpha-oto-{what}-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path, keep })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The running binary, started again as a child. The parent's `ALPHA_OTO_*` settings are not
/// passed on: the child's configuration is exactly what the caller writes.
fn command() -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("cannot find the alpha-oto binary")?;
    Ok(clean_env(Command::new(exe)))
}

/// The simulator and the floor's reactor stand for the remote exchange and for a client of
/// it: they run at the daemon's trading threads' priority (`nice` exec's the binary, so the
/// process keeps its pid), not above them, as nothing of the exchange competes for a real
/// host's cores.
fn lowered_command() -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("cannot find the alpha-oto binary")?;
    let mut cmd = Command::new("nice");
    cmd.args(["-n", &crate::hardening::TRADING_NICENESS.to_string()])
        .arg(exe);
    Ok(clean_env(cmd))
}

fn clean_env(mut cmd: Command) -> Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ALPHA_OTO") || key == "CREDENTIALS_DIRECTORY" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A child process, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to `limit` for the exit (SIGKILL after that). True on a clean exit.
    pub fn terminate(&mut self, limit: Duration) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let until = Instant::now() + limit;
        while sent && Instant::now() < until {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        self.kill();
        false
    }

    /// Whether it has exited already.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// CPU time and memory so far, from /proc.
    pub fn usage(&self) -> Usage {
        Usage::of(self.pid())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.exited() {
            self.kill();
        }
    }
}

/// What `alpha-oto sim` is started with.
#[derive(Debug, Clone)]
pub struct SimArgs {
    pub seed: u64,
    pub accounts: usize,
    pub hold_ms: u64,
    /// Milliseconds between steps of the price walk.
    pub trade_interval_ms: u64,
    pub matching: crate::sim::engine::Matching,
}

/// A simulator child and its address.
pub struct Sim {
    pub proc: Proc,
    pub base_url: String,
    /// The accounts it created: (simulator id, credentials JSON `{headers, cookies}`).
    pub accounts: Vec<(u64, serde_json::Value)>,
    pub accounts_file: PathBuf,
}

impl Sim {
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.replacen("http://", "ws://", 1))
    }
}

pub fn spawn_sim(dir: &Path, args: &SimArgs) -> anyhow::Result<Sim> {
    let accounts_file = dir.join(format!("sim-accounts-{}.json", args.seed));
    let log = std::fs::File::create(dir.join(format!("sim-{}.log", args.seed)))?;
    let mut child = lowered_command()?
        .args(["sim", "--listen", "127.0.0.1:0", "--fill-at-once"])
        .args(["--seed", &args.seed.to_string()])
        .args(["--accounts", &args.accounts.to_string()])
        .args(["--usdt", "1000000"])
        .args(["--hold-ms", &args.hold_ms.to_string()])
        .args(["--trade-interval-ms", &args.trade_interval_ms.to_string()])
        .args(["--matching", &args.matching.to_string()])
        .arg("--write-accounts")
        .arg(&accounts_file)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("cannot start the simulator")?;
    let stdout = child.stdout.take().context("no simulator stdout")?;
    let proc = Proc { child, name: "sim" };
    let mut lines = BufReader::new(stdout).lines();
    let base_url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("alpha-oto sim listening on ") {
                    break url.trim().to_owned();
                }
            }
            _ => bail!("the simulator exited before it listened (see its log in the work dir)"),
        }
    };
    // The rest of its output is a few lines; reading them keeps the pipe from filling.
    std::thread::spawn(move || lines.for_each(drop));
    let accounts = read_accounts(&accounts_file)?;
    Ok(Sim {
        proc,
        base_url,
        accounts,
        accounts_file,
    })
}

/// The accounts a simulator wrote (`--write-accounts`): (id, credentials JSON).
pub fn read_accounts(path: &Path) -> anyhow::Result<Vec<(u64, serde_json::Value)>> {
    let text = std::fs::read_to_string(path)?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&text)?;
    Ok(list
        .into_iter()
        .map(|v| {
            let id = v["id"].as_u64().unwrap_or_default();
            let creds = serde_json::json!({"headers": v["headers"], "cookies": v["cookies"]});
            (id, creds)
        })
        .collect())
}

/// What the floor's own process reports (`alpha-oto bench-floor`).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct FloorRun {
    pub failed: u64,
    /// The process's CPU seconds (user and system) over the run.
    pub cpu_s: f64,
}

/// Runs the minimal reactor in a process of its own, so that its CPU is measured the way the
/// daemon's is; answers what it reports.
pub fn run_floor_at(
    base_url: &str,
    ws_url: &str,
    accounts_file: &Path,
    seconds: u64,
) -> anyhow::Result<FloorRun> {
    let out = lowered_command()?
        .arg("bench-floor")
        .args(["--rest", base_url])
        .args(["--ws", ws_url])
        .arg("--accounts-file")
        .arg(accounts_file)
        .args(["--seconds", &seconds.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start the floor's process")?;
    if !out.status.success() {
        bail!(
            "the floor's process failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    serde_json::from_slice(&out.stdout).context("the floor's report is not JSON")
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The daemon's configuration for a run against a simulator.
pub struct DaemonSetup {
    pub config_file: PathBuf,
    pub key_file: PathBuf,
    pub log_file: PathBuf,
    pub api: String,
    pub token: String,
    pub database_url: String,
}

pub fn daemon_setup(
    dir: &Path,
    sim: &Sim,
    database_url: Option<&str>,
    log_level: &str,
    redis_url: Option<&str>,
    cross_account_guard: bool,
) -> anyhow::Result<DaemonSetup> {
    instance_setup(
        dir,
        sim,
        database_url,
        log_level,
        redis_url,
        cross_account_guard,
        ("bench", None, None),
    )
}

/// One of several daemons on one database: its own name, port, log and configuration in
/// `dir`, and the first one's master key (`shared_key`), so every instance opens the same
/// credentials.
pub fn instance_setup(
    dir: &Path,
    sim: &Sim,
    database_url: Option<&str>,
    log_level: &str,
    redis_url: Option<&str>,
    cross_account_guard: bool,
    (instance, shared_key, lease_ttl_s): (&str, Option<&Path>, Option<u32>),
) -> anyhow::Result<DaemonSetup> {
    let port = free_port()?;
    let token = crate::api::auth::new_token()?;
    let hash = crate::api::auth::hash(&token)?;
    let key_file = dir.join("master-key");
    if let Some(shared) = shared_key {
        std::fs::copy(shared, &key_file)?;
    } else {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_file)?
            .write_all(crate::vault::generate_key_line(chrono::Utc::now()).as_bytes())?;
    }
    let database_url = match database_url {
        Some(u) => u.to_owned(),
        None => format!("sqlite://{}", dir.join("alpha-oto.db").display()),
    };
    let log_file = dir.join("daemon.log");
    let mut config = toml::Table::new();
    let section = |pairs: &[(&str, toml::Value)]| -> toml::Value {
        toml::Value::Table(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    };
    let s = |v: &str| toml::Value::String(v.to_owned());
    config.insert(
        "daemon".into(),
        section(&[
            ("data_dir", s(&dir.display().to_string())),
            ("instance_id", s(instance)),
            (
                "lease_ttl_s",
                toml::Value::Integer(i64::from(lease_ttl_s.unwrap_or(30))),
            ),
            // The simulator has no IP limit: the instance budget must not be what is measured.
            ("egress_per_s", toml::Value::Integer(100_000)),
            // Live pairs are cancelled at the stop, so the ledger check can ask for nothing open.
            ("on_stop", s("cancel")),
            (
                "cross_account_guard",
                toml::Value::Boolean(cross_account_guard),
            ),
        ]),
    );
    config.insert(
        "database".into(),
        section(&[
            ("url", s(&database_url)),
            ("pool_size", toml::Value::Integer(8)),
        ]),
    );
    if let Some(r) = redis_url {
        config.insert("redis".into(), section(&[("url", s(r))]));
    }
    config.insert(
        "api".into(),
        section(&[
            ("listen", s(&format!("127.0.0.1:{port}"))),
            ("token_hashes", toml::Value::Array(vec![s(&hash)])),
        ]),
    );
    config.insert(
        "exchange".into(),
        section(&[
            ("rest_url", s(&sim.base_url)),
            ("public_ws_url", s(&sim.ws_url("/w3w/wsa/stream"))),
            ("private_ws_url", s(&sim.ws_url("/w3w/stream"))),
        ]),
    );
    config.insert(
        "log".into(),
        section(&[
            ("level", s(log_level)),
            ("format", s("json")),
            ("file", s(&log_file.display().to_string())),
        ]),
    );
    config.insert(
        "vault".into(),
        section(&[("key_file", s(&key_file.display().to_string()))]),
    );
    // For whoever explores a kept work directory with `alpha-oto account list` and curl.
    std::fs::write(dir.join("api-token"), &token)?;
    let config_file = dir.join("alpha-oto.toml");
    std::fs::write(&config_file, toml::to_string(&config)?)?;
    Ok(DaemonSetup {
        config_file,
        key_file,
        log_file,
        api: format!("127.0.0.1:{port}"),
        token,
        database_url,
    })
}

pub fn spawn_daemon(dir: &Path, setup: &DaemonSetup) -> anyhow::Result<Proc> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.out"))?;
    let child = command()?
        .arg("serve")
        .arg("--config")
        .arg(&setup.config_file)
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("cannot start the daemon")?;
    Ok(Proc {
        child,
        name: "daemon",
    })
}

/// CPU seconds (user + system) and peak resident memory of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub cpu_s: f64,
    pub peak_rss_kb: u64,
}

impl Usage {
    pub fn of(pid: u32) -> Self {
        let ticks = ticks_per_second();
        let cpu_s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                // Fields after the command name, which may hold spaces, ends with ')'.
                let rest = stat.rsplit_once(')')?.1;
                let f: Vec<&str> = rest.split_whitespace().collect();
                let utime: u64 = f.get(11)?.parse().ok()?;
                let stime: u64 = f.get(12)?.parse().ok()?;
                Some((utime + stime) as f64 / ticks)
            })
            .unwrap_or_default();
        let peak_rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or_default();
        Self { cpu_s, peak_rss_kb }
    }
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}
