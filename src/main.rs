//! The `alpha-oto` command: parses the command line, builds the configuration and calls into
//! the library. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use alpha_oto::config::{Config, Overrides};
use alpha_oto::control::exit;
use alpha_oto::{daemon, maintenance, telemetry, vault};

/// Trades Binance Alpha tokens with OTO orders for many accounts until each reaches its daily
/// volume target.
///
/// Start with `alpha-oto serve`: with no configuration at all it keeps its state in a SQLite
/// file under ./data and listens for control requests on 127.0.0.1 only.
#[derive(Parser, Debug)]
#[command(name = "alpha-oto", version, propagate_version = true)]
struct Cli {
    /// Configuration file (TOML); default /etc/alpha-oto/config.toml when it exists, as the
    /// service reads it. Environment variables ALPHA_OTO__SECTION__KEY override it, and the
    /// flags below override both. See deploy/config.example.toml.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "ALPHA_OTO_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    /// Directory for the SQLite database and other state [config: daemon.data_dir].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database: sqlite://PATH, a plain path, or postgres://USER@HOST/DB [config: database.url].
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Address of the control API, HOST:PORT [config: api.listen].
    #[arg(long, global = true, value_name = "ADDR")]
    api_listen: Option<String>,
    /// trace, debug, info, warn, error or critical [config: log.level].
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Write JSON logs to this file (reopened on SIGHUP) instead of stdout [config: log.file].
    #[arg(long, global = true, value_name = "FILE")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon: migrate the database, then trade until SIGTERM or Ctrl-C.
    Serve,
    /// First run: write a configuration, a master key and an API token into a folder (never
    /// overwriting), then print the next steps.
    Init {
        /// The folder for config.toml, master-key, api-token and the data.
        #[arg(long, default_value = "alpha-oto", value_name = "DIR")]
        dir: PathBuf,
        /// The control API's address in the configuration.
        #[arg(long, default_value = "127.0.0.1:8642", value_name = "HOST:PORT")]
        listen: String,
        /// Trade on `alpha-oto sim` at this address instead of the real exchange.
        #[arg(long, value_name = "HOST:PORT")]
        sim: Option<String>,
    },
    /// Apply pending database migrations to the configured database and exit. A SQLite file
    /// that does not exist is refused unless --create (the service's database is found
    /// through its configuration, /etc/alpha-oto/config.toml by default).
    Migrate {
        /// Only list the migrations that are not applied yet.
        #[arg(long)]
        status: bool,
        /// Make a new SQLite database when none exists at the configured place.
        #[arg(long)]
        create: bool,
    },
    /// Print a new master key line (`<key-id>:<hex>`) for the credential key ring.
    ///
    /// Put it in a file readable only by the daemon and pass it with systemd's
    /// LoadCredential=master-key:FILE, or [vault] key_file. To rotate, add the new line at the
    /// top of the ring file and run `alpha-oto keys rotate`.
    Keygen,
    /// Print an account's webhook secret, for its receiver to check the
    /// X-Alpha-Oto-Signature header (t=<ms>,v1=<hex HMAC-SHA256 of "<t>.<body>">). Derived
    /// from the primary master key: it changes when the key is rotated.
    WebhookSecret {
        /// The account's name.
        name: String,
    },
    /// Manage the credential key ring.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Token mappings (symbol to alphaId) and precisions (tick, step, minimums).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Run the local exchange simulator (a Binance Alpha look-alike for tests, demos and paper
    /// trading). It answers the exchange's REST paths at http://ADDR/bapi/..., its streams at
    /// ws://ADDR/w3w/wsa/stream and ws://ADDR/w3w/stream, and an admin surface under /sim/.
    Sim(SimArgs),
    /// Manage accounts through the control API of a running daemon.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Manage profiles (named settings that accounts trade) through the control API.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell the completions are for.
        shell: clap_complete::Shell,
    },
    /// The global kill switch: every account stops, everything open is cancelled. Exits 2
    /// unless the exchange confirmed for every account that nothing is open.
    Halt {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Every listed token scored as `token = "auto"` would: the estimated cost of a counted
    /// USDT (fees and a slippage proxy over the points multiplier), cheapest first, the
    /// ineligible ones last with the reason.
    Tokens {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Try it: the simulator and the daemon in one process on a temporary SQLite database.
    /// A few accounts trade to small targets with a progress bar each, then a summary table
    /// and a check of the store against the simulator's ledger. Needs nothing installed.
    Demo(DemoArgs),
    /// Measure the daemon at scale: the simulator and the daemon as separate processes on
    /// loopback, N funded accounts trading for S seconds with every order filled at once (each
    /// pending leg after a hold), then the store checked against the simulator's ledger. Prints
    /// a table (and --json FILE); exits 1 on any error or violation.
    Bench(BenchArgs),
    /// The bench's minimal reactor in a process of its own (the bench starts it): prints
    /// `{"failed": N, "cpu_s": S}`.
    #[command(hide = true)]
    BenchFloor(BenchFloorArgs),
    /// Prove that faults lose nothing: for each seed, a simulator and a daemon as separate
    /// processes, a random schedule of faults (every simulator fault, daemon SIGKILLs, PostgreSQL
    /// and Redis loss), then the checks: no violation, every order and fill in the daemon's
    /// database, the same volume on both sides, every account trading, done, or paused for a
    /// true reason. One line per seed, then `N passed, N failed`; exits 1 if any seed failed.
    Soak(SoakArgs),
    /// Print the value to put in [api] token_hashes for a bearer token, read from FILE or
    /// stdin (never from the command line, where other users and the shell history see it).
    HashToken {
        /// A file holding the token clients will send as `Authorization: Bearer <TOKEN>`;
        /// `-` or nothing reads stdin.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct SimArgs {
    /// Address to listen on (port 0 picks a free port; the first line printed names it).
    #[arg(long, default_value = "127.0.0.1:8643", value_name = "HOST:PORT")]
    listen: std::net::SocketAddr,
    /// Seed of the market, the ids and the faults: the same seed replays the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Funded accounts to create at start.
    #[arg(long, default_value_t = 0)]
    accounts: usize,
    /// USDT given to each account created at start.
    #[arg(long, default_value = "1000", value_name = "DECIMAL")]
    usdt: rust_decimal::Decimal,
    /// Write the created accounts' credentials to FILE (a JSON array of {id, headers, cookies}).
    #[arg(long, value_name = "FILE")]
    write_accounts: Option<PathBuf>,
    /// Write each created account's credentials to DIR/account-<id>.json, the form
    /// `alpha-oto account credentials NAME --file` reads.
    #[arg(long, value_name = "DIR")]
    write_credentials: Option<PathBuf>,
    /// Faults from the start: kind[:rate[:seconds]], comma-separated (e.g. http_429:0.1,drop_ws:0.01).
    #[arg(long, value_name = "SPEC")]
    faults: Option<String>,
    /// Milliseconds between two steps of each token's price walk (each step prints a trade).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    trade_interval_ms: u64,
    /// Seconds a listen key lives without keep-alive.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    listen_key_ttl_s: u64,
    /// Paper mode: follow the trade prices of this public stream (for example
    /// wss://nbstream.binance.com/w3w/wsa/stream) instead of the random walk; fills stay simulated.
    #[arg(long, value_name = "WS_URL")]
    price_source: Option<String>,
    /// Whether today's volume counts each buy times its token's mulPoint (`true`, as the
    /// daemon reads it by default) or plain (`false`): the exchange's reading is not settled,
    /// and `[exchange] user_volume_includes_mul_point` must agree with it.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    volume_mul_point: bool,
    /// Fill every order at its own price as soon as it is live, instead of when the market
    /// reaches it (benchmarks).
    #[arg(long)]
    fill_at_once: bool,
    /// With --fill-at-once: hold each OTO pending leg about this long before it fills
    /// (drawn from [MS/2, 3 MS/2]), as a market would.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "MS",
        requires = "fill_at_once"
    )]
    hold_ms: u64,
    /// How orders meet: `continuous` (as they arrive and as the market moves) or
    /// `auction:MS` (every MS milliseconds each token's orders match at one uniform price,
    /// each user's crossing orders netted first, as Alpha 2.0 limit orders do).
    #[arg(long, default_value = "continuous", value_name = "MODE")]
    matching: alpha_oto::sim::engine::Matching,
}

