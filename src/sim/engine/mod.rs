//! The matching engine: accounts, balances, orders (plain and OTO), fills, fees, volume, the
//! ledger and the invariant checks. Pure and deterministic: time comes in as `now_ms`, chance
//! from the seeded [`Rng`]; what the outside world must hear goes out as [`SimEvent`]s.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy::ToZero;
use serde::Serialize;

use super::error::{MSG_AMOUNT_GRID, MSG_LIMIT_AMOUNT, MSG_OTO_AMOUNT, SimError};
use super::frames::publish_lag_ms;
use super::rng::Rng;
use super::tokens::Candle;
use super::tokens::{Token, floor_to, on_grid, seeded};
use crate::exchange::wire;
use crate::exchange::wire::stream::{AggTradeEvent, ExecutionReport, ExecutionType};
use crate::exchange::wire::trading::{
    OtoPlaceRequest, OtoPlaceResponse, PlaceOrderRequest, WalletType,
};
use crate::market::{OrderStatus, Side};

mod auction;
mod matching;

pub const QUOTE: &str = "USDT";

/// Behaviour switches of the market.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// Commission per side: 0.0001 = 0.01 %, as measured on the real exchange.
    pub fee_rate: Decimal,
    /// A taker fill is split into 1..=max_pieces reports (pieces may share a trade id).
    pub max_pieces: u64,
    /// Whether today's volume is multiplied by the token's mulPoint (the protocol is unsure).
    pub volume_uses_mul_point: bool,
    pub fill: FillMode,
    pub matching: Matching,
}

/// How orders meet the market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillMode {
    /// A buy fills when the ask reaches it, a sell when the bid does (the random walk or a
    /// followed market moves them).
    Market,
    /// Every order fills at its own price as soon as it is live, the OTO pending leg after a
    /// hold drawn from [hold/2, 3 hold/2] ms (0: at once too). Benchmarks use it so a pair's
    /// pace does not depend on the walk.
    AtOnce { hold_ms: u64 },
}

/// When orders meet: as they arrive and as the market moves, or in periodic auctions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Matching {
    #[default]
    Continuous,
    /// Every `every_ms`, each token's orders match at one uniform price (see `auction`).
    Auction { every_ms: u64 },
}

impl std::fmt::Display for Matching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Continuous => f.write_str("continuous"),
            Self::Auction { every_ms } => write!(f, "auction:{every_ms}"),
        }
    }
}

impl std::str::FromStr for Matching {
    type Err = String;

    /// `continuous` or `auction:MS` (MS from 1 to 60,000).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "continuous" => Ok(Self::Continuous),
            Some(("auction", ms)) => match ms.parse::<u64>() {
                Ok(every_ms @ 1..=60_000) => Ok(Self::Auction { every_ms }),
                _ => Err(format!(
                    "auction interval {ms:?} is not a whole number of milliseconds from 1 to 60000"
                )),
            },
            _ => Err(format!(
                "matching {s:?} is neither \"continuous\" nor \"auction:MS\""
            )),
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            fee_rate: Decimal::new(1, 4),
            max_pieces: 3,
            volume_uses_mul_point: true,
            fill: FillMode::Market,
            matching: Matching::Continuous,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    #[serde(serialize_with = "wire::num::as_plain_string")]
    pub free: Decimal,
    #[serde(serialize_with = "wire::num::as_plain_string")]
    pub locked: Decimal,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub csrftoken: String,
    /// The value of the `p20t` cookie that authenticates the session.
    pub session: String,
    pub session_valid: bool,
    pub balances: BTreeMap<String, Balance>,
    pub stopped_at: Option<i64>,
    /// Thin liquidity for this account's buys: each fills to half its quantity, no further.
    pub half_fill_buys: bool,
    /// No bid for this account's sells: they rest unfilled (a sale left hanging).
    pub hold_sells: bool,
}

