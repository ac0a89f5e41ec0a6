-- The check against other instances' accounts (store::crossing), made where an intent is
-- stored: whether another instance holds a live lease (two ranges of this index), and the
-- open orders on a token (a plain index: a partial one is not used for bound statuses).
CREATE INDEX leases_owner_expires ON leases (owner, expires_at_ms);
CREATE INDEX orders_symbol_status ON orders (order_symbol, status);
