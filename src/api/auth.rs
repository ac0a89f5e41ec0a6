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

/// Proof that the request carried an accepted bearer token; take it as a handler argument.
pub struct Authorized;

impl actix_web::FromRequest for Authorized {
    type Error = super::error::ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let accepted = req
            .app_data::<actix_web::web::Data<super::ApiState>>()
            .zip(req.headers().get(actix_web::http::header::AUTHORIZATION))
            .and_then(|(state, value)| {
                let token = value.to_str().ok()?.strip_prefix("Bearer ")?.trim();
                let presented = hash(token).ok()?;
                // Every configured hash is compared, each in constant time.
                let mut ok = false;
                for h in &state.token_hashes {
                    ok |= orion::util::secure_cmp(h.as_bytes(), presented.as_bytes()).is_ok();
                }
                ok.then_some(Authorized)
            });
        std::future::ready(accepted.ok_or(super::error::ApiError::Unauthorized))
    }
}
