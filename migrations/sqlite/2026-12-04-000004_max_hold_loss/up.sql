-- How far below its buy, in percent, a live pair's price may fall before its pending leg is
-- cancelled and its tokens sold down the ladder (instead of waiting for the timeout).
ALTER TABLE trading_configs ADD COLUMN max_hold_loss_pct TEXT NOT NULL DEFAULT '5';
