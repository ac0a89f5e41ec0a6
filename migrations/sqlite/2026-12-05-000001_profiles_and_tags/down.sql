DROP INDEX accounts_profile;
ALTER TABLE accounts DROP COLUMN tags;
ALTER TABLE accounts DROP COLUMN overrides;
ALTER TABLE accounts DROP COLUMN profile;
DROP TABLE profiles;
