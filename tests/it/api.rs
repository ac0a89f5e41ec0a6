//! The control API over real sockets, on an engine trading against the simulator.

use std::time::Duration;

use actix_web::web;
use alpha_oto::api::{self, ApiState};
use alpha_oto::sim::server::SimHandle;
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::trading::harness;

pub(crate) const TOKEN: &str = "test-token-0123456789";

/// Every log line of the engine under test, as written.
#[derive(Clone, Default)]
pub(crate) struct LogBuf(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) struct Api {
    pub(crate) base: String,
    pub(crate) sim: SimHandle,
    pub(crate) logs: LogBuf,
    db: TestDb,
    _server: actix_web::dev::ServerHandle,
}

/// A simulator, an empty database, an engine and the API on port 0.
pub(crate) async fn api() -> Api {
    api_with(|_, _| {}).await
}

/// `api()` with the engine's configuration and timings changed first.
pub(crate) async fn api_with(
    tweak: impl FnOnce(&mut alpha_oto::config::Config, &mut alpha_oto::actors::Timing),
) -> Api {
    let sim = harness::sim(501).await;
    let db = TestDb::migrated();
    let vault = harness::vault_of(&alpha_oto::vault::generate_key_line(chrono::Utc::now()));
    let logs = LogBuf::default();
    let logger = {
        use slog::Drain;
        let drain = std::sync::Mutex::new(alpha_oto::telemetry::ecs_json(logs.clone())).fuse();
        slog::Logger::root(drain, slog::o!())
    };
    let mut config = harness::config(&sim, "api-test");
    let mut timing = harness::fast_timing();
    tweak(&mut config, &mut timing);
    let (sup, ctx) = alpha_oto::daemon::engine(
        &config,
        db.store.clone(),
        Some(vault),
        logger,
        timing,
        alpha_oto::clock::Clock::default(),
    )
    .await;
    let state = web::Data::new(ApiState::new(
        ctx,
        sup,
        vec![api::auth::hash(TOKEN).unwrap()],
    ));
    let (addr, server) = api::start("127.0.0.1:0", state).unwrap();
    Api {
        base: format!("http://{addr}"),
        sim,
        logs,
        db,
        _server: server,
    }
}

impl Api {
    pub(crate) fn db(&self) -> &TestDb {
        &self.db
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Body>,
    ) -> (u16, String, Value) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(20))
            .finish();
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "POST" => client.post(url),
            "PUT" => client.put(url),
            "PATCH" => client.patch(url),
            "DELETE" => client.delete(url),
            _ => client.get(url),
        };
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut res = match body {
            Some(Body::Json(v)) => req.send_json(&v).await.unwrap(),
            Some(Body::Text(t, ct)) => req.content_type(ct).send_body(t).await.unwrap(),
            None => req.send().await.unwrap(),
        };
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = res.body().limit(1 << 24).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            res.status().as_u16(),
            ct,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    pub(crate) async fn ok(&self, method: &str, path: &str, body: Option<Body>) -> (u16, Value) {
        let (s, _, v) = self.call(method, path, Some(TOKEN), body).await;
        (s, v)
    }

    /// Creates an account over the API with the simulator's credentials for a new funded
    /// account; returns the simulator's id.
    pub(crate) async fn account(&self, name: &str, token: &str, target: &str) -> u64 {
        let mut body = serde_json::to_value(harness::settings(token, "10", target)).unwrap();
        body["name"] = json!(name);
        let (s, v) = self
            .ok("POST", "/api/v1/accounts", Some(Body::Json(body)))
            .await;
        assert_eq!(s, 201, "{v}");
        self.fund(name).await
    }

    /// Stores the credentials of a new funded simulator account for `name`; returns the
    /// simulator's id.
    pub(crate) async fn fund(&self, name: &str) -> u64 {
        let creds = self
            .sim
            .state
            .with(|st| st.engine.create_account("100000".parse().unwrap()));
        let (s, v) = self
            .ok(
                "PUT",
                &format!("/api/v1/accounts/{name}/credentials"),
                Some(Body::Json(
                    json!({"headers": creds.headers, "cookies": creds.cookies}),
                )),
            )
            .await;
        assert_eq!(s, 204, "{v}");
        creds.id
    }

    pub(crate) async fn wait_state(&self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, v) = self
                .ok("GET", &format!("/api/v1/accounts/{name}"), None)
                .await;
            if pred(&v) {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "{v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub(crate) enum Body {
    Json(Value),
    Text(String, &'static str),
}

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/accounts"),
    ("POST", "/api/v1/accounts"),
    ("GET", "/api/v1/accounts/a1"),
    ("DELETE", "/api/v1/accounts/a1"),
    ("PATCH", "/api/v1/accounts/a1/config"),
    ("PUT", "/api/v1/accounts/a1/credentials"),
    ("POST", "/api/v1/accounts/a1/start"),
    ("POST", "/api/v1/accounts/a1/pause"),
    ("POST", "/api/v1/accounts/a1/resume"),
    ("POST", "/api/v1/accounts/a1/stop"),
    ("POST", "/api/v1/accounts/a1/kill"),
    ("GET", "/api/v1/accounts/a1/orders"),
    ("GET", "/api/v1/accounts/a1/cycles"),
    ("GET", "/api/v1/accounts/a1/fills"),
    ("GET", "/api/v1/accounts/a1/events"),
    ("GET", "/api/v1/accounts/a1/balance"),
    ("POST", "/api/v1/halt"),
    ("GET", "/api/v1/tokens"),
    ("PUT", "/api/v1/accounts/a1/tags"),
    ("GET", "/api/v1/accounts-file"),
    ("POST", "/api/v1/accounts-file"),
    ("POST", "/api/v1/accounts/actions"),
    ("GET", "/api/v1/profiles"),
    ("POST", "/api/v1/profiles"),
    ("GET", "/api/v1/profiles/a1"),
    ("PATCH", "/api/v1/profiles/a1"),
    ("DELETE", "/api/v1/profiles/a1"),
    ("GET", "/api/v1/events/stream"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

#[actix_web::test]
async fn every_route_needs_a_token_but_health() {
    let a = api().await;
    for (m, p) in ROUTES {
        for token in [None, Some("wrong-token-0123456789"), Some("short")] {
            let (s, ct, v) = a.call(m, p, token, None).await;
            assert_eq!(s, 401, "{m} {p} with {token:?}: {v}");
            assert!(ct.starts_with("application/problem+json"), "{m} {p}: {ct}");
            assert_eq!(v["code"], "unauthorized");
        }
    }
    for p in ["/healthz", "/readyz"] {
        let (s, _, v) = a.call("GET", p, None, None).await;
        assert_eq!(s, 200, "{p}: {v}");
    }
    let (_, _, ready) = a.call("GET", "/readyz", None, None).await;
    assert_eq!(
        (ready["database"].as_bool(), ready["cache"].as_str()),
        (Some(true), Some("memory")),
        "{ready}"
    );
}

/// Every action has its effect on a running account; the listings show what it did.
#[actix_web::test]
async fn accounts_are_created_started_paused_resumed_stopped_and_killed_over_the_api() {
    let a = api().await;
    let sim_id = a.account("a1", "KOGE", "100000").await;
    let (s, v) = a.ok("GET", "/api/v1/accounts/a1", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (v["state"].as_str(), v["token"].as_str()),
        (Some("stopped"), Some("KOGE")),
        "{v}"
    );
    assert_eq!(v["has_credentials"], true);

    assert_eq!(a.ok("POST", "/api/v1/accounts/a1/start", None).await.0, 202);
    let v = a
        .wait_state("a1", |v| {
            v["state"] == "trading" && v["progress"]["cycles_done"].as_u64() >= Some(2)
        })
        .await;
    assert!(
        v["progress"]["volume_today"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    assert_eq!(v["progress"]["target"], "100000");

    assert_eq!(a.ok("POST", "/api/v1/accounts/a1/pause", None).await.0, 202);
    a.wait_state("a1", |v| {
        v["state"] == "paused" && v["pause_reason"] == "operator"
    })
    .await;
    assert_eq!(
        a.ok("POST", "/api/v1/accounts/a1/resume", None).await.0,
        202
    );
    a.wait_state("a1", |v| v["state"] == "trading").await;

    for listing in ["orders", "cycles", "fills", "events"] {
        let (s, v) = a
            .ok(
                "GET",
                &format!("/api/v1/accounts/a1/{listing}?limit=5"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{listing}: {v}");
        let rows = v.as_array().unwrap();
        assert!(!rows.is_empty() && rows.len() <= 5, "{listing}: {v}");
    }
    let (s, v) = a.ok("GET", "/api/v1/accounts/a1/balance", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["asset"], "USDT");

    let (s, v) = a.ok("POST", "/api/v1/accounts/a1/kill", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["outcome"].as_str(), v["open_left"].as_u64()),
        (Some("verified"), Some(0)),
        "{v}"
    );
    // A killed account is not resumed by a resume meant for a pause: only a start.
    let (s, v) = a.ok("POST", "/api/v1/accounts/a1/resume", None).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("killed")), "{v}");
    a.wait_state("a1", |v| v["state"] == "stopped").await;
    let open = a.sim.state.with(|s| {
        s.engine
            .orders
            .values()
            .filter(|o| o.account == sim_id && !o.status.is_final())
            .count()
    });
    assert_eq!(open, 0);

    // Start again, then stop: the live pair ends and nothing new is placed.
    assert_eq!(a.ok("POST", "/api/v1/accounts/a1/start", None).await.0, 202);
    a.wait_state("a1", |v| v["state"] == "trading").await;
    let (s, v) = a.ok("POST", "/api/v1/accounts/a1/stop", None).await;
    assert_eq!((s, v["outcome"].as_str()), (202, Some("delivered")), "{v}");
    assert_eq!(v["owner"], "api-test");
    a.wait_state("a1", |v| v["state"] == "stopped").await;

    let (s, v) = a.ok("POST", "/api/v1/halt", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["open_left"].as_u64(),
            v["verified"].as_u64(),
            v["clean"].as_bool()
        ),
        (Some(0), Some(1), Some(true)),
        "{v}"
    );
    let (s, v) = a.ok("GET", "/api/v1/accounts", None).await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 1));
}

