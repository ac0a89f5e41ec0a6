-- Accounts on a points target keep trading towards 2^P USDT when the column goes.
UPDATE trading_configs SET daily_target_usdt = CAST((1 << daily_target_points) AS TEXT)
    WHERE daily_target_points IS NOT NULL;
ALTER TABLE trading_configs DROP COLUMN daily_target_points;
