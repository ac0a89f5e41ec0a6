//! Token mappings (short symbol to alphaId) and trading precisions, as fetched from the
//! exchange. The cache in front of these decides freshness; this is the durable copy.

use diesel::prelude::*;

use super::models::{TokenMapping, TokenPrecision};
use super::schema::token_mappings::dsl as m;
use super::schema::token_precisions::dsl as p;
use super::{Conn, Dialect, StoreError};
use crate::with_conn;

pub fn upsert_mapping(conn: &mut Conn, row: &TokenMapping) -> Result<(), StoreError> {
    with_conn!(conn, |c| c.write_tx(|c| {
        diesel::insert_into(m::token_mappings)
            .values(row.clone())
            .on_conflict(m::alpha_id)
            .do_update()
            .set(row.clone())
            .execute(c)?;
        Ok::<_, StoreError>(())
    }))
}

/// Every token with this short symbol, on any chain (several chains can share one symbol).
pub fn mappings_by_symbol(conn: &mut Conn, symbol: &str) -> Result<Vec<TokenMapping>, StoreError> {
    Ok(with_conn!(conn, |c| m::token_mappings
        .filter(m::symbol.eq(symbol))
        .order(m::chain_id.asc())
        .load::<TokenMapping>(c))?)
}

pub fn mapping(conn: &mut Conn, alpha_id: &str) -> Result<Option<TokenMapping>, StoreError> {
    Ok(with_conn!(conn, |c| m::token_mappings
        .find(alpha_id)
        .first::<TokenMapping>(c)
        .optional())?)
}

pub fn upsert_precision(conn: &mut Conn, row: &TokenPrecision) -> Result<(), StoreError> {
    with_conn!(conn, |c| c.write_tx(|c| {
        diesel::insert_into(p::token_precisions)
            .values(row.clone())
            .on_conflict(p::order_symbol)
            .do_update()
            .set(row.clone())
            .execute(c)?;
        Ok::<_, StoreError>(())
    }))
}

pub fn precision(
    conn: &mut Conn,
    order_symbol: &str,
) -> Result<Option<TokenPrecision>, StoreError> {
    Ok(with_conn!(conn, |c| p::token_precisions
        .find(order_symbol)
        .first::<TokenPrecision>(c)
        .optional())?)
}