/// A config change is validated whole and takes effect on the running account.
/// The list of accounts filtered, sorted and paged, with the count the filters select.
#[actix_web::test]
async fn the_account_list_filters_sorts_and_pages() {
    let a = api().await;
    for (name, token) in [
        ("wave-b", "NEX"),
        ("wave-a", "NEX"),
        ("solo", "KOGE"),
        ("Wave-c", "KOGE"),
    ] {
        let mut body = serde_json::to_value(harness::settings(token, "10", "100")).unwrap();
        body["name"] = json!(name);
        let (s, v) = a
            .ok("POST", "/api/v1/accounts", Some(Body::Json(body)))
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // No query: every account, in the order they were made.
    let (s, v) = a.ok("GET", "/api/v1/accounts", None).await;
    assert_eq!(
        (s, names(&v)),
        (
            200,
            vec![
                "wave-b".into(),
                "wave-a".into(),
                "solo".into(),
                "Wave-c".into()
            ]
        )
    );
    let (_, v) = a
        .ok("GET", "/api/v1/accounts?token=nex&sort=name", None)
        .await;
    assert_eq!(names(&v), vec!["wave-a", "wave-b"]);
    let (_, v) = a.ok("GET", "/api/v1/accounts?q=WAVE&sort=name", None).await;
    assert_eq!(names(&v), vec!["Wave-c", "wave-a", "wave-b"]);
    let (_, v) = a
        .ok(
            "GET",
            "/api/v1/accounts?state=stopped&sort=name&offset=1&limit=2",
            None,
        )
        .await;
    assert_eq!(names(&v), vec!["solo", "wave-a"]);
    let (_, v) = a.ok("GET", "/api/v1/accounts?state=trading", None).await;
    assert_eq!(names(&v), Vec::<String>::new());
    let (_, v) = a
        .ok("GET", "/api/v1/accounts?pause_reason=operator", None)
        .await;
    assert_eq!(names(&v), Vec::<String>::new());
    // The count before paging, for the pages an operator has not read yet.
    let mut res = awc::Client::default()
        .get(format!("{}/api/v1/accounts?q=wave&limit=1", a.base))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("x-total-count").unwrap(), "3");
    let page: Value = res.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    // A bad query is named, never a 5xx.
    let (s, v) = a.ok("GET", "/api/v1/accounts?limit=0", None).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("limit")), "{v}");
    let (s, v) = a.ok("GET", "/api/v1/accounts?state=asleep", None).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = a.ok("GET", "/api/v1/accounts?color=red", None).await;
    assert_eq!(s, 400, "{v}");
}

#[actix_web::test]
async fn config_changes_are_validated_and_applied() {
    let a = api().await;
    a.account("c1", "NEX", "100000").await;
    let (s, v) = a
        .ok(
            "PATCH",
            "/api/v1/accounts/c1/config",
            Some(Body::Json(json!({"order_timeout_s": 1}))),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["field"], "order_timeout_s");
    let (s, v) = a
        .ok(
            "PATCH",
            "/api/v1/accounts/c1/config",
            Some(Body::Json(json!({"daily_target_usdt": "20"}))),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["settings"]["daily_target_usdt"], "20");
    a.ok("POST", "/api/v1/accounts/c1/start", None).await;
    a.wait_state("c1", |v| v["state"] == "done_for_today").await;
}

