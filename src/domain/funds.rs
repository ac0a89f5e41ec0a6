//! R14 without a balance request before every pair: the account's free USDT as last read,
//! less every payment committed since.
//!
//! The estimate may only err low. A payment counts from the moment the pair is committed
//! (before its request leaves), with a margin for the buy's fee, and counts against every
//! read started after it was committed too (such a read may or may not have seen the lock: it
//! is taken as not). A sale's proceeds are never added: a report can arrive after a read that
//! already counted its fill, so adding it could count it twice. The estimate therefore falls
//! with every pair until the next read, and a read is asked for when it would not cover the
//! next payment or when it is older than [`READ_EVERY_MS`] (the owner may move funds outside
//! the daemon). What the estimate cannot see, a withdrawal since the read, the exchange still
//! refuses, and a refusal for the balance pauses and notifies as the check would have.

use rust_decimal::Decimal;

/// The oldest read a pair may be checked against.
pub const READ_EVERY_MS: i64 = 60_000;

/// Each committed payment counts this much more (1 %): more than any fee the buy pays.
fn with_margin(payment: Decimal) -> Decimal {
    payment + payment / Decimal::ONE_HUNDRED
}

/// The account's free USDT as the daemon knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funds {
    /// Every payment committed since the account started, with its margin.
    committed: Decimal,
    last: Option<Read>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    free: Decimal,
    /// `committed` when the read started: everything after it counts against `free`.
    committed_before: Decimal,
    started_ms: i64,
}

/// A read of the balance in flight: taken when its request leaves, handed back with the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTicket {
    committed_before: Decimal,
    started_ms: i64,
}

impl Funds {
    /// A read is starting now.
    pub fn start_read(&self, now_ms: i64) -> ReadTicket {
        ReadTicket {
            committed_before: self.committed,
            started_ms: now_ms,
        }
    }

    /// The exchange answered the read of `ticket`: `free` USDT. An answer to a read started
    /// before the one already known is ignored.
    pub fn read(&mut self, ticket: ReadTicket, free: Decimal) {
        if self
            .last
            .as_ref()
            .is_some_and(|r| r.started_ms > ticket.started_ms)
        {
            return;
        }
        self.last = Some(Read {
            free,
            committed_before: ticket.committed_before,
            started_ms: ticket.started_ms,
        });
    }

    /// A pair paying `payment` is committed: its request may leave.
    pub fn commit(&mut self, payment: Decimal) {
        self.committed += with_margin(payment);
    }

    /// The exchange refused a pair for its balance: the last read is no longer believed, and
    /// the next pair reads again.
    pub fn doubt(&mut self) {
        self.last = None;
    }

    /// The free USDT the daemon may count on, if it has read it.
    pub fn known(&self) -> Option<Decimal> {
        self.last
            .as_ref()
            .map(|r| r.free - (self.committed - r.committed_before))
    }

    /// Whether a pair paying `payment` is covered without asking the exchange: a read younger
    /// than [`READ_EVERY_MS`] less what was committed since leaves enough.
    pub fn covers(&self, payment: Decimal, now_ms: i64) -> bool {
        match (&self.last, self.known()) {
            (Some(r), Some(known)) => {
                now_ms - r.started_ms < READ_EVERY_MS && known >= with_margin(payment)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_read_covers_pairs_until_it_is_spent_or_old() {
        let mut f = Funds::default();
        assert!(!f.covers(d("10"), 0), "nothing read yet");
        let t = f.start_read(1_000);
        f.read(t, d("30.5"));
        assert!(f.covers(d("10"), 1_000));
        f.commit(d("10")); // 10.10 with the margin
        assert_eq!(f.known(), Some(d("20.4")));
        assert!(f.covers(d("10"), 2_000));
        f.commit(d("10"));
        assert_eq!(f.known(), Some(d("10.3")));
        assert!(f.covers(d("10"), 2_000), "10.3 covers 10.10");
        f.commit(d("10"));
        assert!(!f.covers(d("10"), 2_000), "0.2 left");
        let mut g = Funds::default();
        let t = g.start_read(1_000);
        g.read(t, d("1000"));
        assert!(g.covers(d("10"), 1_000 + READ_EVERY_MS - 1));
        assert!(
            !g.covers(d("10"), 1_000 + READ_EVERY_MS),
            "the read is too old"
        );
        g.doubt();
        assert!(
            !g.covers(d("10"), 1_000),
            "a refusal for the balance: read again"
        );
        assert_eq!(g.known(), None);
    }

    #[test]
    fn a_payment_committed_while_a_read_is_out_counts_against_it() {
        let mut f = Funds::default();
        let t = f.start_read(0);
        f.commit(d("10"));
        f.read(t, d("20.2"));
        // The read may not have seen the lock: 20.2 - 10.1.
        assert_eq!(f.known(), Some(d("10.1")));
        // An answer to an older read does not replace a newer one.
        let newer = f.start_read(5);
        let older = ReadTicket {
            committed_before: Decimal::ZERO,
            started_ms: 1,
        };
        f.read(newer, d("50"));
        f.read(older, d("9999"));
        assert_eq!(f.known(), Some(d("50")));
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// A pair pays this (up to its committed amount; a price improvement pays less).
        Pair { payment: u32, paid_share: u8 },
        /// A sale brings this in.
        Sale(u32),
        /// A read starts and its answer comes back after `late` more steps, with the balance
        /// at its start or at its answer (the exchange's moment is anywhere between).
        Read { late: u8, at_answer: bool },
        /// The owner moves funds in.
        Deposit(u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1u32..500, 0u8..=100).prop_map(|(payment, paid_share)| Step::Pair {
                payment,
                paid_share
            }),
            (1u32..500).prop_map(Step::Sale),
            (0u8..4, any::<bool>()).prop_map(|(late, at_answer)| Step::Read { late, at_answer }),
            (1u32..500).prop_map(Step::Deposit),
        ]
    }

    proptest! {
        /// Whatever happens between reads and while they are out (pairs paying up to what
        /// they committed, sales, deposits), a pair the estimate covers is covered by the
        /// exchange's free balance: the estimate never errs high.
        #[test]
        fn a_covered_pair_is_covered_on_the_exchange(
            start in 0u32..2_000,
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let mut f = Funds::default();
            let mut free = Decimal::from(start);
            // Reads out: (steps left, ticket, the balance at its start if that is the one the
            // exchange reports).
            let mut out: Vec<(u8, ReadTicket, Option<Decimal>)> = Vec::new();
            for (now, s) in (0i64..).zip(steps) {
                for r in &mut out {
                    r.0 = r.0.saturating_sub(1);
                }
                out.retain(|(left, t, seen)| {
                    if *left == 0 {
                        f.read(*t, seen.unwrap_or(free));
                        false
                    } else {
                        true
                    }
                });
                match s {
                    Step::Pair { payment, paid_share } => {
                        let payment = Decimal::from(payment);
                        if f.covers(payment, now) {
                            prop_assert!(free >= payment, "covered {payment} with {free} free");
                        }
                        if free >= payment {
                            f.commit(payment);
                            free -= payment * Decimal::from(paid_share) / Decimal::ONE_HUNDRED;
                        }
                    }
                    Step::Sale(q) => free += Decimal::from(q),
                    Step::Deposit(q) => free += Decimal::from(q),
                    Step::Read { late, at_answer } => {
                        out.push((late, f.start_read(now), (!at_answer).then_some(free)));
                    }
                }
            }
        }
    }
}
