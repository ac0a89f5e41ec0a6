//! The API's one error type. Every failure a client can see has a stable `code` from the table
//! below, an HTTP status, and a `application/problem+json` body (RFC 9457) naming what was
//! wrong. Internal details (database messages) are logged, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Every error code the API answers with: (code, HTTP status, title).
pub const CODES: &[(&str, u16, &str)] = &[
    ("unauthorized", 401, "A valid bearer token is required"),
    ("not_found", 404, "No such resource"),
    ("account_not_found", 404, "No such account"),
    (
        "invalid_body",
        400,
        "The body is not valid JSON of the expected shape",
    ),
    ("invalid_field", 422, "A field has an unacceptable value"),
    ("invalid_name", 422, "The account name is not acceptable"),
    (
        "invalid_rows",
        422,
        "Rows of the file are invalid (each named in rows): nothing was imported",
    ),
    ("payload_too_large", 413, "The body is too large"),
    ("name_taken", 409, "An account with this name exists"),
    ("profile_not_found", 404, "No such profile"),
    ("profile_taken", 409, "A profile with this name exists"),
    (
        "profile_in_use",
        409,
        "Accounts are on the profile: move them to another first",
    ),
    (
        "conflict",
        409,
        "A concurrent change got there first: read again and retry",
    ),
    ("not_running", 409, "The account is not running"),
    (
        "killed",
        409,
        "The account was killed: only a start lets it trade again",
    ),
    ("not_stopped", 409, "The account must be stopped first"),
    ("held_elsewhere", 409, "Another instance holds the account"),
    (
        "no_master_key",
        503,
        "No master key is configured: credentials cannot be stored or read",
    ),
    (
        "exchange_error",
        502,
        "The exchange did not answer as expected",
    ),
    ("unavailable", 503, "A dependency is unavailable"),
    (
        "rate_limited",
        429,
        "The account's request budget is spent: retry after the time given",
    ),
    ("internal", 500, "Internal error"),
];

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("account {0:?} does not exist")]
    AccountNotFound(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("{0}")]
    InvalidName(String),
    #[error("{} row problem(s), the first on line {}: nothing was imported (skip_bad imports the good rows)", .0.len(), .0.first().map_or(0, |p| p.line))]
    InvalidRows(Vec<RowProblem>),
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("an account named {0:?} exists")]
    NameTaken(String),
    #[error("profile {0:?} does not exist")]
    ProfileNotFound(String),
    #[error("a profile named {0:?} exists")]
    ProfileTaken(String),
    #[error("profile {0:?} is in use: {1}")]
    ProfileInUse(String, String),
    #[error("a concurrent change got there first: read again and retry")]
    Conflict,
    #[error("account {0:?} is not running")]
    NotRunning(String),
    #[error("account {0:?} was killed: start it to trade again")]
    Killed(String),
    #[error("account {0:?} is not stopped: stop it and wait until it shows stopped")]
    NotStopped(String),
    #[error("account {0:?} is held by instance {1}: act there")]
    HeldElsewhere(String, String),
    #[error("no master key is configured")]
    NoMasterKey,
    #[error("the exchange: {0}")]
    Exchange(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("the account's request budget is spent: retry in {0} ms")]
    RateLimited(i64),
    /// The cause is logged (by `api::caught`, with the route); the client sees only the code.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::AccountNotFound(_) => "account_not_found",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::InvalidName(_) => "invalid_name",
            ApiError::InvalidRows(_) => "invalid_rows",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::NameTaken(_) => "name_taken",
            ApiError::ProfileNotFound(_) => "profile_not_found",
            ApiError::ProfileTaken(_) => "profile_taken",
            ApiError::ProfileInUse(..) => "profile_in_use",
            ApiError::Conflict => "conflict",
            ApiError::NotRunning(_) => "not_running",
            ApiError::Killed(_) => "killed",
            ApiError::NotStopped(_) => "not_stopped",
            ApiError::HeldElsewhere(..) => "held_elsewhere",
            ApiError::NoMasterKey => "no_master_key",
            ApiError::Exchange(_) => "exchange_error",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Internal(_) => "internal",
        }
    }

    fn entry(&self) -> (u16, &'static str) {
        let code = self.code();
        CODES
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, s, t)| (*s, *t))
            .unwrap_or((500, "Internal error"))
    }
}

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// An import's bad rows, each by line and field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<RowProblem>>,
}

/// One fault of one row of an imported file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    pub line: usize,
    pub name: Option<String>,
    pub field: String,
    pub reason: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.entry().0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let (status, title) = self.entry();
        let problem = Problem {
            kind: format!("https://alpha-oto.invalid/problems/{}", self.code()),
            title,
            status,
            detail: self.to_string(),
            code: self.code(),
            field: match self {
                ApiError::InvalidField { field, .. } => Some(field.clone()),
                _ => None,
            },
            rows: match self {
                ApiError::InvalidRows(rows) => Some(rows.clone()),
                _ => None,
            },
        };
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        if matches!(self, ApiError::Unauthorized) {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let ApiError::RateLimited(ms) = self {
            res.insert_header(("Retry-After", (ms.max(&1) + 999) / 1000));
        }
        res.json(problem)
    }
}

impl From<crate::actors::operator::CommandError> for ApiError {
    fn from(e: crate::actors::operator::CommandError) -> Self {
        use crate::actors::operator::CommandError;
        match e {
            CommandError::Killed(name) => ApiError::Killed(name),
            CommandError::Gone => ApiError::Unavailable("the supervisor has stopped".into()),
            CommandError::Store(e) => e.into(),
        }
    }
}

impl From<crate::actors::credentials::CredentialsError> for ApiError {
    fn from(e: crate::actors::credentials::CredentialsError) -> Self {
        use crate::actors::credentials::CredentialsError;
        match e {
            CredentialsError::Invalid {
                field: "body",
                reason,
            } => ApiError::InvalidBody(reason),
            CredentialsError::Invalid { field, reason } => ApiError::InvalidField {
                field: field.into(),
                reason,
            },
            CredentialsError::NoMasterKey => ApiError::NoMasterKey,
            CredentialsError::Missing => ApiError::InvalidField {
                field: "credentials".into(),
                reason: e.to_string(),
            },
            CredentialsError::Budget => ApiError::RateLimited(1_000),
            CredentialsError::Exchange(kind) => ApiError::Exchange(kind),
            CredentialsError::Vault(_) => ApiError::Internal(e.to_string()),
            CredentialsError::Store(e) => e.into(),
        }
    }
}

/// A settings object's fault, named by its field.
impl From<crate::domain::settings::SettingsError> for ApiError {
    fn from(e: crate::domain::settings::SettingsError) -> Self {
        ApiError::InvalidField {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => {
                ApiError::Unavailable("the database is unavailable".into())
            }
            crate::store::StoreError::Conflict(_) => ApiError::Conflict,
            other => ApiError::Internal(other.to_string()),
        }
    }
}
