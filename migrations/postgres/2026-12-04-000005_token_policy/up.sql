-- token = 'auto': the daemon puts the account on the best eligible token (mulPoint at least
-- min_mul_point, in token_allow when that is not empty: comma-separated symbols) and switches
-- between pairs at most once per token_switch_min_s.
ALTER TABLE trading_configs ADD COLUMN min_mul_point TEXT NOT NULL DEFAULT '2';
ALTER TABLE trading_configs ADD COLUMN token_allow TEXT NOT NULL DEFAULT '';
ALTER TABLE trading_configs ADD COLUMN token_switch_min_s INTEGER NOT NULL DEFAULT 3600;
