//! Bearer tokens of the control API are configured as hashes, never in clear.

use orion::hazardous::hash::sha2::sha256::Sha256;

/// The `sha256:<hex>` form that `[api] token_hashes` holds.
pub fn hash(token: &str) -> Result<String, TokenError> {
    if token.len() < 16 {
        return Err(TokenError::TooShort);
    }
    let digest = Sha256::digest(token.as_bytes()).map_err(|_| TokenError::Hash)?;
    Ok(format!("sha256:{}", hex::encode(digest.as_ref())))
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token must have at least 16 characters")]
    TooShort,
    #[error("hashing failed")]
    Hash,
}
