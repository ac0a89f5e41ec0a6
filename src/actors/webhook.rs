//! Notifications (R13, R14, R16-R19): every event worth a person's attention is an event row;
//! where the account has a webhook URL, it is also POSTed there as JSON, a few times with a
//! pause between, and the row records whether it was delivered.
//!
//! A webhook goes only where the operator means it to: http(s), never a redirect, and never to
//! a loopback, private, link-local (cloud metadata) or otherwise internal address unless the
//! host is allowed by name (`[webhooks] allow_hosts`). Names are checked on the addresses they
//! resolve to, by the connector itself, so no later lookup can point them elsewhere. Each POST
//! is signed: `X-Alpha-Oto-Signature: t=<unix ms>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed
//! by the account's webhook secret (`alpha-oto webhook-secret NAME`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use secrecy::zeroize::Zeroizing;
use slog::{Logger, warn};

use crate::store::Store;
use crate::store::models::WebhookStatus;
use crate::telemetry::fields;

/// The purpose string of the key that webhook secrets derive from.
pub const SIGNING_PURPOSE: &str = "alpha-oto webhook signing v1";
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Alpha-Oto-Signature";

#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    log: Logger,
    timeout: Duration,
    policy: Arc<AddressPolicy>,
}

/// Where webhooks may go and what signs them.
pub struct AddressPolicy {
    /// Hosts (as written in URLs, lower case) allowed although internal.
    pub allow_hosts: Vec<String>,
    /// The key account secrets derive from; `None` without a master key (unsigned).
    pub signing_key: Option<Zeroizing<Vec<u8>>>,
}

const ATTEMPTS: u32 = 3;

/// Whether an address is internal: loopback, private, link-local (169.254.169.254, the cloud
/// metadata service, among them), shared (CGNAT), unspecified, multicast or broadcast, in
/// IPv4 or IPv6 (an IPv4-mapped IPv6 address is judged as its IPv4 address).
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
        }
    }
}

/// The account's webhook secret, as the operator gives it to the receiver.
pub fn account_secret(signing_key: &[u8], account: &str) -> String {
    format!(
        "whsec_{}",
        hex::encode(mac(signing_key, format!("account:{account}").as_bytes()))
    )
}

/// The signature header's value for `body` sent at `at_ms`.
pub fn signature(secret: &str, at_ms: i64, body: &[u8]) -> String {
    let mut message = format!("{at_ms}.").into_bytes();
    message.extend_from_slice(body);
    format!(
        "t={at_ms},v1={}",
        hex::encode(mac(secret.as_bytes(), &message))
    )
}

fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
    use orion::hazardous::mac::hmac::sha256::{HmacSha256, SecretKey};
    // HMAC takes a key of any length (hashed past the block size): this never fails.
    SecretKey::from_slice(key)
        .ok()
        .and_then(|k| HmacSha256::hmac(&k, message).ok())
        .map(|t| t.unprotected_as_bytes().to_vec())
        .unwrap_or_default()
}

/// Resolves a webhook host and keeps only the addresses it may use.
struct PublicOnly {
    allow_hosts: Vec<String>,
}

impl actix_tls::connect::Resolve for PublicOnly {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>>
    {
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            let allowed = self
                .allow_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host));
            let usable: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| allowed || !internal(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(format!(
                    "{host} resolves only to internal addresses: allow it in [webhooks] allow_hosts"
                )
                .into());
            }
            Ok(usable)
        })
    }
}

impl Webhooks {
    /// Sends what an earlier run left undelivered (the process stopped between storing an
    /// event and its POST), to each account's current webhook URL. Only events stored before
    /// `before_ms` (this run's start): this run's own are being posted already.
    pub async fn resend_pending(&self, before_ms: i64) {
        let pending = match self
            .store
            .run(|c| crate::store::events::webhook_pending(c, 500))
            .await
        {
            Ok(p) => p,
            Err(e) => {
                warn!(self.log, "cannot read undelivered webhooks"; "error.message" => e.to_string());
                return;
            }
        };
        for event in pending.into_iter().filter(|e| e.created_at_ms < before_ms) {
            let Some(account_id) = event.account_id else {
                continue;
            };
            let target = self
                .store
                .run(move |c| {
                    let name = crate::store::accounts::get(c, account_id)?.name;
                    Ok(crate::store::configs::get(c, account_id)?
                        .and_then(|row| crate::store::configs::from_row(&row).ok())
                        .and_then(|s| s.webhook_url)
                        .map(|url| (url, name)))
                })
                .await
                .ok()
                .flatten();
            let body = serde_json::from_str(&event.data).unwrap_or(serde_json::Value::Null);
            match target {
                Some((url, name)) => self.post(url, &name, event.id, body),
                None => {
                    // The URL was removed since: nothing to deliver to.
                    let id = event.id;
                    let _ = self
                        .store
                        .run(move |c| {
                            crate::store::events::set_webhook_status(c, id, WebhookStatus::None)
                        })
                        .await;
                }
            }
        }
    }