/// The SSE stream delivers an event within 1 s of its cause.
#[actix_web::test]
async fn events_stream_live() {
    let a = api().await;
    a.account("s1", "KOGE", "100000").await;
    a.ok("POST", "/api/v1/accounts/s1/start", None).await;
    a.wait_state("s1", |v| v["state"] == "trading").await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut res = client
        .get(format!("{}/api/v1/events/stream", a.base))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let cause = tokio::time::Instant::now();
    a.ok("POST", "/api/v1/accounts/s1/pause", None).await;
    use futures_util::StreamExt;
    let mut seen = String::new();
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(1), res.next()).await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if seen.contains("event: paused") {
            break;
        }
    }
    assert!(
        seen.contains("event: paused") && seen.contains("\"reason\":\"operator\""),
        "{seen}"
    );
    assert!(
        cause.elapsed() < Duration::from_secs(1),
        "{:?}",
        cause.elapsed()
    );
}

/// Reads the SSE stream of `query` for `secs` seconds (or until `enough`).
async fn read_stream(a: &Api, query: &str, secs: u64, enough: impl Fn(&str) -> bool) -> String {
    use futures_util::StreamExt;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut res = client
        .get(format!("{}/api/v1/events/stream{query}", a.base))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = String::new();
    while let Ok(Some(chunk)) = tokio::time::timeout_at(until, res.next()).await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if enough(&seen) {
            break;
        }
    }
    seen
}

/// With `?status=true` the stream carries each account's live status as it changes (about
/// once a second): what a page needs to show progress without asking again. Without it, none.
#[actix_web::test]
async fn the_event_stream_carries_live_statuses_when_asked() {
    let a = api().await;
    a.account("p1", "KOGE", "100000").await;
    a.ok("POST", "/api/v1/accounts/p1/start", None).await;
    a.wait_state("p1", |v| v["state"] == "trading").await;
    let frames = |seen: &str| -> Vec<Value> {
        seen.split("\n\n")
            .filter_map(|f| {
                let f = f.strip_prefix("event: status\ndata: ")?;
                serde_json::from_str(f).ok()
            })
            .collect()
    };
    let seen = read_stream(&a, "?status=true", 10, |s| {
        let vols: Vec<String> = frames(s)
            .iter()
            .filter_map(|f| f["volume_today"].as_str().map(str::to_owned))
            .collect();
        vols.windows(2).any(|w| w[0] != w[1])
    })
    .await;
    let statuses = frames(&seen);
    assert!(statuses.len() >= 2, "{seen}");
    assert!(statuses.iter().all(|f| f["name"] == "p1"), "{seen}");
    assert!(
        statuses
            .iter()
            .any(|f| f["state"] == "trading" && f["cycles_today"].as_u64() >= Some(1)),
        "{seen}"
    );
    let volumes: Vec<&str> = statuses
        .iter()
        .filter_map(|f| f["volume_today"].as_str())
        .collect();
    assert!(
        volumes.windows(2).any(|w| w[0] != w[1]),
        "progress was not seen live: {volumes:?}"
    );
    // A plain subscriber gets events only.
    let plain = read_stream(&a, "", 3, |_| false).await;
    assert!(!plain.contains("event: status"), "{plain}");
    let (s, _, v) = a
        .call(
            "GET",
            "/api/v1/events/stream?status=maybe",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(s, 400, "{v}");
}

/// Bad input of every kind is a 4xx problem that names what is wrong; never a 5xx.
#[actix_web::test]
async fn bad_input_is_a_clear_4xx_never_a_5xx() {
    let a = api().await;
    a.account("b1", "KOGE", "100").await;
    let long = "x".repeat(10_000);
    let huge = "y".repeat(200_000);
    let valid = serde_json::to_value(harness::settings("KOGE", "10", "100")).unwrap();
    let with = |k: &str, v: Value| {
        let mut b = valid.clone();
        b[k] = v;
        b["name"] = json!("b2");
        b
    };
    let named = |name: Value| {
        let mut b = valid.clone();
        b["name"] = name;
        b
    };
    let cases: Vec<(&str, String, Option<Body>, u16)> = vec![
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Text("{not json".into(), "application/json")),
            400,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Text(huge.clone(), "application/json")),
            413,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(json!([1, 2]))),
            400,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(with("order_usdt", json!(10)))),
            422,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(with("order_usdt", json!("-5")))),
            422,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(with("surprise", json!(1)))),
            422,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(with(
                "buy_offset",
                json!({"mode": "lots", "value": "1"}),
            ))),
            422,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(named(json!("../etc")))),
            422,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(named(json!("名字")))),
            422,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(named(json!(long.clone())))),
            422,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(named(json!(7)))),
            422,
        ),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(Body::Json(named(json!("b1")))),
            409,
        ),
        ("GET", "/api/v1/accounts/..%2F..%2Fetc".into(), None, 404),
        ("GET", format!("/api/v1/accounts/{long}"), None, 404),
        ("GET", "/api/v1/accounts/%E5%90%8D".into(), None, 404),
        (
            "GET",
            "/api/v1/accounts/b1/orders?limit=abc".into(),
            None,
            400,
        ),
        ("GET", "/api/v1/accounts/b1/orders?evil=1".into(), None, 400),
        ("POST", "/api/v1/accounts/b1/explode".into(), None, 404),
        (
            "PATCH",
            "/api/v1/accounts/b1/config".into(),
            Some(Body::Json(json!({"volatility_pct": "-1"}))),
            422,
        ),
        (
            "PATCH",
            "/api/v1/accounts/b1/config".into(),
            Some(Body::Json(json!("text"))),
            400,
        ),
        (
            "PUT",
            "/api/v1/accounts/b1/credentials".into(),
            Some(Body::Text(
                "{\"headers\":{},\"cookies\":1}".into(),
                "application/json",
            )),
            400,
        ),
        (
            "PUT",
            "/api/v1/accounts/b1/credentials".into(),
            Some(Body::Text(
                "curl 'https://x' -H 'a: b'".into(),
                "text/plain",
            )),
            422,
        ),
        (
            "PUT",
            "/api/v1/accounts/b1/credentials".into(),
            Some(Body::Text(huge, "text/plain")),
            413,
        ),
        ("GET", "/api/v1/nothing".into(), None, 404),
    ];
    for (m, p, body, want) in cases {
        let shown = p.chars().take(60).collect::<String>();
        let (s, ct, v) = a.call(m, &p, Some(TOKEN), body).await;
        assert_eq!(s, want, "{m} {shown}: {v}");
        assert!(
            ct.starts_with("application/problem+json"),
            "{m} {shown}: {ct}"
        );
        assert!(
            v["code"].is_string() && v["detail"].is_string(),
            "{m} {shown}: {v}"
        );
    }
}

