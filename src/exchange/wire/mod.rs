//! The exchange's wire format (PROTOCOL.md sections 2, 5, 6 and 7): serde types shared by the
//! client and the simulator, tolerant where the real exchange is inconsistent. Unknown fields
//! are ignored everywhere; field names follow the captures.

pub mod account;
pub mod market;
pub mod num;
pub mod paths;
pub mod stream;
pub mod symbols;
pub mod trading;

use serde::{Deserialize, Serialize};

/// `code` of every successful answer.
pub const CODE_OK: &str = "000000";
/// Captured: the session (cookies) is no longer valid.
pub const CODE_SESSION_EXPIRED: &str = "100002001";
/// Captured message of [`CODE_SESSION_EXPIRED`] ("login status has expired, please log in again").
pub const MSG_SESSION_EXPIRED: &str = "登录状态已经失效，请重新登录！";
/// Seen in a bot on the 2FA verify call: face or phone verification is required.
pub const CODE_FACE_CHECK: &str = "100001003";
/// Seen in one bot's mock for a payment amount that is not price x quantity.
pub const CODE_AMOUNT_MISMATCH: &str = "000002";
/// Invented (never captured): too many requests. Spot's code for the same condition.
pub const CODE_RATE_LIMITED: &str = "-1003";
/// Invented (never captured): insufficient balance. Spot's code and message.
pub const CODE_INSUFFICIENT_BALANCE: &str = "-2010";
pub const MSG_INSUFFICIENT_BALANCE: &str = "Account has insufficient balance for requested action.";
/// Invented (never captured): a price or quantity off its grid, or an unknown symbol.
pub const CODE_INVALID_PARAMETER: &str = "-1013";
/// Invented (never captured): the order to cancel is not open.
pub const CODE_UNKNOWN_ORDER: &str = "-2011";

/// Response headers by which the exchange holds an order for a security (2FA) challenge.
pub const HEADER_RISK_BIZ_NO: &str = "risk_challenge_biz_no";
pub const HEADER_RISK_FLOW: &str = "risk_challenge_enable_flow";

/// The envelope of every REST answer. Business failures come with HTTP 200 and
/// `success: false`. Written as captured: a success carries every key (nulls included), a
/// failure only `code`, `message` and `success`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    #[serde(with = "num::id_text")]
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub message_detail: Option<String>,
    #[serde(default = "Option::default")]
    pub data: Option<T>,
    /// Paged answers (order history) carry the total row count beside `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    pub success: bool,
}

impl<T: Serialize> Serialize for Envelope<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("code", &self.code)?;
        m.serialize_entry("message", &self.message)?;
        if self.success || self.message_detail.is_some() {
            m.serialize_entry("messageDetail", &self.message_detail)?;
        }
        if self.success || self.data.is_some() {
            m.serialize_entry("data", &self.data)?;
        }
        if let Some(total) = self.total {
            m.serialize_entry("total", &total)?;
        }
        m.serialize_entry("success", &self.success)?;
        m.end()
    }
}

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Self {
            code: CODE_OK.into(),
            message: None,
            message_detail: None,
            data: Some(data),
            total: None,
            success: true,
        }
    }

    pub fn fail(code: &str, message: &str) -> Self {
        Self {
            code: code.into(),
            message: Some(message.into()),
            message_detail: None,
            data: None,
            total: None,
            success: false,
        }
    }
}
