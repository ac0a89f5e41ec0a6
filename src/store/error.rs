//! The store's error type. Callers match on the kinds that change what they do next
//! (`Conflict`, `LeaseLost`, `NotFound`, `Unavailable`); the rest is reported as it is.

use diesel::result::{self, DatabaseErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had: the database is down, unreachable or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique or foreign-key constraint refused the write (for example a duplicate order).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller's lease on the account is gone or was taken over: it must stop sending.
    #[error("lease on account {account_id} lost (fencing token {fencing_token})")]
    LeaseLost { account_id: i64, fencing_token: i64 },
    /// A stored value that does not decode (a decimal that is not a decimal, an unknown state).
    #[error("corrupt value in {column}: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
    /// The order would cross an open order of a managed account another instance holds (or
    /// the token's check is busy): not stored, tried again a moment later.
    #[error("the order would cross another instance's account on its token")]
    Crossed,
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database worker failed: {0}")]
    Worker(String),
    #[error("database error: {0}")]
    Query(result::Error),
}

impl From<result::Error> for StoreError {
    fn from(e: result::Error) -> Self {
        match e {
            result::Error::NotFound => StoreError::NotFound("row"),
            result::Error::DatabaseError(
                kind
                @ (DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation),
                info,
            ) => StoreError::Conflict(format!("{kind:?}: {}", info.message())),
            result::Error::DeserializationError(e) => StoreError::Corrupt {
                column: "a stored value",
                detail: error_chain(e.as_ref()),
            },
            other => StoreError::Query(other),
        }
    }
}

/// An error and its sources, joined: diesel wraps the reason a value did not decode.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}
