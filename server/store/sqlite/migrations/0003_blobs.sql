-- 0003: media (spec/api.md §10). The bytes of a blob live in server/blob,
-- named by their SHA-256; these tables hold what the server knows about
-- them: the blobs, which accounts uploaded each (for quotas), and the
-- uploads still in progress. Sizes are bytes, times unix milliseconds.

-- expires is NULL while retained > 0 (RetainBlob: a channel post keeps the
-- blob); otherwise it equals upload_expires, the expiry its latest upload
-- gave it, to which it returns when the last retention is released.
CREATE TABLE blobs (
	sha256         TEXT    PRIMARY KEY CHECK (length(sha256) = 64), -- lowercase hex
	size           INTEGER NOT NULL CHECK (size > 0),
	content_type   TEXT    NOT NULL,
	created        INTEGER NOT NULL,
	expires        INTEGER,
	upload_expires INTEGER NOT NULL,
	retained       INTEGER NOT NULL DEFAULT 0 CHECK (retained >= 0),
	CHECK ((retained = 0) = (expires IS NOT NULL))
) WITHOUT ROWID;
CREATE INDEX blobs_expires ON blobs (expires) WHERE expires IS NOT NULL;

-- Which account uploaded which blob: a blob uploaded by two accounts is
-- stored once and counts towards each one's quota, until it is deleted.
CREATE TABLE blob_owners (
	account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	sha256     TEXT    NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
	created    INTEGER NOT NULL,
	PRIMARY KEY (account_id, sha256)
) WITHOUT ROWID;
CREATE INDEX blob_owners_sha256 ON blob_owners (sha256);

-- Uploads in progress. received is the offset: how many bytes have been
-- received and made durable. Its full size counts towards the account's
-- quota from the start, so parallel uploads cannot overrun it.
CREATE TABLE uploads (
	id           TEXT    PRIMARY KEY,
	account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	device_id    INTEGER NOT NULL,
	sha256       TEXT    NOT NULL CHECK (length(sha256) = 64),
	size         INTEGER NOT NULL CHECK (size > 0),
	content_type TEXT    NOT NULL,
	received     INTEGER NOT NULL DEFAULT 0 CHECK (received BETWEEN 0 AND size),
	created      INTEGER NOT NULL,
	expires      INTEGER NOT NULL
);
CREATE INDEX uploads_account ON uploads (account_id);
CREATE INDEX uploads_expires ON uploads (expires);
