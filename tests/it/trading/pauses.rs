//! Each pause cause, injected through the simulator, pauses the right accounts (and only
//! them) within 10 s with the right reason, notifies, and lets trading resume once the cause
//! is gone.

use alpha_oto::domain::shown::{AccountState, Phase};
use std::time::Duration;

use alpha_oto::actors::account::{AccountStatus, Command};
use alpha_oto::exchange::session::Session;
use alpha_oto::store;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::json;

use super::harness::{Harness, settings, vault_of};

const PAUSE_WITHIN: Duration = Duration::from_secs(10);

async fn wait_for(
    h: &Harness,
    id: i64,
    what: &str,
    limit: Duration,
    pred: impl Fn(&AccountStatus) -> bool,
) -> AccountStatus {
    super::harness::wait_account(&h.sup, id, what, limit, pred).await
}

/// Injects a fault of `kind` for one simulator account (for `for_s` seconds, or until
/// cleared) and waits until the daemon's account pauses with `reason` within 10 s.
async fn fault_pauses(
    h: &Harness,
    id: i64,
    sim_id: u64,
    kind: &str,
    for_s: Option<u64>,
    reason: &str,
) {
    let mut spec = json!({"kind": kind, "rate": 1.0, "account": sim_id});
    if let Some(s) = for_s {
        spec["for_s"] = json!(s);
    }
    h.fault(spec).await;
    wait_for(h, id, "pause", PAUSE_WITHIN, |s| paused_for(s, reason)).await;
}

/// Changes a simulator account's free USDT behind the daemon's back.
fn set_usdt(h: &Harness, sim_id: u64, change: impl FnOnce(&mut Decimal)) {
    h.sim.state.with(|s| {
        change(
            &mut s
                .engine
                .accounts
                .get_mut(&sim_id)
                .unwrap()
                .balances
                .get_mut("USDT")
                .unwrap()
                .free,
        )
    })
}

fn paused_for(s: &AccountStatus, reason: &str) -> bool {
    s.pauses.iter().any(|p| p == reason)
}

/// A trading pair of accounts, the second of which must never be touched by the first's cause.
/// On two tokens: pairs that fill at once (a buy above the market, a sell below it) cross each
/// other's, so two such accounts on one token take turns, and a fault aimed at one for a second
/// could find it waiting its turn and sending nothing.
async fn two_trading(seed: u64, usdt: &str) -> Harness {
    let h = Harness::new(
        seed,
        &[
            settings("KOGE", "10", "100000"),
            settings("NEX", "10", "100000"),
        ],
        usdt,
    )
    .await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 1)
        .await;
    h
}

async fn assert_still_trading(h: &Harness, id: i64) {
    let before = h.status(id).unwrap().cycles_today;
    wait_for(h, id, "keep trading", Duration::from_secs(10), |s| {
        s.cycles_today > before && s.pauses.is_empty()
    })
    .await;
}

#[actix_web::test]
async fn an_expired_session_pauses_the_account_until_new_credentials_and_a_resume() {
    let h = two_trading(201, "100000").await;
    let ((a, sim_a), (b, _)) = (h.accounts[0], h.accounts[1]);
    h.sim
        .state
        .with(|s| s.engine.expire_session(sim_a))
        .unwrap();
    wait_for(&h, a, "pause", PAUSE_WITHIN, |s| {
        paused_for(s, "session_expired")
    })
    .await;
    assert_eq!(h.events(a, "paused", Some("session_expired")), 1);
    assert_still_trading(&h, b).await;
    // The operator logs in again and stores the new session, then resumes.
    let fresh = h.sim.state.with(|s| s.engine.renew_session(sim_a)).unwrap();
    let headers = fresh
        .headers
        .into_iter()
        .map(|(k, v)| (k, SecretString::from(v)))
        .collect();
    let creds = Session::new(headers, SecretString::from(fresh.cookies)).unwrap();
    vault_of(&h.vault_line)
        .put(&mut h.db.conn(), a, &creds, 2_000)
        .unwrap();
    h.sup.command(a, Command::Resume).await.unwrap();
    assert_still_trading(&h, a).await;
    h.stop_and_check().await;
}