#[derive(clap::Args, Debug)]
struct ClientArgs {
    /// A file holding the control API's bearer token [config: api.token_file]. The
    /// environment variable ALPHA_OTO_API_TOKEN may carry the token itself; the command line
    /// never does.
    #[arg(
        long,
        global = true,
        env = "ALPHA_OTO_API_TOKEN_FILE",
        value_name = "FILE"
    )]
    api_token_file: Option<PathBuf>,
    /// Print the API's JSON instead of a table; errors too, as {"error": {...}} on stdout.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Every account with its state and progress.
    List,
    /// One account: state, progress and settings.
    Show {
        /// The account's name.
        name: String,
    },
    /// Create an account (stopped until `start`): whole settings, or --on-profile and the
    /// settings the account sets itself.
    Add {
        /// The account's name (letters, digits, - and _).
        name: String,
        /// The profile whose settings it trades.
        #[arg(long = "on-profile", value_name = "PROFILE")]
        on_profile: Option<String>,
        /// Tags, comma-separated.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Change settings, KEY=VALUE (repeatable); a running account takes them between pairs.
    Config {
        /// The account's name.
        name: String,
        /// A setting to change, KEY=VALUE (repeatable), e.g. order_timeout_s=120.
        #[arg(long = "set", value_name = "KEY=VALUE", required = true)]
        set: Vec<String>,
    },
    /// Store credentials from FILE (`-` for stdin): JSON {"headers":{..},"cookies":".."} or a
    /// browser's "Copy as cURL" text.
    Credentials {
        /// The account's name.
        name: String,
        /// The file (`-` for stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Start trading: pairs until today's target, every day, until stopped. Clears a kill.
    Start {
        /// The account's name (or choose accounts with the options).
        #[arg(required_unless_present_any = SELECTORS, conflicts_with_all = SELECTORS)]
        name: Option<String>,
        #[command(flatten)]
        select: Selection,
    },
    /// Place no new pair; the live pair, if any, runs to its end.
    Pause {
        /// The account's name (or choose accounts with the options).
        #[arg(required_unless_present_any = SELECTORS, conflicts_with_all = SELECTORS)]
        name: Option<String>,
        #[command(flatten)]
        select: Selection,
    },
    /// Trade again after a pause (a killed account needs `start`).
    Resume {
        /// The account's name (or choose accounts with the options).
        #[arg(required_unless_present_any = SELECTORS, conflicts_with_all = SELECTORS)]
        name: Option<String>,
        #[command(flatten)]
        select: Selection,
    },
    /// Stop trading; the live pair is left on the exchange or cancelled ([daemon] on_stop).
    Stop {
        /// The account's name (or choose accounts with the options).
        #[arg(required_unless_present_any = SELECTORS, conflicts_with_all = SELECTORS)]
        name: Option<String>,
        #[command(flatten)]
        select: Selection,
    },
    /// Block new orders, cancel everything, and report what the exchange says is left open.
    /// Exits 2 unless the exchange confirmed that nothing is open.
    Kill {
        /// The account's name (or choose accounts with the options).
        #[arg(required_unless_present_any = SELECTORS, conflicts_with_all = SELECTORS)]
        name: Option<String>,
        #[command(flatten)]
        select: Selection,
    },
    /// Put accounts on a profile (`none`: take them off theirs, keeping what they trade).
    SetProfile {
        /// The profile's name, or `none`.
        #[arg(value_name = "PROFILE")]
        to: String,
        /// Accounts by name (or choose them with the options).
        #[arg(required_unless_present_any = SELECTORS, conflicts_with_all = SELECTORS)]
        names: Vec<String>,
        #[command(flatten)]
        select: Selection,
        /// Keep the settings each account sets itself (default: take the profile whole).
        #[arg(long)]
        keep_overrides: bool,
    },
    /// Import accounts from a CSV or JSON lines file (name, profile, tags, credentials and
    /// settings by name; a credentials cell is JSON, or the path of a cURL text file). Every
    /// row is checked first: with a bad row nothing is imported, unless --skip-bad. An
    /// existing name is updated (its credentials only when the row gives them).
    Import {
        /// The file (`-` for stdin).
        file: PathBuf,
        /// Import the good rows when some are bad (each bad one is reported).
        #[arg(long)]
        skip_bad: bool,
    },
    /// Write every account as a file that `import` reads (never credentials).
    Export {
        /// csv or jsonl.
        #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
        format: String,
        /// Write to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add, remove or replace tags of accounts.
    Tag {
        /// Accounts by name (or choose them with the options).
        #[arg(required_unless_present_any = SELECTORS, conflicts_with_all = SELECTORS)]
        names: Vec<String>,
        #[command(flatten)]
        select: Selection,
        /// Tags to add, comma-separated.
        #[arg(long, value_delimiter = ',', required_unless_present_any = ["remove", "replace"], conflicts_with_all = ["remove", "replace"])]
        add: Vec<String>,
        /// Tags to remove, comma-separated.
        #[arg(long, value_delimiter = ',', conflicts_with = "replace")]
        remove: Vec<String>,
        /// Tags that replace the accounts' tags, comma-separated.
        #[arg(long, value_delimiter = ',')]
        replace: Vec<String>,
    },
    /// Delete a stopped account: its credentials go and its name is free again; its cycles,
    /// orders, fills and events stay in the database for the books, unless --purge.
    Delete {
        /// The account's name.
        name: String,
        /// Remove its history too: cycles, orders, fills and events.
        #[arg(long)]
        purge: bool,
    },
}

/// An account's or a profile's settings on the command line.
#[derive(clap::Args, Debug)]
struct SettingsArgs {
    /// Token short symbol (KOGE), or `auto`.
    #[arg(long)]
    token: Option<String>,
    /// Chain id or name, when the symbol is on several chains.
    #[arg(long)]
    chain: Option<String>,
    /// USDT per buy.
    #[arg(long)]
    order_usdt: Option<String>,
    /// Daily target, USDT of buys (or give --points).
    #[arg(long, conflicts_with = "points")]
    target: Option<String>,
    /// Daily target in Alpha Points: a counted buy volume of 2^P, each buy counting its
    /// USDT times the token's mulPoint (or give --target).
    #[arg(long)]
    points: Option<u32>,
    /// Buy offset from the last price: `0.1%` (percent) or `0.0001` (amount), signed.
    #[arg(long, allow_hyphen_values = true)]
    buy_offset: Option<String>,
    /// Sell offset from the buy price, same forms.
    #[arg(long, allow_hyphen_values = true)]
    sell_offset: Option<String>,
    /// Any other setting, KEY=VALUE (repeatable), e.g. order_timeout_s=120.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// The options that choose accounts (as `GET /api/v1/accounts` filters them).
const SELECTORS: [&str; 5] = ["tag", "profile", "token", "state", "all"];

/// Which accounts a command is for, beside names.
#[derive(clap::Args, Debug)]
struct Selection {
    /// Every account carrying this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Every account on this profile.
    #[arg(long)]
    profile: Option<String>,
    /// Every account trading this token.
    #[arg(long)]
    token: Option<String>,
    /// Every account in this state (trading, paused, stopped, ...).
    #[arg(long)]
    state: Option<String>,
    /// Every account.
    #[arg(long)]
    all: bool,
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// Every profile with how many accounts are on it.
    List,
    /// One profile's settings.
    Show {
        /// The profile's name.
        name: String,
    },
    /// Create a profile from whole settings.
    Add {
        /// The profile's name (letters, digits, - and _).
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Change settings of a profile: every account on it changes (running ones between pairs).
    Set {
        /// The profile's name.
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Delete a profile no account is on.
    Delete {
        /// The profile's name.
        name: String,
    },
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Accounts to trade (on KOGE, NEX and LIGHT in turn).
    #[arg(long, default_value_t = 3)]
    accounts: usize,
    /// Daily target of each account, USDT (pairs of 10 USDT).
    #[arg(long, default_value = "50")]
    target: rust_decimal::Decimal,
    /// Simulator faults, kind[:rate[:seconds]], comma-separated (e.g. drop_ws:0.05), to watch
    /// accounts pause and recover.
    #[arg(long)]
    faults: Option<String>,
    /// Leave the daemon, its API and the simulator running at the end (Ctrl-C stops).
    #[arg(long)]
    keep: bool,
    /// Seed of the simulated market.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// How orders meet: `continuous` (as they arrive and as the market moves) or
    /// `auction:MS` (every MS milliseconds each token's orders match at one uniform price,
    /// each user's crossing orders netted first, as Alpha 2.0 limit orders do).
    #[arg(long, default_value = "continuous", value_name = "MODE")]
    matching: alpha_oto::sim::engine::Matching,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Accounts to create and trade.
    #[arg(long, default_value_t = 100)]
    accounts: usize,
    /// Seconds of trading, from the moment every account is started.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// SIGKILL the daemon this many seconds into the run, start it again, and report how long
    /// until every account trades again (recovery_s).
    #[arg(long, value_name = "SECONDS")]
    restart_at: Option<u64>,
    /// How long the simulator holds each OTO pending leg before it fills (about; drawn from
    /// [MS/2, 3 MS/2]): each account's pace. 0 fills at once and measures saturation instead.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    hold_ms: u64,
    /// Seconds of the floor measurement (the minimal reactor); 0 skips it. Default: the run's
    /// seconds, at most 30.
    #[arg(long, value_name = "SECONDS")]
    floor_seconds: Option<u64>,
    /// Seed of the simulated market.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The daemon's guard against trades between its own accounts; `false` only to measure
    /// what the guard costs.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    cross_account_guard: bool,
    /// How the simulator matches: `continuous` or `auction:MS` (see `alpha-oto sim --help`).
    #[arg(long, default_value = "continuous", value_name = "MODE")]
    matching: alpha_oto::sim::engine::Matching,
    /// Run this many daemons on one PostgreSQL database (--database-url): they share the
    /// accounts out; the report gives the shares over time.
    #[arg(long, default_value_t = 1, value_name = "N")]
    instances: usize,
    /// With --instances: SIGKILL one instance this many seconds into the run.
    #[arg(long, value_name = "SECONDS")]
    kill_at: Option<u64>,
    /// With --instances and --kill-at: start the killed instance again and one more.
    #[arg(long, value_name = "SECONDS")]
    join_at: Option<u64>,
    /// The daemons' lease TTL (5-600 s; default 30): how long a dead instance's accounts wait.
    #[arg(long, value_name = "SECONDS")]
    lease_ttl_s: Option<u32>,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Keep the work directory (database, logs, configuration) and print where it is.
    #[arg(long)]
    keep: bool,
}

#[derive(clap::Args, Debug)]
struct BenchFloorArgs {
    #[arg(long)]
    rest: String,
    #[arg(long)]
    ws: String,
    #[arg(long, value_name = "FILE")]
    accounts_file: PathBuf,
    #[arg(long)]
    seconds: u64,
}

#[derive(clap::Args, Debug)]
struct SoakArgs {
    /// Seeds to run, A..B with both included; a failing seed replays with --seeds N..N.
    #[arg(long, default_value = "1..5", value_parser = alpha_oto::soak::parse_seeds)]
    seeds: std::ops::RangeInclusive<u64>,
    /// Accounts per seed.
    #[arg(long, default_value_t = 5)]
    accounts: usize,
    /// Seconds of faults per seed.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds the accounts get, once the faults end, to trade again.
    #[arg(long, default_value_t = 45)]
    settle_seconds: u64,
    /// Redis for the daemon's cache (through a proxy, so that it can be lost); without it
    /// there is no Redis loss in the schedules.
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// Seeds run at the same time.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Keep every seed's work directory (and database), not only a failed seed's.
    #[arg(long)]
    keep: bool,
    /// How orders meet: `continuous` (as they arrive and as the market moves) or
    /// `auction:MS` (every MS milliseconds each token's orders match at one uniform price,
    /// each user's crossing orders netted first, as Alpha 2.0 limit orders do).
    #[arg(long, default_value = "continuous", value_name = "MODE")]
    matching: alpha_oto::sim::engine::Matching,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Re-encrypt every stored credential under the primary (first) key of the ring.
    Rotate,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Fetch every mapping and precision from the exchange into the cache (Redis when
    /// configured) and the database, so accounts start without a lookup.
    Refresh,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Load and validate the configuration, then print it as resolved (passwords hidden).
    Check,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are answers, not failures; a wrong command line is EX_USAGE.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let json = matches!(&cli.command, Command::Account { client, .. } | Command::Profile { client, .. } | Command::Halt { client } | Command::Tokens { client } if client.json);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if json {
                let v =
                    serde_json::json!({"error": {"code": "failed", "detail": format!("{e:#}")}});
                println!("{v}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The exit code of a failure, by its kind (`control::exit`).
fn exit_code(e: &anyhow::Error) -> u8 {
    use alpha_oto::access::FileProblem;
    use alpha_oto::admin::AdminError;
    use alpha_oto::config::ConfigError;
    let config = |c: &ConfigError| match c {
        ConfigError::File(FileProblem::Missing(_)) => exit::NOT_FOUND,
        _ => exit::CONFIG,
    };
    if let Some(c) = e.downcast_ref::<ConfigError>() {
        return config(c);
    }
    match e.downcast_ref::<AdminError>() {
        Some(AdminError::NoDatabase { .. }) => exit::NOT_FOUND,
        Some(AdminError::OtherOwner { .. } | AdminError::Empty { .. } | AdminError::Exists(_)) => {
            exit::REFUSED
        }
        Some(AdminError::Config(c)) => config(c),
        _ => match e.downcast_ref::<FileProblem>() {
            Some(FileProblem::Missing(_)) => exit::NOT_FOUND,
            Some(_) => exit::REFUSED,
            None => exit::FAILURE,
        },
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        api_listen: cli.api_listen.clone(),
        log_level: cli.log_level.clone(),
        log_file: cli.log_file.clone(),
    };
    let file = alpha_oto::admin::config_path(cli.config.as_deref(), std::path::Path::exists);
    Ok(Config::load(file.as_deref(), &overrides)?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Keygen => {
            println!("{}", vault::generate_key_line(chrono::Utc::now()));
            Ok(ExitCode::SUCCESS)
        }
        Command::WebhookSecret { name } => {
            let config = load_config(&cli)?;
            println!("{}", maintenance::webhook_secret(&config, name)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(args) => run_sim(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            // Into a buffer first: the generator panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "alpha-oto", &mut script);
            use std::io::Write;
            match std::io::stdout().write_all(&script) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                Err(e) => Err(e.into()),
            }
        }
        Command::Account { command, client } => {
            let config = load_config(&cli)?;
            run_client(&config, client, Cmd::Account(command))
        }
        Command::Profile { command, client } => {
            let config = load_config(&cli)?;
            run_client(&config, client, Cmd::Profile(command))
        }
        Command::Halt { client } => {
            let config = load_config(&cli)?;
            run_client(&config, client, Cmd::Halt)
        }
        Command::Tokens { client } => {
            let config = load_config(&cli)?;
            let api =
                alpha_oto::control::Client::new(&config.api.listen, client_token(&config, client)?);
            let value = match ask(&api, client, "GET", "/api/v1/tokens", None) {
                Ok(v) => v,
                Err(code) => return Ok(code),
            };
            if client.json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", alpha_oto::control::tokens_table(&value));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            let faults = match &args.faults {
                Some(spec) => alpha_oto::sim::faults::FaultSpec::parse_list(spec)
                    .map_err(|e| anyhow::anyhow!("--faults: {e}"))?,
                None => Vec::new(),
            };
            if args.target <= rust_decimal::Decimal::ZERO {
                anyhow::bail!("--target must be positive");
            }
            let opts = alpha_oto::demo::DemoOptions {
                accounts: args.accounts.clamp(1, 50),
                target: args.target,
                faults,
                keep: args.keep,
                seed: args.seed,
                limit: std::time::Duration::from_secs(120),
                matching: args.matching,
            };
            let ok = actix_web::rt::System::new().block_on(alpha_oto::demo::run(opts))?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bench(args) => {
            raise_open_files();
            let opts = alpha_oto::bench::BenchOptions {
                accounts: args.accounts,
                seconds: args.seconds,
                database_url: cli.database_url.clone(),
                restart_at: args.restart_at,
                hold_ms: args.hold_ms,
                seed: args.seed,
                log_level: cli.log_level.clone().unwrap_or_else(|| "info".into()),
                floor_seconds: args.floor_seconds.unwrap_or(args.seconds.min(30)),
                keep: args.keep,
                cross_account_guard: args.cross_account_guard,
                matching: args.matching,
                instances: args.instances.max(1),
                kill_at: args.kill_at,
                join_at: args.join_at,
                lease_ttl_s: args.lease_ttl_s,
            };
            if opts.instances > 1 {
                let (report, findings) = actix_web::rt::System::new()
                    .block_on(alpha_oto::bench::instances::run(&opts))?;
                print!("{}", alpha_oto::bench::instances::table(&report, &findings));
                if let Some(path) = &args.json {
                    std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
                }
                return Ok(
                    if report.errors == 0 && report.violations == 0 && findings.lines.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    },
                );
            }
            let (report, findings) =
                actix_web::rt::System::new().block_on(alpha_oto::bench::run(&opts))?;
            print!("{}", alpha_oto::bench::table(&report, &findings));
            if let Some(path) = &args.json {
                alpha_oto::bench::write_json(path, &report)?;
            }
            Ok(if report.errors == 0 && report.violations == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::BenchFloor(args) => {
            raise_open_files();
            let accounts = alpha_oto::bench::procs::read_accounts(&args.accounts_file)?;
            let failed = actix_web::rt::System::new().block_on(alpha_oto::bench::floor::run(
                &args.rest,
                &args.ws,
                &accounts,
                std::time::Duration::from_secs(args.seconds),
            ))?;
            let cpu_s = alpha_oto::bench::procs::Usage::of(std::process::id()).cpu_s;
            println!("{}", serde_json::json!({"failed": failed, "cpu_s": cpu_s}));
            Ok(ExitCode::SUCCESS)
        }
        Command::Soak(args) => {
            raise_open_files();
            if args.accounts == 0 || args.seconds < 6 {
                anyhow::bail!("--accounts must be at least 1 and --seconds at least 6");
            }
            let opts = alpha_oto::soak::SoakOptions {
                seeds: args.seeds.clone(),
                accounts: args.accounts,
                seconds: args.seconds,
                settle_seconds: args.settle_seconds,
                database_url: cli.database_url.clone(),
                redis_url: args.redis_url.clone(),
                jobs: args.jobs,
                log_level: cli.log_level.clone().unwrap_or_else(|| "info".into()),
                keep: args.keep,
                matching: args.matching,
            };
            let (passed, failed) = alpha_oto::soak::run(&opts, |r| println!("{}", r.line()));
            println!("{passed} passed, {failed} failed");
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::HashToken { file } => {
            let text = match file {
                Some(f) if f.as_os_str() != "-" => alpha_oto::access::read_to_string(f)?,
                _ => std::io::read_to_string(std::io::stdin())?,
            };
            let token = text.trim_end_matches(['\n', '\r']);
            if token.contains(['\n', '\r']) {
                anyhow::bail!("the token is one line");
            }
            println!("{}", alpha_oto::api::auth::hash(token)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Init { dir, listen, sim } => {
            let opts = alpha_oto::admin::InitOptions {
                dir: dir.clone(),
                listen: listen.clone(),
                sim: sim.clone(),
            };
            let report = alpha_oto::admin::init(&opts, chrono::Utc::now())?;
            print!(
                "{}",
                alpha_oto::admin::init_next_steps(&report, sim.is_some())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let config = load_config(&cli)?;
            print!("{}", config.to_redacted_toml()?);
            eprintln!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            raise_open_files();
            let config = load_config(&cli)?;
            let file =
                alpha_oto::admin::config_path(cli.config.as_deref(), std::path::Path::exists);
            if let Some(hint) = alpha_oto::admin::serve_hints(&config, file.as_deref()) {
                eprint!("{hint}");
            }
            let telemetry =
                telemetry::init(&config.log_settings()).context("cannot start logging")?;
            telemetry::install_log_bridge(&telemetry.logger, config.log.level);
            telemetry::install_panic_hook(&telemetry.logger);
            telemetry
                .reopen_on_sighup()
                .context("cannot watch SIGHUP")?;
            let log = telemetry.logger.clone();
            // The exchange client is single-threaded (awc): the daemon runs on actix's runtime;
            // database work goes to its blocking pool.
            let result = actix_web::rt::System::new().block_on(daemon::serve(config, log.clone()));
            if let Err(e) = &result {
                slog::crit!(log, "daemon failed"; telemetry::fields::ERROR_MESSAGE => format!("{e:#}"));
            }
            drop(log);
            telemetry.shutdown();
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Migrate { status, create } => {
            let config = load_config(&cli)?;
            let names = maintenance::migrate(&config, *status, *create)?;
            let verb = if *status { "pending" } else { "applied" };
            if names.is_empty() {
                println!("no migration {verb}");
            }
            for name in names {
                println!("{verb}: {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command: TokenCommand::Refresh,
        } => {
            let config = load_config(&cli)?;
            println!("{}", maintenance::token_refresh(config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let config = load_config(&cli)?;
            let (origin, report) = maintenance::keys_rotate(&config)?;
            eprintln!("{origin}");
            println!(
                "rotated {} account(s), skipped {} changed meanwhile",
                report.rotated.len(),
                report.skipped.len()
            );
            for (id, why) in &report.failed {
                println!("failed: account {id}: {why}");
            }
            Ok(if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// The control API's token: ALPHA_OTO_API_TOKEN, else the file of --api-token-file
/// (ALPHA_OTO_API_TOKEN_FILE), else [api] token_file.
fn client_token(config: &Config, args: &ClientArgs) -> anyhow::Result<Option<String>> {
    if let Ok(t) = std::env::var("ALPHA_OTO_API_TOKEN") {
        return Ok(Some(t));
    }
    let Some(file) = args
        .api_token_file
        .as_ref()
        .or(config.api.token_file.as_ref())
    else {
        return Ok(None);
    };
    let text = alpha_oto::access::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("the API token file: {e}"))?;
    Ok(Some(text.trim().to_owned()))
}

/// Thousands of accounts hold a stream socket each: the soft limit on open files goes up to
/// the hard one (systemd's LimitNOFILE sets that for the service).
fn raise_open_files() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: cannot raise the open-file limit: {e}");
    }
}

fn run_sim(args: &SimArgs) -> anyhow::Result<ExitCode> {
    raise_open_files();
    use alpha_oto::sim::faults::FaultSpec;
    use alpha_oto::sim::server::{SimOptions, start};
    let faults = match &args.faults {
        Some(spec) => FaultSpec::parse_list(spec).map_err(|e| anyhow::anyhow!("--faults: {e}"))?,
        None => Vec::new(),
    };
    let opts = SimOptions {
        listen: args.listen,
        seed: args.seed,
        accounts: args.accounts,
        usdt: args.usdt,
        write_accounts: args.write_accounts.clone(),
        write_credentials: args.write_credentials.clone(),
        faults,
        trade_interval: std::time::Duration::from_millis(args.trade_interval_ms.max(1)),
        listen_key_ttl: std::time::Duration::from_secs(args.listen_key_ttl_s.max(1)),
        paper: args.price_source.is_some(),
        volume_uses_mul_point: args.volume_mul_point,
        fill: if args.fill_at_once {
            alpha_oto::sim::engine::FillMode::AtOnce {
                hold_ms: args.hold_ms,
            }
        } else {
            alpha_oto::sim::engine::FillMode::Market
        },
        matching: args.matching,
    };
    actix_web::rt::System::new().block_on(async move {
        let sim = start(opts).await.context("cannot start the simulator")?;
        if let Some(url) = &args.price_source {
            alpha_oto::paper::follow_prices(&sim, url);
        }
        println!("alpha-oto sim listening on {}", sim.base_url());
        println!(
            "streams: {} and {}",
            sim.ws_url("/w3w/wsa/stream"),
            sim.ws_url("/w3w/stream")
        );
        if let Some(dir) = &args.write_credentials {
            println!(
                "{} account credential file(s) written to {}",
                sim.accounts.len(),
                dir.display()
            );
        }
        if let Some(path) = &args.write_accounts {
            println!(
                "{} account(s) written to {}",
                sim.accounts.len(),
                path.display()
            );
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            r = tokio::signal::ctrl_c() => r?,
        }
        sim.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// One request to the control API; a failure is printed (as JSON with `--json`) and answered
/// with its exit code.
fn ask(
    client: &alpha_oto::control::Client,
    args: &ClientArgs,
    method: &str,
    path: &str,
    body: Option<alpha_oto::control::Body>,
) -> Result<serde_json::Value, ExitCode> {
    actix_web::rt::System::new()
        .block_on(client.call(method, path, body))
        .map_err(|e| {
            if args.json {
                println!("{}", e.to_json());
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::from(e.exit_code())
        })
}

impl SettingsArgs {
    fn given(&self) -> alpha_oto::control::fleet::SettingsGiven<'_> {
        alpha_oto::control::fleet::SettingsGiven {
            token: self.token.as_deref(),
            chain: self.chain.as_deref(),
            order_usdt: self.order_usdt.as_deref(),
            target: self.target.as_deref(),
            points: self.points,
            buy_offset: self.buy_offset.as_deref(),
            sell_offset: self.sell_offset.as_deref(),
            set: &self.set,
        }
    }

    fn body(&self) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        self.given().to_json().map_err(|e| anyhow::anyhow!(e))
    }
}

impl Selection {
    fn chosen<'a>(&'a self, names: &'a [String]) -> alpha_oto::control::fleet::Chosen<'a> {
        alpha_oto::control::fleet::Chosen {
            names,
            tag: self.tag.as_deref(),
            profile: self.profile.as_deref(),
            token: self.token.as_deref(),
            state: self.state.as_deref(),
            all: self.all,
        }
    }
}

/// How an answer is printed.
enum Shape {
    Accounts,
    Account,
    Credentials(String),
    Deleted(String, bool),
    Kill,
    Ack,
    Halt,
    Bulk,
    Profiles,
    Profile,
    ProfileDeleted(String),
    Imported,
}

/// `account ...`, `profile ...` and `halt` as a request to the control API.
fn request_of(
    command: &Cmd<'_>,
) -> anyhow::Result<(
    &'static str,
    String,
    Option<alpha_oto::control::Body>,
    Shape,
)> {
    use alpha_oto::control::{Body, segment};
    use serde_json::{Value, json};
    let name_path = |n: &str| format!("/api/v1/accounts/{}", segment(n));
    Ok(match command {
        Cmd::Halt => ("POST", "/api/v1/halt".into(), None, Shape::Halt),
        Cmd::Account(c) => match c {
            AccountCommand::List => ("GET", "/api/v1/accounts".into(), None, Shape::Accounts),
            AccountCommand::Show { name } => ("GET", name_path(name), None, Shape::Account),
            AccountCommand::Add {
                name,
                on_profile,
                tags,
                settings,
            } => {
                let mut m = settings.body()?;
                m.insert("name".into(), json!(name));
                if let Some(p) = on_profile {
                    m.insert("profile".into(), json!(p));
                }
                if !tags.is_empty() {
                    m.insert("tags".into(), json!(tags));
                }
                let body = Some(Body::Json(Value::Object(m)));
                ("POST", "/api/v1/accounts".into(), body, Shape::Account)
            }
            AccountCommand::Config { name, set } => {
                let given = alpha_oto::control::fleet::SettingsGiven {
                    set,
                    ..Default::default()
                };
                let body = given.to_json().map_err(|e| anyhow::anyhow!(e))?;
                let path = format!("{}/config", name_path(name));
                (
                    "PATCH",
                    path,
                    Some(Body::Json(Value::Object(body))),
                    Shape::Account,
                )
            }
            AccountCommand::Credentials { name, file } => {
                let text = if file.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin())?
                } else {
                    std::fs::read_to_string(file)
                        .with_context(|| format!("cannot read {}", file.display()))?
                };
                let body = if text.trim_start().starts_with('{') {
                    Body::Json(serde_json::from_str(&text).context("the file is not valid JSON")?)
                } else {
                    Body::Text(text)
                };
                let path = format!("{}/credentials", name_path(name));
                ("PUT", path, Some(body), Shape::Credentials(name.clone()))
            }
            AccountCommand::Delete { name, purge } => {
                let history = if *purge { "purge" } else { "keep" };
                let path = format!("{}?history={history}", name_path(name));
                ("DELETE", path, None, Shape::Deleted(name.clone(), *purge))
            }
            AccountCommand::Start { name, select }
            | AccountCommand::Pause { name, select }
            | AccountCommand::Resume { name, select }
            | AccountCommand::Stop { name, select }
            | AccountCommand::Kill { name, select } => {
                let action = match c {
                    AccountCommand::Start { .. } => "start",
                    AccountCommand::Pause { .. } => "pause",
                    AccountCommand::Resume { .. } => "resume",
                    AccountCommand::Stop { .. } => "stop",
                    _ => "kill",
                };
                let names: Vec<String> = name.iter().cloned().collect();
                let chosen = select.chosen(&names);
                match chosen.one() {
                    Some(one) => {
                        let shape = if action == "kill" {
                            Shape::Kill
                        } else {
                            Shape::Ack
                        };
                        ("POST", format!("{}/{action}", name_path(one)), None, shape)
                    }
                    None => bulk(chosen.body(action, serde_json::Map::new())),
                }
            }
            AccountCommand::Import { file, skip_bad } => {
                let (text, dir) = if file.as_os_str() == "-" {
                    (
                        std::io::read_to_string(std::io::stdin())?,
                        PathBuf::from("."),
                    )
                } else {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let dir = file.parent().map(PathBuf::from).unwrap_or_default();
                    (text, dir)
                };
                let body = alpha_oto::control::fleet::import_body(&text, &dir)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                let path = format!("/api/v1/accounts-file?skip_bad={skip_bad}");
                ("POST", path, Some(Body::Text(body)), Shape::Imported)
            }
            // Answered as text: `run_client` sends it itself.
            AccountCommand::Export { format, .. } => {
                let path = format!("/api/v1/accounts-file?format={format}");
                ("GET", path, None, Shape::Imported)
            }
            AccountCommand::SetProfile {
                to: profile,
                names,
                select,
                keep_overrides,
            } => {
                let p = if profile == "none" {
                    Value::Null
                } else {
                    json!(profile)
                };
                let extra = json!({"profile": p, "keep_overrides": keep_overrides});
                bulk(select.chosen(names).body("set_profile", object(extra)))
            }
            AccountCommand::Tag {
                names,
                select,
                add,
                remove,
                replace,
            } => {
                let (action, tags) = if !add.is_empty() {
                    ("add_tags", add)
                } else if !remove.is_empty() {
                    ("remove_tags", remove)
                } else {
                    ("set_tags", replace)
                };
                bulk(
                    select
                        .chosen(names)
                        .body(action, object(json!({"tags": tags}))),
                )
            }
        },
        Cmd::Profile(c) => {
            let path = |n: &str| format!("/api/v1/profiles/{}", segment(n));
            match c {
                ProfileCommand::List => ("GET", "/api/v1/profiles".into(), None, Shape::Profiles),
                ProfileCommand::Show { name } => ("GET", path(name), None, Shape::Profile),
                ProfileCommand::Add { name, settings } => {
                    let mut m = settings.body()?;
                    m.insert("name".into(), json!(name));
                    let body = Some(Body::Json(Value::Object(m)));
                    ("POST", "/api/v1/profiles".into(), body, Shape::Profile)
                }
                ProfileCommand::Set { name, settings } => {
                    let body = Some(Body::Json(Value::Object(settings.body()?)));
                    ("PATCH", path(name), body, Shape::Profile)
                }
                ProfileCommand::Delete { name } => (
                    "DELETE",
                    path(name),
                    None,
                    Shape::ProfileDeleted(name.clone()),
                ),
            }
        }
    })
}

fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn bulk(
    body: serde_json::Value,
) -> (
    &'static str,
    String,
    Option<alpha_oto::control::Body>,
    Shape,
) {
    let body = Some(alpha_oto::control::Body::Json(body));
    ("POST", "/api/v1/accounts/actions".into(), body, Shape::Bulk)
}

/// What a client command is about.
enum Cmd<'a> {
    Account(&'a AccountCommand),
    Profile(&'a ProfileCommand),
    Halt,
}

/// `account ...`, `profile ...` and `halt`: one request to the control API, printed as a
/// table or JSON.
fn run_client(config: &Config, args: &ClientArgs, command: Cmd<'_>) -> anyhow::Result<ExitCode> {
    use alpha_oto::control::{self, Client, fleet};
    let client = Client::new(&config.api.listen, client_token(config, args)?);
    if let Cmd::Account(AccountCommand::Export { format, output }) = &command {
        let path = format!("/api/v1/accounts-file?format={format}");
        let text = actix_web::rt::System::new().block_on(client.call_text("GET", &path));
        return match text {
            Ok(text) => {
                match output {
                    Some(f) => std::fs::write(f, text)
                        .with_context(|| format!("cannot write {}", f.display()))?,
                    None => print!("{text}"),
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(e.exit_code()))
            }
        };
    }
    let (method, path, body, shape) = request_of(&command)?;
    let value = match ask(&client, args, method, &path, body) {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    // A kill or halt that is not verified with nothing left open is not a success, whatever
    // is printed: scripts must not read "0 left open" from an exchange that was not asked.
    let code = match shape {
        Shape::Halt if !value["clean"].as_bool().unwrap_or(false) => exit::NOT_VERIFIED,
        Shape::Kill if !(value["outcome"] == "verified" && value["open_left"] == 0) => {
            exit::NOT_VERIFIED
        }
        Shape::Bulk if !fleet::bulk_kills_clean(&value) => exit::NOT_VERIFIED,
        Shape::Bulk if value["refused"].as_u64().unwrap_or(0) > 0 => control::exit::REFUSED,
        _ => 0,
    };
    let code = ExitCode::from(code);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(code);
    }
    match shape {
        Shape::Accounts => print!("{}", control::accounts_table(&value)),
        Shape::Account => print!("{}", control::account_text(&value)),
        Shape::Credentials(name) => println!("credentials of {name} stored"),
        Shape::Deleted(name, purge) => println!(
            "{name} deleted ({})",
            if purge {
                "its history purged"
            } else {
                "its history kept"
            }
        ),
        Shape::Kill => println!("{}", control::kill_line(&value)),
        Shape::Ack => println!("{}", control::ack_line(&value)),
        Shape::Halt => print!("{}", control::halt_text(&value)),
        Shape::Bulk => print!("{}", fleet::bulk_text(&value)),
        Shape::Profiles => print!("{}", fleet::profiles_table(&value)),
        Shape::Profile => print!("{}", fleet::profile_text(&value)),
        Shape::ProfileDeleted(name) => println!("profile {name} deleted"),
        Shape::Imported => print!("{}", fleet::import_text(&value)),
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command and every argument says what it is for in `--help`.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && !path.is_empty() {
                missing.push(format!("{here}: no about"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{here}: argument {id} has no help"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &here, missing);
            }
        }
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "", &mut missing);
        assert_eq!(missing, Vec::<String>::new());
    }
}
