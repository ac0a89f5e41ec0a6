ALTER TABLE trading_configs DROP COLUMN max_hold_loss_pct;
