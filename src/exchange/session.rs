//! An exchange session copied from a browser (B10): the request headers and the cookie string
//! the exchange's private endpoints need. Read from JSON or from a "Copy as cURL" text, checked
//! here; the vault only seals and opens it.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::curl;

/// Why a session text is refused, naming the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SessionError {
    /// `headers`, `cookies`, `curl` or `body` (the JSON itself).
    pub field: &'static str,
    pub reason: String,
}

impl SessionError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Values are secrets: no `Debug` of them, no `Serialize`, zeroed on drop.
pub struct Session {
    pub headers: BTreeMap<String, SecretString>,
    pub cookies: SecretString,
    /// When the session's cookies expire (Unix ms), where the text said: not a secret.
    pub expires_at_ms: Option<i64>,
}

/// The cookies that carry the login; the session ends when the first of them expires. Other
/// cookies (consent, tracking, bot checks) come and go without ending it.
pub const SESSION_COOKIES: &[&str] = &["cr00", "p20t", "r20t", "d1og"];

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("cookies", &"[REDACTED]")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// Where a credential holds a control character (1-based), if it does: such a value can only
/// break or smuggle a request line, never be a real session.
fn control_at(text: &str) -> Option<usize> {
    text.chars().position(char::is_control).map(|i| i + 1)
}

/// `{"headers":{..},"cookies":".."}`; the cookies may also be a browser extension's export
/// (a list of objects with `name`, `value` and `expirationDate` in Unix seconds), and
/// `expires_at` (Unix ms, or an RFC 3339 time) may say when the session ends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionJson {
    headers: BTreeMap<String, String>,
    cookies: CookiesJson,
    #[serde(default)]
    expires_at: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CookiesJson {
    Header(String),
    Exported(Vec<CookieJson>),
}

/// One cookie of an export (Cookie-Editor, EditThisCookie: their other fields are ignored).
#[derive(Deserialize)]
struct CookieJson {
    name: String,
    value: String,
    #[serde(default, rename = "expirationDate")]
    expiration_date: Option<f64>,
}

/// Unix ms from a JSON value: whole ms, or an RFC 3339 time.
fn time_ms(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis()),
        _ => None,
    }
}

impl Session {
    pub fn new(
        headers: BTreeMap<String, SecretString>,
        cookies: SecretString,
    ) -> Result<Self, SessionError> {
        for (name, value) in &headers {
            let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if !ok {
                return Err(SessionError::new(
                    "headers",
                    format!("header name {name:?} is not a valid HTTP header name"),
                ));
            }
            if let Some(at) = control_at(value.expose_secret()) {
                return Err(SessionError::new(
                    "headers",
                    format!(
                        "header {name}: the value holds a control character (CR, LF, NUL or \
                         another) at character {at}; copy the request from the browser again"
                    ),
                ));
            }
        }
        if let Some(at) = control_at(cookies.expose_secret()) {
            return Err(SessionError::new(
                "cookies",
                format!(
                    "the cookie holds a control character (CR, LF, NUL or another) at character \
                     {at}; copy the request from the browser again"
                ),
            ));
        }
        Ok(Self {
            headers,
            cookies,
            expires_at_ms: None,
        })
    }

    /// From plain strings (a file, a parsed text).
    pub fn from_plain(
        headers: BTreeMap<String, String>,
        cookies: String,
    ) -> Result<Self, SessionError> {
        Self::new(
            headers
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
            SecretString::from(cookies),
        )
    }

    /// From JSON `{"headers":{..},"cookies":".."}` (see `SessionJson` for the other forms).
    pub fn from_json(text: &str) -> Result<Self, SessionError> {
        let j: SessionJson = serde_json::from_str(text)
            .map_err(|e| SessionError::new("body", format!("credentials: {e}")))?;
        let given = match &j.expires_at {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(time_ms(v).ok_or_else(|| {
                SessionError::new("expires_at", "Unix milliseconds or an RFC 3339 time")
            })?),
        };
        let (cookies, from_cookies) = match j.cookies {
            CookiesJson::Header(text) => (text, None),
            CookiesJson::Exported(list) => {
                let ends = list
                    .iter()
                    .filter(|c| SESSION_COOKIES.contains(&c.name.as_str()))
                    .filter_map(|c| c.expiration_date)
                    .filter(|s| s.is_finite() && *s > 0.0)
                    // Whole ms of a time in seconds: far inside an i64.
                    .map(|s| (s * 1000.0) as i64)
                    .min();
                let header = list
                    .iter()
                    .map(|c| format!("{}={}", c.name, c.value))
                    .collect::<Vec<_>>()
                    .join("; ");
                (header, ends)
            }
        };
        let mut session = Self::from_plain(j.headers, cookies)?;
        session.expires_at_ms = given.or(from_cookies);
        Ok(session)
    }

    /// From a browser's "Copy as cURL" text.
    pub fn from_curl(text: &str) -> Result<Self, SessionError> {
        let p = curl::parse(text).map_err(|e| SessionError::new("curl", e))?;
        Self::from_plain(p.headers, p.cookies)
    }

    /// The headers as one JSON object, in memory that is zeroed when dropped.
    pub fn headers_json(&self) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
        let map: BTreeMap<&str, &str> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        serde_json::to_vec(&map).map(Zeroizing::new)
    }
}
