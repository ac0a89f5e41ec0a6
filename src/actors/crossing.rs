//! The instance's live footprints per token, so that no two managed accounts trade with each
//! other (`domain::crossing` holds the rule). A pair claims its footprint before its intent is
//! written, atomically with the check, so two accounts on different threads cannot both place
//! crossing pairs. An account held back leaves a wish: no younger pair that crosses it may
//! start, so the pairs in its way drain and it gets its turn (without it, accounts whose pairs
//! rest long would starve the others for good).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::crossing::{Footprint, crosses, may_place};

/// A wish not renewed for this long is forgotten (its account stopped trying).
const WISH_KEPT_MS: i64 = 5_000;

#[derive(Default)]
struct Token {
    live: HashMap<i64, Footprint>,
    /// Accounts held back: their footprint and when they first asked.
    wishes: HashMap<i64, (Footprint, i64, i64)>,
}

#[derive(Clone)]
pub struct Crossings {
    inner: Arc<Mutex<HashMap<String, Token>>>,
    /// Off only to show that the simulator's check of cross-account matches can fail.
    enabled: bool,
}

impl Crossings {
    pub fn new(enabled: bool) -> Self {
        Self {
            inner: Default::default(),
            enabled,
        }
    }

    /// Claims `footprint` for `account` on `token` when it crosses neither another account's
    /// live footprint nor an older wish; answers whether it did. A refused claim is a wish.
    pub fn claim(&self, token: &str, account: i64, footprint: Footprint, now_ms: i64) -> bool {
        let mut all = self.lock();
        let on = all.entry(token.to_owned()).or_default();
        if self.enabled {
            on.wishes
                .retain(|_, (_, _, seen)| now_ms - *seen <= WISH_KEPT_MS);
            let since = on.wishes.get(&account).map_or(now_ms, |w| w.1);
            let live = on
                .live
                .iter()
                .filter(|(a, _)| **a != account)
                .map(|(_, f)| *f);
            let older_wish = on
                .wishes
                .iter()
                .any(|(a, (f, at, _))| *a != account && *at < since && crosses(footprint, *f));
            if !may_place(footprint, live) || older_wish {
                on.wishes.insert(account, (footprint, since, now_ms));
                return false;
            }
            on.wishes.remove(&account);
        }
        on.live.insert(account, footprint);
        true
    }

    /// Sets what the account has (or may have) resting now, whatever it crosses: its cycle's
    /// state says (`Cycle::footprint`); `None` when nothing.
    pub fn set(&self, token: &str, account: i64, footprint: Option<Footprint>) {
        let mut all = self.lock();
        match footprint {
            Some(f) => {
                all.entry(token.to_owned())
                    .or_default()
                    .live
                    .insert(account, f);
            }
            None => {
                if let Some(on) = all.get_mut(token) {
                    on.live.remove(&account);
                    if on.live.is_empty() && on.wishes.is_empty() {
                        all.remove(token);
                    }
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        // Plain data: a panic elsewhere while holding the lock leaves it usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn pair(buy: i64, sell: i64) -> Footprint {
        Footprint::pair(Decimal::from(buy), Decimal::from(sell))
    }

    #[test]
    fn a_held_back_account_gets_its_turn_before_younger_crossing_pairs() {
        let c = Crossings::new(true);
        let (maker, maker2, taker) = (1, 2, 3);
        assert!(c.claim("T", maker, pair(100, 102), 0));
        // The taker's buy reaches the maker's sell: held back, with a wish.
        assert!(!c.claim("T", taker, pair(105, 99), 10));
        // Another maker that would cross the waiting taker does not start first.
        assert!(!c.claim("T", maker2, pair(100, 102), 20));
        c.set("T", maker, None);
        assert!(
            c.claim("T", taker, pair(105, 99), 30),
            "the older wish goes first"
        );
        assert!(!c.claim("T", maker2, pair(100, 102), 40));
        c.set("T", taker, None);
        assert!(c.claim("T", maker2, pair(100, 102), 50));
        // A pair that crosses nobody is never held back.
        assert!(c.claim("T", 4, pair(99, 103), 60));
        // Off: everything is claimed.
        let off = Crossings::new(false);
        assert!(off.claim("T", 1, pair(100, 102), 0) && off.claim("T", 2, pair(105, 99), 0));
    }
}
