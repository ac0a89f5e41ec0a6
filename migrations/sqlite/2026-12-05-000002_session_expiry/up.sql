-- When the stored session's cookies expire (Unix ms), where the credentials said; not a
-- secret, so readable without the vault (the session warnings and the account view).
ALTER TABLE credentials ADD COLUMN expires_at_ms BIGINT;
