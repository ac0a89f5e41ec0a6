//! The instance's leases, renewed together (B4): every account that holds its lease hands it
//! to the [`LeaseKeeper`], which renews all of them in one transaction every third of the
//! lease's TTL (`store::lease::renew_held`). An account reads its [`HeldLease`] before it
//! sends anything and is woken when the lease is lost, so ten thousand accounts cost one
//! statement every ten seconds instead of a thousand transactions a second.
//!
//! Claims are batched the same way: an account task asks the keeper's desk
//! ([`LeaseKeeper::ask`]) and waits; the desk claims every asked account the shares give this
//! instance in one transaction (`store::lease::claim_many`), answers the ones won, and asks
//! again for the rest every couple of seconds and whenever the shares change. An instance that
//! starts with ten thousand accounts, or takes over a dead one's thousand, claims them in a
//! few statements instead of queueing one transaction per account behind trading work.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use slog::warn;
use tokio::sync::{Notify, oneshot};
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

/// A lease the desk won for an account, and the instant past which it may have expired
/// unless renewed.
#[derive(Debug)]
pub struct Granted {
    pub lease: Lease,
    pub deadline: Instant,
}

/// The leases this instance holds, by account, and the accounts waiting to claim theirs.
#[derive(Debug, Default)]
pub struct LeaseKeeper {
    held: Mutex<HashMap<i64, Arc<HeldLease>>>,
    asked: Mutex<HashMap<i64, oneshot::Sender<Granted>>>,
    desk_bell: Notify,
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

    fn asked(&self) -> MutexGuard<'_, HashMap<i64, oneshot::Sender<Granted>>> {
        match self.asked.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Asks the desk to claim the account's lease; the answer comes once it is won (never,
    /// while another instance holds it). Dropping the receiver withdraws the request; a lease
    /// won for a request withdrawn meanwhile is released again.
    pub fn ask(&self, account_id: i64) -> oneshot::Receiver<Granted> {
        let (tx, rx) = oneshot::channel();
        self.asked().insert(account_id, tx);
        self.desk_bell.notify_one();
        rx
    }
}

/// How soon the desk asks again for accounts the shares give here but another instance
/// still holds (it releases them between pairs, or its leases run out).
const CLAIM_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Renews the instance's leases every third of their TTL and claims the asked ones, until
/// the runtime ends.
pub fn start(ctx: &Ctx) {
    let keeper = ctx.clone();
    actix_rt::spawn(async move {
        let every = keeper.timing.lease_ttl / 3;
        loop {
            tokio::time::sleep(every).await;
            renew(&keeper).await;
        }
    });
    let desk = ctx.clone();
    actix_rt::spawn(async move {
        let retry = CLAIM_RETRY.min(desk.timing.lease_ttl / 6);
        let mut shares_changed = desk.membership.subscribe();
        loop {
            tokio::select! {
                () = desk.leases.desk_bell.notified() => {}
                Ok(()) = shares_changed.changed() => {}
                () = tokio::time::sleep(retry) => {}
            }
            claim_asked(&desk).await;
        }
    });
}

/// One round of the desk: every asked account the shares give here, claimed together.
async fn claim_asked(ctx: &Ctx) {
    let ids: Vec<i64> = {
        let mut asked = ctx.leases.asked();
        asked.retain(|_, tx| !tx.is_closed());
        asked
            .keys()
            .copied()
            .filter(|id| ctx.membership.mine(*id, &ctx.owner))
            .collect()
    };
    if ids.is_empty() {
        return;
    }
    let started = Instant::now();
    let (owner, ttl) = (ctx.owner.clone(), ms(ctx.timing.lease_ttl));
    let won = match ctx
        .store
        .run(move |c| store::lease::claim_many(c, &ids, &owner, ttl))
        .await
    {
        Ok(won) => won,
        Err(e) => {
            warn!(ctx.log, "cannot claim leases"; fields::EVENT_ACTION => "lease-claim",
                fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
            return;
        }
    };
    let deadline = started + ctx.timing.lease_ttl - ctx.timing.lease_margin;
    let mut unwanted = Vec::new();
    {
        let mut asked = ctx.leases.asked();
        for lease in won {
            let sent = match asked.remove(&lease.account_id) {
                Some(tx) => tx.send(Granted { lease, deadline }).map_err(|g| g.lease),
                None => Err(lease),
            };
            if let Err(lease) = sent {
                unwanted.push(lease);
            }
        }
    }
    // Withdrawn while the claim ran (the task stopped): given back at once.
    for lease in unwanted {
        let _ = ctx
            .store
            .run(move |c| store::lease::release(c, &lease))
            .await;
    }
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
        Ok(renewal) => {
            let renewed: HashSet<(i64, i64)> = renewal.renewed.into_iter().collect();
            let busy: HashSet<(i64, i64)> = renewal.busy.into_iter().collect();
            let deadline = started + ctx.timing.lease_ttl - ctx.timing.lease_margin;
            for h in held {
                let key = (h.lease.account_id, h.lease.fencing_token);
                if renewed.contains(&key) {
                    h.renewed(deadline);
                } else if busy.contains(&key) && Instant::now() < h.kept().deadline {
                    // Held, not renewed this round: its deadline stands.
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
