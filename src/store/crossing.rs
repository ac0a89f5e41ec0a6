//! No trade between two managed accounts held by different instances. Within one instance the
//! accounts' footprints are shared in memory (`actors::crossing`); across instances on one
//! database the store is what they share. Inside the transaction that stores a pair's intent
//! (or a leftover sale), while any other instance holds a live lease, the open orders on the
//! token of every account this instance does not hold are read and the new footprint is
//! checked against them (`domain::crossing::may_place`). On PostgreSQL the check and the write
//! hold a lock on the token until the transaction ends, so two instances never both pass the
//! check with crossing orders; SQLite's write lock does that already. When no other instance
//! holds a lease nothing is read: an instance that joins claims its accounts and reconciles
//! before its first pair, long after the pair a lone instance stored meanwhile committed.
//!
//! An account held back by another instance's order leaves a wish (`wish`), as accounts held
//! back within an instance do in memory: once it is `WISH_PRIORITY_MS` old, the other
//! instances' intents that cross it wait (unless theirs waited longer still), so the account
//! gets its turn instead of waiting for good behind a stream of the other instance's pairs.

use diesel::prelude::*;
use rust_decimal::Decimal;

use super::models::StoredStatus;
use super::schema::{crossing_wishes::dsl as w, leases::dsl as l, orders::dsl as o};
use super::{Conn, Dialect, StoreError};
use crate::domain::crossing::{Footprint, WISH_KEPT_MS, WISH_PRIORITY_MS, may_place};
use crate::market::Side;
use crate::with_conn;

/// Checks a new footprint against other instances' accounts, inside the caller's transaction.
pub trait CrossCheck {
    /// `Err(StoreError::Crossed)` when `ours` (for `account`) would cross an open order on
    /// `symbol` of an account that `owner` does not hold, or another instance's account's
    /// wish old enough to have its turn (or, on PostgreSQL, when another transaction holds
    /// the token's lock: the caller tries again a moment later). Passing, the account's own
    /// wish is granted (deleted).
    fn cross_check(
        &mut self,
        owner: &str,
        account: i64,
        symbol: &str,
        ours: Footprint,
    ) -> Result<(), StoreError>;
}

macro_rules! impl_cross_check {
    ($conn:ty, $lock:expr) => {
        impl CrossCheck for $conn {
            fn cross_check(
                &mut self,
                owner: &str,
                account: i64,
                symbol: &str,
                ours: Footprint,
            ) -> Result<(), StoreError> {
                let now = self.now_ms()?;
                // Two ranges of the (owner, expiry) index rather than `owner <> me`, which
                // would read every lease: a lone instance pays a lookup, not a scan.
                let other = l::leases
                    .filter(l::owner.lt(owner).or(l::owner.gt(owner)))
                    .filter(l::expires_at_ms.gt(now))
                    .select(l::account_id)
                    .first::<i64>(self)
                    .optional()?;
                if other.is_none() {
                    return Ok(());
                }
                let lock: fn(&mut Self, &str) -> Result<bool, diesel::result::Error> = $lock;
                if !lock(self, symbol)? {
                    return Err(StoreError::Crossed);
                }
                let mine = l::leases.filter(l::owner.eq(owner)).select(l::account_id);
                let theirs: Vec<(Side, String)> = o::orders
                    .filter(o::order_symbol.eq(symbol))
                    .filter(o::status.eq_any(StoredStatus::OPEN))
                    .filter(diesel::dsl::not(o::account_id.eq_any(mine)))
                    .select((o::side, o::price))
                    .load(self)?;
                let footprints = theirs.into_iter().filter_map(|(side, price)| {
                    let price = price.parse::<Decimal>().ok()?;
                    Some(match side {
                        Side::Buy => Footprint {
                            buy: Some(price),
                            sell: None,
                        },
                        Side::Sell => Footprint::sale(price),
                    })
                });
                if !may_place(ours, footprints) {
                    return Err(StoreError::Crossed);
                }
                // Only wishes older than this account's own, if it waits too: of two accounts
                // held back by each other, the one that waited longer goes first.
                let own: Option<i64> = w::crossing_wishes
                    .find(account)
                    .filter(w::seen_ms.gt(now - WISH_KEPT_MS))
                    .select(w::since_ms)
                    .first(self)
                    .optional()?;
                let older_than = own.unwrap_or(i64::MAX).min(now - WISH_PRIORITY_MS + 1);
                let wishes: Vec<(Option<String>, Option<String>)> = w::crossing_wishes
                    .filter(w::order_symbol.eq(symbol))
                    .filter(w::owner.ne(owner))
                    .filter(w::seen_ms.gt(now - WISH_KEPT_MS))
                    .filter(w::since_ms.lt(older_than))
                    .select((w::buy_price, w::sell_price))
                    .load(self)?;
                let price = |p: Option<String>| p.and_then(|p| p.parse::<Decimal>().ok());
                let wished = wishes.into_iter().map(|(buy, sell)| Footprint {
                    buy: price(buy),
                    sell: price(sell),
                });
                if !may_place(ours, wished) {
                    return Err(StoreError::Crossed);
                }
                diesel::delete(w::crossing_wishes.find(account)).execute(self)?;
                Ok(())
            }
        }
    };
}

// SQLite: the transaction holds the file's one write lock already.
impl_cross_check!(diesel::SqliteConnection, |_, _| Ok(true));

// PostgreSQL: a lock on the token until the transaction ends, never waited for (two batches
// taking two tokens' locks in opposite orders would deadlock).
impl_cross_check!(diesel::PgConnection, |c, symbol| {
    #[derive(QueryableByName)]
    struct Got {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        got: bool,
    }
    let got: Got = diesel::sql_query("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS got")
        .bind::<diesel::sql_types::Text, _>(format!("alpha-oto crossing {symbol}"))
        .get_result(c)?;
    Ok(got.got)
});

/// Records (or renews) `account`'s wish for its turn with `footprint` on `symbol`: it keeps its
/// age while renewed within `WISH_KEPT_MS`, and starts again after a longer silence.
pub fn wish(
    conn: &mut Conn,
    owner: &str,
    account: i64,
    symbol: &str,
    footprint: Footprint,
) -> Result<(), StoreError> {
    let text = |p: Option<Decimal>| p.map(|p| p.to_string());
    with_conn!(conn, |c| c.write_tx(|c| {
        let now = c.now_ms()?;
        let kept: Option<i64> = w::crossing_wishes
            .find(account)
            .filter(w::order_symbol.eq(symbol))
            .filter(w::seen_ms.gt(now - WISH_KEPT_MS))
            .select(w::since_ms)
            .first(c)
            .optional()?;
        let row = (
            w::account_id.eq(account),
            w::owner.eq(owner),
            w::order_symbol.eq(symbol),
            w::buy_price.eq(text(footprint.buy)),
            w::sell_price.eq(text(footprint.sell)),
            w::since_ms.eq(kept.unwrap_or(now)),
            w::seen_ms.eq(now),
        );
        diesel::delete(w::crossing_wishes.find(account)).execute(c)?;
        diesel::insert_into(w::crossing_wishes)
            .values(row)
            .execute(c)?;
        Ok::<_, StoreError>(())
    }))
}
