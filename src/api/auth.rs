//! Bearer tokens of the control API are configured as hashes, never in clear.

use orion::hazardous::hash::sha2::sha256::Sha256;

/// The `sha256:<hex>` form that `[api] token_hashes` holds.
pub fn hash(token: &str) -> Result<String, ApiTokenError> {
    if token.len() < 16 {
        return Err(ApiTokenError::TooShort);
    }
    let digest = Sha256::digest(token.as_bytes()).map_err(|_| ApiTokenError::Hash)?;
    Ok(format!("sha256:{}", hex::encode(digest.as_ref())))
}

/// A new bearer token: 32 random bytes from the system's generator, hex.
pub fn new_token() -> Result<String, ApiTokenError> {
    let mut bytes = [0u8; 32];
    orion::util::secure_rand_bytes(&mut bytes).map_err(|_| ApiTokenError::Random)?;
    Ok(hex::encode(bytes))
}

#[derive(Debug, thiserror::Error)]
pub enum ApiTokenError {
    #[error("a token must have at least 16 characters")]
    TooShort,
    #[error("hashing failed")]
    Hash,
    #[error("the system's random generator failed")]
    Random,
}

/// Proof that the request carried an accepted bearer token; take it as a handler argument.
/// A wrong token is logged with the client's address (never the token) and counted against
/// that address: past `limits::FAILURES_ALLOWED` within a minute it is refused unread.
pub struct Authorized;

impl actix_web::FromRequest for Authorized {
    type Error = super::error::ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(authorize(req))
    }
}

fn authorize(req: &actix_web::HttpRequest) -> Result<Authorized, super::error::ApiError> {
    use super::error::ApiError;
    use super::limits::Door;
    let state = req
        .app_data::<actix_web::web::Data<super::ApiState>>()
        .ok_or(ApiError::Unauthorized)?;
    let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized);
    };
    let ip = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let now = state.ctx.clock.now_ms();
    if let Door::Shut(ms) = state.limits.door(ip, now) {
        return Err(ApiError::RateLimited(ms));
    }
    let accepted = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| hash(t.trim()).ok())
        .is_some_and(|presented| {
            // Every configured hash is compared, each in constant time.
            let mut ok = false;
            for h in &state.token_hashes {
                ok |= orion::util::secure_cmp(h.as_bytes(), presented.as_bytes()).is_ok();
            }
            ok
        });
    if accepted {
        state.limits.succeeded(ip);
        return Ok(Authorized);
    }
    let count = state.limits.failed(ip, now);
    let log = &state.ctx.log;
    if count < super::limits::FAILURES_ALLOWED {
        slog::warn!(log, "authentication failed: a wrong bearer token";
            crate::telemetry::fields::EVENT_ACTION => "api-auth", crate::telemetry::fields::EVENT_OUTCOME => "failure",
            "source.ip" => ip.to_string(), "trading.auth.failures" => count, "url.path" => req.path().to_owned());
    } else if count == super::limits::FAILURES_ALLOWED {
        slog::error!(log, "authentication failed too often: the address is refused for a minute";
            crate::telemetry::fields::EVENT_ACTION => "api-auth", crate::telemetry::fields::EVENT_OUTCOME => "failure",
            "source.ip" => ip.to_string(), "trading.auth.failures" => count);
    }
    Err(ApiError::Unauthorized)
}
