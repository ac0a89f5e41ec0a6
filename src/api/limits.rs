//! What keeps the API cheap and hard to abuse: readiness answered from memory (a prober asks
//! the database once a second), a cap on event-stream subscribers with the status frames built
//! once a second for all of them, and failed logins logged and slowed per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use tokio::sync::broadcast;

/// Event-stream subscribers at once, and those of them with status frames (each costs a scan
/// and a copy of every changed account a second).
pub const MAX_SUBSCRIBERS: usize = 256;
pub const MAX_STATUS_SUBSCRIBERS: usize = 32;
/// Failed logins from one address within `FAILURE_WINDOW_MS` before it is refused outright
/// until the window since its last failure has passed.
pub const FAILURES_ALLOWED: u32 = 100;
pub const FAILURE_WINDOW_MS: i64 = 60_000;
/// How stale the prober's last answer may be for `/readyz` to call the database ready.
const READY_WITHIN_MS: i64 = 3_000;

pub struct Limits {
    db_answered_ms: AtomicI64,
    subscribers: Arc<AtomicUsize>,
    status_subscribers: Arc<AtomicUsize>,
    /// The statuses changed in the last second, as frames, built once for every subscriber.
    pub status_frames: broadcast::Sender<Arc<Vec<Bytes>>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: i64,
}

/// A place among the subscribers, given back when dropped.
pub struct Seat {
    counters: Vec<Arc<AtomicUsize>>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        for c in &self.counters {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// What a login attempt from an address may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Open,
    /// Too many failures lately: refused without a look, for this many milliseconds.
    Shut(i64),
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

impl Limits {
    pub fn new() -> Self {
        Self {
            db_answered_ms: AtomicI64::new(i64::MIN),
            subscribers: Arc::new(AtomicUsize::new(0)),
            status_subscribers: Arc::new(AtomicUsize::new(0)),
            status_frames: broadcast::channel(4).0,
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn db_answered(&self, now_ms: i64) {
        self.db_answered_ms.store(now_ms, Ordering::Release);
    }

    pub fn db_ready(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.db_answered_ms.load(Ordering::Acquire)) <= READY_WITHIN_MS
    }

    /// A seat for a new subscriber, or `None` when the cap is reached.
    pub fn seat(&self, status: bool) -> Option<Seat> {
        let take = |c: &Arc<AtomicUsize>, max: usize| {
            c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
        };
        if !take(&self.subscribers, MAX_SUBSCRIBERS) {
            return None;
        }
        let mut seat = Seat {
            counters: vec![self.subscribers.clone()],
        };
        if status {
            if !take(&self.status_subscribers, MAX_STATUS_SUBSCRIBERS) {
                return None;
            }
            seat.counters.push(self.status_subscribers.clone());
        }
        Some(seat)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn door(&self, ip: IpAddr, now_ms: i64) -> Door {
        match self.lock().get(&ip) {
            Some(f) if f.count >= FAILURES_ALLOWED && now_ms - f.last_ms < FAILURE_WINDOW_MS => {
                Door::Shut(FAILURE_WINDOW_MS - (now_ms - f.last_ms))
            }
            _ => Door::Open,
        }
    }

    /// Records a failed login; answers the address's count within the window.
    pub fn failed(&self, ip: IpAddr, now_ms: i64) -> u32 {
        let mut map = self.lock();
        // Bounded: addresses whose window has passed are forgotten when the map grows.
        if map.len() > 10_000 {
            map.retain(|_, f| now_ms - f.last_ms < FAILURE_WINDOW_MS);
        }
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            last_ms: now_ms,
        });
        if now_ms - f.last_ms >= FAILURE_WINDOW_MS {
            f.count = 0;
        }
        f.count += 1;
        f.last_ms = now_ms;
        f.count
    }

    pub fn succeeded(&self, ip: IpAddr) {
        let mut map = self.lock();
        if map.contains_key(&ip) {
            map.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_shut_out_after_its_failures_and_let_in_after_the_window() {
        let l = Limits::new();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        for i in 0..FAILURES_ALLOWED {
            assert_eq!(l.door(ip, 1_000), Door::Open, "failure {i}");
            l.failed(ip, 1_000);
        }
        assert_eq!(l.door(ip, 1_000), Door::Shut(FAILURE_WINDOW_MS));
        assert_eq!(l.door(other, 1_000), Door::Open);
        assert_eq!(l.door(ip, 1_000 + FAILURE_WINDOW_MS), Door::Open);
        l.failed(ip, 1_000 + FAILURE_WINDOW_MS);
        assert_eq!(
            l.door(ip, 1_000 + FAILURE_WINDOW_MS),
            Door::Open,
            "a new window"
        );
    }

    #[test]
    fn seats_are_capped_and_given_back() {
        let l = Limits::new();
        let seats: Vec<Seat> = (0..MAX_STATUS_SUBSCRIBERS)
            .map(|_| l.seat(true).unwrap())
            .collect();
        assert!(l.seat(true).is_none(), "the status cap holds");
        assert!(
            l.seat(false).is_some(),
            "plain subscribers are counted apart"
        );
        drop(seats);
        assert!(l.seat(true).is_some());
        let plain: Vec<Seat> = (0..MAX_SUBSCRIBERS).filter_map(|_| l.seat(false)).collect();
        assert_eq!(plain.len(), MAX_SUBSCRIBERS);
        assert!(l.seat(false).is_none());
    }

    #[test]
    fn readiness_needs_a_recent_answer() {
        let l = Limits::new();
        assert!(!l.db_ready(0));
        l.db_answered(10_000);
        assert!(l.db_ready(12_000));
        assert!(!l.db_ready(14_000));
    }
}
