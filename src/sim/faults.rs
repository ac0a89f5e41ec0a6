//! Fault injection: what can go wrong between the daemon and the exchange, switched on at
//! start (`--faults`) or at run time (`POST /sim/faults`), each with a rate (the chance per
//! request or per frame, drawn from the seeded generator) and a duration.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Close WebSocket connections.
    DropWs,
    /// Keep WebSocket connections open but send nothing.
    StallWs,
    /// Answer HTTP 429 with Retry-After.
    #[serde(rename = "http_429")]
    Http429,
    /// Answer HTTP 503.
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// Answer after a delay (`slow_ms`).
    Slow,
    /// Carry out a place request, then lose the answer (HTTP 504).
    AmbiguousPlace,
    /// Send stream frames twice.
    DupEvents,
    /// Send stream frames out of order.
    ReorderEvents,
    /// Lose order reports (all, or only those of the spec's `order`), the connection kept:
    /// what a frame lost between the exchange and its stream gateway looks like.
    LoseEvents,
    /// Expire the account's session.
    ExpireSession,
    /// Invalidate the account's listen key.
    ExpireListenKey,
    /// Hold place requests for a 2FA challenge.
    TwoFactor,
    /// Refuse place requests until a face or phone check is passed.
    FaceCheck,
    /// Leave LOT_SIZE out of exchangeInfo: no usable precision.
    NoPrecision,
}

impl FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            format!(
                "unknown fault {s:?}: use drop_ws, stall_ws, http_429, http_5xx, slow, ambiguous_place, \
                 dup_events, reorder_events, lose_events, expire_session, expire_listen_key, two_factor, \
                 face_check or no_precision"
            )
        })
    }
}

/// One fault as the admin surface takes it:
/// `{"kind":K,"rate":0..1,"for_s":N,"account":ID,"order":ID}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub rate: f64,
    /// How long the fault stays on; absent means until cleared.
    #[serde(default)]
    pub for_s: Option<u64>,
    /// Only this account (absent: every account).
    #[serde(default)]
    pub account: Option<u64>,
    /// Only this order's reports (`lose_events`; absent: every order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u64>,
    /// Only an account's HTTP requests whose path holds this text (absent: every request),
    /// so that one endpoint can fail while the others answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

fn one() -> f64 {
    1.0
}

impl FaultSpec {
    /// Parses the command-line form `kind[:rate[:for_s]]`, several separated by commas.
    pub fn parse_list(spec: &str) -> Result<Vec<FaultSpec>, String> {
        spec.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                let mut parts = item.split(':');
                let kind = parts.next().unwrap_or_default().parse()?;
                let rate = match parts.next() {
                    Some(r) => r
                        .parse::<f64>()
                        .map_err(|_| format!("bad rate in {item:?}"))?,
                    None => 1.0,
                };
                let for_s = match parts.next() {
                    Some(s) => Some(
                        s.parse::<u64>()
                            .map_err(|_| format!("bad duration in {item:?}"))?,
                    ),
                    None => None,
                };
                let spec = FaultSpec {
                    kind,
                    rate,
                    for_s,
                    account: None,
                    order: None,
                    path: None,
                };
                spec.validate()?;
                Ok(spec)
            })
            .collect()
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!("rate {} is not between 0 and 1", self.rate));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Active {
    spec: FaultSpec,
    until_ms: Option<i64>,
}

/// The faults in force and the generator that decides when they strike.
#[derive(Debug)]
pub struct Faults {
    active: Vec<Active>,
    rng: Rng,
    /// Delay of the `slow` fault.
    pub slow_ms: u64,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Self {
            active: Vec::new(),
            rng: Rng::new(seed ^ 0xFA17),
            slow_ms: 3_000,
        }
    }

    pub fn add(&mut self, spec: FaultSpec, now_ms: i64) {
        let until_ms = spec.for_s.map(|s| now_ms + (s as i64) * 1000);
        self.active.push(Active { spec, until_ms });
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    pub fn list(&self) -> Vec<FaultSpec> {
        self.active.iter().map(|a| a.spec.clone()).collect()
    }

    /// Whether `kind` strikes now for `account` (None: a request of no account).
    pub fn strikes(&mut self, kind: FaultKind, account: Option<u64>, now_ms: i64) -> bool {
        self.strikes_request(kind, account, None, now_ms)
    }

    /// Whether `kind` strikes now for a request of `account` to `path` (None: no HTTP
    /// request, which a spec limited to a path never strikes).
    pub fn strikes_request(
        &mut self,
        kind: FaultKind,
        account: Option<u64>,
        path: Option<&str>,
        now_ms: i64,
    ) -> bool {
        self.active
            .retain(|a| a.until_ms.is_none_or(|u| now_ms < u));
        let rate = self
            .active
            .iter()
            .filter(|a| a.spec.kind == kind)
            .filter(|a| a.spec.account.is_none() || a.spec.account == account)
            .filter(|a| {
                a.spec
                    .path
                    .as_deref()
                    .is_none_or(|want| path.is_some_and(|p| p.contains(want)))
            })
            .map(|a| a.spec.rate)
            .fold(0.0_f64, f64::max);
        rate > 0.0 && self.rng.chance(rate)
    }

    /// Whether `kind` strikes now for a report of `order` of `account`.
    pub fn strikes_order(
        &mut self,
        kind: FaultKind,
        account: u64,
        order: u64,
        now_ms: i64,
    ) -> bool {
        self.active
            .retain(|a| a.until_ms.is_none_or(|u| now_ms < u));
        let rate = self
            .active
            .iter()
            .filter(|a| a.spec.kind == kind)
            .filter(|a| a.spec.account.is_none_or(|x| x == account))
            .filter(|a| a.spec.order.is_none_or(|x| x == order))
            .map(|a| a.spec.rate)
            .fold(0.0_f64, f64::max);
        rate > 0.0 && self.rng.chance(rate)
    }

    /// Whether `kind` is in force for anyone.
    pub fn any(&mut self, kind: FaultKind, now_ms: i64) -> bool {
        self.active
            .retain(|a| a.until_ms.is_none_or(|u| now_ms < u));
        self.active.iter().any(|a| a.spec.kind == kind)
    }

    /// Whether `kind` is in force at all (for faults that last rather than strike).
    pub fn active(&mut self, kind: FaultKind, account: Option<u64>, now_ms: i64) -> bool {
        self.active
            .retain(|a| a.until_ms.is_none_or(|u| now_ms < u));
        self.active
            .iter()
            .any(|a| a.spec.kind == kind && (a.spec.account.is_none() || a.spec.account == account))
    }
}
