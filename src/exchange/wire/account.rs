//! Private account data: today's volume, the Alpha wallet, the listen key.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::num;

/// `today/user-volume`. Volumes come as JSON floats; they are read through their shortest
/// round-trip text, so 197.4356684052 stays that, not a binary approximation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserVolume {
    #[serde(with = "num::dec_number")]
    pub total_volume: Decimal,
    #[serde(default)]
    pub trade_volume_info_list: Vec<TokenVolume>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenVolume {
    #[serde(default)]
    pub icon: Option<String>,
    pub token_name: String,
    #[serde(with = "num::dec_number")]
    pub volume: Decimal,
}

/// `cloud-wallet/alpha`: the Alpha tokens held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlphaWallet {
    #[serde(default, with = "num::dec_plain")]
    pub total_valuation: Decimal,
    #[serde(default)]
    pub list: Vec<WalletToken>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletToken {
    #[serde(default, with = "num::opt_id_text")]
    pub chain_id: Option<String>,
    #[serde(default)]
    pub contract_address: Option<String>,
    /// Whether the token is also a main-exchange asset (captured `false` for Alpha tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cex_asset: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    pub symbol: String,
    /// The alphaId (`ALPHA_118`), or a main-exchange asset name such as `USDT`.
    pub token_id: String,
    #[serde(with = "num::dec_plain")]
    pub free: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub freeze: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub locked: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub withdrawing: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub amount: Decimal,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "num::opt_dec"
    )]
    pub valuation: Option<Decimal>,
}

/// The `data` of `get-listen-key`: captured as a plain string; one bot documents an object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ListenKeyData {
    Plain(String),
    Object {
        #[serde(rename = "listenKey")]
        listen_key: String,
    },
}

impl ListenKeyData {
    pub fn into_key(self) -> String {
        match self {
            ListenKeyData::Plain(k) | ListenKeyData::Object { listen_key: k } => k,
        }
    }
}

/// One asset of `get-wallet-asset` (the USDT that pays for buys is here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletAsset {
    pub asset: String,
    #[serde(default)]
    pub coin_business_type: Option<String>,
    #[serde(default)]
    pub spot: WalletSlot,
    #[serde(default)]
    pub funding: WalletSlot,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WalletSlot {
    #[serde(default, with = "num::dec_plain")]
    pub free: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub locked: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub freeze: Decimal,
    #[serde(default, with = "num::dec_plain")]
    pub withdrawing: Decimal,
}
