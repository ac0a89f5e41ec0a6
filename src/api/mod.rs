//! The control API. This part: how bearer tokens are hashed for `[api] token_hashes`.

pub mod auth;