/// Credentials are write-only: a canary cookie never comes back in any answer.
#[actix_web::test]
async fn credentials_from_curl_are_stored_and_never_shown() {
    let a = api().await;
    let mut body = serde_json::to_value(harness::settings("KOGE", "10", "100000")).unwrap();
    body["name"] = json!("k1");
    assert_eq!(
        a.ok("POST", "/api/v1/accounts", Some(Body::Json(body)))
            .await
            .0,
        201
    );
    let creds = a
        .sim
        .state
        .with(|st| st.engine.create_account("1000".parse().unwrap()));
    let mut curl = String::from(
        "curl 'https://www.binance.com/bapi/x' \\\n  -H ':authority: www.binance.com'",
    );
    for (k, v) in &creds.headers {
        curl.push_str(&format!(" \\\n  -H '{k}: {v}'"));
    }
    curl.push_str(&format!(
        " \\\n  -b '{}; canary=CANARY-7f3e9a'",
        creds.cookies
    ));
    let (s, _, v) = a
        .call(
            "PUT",
            "/api/v1/accounts/k1/credentials",
            Some(TOKEN),
            Some(Body::Text(curl, "text/plain")),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    a.ok("POST", "/api/v1/accounts/k1/start", None).await;
    a.wait_state("k1", |v| v["progress"]["cycles_done"].as_u64() >= Some(1))
        .await;
    for (m, p) in ROUTES
        .iter()
        .filter(|(m, p)| *m == "GET" && !p.ends_with("stream"))
    {
        let p = p.replace("a1", "k1");
        let (_, _, v) = a.call(m, &p, Some(TOKEN), None).await;
        assert!(
            !v.to_string().contains("CANARY-7f3e9a"),
            "{p} shows the cookie"
        );
        assert!(
            !v.to_string().contains(&creds.headers["csrftoken"]),
            "{p} shows a header"
        );
    }
    // Nor in the metrics, nor in any log line of the engine (debug level included).
    let mut res = awc::Client::default()
        .get(format!("{}/metrics", a.base))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    let metrics = String::from_utf8(res.body().limit(1 << 24).await.unwrap().to_vec()).unwrap();
    assert!(!metrics.contains("CANARY-7f3e9a"));
    let logs = String::from_utf8_lossy(&a.logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("pair placed"), "the log was captured");
    assert!(
        !logs.contains("CANARY-7f3e9a"),
        "a log line shows the cookie"
    );
    assert!(
        !logs.contains(&creds.headers["csrftoken"]),
        "a log line shows a header"
    );
}

/// The command line drives a running daemon through the API: tables for people, JSON for
/// scripts, clear errors.
#[actix_web::test]
async fn the_command_line_is_a_client_of_the_api() {
    let a = api().await;
    let listen = a.base.trim_start_matches("http://").to_owned();
    let cli = |args: Vec<String>| {
        let listen = listen.clone();
        async move {
            let (code, out, err) = run_cli(listen, TOKEN, args).await;
            (code == Some(0), out, err)
        }
    };
    let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let (ok, out, err) = cli(args(
        "account add cli1 --token NEX --order-usdt 10 --target 100000 --buy-offset 0.5% --sell-offset -1% --set order_timeout_s=60 --set volatility_pct=50",
    ))
    .await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("cli1") && out.contains("order_timeout_s = 60"),
        "{out}"
    );
    let creds = a
        .sim
        .state
        .with(|st| st.engine.create_account("1000".parse().unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("creds.json");
    std::fs::write(
        &file,
        json!({"headers": creds.headers, "cookies": creds.cookies}).to_string(),
    )
    .unwrap();
    let (ok, out, err) = cli(vec![
        "account".into(),
        "credentials".into(),
        "cli1".into(),
        "--file".into(),
        file.display().to_string(),
    ])
    .await;
    assert!(ok && out.contains("stored"), "{out}{err}");
    let (ok, out, err) = cli(args("account start cli1")).await;
    assert!(ok, "{out}{err}");
    a.wait_state("cli1", |v| v["progress"]["cycles_done"].as_u64() >= Some(1))
        .await;
    let (ok, out, _) = cli(args("account list")).await;
    assert!(
        ok && out.contains("cli1") && out.contains("trading"),
        "{out}"
    );
    let (ok, out, _) = cli(args("account show cli1 --json")).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(ok && v["state"] == "trading", "{out}");
    let (ok, out, err) = cli(args("account config cli1 --set order_timeout_s=2")).await;
    assert!(
        !ok && err.contains("order_timeout_s") && err.contains("invalid_field"),
        "{out}{err}"
    );
    let (ok, out, err) = cli(args("account kill cli1")).await;
    assert!(
        ok && out.contains("the exchange shows 0 order(s) open"),
        "{out}{err}"
    );
    // An exchange that cannot be asked: the kill says so and the command fails.
    let (ok, out, err) = cli(args("account start cli1")).await;
    assert!(ok, "{out}{err}");
    a.wait_state("cli1", |v| v["state"] == "trading").await;
    let res = awc::Client::default()
        .post(format!("{}/sim/faults", a.sim.base_url()))
        .send_json(&json!({"kind": "http_5xx", "rate": 1.0, "account": creds.id, "for_s": 6}))
        .await
        .unwrap();
    assert!(res.status().is_success());
    let faulted = std::time::Instant::now();
    let (ok, out, err) = cli(args("account kill cli1")).await;
    assert!(!ok && out.contains("NOT VERIFIED"), "{out}{err}");
    tokio::time::sleep(Duration::from_secs(7).saturating_sub(faulted.elapsed())).await;
    let (ok, out, err) = cli(args("halt")).await;
    assert!(ok && out.contains("halted"), "{out}{err}");
    let (ok, _, err) = cli(args("account show nobody")).await;
    assert!(!ok && err.contains("account_not_found"), "{err}");

    // Each kind of failure has its exit code; with --json the error is JSON on stdout.
    let listen = a.base.trim_start_matches("http://").to_owned();
    let cases = [
        (
            "account show nobody --json",
            TOKEN,
            3,
            Some("account_not_found"),
        ),
        (
            "account config cli1 --set order_timeout_s=2 --json",
            TOKEN,
            4,
            Some("invalid_field"),
        ),
        (
            "account list --json",
            "a-wrong-token-of-some-length",
            6,
            Some("unauthorized"),
        ),
        (
            "account list --json --api-listen 127.0.0.1:1",
            TOKEN,
            5,
            Some("unreachable"),
        ),
        ("account lisst", TOKEN, 64, None),
        // A token is never taken from argv.
        (
            "account list --api-token a-token-on-the-command-line",
            TOKEN,
            64,
            None,
        ),
        ("account start", TOKEN, 64, None),
    ];
    for (line, token, want, json_code) in cases {
        let args = line.split_whitespace().map(str::to_owned).collect();
        let (code, out, err) = run_cli(listen.clone(), token, args).await;
        assert_eq!(code, Some(want), "{line}: {out}{err}");
        if let Some(c) = json_code {
            let v: Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{line}: {e}: {out}"));
            assert_eq!(v["error"]["code"], c, "{line}: {out}");
        }
    }
}

/// The binary as a client of the API at `listen` with `token`: exit code, stdout, stderr.
pub(crate) async fn run_cli(
    listen: String,
    token: &'static str,
    args: Vec<String>,
) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_alpha-oto"))
            .env_remove("ALPHA_OTO_CONFIG")
            .env("ALPHA_OTO_API_TOKEN", token)
            .arg("--api-listen")
            .arg(&listen)
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// `/metrics` speaks Prometheus: cycles, orders, latencies, accounts by state; no account name
/// and no credential in it.
#[actix_web::test]
async fn metrics_show_trading_without_ids_or_secrets() {
    let a = api().await;
    a.account("m1", "LIGHT", "100000").await;
    a.ok("POST", "/api/v1/accounts/m1/start", None).await;
    a.wait_state("m1", |v| v["progress"]["cycles_done"].as_u64() >= Some(2))
        .await;
    let mut res = awc::Client::default()
        .get(format!("{}/metrics", a.base))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let text = String::from_utf8(res.body().limit(1 << 24).await.unwrap().to_vec()).unwrap();
    for needle in [
        "alpha_oto_cycles_total{outcome=\"filled\"}",
        "alpha_oto_orders_total{kind=\"oto\",outcome=\"placed\"}",
        "alpha_oto_place_seconds_bucket",
        "alpha_oto_reaction_seconds_bucket",
        "alpha_oto_admission_limit ",
        "alpha_oto_admission_wait_seconds_bucket",
        "alpha_oto_accounts{state=\"trading\"}",
        "alpha_oto_traded_usdt_total{side=\"buy\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(!text.contains("m1"), "an account name in a label:\n{text}");
    // Prometheus's own linter: HELP and TYPE for every metric, counters named *_total, units.
    let lint = crate::support::promtool(&["check", "metrics"], &text);
    assert!(
        lint.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}

/// The OpenAPI document describes exactly the routes the server answers: every documented
/// operation is routed (never the "no such route" answer), and every route the tests know is
/// documented.
#[actix_web::test]
async fn the_openapi_document_matches_the_routes() {
    let a = api().await;
    let (s, doc) = a.ok("GET", "/openapi.json", None).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.push((method.to_uppercase(), path.clone()));
            let public = ["/healthz", "/readyz", "/", "/assets/{file}"].contains(&path.as_str());
            assert_eq!(op["security"].is_null(), public, "{method} {path}");
        }
    }
    documented.sort();
    let mut known: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| {
            let p = p
                .replace("/a1/start", "/{name}/{action}")
                .replace("/a1/pause", "/{name}/{action}")
                .replace("/a1/resume", "/{name}/{action}")
                .replace("/a1/stop", "/{name}/{action}")
                .replace("/a1/kill", "/{name}/{action}")
                .replace("/a1", "/{name}");
            (m.to_string(), p)
        })
        .chain([
            ("GET".into(), "/healthz".into()),
            ("GET".into(), "/readyz".into()),
            ("GET".into(), "/".into()),
            ("GET".into(), "/assets/{file}".into()),
        ])
        .collect();
    known.sort();
    known.dedup();
    assert_eq!(documented, known);
    for (method, path) in &documented {
        if path.ends_with("/stream") {
            continue;
        }
        let concrete = path
            .replace("{name}", "nobody")
            .replace("{action}", "pause")
            .replace("{file}", "app.js");
        let (_, _, v) = a.call(method, &concrete, Some(TOKEN), None).await;
        assert_ne!(
            v["detail"], "no such route",
            "{method} {path} is documented but not routed"
        );
    }
}

/// An account's view shows the pair on the exchange now: its order ids, prices and fills.
#[actix_web::test]
async fn an_account_shows_its_current_pair() {
    let a = api().await;
    a.account("p1", "KOGE", "100000").await;
    // Buy 5 % under the market: the pair rests and stays visible.
    let patch = json!({"buy_offset": {"mode": "percent", "value": "-5"}});
    assert_eq!(
        a.ok(
            "PATCH",
            "/api/v1/accounts/p1/config",
            Some(Body::Json(patch))
        )
        .await
        .0,
        200
    );
    a.ok("POST", "/api/v1/accounts/p1/start", None).await;
    let v = a
        .wait_state("p1", |v| v["current_pair"]["working_order_id"].is_string())
        .await;
    let pair = &v["current_pair"];
    assert_eq!(pair["bought"], "0", "{v}");
    assert!(pair["buy_price"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    let (_, ready) = a.ok("GET", "/readyz", None).await;
    assert_eq!(
        (ready["streams_up"].as_u64(), ready["leases_held"].as_u64()),
        (Some(1), Some(1)),
        "{ready}"
    );
    let (s, v) = a.ok("POST", "/api/v1/accounts/p1/kill", None).await;
    assert_eq!((s, v["open_left"].as_u64()), (200, Some(0)), "{v}");
    let v = a.wait_state("p1", |v| v["state"] == "stopped").await;
    assert!(v["current_pair"].is_null(), "{v}");
}

/// A target whose plan overflows a decimal is refused with the field named; one stored before
/// the bounds existed neither panics the list nor makes it unreadable.
#[actix_web::test]
async fn a_target_too_large_is_refused_and_a_stored_one_never_poisons_the_list() {
    let a = api().await;
    let mut body = serde_json::to_value(harness::settings("KOGE", "0.5", "100")).unwrap();
    body["name"] = json!("o1");
    body["daily_target_usdt"] = json!("79000000000000000000000000000");
    let (s, v) = a
        .ok("POST", "/api/v1/accounts", Some(Body::Json(body.clone())))
        .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (422, Some("daily_target_usdt")),
        "{v}"
    );
    // As if written before the bound: straight into the store.
    body["daily_target_usdt"] = json!("100");
    assert_eq!(
        a.ok("POST", "/api/v1/accounts", Some(Body::Json(body)))
            .await
            .0,
        201
    );
    let mut conn = a.db().conn();
    let acc = alpha_oto::store::accounts::find_by_name(&mut conn, "o1")
        .unwrap()
        .unwrap();
    let mut row = alpha_oto::store::configs::get(&mut conn, acc.id)
        .unwrap()
        .unwrap();
    row.daily_target_usdt = "79000000000000000000000000000".parse().unwrap();
    alpha_oto::store::configs::upsert(&mut conn, &row).unwrap();
    for _ in 0..3 {
        let (s, v) = a.ok("GET", "/api/v1/accounts", None).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v[0]["progress"]["cycles_remaining"], u64::MAX, "{v}");
    }
    // A stopped account can be deleted; its name is free again.
    let (s, v) = a.ok("DELETE", "/api/v1/accounts/o1", None).await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(a.ok("GET", "/api/v1/accounts/o1", None).await.0, 404);
    assert!(
        a.ok("GET", "/api/v1/accounts", None)
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Deleting keeps the account's trading history for the books (its credentials and name go)
/// unless the history is purged too.
#[actix_web::test]
async fn a_deleted_account_keeps_its_history_unless_purged() {
    use alpha_oto::store::{self, models::Page};
    let a = api().await;
    let page = Page {
        before_id: None,
        limit: 100,
    };
    a.account("h1", "KOGE", "100000").await;
    let id = store::accounts::find_by_name(&mut a.db().conn(), "h1")
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(a.ok("POST", "/api/v1/accounts/h1/start", None).await.0, 202);
    a.wait_state("h1", |v| v["progress"]["cycles_done"].as_u64() >= Some(1))
        .await;
    assert_eq!(a.ok("POST", "/api/v1/accounts/h1/stop", None).await.0, 202);
    a.wait_state("h1", |v| v["state"] == "stopped").await;
    let (s, v) = a
        .ok("DELETE", "/api/v1/accounts/h1?history=bogus", None)
        .await;
    assert_eq!(s, 400, "{v}");
    let orders = store::orders::list(&mut a.db().conn(), id, page).unwrap();
    assert!(!orders.is_empty());

    let (s, v) = a.ok("DELETE", "/api/v1/accounts/h1", None).await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(a.ok("GET", "/api/v1/accounts/h1", None).await.0, 404);
    let mut conn = a.db().conn();
    assert_eq!(
        store::orders::list(&mut conn, id, page).unwrap().len(),
        orders.len(),
        "the orders stay"
    );
    assert!(store::credentials::get(&mut conn, id).unwrap().is_none());
    let retired = store::accounts::get(&mut conn, id).unwrap();
    assert_eq!(retired.name, format!("h1~retired-{id}"));
    assert!(retired.retired_at_ms.is_some());
    // The name is free; the new account is another one, and the only one listed.
    a.account("h1", "KOGE", "100000").await;
    let (_, listed) = a.ok("GET", "/api/v1/accounts", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let new_id = store::accounts::find_by_name(&mut conn, "h1")
        .unwrap()
        .unwrap()
        .id;
    assert_ne!(new_id, id);

    // Purged: the account and its events are gone.
    let event = store::models::NewEvent {
        account_id: Some(new_id),
        account_name: Some("h1".into()),
        kind: "note".into(),
        level: store::models::EventLevel::Info,
        reason: None,
        actor: "test".into(),
        message: "an event of the new account".into(),
        data: "{}".into(),
        webhook_status: store::models::WebhookStatus::None,
        created_at_ms: 1,
    };
    store::events::append(&mut conn, &event).unwrap();
    assert_eq!(
        store::events::list(&mut conn, Some(new_id), page)
            .unwrap()
            .len(),
        1
    );
    let (s, v) = a
        .ok("DELETE", "/api/v1/accounts/h1?history=purge", None)
        .await;
    assert_eq!(s, 204, "{v}");
    assert!(store::accounts::get(&mut conn, new_id).is_err());
    let events = store::events::list(&mut conn, Some(new_id), page).unwrap();
    assert!(events.is_empty(), "{events:?}");
}

/// A trading account is not deleted: stop it first.
#[actix_web::test]
async fn a_trading_account_cannot_be_deleted() {
    let a = api().await;
    a.account("t1", "KOGE", "100000").await;
    assert_eq!(a.ok("POST", "/api/v1/accounts/t1/start", None).await.0, 202);
    a.wait_state("t1", |v| v["state"] == "trading").await;
    let (s, v) = a.ok("DELETE", "/api/v1/accounts/t1", None).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("not_stopped")), "{v}");
    assert_eq!(a.ok("GET", "/api/v1/accounts/t1", None).await.0, 200);
}

/// A handler that panics answers a problem+json 500, is logged as an ERROR with its cause,
/// and the server goes on answering on the same worker.
#[actix_web::test]
async fn a_panicking_handler_is_caught_logged_and_answered() {
    let logs = LogBuf::default();
    let log = {
        use slog::Drain;
        let drain = std::sync::Mutex::new(alpha_oto::telemetry::ecs_json(logs.clone())).fuse();
        slog::Logger::root(drain, slog::o!())
    };
    let srv = actix_web::test::init_service(
        actix_web::App::new().service(
            web::resource("/boom/{n}")
                .route(web::get().to(|n: web::Path<u32>| async move {
                    if *n > 0 {
                        panic!("attempt to divide by zero in a test handler");
                    }
                    actix_web::HttpResponse::Ok().finish()
                }))
                .wrap_fn(move |req, srv| api::caught(log.clone(), req, srv)),
        ),
    )
    .await;
    for _ in 0..2 {
        let req = actix_web::test::TestRequest::get()
            .uri("/boom/1")
            .to_request();
        let res = actix_web::test::call_service(&srv, req).await;
        assert_eq!(res.status().as_u16(), 500);
        let ct = res
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(ct, "application/problem+json");
        let body: Value = actix_web::test::read_body_json(res).await;
        assert_eq!(body["code"], "internal");
    }
    let req = actix_web::test::TestRequest::get()
        .uri("/boom/0")
        .to_request();
    assert_eq!(
        actix_web::test::call_service(&srv, req)
            .await
            .status()
            .as_u16(),
        200
    );
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let line: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["event.action"] == "api-panic")
        .unwrap_or_else(|| panic!("no panic record: {text}"));
    assert_eq!(line["log.level"], "error", "{line}");
    assert_eq!(line["trading.http.route"], "GET /boom/{n}", "{line}");
    assert!(
        line["error.message"]
            .as_str()
            .unwrap()
            .contains("divide by zero"),
        "{line}"
    );
}

/// Credentials with CR, LF or other control characters are refused with the field named,
/// and the stored ones stay.
#[actix_web::test]
async fn credentials_with_control_characters_are_refused_with_the_field_named() {
    let a = api().await;
    a.account("c1", "KOGE", "100").await;
    let put = |body: Value| {
        a.ok(
            "PUT",
            "/api/v1/accounts/c1/credentials",
            Some(Body::Json(body)),
        )
    };
    let (s, v) =
        put(json!({"headers": {"csrftoken": "abc\r\nX-Injected: 1"}, "cookies": "p20t=s"})).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("headers")), "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("control character"),
        "{v}"
    );
    let (s, v) =
        put(json!({"headers": {"csrftoken": "abc"}, "cookies": "p20t=s\u{0}; lang=en"})).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("cookies")), "{v}");
    let text = "curl 'https://x' -H $'csrftoken: a\\r\\nb' -b 'p20t=s'";
    let (s, v) = a
        .ok(
            "PUT",
            "/api/v1/accounts/c1/credentials",
            Some(Body::Text(text.into(), "text/plain")),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (_, v) = a.ok("GET", "/api/v1/accounts/c1", None).await;
    assert_eq!(v["has_credentials"], true, "the stored credentials stay");
}

