//! Tests of the account core: each rule through the one entry point, then random inputs
//! (looks, errors, answers, reports) against the invariants.

use std::sync::Arc;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::account::*;
use super::cycle::*;
use super::guards::{Holds, Quote, Setback};
use super::pause::PauseReason;
use super::points::Target;
use super::test_fixtures::{self, d, grid};
use super::token_choice::{Listed, Policy};

fn cycle_cfg() -> CycleConfig {
    CycleConfig {
        order_symbol: "ALPHA_1USDT".into(),
        target: Target::Usdt(d("1000")),
        mul_point: d("4"),
        ..test_fixtures::cycle_cfg()
    }
}

fn core_cfg() -> CoreConfig {
    CoreConfig {
        symbol: "ONE".into(),
        alpha_id: "ALPHA_1".into(),
        grid: grid(),
        stale_ms: 10_000,
        volatility_pct: d("5"),
        order_usdt: d("10"),
        balance_recheck_ms: 30_000,
        cost_budget_bps: d("20"),
        probe_every_ms: 600_000,
        look_ms: 500,
        look_max_ms: 15_000,
        token_policy: None,
    }
}

/// A core at time 0, started, its first reconciliation done.
fn core_with(cfg: CoreConfig) -> AccountCore {
    let cycle = Cycle::new("acc", cycle_cfg(), Decimal::ZERO);
    let mut core = AccountCore::new(cycle, cfg, None, 0);
    core.on(Input::FirstReconciled, 0);
    core.on(Input::Event(Event::Start), 0);
    core
}

fn core() -> AccountCore {
    core_with(core_cfg())
}

fn fresh(price: &str, at_ms: i64, range: &str) -> Look {
    Look {
        quote: Some(Quote {
            price: d(price),
            at_ms,
            range_pct: Some(d(range)),
        }),
        ..Look::default()
    }
}

