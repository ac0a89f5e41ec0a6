-- alpha-oto initial schema (SQLite dialect; keep in step with ../postgres).
-- Money, prices and quantities are exact decimals stored as canonical TEXT, never REAL.
-- SQLite lets a non-integer PRIMARY KEY hold NULL, hence the explicit NOT NULLs.
-- Times are milliseconds since the Unix epoch, UTC, as the exchange reports them.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    state         TEXT    NOT NULL DEFAULT 'stopped'
                  CHECK (state IN ('idle', 'trading', 'paused', 'done_for_today', 'stopped', 'failed')),
    pause_reason  TEXT,
    created_at_ms BIGINT  NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);

CREATE TABLE credentials (
    account_id    BIGINT  NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    key_id        TEXT    NOT NULL,
    headers_ct    BLOB    NOT NULL,
    cookies_ct    BLOB    NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);
CREATE INDEX credentials_key_id ON credentials (key_id);

CREATE TABLE trading_configs (
    account_id         BIGINT  NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    token              TEXT    NOT NULL,
    chain              TEXT,
    order_usdt         TEXT    NOT NULL,
    daily_target_usdt  TEXT    NOT NULL,
    buy_offset_mode    TEXT    NOT NULL CHECK (buy_offset_mode IN ('percent', 'amount')),
    buy_offset_value   TEXT    NOT NULL,
    sell_offset_mode   TEXT    NOT NULL CHECK (sell_offset_mode IN ('percent', 'amount')),
    sell_offset_value  TEXT    NOT NULL,
    order_timeout_s    INTEGER NOT NULL,
    pending_timeout_s  INTEGER NOT NULL,
    volatility_pct     TEXT    NOT NULL,
    cost_budget_bps    TEXT    NOT NULL,
    leftover_floor_pct TEXT    NOT NULL,
    auto_resume        BOOLEAN NOT NULL DEFAULT 0,
    webhook_url        TEXT,
    revision           BIGINT  NOT NULL DEFAULT 1,
    updated_at_ms      BIGINT  NOT NULL
);

CREATE TABLE token_mappings (
    alpha_id         TEXT   NOT NULL PRIMARY KEY,
    symbol           TEXT   NOT NULL,
    chain_id         TEXT   NOT NULL,
    contract_address TEXT,
    fetched_at_ms    BIGINT NOT NULL
);
CREATE INDEX token_mappings_symbol ON token_mappings (symbol);

CREATE TABLE token_precisions (
    order_symbol  TEXT   NOT NULL PRIMARY KEY,
    tick_size     TEXT   NOT NULL,
    step_size     TEXT   NOT NULL,
    min_qty       TEXT   NOT NULL,
    max_qty       TEXT   NOT NULL,
    min_notional  TEXT   NOT NULL,
    fetched_at_ms BIGINT NOT NULL
);

CREATE TABLE cycles (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    intent_id        TEXT    NOT NULL UNIQUE,
    fencing_token    BIGINT  NOT NULL,
    state            TEXT    NOT NULL,
    order_symbol     TEXT    NOT NULL,
    buy_price        TEXT    NOT NULL,
    sell_price       TEXT    NOT NULL,
    quantity         TEXT    NOT NULL,
    payment_amount   TEXT    NOT NULL,
    working_order_id TEXT    UNIQUE,
    pending_order_id TEXT    UNIQUE,
    order_list_id    TEXT,
    bought_qty       TEXT    NOT NULL DEFAULT '0',
    sold_qty         TEXT    NOT NULL DEFAULT '0',
    volume_usdt      TEXT    NOT NULL DEFAULT '0',
    fees_usdt        TEXT    NOT NULL DEFAULT '0',
    outcome          TEXT,
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL,
    closed_at_ms     BIGINT
);
-- At most one live OTO pair per account, enforced by the database itself.
CREATE UNIQUE INDEX cycles_one_live_per_account ON cycles (account_id) WHERE closed_at_ms IS NULL;
CREATE INDEX cycles_account_created ON cycles (account_id, created_at_ms);

CREATE TABLE orders (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    cycle_id          BIGINT  REFERENCES cycles (id) ON DELETE SET NULL,
    intent_id         TEXT    NOT NULL UNIQUE,
    role              TEXT    NOT NULL CHECK (role IN ('working', 'pending', 'liquidation', 'manual')),
    exchange_order_id TEXT    UNIQUE,
    order_symbol      TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price             TEXT    NOT NULL,
    quantity          TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    filled_qty        TEXT    NOT NULL DEFAULT '0',
    filled_quote      TEXT    NOT NULL DEFAULT '0',
    created_at_ms     BIGINT  NOT NULL,
    updated_at_ms     BIGINT  NOT NULL
);
CREATE INDEX orders_account_created ON orders (account_id, created_at_ms);
CREATE INDEX orders_cycle ON orders (cycle_id);

CREATE TABLE fills (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    order_id          BIGINT  NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    exchange_order_id TEXT    NOT NULL,
    trade_id          TEXT    NOT NULL,
    cum_qty           TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price             TEXT    NOT NULL,
    qty               TEXT    NOT NULL,
    quote_qty         TEXT    NOT NULL,
    fee               TEXT    NOT NULL,
    fee_asset         TEXT    NOT NULL,
    traded_at_ms      BIGINT  NOT NULL,
    recorded_at_ms    BIGINT  NOT NULL,
    -- Two pieces of one order can share a trade id, but never a cumulative filled quantity:
    -- this key makes a replayed or duplicated execution report a no-op.
    UNIQUE (exchange_order_id, cum_qty)
);
CREATE INDEX fills_account_traded ON fills (account_id, traded_at_ms);

CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     BIGINT  REFERENCES accounts (id) ON DELETE SET NULL,
    account_name   TEXT,
    kind           TEXT    NOT NULL,
    level          TEXT    NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error', 'critical')),
    reason         TEXT,
    actor          TEXT    NOT NULL,
    message        TEXT    NOT NULL,
    data           TEXT    NOT NULL DEFAULT '{}',
    webhook_status TEXT    NOT NULL DEFAULT 'none'
                   CHECK (webhook_status IN ('none', 'pending', 'sent', 'failed')),
    created_at_ms  BIGINT  NOT NULL
);
CREATE INDEX events_account_created ON events (account_id, created_at_ms);
CREATE INDEX events_webhook_pending ON events (webhook_status) WHERE webhook_status = 'pending';

CREATE TABLE leases (
    account_id     BIGINT NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    owner          TEXT,
    fencing_token  BIGINT NOT NULL DEFAULT 0,
    expires_at_ms  BIGINT NOT NULL DEFAULT 0,
    claimed_at_ms  BIGINT
);