impl Account {
    fn balance(&mut self, asset: &str) -> &mut Balance {
        self.balances.entry(asset.to_owned()).or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Leg {
    #[serde(rename = "OTO_WORKING")]
    Working,
    #[serde(rename = "OTO_PENDING")]
    Pending,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: u64,
    pub account: u64,
    pub alpha_id: String,
    pub symbol: String,
    pub side: Side,
    #[serde(serialize_with = "wire::num::as_plain_string")]
    pub price: Decimal,
    #[serde(serialize_with = "wire::num::as_plain_string")]
    pub orig_qty: Decimal,
    #[serde(serialize_with = "wire::num::as_plain_string")]
    pub executed_qty: Decimal,
    #[serde(serialize_with = "wire::num::as_plain_string")]
    pub cum_quote: Decimal,
    pub status: OrderStatus,
    pub list_id: Option<u64>,
    pub leg: Option<Leg>,
    pub partner: Option<u64>,
    pub client_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub working_time: i64,
    /// What is still locked for the order: USDT for a buy, the token for a sell.
    #[serde(skip)]
    lock: Decimal,
    /// Base commission paid on a buy (what the OTO pending leg cannot sell).
    #[serde(skip)]
    base_fees: Decimal,
}

/// One piece of an execution, as `get-user-trades` reports it.
#[derive(Debug, Clone)]
pub struct Fill {
    pub account: u64,
    pub order_id: u64,
    pub symbol: String,
    pub alpha_id: String,
    pub trade_id: u64,
    pub page_id: u64,
    pub side: Side,
    pub price: Decimal,
    pub qty: Decimal,
    pub quote: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub buyer_maker: bool,
    pub time: i64,
    pub last_trade: bool,
    /// The token's points multiplier when the fill happened (it changes during a day).
    pub mul_point: Decimal,
    /// The simulated account on the other side of the trade; None for the simulated market
    /// (everyone outside the simulator's accounts).
    pub counterparty: Option<u64>,
}

/// What the streams must send.
#[derive(Debug, Clone)]
pub enum SimEvent {
    Execution {
        account: u64,
        report: Box<ExecutionReport>,
        /// This report ends the account's OTO pair: both legs are final now.
        completes_pair: bool,
    },
    AggTrade {
        stream: String,
        event: AggTradeEvent,
    },
}

/// An invariant breach the simulator can see from its side of the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub kind: &'static str,
    pub account: u64,
    pub detail: String,
    pub at_ms: i64,
}

/// What a new account needs to log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    pub id: u64,
    pub headers: BTreeMap<String, String>,
    pub cookies: String,
}

pub struct Engine {
    pub cfg: SimConfig,
    rng: Rng,
    pub tokens: Vec<Token>,
    pub accounts: BTreeMap<u64, Account>,
    pub orders: BTreeMap<u64, Order>,
    pub fills: Vec<Fill>,
    /// Indexes, so no request scans the whole ledger: every order id of an account (ascending),
    /// the ids of an account that may still be open (pruned as they end), and fills by order.
    by_account: HashMap<u64, Vec<u64>>,
    open: HashMap<u64, BTreeSet<u64>>,
    fills_by_order: HashMap<u64, Vec<usize>>,
    fills_by_account: HashMap<u64, Vec<usize>>,
    /// Pending legs held by `FillMode::AtOnce`: (due ms, order id).
    due: BTreeSet<(i64, u64)>,
    events: Vec<SimEvent>,
    violations: Vec<Violation>,
    next_account: u64,
    next_order_id: u64,
    next_list_id: u64,
    next_seq: u64,
    next_page_id: u64,
}

fn floor8(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(8, ToZero)
}

