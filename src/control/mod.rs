//! The command line as a client of the control API (`alpha-oto account ...`, `alpha-oto
//! halt`): requests, the API's problem answers as clear errors, and tables for people.

pub mod fleet;

use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "cannot reach the control API at {url}: {reason} (is `alpha-oto serve` running? see --api-listen)"
    )]
    Connect { url: String, reason: String },
    #[error("{detail} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        detail: String,
        /// An import's bad rows, as the API named them.
        rows: Option<Value>,
    },
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// The command line's exit codes, one per kind of failure, for scripts.
pub mod exit {
    /// Any failure without a code of its own.
    pub const FAILURE: u8 = 1;
    /// A kill or halt the exchange did not confirm with nothing left open.
    pub const NOT_VERIFIED: u8 = 2;
    /// The account, file or database named does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// The request was understood and refused (invalid input, a conflict with the account's
    /// state, a limit).
    pub const REFUSED: u8 = 4;
    /// The control API could not be reached or could not answer.
    pub const UNREACHABLE: u8 = 5;
    /// The API token is missing or wrong.
    pub const UNAUTHORIZED: u8 = 6;
    /// The command line itself is wrong (sysexits' EX_USAGE).
    pub const USAGE: u8 = 64;
    /// The configuration is invalid (sysexits' EX_CONFIG).
    pub const CONFIG: u8 = 78;
}

impl ControlError {
    /// The exit code this failure gives the command.
    pub fn exit_code(&self) -> u8 {
        match self {
            ControlError::Connect { .. } => exit::UNREACHABLE,
            ControlError::Api { status: 401, .. } => exit::UNAUTHORIZED,
            ControlError::Api { status: 404, .. } => exit::NOT_FOUND,
            ControlError::Api { status, .. } if *status >= 500 => exit::UNREACHABLE,
            ControlError::Api { .. } => exit::REFUSED,
            ControlError::Decode(_) => exit::FAILURE,
        }
    }

    /// The failure as `--json` prints it.
    pub fn to_json(&self) -> Value {
        match self {
            ControlError::Api {
                status,
                code,
                detail,
                rows,
            } => {
                let mut e = json!({"code": code, "status": status, "detail": detail});
                if let Some(rows) = rows {
                    e["rows"] = rows.clone();
                }
                json!({ "error": e })
            }
            ControlError::Connect { .. } => {
                json!({"error": {"code": "unreachable", "detail": self.to_string()}})
            }
            ControlError::Decode(_) => {
                json!({"error": {"code": "bad_answer", "detail": self.to_string()}})
            }
        }
    }
}

pub enum Body {
    Json(Value),
    Text(String),
}

pub struct Client {
    base: String,
    token: Option<String>,
    http: awc::Client,
}

impl Client {
    /// `listen` is the API's HOST:PORT (or a full http:// URL).
    pub fn new(listen: &str, token: Option<String>) -> Self {
        let base = if listen.starts_with("http://") || listen.starts_with("https://") {
            listen.trim_end_matches('/').to_owned()
        } else {
            format!("http://{listen}")
        };
        Self {
            base,
            token,
            http: awc::Client::builder()
                .timeout(Duration::from_secs(60))
                // Idle connections are dropped well before the daemon would close them (75 s).
                .connector(
                    awc::Connector::new()
                        .max_http_version(awc::http::Version::HTTP_11)
                        .conn_keep_alive(Duration::from_secs(10)),
                )
                .finish(),
        }
    }