fn effects(steps: &[Step]) -> Vec<&Effect> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Effect(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn places(steps: &[Step]) -> bool {
    effects(steps)
        .iter()
        .any(|e| matches!(e, Effect::PersistIntent(_)))
}

/// One look and its end at `now`, with a fresh price.
fn tick(core: &mut AccountCore, now: i64) -> Vec<Step> {
    let mut steps = core.on(Input::Tick(fresh("0.25", now, "0")), now);
    steps.extend(core.on(Input::TickEnd, now));
    steps
}

#[test]
fn a_fresh_calm_price_starts_a_pair_at_the_end_of_the_look() {
    let mut c = core();
    let steps = core_look_only(&mut c, 1_000);
    assert!(!places(&steps), "the look itself places nothing: {steps:?}");
    let steps = c.on(Input::TickEnd, 1_000);
    assert!(places(&steps), "{steps:?}");
}

fn core_look_only(c: &mut AccountCore, now: i64) -> Vec<Step> {
    c.on(Input::Tick(fresh("0.25", now, "0")), now)
}

#[test]
fn a_stale_price_pauses_and_a_fresh_one_resumes() {
    let mut c = core();
    let steps = c.on(Input::Tick(fresh("0.25", 0, "0")), 20_000);
    assert!(steps.contains(&Step::Effect(Effect::Paused(PauseReason::PriceFeed))));
    assert!(!places(&c.on(Input::TickEnd, 20_000)));
    let steps = c.on(Input::Tick(fresh("0.25", 21_000, "0")), 21_000);
    assert!(steps.contains(&Step::Effect(Effect::Resumed)), "{steps:?}");
    assert!(places(&steps), "lifted on the fresh price: {steps:?}");
}

#[test]
fn a_wide_range_pauses_with_a_notice_and_lifts_once_calm() {
    let mut c = core();
    let steps = c.on(Input::Tick(fresh("0.25", 1_000, "7.5")), 1_000);
    assert!(steps.contains(&Step::Effect(Effect::Paused(PauseReason::Volatility))));
    assert!(steps.iter().any(
        |s| matches!(s, Step::Notify(n) if n.kind == "volatility" && n.message.contains("7.5%"))
    ));
    assert!(!places(&c.on(Input::TickEnd, 1_000)));
    assert!(c.cycle().pauses.contains(&PauseReason::Volatility));
    let steps = c.on(Input::Tick(fresh("0.25", 2_000, "1")), 2_000);
    assert!(c.cycle().pauses.is_empty(), "{:?}", c.cycle().pauses);
    assert!(places(&steps), "lifted on today's calm market: {steps:?}");
}

#[test]
fn a_rate_limit_holds_for_the_named_wait_then_lifts() {
    let mut c = core();
    c.on(Input::Event(Event::Pause(PauseReason::RateLimited)), 0);
    c.on(
        Input::Setback(Setback::RateLimited {
            retry_after_ms: Some(30_000),
        }),
        0,
    );
    assert!(!places(&tick(&mut c, 29_000)));
    assert!(c.cycle().pauses.contains(&PauseReason::RateLimited));
    let steps = tick(&mut c, 30_000);
    assert!(c.cycle().pauses.is_empty());
    assert!(places(&steps), "{steps:?}");
}

#[test]
fn an_unanswered_request_keeps_an_idle_account_quiet_for_a_moment() {
    let mut c = core();
    c.on(Input::Setback(Setback::Unanswered), 1_000);
    assert!(!places(&tick(
        &mut c,
        1_000 + Holds::UNANSWERED_QUIET_MS - 1
    )));
    assert!(places(&tick(&mut c, 1_000 + Holds::UNANSWERED_QUIET_MS)));
}

/// A core whose first pair was refused for its balance at `now`.
fn short_of_balance(now: i64) -> AccountCore {
    let mut c = core();
    let steps = tick(&mut c, now);
    let Some(Effect::PersistIntent(intent)) = effects(&steps).first().copied().cloned() else {
        panic!("no pair: {steps:?}");
    };
    c.on(
        Input::Event(Event::PlaceRefused {
            intent_id: intent.id,
            refusal: Refusal::InsufficientBalance,
        }),
        now,
    );
    c
}

#[test]
fn a_short_balance_is_read_again_after_the_wait_and_lifts_once_it_covers_a_pair() {
    let mut c = short_of_balance(1_000);
    assert!(c.cycle().pauses.contains(&PauseReason::InsufficientBalance));
    let steps = c.on(Input::Tick(fresh("0.25", 2_000, "0")), 2_000);
    assert!(!steps.contains(&Step::ReadBalance), "read again too soon");
    let steps = c.on(Input::Tick(fresh("0.25", 31_000, "0")), 31_000);
    assert!(steps.contains(&Step::ReadBalance), "{steps:?}");
    let steps = c.on(Input::Tick(fresh("0.25", 32_000, "0")), 32_000);
    assert!(!steps.contains(&Step::ReadBalance), "one read per wait");
    c.on(Input::Balance(d("9.99")), 32_000);
    assert!(c.cycle().pauses.contains(&PauseReason::InsufficientBalance));
    c.on(Input::Balance(d("10")), 32_000);
    assert!(c.cycle().pauses.is_empty());
}

#[test]
fn a_new_utc_day_is_announced_once_and_lifts_the_cost_budget() {
    let mut c = core();
    c.on(Input::Event(Event::Pause(PauseReason::CostBudget)), 1_000);
    let day = 86_400_000;
    assert!(!core_look_only(&mut c, day - 1).contains(&Step::NewDay));
    assert!(core_look_only(&mut c, day).contains(&Step::NewDay));
    assert!(!core_look_only(&mut c, day + 1).contains(&Step::NewDay));
    c.on(Input::NewDay { volume: d("0") }, day + 1);
    assert!(!c.cycle().pauses.contains(&PauseReason::CostBudget));
}

#[test]
fn a_multiplier_change_holds_new_pairs_until_the_exchange_figure_is_read_again() {
    let mut c = core();
    let look = Look {
        mul_point: Some(d("1")),
        ..fresh("0.25", 1_000, "0")
    };
    let steps = c.on(Input::Tick(look.clone()), 1_000);
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Notify(n) if n.kind == "mul_point_changed"))
    );
    assert!(steps.contains(&Step::ReadUserVolume), "{steps:?}");
    assert_eq!(c.cycle().cfg.mul_point, d("1"));
    assert!(!places(&c.on(Input::TickEnd, 1_000)));
    // Unanswered: asked again at the next look, still held.
    let steps = c.on(Input::Tick(look.clone()), 2_000);
    assert!(steps.contains(&Step::ReadUserVolume));
    let steps = c.on(Input::UserVolume(Some(d("40"))), 2_000);
    assert!(!c.cycle().holding());
    assert_eq!(c.cycle().volume.counted, d("40"));
    assert!(places(&steps), "the hold lifted: {steps:?}");
    assert!(
        !c.on(Input::Tick(look), 3_000)
            .contains(&Step::ReadUserVolume)
    );
}

