//! The exchange's REST API over awc. Every answer goes through [`error::decode`], so each call
//! returns data or a typed [`ExchangeError`]; transport failures are split into "not sent"
//! (safe to retry) and "unknown" (the request may have been carried out).

use std::time::Duration;

use awc::error::SendRequestError;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Answer, ExchangeError, decode};
use super::session::Session;
use super::wire::account::{AlphaWallet, ListenKeyData, UserVolume, WalletAsset};
use super::wire::market::{AggTrade, ExchangeInfo, FullDepth, Ticker24, TokenInfo};
use super::wire::paths;
use super::wire::trading::{
    CancelRequest, HistoryOrder, HistoryPage, OpenOrder, OtoPlaceRequest, OtoPlaceResponse,
    PlaceOrderRequest, UserTrade,
};
use crate::market::Side;

/// Request headers never copied from the browser: the transport sets them, or the exchange
/// rejects them when they are stale.
const DROPPED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "cookie",
    "connection",
    "accept-encoding",
];
/// Largest answer body accepted (the token list is the big one).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The browser session a private call carries, its headers as they are sent.
struct SignedIn {
    headers: Vec<(String, SecretString)>,
    cookies: SecretString,
}

/// A client of one exchange base URL, with or without an account's session.
pub struct RestClient {
    base: String,
    http: awc::Client,
    session: Option<SignedIn>,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.base)
            .field("session", &self.session.is_some())
            .finish()
    }
}

/// Filters for `get-order-history-merge`.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub statuses: Vec<&'static str>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub base_asset: Option<String>,
    pub page: u32,
    pub rows: u32,
}

thread_local! {
    /// One connection pool per runtime thread and timeout: thousands of accounts share a few
    /// keep-alive connections (each request carries its own session) instead of holding one
    /// socket and its buffers each.
    static POOLS: std::cell::RefCell<Vec<(Duration, awc::Client)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Connections kept open to the exchange, per runtime thread.
const POOL_LIMIT: usize = 256;

fn shared_http(timeout: Duration) -> awc::Client {
    POOLS.with(|pools| {
        let mut pools = pools.borrow_mut();
        if let Some((_, c)) = pools.iter().find(|(t, _)| *t == timeout) {
            return c.clone();
        }
        // HTTP/1.1 only: the HTTP/2 client of awc's h2 0.3 has an advisory without a fix in
        // that line (RUSTSEC-2026-0258, a peer's empty DATA frames queued without bound), and
        // a pool of keep-alive connections serves the daemon as well.
        let connector = awc::Connector::new()
            .max_http_version(awc::http::Version::HTTP_11)
            .connector(NoDelay(
                actix_tls::connect::Connector::new(actix_tls::connect::Resolver::default())
                    .service(),
            ))
            .limit(POOL_LIMIT);
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(timeout)
            .disable_redirects()
            .finish();
        pools.push((timeout, client.clone()));
        client
    })
}

/// The TCP connector with Nagle's algorithm off. A request is written as its head and then its
/// body: with Nagle on, the body waits for the server's ACK of the head, which the server
/// delays (40 ms on Linux) because it waits for the body. That stall fell on one place request
/// in twenty or so.
#[derive(Clone)]
struct NoDelay<S>(S);

type TcpInfo = actix_tls::connect::ConnectInfo<awc::http::Uri>;
type TcpConn = actix_tls::connect::Connection<awc::http::Uri, actix_web::rt::net::TcpStream>;

impl<S> actix_service::Service<TcpInfo> for NoDelay<S>
where
    S: actix_service::Service<
            TcpInfo,
            Response = TcpConn,
            Error = actix_tls::connect::ConnectError,
        >,
    S::Future: 'static,
{
    type Response = TcpConn;
    type Error = actix_tls::connect::ConnectError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<TcpConn, Self::Error>>;

    fn poll_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&self, req: TcpInfo) -> Self::Future {
        let connecting = self.0.call(req);
        Box::pin(async move {
            let conn = connecting.await?;
            // A socket that refuses the option still works, only slower.
            let _ = conn.io_ref().set_nodelay(true);
            Ok(conn)
        })
    }
}

fn transport(e: SendRequestError) -> ExchangeError {
    match e {
        // Nothing reached the server: connection refused, DNS or TLS set-up failed.
        SendRequestError::Connect(c) => ExchangeError::NotSent(c.to_string()),
        SendRequestError::Url(u) => ExchangeError::NotSent(u.to_string()),
        SendRequestError::Timeout => ExchangeError::Unknown("no answer within the timeout".into()),
        other => ExchangeError::Unknown(other.to_string()),
    }
}

