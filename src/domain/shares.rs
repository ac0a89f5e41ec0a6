//! Which instance holds which account, when several share one database (B4): each live
//! instance gets a fair share of the accounts (by count, or weighted by its capacity), exact to
//! one account, and an account stays where it is unless its holder is gone or over its share.
//! Every instance computes the same answer from the same facts (the live instances, the
//! accounts and who holds each), so none has to ask another; the lease stays the guard while
//! their views of the facts differ for a moment.
//!
//! What the answer moves changes hands only at rest (`AccountCore`'s hand-over): the holder
//! finishes the live pair, releases the lease, and the new owner claims it and reconciles.

use std::collections::HashMap;

/// A live instance: its name in leases and its weight (1 for a share by count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    pub capacity: u32,
}

/// An account, and the instance holding its lease now, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub account_id: i64,
    pub holder: Option<String>,
}

/// The answer: each account's instance, by index into the peers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shares {
    pub peers: Vec<Peer>,
    owner: HashMap<i64, usize>,
}

impl Shares {
    /// The instance the account belongs to, if any instance is live.
    pub fn owner_of(&self, account_id: i64) -> Option<&str> {
        self.owner
            .get(&account_id)
            .and_then(|i| self.peers.get(*i))
            .map(|p| p.id.as_str())
    }

    /// The instance an account the shares do not know yet (created since they were computed)
    /// goes to for now: one drawn from the account's id, weighted by capacity, the same on
    /// every instance. A burst of new accounts then spreads over the instances at once
    /// instead of landing on whichever claims first and being handed over later.
    pub fn guess(&self, account_id: i64) -> Option<&str> {
        let total: u64 = self
            .peers
            .iter()
            .map(|p| u64::from(p.capacity.max(1)))
            .sum();
        if total == 0 {
            return None;
        }
        let mut slot = mix(account_id as u64) % total;
        self.peers
            .iter()
            .find(|p| {
                let c = u64::from(p.capacity.max(1));
                if slot < c {
                    true
                } else {
                    slot -= c;
                    false
                }
            })
            .map(|p| p.id.as_str())
    }

    /// The accounts given to the instance `id`.
    pub fn owned_by(&self, id: &str) -> Vec<i64> {
        let Some(i) = self.peers.iter().position(|p| p.id == id) else {
            return Vec::new();
        };
        self.owner
            .iter()
            .filter(|(_, o)| **o == i)
            .map(|(a, _)| *a)
            .collect()
    }

    /// How many accounts each instance is given, in the order of `peers`.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.peers.len()];
        for i in self.owner.values() {
            if let Some(c) = counts.get_mut(*i) {
                *c += 1;
            }
        }
        counts
    }
}

/// Each peer's share of `n` accounts: proportional to its capacity, the remainder given to
/// the largest fractions (then to the first by id), so the shares sum to `n` exactly.
pub fn quotas(peers: &[Peer], n: usize) -> Vec<usize> {
    let total: u128 = peers.iter().map(|p| u128::from(p.capacity.max(1))).sum();
    if total == 0 {
        return Vec::new();
    }
    let n128 = n as u128;
    let mut q: Vec<usize> = Vec::with_capacity(peers.len());
    let mut rest: Vec<(u128, usize)> = Vec::with_capacity(peers.len());
    for (i, p) in peers.iter().enumerate() {
        let share = n128 * u128::from(p.capacity.max(1));
        q.push(usize::try_from(share / total).unwrap_or(usize::MAX));
        rest.push((share % total, i));
    }
    let given: usize = q.iter().sum();
    // Largest remainder first; equal remainders by the peers' order (sorted by id).
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rest.into_iter().take(n.saturating_sub(given)) {
        q[i] += 1;
    }
    q
}

/// Assigns every account to one peer. Pass one keeps each account with its holder while the
/// holder is live and under its share (accounts in id order); pass two gives the others to
/// the peer that ranks highest for them (rendezvous hashing) among those with room, so a
/// change of peers moves few accounts and every instance picks the same ones.
pub fn assign(peers: &[Peer], accounts: &[Held]) -> Shares {
    let mut peers: Vec<Peer> = peers.to_vec();
    peers.sort_by(|a, b| a.id.cmp(&b.id));
    peers.dedup_by(|a, b| a.id == b.id);
    let mut accounts: Vec<&Held> = accounts.iter().collect();
    accounts.sort_by_key(|a| a.account_id);
    accounts.dedup_by_key(|a| a.account_id);
    let mut room = quotas(&peers, accounts.len());
    let mut owner = HashMap::with_capacity(accounts.len());
    if peers.is_empty() {
        return Shares { peers, owner };
    }
    let index: HashMap<&str, usize> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let mut homeless = Vec::new();
    for a in &accounts {
        match a.holder.as_deref().and_then(|h| index.get(h).copied()) {
            Some(i) if room[i] > 0 => {
                room[i] -= 1;
                owner.insert(a.account_id, i);
            }
            _ => homeless.push(a.account_id),
        }
    }
    let seeds: Vec<u64> = peers.iter().map(|p| hash_text(&p.id)).collect();
    for id in homeless {
        let best = (0..peers.len())
            .filter(|i| room[*i] > 0)
            .max_by_key(|i| (mix(seeds[*i] ^ (id as u64)), std::cmp::Reverse(*i)));
        if let Some(i) = best {
            room[i] -= 1;
            owner.insert(id, i);
        }
    }
    Shares { peers, owner }
}