#[test]
fn a_figure_that_cannot_be_read_gives_up_and_lets_pairs_go() {
    let mut c = core();
    let look = Look {
        mul_point: Some(d("2")),
        ..fresh("0.25", 1_000, "0")
    };
    c.on(Input::Tick(look), 1_000);
    let steps = c.on(Input::UserVolume(None), 1_000);
    assert!(!c.cycle().holding());
    assert!(places(&steps), "{steps:?}");
}

#[test]
fn leftovers_are_looked_for_once_a_price_is_known_and_sold_with_a_notice() {
    let mut c = core();
    c.on(Input::LookForLeftovers, 0);
    let steps = c.on(Input::Tick(Look::default()), 1_000);
    assert!(!steps.contains(&Step::ReadWallet), "no price yet");
    let steps = core_look_only(&mut c, 2_000);
    assert!(steps.contains(&Step::ReadWallet));
    // Not read: looked for again.
    c.on(Input::Wallet(None), 2_000);
    assert!(core_look_only(&mut c, 3_000).contains(&Step::ReadWallet));
    let steps = c.on(Input::Wallet(Some(d("39.999"))), 3_000);
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Notify(n) if n.kind == "leftover_recovered"))
    );
    assert!(
        effects(&steps)
            .iter()
            .any(|e| matches!(e, Effect::PersistSell(s) if s.quantity == d("39.99"))),
        "{steps:?}"
    );
    assert!(!core_look_only(&mut c, 4_000).contains(&Step::ReadWallet));
}

#[test]
fn dust_in_the_wallet_is_left_alone() {
    let mut c = core();
    c.on(Input::LookForLeftovers, 0);
    core_look_only(&mut c, 1_000);
    let steps = c.on(Input::Wallet(Some(d("0.001"))), 1_000);
    assert!(steps.is_empty(), "{steps:?}");
}

#[test]
fn an_undecided_reconciliation_is_asked_again_after_its_wait() {
    let cycle = Cycle::new("acc", cycle_cfg(), Decimal::ZERO);
    let mut c = AccountCore::new(cycle, core_cfg(), Some(d("100")), 0);
    let intent = Intent {
        id: "i1".into(),
        buy_price: d("0.25"),
        sell_price: d("0.2475"),
        quantity: d("40"),
        payment: d("10"),
        created_ms: 0,
    };
    c.on(
        Input::Restore {
            intent,
            seen: Vec::new(),
        },
        0,
    );
    // The exchange's count waits while a pair is in doubt.
    assert!(c.on(Input::FirstReconciled, 0).is_empty());
    c.on(Input::ReconcileLater { wait_ms: 2_000 }, 1_000);
    assert!(!core_look_only(&mut c, 2_999).contains(&Step::Effect(Effect::Reconcile)));
    assert!(core_look_only(&mut c, 3_000).contains(&Step::Effect(Effect::Reconcile)));
    assert!(!core_look_only(&mut c, 4_000).contains(&Step::Effect(Effect::Reconcile)));
    c.on(Input::Event(Event::Reconciled(Found::NotPlaced)), 4_000);
    assert_eq!(
        c.cycle().volume.counted,
        d("100"),
        "taken once no pair is in doubt"
    );
}

#[test]
fn a_failed_cancel_is_sent_again_only_while_the_machine_still_cancels_it() {
    let mut c = core();
    c.on(
        Input::CancelFailed {
            order_id: "w1".into(),
        },
        0,
    );
    let steps = c.on(Input::TickEnd, 5_000);
    assert!(
        !effects(&steps)
            .iter()
            .any(|e| matches!(e, Effect::Cancel { .. })),
        "not cancelling w1 any more: {steps:?}"
    );
}

