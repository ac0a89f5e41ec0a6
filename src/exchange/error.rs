//! What can go wrong talking to the exchange, as kinds the caller acts on, and the one place
//! where a REST answer (status, headers, body) is decoded into data or such a kind.
//!
//! The most important split is between answers that prove an order was *not* created
//! (`Rejected`, `InsufficientBalance`, `SessionExpired`, ...) and `Unknown`: a timeout, a 5xx or
//! a body that does not parse, after which the order may or may not exist and must be looked up,
//! never blindly sent again.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::wire::{self, Envelope};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The session (cookies, headers) is no longer accepted: code 100002001, HTTP 401 or 403.
    #[error("session expired: the account's credentials must be refreshed")]
    SessionExpired,
    /// The exchange held the request for a security challenge (risk headers on the answer).
    #[error("a two-factor challenge is required (bizNo {biz_no})")]
    TwoFactorRequired { biz_no: String },
    /// Face or phone verification is required; it cannot be automated and must not be retried.
    #[error("face or phone verification is required")]
    FaceCheckRequired,
    #[error("rate limited{}", retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("insufficient balance: {message}")]
    InsufficientBalance { message: String },
    /// The exchange refused the request (precision, amount, unknown order, ...): nothing was
    /// created.
    #[error("rejected ({code}): {message}")]
    Rejected { code: String, message: String },
    /// The request never left this host (connection refused, DNS, TLS set-up): safe to retry.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The outcome is unknown: the request may have been carried out.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

impl ExchangeError {
    /// True when the request may have been carried out despite the error.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ExchangeError::Unknown(_))
    }

    /// The exchange could not take the request for load (rate limited) or did not answer:
    /// fewer new orders should be in flight (`domain::admission`).
    pub fn overloaded(&self) -> bool {
        matches!(
            self,
            ExchangeError::RateLimited { .. }
                | ExchangeError::NotSent(_)
                | ExchangeError::Unknown(_)
        )
    }

    /// A stable snake_case name for logs, metrics and pause reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            ExchangeError::SessionExpired => "session_expired",
            ExchangeError::TwoFactorRequired { .. } => "two_factor",
            ExchangeError::FaceCheckRequired => "face_check",
            ExchangeError::RateLimited { .. } => "rate_limited",
            ExchangeError::InsufficientBalance { .. } => "insufficient_balance",
            ExchangeError::Rejected { .. } => "rejected",
            ExchangeError::NotSent(_) => "not_sent",
            ExchangeError::Unknown(_) => "unknown",
        }
    }
}

/// A decoded successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    pub data: T,
    /// Row count of paged answers.
    pub total: Option<u64>,
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(160).collect();
    if text.chars().count() > 160 {
        s.push('…');
    }
    s
}

fn retry_after(header: &dyn Fn(&str) -> Option<String>) -> Option<Duration> {
    header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Decodes one REST answer. `header` looks a response header up by lower-case name.
pub fn decode<T: DeserializeOwned>(
    status: u16,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<Answer<T>, ExchangeError> {
    if let Some(biz_no) = header(wire::HEADER_RISK_BIZ_NO)
        && header(wire::HEADER_RISK_FLOW).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Err(ExchangeError::TwoFactorRequired { biz_no });
    }
    match status {
        200..=299 => {}
        401 | 403 => return Err(ExchangeError::SessionExpired),
        418 | 429 => {
            return Err(ExchangeError::RateLimited {
                retry_after: retry_after(header),
            });
        }
        500..=599 => {
            return Err(ExchangeError::Unknown(format!(
                "HTTP {status}: {}",
                snippet(body)
            )));
        }
        _ => {
            return Err(ExchangeError::Rejected {
                code: format!("http_{status}"),
                message: snippet(body),
            });
        }
    }
    let envelope: Envelope<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        ExchangeError::Unknown(format!("unreadable answer ({e}): {}", snippet(body)))
    })?;
    if !envelope.success || envelope.code != wire::CODE_OK {
        return Err(classify(
            &envelope.code,
            envelope.message.as_deref().unwrap_or(""),
            header,
        ));
    }
    let data = serde_json::from_value(envelope.data.unwrap_or(serde_json::Value::Null))
        .map_err(|e| ExchangeError::Unknown(format!("unexpected data ({e}): {}", snippet(body))))?;
    Ok(Answer {
        data,
        total: envelope.total,
    })
}

/// Maps a business failure (`success: false`) to its kind.
fn classify(code: &str, message: &str, header: &dyn Fn(&str) -> Option<String>) -> ExchangeError {
    let lower = message.to_lowercase();
    if code == wire::CODE_SESSION_EXPIRED {
        ExchangeError::SessionExpired
    } else if code == wire::CODE_FACE_CHECK || lower.contains("step flows have not finish") {
        ExchangeError::FaceCheckRequired
    } else if code == wire::CODE_RATE_LIMITED
        || lower.contains("too many requests")
        || lower.contains("rate limit")
    {
        ExchangeError::RateLimited {
            retry_after: retry_after(header),
        }
    } else if code == wire::CODE_INSUFFICIENT_BALANCE || lower.contains("insufficient") {
        ExchangeError::InsufficientBalance {
            message: message.to_owned(),
        }
    } else {
        ExchangeError::Rejected {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}
