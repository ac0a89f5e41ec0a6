//! Tests of the cycle machine: its paths one by one, then random event sequences (with
//! duplicated, late and reordered reports) against its invariants.

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::cycle::*;
use super::pause::PauseReason;
use super::points::Target;
use super::test_fixtures::{cycle_cfg, d, grid};

fn cfg() -> CycleConfig {
    cycle_cfg()
}

fn market() -> Market {
    Market {
        last_price: d("0.25"),
        grid: grid(),
        volatile: false,
    }
}

fn started() -> (Cycle, Intent) {
    let mut c = Cycle::new("acc1", cfg(), Decimal::ZERO);
    c.on(
        Event::Tick {
            market: Some(market()),
        },
        0,
    );
    let fx = c.on(Event::Start, 1);
    let intent = match fx.as_slice() {
        [Effect::PersistIntent(a), Effect::PlaceOto(b)] if a == b => a.clone(),
        other => panic!("expected persist then place: {other:?}"),
    };
    (c, intent)
}

/// A started cycle whose first pair (w1, p1) is placed.
fn placed() -> Cycle {
    let (mut c, intent) = started();
    c.on(
        Event::Placed {
            intent_id: intent.id,
            working_id: "w1".into(),
            pending_id: "p1".into(),
        },
        2,
    );
    c
}

/// The same, with the working leg filled (40 for 10 USDT).
fn bought() -> Cycle {
    let mut c = placed();
    c.on(up("w1", LegStatus::Filled, "40", "10"), 3);
    c
}

fn up(id: &str, status: LegStatus, cum: &str, quote: &str) -> Event {
    Event::Report(OrderUpdate {
        order_id: id.into(),
        status,
        orig_qty: d("40"),
        cum_qty: d(cum),
        cum_quote: d(quote),
    })
}

#[test]
fn a_pair_fills_and_the_next_one_follows_until_the_target() {
    let (mut c, intent) = started();
    assert_eq!(
        (intent.buy_price, intent.quantity, intent.payment),
        (d("0.25"), d("40"), d("10"))
    );
    c.on(
        Event::Placed {
            intent_id: intent.id.clone(),
            working_id: "w1".into(),
            pending_id: "p1".into(),
        },
        2,
    );
    let fx = c.on(up("w1", LegStatus::Filled, "40", "10"), 3);
    assert_eq!(
        fx,
        [Effect::RecordFill {
            order_id: "w1".into(),
            is_buy: true,
            qty: d("40"),
            quote: d("10")
        }]
    );
    assert!(matches!(c.state, State::Pending { .. }));
    let fx = c.on(up("p1", LegStatus::Filled, "39.99", "9.9"), 4);
    assert!(matches!(
        fx[1],
        Effect::CloseCycle {
            outcome: Outcome::Filled,
            ..
        }
    ));
    assert!(
        matches!(fx[2], Effect::PersistIntent(_)) && matches!(fx[3], Effect::PlaceOto(_)),
        "{fx:?}"
    );
    assert_eq!(c.volume.real, d("10"));
    // Two more pairs reach 30 >= 25: done for the day, until the day changes.
    for n in 2..=3 {
        let State::Placing { intent } = c.state.clone() else {
            panic!("{:?}", c.state)
        };
        let (w, p) = (format!("w{n}"), format!("p{n}"));
        c.on(
            Event::Placed {
                intent_id: intent.id,
                working_id: w.clone(),
                pending_id: p.clone(),
            },
            10 * n,
        );
        c.on(up(&w, LegStatus::Filled, "40", "10"), 10 * n + 1);
        c.on(up(&p, LegStatus::Filled, "39.99", "9.9"), 10 * n + 2);
    }
    assert_eq!(c.state, State::DoneForToday);
    let fx = c.on(
        Event::NewDay {
            volume: Decimal::ZERO,
        },
        100,
    );
    assert!(matches!(
        fx.as_slice(),
        [Effect::PersistIntent(_), Effect::PlaceOto(_)]
    ));
}