#[test]
fn the_session_is_probed_on_its_timer() {
    let mut c = core();
    assert!(!core_look_only(&mut c, 599_999).contains(&Step::ProbeSession));
    assert!(core_look_only(&mut c, 600_000).contains(&Step::ProbeSession));
    assert!(!core_look_only(&mut c, 600_001).contains(&Step::ProbeSession));
}

fn listed(alpha_id: &str, mul_point: &str) -> Listed {
    Listed {
        symbol: alpha_id.replace("ALPHA_", "T"),
        chain_id: "56".into(),
        alpha_id: alpha_id.into(),
        tradable: true,
        mul_point: d(mul_point),
        price: Some(d("1")),
        high_24h: Some(d("1.01")),
        low_24h: Some(d("0.99")),
        volume_24h: Some(d("1000000")),
    }
}

fn auto() -> AccountCore {
    core_with(CoreConfig {
        token_policy: Some((
            Policy {
                min_mul_point: d("2"),
                allow: Vec::new(),
            },
            3_600_000,
        )),
        ..core_cfg()
    })
}

fn board(version: i64, tokens: Vec<Listed>) -> TokenLook {
    TokenLook {
        version: Some(version),
        listed: Arc::new(tokens),
        chosen_at_ms: Some(0),
    }
}

#[test]
fn an_account_leaves_a_token_whose_incentive_ended_at_its_pair_boundary() {
    let mut c = auto();
    let mut look = fresh("0.25", 1_000, "0");
    look.tokens = Some(board(
        1,
        vec![listed("ALPHA_1", "4"), listed("ALPHA_2", "4")],
    ));
    assert!(
        !c.on(Input::Tick(look), 1_000)
            .iter()
            .any(|s| matches!(s, Step::MoveToken { .. }))
    );
    // A pair goes live; then the incentive of its token ends.
    let steps = c.on(Input::TickEnd, 1_000);
    let Some(Effect::PersistIntent(intent)) = effects(&steps).first().copied().cloned() else {
        panic!("no pair: {steps:?}");
    };
    let mut look = fresh("0.25", 2_000, "0");
    look.tokens = Some(board(
        2,
        vec![listed("ALPHA_1", "1"), listed("ALPHA_2", "4")],
    ));
    let steps = c.on(Input::Tick(look.clone()), 2_000);
    assert!(!steps.iter().any(|s| matches!(s, Step::MoveToken { .. })));
    assert!(c.cycle().holding(), "no new pair meanwhile");
    // The live pair ends (refused, here): at rest, the account moves, with a notice.
    c.on(
        Input::Event(Event::PlaceRefused {
            intent_id: intent.id,
            refusal: Refusal::Rejected,
        }),
        2_500,
    );
    let steps = c.on(Input::Tick(look), 3_000);
    assert!(steps.contains(&Step::MoveToken {
        to_alpha_id: "ALPHA_2".into()
    }));
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Notify(n) if n.kind == "token_switched"))
    );
}

#[test]
fn an_unchanged_token_list_is_ranked_again_only_after_a_while() {
    let mut c = auto();
    // The best token is on another, but the last move is recent: stays.
    let tokens = vec![listed("ALPHA_1", "2"), listed("ALPHA_2", "4")];
    let mut look = fresh("0.25", 1_000, "0");
    look.tokens = Some(TokenLook {
        chosen_at_ms: Some(0),
        ..board(1, tokens.clone())
    });
    assert!(
        !c.on(Input::Tick(look.clone()), 1_000)
            .iter()
            .any(|s| matches!(s, Step::MoveToken { .. }))
    );
    // The interval passes; the same list version is ranked again only after its wait.
    let later = 3_600_000;
    let mut late = fresh("0.25", later, "0");
    late.tokens = look.tokens.clone();
    let steps = c.on(Input::Tick(late), later);
    assert!(
        steps.iter().any(|s| matches!(s, Step::MoveToken { .. })),
        "{steps:?}"
    );
}

