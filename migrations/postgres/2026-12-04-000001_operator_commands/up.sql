-- The operator's last word on an account, durable and seen by every instance: `desired` is
-- what the operator asked (run, pause, stop, kill), `command_seq` counts the commands, and
-- `command_at_ms` (database clock) lets each instance find the commands of the last seconds
-- for the accounts it holds. A recorded kill holds until a start.
ALTER TABLE accounts ADD COLUMN desired TEXT NOT NULL DEFAULT 'stop'
    CHECK (desired IN ('run', 'pause', 'stop', 'kill'));
ALTER TABLE accounts ADD COLUMN command_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN command_at_ms BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET desired = CASE
    WHEN state = 'stopped' THEN 'stop'
    WHEN state = 'paused' AND pause_reason = 'operator' THEN 'pause'
    ELSE 'run' END;
CREATE INDEX accounts_command_at ON accounts (command_at_ms);
