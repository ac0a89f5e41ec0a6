DELETE FROM accounts WHERE retired_at_ms IS NOT NULL;
ALTER TABLE accounts DROP COLUMN retired_at_ms;