/// What a random run does next.
#[derive(Debug, Clone)]
enum Action {
    /// A look and its end, `dt` ms later, with the price `age` ms old, its range, the
    /// multiplier the list shows.
    Tick {
        dt: i64,
        age: i64,
        range: u8,
        mul: u8,
    },
    /// The exchange answers the live pair's placing: placed, refused (balance), not sent.
    Answer(u8),
    /// A leg of the live pair fills completely.
    Fill {
        working: bool,
    },
    Setback(u8),
    Balance(bool),
    Volume(bool),
    PauseResume(bool),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (
            prop_oneof![1_i64..4_000, 1_i64..40_000],
            0_i64..15_000,
            0_u8..8,
            1_u8..5
        )
            .prop_map(|(dt, age, range, mul)| {
                Action::Tick {
                    dt,
                    age,
                    range,
                    mul,
                }
            }),
        (0_u8..3).prop_map(Action::Answer),
        any::<bool>().prop_map(|working| Action::Fill { working }),
        (0_u8..3).prop_map(Action::Setback),
        any::<bool>().prop_map(Action::Balance),
        any::<bool>().prop_map(Action::Volume),
        any::<bool>().prop_map(Action::PauseResume),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    /// Whatever comes in: one live pair at a time, its intent stored before it is placed, no
    /// new pair while a guard holds (a pause, a quiet after an unanswered request, a held
    /// boundary, a stale or missing price), and the volume counted once per fill.
    #[test]
    fn the_core_never_starts_a_pair_a_guard_holds_back(
        actions in proptest::collection::vec(action(), 1..150),
    ) {
        let mut c = core();
        let mut now = 0_i64;
        let mut live: Option<Intent> = None;
        let mut placed: Option<(String, String)> = None;
        let mut quiet_until = 0_i64;
        let mut bought = Decimal::ZERO;
        let mut ids = 0_u32;
        for a in actions {
            let steps = match a {
                Action::Tick { dt, age, range, mul } => {
                    now += dt;
                    let look = Look {
                        mul_point: Some(Decimal::from(mul)),
                        ..fresh("0.25", now - age, &range.to_string())
                    };
                    let mut steps = c.on(Input::Tick(look), now);
                    let fresh_price = age <= 10_000 && range <= 5;
                    if places(&steps) {
                        prop_assert!(fresh_price, "a pair on a stale or wild price");
                    }
                    let end = c.on(Input::TickEnd, now);
                    if places(&end) {
                        prop_assert!(fresh_price, "a pair on a stale or wild price");
                        prop_assert!(now >= quiet_until, "a pair in the quiet after an error");
                    }
                    steps.extend(end);
                    steps
                }
                Action::Answer(k) => match (live.clone(), k) {
                    (Some(i), 0) if placed.is_none() => {
                        ids += 1;
                        let ids = (format!("w{ids}"), format!("p{ids}"));
                        placed = Some(ids.clone());
                        c.on(Input::Event(Event::Placed { intent_id: i.id, working_id: ids.0, pending_id: ids.1 }), now)
                    }
                    (Some(i), 1) if placed.is_none() => c.on(Input::Event(Event::PlaceRefused { intent_id: i.id, refusal: Refusal::InsufficientBalance }), now),
                    // Nothing reached the exchange: the shell tells the core both.
                    (Some(i), 2) if placed.is_none() => {
                        quiet_until = now + Holds::UNANSWERED_QUIET_MS;
                        let mut steps = c.on(Input::Setback(Setback::Unanswered), now);
                        steps.extend(c.on(Input::Event(Event::PlaceRefused { intent_id: i.id, refusal: Refusal::NotSent }), now));
                        steps
                    }
                    _ => Vec::new(),
                },
                Action::Fill { working } => match &placed {
                    Some((w, p)) => {
                        let id = if working { w } else { p };
                        let i = live.clone().unwrap();
                        let quote = if working { i.payment } else { i.payment * d("0.99") };
                        c.on(Input::Event(Event::Report(OrderUpdate {
                            order_id: id.clone(),
                            status: LegStatus::Filled,
                            orig_qty: i.quantity,
                            cum_qty: i.quantity,
                            cum_quote: quote,
                        })), now)
                    }
                    None => Vec::new(),
                },
                Action::Setback(k) => {
                    let s = match k {
                        0 => Setback::Unanswered,
                        1 => Setback::RateLimited { retry_after_ms: Some(5_000) },
                        _ => Setback::Other,
                    };
                    if k == 0 {
                        quiet_until = now + Holds::UNANSWERED_QUIET_MS;
                    }
                    c.on(Input::Setback(s), now)
                }
                Action::Balance(enough) => c.on(Input::Balance(if enough { d("10") } else { d("1") }), now),
                Action::Volume(read) => c.on(Input::UserVolume(read.then(|| c.cycle().volume.counted)), now),
                Action::PauseResume(pause) => {
                    let e = if pause { Event::Pause(PauseReason::Operator) } else { Event::Resume(PauseReason::Operator) };
                    c.on(Input::Event(e), now)
                }
            };
            let fx = effects(&steps);
            for (k, e) in fx.iter().enumerate() {
                match e {
                    Effect::PlaceOto(i) => {
                        prop_assert!(k > 0 && *fx[k - 1] == Effect::PersistIntent(i.clone()), "place without its intent: {fx:?}");
                        prop_assert!(live.is_none(), "a second live pair");
                        // Nothing after a place in one input sets a pause or a hold.
                        prop_assert!(!c.cycle().holding(), "a pair while new pairs are held");
                        prop_assert!(c.cycle().pauses.is_empty(), "a pair while paused: {:?}", c.cycle().pauses);
                        live = Some(i.clone());
                        placed = None;
                    }
                    Effect::RecordFill { is_buy: true, quote, .. } => bought += *quote,
                    Effect::CloseCycle { intent_id, .. } => {
                        prop_assert_eq!(live.as_ref().map(|i| i.id.as_str()), Some(intent_id.as_str()));
                        live = None;
                        placed = None;
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(c.cycle().volume.real, bought, "volume counted once per fill");
        }
    }
}

#[test]
fn a_pair_over_the_cost_budget_is_withdrawn_and_the_account_pauses_until_the_next_day() {
    let mut c = core();
    let steps = tick(&mut c, 1_000);
    let Some(Effect::PersistIntent(intent)) = effects(&steps).first().copied().cloned() else {
        panic!("no pair: {steps:?}");
    };
    let today = |cost: &str, waiting| DayCost {
        cost_usdt: d(cost),
        bought_usdt: d("1000"),
        writes_waiting: waiting,
    };
    // 20 bps of 1000 USDT is 2 USDT: at the budget the pair goes.
    let due = |today| Input::PairDue {
        intent_id: intent.id.clone(),
        today,
    };
    assert!(c.on(due(today("2", false)), 1_000).is_empty());
    // A fill waiting to be written leaves the count short: not judged on it.
    assert!(c.on(due(today("2.5", true)), 1_000).is_empty());
    let steps = c.on(due(today("2.5", false)), 1_000);
    assert_eq!(
        steps.first(),
        Some(&Step::Withdraw {
            intent_id: intent.id.clone()
        })
    );
    assert!(steps.contains(&Step::Effect(Effect::Paused(PauseReason::CostBudget))));
    assert!(!c.cycle().pair_may_be_live(), "{:?}", c.cycle().state);
    assert!(!places(&tick(&mut c, 2_000)));
    c.on(Input::NewDay { volume: d("0") }, 86_400_000);
    assert!(c.cycle().pauses.is_empty());
}

#[test]
fn the_operators_resume_lifts_only_pauses_whose_cause_is_gone() {
    let mut c = core();
    for r in [
        PauseReason::Operator,
        PauseReason::StreamLost,
        PauseReason::PriceFeed,
    ] {
        c.on(Input::Event(Event::Pause(r)), 0);
    }
    let steps = c.on(Input::OperatorResume { stream_live: false }, 0);
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Notify(n) if n.kind == "resumed"))
    );
    let left: Vec<PauseReason> = c.cycle().pauses.iter().copied().collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(c.cycle().pauses.contains(&PauseReason::StreamLost));
    assert!(c.cycle().pauses.contains(&PauseReason::PriceFeed));
    c.on(Input::OperatorResume { stream_live: true }, 0);
    assert_eq!(
        c.cycle().pauses.iter().copied().collect::<Vec<_>>(),
        [PauseReason::PriceFeed]
    );
}

