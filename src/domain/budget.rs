//! Request budgets (R19): a token bucket per account (10 requests a second by default) and one
//! for the whole egress, with time passed in. Cancels come first: they may draw on a reserve
//! that new orders leave untouched, so a busy account can always take an order back.

/// One bucket: `rate` tokens a second, up to `burst`, in thousandths of a token.
#[derive(Debug, Clone)]
pub struct Bucket {
    milli_per_s: u64,
    cap_milli: u64,
    level_milli: u64,
    last_ms: i64,
}

impl Bucket {
    pub fn new(rate_per_s: u32, burst: u32, now_ms: i64) -> Self {
        let cap = u64::from(burst.max(1)) * 1000;
        Self {
            milli_per_s: u64::from(rate_per_s.max(1)) * 1000,
            cap_milli: cap,
            level_milli: cap,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: i64) {
        if now_ms > self.last_ms {
            let elapsed = u64::try_from(now_ms - self.last_ms).unwrap_or(0);
            let added = elapsed.saturating_mul(self.milli_per_s) / 1000;
            self.level_milli = (self.level_milli.saturating_add(added)).min(self.cap_milli);
            self.last_ms = now_ms;
        }
    }

    /// Tokens available now (whole ones).
    pub fn available(&mut self, now_ms: i64) -> u64 {
        self.refill(now_ms);
        self.level_milli / 1000
    }

    /// Milliseconds until one token above `keep` is available.
    fn wait_ms(&self, keep: u64) -> i64 {
        let need = ((keep + 1) * 1000).saturating_sub(self.level_milli);
        i64::try_from(need.saturating_mul(1000).div_ceil(self.milli_per_s)).unwrap_or(i64::MAX)
    }
}

/// What a request is for: cancels have priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Cancel,
    Order,
    Query,
}

/// An account's budget and the shared egress budget.
#[derive(Debug, Clone)]
pub struct Budget {
    pub account: Bucket,
    /// Whole tokens new orders and queries leave for cancels.
    pub cancel_reserve: u64,
}

impl Budget {
    /// The default: 10 requests a second, a burst of 10, 2 kept for cancels.
    pub fn per_account(now_ms: i64) -> Self {
        Self {
            account: Bucket::new(10, 10, now_ms),
            cancel_reserve: 2,
        }
    }

    /// Takes a token from the account and the egress buckets, or says how long to wait.
    pub fn try_acquire(
        &mut self,
        egress: &mut Bucket,
        purpose: Purpose,
        now_ms: i64,
    ) -> Result<(), i64> {
        let keep = if purpose == Purpose::Cancel {
            0
        } else {
            self.cancel_reserve
        };
        let egress_keep = if purpose == Purpose::Cancel {
            0
        } else {
            self.cancel_reserve
        };
        self.account.refill(now_ms);
        egress.refill(now_ms);
        let account_ok = self.account.level_milli >= (keep + 1) * 1000;
        let egress_ok = egress.level_milli >= (egress_keep + 1) * 1000;
        if account_ok && egress_ok {
            // Both were checked first, so a refusal by one never spends the other's token.
            self.account.level_milli -= 1000;
            egress.level_milli -= 1000;
            return Ok(());
        }
        Err(self.account.wait_ms(keep).max(if egress_ok {
            0
        } else {
            egress.wait_ms(egress_keep)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_gets_ten_requests_a_second() {
        let mut egress = Bucket::new(1000, 1000, 0);
        let mut b = Budget {
            account: Bucket::new(10, 10, 0),
            cancel_reserve: 0,
        };
        let granted = (0..25)
            .filter(|_| b.try_acquire(&mut egress, Purpose::Order, 0).is_ok())
            .count();
        assert_eq!(granted, 10, "the burst");
        assert_eq!(
            b.try_acquire(&mut egress, Purpose::Order, 0),
            Err(100),
            "the next token in 100 ms"
        );
        assert!(b.try_acquire(&mut egress, Purpose::Order, 100).is_ok());
        // Over a long run the rate holds: 10 a second.
        let mut granted = 0;
        for ms in (101..=10_100).step_by(10) {
            if b.try_acquire(&mut egress, Purpose::Order, ms).is_ok() {
                granted += 1;
            }
        }
        assert!((99..=101).contains(&granted), "{granted}");
    }

    #[test]
    fn cancels_keep_a_reserve_that_orders_cannot_spend() {
        let mut egress = Bucket::new(1000, 1000, 0);
        let mut b = Budget::per_account(0);
        let orders = (0..20)
            .filter(|_| b.try_acquire(&mut egress, Purpose::Order, 0).is_ok())
            .count();
        assert_eq!(orders, 8, "10 less the reserve of 2");
        assert!(b.try_acquire(&mut egress, Purpose::Query, 0).is_err());
        assert!(b.try_acquire(&mut egress, Purpose::Cancel, 0).is_ok());
        assert!(b.try_acquire(&mut egress, Purpose::Cancel, 0).is_ok());
        assert!(
            b.try_acquire(&mut egress, Purpose::Cancel, 0).is_err(),
            "even cancels wait when all is spent"
        );
    }

    #[test]
    fn the_shared_egress_limits_every_account_together() {
        let mut egress = Bucket::new(5, 5, 0);
        let mut accounts: Vec<Budget> = (0..3)
            .map(|_| Budget {
                account: Bucket::new(10, 10, 0),
                cancel_reserve: 0,
            })
            .collect();
        let granted: usize = accounts
            .iter_mut()
            .map(|b| {
                (0..4)
                    .filter(|_| b.try_acquire(&mut egress, Purpose::Order, 0).is_ok())
                    .count()
            })
            .sum();
        assert_eq!(granted, 5);
        // A refusal by the egress does not spend the account's own token.
        assert_eq!(accounts[2].account.available(0), 10);
        assert_eq!(
            accounts[2].try_acquire(&mut egress, Purpose::Order, 0),
            Err(200)
        );
    }
}
