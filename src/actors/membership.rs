//! The instances on one database share the accounts out (B4): each writes a heartbeat every
//! sixth of a lease, reads who else is live and who holds what, and takes the shares from
//! `domain::shares` (the same answer on every instance). An account this instance holds that
//! now belongs to another is asked to hand over (`Command::HandOver`): its task releases the
//! lease between pairs, and the new owner's waiting task claims it and reconciles before it
//! trades. A task waits for its account while the shares give it to another instance.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use slog::{info, warn};
use tokio::sync::watch;

use super::Ctx;
use super::account::Command;
use super::supervisor::SupervisorHandle;
use crate::domain::shares::{self, Shares};
use crate::store::{self, StoreError};
use crate::telemetry::fields;

/// The instance's view of the shares; accounts read it before they claim.
#[derive(Debug)]
pub struct Membership {
    shares: Mutex<Option<Arc<Shares>>>,
    changed: watch::Sender<u64>,
}

impl Default for Membership {
    fn default() -> Self {
        Self {
            shares: Mutex::new(None),
            changed: watch::channel(0).0,
        }
    }
}

impl Membership {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<Shares>>> {
        match self.shares.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether `owner` (this instance) may claim the account: the shares give it to this
    /// instance, or they do not know it yet (an account created since the last look) and
    /// their guess does, or there was no look yet: then the lease alone decides, and the next
    /// look moves it if it must.
    pub fn mine(&self, account_id: i64, owner: &str) -> bool {
        match &*self.lock() {
            Some(s) => s
                .owner_of(account_id)
                .or_else(|| s.guess(account_id))
                .is_none_or(|o| o == owner),
            None => true,
        }
    }

    /// The shares as last computed.
    pub fn current(&self) -> Option<Arc<Shares>> {
        self.lock().clone()
    }

    /// Changes each time the shares do: waiting tasks look again at once.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn put(&self, shares: Shares) {
        let mut s = self.lock();
        if s.as_deref() != Some(&shares) {
            *s = Some(Arc::new(shares));
            drop(s);
            self.changed.send_modify(|v| *v += 1);
        }
    }
}

/// How often the heartbeat is written and the shares computed: a sixth of a lease, so a dead
/// instance's accounts are claimed soon after its leases expire.
pub fn period(ctx: &Ctx) -> Duration {
    ctx.timing.lease_ttl / 6
}

/// The first heartbeat and shares, before any account task claims.
pub async fn join(ctx: &Ctx) {
    if let Err(e) = refresh(ctx).await {
        warn!(ctx.log, "cannot write this instance's heartbeat"; fields::EVENT_ACTION => "membership",
            fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
    }
}

/// Keeps the heartbeat and the shares current, and asks the accounts this instance holds
/// but no longer owns to hand over, until the runtime ends.
pub fn start(ctx: &Ctx, sup: SupervisorHandle) {
    let ctx = ctx.clone();
    actix_rt::spawn(async move {
        let mut asked: HashSet<i64> = HashSet::new();
        let mut peers_seen: Vec<String> = Vec::new();
        loop {
            tokio::time::sleep(period(&ctx)).await;
            if sup.is_stopped() {
                // Stopped: it holds nothing, so its share goes to the others now.
                leave(&ctx).await;
                return;
            }
            match refresh(&ctx).await {
                Ok(shares) => {
                    hand_over(&ctx, &sup, &shares, &mut asked).await;
                    // Accounts started through another instance, or moved here, get a task.
                    let Ok(wanted) = ctx.store.run(store::instances::wanted).await else {
                        continue;
                    };
                    let mine: Vec<i64> = wanted
                        .into_iter()
                        .filter(|id| ctx.membership.mine(*id, &ctx.owner))
                        .collect();
                    let peers: Vec<String> = shares.peers.iter().map(|p| p.id.clone()).collect();
                    if peers != peers_seen {
                        info!(ctx.log, "instances on the database changed"; fields::EVENT_ACTION => "membership",
                            "trading.instances" => peers.join(","), "trading.instance.share" => mine.len());
                        peers_seen = peers;
                    }
                    let _ = sup.ensure(mine).await;
                }
                Err(e) => {
                    warn!(ctx.log, "cannot write this instance's heartbeat"; fields::EVENT_ACTION => "membership",
                        fields::EVENT_OUTCOME => "failure", "error.message" => e.to_string());
                }
            }
        }
    });
}

/// The instance stops cleanly: the others share its accounts out at their next look.
pub async fn leave(ctx: &Ctx) {
    let id = ctx.owner.clone();
    let _ = ctx
        .store
        .run(move |c| store::instances::leave(c, &id))
        .await;
}

async fn refresh(ctx: &Ctx) -> Result<Arc<Shares>, StoreError> {
    let (id, capacity) = (ctx.owner.clone(), ctx.capacity);
    let live_ms = i64::try_from(ctx.timing.lease_ttl.as_millis()).unwrap_or(i64::MAX);
    let (peers, held) = ctx
        .store
        .run(move |c| {
            let peers = store::instances::beat(c, &id, capacity, live_ms)?;
            // Alone on the database, every account is this instance's (`Shares::guess` has one
            // instance to give it to): who holds which is not read every few seconds.
            let held = if peers.len() > 1 {
                store::instances::holders(c)?
            } else {
                Vec::new()
            };
            Ok((peers, held))
        })
        .await?;
    ctx.membership.put(shares::assign(&peers, &held));
    Ok(ctx
        .membership
        .current()
        .unwrap_or_else(|| Arc::new(Shares::default())))
}

/// Each account held here that the shares give to another instance is asked, once, to hand
/// over between pairs; one given back before it went is told to stay.
async fn hand_over(ctx: &Ctx, sup: &SupervisorHandle, shares: &Shares, asked: &mut HashSet<i64>) {
    let held: HashSet<i64> = ctx.leases.held_ids().into_iter().collect();
    asked.retain(|id| held.contains(id));
    for id in held {
        let elsewhere = shares.owner_of(id).is_some_and(|o| o != ctx.owner);
        if elsewhere && asked.insert(id) {
            let _ = sup.command(id, Command::HandOver { on: true }).await;
        } else if !elsewhere && asked.remove(&id) {
            let _ = sup.command(id, Command::HandOver { on: false }).await;
        }
    }
}
