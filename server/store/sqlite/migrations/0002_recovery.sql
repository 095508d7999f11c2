-- 0002: account recovery (spec/api.md §4.3). recovery_hash is SHA-256 of the
-- account's recovery key, NULL for an account without one (every account
-- made before this migration). RecoverAccount compares it, replaces the
-- identity key and the devices, and may replace the hash.
ALTER TABLE accounts ADD COLUMN recovery_hash BLOB
	CHECK (recovery_hash IS NULL OR length(recovery_hash) = 32);
