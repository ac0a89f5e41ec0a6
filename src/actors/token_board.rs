//! The token list as this instance last read it, for what changes during a day: each token's
//! points multiplier (`mulPoint`, which drops when a token's incentive ends). One account that
//! finds the list due reads it for all (`domain::points::list_due` says when); every account
//! reads the board from memory on its tick.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;

use crate::domain::points::list_due;
use crate::domain::token_choice::Listed;
use crate::exchange::wire::market::TokenInfo;

/// After a failed read the board waits this long before another account tries.
const RETRY_AFTER_MS: i64 = 30_000;

#[derive(Clone, Default)]
pub struct TokenBoard {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    read_at_ms: Option<i64>,
    in_flight: bool,
    retry_at_ms: i64,
    mul_points: HashMap<String, Decimal>,
    listed: Arc<Vec<Listed>>,
    /// `token = "auto"` accounts: the token each was put on, and when.
    chosen: HashMap<i64, (String, i64)>,
}

impl TokenBoard {
    /// The multiplier of the token with this alpha id, as last read.
    pub fn mul_point(&self, alpha_id: &str) -> Option<Decimal> {
        self.lock().mul_points.get(alpha_id).copied()
    }

    /// Whether the caller should read the list now; when it answers true the read is the
    /// caller's, and it reports with [`TokenBoard::put`] or [`TokenBoard::failed`].
    pub fn claim(&self, now_ms: i64, every_ms: i64) -> bool {
        let mut b = self.lock();
        if b.in_flight || now_ms < b.retry_at_ms || !list_due(b.read_at_ms, now_ms, every_ms) {
            return false;
        }
        b.in_flight = true;
        true
    }

    pub fn put(&self, list: &[TokenInfo], now_ms: i64) {
        let mut b = self.lock();
        b.mul_points = list
            .iter()
            .map(|t| (t.alpha_id.clone(), t.mul_point))
            .collect();
        b.listed = Arc::new(list.iter().map(listed).collect());
        b.read_at_ms = Some(now_ms);
        b.in_flight = false;
    }

    pub fn failed(&self, now_ms: i64) {
        let mut b = self.lock();
        b.in_flight = false;
        b.retry_at_ms = now_ms + RETRY_AFTER_MS;
    }

    /// When the list was last read (a version: it changes with every read).
    pub fn read_at_ms(&self) -> Option<i64> {
        self.lock().read_at_ms
    }

    /// The list as last read (empty before the first read).
    pub fn listed(&self) -> Arc<Vec<Listed>> {
        self.lock().listed.clone()
    }

    /// The token an `auto` account was put on, and when (kept across its task's restarts).
    pub fn chosen(&self, account: i64) -> Option<(String, i64)> {
        self.lock().chosen.get(&account).cloned()
    }

    pub fn choose(&self, account: i64, alpha_id: &str, now_ms: i64) {
        self.lock()
            .chosen
            .insert(account, (alpha_id.to_owned(), now_ms));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn listed(t: &TokenInfo) -> Listed {
    Listed {
        symbol: t.symbol.clone(),
        chain_id: t.chain_id.clone(),
        alpha_id: t.alpha_id.clone(),
        tradable: t.is_tradable(),
        mul_point: t.mul_point,
        price: t.price,
        high_24h: t.price_high_24h,
        low_24h: t.price_low_24h,
        volume_24h: t.volume_24h,
    }
}
