//! REST paths and stream endpoints, one list for the client and the simulator.

pub const TOKEN_LIST: &str =
    "/bapi/defi/v1/public/wallet-direct/buw/wallet/cex/alpha/all/token/list";
pub const AGG_TICKER24: &str = "/bapi/defi/v1/public/alpha-trade/aggTicker24";
pub const TOKEN_FULL_INFO: &str =
    "/bapi/defi/v1/public/wallet-direct/buw/wallet/cex/alpha/token/full/info";
pub const EXCHANGE_INFO: &str = "/bapi/defi/v1/public/alpha-trade/get-exchange-info";
pub const TICKER: &str = "/bapi/defi/v1/public/alpha-trade/ticker";
pub const AGG_TRADES: &str = "/bapi/defi/v1/public/alpha-trade/agg-trades";
pub const FULL_DEPTH: &str = "/bapi/defi/v1/public/alpha-trade/fullDepth";
pub const FEE_RATE: &str = "/bapi/defi/v1/public/alpha-trade/get-fee-rate";

pub const PLACE_ORDER: &str = "/bapi/asset/v1/private/alpha-trade/order/place";
pub const PLACE_OTO: &str = "/bapi/asset/v1/private/alpha-trade/oto-order/place";
pub const CANCEL_ORDER: &str = "/bapi/defi/v1/private/alpha-trade/order/cancel";
pub const CANCEL_ALL: &str = "/bapi/defi/v1/private/alpha-trade/order/cancel-all";
pub const OPEN_ORDERS: &str = "/bapi/defi/v1/private/alpha-trade/order/get-open-order";
pub const ORDER_HISTORY: &str = "/bapi/defi/v1/private/alpha-trade/order/get-order-history-merge";
pub const USER_TRADES: &str = "/bapi/defi/v1/private/alpha-trade/order/get-user-trades";
pub const LISTEN_KEY: &str = "/bapi/defi/v1/private/alpha-trade/get-listen-key";
pub const WALLET_ASSET: &str = "/bapi/asset/v3/private/asset-service/asset/get-wallet-asset";
pub const USER_VOLUME: &str = "/bapi/defi/v1/private/wallet-direct/buw/wallet/today/user-volume";
pub const ALPHA_WALLET: &str = "/bapi/defi/v1/private/wallet-direct/cloud-wallet/alpha";
/// A cheap call that only checks that the session is valid.
pub const USER_BASE_INFO: &str = "/bapi/accounts/v1/private/account/get-user-base-info";

pub const PUBLIC_STREAM: &str = "/w3w/wsa/stream";
pub const PRIVATE_STREAM: &str = "/w3w/stream";
