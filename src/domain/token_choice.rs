//! `token = "auto"`: which token an account farms. Every eligible token (tradable, a points
//! multiplier of at least `min_mul_point`, in the allow list when there is one) is scored by
//! what a counted USDT is estimated to cost on it, from the public token list the daemon reads
//! anyway: fees and a slippage proxy (a hundredth of the 24 h range, the range being the best
//! public measure of how far a pair's prices drift) over the multiplier. The cheapest wins; an
//! account switches only between pairs, at most once per `token_switch_min_s`, and only for a
//! winner cheaper by `SWITCH_MARGIN`, except that a token no longer eligible (its incentive
//! ended) is left at the next pair whatever the time.

use rust_decimal::Decimal;
use serde::Serialize;

/// A pair's fees in bps of its volume, both legs (an estimate for ranking only).
const FEES_BPS: Decimal = Decimal::from_parts(2, 0, 0, false, 0);
/// A winner must be estimated at least this much cheaper (a fraction) to move an account.
pub const SWITCH_MARGIN: Decimal = Decimal::from_parts(2, 0, 0, false, 1);

/// A token as the token list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub symbol: String,
    pub chain_id: String,
    pub alpha_id: String,
    pub tradable: bool,
    pub mul_point: Decimal,
    pub price: Option<Decimal>,
    pub high_24h: Option<Decimal>,
    pub low_24h: Option<Decimal>,
    pub volume_24h: Option<Decimal>,
}

/// What an account's policy allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub min_mul_point: Decimal,
    /// Symbols it may choose from; empty: every token.
    pub allow: Vec<String>,
}

/// One token's score, as `alpha-oto tokens` and `GET /api/v1/tokens` list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Score {
    pub symbol: String,
    pub chain_id: String,
    pub alpha_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub mul_point: Decimal,
    /// The 24 h range in bps of the price, when the list has it.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub range_24h_bps: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub volume_24h: Option<Decimal>,
    /// Estimated cost of one counted USDT of volume, in bps; lower is better.
    #[serde(with = "rust_decimal::serde::str")]
    pub cost_bps_per_counted: Decimal,
    /// Why it may not be chosen, if so.
    pub ineligible: Option<String>,
}

impl Score {
    pub fn eligible(&self) -> bool {
        self.ineligible.is_none()
    }
}

pub fn score(t: &Listed, policy: &Policy) -> Score {
    let range_24h_bps = match (t.price, t.high_24h, t.low_24h) {
        (Some(p), Some(h), Some(l)) if p > Decimal::ZERO && h >= l => (h - l)
            .checked_mul(Decimal::from(10_000))
            .and_then(|v| v.checked_div(p))
            .map(|v| v.round_dp(2)),
        _ => None,
    };
    let slippage = range_24h_bps.unwrap_or(Decimal::ONE_HUNDRED) / Decimal::ONE_HUNDRED;
    let cost = (FEES_BPS + slippage)
        .checked_div(t.mul_point.max(Decimal::ONE))
        .unwrap_or(Decimal::MAX)
        .round_dp(4);
    let ineligible = if !t.tradable {
        Some("not tradable".to_owned())
    } else if t.mul_point < policy.min_mul_point {
        Some(format!(
            "mulPoint {} below {}",
            t.mul_point, policy.min_mul_point
        ))
    } else if !policy.allow.is_empty()
        && !policy
            .allow
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&t.symbol))
    {
        Some("not in the allow list".to_owned())
    } else {
        None
    };
    Score {
        symbol: t.symbol.clone(),
        chain_id: t.chain_id.clone(),
        alpha_id: t.alpha_id.clone(),
        mul_point: t.mul_point,
        range_24h_bps,
        volume_24h: t.volume_24h,
        cost_bps_per_counted: cost,
        ineligible,
    }
}

/// Every token scored, the eligible ones first and cheapest first (then by 24 h volume, then by
/// alpha id, so the order is total and every account reading one list ranks it alike).
pub fn ranked(list: &[Listed], policy: &Policy) -> Vec<Score> {
    let mut scores: Vec<Score> = list.iter().map(|t| score(t, policy)).collect();
    scores.sort_by(|a, b| {
        (!a.eligible())
            .cmp(&!b.eligible())
            .then(a.cost_bps_per_counted.cmp(&b.cost_bps_per_counted))
            .then(
                b.volume_24h
                    .unwrap_or_default()
                    .cmp(&a.volume_24h.unwrap_or_default()),
            )
            .then(a.alpha_id.cmp(&b.alpha_id))
    });
    scores
}

/// What an account on `current` does at a pair boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Stay,
    /// Move to this token: its current one is no longer eligible, or this one is cheaper by
    /// the margin and the last switch is old enough.
    Move {
        to: Score,
        ineligible: bool,
    },
    /// No token is eligible: the account waits.
    Nothing,
}