/// A flood of balance reads spends the account's request budget, not the exchange's patience:
/// the exchange sees at most the budget (a burst of 8 queries, then 10 a second), the rest
/// are told when to come back.
#[actix_web::test]
async fn balance_reads_are_held_to_the_accounts_request_budget() {
    let a = api().await;
    let sim_id = a.account("f1", "KOGE", "100").await;
    let started = std::time::Instant::now();
    let calls = (0..200).map(|_| a.call("GET", "/api/v1/accounts/f1/balance", Some(TOKEN), None));
    let answers = futures_util::future::join_all(calls).await;
    let secs = started.elapsed().as_secs_f64();
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let limited = answers
        .iter()
        .filter(|(s, _, v)| *s == 429 && v["code"] == "rate_limited")
        .count();
    assert_eq!(ok + limited, 200, "{answers:?}");
    let sent: u64 = a.sim.state.with(|s| {
        s.requests
            .iter()
            .filter(|((acc, _), _)| *acc == sim_id)
            .map(|(_, n)| *n)
            .sum()
    });
    // Two requests per read; the budget allows 8 at once and 10 more a second (a read waits
    // up to 2 s for it).
    let budget = 8.0 + 10.0 * secs;
    assert!(
        (sent as f64) <= budget + 2.0,
        "{sent} requests in {secs:.2} s (budget {budget:.0})"
    );
    assert!(
        ok >= 1 && limited >= 150,
        "{ok} answered, {limited} limited"
    );
}

