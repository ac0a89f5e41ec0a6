//! Request budgets (R19): each account may send `per_account` requests a second and the
//! instance as a whole `egress` a second; new orders and queries leave a reserve for cancels,
//! so a cancel is never starved by the orders it must clean up after.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::domain::budget::{Bucket, Budget, Purpose};

use crate::clock::Clock;

pub struct Governor {
    clock: Clock,
    inner: Mutex<Inner>,
}

struct Inner {
    egress: Bucket,
    accounts: HashMap<i64, Budget>,
}

impl Governor {
    /// `egress_per_s` is the instance's budget over all accounts.
    pub fn new(clock: Clock, egress_per_s: u32) -> Self {
        let now = clock.now_ms();
        Self {
            inner: Mutex::new(Inner {
                egress: Bucket::new(egress_per_s, egress_per_s, now),
                accounts: HashMap::new(),
            }),
            clock,
        }
    }

    /// Takes one request of the account's and the instance's budgets now, or says how many
    /// milliseconds until one is free (for callers that answer "later" instead of waiting).
    pub fn try_acquire(&self, account_id: i64, purpose: Purpose) -> Result<(), i64> {
        let now = self.clock.now_ms();
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Inner { egress, accounts } = &mut *inner;
        accounts
            .entry(account_id)
            .or_insert_with(|| Budget::per_account(now))
            .try_acquire(egress, purpose, now)
    }

    /// Waits until the account and the instance may send one request for `purpose`.
    pub async fn acquire(&self, account_id: i64, purpose: Purpose) {
        loop {
            let wait = match self.try_acquire(account_id, purpose) {
                Ok(()) => return,
                Err(ms) => ms.clamp(1, 1000),
            };
            metrics::counter!(crate::meters::RATE_LIMIT_WAITS).increment(1);
            tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(1))).await;
        }
    }

    /// Forgets an account's bucket (it stopped).
    pub fn forget(&self, account_id: i64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.accounts.remove(&account_id);
        }
    }
}