pub fn decide(
    current: Option<&str>,
    ranked: &[Score],
    chosen_at_ms: Option<i64>,
    now_ms: i64,
    min_interval_ms: i64,
) -> Choice {
    let Some(best) = ranked.first().filter(|s| s.eligible()) else {
        return Choice::Nothing;
    };
    let Some(current) = current.and_then(|c| ranked.iter().find(|s| s.alpha_id == c)) else {
        return Choice::Move {
            to: best.clone(),
            ineligible: current.is_some(),
        };
    };
    if !current.eligible() {
        return Choice::Move {
            to: best.clone(),
            ineligible: true,
        };
    }
    let old_enough = chosen_at_ms.is_none_or(|at| now_ms - at >= min_interval_ms);
    let cheaper =
        best.cost_bps_per_counted <= current.cost_bps_per_counted * (Decimal::ONE - SWITCH_MARGIN);
    if best.alpha_id != current.alpha_id && old_enough && cheaper {
        Choice::Move {
            to: best.clone(),
            ineligible: false,
        }
    } else {
        Choice::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn token(alpha: &str, mul: &str, range_pct: &str) -> Listed {
        Listed {
            symbol: alpha.trim_start_matches("ALPHA_").into(),
            chain_id: "56".into(),
            alpha_id: alpha.into(),
            tradable: true,
            mul_point: d(mul),
            price: Some(d("1")),
            high_24h: Some(d("1") + d(range_pct) / d("100")),
            low_24h: Some(d("1")),
            volume_24h: Some(d("1000")),
        }
    }

    fn policy() -> Policy {
        Policy {
            min_mul_point: d("2"),
            allow: Vec::new(),
        }
    }

    #[test]
    fn the_cheapest_counted_usdt_wins_among_the_eligible() {
        let list = [
            token("ALPHA_1", "1", "0"),
            token("ALPHA_2", "4", "10"),
            token("ALPHA_3", "4", "2"),
            token("ALPHA_4", "2", "0"),
        ];
        let r = ranked(&list, &policy());
        let order: Vec<&str> = r.iter().map(|s| s.alpha_id.as_str()).collect();
        // x4 with a 2 % range: (2 + 2) / 4 = 1 bps; x4 with 10 %: 3; x2 flat: 1; x1: ineligible.
        assert_eq!(order, ["ALPHA_3", "ALPHA_4", "ALPHA_2", "ALPHA_1"]);
        assert_eq!(r[0].cost_bps_per_counted, d("1"));
        assert_eq!(r[3].ineligible.as_deref(), Some("mulPoint 1 below 2"));
        let only = Policy {
            allow: vec!["2".into()],
            ..policy()
        };
        assert_eq!(ranked(&list, &only)[0].alpha_id, "ALPHA_2");
    }

    #[test]
    fn an_account_moves_when_its_token_ends_or_a_clearly_cheaper_one_is_old_enough() {
        let hour = 3_600_000;
        let list = [token("ALPHA_2", "4", "10"), token("ALPHA_3", "4", "2")];
        let r = ranked(&list, &policy());
        // Three times cheaper, but chosen a minute ago: stay.
        assert_eq!(
            decide(Some("ALPHA_2"), &r, Some(0), 60_000, hour),
            Choice::Stay
        );
        assert!(matches!(
            decide(Some("ALPHA_2"), &r, Some(0), hour, hour),
            Choice::Move {
                ineligible: false,
                ..
            }
        ));
        // Its incentive ended: it moves at once.
        let ended = [token("ALPHA_2", "1", "10"), token("ALPHA_3", "4", "2")];
        let r = ranked(&ended, &policy());
        let Choice::Move { to, ineligible } = decide(Some("ALPHA_2"), &r, Some(0), 1, hour) else {
            panic!()
        };
        assert_eq!((to.alpha_id.as_str(), ineligible), ("ALPHA_3", true));
        // The best stays where it is; nothing eligible leaves nothing to choose.
        assert_eq!(
            decide(Some("ALPHA_3"), &r, Some(0), 10 * hour, hour),
            Choice::Stay
        );
        let none = ranked(&[token("ALPHA_1", "1", "0")], &policy());
        assert_eq!(decide(None, &none, None, 0, hour), Choice::Nothing);
    }

    proptest! {
        /// A move always goes to an eligible token, and never within the interval unless the
        /// current token is no longer eligible.
        #[test]
        fn moves_respect_eligibility_and_the_interval(
            muls in proptest::collection::vec(0_u8..5, 1..6),
            ranges in proptest::collection::vec(0_u8..20, 6),
            current in 0_usize..6, at in 0_i64..10_000, now in 0_i64..10_000,
        ) {
            let list: Vec<Listed> = muls.iter().enumerate()
                .map(|(i, m)| token(&format!("ALPHA_{i}"), &m.to_string(), &ranges[i].to_string()))
                .collect();
            let r = ranked(&list, &policy());
            let cur = format!("ALPHA_{current}");
            match decide(Some(&cur), &r, Some(at), now, 5_000) {
                Choice::Move { to, ineligible } => {
                    prop_assert!(to.eligible());
                    if !ineligible {
                        prop_assert!(now - at >= 5_000);
                    }
                }
                Choice::Nothing => prop_assert!(r.iter().all(|s| !s.eligible())),
                Choice::Stay => {}
            }
        }
    }
}