/// `/readyz` is public: a flood of it reads memory only, never the database.
#[actix_web::test]
async fn readyz_answers_from_memory_under_a_flood() {
    let a = api().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _, v) = a.call("GET", "/readyz", None, None).await;
        if s == 200 && v["database"] == true {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready: {s} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = a.db().store.clone();
    let (units, started) = (store.units_run(), std::time::Instant::now());
    let mut ok = 0;
    for _ in 0..10 {
        let calls = (0..200).map(|_| a.call("GET", "/readyz", None, None));
        ok += futures_util::future::join_all(calls)
            .await
            .iter()
            .filter(|(s, _, v)| *s == 200 && v["database"] == true)
            .count();
    }
    let (spent, secs) = (store.units_run() - units, started.elapsed().as_secs_f64());
    assert_eq!(ok, 2000);
    // The prober (1 a second) and the command poll (2 a second) run meanwhile: nothing else.
    assert!(
        (spent as f64) <= 3.0 * secs + 4.0,
        "{spent} units of database work in {secs:.2} s for 2000 /readyz"
    );
}

/// Status subscribers are capped (each costs a copy of every changed status a second); a
/// place freed is taken again.
#[actix_web::test]
async fn status_subscribers_are_capped() {
    use alpha_oto::api::limits::MAX_STATUS_SUBSCRIBERS;
    let a = api().await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(20))
        .finish();
    let open = || {
        client
            .get(format!("{}/api/v1/events/stream?status=true", a.base))
            .insert_header(("Authorization", format!("Bearer {TOKEN}")))
            .send()
    };
    let mut held = Vec::new();
    for i in 0..MAX_STATUS_SUBSCRIBERS {
        let res = open().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "subscriber {i}");
        held.push(res);
    }
    let mut refused = open().await.unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    let v: Value = refused.json().await.unwrap();
    assert!(v["detail"].as_str().unwrap().contains("too many"), "{v}");
    // A plain subscriber is still welcome.
    let (s, _, _) = a.call("GET", "/api/v1/accounts", Some(TOKEN), None).await;
    assert_eq!(s, 200);
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let res = open().await.unwrap();
        if res.status().as_u16() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the freed place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wrong tokens are logged with the client's address (never the token) and, past the