#[actix_web::test]
async fn too_little_balance_pauses_without_shrinking_the_order_and_resumes_after_a_top_up() {
    let h = Harness::new(
        202,
        &[
            settings("NEX", "10", "100000"),
            settings("NEX", "10", "100000"),
        ],
        "5",
    )
    .await;
    h.start_trading().await;
    let ((a, sim_a), (b, sim_b)) = (h.accounts[0], h.accounts[1]);
    // 5 USDT do not pay for a pair of 10: nothing is placed, not even a smaller pair.
    for id in [a, b] {
        wait_for(&h, id, "pause", PAUSE_WITHIN, |s| {
            paused_for(s, "insufficient_balance")
        })
        .await;
        assert_eq!(h.events(id, "paused", Some("insufficient_balance")), 1);
    }
    let placed = |sim_id: u64| h.placed(sim_id);
    assert_eq!(placed(sim_a), 0);
    // Topping up the first account lets it trade again by itself; the second stays paused.
    set_usdt(&h, sim_a, |free| *free += Decimal::from(1000));
    assert_still_trading(&h, a).await;
    let sb = h.status(b).unwrap();
    assert!(paused_for(&sb, "insufficient_balance"), "{sb:?}");
    assert_eq!(placed(sim_b), 0);
    h.stop_and_check().await;
}

/// R14 with the balance known between reads (`domain::funds`): an account trading pair after
/// pair does not ask for its balance before each one, and USDT taken out outside the daemon
/// meets the exchange's refusal, which pauses the account for its balance as the check would
/// (the other account trades on); topped up, it trades again by itself.
#[actix_web::test]
async fn the_balance_is_read_now_and_then_and_a_withdrawal_meets_the_exchanges_refusal() {
    let h = two_trading(216, "100000").await;
    let ((a, sim_a), (b, _)) = (h.accounts[0], h.accounts[1]);
    let reads = || {
        h.sim.state.with(|s| {
            s.requests
                .get(&(
                    sim_a,
                    alpha_oto::exchange::wire::paths::WALLET_ASSET.to_owned(),
                ))
                .copied()
                .unwrap_or(0)
        })
    };
    let (pairs, asked) = (h.status(a).unwrap().cycles_today, reads());
    wait_for(&h, a, "five more pairs", Duration::from_secs(30), |s| {
        s.cycles_today >= pairs + 5
    })
    .await;
    // At most one read a minute while the funds known cover the pairs (it was one a pair).
    assert!(
        reads() - asked <= 1,
        "{} reads for 5 pairs",
        reads() - asked
    );

    let usdt = |to: Decimal| set_usdt(&h, sim_a, |free| *free = to);
    // Taken out, and again whenever a sale brings some back, until the account pauses.
    let deadline = tokio::time::Instant::now() + PAUSE_WITHIN;
    while !paused_for(&h.status(a).unwrap(), "insufficient_balance") {
        assert!(tokio::time::Instant::now() < deadline, "not paused");
        usdt(Decimal::ZERO);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(h.events(a, "paused", Some("insufficient_balance")) >= 1);
    assert_still_trading(&h, b).await;
    usdt(Decimal::from(1000));
    assert_still_trading(&h, a).await;
    h.stop_and_check().await;
}

#[actix_web::test]
async fn a_lost_private_stream_pauses_until_the_operator_resumes() {
    let h = two_trading(203, "100000").await;
    let ((a, sim_a), (b, _)) = (h.accounts[0], h.accounts[1]);
    // The drops last until the account has paused (a window of a second could pass while the
    // account, between two pairs, had nothing on its stream), then they end.
    fault_pauses(&h, a, sim_a, "drop_ws", None, "stream_lost").await;
    h.clear_faults().await;
    assert_still_trading(&h, b).await;
    // The stream comes back and the account is reconciled, but it waits for a person (R13).
    wait_for(&h, a, "reconnect", Duration::from_secs(10), |s| s.stream_up).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = h.status(a).unwrap();
    assert!(paused_for(&s, "stream_lost"), "resumed by itself: {s:?}");
    h.sup.command(a, Command::Resume).await.unwrap();
    assert_still_trading(&h, a).await;
    assert!(h.events(a, "paused", Some("stream_lost")) >= 1);
    h.stop_and_check().await;
}

/// The exchange expires the listen key and says so on the stream: the connection stays open
/// but will carry nothing more, so the account treats it as a lost stream (a new key, a new
/// subscription, a reconciliation) instead of waiting for the next sync to learn its fills.
#[actix_web::test]
async fn an_expired_listen_key_is_a_lost_stream_and_is_replaced() {
    let h = two_trading(207, "100000").await;
    let ((a, sim_a), (b, _)) = (h.accounts[0], h.accounts[1]);
    fault_pauses(&h, a, sim_a, "expire_listen_key", Some(1), "stream_lost").await;
    assert_eq!(h.events(b, "paused", None), 0);
    h.clear_faults().await;
    // The operator resumes once the new stream is up and the account has reconciled.
    wait_for(&h, a, "reconcile on a new stream", PAUSE_WITHIN, |s| {
        s.stream_up && s.phase != Phase::Reconciling
    })
    .await;
    h.sup.command(a, Command::Resume).await.unwrap();
    assert_still_trading(&h, a).await;
    h.stop_and_check().await;
}

#[actix_web::test]
async fn with_auto_resume_a_lost_stream_resumes_after_reconciliation() {
    let mut auto = settings("KOGE", "10", "100000");
    auto.auto_resume = true;
    let h = Harness::new(204, &[auto], "100000").await;
    h.start_trading().await;
    let (a, sim_a) = h.accounts[0];
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 1)
        .await;
    fault_pauses(&h, a, sim_a, "drop_ws", Some(1), "stream_lost").await;
    assert_still_trading(&h, a).await;
    h.stop_and_check().await;
}

