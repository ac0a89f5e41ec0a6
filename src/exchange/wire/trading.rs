//! Private trading: placing, cancelling and querying orders.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::num;
use crate::market::{OrderStatus, Side};

/// How a payment is funded: `CARD` (USDT) for a buy, `ALPHA` (held tokens) for a sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WalletType {
    Card,
    Alpha,
}

/// One payment of an order. The browser sends a buy's amount (USDT, 8 dp) as a string and a
/// sell's amount (the base quantity) as a number; this type writes each the same way and
/// reads either.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentDetail {
    #[serde(with = "num::dec")]
    pub amount: Decimal,
    pub payment_wallet_type: WalletType,
}

impl Serialize for PaymentDetail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct AsNumber<'a>(&'a Decimal);
        impl Serialize for AsNumber<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                num::as_number(self.0, s)
            }
        }
        let mut st = s.serialize_struct("PaymentDetail", 2)?;
        match self.payment_wallet_type {
            WalletType::Card => st.serialize_field("amount", &self.amount.to_string())?,
            WalletType::Alpha => st.serialize_field("amount", &AsNumber(&self.amount))?,
        }
        st.serialize_field("paymentWalletType", &self.payment_wallet_type)?;
        st.end()
    }
}

/// `order/place`: a plain limit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrderRequest {
    pub base_asset: String,
    pub quote_asset: String,
    pub side: Side,
    #[serde(with = "num::dec_number")]
    pub price: Decimal,
    #[serde(with = "num::dec_number")]
    pub quantity: Decimal,
    pub payment_details: Vec<PaymentDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<String>,
}

/// `oto-order/place`: a BUY working leg and a SELL pending leg that the exchange activates
/// when the working leg fills. The pending side and quantity are not sent: the server derives
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtoPlaceRequest {
    pub base_asset: String,
    pub quote_asset: String,
    pub working_side: Side,
    #[serde(with = "num::dec_number")]
    pub working_price: Decimal,
    #[serde(with = "num::dec_number")]
    pub working_quantity: Decimal,
    pub payment_details: Vec<PaymentDetail>,
    #[serde(with = "num::dec_number")]
    pub pending_price: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_type: Option<String>,
}

/// The `data` of a successful OTO place: two consecutive order ids (numbers on the wire).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtoPlaceResponse {
    #[serde(with = "num::id_text")]
    pub working_order_id: String,
    #[serde(with = "num::id_text")]
    pub pending_order_id: String,
}

impl Serialize for OtoPlaceResponse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("OtoPlaceResponse", 2)?;
        // As captured: numbers. Ids that are not numeric stay strings.
        for (key, id) in [
            ("workingOrderId", &self.working_order_id),
            ("pendingOrderId", &self.pending_order_id),
        ] {
            match id.parse::<u64>() {
                Ok(n) => st.serialize_field(key, &n)?,
                Err(_) => st.serialize_field(key, id)?,
            }
        }
        st.end()
    }
}

/// `order/cancel`. Cancelling an OTO's working leg kills its pending leg too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    #[serde(with = "num::id_text")]
    pub order_id: String,
    pub symbol: String,
}

/// One row of `get-open-order`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenOrder {
    #[serde(with = "num::id_text")]
    pub order_id: String,
    pub symbol: String,
    pub side: Side,
    #[serde(rename = "type", default)]
    pub order_type: Option<String>,
    pub status: OrderStatus,
    #[serde(with = "num::dec_plain")]
    pub price: Decimal,
    #[serde(with = "num::dec_plain")]
    pub orig_qty: Decimal,
    #[serde(with = "num::dec_plain")]
    pub executed_qty: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub cum_quote: Decimal,
    pub time: i64,
    #[serde(default)]
    pub update_time: Option<i64>,
    #[serde(default)]
    pub base_asset: Option<String>,
    #[serde(default)]
    pub quote_asset: Option<String>,
    #[serde(default)]
    pub alpha_id: Option<String>,
    /// Not in the captured open-order rows; the simulator adds it so OTO legs stay linked.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "num::opt_id_text"
    )]
    pub order_list_id: Option<String>,
}

/// One row of `get-order-history-merge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryOrder {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(with = "num::id_text")]
    pub order_id: String,
    pub symbol: String,
    pub status: OrderStatus,
    #[serde(with = "num::dec_plain")]
    pub price: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub avg_price: Decimal,
    #[serde(with = "num::dec_plain")]
    pub orig_qty: Decimal,
    #[serde(with = "num::dec_plain")]
    pub executed_qty: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub cum_quote: Decimal,
    #[serde(rename = "type", default)]
    pub order_type: Option<String>,
    pub side: Side,
    #[serde(default, with = "num::opt_dec_plain")]
    pub stop_price: Option<Decimal>,
    #[serde(default)]
    pub time: Option<i64>,
    #[serde(default)]
    pub update_time: Option<i64>,
    /// `"-1"` for an order outside any OTO.
    #[serde(default, with = "num::opt_id_text")]
    pub order_list_id: Option<String>,
    #[serde(default)]
    pub base_asset: Option<String>,
    #[serde(default)]
    pub quote_asset: Option<String>,
    #[serde(default)]
    pub alpha_id: Option<String>,
    #[serde(default)]
    pub contingency_type: Option<String>,
    /// `OTO_WORKING` or `OTO_PENDING` for the legs of an OTO.
    #[serde(default)]
    pub contingency_order_position: Option<String>,
    #[serde(default)]
    pub working_time: Option<i64>,
    #[serde(default)]
    pub target_strategy: Option<String>,
}

impl HistoryOrder {
    /// The OTO list id, if the order belongs to one.
    pub fn oto_list_id(&self) -> Option<&str> {
        self.order_list_id.as_deref().filter(|id| *id != "-1")
    }
}

/// History rows: an array, or (as some answers are shaped) an object holding the rows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum HistoryPage {
    Rows(Vec<HistoryOrder>),
    Wrapped {
        #[serde(alias = "rows", alias = "data")]
        list: Vec<HistoryOrder>,
        #[serde(default)]
        total: Option<u64>,
    },
}

impl HistoryPage {
    pub fn into_rows(self) -> Vec<HistoryOrder> {
        match self {
            HistoryPage::Rows(rows) | HistoryPage::Wrapped { list: rows, .. } => rows,
        }
    }
}

/// One row of `get-user-trades`. Several rows of one order can share a `tradeId`; `pageId`
/// tells them apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTrade {
    pub symbol: String,
    #[serde(with = "num::id_text")]
    pub id: String,
    #[serde(with = "num::id_text")]
    pub order_id: String,
    #[serde(with = "num::id_text")]
    pub trade_id: String,
    pub side: Side,
    #[serde(with = "num::dec_plain")]
    pub price: Decimal,
    #[serde(with = "num::dec_string")]
    pub qty: Decimal,
    #[serde(with = "num::dec_string")]
    pub quote_qty: Decimal,
    #[serde(with = "num::dec_string")]
    pub commission: Decimal,
    pub commission_asset: String,
    pub time: i64,
    #[serde(default, with = "num::opt_id_text")]
    pub page_id: Option<String>,
    #[serde(default)]
    pub buyer: Option<bool>,
    #[serde(default)]
    pub base_asset: Option<String>,
    #[serde(default)]
    pub quote_asset: Option<String>,
    #[serde(default)]
    pub order_type: Option<String>,
    #[serde(default)]
    pub last_trade: Option<bool>,
}