/// allowance, refused unread for a minute.
#[actix_web::test]
async fn failed_logins_are_logged_and_slowed() {
    use alpha_oto::api::limits::FAILURES_ALLOWED;
    let a = api().await;
    let guess = "guess-0123456789abcdef";
    for i in 0..FAILURES_ALLOWED {
        let (s, _, _) = a.call("GET", "/api/v1/accounts", Some(guess), None).await;
        assert_eq!(s, 401, "guess {i}");
    }
    let (s, _, v) = a.call("GET", "/api/v1/accounts", Some(guess), None).await;
    assert_eq!((s, v["code"].as_str()), (429, Some("rate_limited")), "{v}");
    // Refused unread: the right token from the same address waits too.
    let (s, _, _) = a.call("GET", "/api/v1/accounts", Some(TOKEN), None).await;
    assert_eq!(s, 429);
    let text = String::from_utf8_lossy(&a.logs.0.lock().unwrap()).into_owned();
    let failures: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event.action"] == "api-auth")
        .collect();
    assert_eq!(
        failures.len() as u32,
        FAILURES_ALLOWED,
        "one record per failure"
    );
    assert_eq!(failures[0]["source.ip"], "127.0.0.1", "{}", failures[0]);
    assert!(!text.contains(guess), "a presented token is never logged");
}

/// Many clients storing one account's credentials at once all succeed (on PostgreSQL a delete
/// then insert once lost the race on the primary key and answered 500).
#[actix_web::test]
async fn concurrent_credential_writes_all_succeed() {
    let a = api().await;
    a.account("w1", "KOGE", "100").await;
    let body = |i: usize| {
        Some(Body::Json(json!({
            "headers": {"csrftoken": format!("token-{i}")},
            "cookies": format!("p20t=web.{i}.x"),
        })))
    };
    for _ in 0..5 {
        let puts = (0..40).map(|i| {
            a.call(
                "PUT",
                "/api/v1/accounts/w1/credentials",
                Some(TOKEN),
                body(i),
            )
        });
        let answers = futures_util::future::join_all(puts).await;
        let statuses: Vec<u16> = answers.iter().map(|(s, _, _)| *s).collect();
        assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    }
    let text = String::from_utf8_lossy(&a.logs.0.lock().unwrap()).into_owned();
    assert!(!text.contains("\"api-error\""), "no internal error: {text}");
}

/// A small random generator (xorshift), seeded: a failing case replays.
struct Fuzz(u64);

impl Fuzz {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }
    /// Strings that have broken parsers: empty, huge, control characters, unicode, numbers
    /// past a decimal's range, path and query syntax.
    fn text(&mut self) -> String {
        let long = "x".repeat(5000);
        let samples = [
            "",
            "a1",
            "KOGE",
            "0",
            "-1",
            "1e400",
            "79000000000000000000000000000",
            "0.000000000000000000000000001",
            "NaN",
            "null",
            "\u{0}",
            "a\r\nb",
            "é漢字🙂",
            "../../etc/passwd",
            "%2F",
            "a/b?c#d",
            "<script>",
            "' OR 1=1 --",
            long.as_str(),
        ];
        self.pick(&samples).to_string()
    }
    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => json!(f64::from(self.below(1000) as u32) / 7.0),
            4 | 5 => json!(self.text()),
            6 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(5) {
                    m.insert(self.text(), self.value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }
}

