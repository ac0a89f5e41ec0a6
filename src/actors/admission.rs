//! The queue new orders wait in for their turn to go to the exchange (`domain::admission`
//! decides how many may be in flight). Turns are handed out first come first served: tokio's
//! semaphore queues its waiters in order.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::admission::{InFlightBounds, Limiter, RoundTrip};
use crate::meters;

/// The instance's queue of turns; cheap to share.
pub struct Admission(Arc<Inner>);

struct Inner {
    turns: Arc<Semaphore>,
    state: Mutex<State>,
    /// The limiter's time: monotonic, unlike the daemon's clock, which tests move by days.
    born: Instant,
    /// Orders waiting for a turn now.
    waiting: AtomicU32,
}

struct State {
    limiter: Limiter,
    /// Turns the semaphore holds in all: the limit once `owed` are taken back.
    issued: u32,
    /// Turns to take back as they come home (the limit shrank while they were out).
    owed: u32,
}

/// One order's turn: held from its intent's write to its request's answer. Dropped unused,
/// it goes back to the queue.
pub struct Turn {
    inner: Arc<Inner>,
    permit: Option<OwnedSemaphorePermit>,
    sent: Instant,
}

impl Admission {
    pub fn new(limits: InFlightBounds) -> Self {
        let limiter = Limiter::new(limits);
        let issued = limiter.limit();
        metrics::gauge!(meters::ADMISSION_LIMIT).set(f64::from(issued));
        Self(Arc::new(Inner {
            turns: Arc::new(Semaphore::new(issued as usize)),
            state: Mutex::new(State {
                limiter,
                issued,
                owed: 0,
            }),
            born: Instant::now(),
            waiting: AtomicU32::new(0),
        }))
    }

    /// Waits for a turn, behind every order that asked before. Cancel-safe: a wait given up
    /// leaves the queue.
    pub async fn turn(&self) -> Turn {
        let asked = Instant::now();
        let permit = {
            let _waiting = Waiting::new(&self.0.waiting);
            self.0.turns.clone().acquire_owned().await.ok()
        };
        metrics::histogram!(meters::ADMISSION_WAIT_SECONDS).record(asked.elapsed().as_secs_f64());
        self.handed(permit)
    }

    /// A turn now if one is free and no order waits for one.
    pub fn try_turn(&self) -> Option<Turn> {
        let permit = self.0.turns.clone().try_acquire_owned().ok()?;
        metrics::histogram!(meters::ADMISSION_WAIT_SECONDS).record(0.0);
        Some(self.handed(Some(permit)))
    }

    fn handed(&self, permit: Option<OwnedSemaphorePermit>) -> Turn {
        Turn {
            inner: self.0.clone(),
            permit,
            sent: Instant::now(),
        }
    }

    /// Orders waiting for a turn now.
    pub fn waiting(&self) -> u32 {
        self.0.waiting.load(Ordering::Relaxed)
    }

    /// The limit now.
    pub fn limit(&self) -> u32 {
        self.0.lock().limiter.limit()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the answer's round trip into the limit and gives the turn back.
    fn finish(&self, permit: Option<OwnedSemaphorePermit>, sample: Option<RoundTrip>) {
        let mut st = self.lock();
        if let Some(sample) = sample {
            let out = st.issued.saturating_sub(self.available());
            let now = i64::try_from(self.born.elapsed().as_millis()).unwrap_or(i64::MAX);
            let limit = st.limiter.observe(now, sample, out);
            let was = st.issued - st.owed;
            if limit > was {
                let more = limit - was;
                let forgiven = more.min(st.owed);
                st.owed -= forgiven;
                let added = more - forgiven;
                self.turns.add_permits(added as usize);
                st.issued += added;
            } else if limit < was {
                st.owed += was - limit;
            }
            if limit != was {
                metrics::gauge!(meters::ADMISSION_LIMIT).set(f64::from(limit));
            }
        }
        if let Some(permit) = permit
            && st.owed > 0
        {
            permit.forget();
            st.owed -= 1;
            st.issued -= 1;
        }
        // Turns owed and idle in the semaphore are taken back at once.
        while st.owed > 0 {
            match self.turns.try_acquire() {
                Ok(p) => {
                    p.forget();
                    st.owed -= 1;
                    st.issued -= 1;
                }
                Err(_) => break,
            }
        }
    }

    fn available(&self) -> u32 {
        u32::try_from(self.turns.available_permits()).unwrap_or(u32::MAX)
    }
}

/// Counts a wait while it lasts, however it ends (a wait given up is dropped).
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicU32) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(meters::ADMISSION_WAITING).increment(1.0);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(meters::ADMISSION_WAITING).decrement(1.0);
    }
}

impl Turn {
    /// The request leaves now: its round trip is counted from here, not from the turn's
    /// start (the intent's write is not the exchange's time).
    pub fn sending(&mut self) {
        self.sent = Instant::now();
    }

    /// The request was answered (`overloaded`: refused for load, or not answered at all).
    pub fn answered(mut self, overloaded: bool) {
        let rtt = self.sent.elapsed();
        let sample = RoundTrip {
            rtt_us: u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX),
            overloaded,
        };
        self.inner.finish(self.permit.take(), Some(sample));
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.permit.is_some() {
            self.inner.finish(self.permit.take(), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn admission(min: u32, max: u32) -> Admission {
        Admission::new(InFlightBounds { min, max })
    }

    #[tokio::test]
    async fn turns_are_handed_out_in_the_order_they_were_asked_for() {
        let a = std::sync::Arc::new(admission(1, 1));
        let first = a.turn().await;
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..20 {
            let (a, order) = (a.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let t = a.turn().await;
                order.lock().unwrap_or_else(PoisonError::into_inner).push(i);
                t.answered(false);
            }));
            // Each asks before the next.
            tokio::task::yield_now().await;
        }
        first.answered(false);
        for w in waiting {
            w.await.unwrap_or_default();
        }
        let got = order.lock().unwrap_or_else(PoisonError::into_inner).clone();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_shrunk_limit_takes_its_turns_back_as_they_come_home() {
        let a = admission(2, 64);
        // Grow the limit: every turn out and answered at once.
        for _ in 0..40 {
            let turns: Vec<_> =
                futures_util::future::join_all((0..a.limit()).map(|_| a.turn())).await;
            for t in turns {
                t.answered(false);
            }
        }
        let grown = a.limit();
        assert!(grown > 8, "grew to {grown}");
        assert_eq!(a.0.turns.available_permits(), grown as usize);
        let out: Vec<_> = futures_util::future::join_all((0..grown).map(|_| a.turn())).await;
        let mut out = out.into_iter();
        if let Some(t) = out.next() {
            t.answered(true);
        }
        let halved = a.limit();
        assert_eq!(halved, grown / 2);
        // The turns still out come home; only the new limit's worth stays in the semaphore.
        drop(out);
        assert_eq!(a.0.turns.available_permits(), halved as usize);
    }

    #[tokio::test]
    async fn a_wait_given_up_leaves_the_queue() {
        let a = admission(1, 1);
        let first = a.turn().await;
        let gave_up = tokio::time::timeout(Duration::from_millis(20), a.turn()).await;
        assert!(gave_up.is_err());
        assert_eq!(a.waiting(), 0);
        first.answered(false);
        let next = tokio::time::timeout(Duration::from_secs(5), a.turn()).await;
        assert!(next.is_ok(), "the turn went to the wait that was given up");
    }
}
