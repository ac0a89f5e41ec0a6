//! A local Binance Alpha: the exchange's REST paths, envelope, error codes and both streams,
//! a matching engine with OTO legs, fees and balances, and fault injection, all deterministic
//! from a seed. It shares only `exchange::wire` with the daemon.
//!
//! # Where the real exchange was never captured, the simulator decides
//! Each choice is an invention, named here so that nobody mistakes it for the real thing:
//! - Error codes: rate limited `-1003` (with HTTP 429 and `Retry-After` for the HTTP-level
//!   limit), insufficient balance `-2010` with spot's message, a price or quantity off its grid,
//!   an unknown symbol or any other bad parameter `-1013`, cancelling an order that is not open
//!   `-2011` ("Unknown order sent."). Their messages are the simulator's own. Captured and used
//!   as captured: `100002001` session expired (with its Chinese message), the two
//!   "... must be the same as sum(paymentDetail.amount)" messages (code `000002`, from a bot's
//!   mock), and "Order amount must be an integer multiple of the minimum amount movement.".
//! - Book: one tick wide around a random-walk price; a crossing order fills at once at the
//!   book's price (a buy at the ask, a sell at the bid: the "sell far below" trick fills at the
//!   bid), a resting one fills at its own price when the walk reaches it.
//! - Fills come in 1 to 3 pieces; consecutive pieces share a trade id half of the time.
//! - OTO: only a BUY working leg is accepted. Cancelling the working leg cancels a pending leg
//!   that has not gone live; a pending leg cannot be cancelled before it goes live. A pending
//!   leg whose quantity after fees rounds to zero expires.
//! - Fees: 0.01 % per side (as measured live), buy fee in the token, sell fee in USDT, floored
//!   to 8 decimals.
//! - Token list: every captured field of an entry (`sep25-agg-ticker24-1`) with its type. The
//!   24 h figures are the run's own (its first price, trades, extremes and quote volume);
//!   supplies (a billion, a fifth circulating), holders, liquidity, score and empty icon URLs
//!   are invented constants.
//! - Trade lists are newest first and a plain order's history row has a working time of 0, as
//!   captured (`cap-user-trades-1`, `cap-historical-limit-orders-1`).
//! - Public streams (`streams`): the captured names and the official list's forms are known;
//!   any other form is answered `{"code":2,"msg":"Invalid request: invalid stream"}` (what
//!   Binance's stream servers answer; the Alpha one was not captured refusing), and a known form
//!   naming no listed token is accepted and silent (as there). Streams the official list names
//!   but no capture shows (partial depth, trade, bookTicker, tickers, klines other than 1 s,
//!   listing changes) are accepted and silent.
//! - Depth (`book`): the one-tick book, one level a side, a billion deep; each move of a price
//!   is two numbered changes (the old level at 0, the new one). A depth stream sends a frame at
//!   most once per its interval and only when the book changed; `fullDepth` answers the same
//!   book at its last update id.
//! - Ticker list: every token once a second, its figures those of the token list (`s` is the
//!   list's score, `hc` its holders); klines: the last second's candle once a second, flat at
//!   the price when nothing traded, `v` its quote volume.
//! - Numbers and times in frames as `frames` says: padded as captured; `E` 12 to 182 ms after
//!   `T`, written but not waited for.
//! - Auction matching (`engine::auction`, `--matching auction:MS`): the FAQ's pre-netting
//!   and RETAIN as written; the uniform price is the walk's (market mode) or the price that
//!   trades the most due orders, nearest the walk's (`--fill-at-once`); one fill per order per
//!   auction; one print per token per auction. An auction in which one account bought and
//!   another sold is a `cross_account_match` (every matched buy is every matched sell's
//!   counterparty).
//! - Volume: buy-side quote volume since 00:00 UTC, per token symbol; each buy multiplied by
//!   its token's mulPoint at the fill unless configured off (the protocol does not settle which
//!   reading is right; the daemon's default reading is multiplied).

pub mod admin;
pub mod book;
pub mod engine;
pub mod error;
pub mod faults;
pub mod frames;
pub mod http;
pub mod ledger;
pub mod publish;
pub mod rng;
pub mod server;
pub mod state;
pub mod streams;
pub mod tokens;
pub mod views;
pub mod ws;
