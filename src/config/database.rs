//! Where the database is and how the store's pool is sized: read from `[database]`, opened by
//! the store. Nothing here opens anything.

use std::path::PathBuf;
use std::time::Duration;

/// A `[database] url` that names no database the daemon can open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad database url: {0}")]
pub struct BadDatabaseUrl(pub String);

/// Past this many pages (32 MB) SQLite's write-ahead log is restarted, with this process's
/// writers held (the default of [`StoreOptions::sqlite_log_pages`]).
pub const SQLITE_LOG_PAGES: i64 = 8192;

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database location, parsed from `[database] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file; `sqlite://PATH` or a plain path.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, BadDatabaseUrl> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(BadDatabaseUrl("the database url is empty".into()));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(BadDatabaseUrl("sqlite:// needs a file path".into()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if raw.contains("://") {
            return Err(BadDatabaseUrl(format!(
                "unsupported scheme in {:?}: use sqlite://PATH, a plain path, or postgres://...",
                redact_url(raw)
            )));
        }
        Ok(Self::Sqlite(PathBuf::from(raw)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Hides the password of a URL before it is shown to anyone.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            // set_password only fails for URLs that cannot carry one, which this one does.
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub pool_size: u32,
    /// The longest a unit of work waits for a free connection before it fails.
    pub connect_timeout: Duration,
    /// SQLite: past this many pages in the write-ahead log, the log is restarted.
    pub sqlite_log_pages: i64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            sqlite_log_pages: SQLITE_LOG_PAGES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_choose_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/a.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/a.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("data/a.db").unwrap(),
            DatabaseUrl::Sqlite("data/a.db".into())
        );
        let pg = DatabaseUrl::parse(" postgresql://u@h/db ").unwrap();
        assert_eq!(
            (pg.backend(), pg),
            (
                Backend::Postgres,
                DatabaseUrl::Postgres("postgresql://u@h/db".into())
            )
        );
        for bad in ["", "sqlite://", "mysql://u:secret@h/db"] {
            let err = DatabaseUrl::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn redaction_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
