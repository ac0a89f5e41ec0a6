//! What the administrative commands share with the service: where its configuration is, which
//! database they may open, and the first run (`init`, and what `serve` says when it starts
//! with nothing configured).
//!
//! An administrative command (`migrate`, `keys rotate`, `token refresh`) run on the service's
//! host must act on the service's database, never on a new one it made by mistake: a missing
//! SQLite file is refused, as is a SQLite file of another user opened by root (the journal
//! files root would create beside it would lock the service out).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::config::database::{DatabaseUrl, redact_url};
use crate::store::{self, Store};

/// Where the install puts the service's configuration; the commands read it by default.
pub const SYSTEM_CONFIG: &str = "/etc/alpha-oto/config.toml";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "no database at {path} ({why}); this command works on an existing database. The \
         service's database is found through its configuration (--config {SYSTEM_CONFIG}: \
         [daemon] data_dir or [database] url). To make a new one: `alpha-oto migrate --create`"
    )]
    NoDatabase { path: PathBuf, why: String },
    #[error(
        "{path} belongs to user {owner}: run this command as that user (runuser -u {owner} -- \
         alpha-oto ...), so that the files the database writes beside it stay the service's"
    )]
    OtherOwner { path: PathBuf, owner: String },
    #[error(
        "the database {url} has no alpha-oto tables: run `alpha-oto migrate` (or start the \
         service) first"
    )]
    Empty { url: String },
    #[error("{0} already exists: init never overwrites; pick another --dir or remove it")]
    Exists(PathBuf),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Io(String),
}

/// The configuration file a command reads: the one named (flag or ALPHA_OTO_CONFIG), else
/// the service's when it exists, else none (defaults and environment only).
pub fn config_path(named: Option<&Path>, exists: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    match named {
        Some(p) => Some(p.to_owned()),
        None => {
            let system = Path::new(SYSTEM_CONFIG);
            exists(system).then(|| system.to_owned())
        }
    }
}

/// What a command means to do with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseUse {
    /// Apply migrations; `create` allows a SQLite file that does not exist yet.
    Migrate { create: bool },
    /// Work on an existing, migrated database.
    Use,
}

/// Opens the configured database for an administrative command, refusing what the operator
/// cannot have meant.
pub fn open_database(config: &Config, intent: DatabaseUse) -> Result<Store, AdminError> {
    let url = config.database_url()?;
    if let DatabaseUrl::Sqlite(path) = &url {
        match std::fs::metadata(path) {
            Ok(meta) => refuse_other_owner(path, meta.uid())?,
            Err(e) if intent == (DatabaseUse::Migrate { create: true }) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(AdminError::Io(crate::access::explain(path, &e).to_string()));
                }
            }
            Err(e) => {
                return Err(AdminError::NoDatabase {
                    path: path.clone(),
                    why: crate::access::explain(path, &e).to_string(),
                });
            }
        }
    }
    let store = Store::open(&url, &config.store_options())?;
    if intent == DatabaseUse::Use && schema_is_empty(&store)? {
        return Err(AdminError::Empty {
            url: match &url {
                DatabaseUrl::Sqlite(p) => p.display().to_string(),
                DatabaseUrl::Postgres(u) => redact_url(u),
            },
        });
    }
    Ok(store)
}

/// Root may open any file, and SQLite then makes its journal files root's: refused when the
/// database is another user's.
fn refuse_other_owner(path: &Path, owner_uid: u32) -> Result<(), AdminError> {
    let me = nix::unistd::geteuid();
    if me.is_root() && owner_uid != 0 {
        let owner = nix::unistd::User::from_uid(owner_uid.into())
            .ok()
            .flatten()
            .map_or_else(|| owner_uid.to_string(), |u| u.name);
        return Err(AdminError::OtherOwner {
            path: path.to_owned(),
            owner,
        });
    }
    Ok(())
}

fn schema_is_empty(store: &Store) -> Result<bool, AdminError> {
    let pending = store.blocking(store::migrate::pending)?;
    let all = store.blocking(store::migrate::all_names)?;
    Ok(pending.len() == all.len())
}

/// What `init` is asked to write.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The folder for the configuration, the key, the API token and the data.
    pub dir: PathBuf,
    /// The control API's address.
    pub listen: String,
    /// The exchange: None for the real one, Some(HOST:PORT) for `alpha-oto sim`.
    pub sim: Option<String>,
}

/// What `init` wrote.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub config: PathBuf,
    pub key: PathBuf,
    pub token: PathBuf,
    pub data_dir: PathBuf,
}

