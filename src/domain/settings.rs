//! An account's trading settings: what the operator chooses, with defaults and validation that
//! names the field at fault. `store::configs` converts them to and from their table row.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::points::{MAX_POINTS, Target};
use super::pricing::Offset;

/// Per-account settings, as the API takes them (decimals as strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// The token's short symbol (`KOGE`), or `auto`: the daemon puts the account on the best
    /// eligible token and moves it between pairs (`min_mul_point`, `token_allow`,
    /// `token_switch_min_s`).
    pub token: String,
    /// Chain id (`56`) or name (`BSC`), needed when the symbol exists on several chains.
    #[serde(default)]
    pub chain: Option<String>,
    /// USDT per buy.
    #[serde(with = "rust_decimal::serde::str")]
    pub order_usdt: Decimal,
    /// Buy-side volume to reach each UTC day, in USDT (or give `daily_target_points`).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub daily_target_usdt: Option<Decimal>,
    /// Alpha Points to reach each UTC day: a counted buy volume of 2^P, where a buy counts its
    /// USDT times the token's mulPoint (or give `daily_target_usdt`).
    #[serde(default)]
    pub daily_target_points: Option<u32>,
    pub buy_offset: Offset,
    pub sell_offset: Offset,
    /// Seconds a working leg may rest before it is cancelled.
    #[serde(default = "defaults::order_timeout_s")]
    pub order_timeout_s: u32,
    /// Seconds a live pending leg may rest before it is cancelled and the tokens sold.
    #[serde(default = "defaults::pending_timeout_s")]
    pub pending_timeout_s: u32,
    /// Price range over 60 s, in percent, that pauses trading on the token.
    #[serde(
        default = "defaults::volatility_pct",
        with = "rust_decimal::serde::str"
    )]
    pub volatility_pct: Decimal,
    /// Today's cost (fees and spread loss) allowed, in basis points of volume.
    #[serde(
        default = "defaults::cost_budget_bps",
        with = "rust_decimal::serde::str"
    )]
    pub cost_budget_bps: Decimal,
    /// How far below the last price, in percent, the leftover-sale ladder may go.
    #[serde(
        default = "defaults::leftover_floor_pct",
        with = "rust_decimal::serde::str"
    )]
    pub leftover_floor_pct: Decimal,
    /// How far below its buy, in percent, the price may fall while a pair's sell rests before
    /// the sell is cancelled and its tokens sold down the ladder.
    #[serde(
        default = "defaults::max_hold_loss_pct",
        with = "rust_decimal::serde::str"
    )]
    pub max_hold_loss_pct: Decimal,
    /// With `token = "auto"`: the least points multiplier a token must have.
    #[serde(default = "defaults::min_mul_point", with = "rust_decimal::serde::str")]
    pub min_mul_point: Decimal,
    /// With `token = "auto"`: the symbols it may choose from (empty: every token).
    #[serde(default)]
    pub token_allow: Vec<String>,
    /// With `token = "auto"`: the least time between two switches, in seconds (a token that
    /// stops being eligible is left at the next pair whatever the time).
    #[serde(default = "defaults::token_switch_min_s")]
    pub token_switch_min_s: u32,
    /// Resume by itself after a lost stream is back and reconciled (off: the operator resumes).
    #[serde(default)]
    pub auto_resume: bool,
    /// Where notifications are POSTed.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

mod defaults {
    use rust_decimal::Decimal;

    pub fn order_timeout_s() -> u32 {
        300
    }
    pub fn pending_timeout_s() -> u32 {
        120
    }
    pub fn volatility_pct() -> Decimal {
        Decimal::from(2)
    }
    pub fn cost_budget_bps() -> Decimal {
        Decimal::from(30)
    }
    pub fn leftover_floor_pct() -> Decimal {
        Decimal::from(3)
    }
    pub fn max_hold_loss_pct() -> Decimal {
        Decimal::from(5)
    }
    pub fn min_mul_point() -> Decimal {
        Decimal::from(2)
    }
    pub fn token_switch_min_s() -> u32 {
        3600
    }
}

/// Bounds that keep every product and quotient of the plan and the pricing inside a decimal:
/// a target of a billion USDT a day is far past any account, and 7.9e28 once panicked a
/// division.
const MAX_DAILY_TARGET: u64 = 1_000_000_000;
const MAX_AMOUNT_OFFSET: u64 = 1_000_000_000;
const MAX_URL: usize = 2048;