#[test]
fn a_resume_after_a_session_pause_starts_the_task_again_for_new_credentials() {
    let mut c = core();
    c.on(Input::Event(Event::Pause(PauseReason::TwoFactor)), 0);
    assert_eq!(
        c.on(Input::OperatorResume { stream_live: true }, 0),
        [Step::Reload]
    );
}

#[test]
fn a_resume_starts_a_stopped_account() {
    let mut c = core();
    c.on(Input::Event(Event::Stop), 0);
    assert_eq!(c.cycle().state, State::Stopped);
    c.on(Input::OperatorResume { stream_live: true }, 0);
    assert_ne!(c.cycle().state, State::Stopped);
}

#[test]
fn new_settings_are_taken_between_pairs_never_during_one() {
    // At rest: the task starts again at once.
    let mut c = core();
    assert_eq!(c.on(Input::SettingsChanged, 500), vec![Step::Reload]);

    // With a pair live: new pairs wait, and the reload comes once the pair is over.
    let mut c = core();
    c.on(Input::Tick(fresh("0.25", 1_000, "0")), 1_000);
    let steps = c.on(Input::TickEnd, 1_000);
    let Some(Effect::PersistIntent(intent)) = effects(&steps).first().copied().cloned() else {
        panic!("no pair: {steps:?}");
    };
    let steps = c.on(Input::SettingsChanged, 1_500);
    assert!(!steps.contains(&Step::Reload), "{steps:?}");
    assert!(c.cycle().holding(), "no new pair meanwhile");
    let steps = tick(&mut c, 2_000);
    assert!(
        !steps.contains(&Step::Reload) && !places(&steps),
        "{steps:?}"
    );
    c.on(
        Input::Event(Event::PlaceRefused {
            intent_id: intent.id,
            refusal: Refusal::Rejected,
        }),
        2_500,
    );
    let steps = c.on(Input::Tick(fresh("0.25", 3_000, "0")), 3_000);
    assert_eq!(steps, vec![Step::Reload]);
    // Asked once: the task that starts again is a new core.
    assert!(
        !c.on(Input::Tick(fresh("0.25", 3_500, "0")), 3_500)
            .contains(&Step::Reload)
    );
}

