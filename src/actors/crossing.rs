//! The instance's live footprints per token, so that no two managed accounts trade with each
//! other: one `domain::crossing::Book` per token behind a lock. A pair claims its footprint
//! before its intent is written, atomically with the check, so two accounts on different
//! threads cannot both place crossing pairs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::crossing::{Book, Footprint};

#[derive(Clone)]
pub struct Crossings {
    inner: Arc<Mutex<HashMap<String, Book>>>,
    /// Off only to show that the simulator's check of cross-account matches can fail.
    enabled: bool,
    /// The check against other instances' accounts, made where an intent is stored.
    across_instances: bool,
}

impl Crossings {
    pub fn new(enabled: bool, across_instances: bool) -> Self {
        Self {
            inner: Default::default(),
            enabled,
            across_instances: enabled && across_instances,
        }
    }

    /// Whether stored intents are checked against other instances' accounts
    /// (`store::crossing`).
    pub fn across_instances(&self) -> bool {
        self.across_instances
    }

    /// Claims `footprint` for `account` on `token` (`Book::claim`); answers whether it was
    /// granted.
    pub fn claim(&self, token: &str, account: i64, footprint: Footprint, now_ms: i64) -> bool {
        let mut all = self.lock();
        let book = all.entry(token.to_owned()).or_default();
        if !self.enabled {
            book.force(account, footprint);
            return true;
        }
        book.claim(account, footprint, now_ms)
    }

    /// Sets what the account has (or may have) resting now, whatever it crosses: its cycle's
    /// state says (`Cycle::footprint`); `None` when nothing.
    pub fn set(&self, token: &str, account: i64, footprint: Option<Footprint>) {
        let mut all = self.lock();
        if footprint.is_none() && !all.contains_key(token) {
            return;
        }
        let book = all.entry(token.to_owned()).or_default();
        book.set(account, footprint);
        if book.is_empty() {
            all.remove(token);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Book>> {
        // Plain data: a panic elsewhere while holding the lock leaves it usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
