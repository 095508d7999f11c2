-- 0006: per-sender shares of a device's queue (spec/api.md §6.4). Beside
-- devices.queued, devices.queued_bytes sums the content bytes the device has
-- queued, and queue_shares counts, for each (device, sender account), the
-- envelopes and bytes that sender has queued for it, so Enqueue checks every
-- bound with primary-key upserts instead of scans. Enqueue increments them;
-- the trigger decrements them for every deletion, as it did queued. Rows
-- that reach zero are deleted by DeleteExpired, not by the trigger, so an
-- Ack costs no extra delete.
ALTER TABLE devices ADD COLUMN queued_bytes INTEGER NOT NULL DEFAULT 0;

CREATE TABLE queue_shares (
	dest_account   INTEGER NOT NULL,
	dest_device    INTEGER NOT NULL,
	sender_account INTEGER NOT NULL,
	queued         INTEGER NOT NULL,
	queued_bytes   INTEGER NOT NULL,
	PRIMARY KEY (dest_account, dest_device, sender_account),
	FOREIGN KEY (dest_account, dest_device) REFERENCES devices (account_id, id) ON DELETE CASCADE
) WITHOUT ROWID;

UPDATE devices SET queued_bytes = (SELECT COALESCE(SUM(length(content)), 0) FROM messages
	WHERE dest_account = devices.account_id AND dest_device = devices.id);

INSERT INTO queue_shares (dest_account, dest_device, sender_account, queued, queued_bytes)
	SELECT dest_account, dest_device, sender_account, COUNT(*), SUM(length(content))
	FROM messages GROUP BY dest_account, dest_device, sender_account;

DROP TRIGGER messages_dequeued;
CREATE TRIGGER messages_dequeued AFTER DELETE ON messages BEGIN
	UPDATE devices SET queued = queued - 1, queued_bytes = queued_bytes - length(OLD.content)
	WHERE account_id = OLD.dest_account AND id = OLD.dest_device;
	UPDATE queue_shares SET queued = queued - 1, queued_bytes = queued_bytes - length(OLD.content)
	WHERE dest_account = OLD.dest_account AND dest_device = OLD.dest_device
	AND sender_account = OLD.sender_account;
END;