/// FNV-1a: a stable hash of an instance's name (the same on every instance and release).
fn hash_text(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64's finaliser: spreads the bits of (instance, account) over the ranking.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peers(names: &[&str]) -> Vec<Peer> {
        names
            .iter()
            .map(|n| Peer {
                id: (*n).to_owned(),
                capacity: 1,
            })
            .collect()
    }

    fn unheld(n: i64) -> Vec<Held> {
        (1..=n)
            .map(|account_id| Held {
                account_id,
                holder: None,
            })
            .collect()
    }

    /// The accounts as held after `shares` was carried out.
    fn held_by(shares: &Shares, n: i64) -> Vec<Held> {
        (1..=n)
            .map(|account_id| Held {
                account_id,
                holder: shares.owner_of(account_id).map(str::to_owned),
            })
            .collect()
    }

    #[test]
    fn three_instances_hold_a_third_each_and_the_survivors_half_after_one_dies() {
        let three = assign(&peers(&["a", "b", "c"]), &unheld(3_000));
        assert_eq!(three.counts(), vec![1_000, 1_000, 1_000]);
        let after = held_by(&three, 3_000);
        let two = assign(&peers(&["a", "c"]), &after);
        assert_eq!(two.counts(), vec![1_500, 1_500]);
        // What a and c held stays put: only b's accounts move.
        for h in &after {
            if h.holder.as_deref() != Some("b") {
                assert_eq!(two.owner_of(h.account_id), h.holder.as_deref());
            }
        }
        // The dead one comes back and a fourth joins: 750 each, and only what the others
        // hold over 750 moves to them.
        let four = assign(&peers(&["a", "b", "c", "d"]), &held_by(&two, 3_000));
        assert_eq!(four.counts(), vec![750; 4]);
        let moved = (1..=3_000)
            .filter(|id| two.owner_of(*id) != four.owner_of(*id))
            .count();
        assert_eq!(moved, 1_500, "exactly the new instances' shares move");
    }

    #[test]
    fn shares_follow_capacity_and_sum_to_the_accounts() {
        let mut p = peers(&["big", "small"]);
        p[0].capacity = 3;
        assert_eq!(quotas(&p, 1_000), vec![750, 250]);
        assert_eq!(quotas(&peers(&["a", "b", "c"]), 10), vec![4, 3, 3]);
        assert_eq!(quotas(&[], 10), Vec::<usize>::new());
        assert!(assign(&[], &unheld(5)).owner_of(1).is_none());
    }

    proptest! {
        #[test]
        fn every_account_has_one_live_owner_within_one_of_its_share(
            names in proptest::collection::btree_set("[a-e]{1,2}", 1..6),
            caps in proptest::collection::vec(1u32..5, 6),
            holders in proptest::collection::vec(proptest::option::of("[a-f]{1,2}"), 0..300),
        ) {
            let peers: Vec<Peer> = names.iter().zip(&caps).map(|(n, c)| Peer { id: n.clone(), capacity: *c }).collect();
            let accounts: Vec<Held> = holders.iter().enumerate()
                .map(|(i, h)| Held { account_id: i as i64, holder: h.clone() })
                .collect();
            let shares = assign(&peers, &accounts);
            let want = quotas(&shares.peers, accounts.len());
            prop_assert_eq!(shares.counts(), want);
            for a in &accounts {
                let o = shares.owner_of(a.account_id);
                prop_assert!(o.is_some_and(|o| names.contains(o)));
            }
            // The same facts in another order give the same answer.
            let mut reversed = accounts.clone();
            reversed.reverse();
            let mut shuffled_peers = peers.clone();
            shuffled_peers.reverse();
            prop_assert_eq!(assign(&shuffled_peers, &reversed), shares);
        }
    }

    #[test]
    fn a_new_account_is_guessed_to_one_instance_by_weight_the_same_everywhere() {
        let weighted = |id: &str, capacity| Peer {
            id: id.to_owned(),
            capacity,
        };
        let shares = assign(&[weighted("a", 1), weighted("b", 3)], &[]);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in 0..4000 {
            let g = shares.guess(id).unwrap();
            assert_eq!(shares.guess(id), Some(g), "stable");
            *counts.entry(g).or_default() += 1;
        }
        let (a, b) = (counts["a"], counts["b"]);
        assert!(
            (800..1200).contains(&a) && (2800..3200).contains(&b),
            "{counts:?}"
        );
        assert_eq!(Shares::default().guess(1), None, "no live instance");
    }
}
