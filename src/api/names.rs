//! What a name of an account or a profile may be: checked before it reaches a query, so no
//! text (a NUL, 10,000 characters) ever becomes a database error.

use super::error::ApiError;

/// Names: 1 to 64 of `A-Z a-z 0-9 _ - .`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::InvalidName(
            "use 1 to 64 of A-Z a-z 0-9 _ - . starting with a letter or digit".into(),
        ))
    }
}