impl RestClient {
    /// A client for public market data.
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http: shared_http(timeout),
            session: None,
        }
    }

    /// The same client, signed in with an account's browser session.
    pub fn with_session(mut self, creds: &Session) -> Self {
        let headers = creds
            .headers
            .iter()
            .filter(|(name, _)| {
                let lower = name.to_ascii_lowercase();
                !lower.starts_with(':') && !DROPPED_HEADERS.contains(&lower.as_str())
            })
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect();
        self.session = Some(SignedIn {
            headers,
            cookies: creds.cookies.clone(),
        });
        self
    }

    fn request(
        &self,
        method: awc::http::Method,
        path: &str,
        private: bool,
    ) -> Result<awc::ClientRequest, ExchangeError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .insert_header(("clienttype", "web"))
            .insert_header(("accept", "application/json"));
        if private {
            let session = self.session.as_ref().ok_or(ExchangeError::SessionExpired)?;
            for (name, value) in &session.headers {
                req = req.insert_header((name.as_str(), value.expose_secret()));
            }
            req = req.insert_header(("cookie", session.cookies.expose_secret()));
        }
        Ok(req)
    }

    async fn finish<T: DeserializeOwned>(
        mut res: awc::ClientResponse<
            impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
            + Unpin,
        >,
    ) -> Result<Answer<T>, ExchangeError> {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res
            .body()
            .limit(MAX_BODY)
            .await
            .map_err(|e| ExchangeError::Unknown(format!("answer body: {e}")))?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        decode(status, &header, &body)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        private: bool,
    ) -> Result<Answer<T>, ExchangeError> {
        let mut req = self.request(awc::http::Method::GET, path, private)?;
        if !query.is_empty() {
            req = req
                .query(&query)
                .map_err(|e| ExchangeError::NotSent(e.to_string()))?;
        }
        let res = req.send().await.map_err(transport)?;
        Self::finish(res).await
    }

    async fn send_json<T: DeserializeOwned, B: Serialize>(
        &self,
        method: awc::http::Method,
        path: &str,
        query: &[(&str, String)],
        body: &B,
    ) -> Result<Answer<T>, ExchangeError> {
        let mut req = self.request(method, path, true)?;
        if !query.is_empty() {
            req = req
                .query(&query)
                .map_err(|e| ExchangeError::NotSent(e.to_string()))?;
        }
        let res = req.send_json(body).await.map_err(transport)?;
        Self::finish(res).await
    }

    async fn post<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Answer<T>, ExchangeError> {
        self.send_json(awc::http::Method::POST, path, &[], body)
            .await
    }

    // ----- public market data -----

    pub async fn token_list(&self) -> Result<Vec<TokenInfo>, ExchangeError> {
        Ok(self.get(paths::TOKEN_LIST, &[], false).await?.data)
    }

    pub async fn agg_ticker24(&self) -> Result<Vec<TokenInfo>, ExchangeError> {
        Ok(self
            .get(
                paths::AGG_TICKER24,
                &[("dataType", "aggregate".into())],
                false,
            )
            .await?
            .data)
    }

    pub async fn exchange_info(&self) -> Result<ExchangeInfo, ExchangeError> {
        Ok(self.get(paths::EXCHANGE_INFO, &[], false).await?.data)
    }

    pub async fn ticker(&self, symbol: &str) -> Result<Ticker24, ExchangeError> {
        Ok(self
            .get(paths::TICKER, &[("symbol", symbol.into())], false)
            .await?
            .data)
    }

    pub async fn agg_trades(
        &self,
        symbol: &str,
        limit: u32,
    ) -> Result<Vec<AggTrade>, ExchangeError> {
        Ok(self
            .get(
                paths::AGG_TRADES,
                &[("symbol", symbol.into()), ("limit", limit.to_string())],
                false,
            )
            .await?
            .data)
    }

    pub async fn full_depth(&self, symbol: &str) -> Result<FullDepth, ExchangeError> {
        Ok(self
            .get(
                paths::FULL_DEPTH,
                &[("symbol", symbol.into()), ("limit", "1000".into())],
                false,
            )
            .await?
            .data)
    }

    // ----- trading -----

    /// Places an OTO pair. An `Unknown` error means the pair may exist: look it up.
    pub async fn place_oto(
        &self,
        req: &OtoPlaceRequest,
    ) -> Result<OtoPlaceResponse, ExchangeError> {
        Ok(self.post(paths::PLACE_OTO, req).await?.data)
    }

    /// Places a plain limit order; returns its id.
    pub async fn place_order(&self, req: &PlaceOrderRequest) -> Result<String, ExchangeError> {
        Ok(self.post(paths::PLACE_ORDER, req).await?.data)
    }

    pub async fn cancel(&self, order_id: &str, symbol: &str) -> Result<(), ExchangeError> {
        let body = CancelRequest {
            order_id: order_id.into(),
            symbol: symbol.into(),
        };
        self.post::<Option<serde_json::Value>, _>(paths::CANCEL_ORDER, &body)
            .await
            .map(|_| ())
    }

    pub async fn cancel_all(&self) -> Result<(), ExchangeError> {
        self.post::<Option<serde_json::Value>, _>(paths::CANCEL_ALL, &serde_json::json!({}))
            .await
            .map(|_| ())
    }

    pub async fn open_orders(&self, side: Option<Side>) -> Result<Vec<OpenOrder>, ExchangeError> {
        let side = match side {
            None => String::new(),
            Some(Side::Buy) => "BUY".into(),
            Some(Side::Sell) => "SELL".into(),
        };
        Ok(self
            .get(paths::OPEN_ORDERS, &[("side", side)], true)
            .await?
            .data)
    }

    /// One page of order history, with the total row count when the exchange gives it.
    pub async fn order_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<(Vec<HistoryOrder>, Option<u64>), ExchangeError> {
        let mut query = vec![
            ("page", q.page.max(1).to_string()),
            ("rows", q.rows.clamp(1, 100).to_string()),
            ("kind", "LIMIT".into()),
        ];
        if !q.statuses.is_empty() {
            query.push(("orderStatus", q.statuses.join(",")));
        }
        if let Some(t) = q.start_ms {
            query.push(("startTime", t.to_string()));
        }
        if let Some(t) = q.end_ms {
            query.push(("endTime", t.to_string()));
        }
        if let Some(b) = &q.base_asset {
            query.push(("baseAsset", b.clone()));
        }
        let answer: Answer<HistoryPage> = self.get(paths::ORDER_HISTORY, &query, true).await?;
        let total = match &answer.data {
            HistoryPage::Wrapped { total, .. } => total.or(answer.total),
            HistoryPage::Rows(_) => answer.total,
        };
        Ok((answer.data.into_rows(), total))
    }

    pub async fn user_trades(
        &self,
        order_id: &str,
        symbol: &str,
    ) -> Result<Vec<UserTrade>, ExchangeError> {
        Ok(self
            .get(
                paths::USER_TRADES,
                &[("orderId", order_id.into()), ("symbol", symbol.into())],
                true,
            )
            .await?
            .data)
    }

    // ----- account -----

    pub async fn listen_key(&self) -> Result<String, ExchangeError> {
        let answer: Answer<ListenKeyData> =
            self.post(paths::LISTEN_KEY, &serde_json::json!({})).await?;
        Ok(answer.data.into_key())
    }

    /// Extends a listen key (the method is the simulator's and spot's; never captured live).
    pub async fn keep_alive(&self, listen_key: &str) -> Result<(), ExchangeError> {
        self.send_json::<Option<serde_json::Value>, _>(
            awc::http::Method::PUT,
            paths::LISTEN_KEY,
            &[("listenKey", listen_key.into())],
            &serde_json::json!({}),
        )
        .await
        .map(|_| ())
    }

    pub async fn user_volume(&self) -> Result<UserVolume, ExchangeError> {
        Ok(self.get(paths::USER_VOLUME, &[], true).await?.data)
    }

    pub async fn alpha_wallet(&self) -> Result<AlphaWallet, ExchangeError> {
        Ok(self
            .get(paths::ALPHA_WALLET, &[("includeCex", "1".into())], true)
            .await?
            .data)
    }

    pub async fn wallet_assets(&self) -> Result<Vec<WalletAsset>, ExchangeError> {
        let body =
            serde_json::json!({"includeWallets": ["CARD", "MAIN", "SAVING"], "includeEq": true});
        Ok(self.post(paths::WALLET_ASSET, &body).await?.data)
    }

    /// A cheap call that fails with `SessionExpired` when the session is gone; answers the
    /// user's base information.
    pub async fn probe_session(&self) -> Result<serde_json::Value, ExchangeError> {
        Ok(self
            .get::<serde_json::Value>(paths::USER_BASE_INFO, &[], true)
            .await?
            .data)
    }
}
