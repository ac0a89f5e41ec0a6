//! The daemon's one clock: every "now" of the shell comes from here, so tests can move time
//! (a new UTC day) without waiting. The pure core never reads it: time is passed in.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The daemon's clock. Tests move it forward (a new UTC day) without waiting.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves the clock by `ms` (tests only have a reason to).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}
