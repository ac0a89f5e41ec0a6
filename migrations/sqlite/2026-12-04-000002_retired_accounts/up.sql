-- An account deleted with its history kept is retired, not removed: its cycles, orders and
-- fills stay for the books, its credentials and lease go, and its name is freed (renamed to
-- NAME~retired-ID, which no API name can collide with). Retired accounts are not listed,
-- run or commanded.
ALTER TABLE accounts ADD COLUMN retired_at_ms BIGINT;