#[actix_web::test]
async fn a_rate_limit_pauses_the_account_and_it_resumes_after_the_wait() {
    let h = two_trading(205, "100000").await;
    let ((a, sim_a), (b, _)) = (h.accounts[0], h.accounts[1]);
    fault_pauses(&h, a, sim_a, "http_429", None, "rate_limited").await;
    h.clear_faults().await;
    assert_eq!(h.events(b, "paused", None), 0);
    assert_still_trading(&h, a).await;
    assert!(h.events(a, "paused", Some("rate_limited")) >= 1);
    h.stop_and_check().await;
}

#[actix_web::test]
async fn a_two_factor_challenge_pauses_and_is_never_retried_blindly() {
    let h = two_trading(206, "100000").await;
    let ((a, sim_a), (b, _)) = (h.accounts[0], h.accounts[1]);
    fault_pauses(&h, a, sim_a, "two_factor", None, "two_factor").await;
    let before = h.placed(sim_a);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        h.placed(sim_a),
        before,
        "placed while paused for a challenge"
    );
    assert_still_trading(&h, b).await;
    h.clear_faults().await;
    h.sup.command(a, Command::Resume).await.unwrap();
    assert_still_trading(&h, a).await;
    h.stop_and_check().await;
}

#[actix_web::test]
async fn volatility_pauses_every_account_on_the_token_and_only_them() {
    let mut koge = settings("KOGE", "10", "100000");
    koge.volatility_pct = Decimal::ONE;
    // A pair placed just before the jump rests until its timeout.
    koge.order_timeout_s = 5;
    koge.pending_timeout_s = 5;
    let koge2 = koge.clone();
    let h = Harness::new(
        207,
        &[koge, koge2, settings("NEX", "10", "100000")],
        "100000",
    )
    .await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 1)
        .await;
    let price = h.sim.state.with(|s| {
        s.engine
            .tokens
            .iter()
            .find(|t| t.symbol == "KOGE")
            .unwrap()
            .price
    });
    let url = format!("{}/sim/price", h.sim.base_url());
    let res = awc::Client::default()
        .post(url)
        .send_json(&json!({"symbol": "ALPHA_22", "price": (price * Decimal::new(105, 2)).round_dp(8).to_string()}))
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    for (id, _) in &h.accounts[..2] {
        wait_for(&h, *id, "pause", PAUSE_WITHIN, |s| {
            paused_for(s, "volatility")
        })
        .await;
    }
    assert_still_trading(&h, h.accounts[2].0).await;
    // The window moves on past the jump: trading resumes by itself.
    for (id, _) in &h.accounts[..2] {
        assert_still_trading(&h, *id).await;
        assert!(h.events(*id, "volatility", None) >= 1);
    }
    h.stop_and_check().await;
}