/// A points target: 5 points is 32 counted. At x2 the first pair is a full one (10 USDT,
/// 20 counted); the multiplier rises to x4 and the last pair buys the 3 USDT that reach 32;
/// then the day is done.
#[test]
fn a_points_target_sizes_the_last_pair_at_the_multiplier_of_the_moment() {
    let mut c = Cycle::new(
        "acc1",
        CycleConfig {
            target: Target::Points(5),
            mul_point: d("2"),
            ..cfg()
        },
        Decimal::ZERO,
    );
    c.on(
        Event::Tick {
            market: Some(market()),
        },
        0,
    );
    let fx = c.on(Event::Start, 1);
    let [Effect::PersistIntent(first), _] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(first.payment, d("10"));
    c.on(
        Event::Placed {
            intent_id: first.id.clone(),
            working_id: "w1".into(),
            pending_id: "p1".into(),
        },
        2,
    );
    c.on(up("w1", LegStatus::Filled, "40", "10"), 3);
    assert_eq!((c.volume.real, c.volume.counted), (d("10"), d("20")));
    assert!(
        c.on(Event::MulPoint { mul_point: d("4") }, 4).is_empty(),
        "a pair is live"
    );
    let fx = c.on(up("p1", LegStatus::Filled, "40", "10"), 5);
    let Some(Effect::PersistIntent(last)) =
        fx.iter().find(|e| matches!(e, Effect::PersistIntent(_)))
    else {
        panic!("{fx:?}")
    };
    assert_eq!(
        (last.quantity, last.payment),
        (d("12"), d("3")),
        "(32 - 20) / 4 = 3 USDT"
    );
    c.on(
        Event::Placed {
            intent_id: last.id.clone(),
            working_id: "w2".into(),
            pending_id: "p2".into(),
        },
        6,
    );
    c.on(up("w2", LegStatus::Filled, "12", "3"), 7);
    assert_eq!(c.volume.counted, d("32"));
    assert_eq!(c.volume.points(), 5);
    let fx = c.on(up("p2", LegStatus::Filled, "12", "3"), 8);
    assert!(fx.contains(&Effect::DoneForToday), "{fx:?}");
    assert_eq!(c.state, State::DoneForToday);
}

/// Tokens left by a sale a crash cut short are sold down the ladder before any new pair;
/// the pair follows once they are gone.
#[test]
fn a_leftover_found_at_start_is_sold_before_the_first_pair() {
    let mut c = Cycle::new("acc1", cfg(), Decimal::ZERO);
    let fx = c.on(
        Event::Leftover {
            quantity: d("40"),
            market: market(),
        },
        1,
    );
    let [Effect::PersistSell(s), Effect::PlaceSell(_)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!((s.quantity, s.price), (d("40"), d("0.25")));
    let s = s.clone();
    assert!(c.on(Event::Start, 2).is_empty(), "no pair while selling");
    c.on(
        Event::SellPlaced {
            intent_id: s.id,
            order_id: "s1".into(),
        },
        3,
    );
    let fx = c.on(up("s1", LegStatus::Filled, "40", "10"), 4);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::PlaceOto(_))),
        "the first pair once sold: {fx:?}"
    );
    assert_eq!(c.volume.real, d("0"), "a sale is not volume");
    // Never while a pair is live.
    assert!(
        c.on(
            Event::Leftover {
                quantity: d("40"),
                market: market()
            },
            5
        )
        .is_empty()
    );
}

