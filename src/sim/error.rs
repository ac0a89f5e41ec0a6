//! The simulator's refusals, each with the code and message the real exchange gives where
//! they were captured, and documented inventions where they were not (see `sim/mod.rs`).

use crate::exchange::wire;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("session expired")]
    SessionExpired,
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("insufficient balance")]
    InsufficientBalance,
    #[error("unknown order")]
    UnknownOrder,
    #[error("not found: {0}")]
    NotFound(String),
}

impl SimError {
    pub fn invalid(message: impl Into<String>) -> Self {
        SimError::Invalid {
            code: wire::CODE_INVALID_PARAMETER,
            message: message.into(),
        }
    }

    /// The envelope's `code` and `message`.
    pub fn code_and_message(&self) -> (&'static str, String) {
        match self {
            SimError::SessionExpired => (
                wire::CODE_SESSION_EXPIRED,
                wire::MSG_SESSION_EXPIRED.to_owned(),
            ),
            SimError::Invalid { code, message } => (code, message.clone()),
            SimError::InsufficientBalance => (
                wire::CODE_INSUFFICIENT_BALANCE,
                wire::MSG_INSUFFICIENT_BALANCE.to_owned(),
            ),
            SimError::UnknownOrder => (wire::CODE_UNKNOWN_ORDER, "Unknown order sent.".to_owned()),
            SimError::NotFound(what) => {
                (wire::CODE_INVALID_PARAMETER, format!("Not found: {what}"))
            }
        }
    }
}

/// Captured message for a payment that is not price x quantity (OTO form).
pub const MSG_OTO_AMOUNT: &str =
    "workingPrice*workingQuantity must be the same as sum(paymentDetail.amount)";
/// Captured message for a payment that is not price x quantity (plain order form).
pub const MSG_LIMIT_AMOUNT: &str = "price*quantity must be the same as sum(paymentDetail.amount)";
/// Captured message for an amount off the 8-decimal grid.
pub const MSG_AMOUNT_GRID: &str =
    "Order amount must be an integer multiple of the minimum amount movement.";
