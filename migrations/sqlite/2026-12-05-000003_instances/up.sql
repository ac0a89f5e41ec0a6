-- The instances sharing this database (B4): each writes its heartbeat with its lease renewals;
-- one whose heartbeat is older than a lease is gone, and its accounts are shared out among
-- the rest (`domain::shares`). `capacity` weighs an instance's share.
CREATE TABLE instances (
    id TEXT PRIMARY KEY NOT NULL,
    capacity INTEGER NOT NULL DEFAULT 1,
    started_at_ms BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL
);