    /// Sends one request; a problem answer becomes an `Api` error.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Body>,
    ) -> Result<actix_web::web::Bytes, ControlError> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "POST" => self.http.post(&url),
            "PUT" => self.http.put(&url),
            "PATCH" => self.http.patch(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.get(&url),
        };
        if let Some(t) = &self.token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let sent = match body {
            Some(Body::Json(v)) => req.send_json(&v).await,
            Some(Body::Text(t)) => req.content_type("text/plain").send_body(t).await,
            None => req.send().await,
        };
        let mut res = sent.map_err(|e| ControlError::Connect {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = res.status().as_u16();
        let bytes = res
            .body()
            .limit(64 << 20)
            .await
            .map_err(|e| ControlError::Decode(e.to_string()))?;
        if status >= 400 {
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let mut detail = value["detail"].as_str().unwrap_or("no detail").to_owned();
            let rows = value.get("rows").cloned();
            for r in rows.iter().filter_map(Value::as_array).flatten() {
                detail.push_str(&format!(
                    "\n  line {} ({}): {}: {}",
                    s(&r["line"]),
                    s(&r["name"]),
                    s(&r["field"]),
                    s(&r["reason"])
                ));
            }
            return Err(ControlError::Api {
                status,
                code: value["code"].as_str().unwrap_or("unknown").to_owned(),
                detail,
                rows,
            });
        }
        Ok(bytes)
    }

    /// One request answered with JSON (or nothing).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Body>,
    ) -> Result<Value, ControlError> {
        let bytes = self.send(method, path, body).await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| ControlError::Decode(e.to_string()))
    }

    /// One request answered with text (an export).
    pub async fn call_text(&self, method: &str, path: &str) -> Result<String, ControlError> {
        let bytes = self.send(method, path, None).await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| ControlError::Decode(e.to_string()))
    }
}

pub use crate::accounts_file::offset;

/// `KEY=VALUE` for a setting, typed as the API takes the field (`accounts_file::typed`).
pub fn setting(pair: &str) -> Result<(String, Value), String> {
    let (k, v) = pair
        .split_once('=')
        .ok_or_else(|| format!("{pair:?} is not KEY=VALUE"))?;
    let k = k.trim().to_owned();
    let value = crate::accounts_file::typed(&k, v)?;
    Ok((k, value))
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A name as one URL path segment: every byte but `A-Z a-z 0-9 - . _ ~` percent-encoded, so
/// a name such as `x/start?` can never address another route.
pub fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One kill report as a line: the exchange's word, or why there is none.
pub fn kill_line(r: &Value) -> String {
    let name = s(&r["account"]);
    let why = r["error"]
        .as_str()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    match r["outcome"].as_str() {
        Some("verified") => format!(
            "{name}: killed; the exchange shows {} order(s) open{why}",
            s(&r["open_left"])
        ),
        Some("unverified") => format!(
            "{name}: killed but NOT VERIFIED: the exchange could not be asked; the store believes \
             {} order(s) open{why}; the account keeps trying",
            s(&r["open_left"])
        ),
        Some("pending") => format!(
            "{name}: kill recorded, PENDING on {}{why}",
            r["owner"]
                .as_str()
                .unwrap_or("the next instance to hold it")
        ),
        _ => format!("{name}: {r}"),
    }
}

/// A start, pause, resume or stop answer as a line.
pub fn ack_line(v: &Value) -> String {
    let (name, action) = (s(&v["account"]), s(&v["action"]));
    match v["outcome"].as_str() {
        Some("pending") => format!(
            "{name}: {action} recorded, pending on {}",
            v["owner"]
                .as_str()
                .unwrap_or("the next instance to hold the account")
        ),
        _ => format!("{name}: {action}"),
    }
}

/// A halt's answer: a summary line, then every account that is not verified clean.
pub fn halt_text(v: &Value) -> String {
    let reports = v["accounts"].as_array().cloned().unwrap_or_default();
    let mut out = format!(
        "halted {} account(s): {} verified, {} NOT verified, {} pending; {} order(s) open\n",
        reports.len(),
        s(&v["verified"]),
        s(&v["unverified"]),
        s(&v["pending"]),
        s(&v["open_left"])
    );
    for r in reports {
        if !(r["outcome"] == "verified" && r["open_left"] == 0) {
            out.push_str(&kill_line(&r));
            out.push('\n');
        }
    }
    out
}

/// Accounts as a table.
pub fn accounts_table(list: &Value) -> String {
    let mut out = format!(
        "{:<20} {:<7} {:<15} {:<22} {:>12} {:>12} {:>7} {:>7} {:>7}\n",
        "name", "token", "state", "pause reason", "volume", "target", "pct", "cycles", "points"
    );
    for a in list.as_array().into_iter().flatten() {
        let p = &a["progress"];
        out.push_str(&format!(
            "{:<20} {:<7} {:<15} {:<22} {:>12} {:>12} {:>7} {:>7} {:>7}\n",
            s(&a["name"]),
            s(&a["token"]),
            s(&a["state"]),
            s(&a["pause_reason"]),
            s(&p["volume_today"]),
            s(&p["target"]),
            s(&p["percent"]),
            s(&p["cycles_done"]),
            points_of(&a["points"])
        ));
    }
    out
}

/// The token scores (`alpha-oto tokens`) as a table.
pub fn tokens_table(list: &Value) -> String {
    let mut out = format!(
        "{:<10} {:<6} {:<12} {:>5} {:>10} {:>16} {:>10}  {}\n",
        "symbol", "chain", "alpha id", "mul", "range bps", "volume 24h", "bps/count", "eligible"
    );
    for t in list.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<10} {:<6} {:<12} {:>5} {:>10} {:>16} {:>10}  {}\n",
            s(&t["symbol"]),
            s(&t["chain_id"]),
            s(&t["alpha_id"]),
            s(&t["mul_point"]),
            s(&t["range_24h_bps"]),
            s(&t["volume_24h"]),
            s(&t["cost_bps_per_counted"]),
            match &t["ineligible"] {
                Value::Null => "yes".to_owned(),
                why => format!("no: {}", s(why)),
            }
        ));
    }
    out
}

