//! The instance's leases, renewed together (B4): every account that holds its lease hands it
//! to the [`LeaseKeeper`], which renews all of them in one transaction every third of the
//! lease's TTL (`store::lease::renew_held`). An account reads its [`HeldLease`] before it
//! sends anything and is woken when the lease is lost, so ten thousand accounts cost one
//! statement every ten seconds instead of a thousand transactions a second.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use slog::warn;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Ctx;
use crate::meters;
use crate::store::{self, lease::Lease};
use crate::telemetry::fields;

/// One account's lease as the keeper keeps it.
#[derive(Debug)]
pub struct HeldLease {
    pub lease: Lease,
    state: Mutex<Kept>,
    /// Rung once the lease is lost.
    pub lost_bell: Notify,
}

#[derive(Debug, Clone, Copy)]
struct Kept {
    /// Past this instant the lease may have expired: nothing more is sent.
    deadline: Instant,
    lost: bool,
}

impl HeldLease {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether the account may send to the exchange now: the lease is held and its last
    /// renewal is recent enough that it cannot have expired.
    pub fn may_send(&self) -> bool {
        let k = *self.kept();
        !k.lost && Instant::now() < k.deadline
    }

    /// The lease was taken over, expired, or could not be renewed before its deadline.
    pub fn is_lost(&self) -> bool {
        self.kept().lost
    }

    fn renewed(&self, deadline: Instant) {
        let mut k = self.kept();
        if !k.lost {
            k.deadline = deadline;
        }
    }

    fn lose(&self) {
        let mut k = self.kept();
        if !k.lost {
            k.lost = true;
            drop(k);
            self.lost_bell.notify_one();
        }
    }
}

/// The leases this instance holds, by account.
#[derive(Debug, Default)]
pub struct LeaseKeeper {
    held: Mutex<HashMap<i64, Arc<HeldLease>>>,
}

impl LeaseKeeper {
    fn map(&self) -> MutexGuard<'_, HashMap<i64, Arc<HeldLease>>> {
        match self.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Takes a lease just claimed (valid until `deadline`) into the keeper's care.
    pub fn keep(&self, lease: Lease, deadline: Instant) -> Arc<HeldLease> {
        let held = Arc::new(HeldLease {
            lease,
            state: Mutex::new(Kept {
                deadline,
                lost: false,
            }),
            lost_bell: Notify::new(),
        });
        self.map().insert(held.lease.account_id, held.clone());
        held
    }

    /// The account's task ends: its lease is no longer renewed (a newer claim of the same
    /// account is left alone).
    pub fn let_go(&self, held: &HeldLease) {
        let mut map = self.map();
        if map
            .get(&held.lease.account_id)
            .is_some_and(|h| h.lease.fencing_token == held.lease.fencing_token)
        {
            map.remove(&held.lease.account_id);
        }
    }

    /// The accounts whose leases are kept now.
    pub fn held_ids(&self) -> Vec<i64> {
        self.map().keys().copied().collect()
    }

    /// How many leases are kept now.
    pub fn count(&self) -> usize {
        self.map().len()
    }

    fn snapshot(&self) -> Vec<Arc<HeldLease>> {
        self.map().values().cloned().collect()
    }
}

/// Renews the instance's leases every third of their TTL, until the runtime ends.
pub fn start(ctx: &Ctx) {
    let ctx = ctx.clone();
    actix_rt::spawn(async move {
        let every = ctx.timing.lease_ttl / 3;
        loop {
            tokio::time::sleep(every).await;
            renew(&ctx).await;
        }
    });
}

async fn renew(ctx: &Ctx) {
    let held = ctx.leases.snapshot();
    if held.is_empty() {
        return;
    }
    let started = Instant::now();
    let (owner, ttl) = (ctx.owner.clone(), ms(ctx.timing.lease_ttl));
    let pairs: Vec<(i64, i64)> = held
        .iter()
        .map(|h| (h.lease.account_id, h.lease.fencing_token))
        .collect();
    match ctx
        .store
        .run(move |c| store::lease::renew_held(c, &owner, &pairs, ttl))
        .await
    {
        Ok(renewed) => {
            let renewed: HashSet<(i64, i64)> = renewed.into_iter().collect();
            let deadline = started + ctx.timing.lease_ttl - ctx.timing.lease_margin;
            for h in held {
                if renewed.contains(&(h.lease.account_id, h.lease.fencing_token)) {
                    h.renewed(deadline);
                } else {
                    metrics::counter!(meters::LEASE_EVENTS, "event" => "lost").increment(1);
                    h.lose();
                }
            }
        }
        Err(e) => {
            // The database is away: the leases stay held until their deadlines, past which
            // nothing is sent and the accounts start again (and claim again) once it is back.
            metrics::counter!(meters::LEASE_EVENTS, "event" => "renew_failed").increment(1);
            warn!(ctx.log, "cannot renew the leases"; fields::EVENT_ACTION => "lease-renew",
                fields::EVENT_OUTCOME => "failure", "trading.lease.count" => held.len(),
                "error.message" => e.to_string());
            let now = Instant::now();
            for h in held {
                if now >= h.kept().deadline {
                    h.lose();
                }
            }
        }
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