    pub fn new(store: Store, log: Logger, policy: AddressPolicy) -> Self {
        Self {
            store,
            log,
            timeout: Duration::from_secs(5),
            policy: Arc::new(policy),
        }
    }

    /// Why `url` may not be posted to before any lookup: a scheme other than http(s), or an
    /// internal address written as a literal and not allowed by name.
    fn refused(&self, url: &str) -> Option<String> {
        let parsed = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return Some(format!("not a URL: {e}")),
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            return Some("only http and https webhooks are sent".into());
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some((ip.to_string(), IpAddr::V4(ip))),
            Some(url::Host::Ipv6(ip)) => Some((ip.to_string(), IpAddr::V6(ip))),
            Some(url::Host::Domain(_)) => None,
            None => return Some("the URL has no host".into()),
        };
        match host {
            Some((text, ip))
                if internal(ip)
                    && !self
                        .policy
                        .allow_hosts
                        .iter()
                        .any(|h| h.trim_matches(['[', ']']).eq_ignore_ascii_case(&text)) =>
            {
                Some(format!(
                    "{text} is an internal address: allow it in [webhooks] allow_hosts"
                ))
            }
            _ => None,
        }
    }

    /// Sends `body` to `url` in the background, signed for `account`, and records the outcome
    /// on event `event_id`.
    pub fn post(&self, url: String, account: &str, event_id: i64, body: serde_json::Value) {
        let this = self.clone();
        let secret = this
            .policy
            .signing_key
            .as_ref()
            .map(|k| Zeroizing::new(account_secret(k, account)));
        actix_rt::spawn(async move {
            let mut status = WebhookStatus::Failed;
            let mut last_error = this.refused(&url).unwrap_or_default();
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            if last_error.is_empty() {
                // HTTP/1.1 only, as for the exchange (see `exchange::rest`).
                let connector = awc::Connector::new()
                    .max_http_version(awc::http::Version::HTTP_11)
                    .connector(
                        actix_tls::connect::Connector::new(actix_tls::connect::Resolver::custom(
                            PublicOnly {
                                allow_hosts: this.policy.allow_hosts.clone(),
                            },
                        ))
                        .service(),
                    );
                let client = awc::Client::builder()
                    .connector(connector)
                    .timeout(this.timeout)
                    .disable_redirects()
                    .finish();
                for attempt in 0..ATTEMPTS {
                    let mut req = client.post(url.as_str()).content_type("application/json");
                    if let Some(secret) = &secret {
                        let at = chrono::Utc::now().timestamp_millis();
                        req = req.insert_header((SIGNATURE_HEADER, signature(secret, at, &bytes)));
                    }
                    match req.send_body(bytes.clone()).await {
                        Ok(res) if res.status().is_success() => {
                            status = WebhookStatus::Sent;
                            break;
                        }
                        Ok(res) => last_error = format!("HTTP {}", res.status().as_u16()),
                        Err(e) => last_error = e.to_string(),
                    }
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
            }
            if status == WebhookStatus::Failed {
                warn!(this.log, "webhook not delivered"; fields::EVENT_ACTION => "webhook-post",
                    fields::EVENT_OUTCOME => "failure", "error.message" => last_error,
                    "event.id" => event_id);
            }
            let _ = this
                .store
                .run(move |c| crate::store::events::set_webhook_status(c, event_id, status))
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_told_apart_from_public_ones() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_signature_covers_the_time_and_the_body() {
        let secret = account_secret(b"key", "alice");
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64);
        assert_ne!(secret, account_secret(b"key", "bob"));
        assert_ne!(secret, account_secret(b"other", "alice"));
        let s = signature(&secret, 1_700_000_000_000, b"{\"a\":1}");
        assert!(s.starts_with("t=1700000000000,v1="), "{s}");
        assert_ne!(s, signature(&secret, 1_700_000_000_001, b"{\"a\":1}"));
        assert_ne!(s, signature(&secret, 1_700_000_000_000, b"{\"a\":2}"));
        // HMAC-SHA256 as any receiver computes it (RFC 4231 test case 2).
        assert_eq!(
            hex::encode(mac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