/// A pair placed at `now` and its buy filled: its sell rests.
fn pending_at(c: &mut AccountCore, now: i64) -> Intent {
    let steps = tick(c, now);
    let Some(Effect::PersistIntent(intent)) = effects(&steps).first().copied().cloned() else {
        panic!("no pair: {steps:?}");
    };
    c.on(
        Input::Event(Event::Placed {
            intent_id: intent.id.clone(),
            working_id: "1".into(),
            pending_id: "2".into(),
        }),
        now,
    );
    c.on(
        Input::Event(Event::Report(OrderUpdate {
            order_id: "1".into(),
            status: LegStatus::Filled,
            orig_qty: intent.quantity,
            cum_qty: intent.quantity,
            cum_quote: intent.payment,
        })),
        now,
    );
    assert!(
        matches!(c.cycle().state, State::Pending { .. }),
        "{:?}",
        c.cycle().state
    );
    intent
}

/// A look at `now` with a fresh price, then when the next is due.
fn look_then_wake(c: &mut AccountCore, now: i64) -> Wake {
    c.on(Input::Tick(fresh("0.25", now, "0")), now);
    c.wake(now, Some(now))
}

#[test]
fn a_resting_sell_wakes_the_account_at_its_timeout_or_its_loss_cut_price_not_every_tick() {
    let mut c = core();
    let intent = pending_at(&mut c, 1_000);
    let wake = c.wake(1_000, Some(1_000));
    // Pending times out 120 s after the buy filled (test_fixtures); the price is stale 10 s
    // after it was seen, which comes first.
    assert_eq!(wake.at_ms, 1_000 + 10_000 + 1);
    assert_eq!(
        wake.price_at_or_below,
        crate::domain::guards::loss_cut_price(intent.buy_price, c.cycle().cfg.max_hold_loss_pct)
    );
    // With a fresh price at each look, no look before the timeout but when the price would
    // turn stale.
    assert_eq!(look_then_wake(&mut c, 100_000).at_ms, 100_000 + 10_000 + 1);
    assert_eq!(
        look_then_wake(&mut c, 118_000).at_ms,
        1_000 + c.cycle().cfg.pending_timeout_ms
    );
    // Nothing else due: the longest quiet after the last look, however many messages came
    // between (each asks again).
    let mut quiet = core_with(CoreConfig {
        stale_ms: 1_000_000,
        ..core_cfg()
    });
    pending_at(&mut quiet, 0);
    assert_eq!(quiet.wake(0, Some(0)).at_ms, 15_000, "look_max");
    assert_eq!(quiet.wake(9_000, Some(0)).at_ms, 15_000, "not pushed away");
}

