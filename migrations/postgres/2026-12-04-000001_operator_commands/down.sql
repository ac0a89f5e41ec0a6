DROP INDEX accounts_command_at;
ALTER TABLE accounts DROP COLUMN command_at_ms;
ALTER TABLE accounts DROP COLUMN command_seq;
ALTER TABLE accounts DROP COLUMN desired;
