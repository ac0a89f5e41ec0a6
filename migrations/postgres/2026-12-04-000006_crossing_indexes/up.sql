-- The check against other instances' accounts (store::crossing), made where an intent is
-- stored: whether another instance holds a live lease (two ranges of this index), and the
-- open orders on a token (a plain index: a partial one is not used for bound statuses).
CREATE INDEX leases_owner_expires ON leases (owner, expires_at_ms);
CREATE INDEX orders_symbol_status ON orders (order_symbol, status);
-- An account held back by another instance's order asks for its turn: once its wish is 3 s
-- old, the other instances' crossing intents wait for it (as the instance's own accounts do
-- for each other's wishes in memory).
CREATE TABLE crossing_wishes (
    account_id    BIGINT NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    owner         TEXT NOT NULL,
    order_symbol  TEXT NOT NULL,
    buy_price     TEXT,
    sell_price    TEXT,
    since_ms      BIGINT NOT NULL,
    seen_ms       BIGINT NOT NULL
);
CREATE INDEX crossing_wishes_symbol ON crossing_wishes (order_symbol);