impl Engine {
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let tokens = seeded(&mut rng);
        Self {
            rng,
            tokens,
            accounts: BTreeMap::new(),
            orders: BTreeMap::new(),
            fills: Vec::new(),
            by_account: HashMap::new(),
            open: HashMap::new(),
            fills_by_order: HashMap::new(),
            fills_by_account: HashMap::new(),
            due: BTreeSet::new(),
            events: Vec::new(),
            violations: Vec::new(),
            next_account: 1,
            next_order_id: 2_400_000,
            next_list_id: 89_000_000,
            next_seq: 12_500_000_000,
            next_page_id: 59_177_000_000,
            cfg,
        }
    }

    /// Takes the events produced since the last call.
    pub fn drain_events(&mut self) -> Vec<SimEvent> {
        std::mem::take(&mut self.events)
    }

    // ----- accounts and sessions -----

    pub fn create_account(&mut self, usdt: Decimal) -> Credentials {
        let id = self.next_account;
        self.next_account += 1;
        let csrftoken = self.rng.hex(16);
        let session = format!("web.{id}.{}", self.rng.hex(16));
        let mut balances = BTreeMap::new();
        balances.insert(
            QUOTE.to_owned(),
            Balance {
                free: usdt,
                locked: Decimal::ZERO,
            },
        );
        self.accounts.insert(
            id,
            Account {
                id,
                csrftoken: csrftoken.clone(),
                session: session.clone(),
                session_valid: true,
                balances,
                stopped_at: None,
                half_fill_buys: false,
                hold_sells: false,
            },
        );
        let mut headers = BTreeMap::new();
        headers.insert("csrftoken".to_owned(), csrftoken);
        headers.insert("clienttype".to_owned(), "web".to_owned());
        headers.insert("bnc-uuid".to_owned(), self.rng.hex(16));
        Credentials {
            id,
            headers,
            cookies: format!("p20t={session}; lang=en"),
        }
    }

    /// Finds the account whose session the request carries.
    pub fn authenticate(
        &self,
        csrftoken: Option<&str>,
        cookies: Option<&str>,
    ) -> Result<u64, SimError> {
        let session = cookies
            .and_then(|c| {
                c.split(';')
                    .map(str::trim)
                    .find_map(|kv| kv.strip_prefix("p20t="))
            })
            .ok_or(SimError::SessionExpired)?;
        // Sessions are `web.<account id>.<random>`: the id finds the account without a scan.
        let account = session
            .split('.')
            .nth(1)
            .and_then(|id| id.parse::<u64>().ok())
            .and_then(|id| self.accounts.get(&id))
            .filter(|a| a.session == session)
            .filter(|a| a.session_valid && csrftoken == Some(a.csrftoken.as_str()))
            .ok_or(SimError::SessionExpired)?;
        Ok(account.id)
    }

    pub fn expire_session(&mut self, account: u64) -> Result<(), SimError> {
        self.account_mut(account)?.session_valid = false;
        Ok(())
    }

    /// Logs the account in again: a new session (cookie), the same csrftoken. The old session
    /// stays invalid.
    pub fn renew_session(&mut self, account: u64) -> Result<Credentials, SimError> {
        let session = format!("web.{account}.{}", self.rng.hex(16));
        let uuid = self.rng.hex(16);
        let a = self.account_mut(account)?;
        a.session = session.clone();
        a.session_valid = true;
        let mut headers = BTreeMap::new();
        headers.insert("csrftoken".to_owned(), a.csrftoken.clone());
        headers.insert("clienttype".to_owned(), "web".to_owned());
        headers.insert("bnc-uuid".to_owned(), uuid);
        Ok(Credentials {
            id: account,
            headers,
            cookies: format!("p20t={session}; lang=en"),
        })
    }

    /// Marks the account as stopped by its operator: any order it still has open, or places
    /// later, is a violation.
    pub fn mark_stopped(&mut self, account: u64, now: i64) -> Result<(), SimError> {
        self.account_mut(account)?.stopped_at = Some(now);
        Ok(())
    }

    fn account_mut(&mut self, id: u64) -> Result<&mut Account, SimError> {
        self.accounts
            .get_mut(&id)
            .ok_or_else(|| SimError::NotFound(format!("account {id}")))
    }

    pub fn token_index(&self, key: &str) -> Result<usize, SimError> {
        self.tokens
            .iter()
            .position(|t| t.alpha_id == key || t.order_symbol == key || t.stream_symbol == key)
            .ok_or_else(|| SimError::invalid("Invalid symbol."))
    }

    // ----- placing -----

    fn check_grid(
        &self,
        t: &Token,
        price: Decimal,
        qty: Decimal,
        what: &str,
    ) -> Result<(), SimError> {
        let p = &t.precision;
        if price <= Decimal::ZERO
            || !on_grid(price, p.tick_size)
            || price < p.min_price
            || price > p.max_price
        {
            return Err(SimError::invalid(format!(
                "{what}Price is not a multiple of the tick size {}.",
                p.tick_size
            )));
        }
        if qty <= Decimal::ZERO || !on_grid(qty, p.step_size) {
            return Err(SimError::invalid(format!(
                "{what}Quantity exceeds token max precision (step {}).",
                p.step_size
            )));
        }
        if qty < p.min_qty || qty > p.max_qty {
            return Err(SimError::invalid(format!(
                "{what}Quantity is outside [{}, {}].",
                p.min_qty, p.max_qty
            )));
        }
        if price * qty < p.min_notional {
            return Err(SimError::invalid(format!(
                "Order value is below the minimum notional {}.",
                p.min_notional
            )));
        }
        Ok(())
    }

    fn check_payment(
        price: Decimal,
        qty: Decimal,
        amount: Decimal,
        oto: bool,
    ) -> Result<(), SimError> {
        if amount.normalize().scale() > 8 {
            return Err(SimError::invalid(MSG_AMOUNT_GRID));
        }
        if amount != floor8(price * qty) {
            let message = if oto {
                MSG_OTO_AMOUNT
            } else {
                MSG_LIMIT_AMOUNT
            };
            return Err(SimError::Invalid {
                code: wire::CODE_AMOUNT_MISMATCH,
                message: message.to_owned(),
            });
        }
        Ok(())
    }

    fn new_order(
        &mut self,
        account: u64,
        t: usize,
        side: Side,
        price: Decimal,
        qty: Decimal,
        now: i64,
    ) -> Order {
        let id = self.next_order_id;
        self.next_order_id += 1;
        let token = &self.tokens[t];
        Order {
            id,
            account,
            alpha_id: token.alpha_id.clone(),
            symbol: token.order_symbol.clone(),
            side,
            price,
            orig_qty: qty,
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: OrderStatus::New,
            list_id: None,
            leg: None,
            partner: None,
            client_id: format!("web_{}", self.rng.hex(16)),
            created_ms: now,
            updated_ms: now,
            working_time: now,
            lock: Decimal::ZERO,
            base_fees: Decimal::ZERO,
        }
    }

    fn base_token(&self, base: &str, quote: &str) -> Result<usize, SimError> {
        if quote != QUOTE {
            return Err(SimError::invalid("Invalid symbol."));
        }
        self.token_index(base)
    }

    fn before_place(&mut self, account: u64, now: i64) -> Result<(), SimError> {
        let acct = self
            .accounts
            .get(&account)
            .ok_or(SimError::SessionExpired)?;
        if acct.stopped_at.is_some() {
            self.violations.push(Violation {
                kind: "placed_after_stop",
                account,
                detail: "an order was placed after the account was stopped".into(),
                at_ms: now,
            });
        }
        Ok(())
    }

    /// Locks `amount` of `asset` or refuses with insufficient balance.
    fn lock(&mut self, account: u64, asset: &str, amount: Decimal) -> Result<(), SimError> {
        let b = self.account_mut(account)?.balance(asset);
        if b.free < amount {
            return Err(SimError::InsufficientBalance);
        }
        b.free -= amount;
        b.locked += amount;
        Ok(())
    }

    /// `order/place`: a plain limit order. Returns the order id.
    pub fn place_limit(
        &mut self,
        account: u64,
        req: &PlaceOrderRequest,
        now: i64,
    ) -> Result<String, SimError> {
        self.before_place(account, now)?;
        if req.order_type.as_deref().is_some_and(|t| t != "LIMIT") {
            return Err(SimError::invalid("Unsupported order type."));
        }
        let t = self.base_token(&req.base_asset, &req.quote_asset)?;
        self.check_grid(&self.tokens[t], req.price, req.quantity, "")?;
        let [payment] = req.payment_details.as_slice() else {
            return Err(SimError::invalid("Exactly one payment detail is required."));
        };
        let (asset, amount) = match (req.side, payment.payment_wallet_type) {
            (Side::Buy, WalletType::Card) => {
                Self::check_payment(req.price, req.quantity, payment.amount, false)?;
                (QUOTE.to_owned(), payment.amount)
            }
            (Side::Sell, WalletType::Alpha) => {
                if payment.amount != req.quantity {
                    return Err(SimError::invalid(
                        "A sell's payment amount must equal its quantity.",
                    ));
                }
                (self.tokens[t].alpha_id.clone(), req.quantity)
            }
            _ => return Err(SimError::invalid("Invalid payment wallet type.")),
        };
        self.lock(account, &asset, amount)?;
        let mut order = self.new_order(account, t, req.side, req.price, req.quantity, now);
        order.lock = amount;
        let id = order.id;
        self.insert_order(order);
        self.report(id, ExecutionType::New, None, now);
        self.match_taker(id, now);
        Ok(id.to_string())
    }

    /// `oto-order/place`: a BUY working leg and a SELL pending leg that goes live when the
    /// working leg has filled.
    pub fn place_oto(
        &mut self,
        account: u64,
        req: &OtoPlaceRequest,
        now: i64,
    ) -> Result<OtoPlaceResponse, SimError> {
        self.before_place(account, now)?;
        if req.working_side != Side::Buy {
            return Err(SimError::invalid("Only a BUY working leg is supported."));
        }
        if req.pending_type.as_deref().is_some_and(|t| t != "LIMIT") {
            return Err(SimError::invalid("Unsupported order type."));
        }
        let t = self.base_token(&req.base_asset, &req.quote_asset)?;
        let token = &self.tokens[t];
        self.check_grid(token, req.working_price, req.working_quantity, "working")?;
        let tick = token.precision.tick_size;
        if req.pending_price <= Decimal::ZERO || !on_grid(req.pending_price, tick) {
            return Err(SimError::invalid(format!(
                "pendingPrice is not a multiple of the tick size {tick}."
            )));
        }
        let [payment] = req.payment_details.as_slice() else {
            return Err(SimError::invalid("Exactly one payment detail is required."));
        };
        if payment.payment_wallet_type != WalletType::Card {
            return Err(SimError::invalid("Invalid payment wallet type."));
        }
        Self::check_payment(
            req.working_price,
            req.working_quantity,
            payment.amount,
            true,
        )?;
        self.lock(account, QUOTE, payment.amount)?;

        if let Some(live) = self.live_pair(account) {
            self.violations.push(Violation {
                kind: "two_live_pairs",
                account,
                detail: format!("a new OTO pair was placed while list {live} was still live"),
                at_ms: now,
            });
        }
        let list_id = self.next_list_id;
        self.next_list_id += 1;
        let mut working = self.new_order(
            account,
            t,
            Side::Buy,
            req.working_price,
            req.working_quantity,
            now,
        );
        let mut pending = self.new_order(
            account,
            t,
            Side::Sell,
            req.pending_price,
            Decimal::ZERO,
            now,
        );
        pending.client_id = format!("web_{}", self.rng.hex(16));
        pending.status = OrderStatus::Pending;
        working.lock = payment.amount;
        let (wid, pid) = (working.id, pending.id);
        for (o, leg, partner) in [
            (&mut working, Leg::Working, pid),
            (&mut pending, Leg::Pending, wid),
        ] {
            o.list_id = Some(list_id);
            o.leg = Some(leg);
            o.partner = Some(partner);
        }
        self.insert_order(working);
        self.insert_order(pending);
        self.report(wid, ExecutionType::New, None, now);
        self.report(pid, ExecutionType::New, None, now);
        self.match_taker(wid, now);
        Ok(OtoPlaceResponse {
            working_order_id: wid.to_string(),
            pending_order_id: pid.to_string(),
        })
    }

    fn insert_order(&mut self, o: Order) {
        self.by_account.entry(o.account).or_default().push(o.id);
        self.open.entry(o.account).or_default().insert(o.id);
        self.orders.insert(o.id, o);
    }

    fn push_fill(&mut self, f: Fill) {
        let i = self.fills.len();
        self.fills_by_order.entry(f.order_id).or_default().push(i);
        self.fills_by_account.entry(f.account).or_default().push(i);
        self.fills.push(f);
    }

    /// The account's orders that are not final, oldest first.
    pub fn open_orders(&self, account: u64) -> impl Iterator<Item = &Order> {
        self.open
            .get(&account)
            .into_iter()
            .flatten()
            .filter_map(|id| self.orders.get(id))
            .filter(|o| !o.status.is_final())
    }

    /// Every order of the account, oldest first.
    pub fn account_orders(&self, account: u64) -> impl Iterator<Item = &Order> {
        self.by_account
            .get(&account)
            .into_iter()
            .flatten()
            .filter_map(|id| self.orders.get(id))
    }

    /// The fills of one order, in the order they happened.
    pub fn order_fills(&self, order_id: u64) -> impl Iterator<Item = &Fill> {
        self.fills_by_order
            .get(&order_id)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.fills.get(i))
    }

    /// The list id of the account's OTO pair that is still live, if any.
    pub fn live_pair(&self, account: u64) -> Option<u64> {
        self.open_orders(account)
            .filter(|o| o.list_id.is_some())
            .find_map(|o| o.list_id)
    }

    // ----- cancelling -----

    /// `order/cancel`. Cancelling a working leg also cancels its pending leg that has not gone
    /// live.
    pub fn cancel(
        &mut self,
        account: u64,
        order_id: &str,
        symbol: &str,
        now: i64,
    ) -> Result<(), SimError> {
        let id: u64 = order_id
            .trim()
            .parse()
            .map_err(|_| SimError::UnknownOrder)?;
        let o = self.orders.get(&id).ok_or(SimError::UnknownOrder)?;
        if o.account != account
            || o.symbol != symbol
            || o.status.is_final()
            || o.status == OrderStatus::Pending
        {
            return Err(SimError::UnknownOrder);
        }
        let partner = o.partner.filter(|_| o.leg == Some(Leg::Working));
        self.cancel_one(id, now);
        if let Some(pid) = partner
            && self
                .orders
                .get(&pid)
                .is_some_and(|p| p.status == OrderStatus::Pending)
        {
            self.cancel_one(pid, now);
        }
        Ok(())
    }

    /// `order/cancel-all`: every open order of the account.
    pub fn cancel_all(&mut self, account: u64, now: i64) {
        let open: Vec<(u64, String)> = self
            .open_orders(account)
            .filter(|o| o.status != OrderStatus::Pending)
            .map(|o| (o.id, o.symbol.clone()))
            .collect();
        for (id, symbol) in open {
            let _ = self.cancel(account, &id.to_string(), &symbol, now);
        }
    }

    fn cancel_one(&mut self, id: u64, now: i64) {
        let Some(o) = self.orders.get_mut(&id) else {
            return;
        };
        let (account, side, alpha, release) = (o.account, o.side, o.alpha_id.clone(), o.lock);
        o.lock = Decimal::ZERO;
        o.status = OrderStatus::Canceled;
        o.updated_ms = now;
        if let Some(acct) = self.accounts.get_mut(&account) {
            let asset = if side == Side::Buy {
                QUOTE.to_owned()
            } else {
                alpha
            };
            let b = acct.balance(&asset);
            b.locked -= release;
            b.free += release;
        }
        self.report(id, ExecutionType::Canceled, None, now);
    }

    // ----- the market -----

    /// One step of a token's walk: a new price, an aggTrade, and fills of reached orders.
    pub fn tick(&mut self, t: usize, now: i64) {
        let Some(token) = self.tokens.get_mut(t) else {
            return;
        };
        token.walk(&mut self.rng);
        self.trade_print(t, now);
        self.match_resting(t, now);
    }

    /// Sets a token's points multiplier (admin): its incentive began or ended. Fills from now
    /// on count at the new multiplier; earlier ones keep theirs.
    pub fn set_mul_point(&mut self, key: &str, mul_point: Decimal) -> Result<(), SimError> {
        let by_symbol: Vec<usize> = (0..self.tokens.len())
            .filter(|&i| self.tokens[i].symbol.eq_ignore_ascii_case(key))
            .collect();
        let t = match by_symbol[..] {
            [one] => one,
            _ => self.token_index(key)?,
        };
        if mul_point < Decimal::ZERO {
            return Err(SimError::invalid("The multiplier must not be negative."));
        }
        self.tokens[t].mul_point = mul_point;
        Ok(())
    }

    /// Moves a token's price (admin), then matches.
    pub fn set_price(&mut self, key: &str, price: Decimal, now: i64) -> Result<(), SimError> {
        let t = self.token_index(key)?;
        if price <= Decimal::ZERO {
            return Err(SimError::invalid("The price must be positive."));
        }
        self.tokens[t].price = price;
        self.trade_print(t, now);
        self.match_resting(t, now);
        Ok(())
    }

    pub(super) fn trade_print(&mut self, t: usize, now: i64) {
        let qty_units = 1 + self.rng.below(10_000);
        let (price, step) = (self.tokens[t].price, self.tokens[t].precision.step_size);
        self.print(t, price, step * Decimal::from(qty_units), now);
    }

    /// A trade on the token's public stream: the market's own, or an order's fill (on the
    /// real exchange every fill is a trade everyone sees).
    pub(super) fn print(&mut self, t: usize, price: Decimal, qty: Decimal, now: i64) {
        let buyer_maker = self.rng.chance(0.5);
        let token = &mut self.tokens[t];
        token.high_24h = token.high_24h.max(price);
        token.low_24h = token.low_24h.min(price);
        token.volume_24h += price * qty;
        token.count_24h += 1;
        token.candle = Some(Candle::trade(token.candle, price, qty, now));
        let id = token.next_agg_id;
        token.next_agg_id += 1;
        let first = token.next_trade_id;
        token.next_trade_id += 1;
        let event = AggTradeEvent {
            event_type: "aggTrade".into(),
            event_time: now + publish_lag_ms(id),
            trade_time: now,
            symbol: token.order_symbol.clone(),
            id,
            price,
            qty,
            first_trade_id: first,
            last_trade_id: first,
            buyer_maker,
        };
        self.events.push(SimEvent::AggTrade {
            stream: format!("{}@aggTrade", token.stream_symbol),
            event,
        });
    }

    // ----- reports -----

    fn report(&mut self, id: u64, exec: ExecutionType, fill: Option<&Fill>, now: i64) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let avg = if o.executed_qty.is_zero() {
            Decimal::ZERO
        } else {
            (o.cum_quote / o.executed_qty).round_dp(9)
        };
        let report = ExecutionReport {
            event_type: "executionReport".into(),
            event_time: now + publish_lag_ms(seq),
            transaction_time: now,
            update_time: Some(now),
            order_time: Some(o.created_ms),
            symbol: o.symbol.clone(),
            base_asset: Some(o.alpha_id.clone()),
            quote_asset: Some(QUOTE.into()),
            client_order_id: Some(o.client_id.clone()),
            side: o.side,
            order_type: Some("LIMIT".into()),
            orig_order_type: Some("LIMIT".into()),
            time_in_force: Some("GTC".into()),
            qty: o.orig_qty,
            price: o.price,
            avg_price: avg,
            stop_price: Decimal::ZERO,
            quote_order_qty: Decimal::ZERO,
            execution_type: exec,
            status: o.status,
            order_id: o.id.to_string(),
            last_qty: fill.map_or(Decimal::ZERO, |f| f.qty),
            cum_qty: o.executed_qty,
            last_price: fill.map_or(Decimal::ZERO, |f| f.price),
            last_quote: fill.map_or(Decimal::ZERO, |f| f.quote),
            cum_quote: o.cum_quote,
            commission: fill.map(|f| f.commission),
            commission_asset: fill.map(|f| f.commission_asset.clone()),
            trade_id: fill.map_or_else(|| "0".to_owned(), |f| f.trade_id.to_string()),
            m: fill.is_some_and(|f| f.buyer_maker),
            st: Some(1),
            seq: Some(seq),
            order_list_id: o.list_id.map(|l| l.to_string()),
            contingency_type: o.list_id.map(|_| "OTO".to_owned()),
            contingency_position: o.leg.map(|l| match l {
                Leg::Working => "OTO_WORKING".to_owned(),
                Leg::Pending => "OTO_PENDING".to_owned(),
            }),
        };
        let account = o.account;
        let ended = o.status.is_final();
        let completes_pair = ended
            && o.list_id.is_some()
            && o.partner
                .and_then(|p| self.orders.get(&p))
                .is_none_or(|p| p.status.is_final());
        if ended && let Some(open) = self.open.get_mut(&account) {
            open.remove(&id);
        }
        self.events.push(SimEvent::Execution {
            account,
            report: Box::new(report),
            completes_pair,
        });
    }

    // ----- queries -----

    /// Buy-side quote volume since 00:00 UTC, per token symbol (× mulPoint if configured).
    pub fn volume_today(&self, account: u64, now: i64) -> Vec<(String, Decimal)> {
        let day_start = now - now.rem_euclid(86_400_000);
        let mut per: BTreeMap<String, Decimal> = BTreeMap::new();
        for f in self
            .fills_by_account
            .get(&account)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.fills.get(i))
            .filter(|f| f.side == Side::Buy && f.time >= day_start)
        {
            let token = self.tokens.iter().find(|t| t.alpha_id == f.alpha_id);
            let mul = if self.cfg.volume_uses_mul_point {
                f.mul_point
            } else {
                Decimal::ONE
            };
            let name = token.map_or_else(|| f.alpha_id.clone(), |t| t.symbol.clone());
            *per.entry(name).or_default() += f.quote * mul;
        }
        per.into_iter().collect()
    }

    /// Every invariant breach seen so far, plus orders still open on stopped accounts.
    pub fn violations(&self) -> Vec<Violation> {
        let mut out = self.violations.clone();
        for o in self.orders.values() {
            let stopped = self.accounts.get(&o.account).and_then(|a| a.stopped_at);
            if let Some(at) = stopped
                && !o.status.is_final()
            {
                out.push(Violation {
                    kind: "open_after_stop",
                    account: o.account,
                    detail: format!(
                        "order {} is {:?} after the account was stopped",
                        o.id, o.status
                    ),
                    at_ms: at,
                });
            }
        }
        out
    }
}
