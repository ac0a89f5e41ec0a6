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
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("cookies", &"[REDACTED]")
            .finish()
    }
}

/// Where a credential holds a control character (1-based), if it does: such a value can only
/// break or smuggle a request line, never be a real session.
fn control_at(text: &str) -> Option<usize> {
    text.chars().position(char::is_control).map(|i| i + 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionJson {
    headers: BTreeMap<String, String>,
    cookies: String,
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
        Ok(Self { headers, cookies })
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

    /// From JSON `{"headers":{..},"cookies":".."}`.
    pub fn from_json(text: &str) -> Result<Self, SessionError> {
        let j: SessionJson = serde_json::from_str(text)
            .map_err(|e| SessionError::new("body", format!("credentials: {e}")))?;
        Self::from_plain(j.headers, j.cookies)
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
