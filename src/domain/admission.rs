//! How many new orders may be on their way to the exchange at once: the admission limit.
//!
//! When accounts ask for pairs faster than the exchange (or this host) can answer, the requests
//! queue somewhere. Left to the exchange's side, they are served in no particular order: under
//! overload some accounts waited three times as long as others for the same pair. So new orders
//! take a turn in a queue of the daemon's own, first come first served, and only `limit` of
//! them are in flight at once. The limit follows the exchange's answers, as a TCP window
//! follows the network's (additive increase, multiplicative decrease): it grows while the round
//! trip stays near the least one seen lately, and shrinks when the round trip swells (the
//! exchange's own queue is growing) or the exchange says it is overloaded (a rate limit, no
//! answer). The queue then forms here, where it is fair and where the operator can see it; the
//! exchange's stays short, so reports come back promptly.
//!
//! It is not a cap on live pairs: a pair rests for minutes after its request was answered, and
//! only the request holds a turn. Cancels and the sale of held tokens never take a turn: what
//! ends exposure does not wait behind new orders.

/// The bounds the limit moves within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightBounds {
    pub min: u32,
    pub max: u32,
}

/// The limit never goes under this (or the configured most, if that is less): a few orders
/// in flight keep the round trip measured and the queue moving.
pub const MIN_IN_FLIGHT: u32 = 4;

/// How one request in flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrip {
    /// From the request leaving to its answer.
    pub rtt_us: u64,
    /// The exchange refused for load (rate limited) or did not answer: slow down at once.
    pub overloaded: bool,
}

/// Queueing the exchange may add before the limit shrinks, beyond twice the least round trip:
/// a real exchange's round trips vary by tens of milliseconds with no queue at all.
pub const SLACK_US: u64 = 20_000;
/// A limit held at its floor this long while the round trip stays swollen means the exchange
/// itself got slower (not a queue of ours, which the floor limit cannot build): the swollen
/// round trip becomes the new least one.
pub const RELEARN_MS: i64 = 30_000;

#[derive(Debug, Clone)]
pub struct Limiter {
    limits: InFlightBounds,
    limit: u32,
    /// Until the first sign of a queue the limit doubles each round (slow start).
    slow_start: bool,
    /// Answers counted towards the next additive step.
    credit: u32,
    /// Answers since the last cut: one cut per round at most, so a single swell is answered
    /// once, not once per request that was already in flight.
    since_cut: u32,
    /// The round trip, smoothed (an eighth of each new sample, as TCP's SRTT).
    smoothed_us: Option<u64>,
    /// The least smoothed round trip: what the exchange takes with no queue. A least taken
    /// over a sliding window would creep up under lasting load (every sample then carries the
    /// standing queue, and the limit would grow with it), and a least of raw samples would
    /// keep one lucky answer: so the least of the smoothed value, forgotten only as `RELEARN_MS`
    /// says.
    floor_us: Option<u64>,
    /// Since when the limit sits at its floor with the round trip still swollen.
    pinned_since: Option<i64>,
}

