-- A profile is a named set of account settings (the JSON of the API's settings object). An
-- account on a profile trades the profile's settings with its own overrides (a JSON object of
-- single fields) laid over them; trading_configs keeps the result, so the trading path reads
-- one row as before. Tags are a JSON array of free-text labels.
CREATE TABLE profiles (
    name          TEXT    NOT NULL PRIMARY KEY,
    settings      TEXT    NOT NULL,
    revision      BIGINT  NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);

ALTER TABLE accounts ADD COLUMN profile TEXT;
ALTER TABLE accounts ADD COLUMN overrides TEXT NOT NULL DEFAULT '{}';
ALTER TABLE accounts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
CREATE INDEX accounts_profile ON accounts (profile);