/// A setting that is not acceptable, named as the API spells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SettingsError {
    pub field: String,
    pub reason: String,
}

pub(crate) fn bad(field: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn check_offset(field: &'static str, o: &Offset) -> Result<(), SettingsError> {
    match o {
        Offset::Percent(p) if p.abs() >= Decimal::from(50) => {
            Err(bad(field, "a percent offset must be between -50 and 50"))
        }
        Offset::Amount(a) if a.scale() > 18 || a.abs() > Decimal::from(MAX_AMOUNT_OFFSET) => {
            Err(bad(
                field,
                "an amount offset is at most 1000000000 either way, with at most 18 decimals",
            ))
        }
        _ => Ok(()),
    }
}

impl AccountSettings {
    /// The day's target; a points target wins when both are somehow present.
    pub fn target(&self) -> Target {
        match (self.daily_target_points, self.daily_target_usdt) {
            (Some(p), _) => Target::Points(p),
            (None, Some(t)) => Target::Usdt(t),
            (None, None) => Target::Usdt(Decimal::ZERO),
        }
    }

    /// Whether the daemon chooses the token (`token = "auto"`).
    pub fn is_auto(&self) -> bool {
        self.token.trim().eq_ignore_ascii_case("auto")
    }

    /// Checks every field; the first fault found is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let t = self.token.trim();
        if t.is_empty()
            || t.len() > 20
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.$".contains(c))
        {
            return Err(bad(
                "token",
                "a short symbol of 1-20 letters or digits, such as KOGE",
            ));
        }
        if let Some(c) = &self.chain
            && (c.trim().is_empty() || c.len() > 32)
        {
            return Err(bad("chain", "a chain id (56) or name (BSC)"));
        }
        if self.order_usdt <= Decimal::ZERO
            || self.order_usdt > Decimal::from(1_000_000)
            || self.order_usdt.scale() > 8
        {
            return Err(bad(
                "order_usdt",
                "must be above 0 and at most 1000000, with at most 8 decimals",
            ));
        }
        match (self.daily_target_usdt, self.daily_target_points) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "daily_target_points",
                    "give daily_target_usdt or daily_target_points, not both",
                ));
            }
            (None, None) => {
                return Err(bad(
                    "daily_target_usdt",
                    "a daily target is needed: daily_target_usdt or daily_target_points",
                ));
            }
            (Some(t), None) => {
                if t <= Decimal::ZERO || t > Decimal::from(MAX_DAILY_TARGET) || t.scale() > 8 {
                    return Err(bad(
                        "daily_target_usdt",
                        "must be above 0 and at most 1000000000, with at most 8 decimals",
                    ));
                }
                if t < self.order_usdt {
                    return Err(bad("daily_target_usdt", "must be at least order_usdt"));
                }
            }
            (None, Some(p)) => {
                if !(1..=MAX_POINTS).contains(&p) {
                    return Err(bad("daily_target_points", "must be between 1 and 40"));
                }
            }
        }
        check_offset("buy_offset", &self.buy_offset)?;
        check_offset("sell_offset", &self.sell_offset)?;
        if !(5..=86_400).contains(&self.order_timeout_s) {
            return Err(bad(
                "order_timeout_s",
                "must be between 5 and 86400 seconds",
            ));
        }
        if !(5..=86_400).contains(&self.pending_timeout_s) {
            return Err(bad(
                "pending_timeout_s",
                "must be between 5 and 86400 seconds",
            ));
        }
        if self.volatility_pct <= Decimal::ZERO || self.volatility_pct > Decimal::ONE_HUNDRED {
            return Err(bad("volatility_pct", "must be above 0 and at most 100"));
        }
        if self.cost_budget_bps < Decimal::ZERO || self.cost_budget_bps > Decimal::from(10_000) {
            return Err(bad("cost_budget_bps", "must be between 0 and 10000"));
        }
        if self.leftover_floor_pct < Decimal::ZERO || self.leftover_floor_pct > Decimal::from(50) {
            return Err(bad("leftover_floor_pct", "must be between 0 and 50"));
        }
        if self.max_hold_loss_pct <= Decimal::ZERO || self.max_hold_loss_pct > Decimal::from(50) {
            return Err(bad("max_hold_loss_pct", "must be above 0 and at most 50"));
        }
        if self.min_mul_point < Decimal::ZERO || self.min_mul_point > Decimal::from(100) {
            return Err(bad("min_mul_point", "must be between 0 and 100"));
        }
        if self.token_allow.len() > 100
            || self.token_allow.iter().any(|t| {
                t.is_empty() || t.len() > 20 || !t.chars().all(|c| c.is_ascii_alphanumeric())
            })
        {
            return Err(bad(
                "token_allow",
                "at most 100 symbols of letters and digits",
            ));
        }
        if !(1..=604_800).contains(&self.token_switch_min_s) {
            return Err(bad(
                "token_switch_min_s",
                "must be between 1 and 604800 seconds",
            ));
        }
        if self.is_auto() && self.chain.is_some() {
            return Err(bad("chain", "not with token = auto"));
        }
        if let Some(u) = &self.webhook_url {
            if u.len() > MAX_URL {
                return Err(bad("webhook_url", "at most 2048 characters"));
            }
            let ok = url::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if !ok {
                return Err(bad("webhook_url", "must be an http or https URL"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "token": "KOGE",
            "order_usdt": "10",
            "daily_target_usdt": "1024",
            "buy_offset": {"mode": "percent", "value": "0.5"},
            "sell_offset": {"mode": "amount", "value": "-0.0001"}
        })
    }

    fn parse(v: serde_json::Value) -> AccountSettings {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_fill_what_the_operator_left_out() {
        let s = parse(base());
        s.validate().unwrap();
        assert_eq!(
            (s.order_timeout_s, s.pending_timeout_s, s.auto_resume),
            (300, 120, false)
        );
        assert_eq!(
            (s.volatility_pct, s.cost_budget_bps),
            (Decimal::from(2), Decimal::from(30))
        );
        let unknown = serde_json::from_value::<AccountSettings>({
            let mut v = base();
            v["order_size"] = "10".into();
            v
        });
        assert!(
            unknown.unwrap_err().to_string().contains("order_size"),
            "unknown fields are refused"
        );
    }

    #[test]
    fn a_target_is_in_usdt_or_in_points_never_both_never_none() {
        let mut v = base();
        v["daily_target_points"] = 12.into();
        let both = parse(v.clone()).validate().unwrap_err();
        assert_eq!(both.field, "daily_target_points");
        v.as_object_mut().unwrap().remove("daily_target_usdt");
        let points = parse(v.clone());
        points.validate().unwrap();
        assert_eq!(points.target(), Target::Points(12));
        for bad_points in [0, 41] {
            v["daily_target_points"] = bad_points.into();
            assert_eq!(
                parse(v.clone()).validate().unwrap_err().field,
                "daily_target_points"
            );
        }
        v.as_object_mut().unwrap().remove("daily_target_points");
        assert_eq!(parse(v).validate().unwrap_err().field, "daily_target_usdt");
        assert_eq!(parse(base()).target(), Target::Usdt(Decimal::from(1024)));
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: &[(&str, serde_json::Value, &str)] = &[
            ("token", "".into(), "token"),
            ("token", "KO GE".into(), "token"),
            ("chain", " ".into(), "chain"),
            ("order_usdt", "0".into(), "order_usdt"),
            ("order_usdt", "0.000000001".into(), "order_usdt"),
            ("daily_target_usdt", "5".into(), "daily_target_usdt"),
            (
                "daily_target_usdt",
                "79000000000000000000000000000".into(),
                "daily_target_usdt",
            ),
            (
                "daily_target_usdt",
                "1000000000.00000001".into(),
                "daily_target_usdt",
            ),
            (
                "buy_offset",
                serde_json::json!({"mode": "amount", "value": "-1000000001"}),
                "buy_offset",
            ),
            (
                "buy_offset",
                serde_json::json!({"mode": "percent", "value": "60"}),
                "buy_offset",
            ),
            (
                "sell_offset",
                serde_json::json!({"mode": "percent", "value": "-50"}),
                "sell_offset",
            ),
            ("order_timeout_s", 1.into(), "order_timeout_s"),
            ("pending_timeout_s", 100_000.into(), "pending_timeout_s"),
            ("volatility_pct", "0".into(), "volatility_pct"),
            ("cost_budget_bps", "-1".into(), "cost_budget_bps"),
            ("leftover_floor_pct", "60".into(), "leftover_floor_pct"),
            ("max_hold_loss_pct", "0".into(), "max_hold_loss_pct"),
            ("webhook_url", "ftp://hooks".into(), "webhook_url"),
        ];
        for (field, value, named) in cases {
            let mut v = base();
            v[*field] = value.clone();
            let err = parse(v).validate().unwrap_err();
            assert_eq!(err.field, *named, "{field} = {value}: {err}");
        }
    }
}