#[actix_web::test]
async fn the_cost_guard_pauses_an_account_over_its_budget() {
    let mut tight = settings("NEX", "10", "100000");
    tight.cost_budget_bps = Decimal::new(1, 2);
    let h = Harness::new(208, &[tight, settings("NEX", "10", "100000")], "100000").await;
    h.start_trading().await;
    let (a, b) = (h.accounts[0].0, h.accounts[1].0);
    wait_for(&h, a, "pause", Duration::from_secs(20), |s| {
        paused_for(s, "cost_budget")
    })
    .await;
    assert_still_trading(&h, b).await;
    h.stop_and_check().await;
}

#[actix_web::test]
async fn an_unknown_token_pauses_and_a_fixed_config_resumes() {
    let h = Harness::new(
        209,
        &[settings("NOSUCH", "10", "20"), settings("NEX", "10", "20")],
        "1000",
    )
    .await;
    h.start_trading().await;
    let (a, b) = (h.accounts[0].0, h.accounts[1].0);
    wait_for(&h, a, "pause", PAUSE_WITHIN, |s| {
        paused_for(s, "unknown_token")
    })
    .await;
    assert_eq!(h.events(a, "paused", Some("unknown_token")), 1);
    wait_for(&h, b, "reach its target", Duration::from_secs(30), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    let fixed = settings("KOGE", "10", "20");
    store::configs::upsert(&mut h.db.conn(), &store::configs::to_row(&fixed, a, 3_000)).unwrap();
    h.sup.command(a, Command::Resume).await.unwrap();
    wait_for(&h, a, "reach its target", Duration::from_secs(30), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    h.stop_and_check().await;
}

/// "Notify" is an event row, a log line and, where the account has a webhook URL, a POST that
/// arrives within the 10 s of the cause and is recorded as sent.
#[actix_web::test]
async fn a_pause_is_posted_to_the_accounts_webhook() {
    let sink = super::harness::WebhookSink::start();
    let mut hooked = settings("KOGE", "10", "100000");
    hooked.webhook_url = Some(sink.url.clone());
    let h = Harness::new(210, &[hooked, settings("KOGE", "10", "100000")], "100000").await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 1)
        .await;
    let (a, sim_a) = h.accounts[0];
    h.sim
        .state
        .with(|s| s.engine.expire_session(sim_a))
        .unwrap();
    let deadline = tokio::time::Instant::now() + PAUSE_WITHIN;
    loop {
        let bodies = sink.bodies();
        if let Some(b) = bodies.iter().find(|b| b["kind"] == "paused") {
            assert_eq!(b["reason"], "session_expired");
            assert_eq!(b["account"], h.status(a).unwrap().name);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no webhook: {bodies:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Signed with the account's secret, over the bytes as sent.
    let key = vault_of(&h.vault_line)
        .derived_key(alpha_oto::actors::webhook::SIGNING_PURPOSE)
        .unwrap();
    let secret = alpha_oto::actors::webhook::account_secret(&key, &h.status(a).unwrap().name);
    for p in sink.posted() {
        let sig = p.signature.clone().expect("every POST is signed");
        let at: i64 = sig
            .strip_prefix("t=")
            .and_then(|r| r.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            sig,
            alpha_oto::actors::webhook::signature(&secret, at, &p.raw)
        );
    }
    // The row records the delivery; the other account (no URL) posted nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = store::events::list(
        &mut h.db.conn(),
        Some(a),
        alpha_oto::store::models::Page::first(50),
    )
    .unwrap();
    let paused = events.iter().find(|e| e.kind == "paused").unwrap();
    assert_eq!(
        paused.webhook_status,
        alpha_oto::store::models::WebhookStatus::Sent
    );
    assert!(
        sink.bodies()
            .iter()
            .all(|b| b["account"] == h.status(a).unwrap().name)
    );
    sink.stop().await;
    h.act(h.accounts[1].0, alpha_oto::actors::operator::Action::Stop)
        .await;
}

/// A stream that stays connected but goes silent counts as lost (B5).
#[actix_web::test]
async fn a_silent_private_stream_counts_as_lost() {
    let h = two_trading(211, "100000").await;
    let ((a, sim_a), (b, _)) = (h.accounts[0], h.accounts[1]);
    h.fault(json!({"kind": "stall_ws", "rate": 1.0, "account": sim_a}))
        .await;
    // Stale after 3 s of silence in the tests' timings (30 s by default); pings keep a quiet
    // but healthy stream alive, so only the stall trips it.
    wait_for(&h, a, "pause", PAUSE_WITHIN, |s| {
        paused_for(s, "stream_lost")
    })
    .await;
    assert_still_trading(&h, b).await;
    h.clear_faults().await;
    wait_for(&h, a, "reconnect", Duration::from_secs(20), |s| s.stream_up).await;
    h.sup.command(a, Command::Resume).await.unwrap();
    assert_still_trading(&h, a).await;
    h.stop_and_check().await;
}

#[actix_web::test]
async fn a_face_check_pauses_and_resumes_once_passed() {
    let h = two_trading(212, "100000").await;
    let ((a, sim_a), (b, _)) = (h.accounts[0], h.accounts[1]);
    fault_pauses(&h, a, sim_a, "face_check", None, "face_check").await;
    assert_eq!(h.events(a, "paused", Some("face_check")), 1);
    assert_still_trading(&h, b).await;
    h.clear_faults().await;
    h.sup.command(a, Command::Resume).await.unwrap();
    assert_still_trading(&h, a).await;
    h.stop_and_check().await;
}

/// No usable precision for the token (R18): the account pauses instead of guessing a step.
#[actix_web::test]
async fn missing_precision_pauses_and_a_resume_retries() {
    let h = Harness::new(213, &[settings("LIGHT", "10", "20")], "1000").await;
    h.fault(json!({"kind": "no_precision", "rate": 1.0})).await;
    h.start_trading().await;
    let a = h.accounts[0].0;
    wait_for(&h, a, "pause", PAUSE_WITHIN, |s| paused_for(s, "precision")).await;
    assert_eq!(h.events(a, "paused", Some("precision")), 1);
    assert_eq!(h.open_on_exchange(), Vec::<u64>::new());
    h.clear_faults().await;
    h.sup.command(a, Command::Resume).await.unwrap();
    wait_for(&h, a, "reach its target", Duration::from_secs(30), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    h.stop_and_check().await;
}

/// An account resting at its target sends no orders, yet learns of an expired session: the
/// session is probed on a timer (B2).
#[actix_web::test]
async fn an_idle_account_learns_of_an_expired_session() {
    let h = Harness::new(214, &[settings("KOGE", "10", "20")], "1000").await;
    h.start_trading().await;
    let (a, sim_a) = h.accounts[0];
    wait_for(&h, a, "reach its target", Duration::from_secs(30), |s| {
        s.state == AccountState::DoneForToday
    })
    .await;
    h.sim
        .state
        .with(|s| s.engine.expire_session(sim_a))
        .unwrap();
    wait_for(&h, a, "pause", PAUSE_WITHIN, |s| {
        paused_for(s, "session_expired")
    })
    .await;
    assert_eq!(h.events(a, "paused", Some("session_expired")), 1);
}

/// A webhook owed when the daemon stopped is delivered by the next start.
#[actix_web::test]
async fn an_undelivered_webhook_is_sent_by_the_next_start() {
    let sink = super::harness::WebhookSink::start();
    let mut hooked = settings("KOGE", "10", "100");
    hooked.webhook_url = Some(sink.url.clone());
    let world = super::harness::World::new(215, &[hooked], "1000").await;
    let id = world.accounts[0].0;
    let owed = store::events::append(
        &mut world.db.conn(),
        &alpha_oto::store::models::NewEvent {
            account_id: Some(id),
            account_name: Some("owed".into()),
            kind: "paused".into(),
            level: alpha_oto::store::models::EventLevel::Warn,
            reason: Some("stream_lost".into()),
            actor: "daemon".into(),
            message: "paused: stream_lost".into(),
            data: json!({"account": "owed", "kind": "paused", "reason": "stream_lost"}).to_string(),
            webhook_status: alpha_oto::store::models::WebhookStatus::Pending,
            created_at_ms: 1_000,
        },
    )
    .unwrap();
    let h = world.engine("next-start").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = store::events::list(
            &mut h.db.conn(),
            Some(id),
            alpha_oto::store::models::Page::first(10),
        )
        .unwrap()
        .into_iter()
        .find(|e| e.id == owed.id)
        .unwrap();
        if row.webhook_status == alpha_oto::store::models::WebhookStatus::Sent {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{row:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["reason"], "stream_lost");
    sink.stop().await;
}

/// A daemon restarts for an account that trades but whose session expired meanwhile: the
/// account cannot get its stream, so it never reconciles; it shows as paused for the expired
/// session (what the operator must fix), not as stopped.
#[actix_web::test]
async fn an_account_whose_session_expired_while_the_daemon_was_down_shows_paused() {
    let w = super::harness::World::new(208, &[settings("KOGE", "10", "100000")], "100000").await;
    let (id, sim_id) = w.accounts[0];
    store::accounts::set_state(&mut w.db.conn(), id, AccountState::Trading, None, 1_000).unwrap();
    store::accounts::command(&mut w.db.conn(), id, store::models::Desired::Run).unwrap();
    w.sim
        .state
        .with(|s| s.engine.expire_session(sim_id))
        .unwrap();
    let h = w.engine("test-1").await;
    h.sup.start_all().await.unwrap();
    let s = wait_for(&h, id, "pause", PAUSE_WITHIN, |s| {
        paused_for(s, "session_expired")
    })
    .await;
    assert_eq!(s.state, AccountState::Paused, "{s:?}");
    assert_eq!(s.pause_reason.as_deref(), Some("session_expired"), "{s:?}");
}

/// A webhook may not reach the daemon's own host or network unless the operator allows the
/// host by name: a loopback literal and a name that resolves to loopback both fail, and the
/// receiver hears nothing.
#[actix_web::test]
async fn a_webhook_to_an_internal_address_is_refused_unless_allowed() {
    let sink = super::harness::WebhookSink::start();
    let mut literal = settings("KOGE", "10", "100000");
    literal.webhook_url = Some(sink.url.clone());
    let mut named = settings("KOGE", "10", "100000");
    named.webhook_url = Some(sink.url.replace("127.0.0.1", "localhost"));
    let h = super::harness::World::new(216, &[literal, named], "100000")
        .await
        .engine_with("strict", |c| c.webhooks.allow_hosts.clear())
        .await;
    h.start_trading().await;
    h.wait_all("trade", Duration::from_secs(30), |s| s.cycles_today >= 1)
        .await;
    for (_, sim_id) in &h.accounts {
        h.sim
            .state
            .with(|s| s.engine.expire_session(*sim_id))
            .unwrap();
    }
    let failed = |id: i64| {
        store::events::list(
            &mut h.db.conn(),
            Some(id),
            alpha_oto::store::models::Page::first(50),
        )
        .unwrap()
        .iter()
        .any(|e| {
            e.kind == "paused"
                && e.webhook_status == alpha_oto::store::models::WebhookStatus::Failed
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !h.accounts.iter().all(|(id, _)| failed(*id)) {
        assert!(tokio::time::Instant::now() < deadline, "not refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sink.posted().is_empty(), "{:?}", sink.posted());
    sink.stop().await;
}
