ALTER TABLE trading_configs DROP COLUMN token_switch_min_s;
ALTER TABLE trading_configs DROP COLUMN token_allow;
ALTER TABLE trading_configs DROP COLUMN min_mul_point;
