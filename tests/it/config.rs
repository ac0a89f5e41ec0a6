//! Configuration: every bad key is named, env overrides the file, flags override env.

use std::path::PathBuf;

use alpha_oto::config::database::DatabaseUrl;
use alpha_oto::config::{Config, ConfigError, Overrides};
use alpha_oto::telemetry::LogLevel;

fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alpha-oto.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(text: &str, vars: &[(&str, &str)], flags: &Overrides) -> Result<Config, ConfigError> {
    let (_dir, path) = file(text);
    Config::load_with_env(Some(&path), env(vars), flags)
}

#[test]
fn defaults_need_nothing_installed() {
    let c = Config::load_with_env(None, env(&[]), &Overrides::default()).unwrap();
    assert_eq!(
        c.database_url().unwrap(),
        DatabaseUrl::Sqlite(c.data_dir().join("alpha-oto.db"))
    );
    assert_eq!(c.redis.url, None);
    assert_eq!(c.api.listen, "127.0.0.1:8642");
    assert!(
        c.api
            .listen
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .ip()
            .is_loopback()
    );
    assert_eq!(c.log.level, LogLevel::Info);
}

#[test]
fn every_bad_key_is_named_in_its_error() {
    let cases: &[(&str, &str)] = &[
        ("[daemon]\nlease_ttl_s = 1", "daemon.lease_ttl_s"),
        ("[daemon]\nlease_ttl_s = \"long\"", "lease_ttl_s"),
        (
            "[daemon]\ninstance_id = \"two words\"",
            "daemon.instance_id",
        ),
        ("[daemon]\ncolour = \"blue\"", "colour"),
        ("[database]\nurl = \"mysql://x/y\"", "database.url"),
        ("[database]\nurl = \"\"", "database.url"),
        ("[database]\npool_size = 0", "database.pool_size"),
        (
            "[database]\nconnect_timeout_s = 0",
            "database.connect_timeout_s",
        ),
        ("[database]\nurll = \"sqlite://x\"", "urll"),
        ("[redis]\nurl = \"http://127.0.0.1:6379\"", "redis.url"),
        ("[api]\nlisten = \"localhost\"", "api.listen"),
        (
            "[api]\ntoken_hashes = [\"plain-token\"]",
            "api.token_hashes",
        ),
        ("[api]\ntoken_hashes = \"sha256:00\"", "token_hashes"),
        (
            "[exchange]\nrest_url = \"ftp://www.binance.com\"",
            "exchange.rest_url",
        ),
        (
            "[exchange]\npublic_ws_url = \"https://nbstream.binance.com\"",
            "exchange.public_ws_url",
        ),
        (
            "[exchange]\nprivate_ws_url = \"not a url\"",
            "exchange.private_ws_url",
        ),
        ("[log]\nlevel = \"loud\"", "level"),
        ("[log]\nformat = \"xml\"", "format"),
        ("[log]\noverflow = \"drop\"", "overflow"),
        ("[log]\nchannel_size = 10", "log.channel_size"),
        (
            "[vault]\nkey_file = \"/nonexistent/master-key\"",
            "vault.key_file",
        ),
        ("[nonsense]\nx = 1", "nonsense"),
        ("database = 5", "database"),
    ];
    for (text, key) in cases {
        let err = load(text, &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key),
            "config {text:?}: the error does not name {key}: {err}"
        );
    }
}