#[test]
fn an_account_waiting_to_place_looks_at_each_tick_and_a_stopped_one_only_at_its_timers() {
    let c = core();
    assert_eq!(c.wake(0, Some(0)).at_ms, 500);
    assert_eq!(
        c.wake(300, Some(0)).at_ms,
        500,
        "a tick after the last look"
    );
    assert_eq!(c.wake(0, Some(0)).price_at_or_below, None);
    // The day's end, the session probe (600 s) and the stale price are beyond the quiet.
    let mut stopped = core_with(CoreConfig {
        stale_ms: 1_000_000,
        ..core_cfg()
    });
    stopped.on(Input::Event(Event::Stop), 0);
    assert_eq!(stopped.cycle().state, State::Stopped);
    assert_eq!(stopped.wake(1_000, Some(1_000)).at_ms, 15_000);
    // A pause the price lifts is looked at each tick; one for the balance at its recheck.
    let mut paused = short_of_balance(1_000);
    assert_eq!(
        paused.wake(2_000, Some(2_000)).at_ms,
        12_001,
        "price stale first"
    );
    let wake = paused.wake(2_000, Some(1_000_000));
    assert_eq!(wake.at_ms, 16_000, "the quiet before the recheck at 31 s");
    paused.on(Input::Tick(fresh("0.25", 20_000, "0")), 20_000);
    let wake = paused.wake(20_000, Some(1_000_000));
    assert_eq!(wake.at_ms, 31_000, "the balance recheck");
    paused.on(Input::Event(Event::Pause(PauseReason::PriceFeed)), 20_000);
    assert_eq!(paused.wake(20_000, Some(1_000_000)).at_ms, 20_500);
}

#[test]
fn a_due_that_a_look_does_not_clear_never_wakes_sooner_than_the_gap() {
    let mut c = core();
    pending_at(&mut c, 0);
    // Long past the timeout: due at once, then (a look that did not act on it) a gap later.
    assert!(c.wake(10_000_000, Some(10_000_000)).at_ms <= 10_000_000);
    c.on(Input::Tick(fresh("0.25", 10_000_000, "0")), 10_000_000);
    let wake = c.wake(10_000_003, Some(10_000_000));
    assert_eq!(wake.at_ms, 10_000_000 + LOOK_GAP_MS);
}

#[test]
fn a_hand_over_waits_for_the_live_pair_to_end_and_places_nothing_new_meanwhile() {
    let mut c = core();
    let intent = pending_at(&mut c, 1_000);
    let steps = c.on(Input::HandOver { on: true }, 2_000);
    assert!(
        !steps.contains(&Step::Release),
        "never with a pair live: {steps:?}"
    );
    assert!(c.cycle().holding());
    assert!(!tick(&mut c, 3_000).contains(&Step::Release));
    // The sell fills: the pair ends, no new one starts, and the account is released.
    let steps = c.on(
        Input::Event(Event::Report(OrderUpdate {
            order_id: "2".into(),
            status: LegStatus::Filled,
            orig_qty: intent.quantity,
            cum_qty: intent.quantity,
            cum_quote: intent.payment,
        })),
        4_000,
    );
    assert!(!places(&steps), "{steps:?}");
    assert_eq!(c.cycle().state, State::Idle);
    let steps = tick(&mut c, 4_500);
    assert!(steps.contains(&Step::Release), "{steps:?}");
    assert!(!places(&steps), "{steps:?}");
}

#[test]
fn a_hand_over_called_off_before_the_pair_ends_lets_the_account_trade_on() {
    let mut c = core();
    pending_at(&mut c, 1_000);
    c.on(Input::HandOver { on: true }, 2_000);
    c.on(Input::HandOver { on: false }, 2_500);
    assert!(!c.cycle().holding());
    // At rest and not handing over: nothing is released, the next pair goes out.
    let mut idle = core();
    assert!(idle.on(Input::HandOver { on: false }, 0).is_empty());
    let steps = idle.on(Input::HandOver { on: true }, 0);
    assert_eq!(steps, vec![Step::Release], "at rest: released at once");
}