impl Limiter {
    pub fn new(limits: InFlightBounds) -> Self {
        let min = limits.min.clamp(1, limits.max.max(1));
        let limits = InFlightBounds {
            min,
            max: limits.max.max(min),
        };
        Self {
            limits,
            limit: min,
            slow_start: true,
            credit: 0,
            since_cut: u32::MAX,
            smoothed_us: None,
            floor_us: None,
            pinned_since: None,
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The round trip above which the exchange is taken to be queueing, once one was seen.
    pub fn swell_us(&self) -> Option<u64> {
        self.floor_us.map(swell_above)
    }

    /// Takes one answer; `in_flight` counts the requests holding a turn when it came (this one
    /// included). Returns the new limit.
    pub fn observe(&mut self, now_ms: i64, sample: RoundTrip, in_flight: u32) -> u32 {
        let smoothed = match self.smoothed_us {
            None => sample.rtt_us,
            Some(s) => s - s / 8 + sample.rtt_us / 8,
        };
        self.smoothed_us = Some(smoothed);
        let mut floor = self.floor_us.map_or(smoothed, |f| f.min(smoothed));
        self.since_cut = self.since_cut.saturating_add(1);
        let mut swollen = smoothed > swell_above(floor);
        if swollen && self.limit == self.limits.min {
            let since = *self.pinned_since.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= RELEARN_MS {
                floor = smoothed;
                swollen = false;
                self.pinned_since = None;
                // Nothing is known of the new pace's room: find it as at the start.
                self.slow_start = true;
            }
        } else {
            self.pinned_since = None;
        }
        self.floor_us = Some(floor);
        if sample.overloaded || swollen {
            if self.since_cut >= self.limit {
                let keep = if sample.overloaded {
                    self.limit / 2
                } else {
                    self.limit - self.limit.div_ceil(10)
                };
                self.limit = keep.max(self.limits.min);
                self.since_cut = 0;
                self.credit = 0;
                self.slow_start = false;
            }
            return self.limit;
        }
        // Grow only a limit that is in use: one that grew while nothing waited would let a
        // burst through all at once.
        if in_flight.saturating_mul(2) < self.limit {
            return self.limit;
        }
        if self.slow_start {
            self.limit += 1;
        } else {
            self.credit += 1;
            if self.credit >= self.limit {
                self.credit = 0;
                self.limit += 1;
            }
        }
        self.limit = self.limit.min(self.limits.max);
        self.limit
    }
}

fn swell_above(floor_us: u64) -> u64 {
    floor_us.saturating_mul(2).saturating_add(SLACK_US)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: InFlightBounds = InFlightBounds { min: 4, max: 512 };

    fn answered(rtt_us: u64) -> RoundTrip {
        RoundTrip {
            rtt_us,
            overloaded: false,
        }
    }

    #[test]
    fn a_steady_exchange_lets_the_limit_grow_to_its_bound_while_it_is_used() {
        let mut l = Limiter::new(LIMITS);
        for i in 0..10_000 {
            let in_flight = l.limit();
            l.observe(i, answered(80_000 + (i as u64 % 7) * 5_000), in_flight);
        }
        assert_eq!(l.limit(), 512);
    }

    #[test]
    fn a_limit_not_in_use_does_not_grow() {
        let mut l = Limiter::new(LIMITS);
        for i in 0..1_000 {
            l.observe(i, answered(80_000), 1);
        }
        assert_eq!(l.limit(), 4);
    }

    #[test]
    fn a_swelling_round_trip_shrinks_the_limit_to_its_floor() {
        let mut l = Limiter::new(LIMITS);
        for i in 0..2_000 {
            let in_flight = l.limit();
            l.observe(i, answered(1_000), in_flight);
        }
        let grown = l.limit();
        assert!(grown > 100, "grew to {grown}");
        for i in 0..20_000 {
            let in_flight = l.limit();
            l.observe(2_000 + i, answered(500_000), in_flight);
        }
        assert_eq!(l.limit(), 4);
    }

    #[test]
    fn an_overloaded_answer_halves_the_limit_once_per_round() {
        let mut l = Limiter::new(LIMITS);
        for i in 0..200 {
            let in_flight = l.limit();
            l.observe(i, answered(1_000), in_flight);
        }
        let before = l.limit();
        let overloaded = RoundTrip {
            rtt_us: 1_000,
            overloaded: true,
        };
        l.observe(300, overloaded, before);
        assert_eq!(l.limit(), before / 2);
        // The requests already in flight when it came say the same: no further cut.
        l.observe(301, overloaded, before);
        assert_eq!(l.limit(), before / 2);
    }

    #[test]
    fn an_exchange_that_got_slower_is_learnt_once_the_limit_held_at_its_floor() {
        let mut l = Limiter::new(LIMITS);
        for i in 0..500 {
            let in_flight = l.limit();
            l.observe(i, answered(1_000), in_flight);
        }
        assert_eq!(l.swell_us(), Some(2_000 + SLACK_US));
        // Every answer now takes 100 ms, however few are in flight.
        let mut t = 1_000;
        while l.limit() > LIMITS.min {
            let in_flight = l.limit();
            l.observe(t, answered(100_000), in_flight);
            t += 1;
        }
        assert_eq!(
            l.swell_us(),
            Some(2_000 + SLACK_US),
            "a swell is not learnt at once"
        );
        let pinned = t;
        while t < pinned + RELEARN_MS {
            l.observe(t, answered(100_000), LIMITS.min);
            t += 10;
        }
        l.observe(t, answered(100_000), LIMITS.min);
        assert!(l.swell_us() > Some(190_000), "{:?}", l.swell_us());
        for _ in 0..5_000 {
            t += 1;
            let in_flight = l.limit();
            l.observe(t, answered(100_000), in_flight);
        }
        assert_eq!(l.limit(), LIMITS.max, "it grows again at the new pace");
    }

    #[test]
    fn one_lucky_answer_does_not_set_the_least_round_trip() {
        let mut l = Limiter::new(LIMITS);
        for i in 0..100 {
            l.observe(i, answered(80_000), 1);
        }
        l.observe(100, answered(1), 1);
        assert!(l.swell_us() > Some(2 * 60_000), "{:?}", l.swell_us());
    }

    /// An exchange that serves `per_ms` requests a millisecond after a fixed `base_us`: each
    /// request in flight beyond what it serves at once waits in its queue.
    fn queueing_rtt(base_us: u64, per_ms: u64, in_flight: u32) -> u64 {
        base_us + u64::from(in_flight) * 1_000 / per_ms
    }

    #[test]
    fn before_an_exchange_that_queues_the_limit_settles_where_its_queue_stays_short() {
        let mut l = Limiter::new(LIMITS);
        let (base_us, per_ms) = (2_000, 2);
        let mut seen = Vec::new();
        for i in 0..200_000_i64 {
            let in_flight = l.limit();
            l.observe(
                i / 10,
                answered(queueing_rtt(base_us, per_ms, in_flight)),
                in_flight,
            );
            if i > 100_000 {
                seen.push(l.limit());
            }
        }
        let (lo, hi) = (
            *seen.iter().min().unwrap_or(&0),
            *seen.iter().max().unwrap_or(&0),
        );
        // The queue's wait at the limit stays near the slack allowed: 2 a millisecond for
        // 2 x 2 ms + 20 ms is about 48 requests; neither collapsed to the floor nor run away.
        assert!(lo >= 30 && hi <= 60, "limit between {lo} and {hi}");
    }

    proptest! {
        #[test]
        fn the_limit_stays_within_its_bounds(
            min in 1_u32..20,
            span in 0_u32..200,
            samples in proptest::collection::vec((0_u64..2_000_000, any::<bool>(), 0_u32..300), 1..400),
        ) {
            let limits = InFlightBounds { min, max: min + span };
            let mut l = Limiter::new(limits);
            for (i, (rtt_us, overloaded, in_flight)) in samples.into_iter().enumerate() {
                let got = l.observe(i as i64 * 37, RoundTrip { rtt_us, overloaded }, in_flight);
                prop_assert!(got >= min && got <= min + span, "{got} outside {min}..={}", min + span);
                prop_assert_eq!(got, l.limit());
            }
        }

        #[test]
        fn one_answer_moves_the_limit_by_at_most_one_or_cuts_it_at_most_by_half(
            samples in proptest::collection::vec((0_u64..2_000_000, any::<bool>(), 0_u32..600), 1..400),
        ) {
            let mut l = Limiter::new(LIMITS);
            for (i, (rtt_us, overloaded, in_flight)) in samples.into_iter().enumerate() {
                let before = l.limit();
                let after = l.observe(i as i64 * 11, RoundTrip { rtt_us, overloaded }, in_flight);
                prop_assert!(after <= before + 1);
                prop_assert!(after >= (before / 2).max(LIMITS.min));
                if overloaded {
                    prop_assert!(after <= before, "grew on an overloaded answer");
                }
            }
        }
    }
}