#[test]
fn a_bad_url_error_never_repeats_its_password() {
    for text in [
        "[redis]\nurl = \"redis://:hunter2@exa mple:6379\"",
        "[redis]\nurl = \"http://:hunter2@example:6379\"",
    ] {
        let err = load(text, &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{text}: {err}");
    }
}

#[test]
fn a_bad_environment_variable_is_named_as_the_operator_wrote_it() {
    let err = load(
        "",
        &[("ALPHA_OTO__DATABASE__POOL_SIZE", "many")],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ALPHA_OTO__DATABASE__POOL_SIZE"), "{err}");
    let err = load(
        "",
        &[("ALPHA_OTO__DATABSE__URL", "x")],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("databse"),
        "a misspelt section is an error: {err}"
    );
}

#[test]
fn a_bad_flag_is_named_as_the_operator_wrote_it() {
    let flags = Overrides {
        log_level: Some("loud".into()),
        ..Overrides::default()
    };
    let err = load("", &[], &flags).unwrap_err().to_string();
    assert!(err.contains("--log-level"), "{err}");
    let flags = Overrides {
        api_listen: Some("nowhere".into()),
        ..Overrides::default()
    };
    let err = load("", &[], &flags).unwrap_err().to_string();
    assert!(err.contains("api.listen"), "{err}");
}

#[test]
fn env_overrides_the_file_and_flags_override_env() {
    let text = "[database]\nurl = \"sqlite:///tmp/from-file.db\"\npool_size = 4\n[api]\nlisten = \"127.0.0.1:1000\"\n[log]\nlevel = \"warn\"";
    let from_file = load(text, &[], &Overrides::default()).unwrap();
    assert_eq!(
        from_file.database.url.as_deref(),
        Some("sqlite:///tmp/from-file.db")
    );
    assert_eq!(
        (from_file.database.pool_size, from_file.log.level),
        (4, LogLevel::Warn)
    );

    let vars = [
        (
            "ALPHA_OTO__DATABASE__URL",
            "postgres://postgres@127.0.0.1/env",
        ),
        ("ALPHA_OTO__DATABASE__POOL_SIZE", "16"),
        ("ALPHA_OTO__API__LISTEN", "127.0.0.1:2000"),
        (
            "ALPHA_OTO__API__TOKEN_HASHES",
            "[\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]",
        ),
        ("UNRELATED", "ignored"),
    ];
    let from_env = load(text, &vars, &Overrides::default()).unwrap();
    assert_eq!(
        from_env.database_url().unwrap(),
        DatabaseUrl::Postgres("postgres://postgres@127.0.0.1/env".into())
    );
    assert_eq!(
        (from_env.database.pool_size, from_env.api.listen.as_str()),
        (16, "127.0.0.1:2000")
    );
    assert_eq!(from_env.api.token_hashes.len(), 1);
    assert_eq!(
        from_env.log.level,
        LogLevel::Warn,
        "what env does not set stays as the file says"
    );

    let flags = Overrides {
        database_url: Some("/var/lib/alpha-oto/flag.db".into()),
        api_listen: Some("127.0.0.1:3000".into()),
        log_level: Some("debug".into()),
        log_file: Some("/tmp/a.log".into()),
        data_dir: Some("/srv/alpha".into()),
    };
    let from_flags = load(text, &vars, &flags).unwrap();
    assert_eq!(
        from_flags.database_url().unwrap(),
        DatabaseUrl::Sqlite("/var/lib/alpha-oto/flag.db".into())
    );
    assert_eq!(from_flags.api.listen, "127.0.0.1:3000");
    assert_eq!(from_flags.log.level, LogLevel::Debug);
    assert_eq!(
        from_flags.log.file.as_deref(),
        Some(std::path::Path::new("/tmp/a.log"))
    );
    assert_eq!(from_flags.data_dir(), PathBuf::from("/srv/alpha"));
    assert_eq!(
        from_flags.database.pool_size, 16,
        "what flags do not set stays as env says"
    );
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = Config::load_with_env(
        Some(std::path::Path::new("/nonexistent/alpha.toml")),
        env(&[]),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::File(alpha_oto::access::FileProblem::Missing(_))
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "config file /nonexistent/alpha.toml does not exist"
    );
}

#[test]
fn the_example_config_documents_every_key_and_loads() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/config.example.toml"
    ))
    .unwrap();
    // Every key, commented out or not, appears in the example.
    let defaults: toml::Table =
        toml::from_str(&toml::to_string(&Config::default()).unwrap()).unwrap();
    let mut all_keys = Vec::new();
    for (section, value) in &defaults {
        for key in value.as_table().unwrap().keys() {
            all_keys.push((section.clone(), key.clone()));
        }
    }
    for section in [
        "daemon", "database", "redis", "api", "exchange", "log", "vault",
    ] {
        assert!(
            example.contains(&format!("[{section}]")),
            "section [{section}] missing from the example"
        );
    }
    for key in [
        "data_dir",
        "instance_id",
        "lease_ttl_s",
        "url",
        "pool_size",
        "connect_timeout_s",
        "listen",
        "token_hashes",
        "rest_url",
        "public_ws_url",
        "private_ws_url",
        "level",
        "file",
        "format",
        "channel_size",
        "overflow",
        "key_file",
    ] {
        assert!(
            example.contains(&format!("{key} =")),
            "key {key} is not documented in the example"
        );
    }
    for (section, key) in &all_keys {
        assert!(
            example.contains(&format!("{key} =")),
            "key {section}.{key} is not documented in the example"
        );
    }
    // Uncommented as it ships, it is a valid configuration.
    let (_d, path) = file(&example);
    Config::load_with_env(Some(&path), env(&[]), &Overrides::default()).unwrap();
}

#[test]
fn printed_config_hides_passwords() {
    let c = load("[database]\nurl = \"postgres://app:hunter2@db.internal/alpha\"\n[redis]\nurl = \"redis://:s3cret@127.0.0.1:6379/0\"", &[], &Overrides::default()).unwrap();
    let shown = c.to_redacted_toml().unwrap();
    assert!(
        !shown.contains("hunter2") && !shown.contains("s3cret"),
        "{shown}"
    );
    assert!(shown.contains("db.internal"), "{shown}");
}
