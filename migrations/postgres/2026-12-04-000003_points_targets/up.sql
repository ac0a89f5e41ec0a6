-- A daily target in Alpha Points (a counted buy volume of 2^P) instead of USDT. With a points
-- target the USDT column holds 0 and is not read; exactly one of the two is the target.
ALTER TABLE trading_configs ADD COLUMN daily_target_points INTEGER;