/// The schemathesis-style run: every operation of the OpenAPI document, called with random
/// path values, queries and bodies (valid ones mutated field by field, and random JSON and
/// text), a bounded number of times. No answer may be a server error, and the account list
/// stays readable throughout.
#[actix_web::test]
async fn no_input_to_any_operation_is_a_server_error() {
    let a = api().await;
    a.account("f1", "KOGE", "1000").await;
    let (s, doc) = a.ok("GET", "/openapi.json", None).await;
    assert_eq!(s, 200);
    let valid = {
        let mut v = serde_json::to_value(harness::settings("KOGE", "10", "100")).unwrap();
        v["name"] = json!("f2");
        v
    };
    let mut rng = Fuzz(0x5eed_1234_abcd_0001);
    let mut calls = 0;
    let mut by_status = std::collections::BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            for case in 0..30 {
                let mut p = path.clone();
                for name in ["{name}", "{action}", "{file}"] {
                    if p.contains(name) {
                        let v = match rng.below(3) {
                            0 => "f1".to_owned(),
                            1 => (*rng.pick(&["start", "pause", "resume", "stop", "kill", "nope"]))
                                .to_owned(),
                            _ => rng.text(),
                        };
                        p = p.replace(name, &alpha_oto::control::segment(&v));
                    }
                }
                if rng.below(2) == 0 {
                    let q = *rng.pick(&["before", "limit", "status", "x"]);
                    p = format!("{p}?{q}={}", alpha_oto::control::segment(&rng.text()));
                }
                let body = match (method.as_str(), rng.below(4)) {
                    ("get" | "delete", _) => None,
                    (_, 0) => Some(Body::Json(rng.value(0))),
                    (_, 1) => Some(Body::Text(rng.text(), "text/plain")),
                    _ => {
                        let mut b = valid.clone();
                        let keys: Vec<String> = b.as_object().unwrap().keys().cloned().collect();
                        let k = rng.pick(&keys).clone();
                        b[k.as_str()] = rng.value(1);
                        Some(Body::Json(b))
                    }
                };
                let streaming = p.starts_with("/api/v1/events/stream");
                let status = if streaming {
                    let res = awc::Client::default()
                        .get(format!("{}{p}", a.base))
                        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
                        .send()
                        .await
                        .unwrap();
                    res.status().as_u16()
                } else {
                    a.call(&method.to_uppercase(), &p, Some(TOKEN), body)
                        .await
                        .0
                };
                assert!(status < 500, "{method} {p} (case {case}) answered {status}");
                // A success is one the document declares (a generated client relies on it).
                if status < 400 {
                    assert!(
                        !ops[method]["responses"][status.to_string()].is_null(),
                        "{method} {path} answered {status}, which the document does not declare"
                    );
                }
                *by_status.entry(status).or_insert(0) += 1;
                calls += 1;
            }
        }
    }
    let (s, v) = a.ok("GET", "/api/v1/accounts", None).await;
    assert_eq!(s, 200, "{v}");
    eprintln!("{calls} calls, by status: {by_status:?}");
    assert!(calls >= 500, "{calls}");
}

/// The OpenAPI document against real tools (`tests/openapi/check.py`): openapi-spec-validator
/// accepts it, openapi-python-client generates a client from it, and that client creates,
/// starts and lists an account (and calls every other JSON operation), each answer with a
/// declared status, parsed into the generated model and valid against its schema.
#[actix_web::test]
async fn a_generated_client_drives_the_api_and_every_answer_fits_the_document() {
    let a = api().await;
    let (_, doc) = a.ok("GET", "/openapi.json", None).await;
    let dir = tempfile::tempdir().unwrap();
    let doc_file = dir.path().join("openapi.json");
    std::fs::write(&doc_file, doc.to_string()).unwrap();
    let creds = a
        .sim
        .state
        .with(|st| st.engine.create_account("1000".parse().unwrap()));
    let creds_file = dir.path().join("creds.json");
    std::fs::write(
        &creds_file,
        json!({"headers": creds.headers, "cookies": creds.cookies}).to_string(),
    )
    .unwrap();
    let python = std::env::var("ALPHA_OTO_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/target/py/bin/python", env!("CARGO_MANIFEST_DIR")));
    let script = format!("{}/tests/openapi/check.py", env!("CARGO_MANIFEST_DIR"));
    let base = a.base.clone();
    let work = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .arg(&doc_file)
            .arg(&work)
            .arg(&base)
            .arg(TOKEN)
            .arg(&creds_file)
            .output()
            .unwrap_or_else(|e| {
                panic!("{python} cannot be started ({e}): scripts/test.sh makes this virtual environment; or set ALPHA_OTO_TEST_PYTHON")
            })
    })
    .await
    .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("POST /api/v1/accounts -> 201 ok"),
        "{printed}"
    );
    assert!(
        printed.contains("POST /api/v1/accounts/gen1/start -> 202 ok"),
        "{printed}"
    );
    assert!(printed.trim_end().ends_with("ok"), "{printed}");
}

/// `GET /api/v1/tokens` and `alpha-oto tokens` list every token scored for `token = "auto"`:
/// the one x4 token of the simulator first and eligible, every x1 token after it with the
/// reason it may not be chosen.
#[actix_web::test]
async fn token_scores_are_listed_over_the_api_and_the_command_line() {
    let a = api().await;
    let (s, v) = a.ok("GET", "/api/v1/tokens", None).await;
    assert_eq!(s, 200, "{v}");
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 5, "{v}");
    assert_eq!(
        (&list[0]["symbol"], &list[0]["mul_point"]),
        (&json!("LIGHT"), &json!("4"))
    );
    assert_eq!(list[0]["ineligible"], Value::Null);
    assert!(list[0]["cost_bps_per_counted"].as_str().is_some(), "{v}");
    for t in &list[1..] {
        assert_eq!(t["ineligible"], "mulPoint 1 below 2", "{t}");
    }
    let listen = a.base.trim_start_matches("http://").to_owned();
    let (code, out, err) = run_cli(listen, TOKEN, vec!["tokens".into()]).await;
    assert_eq!(code, Some(0), "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(
        rows[0].starts_with("LIGHT") && rows[0].ends_with("yes"),
        "{out}"
    );
    assert_eq!(rows.len(), 5, "{out}");
    assert!(
        rows[1..]
            .iter()
            .all(|r| r.ends_with("no: mulPoint 1 below 2")),
        "{out}"
    );
}
