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

use diesel::prelude::*;
use rust_decimal::Decimal;

use super::models::{OrderStatus, Side};
use super::schema::{leases::dsl as l, orders::dsl as o};
use super::{Dialect, StoreError};
use crate::domain::crossing::{Footprint, may_place};

/// Statuses of an order that may rest on the exchange, or soon will.
const OPEN: [OrderStatus; 5] = [
    OrderStatus::Intent,
    OrderStatus::Unknown,
    OrderStatus::New,
    OrderStatus::Pending,
    OrderStatus::PartiallyFilled,
];

/// Checks a new footprint against other instances' accounts, inside the caller's transaction.
pub trait CrossCheck {
    /// `Err(StoreError::Crossed)` when `ours` would cross an open order on `symbol` of an
    /// account that `owner` does not hold (or, on PostgreSQL, when another transaction holds
    /// the token's lock: the caller tries again a moment later).
    fn cross_check(&mut self, owner: &str, symbol: &str, ours: Footprint)
    -> Result<(), StoreError>;
}

macro_rules! impl_cross_check {
    ($conn:ty, $lock:expr) => {
        impl CrossCheck for $conn {
            fn cross_check(
                &mut self,
                owner: &str,
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
                    .filter(o::status.eq_any(OPEN))
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
                if may_place(ours, footprints) {
                    Ok(())
                } else {
                    Err(StoreError::Crossed)
                }
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