/// Writes a working configuration, a master key and an API token for a first run. Never
/// overwrites a file.
pub fn init(
    opts: &InitOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<InitReport, AdminError> {
    let io = |what: &str, e: std::io::Error| AdminError::Io(format!("{what}: {e}"));
    std::fs::create_dir_all(&opts.dir).map_err(|e| io(&opts.dir.display().to_string(), e))?;
    let dir = opts
        .dir
        .canonicalize()
        .map_err(|e| io(&opts.dir.display().to_string(), e))?;
    let report = InitReport {
        config: dir.join("config.toml"),
        key: dir.join("master-key"),
        token: dir.join("api-token"),
        data_dir: dir.join("data"),
    };
    for p in [&report.config, &report.key, &report.token] {
        if p.exists() {
            return Err(AdminError::Exists(p.clone()));
        }
    }
    let token = crate::api::auth::new_token().map_err(|e| AdminError::Io(e.to_string()))?;
    let hash = crate::api::auth::hash(&token).map_err(|e| AdminError::Io(e.to_string()))?;
    let (rest, public_ws, private_ws) = match &opts.sim {
        Some(addr) => (
            format!("http://{addr}"),
            format!("ws://{addr}/w3w/wsa/stream"),
            format!("ws://{addr}/w3w/stream"),
        ),
        None => {
            let d = crate::config::ExchangeConfig::default();
            (d.rest_url, d.public_ws_url, d.private_ws_url)
        }
    };
    let toml = |p: &Path| toml_string(&p.display().to_string());
    let text = format!(
        "# Written by `alpha-oto init`; every key: deploy/config.example.toml.\n\
         [daemon]\ndata_dir = {data}\n\n\
         [api]\nlisten = {listen}\n# The hash of the token in {token_file}.\ntoken_hashes = [{hash}]\n\
         # The token the command-line client sends (account, halt); the daemon does not read it.\n\
         token_file = {token_path}\n\n\
         [exchange]\nrest_url = {rest}\npublic_ws_url = {public_ws}\nprivate_ws_url = {private_ws}\n\n\
         [vault]\nkey_file = {key}\n",
        data = toml(&report.data_dir),
        listen = toml_string(&opts.listen),
        token_file = report.token.display(),
        hash = toml_string(&hash),
        token_path = toml(&report.token),
        rest = toml_string(&rest),
        public_ws = toml_string(&public_ws),
        private_ws = toml_string(&private_ws),
        key = toml(&report.key),
    );
    write_private(
        &report.key,
        &format!("{}\n", crate::vault::generate_key_line(now)),
    )?;
    write_private(&report.token, &format!("{token}\n"))?;
    write_private(&report.config, &text)?;
    // Checked as the daemon will read it.
    Config::load_with_env(
        Some(&report.config),
        Vec::new(),
        &crate::config::Overrides::default(),
    )?;
    Ok(report)
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Creates `path` readable by its owner only, failing if it exists.
fn write_private(path: &Path, text: &str) -> Result<(), AdminError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AdminError::Io(format!("{}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| AdminError::Io(format!("{}: {e}", path.display())))
}

/// The next steps after `init`, for the person who ran it.
pub fn init_next_steps(r: &InitReport, sim: bool) -> String {
    let config = r.config.display();
    let mut s = format!(
        "wrote {config}\n      {} (the credential key; keep it secret)\n      {} (the control API's token)\n\n\
         Next:\n  export ALPHA_OTO_CONFIG={config}\n",
        r.key.display(),
        r.token.display(),
    );
    if sim {
        s.push_str(
            "  alpha-oto sim --accounts 1 --write-credentials DIR &   # the simulated exchange, one funded account\n",
        );
    }
    s.push_str(
        "  alpha-oto serve &                     # the daemon; its database is under [daemon] data_dir\n\
         \x20 alpha-oto account add NAME --token KOGE --order-usdt 10 --target 500 --buy-offset 0.1% --sell-offset -0.1%\n\
         \x20 alpha-oto account credentials NAME --file FILE   # a browser's \"Copy as cURL\" text or JSON\n\
         \x20 alpha-oto account start NAME\n\
         \x20 alpha-oto account list               # or the dashboard: http://LISTEN/ with the token\n",
    );
    s
}

/// What `serve` says at start when nothing tells it how to run: on stderr, before the JSON
/// log begins. None when a configuration file was read and a token is configured.
pub fn serve_hints(config: &Config, file: Option<&Path>) -> Option<String> {
    if file.is_some() && !config.api.token_hashes.is_empty() {
        return None;
    }
    let db = match config.database_url() {
        Ok(DatabaseUrl::Sqlite(p)) => format!("SQLite at {}", p.display()),
        Ok(DatabaseUrl::Postgres(u)) => redact_url(&u),
        Err(e) => e.to_string(),
    };
    let mut s = String::from("alpha-oto serve:");
    match file {
        None => s.push_str(" no configuration file (--config FILE or ALPHA_OTO_CONFIG)."),
        Some(p) => s.push_str(&format!(" configuration {}.", p.display())),
    }
    s.push_str(&format!(
        "\n  database: {db}\n  control API: http://{}/",
        config.api.listen
    ));
    if config.api.token_hashes.is_empty() {
        s.push_str(" (no token configured: every request but /healthz is refused)");
    }
    s.push_str(
        "\nFirst run: `alpha-oto init --dir DIR` writes a configuration, a master key and an API \
         token (add `--sim 127.0.0.1:8643` to trade on `alpha-oto sim`), then \
         `alpha-oto serve --config DIR/config.toml`. README.md, \"First run\", walks through \
         adding an account from the simulator or from a browser's cURL text.\n",
    );
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_config_is_read_by_default_when_it_exists() {
        let named = Path::new("/srv/other.toml");
        assert_eq!(config_path(Some(named), |_| true), Some(named.to_owned()));
        assert_eq!(
            config_path(None, |p| p == Path::new(SYSTEM_CONFIG)),
            Some(PathBuf::from(SYSTEM_CONFIG))
        );
        assert_eq!(config_path(None, |_| false), None);
    }

    #[test]
    fn init_writes_a_configuration_that_loads_with_private_files_and_never_overwrites() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            dir: dir.path().join("first"),
            listen: "127.0.0.1:9999".into(),
            sim: Some("127.0.0.1:8643".into()),
        };
        let r = init(&opts, chrono::Utc::now()).unwrap();
        let config =
            Config::load_with_env(Some(&r.config), Vec::new(), &Default::default()).unwrap();
        assert_eq!(config.exchange.rest_url, "http://127.0.0.1:8643");
        assert_eq!(config.api.listen, "127.0.0.1:9999");
        assert_eq!(config.data_dir(), r.data_dir);
        let token = std::fs::read_to_string(&r.token).unwrap();
        assert_eq!(
            config.api.token_hashes,
            vec![crate::api::auth::hash(token.trim()).unwrap()]
        );
        assert_eq!(config.api.token_file.as_deref(), Some(r.token.as_path()));
        assert!(
            crate::vault::KeyRing::load(config.vault.key_file.as_deref())
                .unwrap()
                .is_some()
        );
        for p in [&r.config, &r.key, &r.token] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        let again = init(&opts, chrono::Utc::now()).unwrap_err();
        assert!(matches!(again, AdminError::Exists(_)), "{again}");
        assert_eq!(std::fs::read_to_string(&r.token).unwrap(), token);
    }

    #[test]
    fn an_admin_command_refuses_a_database_that_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.daemon.data_dir = Some(dir.path().join("nothing-here"));
        let err = open_database(&config, DatabaseUse::Use)
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, AdminError::NoDatabase { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = open_database(&config, DatabaseUse::Migrate { create: false })
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, AdminError::NoDatabase { .. }), "{err}");
        assert!(
            !dir.path().join("nothing-here").exists(),
            "nothing was made"
        );
        // Asked for, a new one is made and migrated; a command that uses it then works.
        let store = open_database(&config, DatabaseUse::Migrate { create: true }).unwrap();
        let empty = open_database(&config, DatabaseUse::Use)
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(empty, AdminError::Empty { .. }), "{empty}");
        store.blocking(store::migrate::run_pending).unwrap();
        open_database(&config, DatabaseUse::Use).unwrap();
    }

    #[test]
    fn serve_says_what_to_do_when_nothing_is_configured() {
        let hint = serve_hints(&Config::default(), None).unwrap();
        for needle in [
            "no configuration file",
            "SQLite at data/alpha-oto.db",
            "no token configured",
            "alpha-oto init",
        ] {
            assert!(hint.contains(needle), "{needle}: {hint}");
        }
        let mut config = Config::default();
        config.api.token_hashes = vec!["sha256:x".into()];
        assert_eq!(serve_hints(&config, Some(Path::new("c.toml"))), None);
    }
}