/// A sale the exchange refuses (a face check, say) is tried at the ladder's next step on the
/// next tick; past the last step the tokens are reported unsold and the account trades on. It
/// never waits for a sale that was not placed.
#[test]
fn a_refused_leftover_sale_moves_down_the_ladder_and_never_hangs() {
    let mut c = Cycle::new("acc1", cfg(), Decimal::ZERO);
    let sale = |fx: &[Effect]| match fx {
        [Effect::PersistSell(s), Effect::PlaceSell(_)] => s.clone(),
        other => panic!("expected a sale: {other:?}"),
    };
    let fx = c.on(
        Event::Leftover {
            quantity: d("40"),
            market: market(),
        },
        1,
    );
    let mut s = sale(&fx);
    let mut prices = vec![s.price];
    for now in [2, 3] {
        assert!(
            c.on(
                Event::SellRefused {
                    intent_id: s.id.clone()
                },
                now
            )
            .is_empty()
        );
        s = sale(&c.on(Event::Tick { market: None }, now));
        prices.push(s.price);
    }
    assert_eq!(prices, [d("0.25"), d("0.2475"), d("0.2425")]);
    c.on(Event::SellRefused { intent_id: s.id }, 4);
    let fx = c.on(Event::Start, 5);
    assert!(fx.contains(&Effect::Unsold { quantity: d("40") }), "{fx:?}");
    assert!(
        fx.iter().any(|e| matches!(e, Effect::PlaceOto(_))),
        "trading on: {fx:?}"
    );
}

/// A price 5 % below the buy (`max_hold_loss_pct`) cancels the resting sell at once, long
/// before the pending timeout; 4 % below does not.
#[test]
fn a_falling_price_cuts_the_loss_before_the_timeout() {
    let mut c = bought();
    let at = |p: &str| Event::Tick {
        market: Some(Market {
            last_price: d(p),
            ..market()
        }),
    };
    assert!(c.on(at("0.24"), 10).is_empty(), "4 % below is held");
    let fx = c.on(at("0.2375"), 11);
    assert_eq!(
        fx,
        [
            Effect::LossCut {
                buy_price: d("0.25"),
                last_price: d("0.2375")
            },
            Effect::Cancel {
                order_id: "p1".into()
            }
        ]
    );
    assert!(matches!(c.state, State::Cancelling { .. }));
}

#[test]
fn a_long_trading_day_keeps_the_machine_bounded_and_late_reports_counted_once() {
    let (mut c, _) = started();
    c.cfg.target = Target::Usdt(d("1000000"));
    let pairs = ENDED_KEPT + 500;
    for n in 1..=pairs {
        let State::Placing { intent } = c.state.clone() else {
            panic!("{:?}", c.state)
        };
        let (w, p) = (format!("w{n}"), format!("p{n}"));
        let t = 10 * n as i64;
        c.on(
            Event::Placed {
                intent_id: intent.id,
                working_id: w.clone(),
                pending_id: p.clone(),
            },
            t,
        );
        c.on(up(&w, LegStatus::Filled, "40", "10"), t + 1);
        c.on(up(&p, LegStatus::Filled, "39.99", "9.9"), t + 2);
    }
    assert_eq!(c.volume.real, Decimal::from(10 * pairs));
    assert!(c.remembered() <= ENDED_KEPT + 2, "{}", c.remembered());
    // The last pair's buy, repeated late: already counted, nothing moves.
    let last = format!("w{pairs}");
    assert_eq!(
        c.on(up(&last, LegStatus::Filled, "40", "10"), 1_000_000),
        []
    );
    assert_eq!(c.volume.real, Decimal::from(10 * pairs));
}

#[test]
fn a_report_that_beats_the_place_answer_is_not_lost() {
    let (mut c, intent) = started();
    assert!(c.on(up("w1", LegStatus::Filled, "40", "10"), 2).is_empty());
    let fx = c.on(
        Event::Placed {
            intent_id: intent.id,
            working_id: "w1".into(),
            pending_id: "p1".into(),
        },
        3,
    );
    assert_eq!(fx.len(), 1);
    assert!(matches!(c.state, State::Pending { .. }));
}

