//! Why an account does not start new pairs: the one list the core, the API, the logs and the
//! metrics share.

/// Why an account does not start new pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PauseReason {
    Operator,
    StreamLost,
    SessionExpired,
    TwoFactor,
    FaceCheck,
    InsufficientBalance,
    Volatility,
    RateLimited,
    UnknownToken,
    Precision,
    OrderRejected,
    CostBudget,
    /// The token's price is missing or stale.
    PriceFeed,
    /// A lost place request matched several orders: a person must look.
    Ambiguous,
}

impl PauseReason {
    /// Every reason, for listings that must show each one (metrics start at 0 for each).
    pub const ALL: [PauseReason; 14] = [
        PauseReason::Operator,
        PauseReason::StreamLost,
        PauseReason::SessionExpired,
        PauseReason::TwoFactor,
        PauseReason::FaceCheck,
        PauseReason::InsufficientBalance,
        PauseReason::Volatility,
        PauseReason::RateLimited,
        PauseReason::UnknownToken,
        PauseReason::Precision,
        PauseReason::OrderRejected,
        PauseReason::CostBudget,
        PauseReason::PriceFeed,
        PauseReason::Ambiguous,
    ];

    /// The stable code the API and the logs show.
    pub fn code(&self) -> &'static str {
        match self {
            PauseReason::Operator => "operator",
            PauseReason::StreamLost => "stream_lost",
            PauseReason::SessionExpired => "session_expired",
            PauseReason::TwoFactor => "two_factor",
            PauseReason::FaceCheck => "face_check",
            PauseReason::InsufficientBalance => "insufficient_balance",
            PauseReason::Volatility => "volatility",
            PauseReason::RateLimited => "rate_limited",
            PauseReason::UnknownToken => "unknown_token",
            PauseReason::Precision => "precision",
            PauseReason::OrderRejected => "order_rejected",
            PauseReason::CostBudget => "cost_budget",
            PauseReason::PriceFeed => "price_feed_lost",
            PauseReason::Ambiguous => "ambiguous_order",
        }
    }
}