/// Points today, and of the target when the target is in points: `12/12`, or `7`.
fn points_of(p: &Value) -> String {
    match (&p["today"], &p["target"]) {
        (Value::Null, _) => "-".into(),
        (today, Value::Null) => s(today),
        (today, target) => format!("{}/{}", s(today), s(target)),
    }
}

/// One account, as `key: value` lines.
pub fn account_text(a: &Value) -> String {
    let p = &a["progress"];
    let mut out = String::new();
    for (k, v) in [
        ("name", &a["name"]),
        ("token", &a["token"]),
        ("state", &a["state"]),
        ("phase", &a["phase"]),
        ("pause reason", &a["pause_reason"]),
        ("volume today", &p["volume_today"]),
        ("target", &p["target"]),
        ("percent", &p["percent"]),
        ("cycles done", &p["cycles_done"]),
        ("cycles remaining", &p["cycles_remaining"]),
        ("points today", &a["points"]["today"]),
        ("points target", &a["points"]["target"]),
        ("counted volume", &a["points"]["counted_volume"]),
        ("real volume", &a["points"]["real_volume"]),
        ("mul point", &a["points"]["mul_point"]),
        ("cost per point", &a["points"]["cost_per_point_usdt"]),
        ("stream up", &a["stream_up"]),
        ("credentials", &a["has_credentials"]),
        ("failure", &a["failure"]),
    ] {
        out.push_str(&format!("{k:>17}: {}\n", s(v)));
    }
    if let Some(settings) = a["settings"].as_object() {
        out.push_str("         settings:\n");
        for (k, v) in settings {
            out.push_str(&format!("{:>17}  {k} = {}\n", "", s(v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_offsets_from_the_command_line() {
        assert_eq!(offset("0.1%"), json!({"mode": "percent", "value": "0.1"}));
        assert_eq!(
            offset("-0.0001"),
            json!({"mode": "amount", "value": "-0.0001"})
        );
        assert_eq!(setting("order_timeout_s=60").unwrap().1, json!(60));
        assert_eq!(setting("volatility_pct=3").unwrap().1, json!("3"));
        assert_eq!(setting("auto_resume=true").unwrap().1, json!(true));
        assert_eq!(setting("buy_offset=-1%").unwrap().1, offset("-1%"));
        assert!(setting("nonsense").is_err());
    }

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(segment("alice-1.b_c"), "alice-1.b_c");
        assert_eq!(segment("x/start?"), "x%2Fstart%3F");
        assert_eq!(segment("a b#%"), "a%20b%23%25");
    }

    #[test]
    fn an_unverified_kill_never_reads_as_nothing_open() {
        let r = json!({"account": "a", "outcome": "unverified", "open_left": 2,
            "error": "the exchange answered 503"});
        let line = kill_line(&r);
        assert!(
            line.contains("NOT VERIFIED") && line.contains('2'),
            "{line}"
        );
        let halt = json!({"accounts": [r, {"account": "b", "outcome": "verified", "open_left": 0}],
            "verified": 1, "unverified": 1, "pending": 0, "open_left": 2});
        let text = halt_text(&halt);
        assert!(
            text.contains("1 NOT verified") && text.contains("a: killed but NOT VERIFIED"),
            "{text}"
        );
        assert!(!text.contains("b: "), "{text}");
    }
}