#[test]
fn a_working_leg_that_never_fills_is_cancelled_at_its_timeout() {
    let mut c = placed();
    assert!(c.on(Event::Tick { market: None }, 299_000).is_empty());
    assert_eq!(
        c.on(Event::Tick { market: None }, 300_002),
        [Effect::Cancel {
            order_id: "w1".into()
        }]
    );
    let fx = c.on(up("w1", LegStatus::Dead, "0", "0"), 300_100);
    assert!(
        matches!(
            fx[0],
            Effect::CloseCycle {
                outcome: Outcome::Cancelled,
                ..
            }
        ),
        "{fx:?}"
    );
    assert!(
        matches!(c.state, State::Placing { .. }),
        "at the latest price again"
    );
}

#[test]
fn partial_fills_then_a_timeout_sell_the_leftover_down_the_ladder() {
    let mut c = placed();
    c.on(up("w1", LegStatus::PartiallyFilled, "15.5", "3.875"), 10);
    c.on(Event::Tick { market: None }, 300_010);
    let fx = c.on(up("w1", LegStatus::Dead, "15.5", "3.875"), 300_020);
    let sell = match fx.as_slice() {
        [
            Effect::CloseCycle {
                outcome: Outcome::TimedOut,
                ..
            },
            Effect::PersistSell(s),
            Effect::PlaceSell(t),
        ] if s == t => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!((sell.quantity, sell.price), (d("15.5"), d("0.25")));
    c.on(
        Event::SellPlaced {
            intent_id: sell.id.clone(),
            order_id: "s1".into(),
        },
        300_030,
    );
    // Unfilled at the first step: cancelled, then the next step 1 % lower.
    assert_eq!(
        c.on(Event::Tick { market: None }, 305_031),
        [Effect::Cancel {
            order_id: "s1".into()
        }]
    );
    let fx = c.on(up("s1", LegStatus::Dead, "0", "0"), 305_040);
    let step2 = match fx.as_slice() {
        [Effect::PersistSell(s), Effect::PlaceSell(_)] => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(step2.price, d("0.2475"));
    c.on(
        Event::SellPlaced {
            intent_id: step2.id,
            order_id: "s2".into(),
        },
        305_050,
    );
    let fx = c.on(up("s2", LegStatus::Filled, "15.5", "3.83625"), 305_060);
    assert!(matches!(fx[0], Effect::RecordFill { is_buy: false, .. }));
    assert!(matches!(c.state, State::Placing { .. }));
    assert_eq!(c.volume.real, d("3.875"), "only the buy counts as volume");
}

#[test]
fn what_the_ladder_cannot_sell_is_reported() {
    let mut c = bought();
    // The pending leg never fills: cancelled at its timeout, then the ladder runs out.
    assert_eq!(
        c.on(Event::Tick { market: None }, 120_004),
        [Effect::Cancel {
            order_id: "p1".into()
        }]
    );
    c.on(up("p1", LegStatus::Dead, "0", "0"), 120_010);
    for (step, at) in [(1, 120_020), (2, 130_020), (3, 140_020)] {
        let State::Liquidating {
            sell: Some((s, None)),
            ..
        } = c.state.clone()
        else {
            panic!("{:?}", c.state)
        };
        c.on(
            Event::SellPlaced {
                intent_id: s.id,
                order_id: format!("s{step}"),
            },
            at,
        );
        c.on(Event::Tick { market: None }, at + 5_000);
        let fx = c.on(
            up(&format!("s{step}"), LegStatus::Dead, "0", "0"),
            at + 5_001,
        );
        if step == 3 {
            assert!(fx.contains(&Effect::Unsold { quantity: d("40") }), "{fx:?}");
        }
    }
}

#[test]
fn refusals_pause_with_their_reason_and_unknowns_wait_for_the_exchange() {
    let (mut c, intent) = started();
    let fx = c.on(
        Event::PlaceRefused {
            intent_id: intent.id,
            refusal: Refusal::InsufficientBalance,
        },
        2,
    );
    assert_eq!(fx[1], Effect::Paused(PauseReason::InsufficientBalance));
    assert!(
        c.on(Event::Tick { market: None }, 3).is_empty(),
        "paused: nothing new"
    );
    let fx = c.on(Event::Resume(PauseReason::InsufficientBalance), 4);
    let State::Placing { intent } = c.state.clone() else {
        panic!("{fx:?}")
    };
    assert_eq!(
        c.on(
            Event::PlaceUnknown {
                intent_id: intent.id.clone()
            },
            5
        ),
        [Effect::Reconcile]
    );
    // A late answer does not settle the doubt; only the exchange's view does.
    c.on(
        Event::Placed {
            intent_id: intent.id.clone(),
            working_id: "w9".into(),
            pending_id: "p9".into(),
        },
        6,
    );
    assert!(matches!(c.state, State::Unknown { .. }));
    assert!(c.on(Event::Tick { market: None }, 1_000_000).is_empty());
    let working = OrderUpdate {
        order_id: "w9".into(),
        status: LegStatus::Filled,
        orig_qty: d("40"),
        cum_qty: d("40"),
        cum_quote: d("10"),
    };
    c.on(
        Event::Reconciled(Found::Pair {
            working,
            pending: None,
        }),
        1_000_001,
    );
    assert!(matches!(c.state, State::Pending { .. }), "adopted");
    let (mut c2, i2) = started();
    c2.on(Event::PlaceUnknown { intent_id: i2.id }, 2);
    let fx = c2.on(Event::Reconciled(Found::Ambiguous), 3);
    assert_eq!(fx, [Effect::Paused(PauseReason::Ambiguous)]);
    assert!(matches!(c2.state, State::Unknown { .. }));
}

#[test]
fn stop_waits_for_the_live_pair_and_volatility_blocks_new_pairs() {
    let mut c = placed();
    c.on(Event::Stop, 3);
    assert!(c.pair_may_be_live());
    c.on(up("w1", LegStatus::Filled, "40", "10"), 4);
    c.on(up("p1", LegStatus::Filled, "39.99", "9.9"), 5);
    assert_eq!(c.state, State::Stopped);
    c.on(
        Event::Tick {
            market: Some(Market {
                volatile: true,
                ..market()
            }),
        },
        6,
    );
    let fx = c.on(Event::Start, 7);
    assert_eq!(fx, [Effect::Paused(PauseReason::Volatility)]);
}

/// What the random driver does next; each is turned into an event that fits the state.
#[derive(Debug, Clone)]
enum Action {
    Tick(i64),
    Answer(u8),
    Fill { leg: bool, fraction: u8, done: bool },
    Kill { leg: bool },
    Duplicate,
    Stale,
    Reconcile(u8),
    PauseResume(bool),
    Sell(u8),
    MulPoint(u8),
    Hold(bool),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (1_i64..200_000).prop_map(Action::Tick),
        (0_u8..4).prop_map(Action::Answer),
        (any::<bool>(), 1_u8..=10, any::<bool>()).prop_map(|(leg, fraction, done)| Action::Fill {
            leg,
            fraction,
            done
        }),
        any::<bool>().prop_map(|leg| Action::Kill { leg }),
        Just(Action::Duplicate),
        Just(Action::Stale),
        (0_u8..3).prop_map(Action::Reconcile),
        any::<bool>().prop_map(Action::PauseResume),
        (0_u8..3).prop_map(Action::Sell),
        (0_u8..3).prop_map(Action::MulPoint),
        any::<bool>().prop_map(Action::Hold),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn invariants_hold_over_random_event_sequences(
        actions in proptest::collection::vec(action(), 1..120),
        points in proptest::option::of(3_u32..10),
    ) {
        let target = points.map_or(Target::Usdt(d("1000")), Target::Points);
        let mut c = Cycle::new("acc", CycleConfig { target, ..cfg() }, Decimal::ZERO);
        c.on(Event::Tick { market: Some(market()) }, 0);
        let mut now = 1;
        let mut effects = c.on(Event::Start, now);
        let mut sent: Vec<Event> = Vec::new();
        let mut live_intent: Option<String> = None;
        let mut max_buy_quote: std::collections::BTreeMap<String, Decimal> = Default::default();
        let mut ids = 0_u32;
        let check = |c: &Cycle, before_unknown: bool, event: &Event, fx: &[Effect], live: &mut Option<String>| -> Result<(), TestCaseError> {
            for (i, e) in fx.iter().enumerate() {
                match e {
                    Effect::PlaceOto(intent) => {
                        prop_assert!(i > 0 && fx[i - 1] == Effect::PersistIntent(intent.clone()), "place without its intent: {fx:?}");
                        prop_assert!(!c.volume.reached(c.cfg.target), "a pair past the target: {:?}", c.volume);
                        prop_assert!(!c.holding() && c.pauses.is_empty(), "a pair while held back or paused");
                        prop_assert!(intent.payment <= c.cfg.order_usdt, "{intent:?}");
                        prop_assert!(live.is_none(), "a second live pair: {live:?} then {intent:?}");
                        *live = Some(intent.id.clone());
                    }
                    Effect::CloseCycle { intent_id, .. } => {
                        prop_assert_eq!(live.as_deref(), Some(intent_id.as_str()));
                        *live = None;
                    }
                    _ => {}
                }
            }
            if before_unknown && !matches!(c.state, State::Unknown { .. }) {
                prop_assert!(matches!(event, Event::Reconciled(_)), "left Unknown through {event:?}");
            }
            Ok(())
        };
        check(&c, false, &Event::Start, &effects, &mut live_intent)?;
        for a in actions {
            let before_unknown = matches!(c.state, State::Unknown { .. });
            let pair = match &c.state {
                State::Working { pair } | State::Pending { pair } | State::Cancelling { pair, .. } => Some(pair.clone()),
                _ => None,
            };
            let event = match a {
                Action::Tick(dt) => { now += dt; Event::Tick { market: None } }
                Action::Answer(kind) => match &c.state {
                    State::Placing { intent } => {
                        ids += 1;
                        match kind {
                            0 | 1 => Event::Placed { intent_id: intent.id.clone(), working_id: format!("w{ids}"), pending_id: format!("p{ids}") },
                            2 => Event::PlaceUnknown { intent_id: intent.id.clone() },
                            _ => Event::PlaceRefused { intent_id: intent.id.clone(), refusal: Refusal::RateLimited },
                        }
                    }
                    // A late answer to a request already in doubt.
                    State::Unknown { intent } => {
                        ids += 1;
                        Event::Placed { intent_id: intent.id.clone(), working_id: format!("w{ids}"), pending_id: format!("p{ids}") }
                    }
                    _ => Event::Tick { market: None },
                },
                Action::Fill { leg, fraction, done } => match &pair {
                    Some(p) => {
                        let id = if leg { p.working_id.clone() } else { p.pending_id.clone() };
                        let qty = if done { p.intent.quantity } else { (p.intent.quantity * Decimal::from(fraction) / Decimal::from(10)).round_dp(2) };
                        let quote = (qty * p.intent.buy_price).round_dp(8);
                        let status = if done { LegStatus::Filled } else { LegStatus::PartiallyFilled };
                        Event::Report(OrderUpdate { order_id: id, status, orig_qty: p.intent.quantity, cum_qty: qty, cum_quote: quote })
                    }
                    None => Event::Tick { market: None },
                },
                Action::Kill { leg } => match &pair {
                    Some(p) => {
                        let id = if leg { p.working_id.clone() } else { p.pending_id.clone() };
                        let (q, quote) = if leg { (p.bought, (p.bought * p.intent.buy_price).round_dp(8)) } else { (p.sold, (p.sold * p.intent.buy_price).round_dp(8)) };
                        Event::Report(OrderUpdate { order_id: id, status: LegStatus::Dead, orig_qty: p.intent.quantity, cum_qty: q, cum_quote: quote })
                    }
                    None => Event::Tick { market: None },
                },
                Action::Duplicate => sent.last().cloned().unwrap_or(Event::Tick { market: None }),
                Action::Stale => if sent.len() > 3 { sent[sent.len() - 3].clone() } else { Event::Tick { market: None } },
                Action::Reconcile(kind) => match &c.state {
                    State::Unknown { .. } => {
                        ids += 1;
                        match kind {
                            0 => Event::Reconciled(Found::NotPlaced),
                            1 => Event::Reconciled(Found::Ambiguous),
                            _ => Event::Reconciled(Found::Pair {
                                working: OrderUpdate { order_id: format!("w{ids}"), status: LegStatus::Open, orig_qty: d("40"), cum_qty: d("0"), cum_quote: d("0") },
                                pending: None,
                            }),
                        }
                    }
                    _ => Event::Tick { market: None },
                },
                Action::Hold(on) => Event::HoldNewPairs { on },
                Action::MulPoint(m) => Event::MulPoint { mul_point: Decimal::from([1, 2, 4][usize::from(m)]) },
                Action::PauseResume(p) => if p { Event::Pause(PauseReason::Operator) } else { Event::Resume(PauseReason::Operator) },
                Action::Sell(kind) => match &c.state {
                    State::Liquidating { sell: Some((s, None)), .. } => {
                        ids += 1;
                        match kind {
                            0 => Event::SellRefused { intent_id: s.id.clone() },
                            1 => Event::SellPlaced { intent_id: s.id.clone(), order_id: format!("s{ids}") },
                            // Held back by the cross-account guard: tried again later.
                            _ => Event::SellDeferred { intent_id: s.id.clone() },
                        }
                    }
                    State::Liquidating { sell: Some((_, Some(id))), quantity, .. } => {
                        let status = if kind == 1 { LegStatus::Filled } else { LegStatus::Dead };
                        let cum = if kind == 1 { *quantity } else { Decimal::ZERO };
                        Event::Report(OrderUpdate { order_id: id.clone(), status, orig_qty: *quantity, cum_qty: cum, cum_quote: cum * d("0.25") })
                    }
                    _ => Event::Tick { market: None },
                },
            };
            if let Event::Report(u) = &event
                && u.order_id.starts_with('w') {
                    let m = max_buy_quote.entry(u.order_id.clone()).or_default();
                    if u.cum_quote > *m { *m = u.cum_quote; }
                }
            sent.push(event.clone());
            effects = c.on(event.clone(), now);
            check(&c, before_unknown, &event, &effects, &mut live_intent)?;
        }
        // Each buy counted once: the volume is the sum of the highest cumulative quote reported
        // per working leg the machine owned.
        let counted: Decimal = max_buy_quote.values().copied().sum();
        prop_assert!(c.volume.real <= counted, "volume {} counted more than reported {}", c.volume.real, counted);
    }
}

#[test]
fn the_exchange_volume_is_taken_over_the_count_only_where_larger() {
    let mut c = bought();
    assert_eq!(c.volume.real, d("10"));
    // The exchange counted the same buy: still 10, not 20.
    c.on(Event::ExchangeVolume { volume: d("10") }, 4);
    assert_eq!(c.volume.real, d("10"));
    // It also counts 5 USDT traded outside the daemon.
    c.on(Event::ExchangeVolume { volume: d("15") }, 5);
    assert_eq!(c.volume.real, d("15"));
    // A lower figure never takes counted volume away.
    c.on(Event::ExchangeVolume { volume: d("3") }, 6);
    assert_eq!(c.volume.real, d("15"));
}
