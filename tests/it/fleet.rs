//! Running a fleet over the API: profiles that every member follows (running ones between
//! pairs), tags, and one action for many accounts answered per account.

use std::time::Duration;

use alpha_oto::store::{self, models::Page};
use serde_json::{Value, json};

use crate::api::{Api, Body, api};
use crate::trading::harness;

async fn bulk(a: &Api, body: Value) -> Value {
    let (s, v) = a
        .ok("POST", "/api/v1/accounts/actions", Some(Body::Json(body)))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn names_of(v: &Value) -> Vec<String> {
    let list = v.get("accounts").unwrap_or(v);
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

fn results(v: &Value) -> Vec<(String, String)> {
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn listed(a: &Api, query: &str) -> Vec<String> {
    let (s, v) = a
        .ok("GET", &format!("/api/v1/accounts?{query}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    names_of(&v)
}

fn account_id(a: &Api, name: &str) -> i64 {
    store::accounts::find_by_name(&mut a.db().conn(), name)
        .unwrap()
        .unwrap()
        .id
}

fn cycles(a: &Api, name: &str) -> Vec<store::models::CycleRow> {
    let page = Page {
        before_id: None,
        limit: 1000,
    };
    store::cycles::list(&mut a.db().conn(), account_id(a, name), page).unwrap()
}

fn settings_events(a: &Api, name: &str) -> Vec<store::models::EventRow> {
    let page = Page {
        before_id: None,
        limit: 1000,
    };
    store::events::list(&mut a.db().conn(), Some(account_id(a, name)), page)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "settings_changed")
        .collect()
}

async fn wait_until(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !ok().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A pair bought `usdt` (its quantity is floored to the token's step, so a little less).
fn bought_about(c: &store::models::CycleRow, usdt: &str) -> bool {
    let usdt: rust_decimal::Decimal = usdt.parse().unwrap();
    c.payment_amount <= usdt && c.payment_amount > usdt * rust_decimal::Decimal::new(99, 2)
}

fn profile_body(name: &str, order: &str) -> Value {
    let mut body = serde_json::to_value(harness::settings("KOGE", order, "100000")).unwrap();
    body["name"] = json!(name);
    body
}

#[actix_web::test]
async fn a_profile_put_on_a_tag_reaches_every_member_and_running_ones_take_a_change_between_pairs()
{
    let a = api().await;
    let (s, v) = a
        .ok(
            "POST",
            "/api/v1/profiles",
            Some(Body::Json(profile_body("steady", "10"))),
        )
        .await;
    assert_eq!((s, v["revision"].as_i64()), (201, Some(1)), "{v}");
    for n in ["w1", "w2", "w3", "other"] {
        a.account(n, "KOGE", "100000").await;
    }
    // Tag three, then put the tag on the profile.
    let v = bulk(
        &a,
        json!({"action": "add_tags", "names": ["w1", "w2", "w3"], "tags": ["wave-2"]}),
    )
    .await;
    assert_eq!(v["done"], 3, "{v}");
    let v = bulk(
        &a,
        json!({"action": "set_profile", "select": {"tag": "wave-2"}, "profile": "steady"}),
    )
    .await;
    assert_eq!(results(&v).len(), 3, "{v}");
    assert_eq!(
        (v["done"].as_u64(), v["refused"].as_u64()),
        (Some(3), Some(0)),
        "{v}"
    );
    assert_eq!(listed(&a, "profile=steady").await, vec!["w1", "w2", "w3"]);
    assert_eq!(
        listed(&a, "tag=wave-2&sort=name&limit=2").await,
        vec!["w1", "w2"]
    );

    // The members trade.
    let v = bulk(
        &a,
        json!({"action": "start", "select": {"profile": "steady"}}),
    )
    .await;
    assert_eq!(v["done"], 3, "{v}");
    for n in ["w1", "w2", "w3"] {
        wait_until("a pair of each member", async || cycles(&a, n).len() >= 2).await;
    }

    // The profile changes while they trade: one event each, and from its reload on every pair
    // of a member buys the new size; the account off the profile keeps its own.
    let (s, v) = a
        .ok(
            "PATCH",
            "/api/v1/profiles/steady",
            Some(Body::Json(json!({"order_usdt": "12", "revision": 1}))),
        )
        .await;
    assert_eq!(
        (s, v["revision"].as_i64(), v["accounts"].as_u64()),
        (200, Some(2), Some(3)),
        "{v}"
    );
    for n in ["w1", "w2", "w3"] {
        wait_until("a pair at the new size", async || {
            cycles(&a, n).iter().any(|c| bought_about(c, "12"))
        })
        .await;
        let all = cycles(&a, n);
        assert!(
            all.iter().any(|c| bought_about(c, "10")),
            "{n}: pairs before the change bought 10"
        );
        // Oldest first: the old size, then the new one from the account's reload on, never
        // back (no pair was begun on the old settings once the account took the change).
        let sizes: Vec<bool> = all.iter().rev().map(|c| bought_about(c, "12")).collect();
        let first_new = sizes.iter().position(|new| *new).unwrap();
        assert!(sizes[first_new..].iter().all(|new| *new), "{n}: {all:?}");
        let events = settings_events(&a, n);
        assert!(
            events
                .iter()
                .filter(|e| e.message == "settings from profile steady revision 2")
                .count()
                == 1,
            "{n}: {events:?}"
        );
        let (_, v) = a.ok("GET", &format!("/api/v1/accounts/{n}"), None).await;
        assert_eq!(v["settings"]["order_usdt"], "12", "{v}");
        assert_eq!(v["profile"], "steady", "{v}");
    }
    let (_, v) = a.ok("GET", "/api/v1/accounts/other", None).await;
    assert_eq!(v["settings"]["order_usdt"], "10", "{v}");
    assert!(settings_events(&a, "other").is_empty());
    // A change read at an old revision is refused: someone else changed the profile since.
    let (s, v) = a
        .ok(
            "PATCH",
            "/api/v1/profiles/steady",
            Some(Body::Json(json!({"order_usdt": "11", "revision": 1}))),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("conflict")), "{v}");
}

#[actix_web::test]
async fn a_profile_keeps_what_an_account_sets_itself_and_refuses_a_change_that_would_break_it() {
    let a = api().await;
    let (s, _) = a
        .ok(
            "POST",
            "/api/v1/profiles",
            Some(Body::Json(profile_body("base", "10"))),
        )
        .await;
    assert_eq!(s, 201);
    // An account made on the profile, setting one field itself.
    let (s, v) = a
        .ok(
            "POST",
            "/api/v1/accounts",
            Some(Body::Json(json!({"name": "big", "profile": "base", "order_usdt": "500", "tags": ["vip", " vip "]}))),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["settings"]["order_usdt"], "500");
    assert_eq!(v["settings"]["token"], "KOGE");
    assert_eq!(v["overrides"], json!({"order_usdt": "500"}));
    assert_eq!(v["tags"], json!(["vip"]));
    // A change of the profile that the account's own order size would break: refused whole,
    // naming the account and the field; nothing changed.
    let (s, v) = a
        .ok(
            "PATCH",
            "/api/v1/profiles/base",
            Some(Body::Json(json!({"daily_target_usdt": "100"}))),
        )
        .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (422, Some("daily_target_usdt")),
        "{v}"
    );
    assert!(v["detail"].as_str().unwrap().contains("\"big\""), "{v}");
    let (_, v) = a.ok("GET", "/api/v1/profiles/base", None).await;
    assert_eq!(
        (v["revision"].as_i64(), v["accounts"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    // The account's own change joins its overrides; the profile's other fields still reach it.
    let (s, v) = a
        .ok(
            "PATCH",
            "/api/v1/accounts/big/config",
            Some(Body::Json(json!({"order_timeout_s": 60}))),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["overrides"],
        json!({"order_usdt": "500", "order_timeout_s": 60})
    );
    let (s, _) = a
        .ok(
            "PATCH",
            "/api/v1/profiles/base",
            Some(Body::Json(json!({"pending_timeout_s": 90}))),
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = a.ok("GET", "/api/v1/accounts/big", None).await;
    assert_eq!(
        (
            &v["settings"]["pending_timeout_s"],
            &v["settings"]["order_timeout_s"],
            &v["settings"]["order_usdt"]
        ),
        (&json!(90), &json!(60), &json!("500")),
        "{v}"
    );
    // Errors name what is wrong.
    let (s, v) = a
        .ok(
            "POST",
            "/api/v1/profiles",
            Some(Body::Json(profile_body("base", "10"))),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("profile_taken")), "{v}");
    let mut bad = profile_body("bad", "10");
    bad["order_usdt"] = json!("-1");
    let (s, v) = a
        .ok("POST", "/api/v1/profiles", Some(Body::Json(bad)))
        .await;
    assert_eq!((s, v["field"].as_str()), (422, Some("order_usdt")), "{v}");
    let (s, v) = a
        .ok(
            "POST",
            "/api/v1/accounts",
            Some(Body::Json(json!({"name": "lost", "profile": "nope"}))),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("profile_not_found")),
        "{v}"
    );
    let (s, v) = a.ok("DELETE", "/api/v1/profiles/base", None).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("profile_in_use")),
        "{v}"
    );
    // Off the profile the account keeps trading what it traded, as its own; then the profile
    // can go.
    let v = bulk(
        &a,
        json!({"action": "set_profile", "names": ["big"], "profile": null}),
    )
    .await;
    assert_eq!(v["done"], 1, "{v}");
    let (_, v) = a.ok("GET", "/api/v1/accounts/big", None).await;
    assert_eq!(
        (&v["profile"], &v["settings"]["order_usdt"]),
        (&Value::Null, &json!("500"))
    );
    let (s, _) = a.ok("DELETE", "/api/v1/profiles/base", None).await;
    assert_eq!(s, 204);
    let (_, v) = a.ok("GET", "/api/v1/profiles", None).await;
    assert_eq!(v, json!([]));
}

#[actix_web::test]
async fn a_bulk_pause_by_token_and_resume_by_tag_answer_per_account() {
    let a = api().await;
    for (n, token) in [
        ("k1", "KOGE"),
        ("k2", "KOGE"),
        ("k3", "KOGE"),
        ("n1", "NEX"),
    ] {
        a.account(n, token, "100000").await;
    }
    let v = bulk(
        &a,
        json!({"action": "add_tags", "names": ["k1", "k2", "ghost"], "tags": ["wave-1"]}),
    )
    .await;
    assert_eq!(
        results(&v),
        vec![
            ("k1".into(), "done".into()),
            ("k2".into(), "done".into()),
            ("ghost".into(), "refused".into())
        ]
    );
    assert_eq!(v["accounts"][2]["reason"], "no such account");
    let v = bulk(&a, json!({"action": "start", "all": true})).await;
    assert_eq!(v["done"], 4, "{v}");
    for n in ["k1", "k2", "k3", "n1"] {
        a.wait_state(n, |v| v["state"] == "trading").await;
    }

    let v = bulk(&a, json!({"action": "pause", "select": {"token": "koge"}})).await;
    assert_eq!(names_of(&v), vec!["k1", "k2", "k3"]);
    for acc in v["accounts"].as_array().unwrap() {
        assert_eq!(acc["result"], "done", "{v}");
        assert_eq!(acc["ack"]["outcome"], "delivered", "{v}");
    }
    for n in ["k1", "k2", "k3"] {
        a.wait_state(n, |v| {
            v["state"] == "paused" && v["pause_reason"] == "operator"
        })
        .await;
    }
    let (_, v) = a.ok("GET", "/api/v1/accounts/n1", None).await;
    assert_eq!(v["state"], "trading", "{v}");

    let v = bulk(&a, json!({"action": "resume", "select": {"tag": "wave-1"}})).await;
    assert_eq!(
        results(&v),
        vec![("k1".into(), "done".into()), ("k2".into(), "done".into())]
    );
    for n in ["k1", "k2"] {
        a.wait_state(n, |v| v["state"] == "trading").await;
    }
    assert_eq!(listed(&a, "state=paused").await, vec!["k3"]);

    // A killed account refuses a resume; the others in the same request go on.
    let v = bulk(&a, json!({"action": "kill", "names": ["k3"]})).await;
    assert_eq!(v["accounts"][0]["kill"]["account"], "k3", "{v}");
    let v = bulk(&a, json!({"action": "resume", "names": ["k3", "n1"]})).await;
    assert_eq!(
        results(&v),
        vec![
            ("k3".into(), "refused".into()),
            ("n1".into(), "done".into())
        ]
    );
    assert!(
        v["accounts"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("killed"),
        "{v}"
    );

    // A request must say which accounts, one way only.
    for body in [
        json!({"action": "pause"}),
        json!({"action": "pause", "select": {}}),
        json!({"action": "pause", "all": true, "names": ["k1"]}),
        json!({"action": "set_profile", "all": true}),
    ] {
        let (s, v) = a
            .ok(
                "POST",
                "/api/v1/accounts/actions",
                Some(Body::Json(body.clone())),
            )
            .await;
        assert_eq!(s, 422, "{body}: {v}");
    }
    let (s, _) = a
        .ok(
            "POST",
            "/api/v1/accounts/actions",
            Some(Body::Json(json!({"action": "explode", "all": true}))),
        )
        .await;
    assert_eq!(s, 400);
}

/// The command line drives the fleet: profiles, tags, and one action for a tag, a profile or
/// all, printed per account; a refusal among them makes the exit code say so.
#[actix_web::test]
async fn the_command_line_manages_profiles_tags_and_actions_for_many() {
    let a = api().await;
    let listen = a.base.trim_start_matches("http://").to_owned();
    let cli = |line: &str| {
        let (listen, args) = (
            listen.clone(),
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
        async move { crate::api::run_cli(listen, crate::api::TOKEN, args).await }
    };
    let (code, out, err) = cli("profile add steady --token KOGE --order-usdt 10 --target 100000 --buy-offset 0.5% --sell-offset -1% --set volatility_pct=50 --set cost_budget_bps=500").await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("profile steady (revision 1, 0 account(s))"),
        "{out}"
    );
    for line in [
        "account add c1 --on-profile steady --tags wave-2",
        "account add c2 --on-profile steady --tags wave-2,vip",
        "account add c3 --on-profile steady --order-usdt 11",
    ] {
        let (code, out, err) = cli(line).await;
        assert_eq!(code, Some(0), "{line}: {out}{err}");
    }
    for n in ["c1", "c2", "c3"] {
        a.fund(n).await;
    }
    let (code, out, _) = cli("account tag c3 --add wave-3").await;
    assert_eq!(code, Some(0), "{out}");
    let (_, v) = a.ok("GET", "/api/v1/accounts/c3", None).await;
    assert_eq!(
        (&v["tags"], &v["settings"]["order_usdt"]),
        (&json!(["wave-3"]), &json!("11"))
    );

    let (code, out, err) = cli("account start --profile steady").await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("start: 3 selected, 3 done, 0 refused"),
        "{out}"
    );
    let (code, out, _) = cli("account pause --tag wave-2").await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("c1: pause") && out.contains("c2: pause") && !out.contains("c3"),
        "{out}"
    );
    assert!(
        out.contains("pause: 2 selected, 2 done, 0 refused"),
        "{out}"
    );
    for n in ["c1", "c2"] {
        a.wait_state(n, |v| v["state"] == "paused").await;
    }
    // One account killed; a resume of all answers it refused and the exit code says so.
    let (code, out, _) = cli("account kill c1").await;
    assert!(out.contains("c1"), "{out} {code:?}");
    let (code, out, _) = cli("account resume --all").await;
    assert_eq!(code, Some(4), "{out}");
    assert!(
        out.contains("c1: refused") && out.contains("c2: resume"),
        "{out}"
    );
    // A name and a filter together are a usage error.
    let (code, _, err) = cli("account pause c1 --tag wave-2").await;
    assert_eq!(code, Some(64), "{err}");

    let (code, out, _) = cli("profile set steady --order-usdt 12").await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("revision 2, 3 account(s)"), "{out}");
    let (_, v) = a.ok("GET", "/api/v1/accounts/c2", None).await;
    assert_eq!(v["settings"]["order_usdt"], "12");
    let (_, v) = a.ok("GET", "/api/v1/accounts/c3", None).await;
    assert_eq!(
        v["settings"]["order_usdt"], "11",
        "its own order size stays"
    );
    let (code, out, _) = cli("profile list").await;
    assert_eq!(code, Some(0));
    assert!(
        out.lines()
            .any(|l| l.starts_with("steady") && l.contains(" 3 ")),
        "{out}"
    );
    let (code, _, err) = cli("profile delete steady").await;
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("in use"), "{err}");
    let (code, out, _) = cli("account set-profile none --profile steady").await;
    assert_eq!(code, Some(0), "{out}");
    let (code, out, err) = cli("profile delete steady").await;
    assert_eq!(code, Some(0), "{out}{err}");
}

/// 2,000 accounts from one CSV file through the command line: three bad rows are each named
/// by line and field and nothing is imported; with --skip-bad the rest go in, credentials
/// from inline JSON and from a cURL file; the export reads back in as updates.
#[actix_web::test]
async fn two_thousand_accounts_import_from_csv_and_bad_rows_are_named_by_line_and_field() {
    let a = api().await;
    let listen = a.base.trim_start_matches("http://").to_owned();
    let cli = |args: Vec<String>| {
        let listen = listen.clone();
        async move { crate::api::run_cli(listen, crate::api::TOKEN, args).await }
    };
    let (s, _) = a
        .ok(
            "POST",
            "/api/v1/profiles",
            Some(Body::Json(profile_body("steady", "10"))),
        )
        .await;
    assert_eq!(s, 201);
    let dir = tempfile::tempdir().unwrap();
    // One account's credentials as a browser's "Copy as cURL" file, a few as inline JSON.
    let creds = a
        .sim
        .state
        .with(|st| st.engine.create_account("1000".parse().unwrap()));
    let mut curl = String::from("curl 'https://www.binance.com/bapi/x'");
    for (k, v) in &creds.headers {
        curl.push_str(&format!(" \\\n  -H '{k}: {v}'"));
    }
    curl.push_str(&format!(" \\\n  -b '{}'", creds.cookies));
    std::fs::write(dir.path().join("f0001.curl"), curl).unwrap();
    let mut csv = String::from(
        "name,profile,tags,credentials,token,order_usdt,daily_target_usdt,buy_offset,sell_offset,order_timeout_s\n",
    );
    for i in 1..=2000 {
        let name = match i {
            1502 => "bad name!".to_owned(),
            _ => format!("f{i:04}"),
        };
        let credentials = match i {
            1 => "f0001.curl".to_owned(),
            2..=5 => {
                let c = a
                    .sim
                    .state
                    .with(|st| st.engine.create_account("1000".parse().unwrap()));
                let json = json!({"headers": c.headers, "cookies": c.cookies}).to_string();
                format!("\"{}\"", json.replace('"', "\"\""))
            }
            _ => String::new(),
        };
        let tags = if i % 2 == 0 {
            "wave-2"
        } else {
            "\"wave-1,vip\""
        };
        let order = if i == 100 { "-5" } else { "10" };
        let line = if i % 2 == 0 {
            let profile = if i == 500 { "nope" } else { "steady" };
            format!("{name},{profile},{tags},{credentials},,{order},,,,\n")
        } else {
            format!("{name},,{tags},{credentials},KOGE,{order},1000,0.5%,-1%,60\n")
        };
        csv.push_str(&line);
    }
    let file = dir.path().join("fleet.csv");
    std::fs::write(&file, &csv).unwrap();
    let import = |skip: bool| {
        let mut args = vec![
            "account".to_owned(),
            "import".into(),
            file.display().to_string(),
        ];
        if skip {
            args.push("--skip-bad".into());
        }
        args
    };

    // Three bad rows (rows 100, 500 and 1502 are on lines 101, 501 and 1503): nothing goes in.
    let (code, out, err) = cli(import(false)).await;
    assert_eq!(code, Some(4), "{out}{err}");
    for expected in [
        "line 101 (f0100): order_usdt:",
        "line 501 (f0500): profile: no profile named \"nope\"",
        "line 1503 (bad name!): name:",
    ] {
        assert!(err.contains(expected), "{expected} in {err}");
    }
    assert_eq!(err.matches("\n  line ").count(), 3, "{err}");
    assert!(listed(&a, "").await.is_empty());

    // The good rows, with --skip-bad.
    let started = std::time::Instant::now();
    let (code, out, err) = cli(import(true)).await;
    let took = started.elapsed();
    eprintln!("imported 1,997 of 2,000 accounts in {took:?}");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("imported 2000 row(s): 1997 created, 0 updated, 3 skipped"),
        "{out}"
    );
    assert_eq!(listed(&a, "").await.len(), 1997);
    assert_eq!(listed(&a, "profile=steady").await.len(), 997);
    assert_eq!(listed(&a, "tag=vip").await.len(), 1000);
    let (_, v) = a.ok("GET", "/api/v1/accounts/f0001", None).await;
    assert_eq!(
        (&v["has_credentials"], &v["settings"]["order_timeout_s"]),
        (&json!(true), &json!(60)),
        "{v}"
    );
    let (_, v) = a.ok("GET", "/api/v1/accounts/f0004", None).await;
    assert_eq!(
        (&v["has_credentials"], &v["profile"]),
        (&json!(true), &json!("steady")),
        "{v}"
    );
    // The first account trades on the cURL file's session.
    let v = bulk(&a, json!({"action": "start", "names": ["f0001"]})).await;
    assert_eq!(v["done"], 1, "{v}");
    wait_until("f0001 trades", async || !cycles(&a, "f0001").is_empty()).await;

    // The export, read back in: every account updated, nothing created, no credentials in it.
    let out_file = dir.path().join("export.csv");
    let (code, out, err) = cli(vec![
        "account".into(),
        "export".into(),
        "--output".into(),
        out_file.display().to_string(),
    ])
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    let exported = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(exported.lines().count(), 1998, "a header and 1,997 rows");
    assert!(!exported.contains("credentials") && !exported.contains(&creds.cookies));
    assert!(
        exported.contains("f0003,,\"vip,wave-1\",KOGE,,10,1000,,0.5%,-1%,60,"),
        "{}",
        &exported[..600]
    );
    let (code, out, err) = cli(vec![
        "account".into(),
        "import".into(),
        out_file.display().to_string(),
    ])
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("1997 row(s): 0 created, 1997 updated, 0 skipped"),
        "{out}"
    );
    let (_, v) = a.ok("GET", "/api/v1/accounts/f0001", None).await;
    assert_eq!(
        (&v["has_credentials"], &v["settings"]["order_timeout_s"]),
        (&json!(true), &json!(60)),
        "credentials stay: {v}"
    );
}
