-- 0008: contents shared by many envelopes (spec/api.md §6.6). A send to
-- many stores its content once, in bodies, and one row per device in
-- messages whose body_id names it and whose own content is empty. refs
-- counts the messages that name a body; the trigger below decrements it for
-- every deletion (Ack, DeleteExpired, the cascade from a device's removal)
-- and deletes the body with its last reference. There is no foreign key
-- from messages to bodies: it would cost an index on messages(body_id) for
-- the check on each body's deletion, and refs already says when that is.
--
-- The queue counters count a shared content once per device, as if each
-- envelope held it: length() of a blob reads its size from the record
-- header, not the bytes.
CREATE TABLE bodies (
	id      INTEGER PRIMARY KEY,
	refs    INTEGER NOT NULL,
	content BLOB    NOT NULL
);

ALTER TABLE messages ADD COLUMN body_id INTEGER;

DROP TRIGGER messages_dequeued;
CREATE TRIGGER messages_dequeued AFTER DELETE ON messages WHEN OLD.body_id IS NULL BEGIN
	UPDATE devices SET queued = queued - 1, queued_bytes = queued_bytes - length(OLD.content)
	WHERE account_id = OLD.dest_account AND id = OLD.dest_device;
	UPDATE queue_shares SET queued = queued - 1, queued_bytes = queued_bytes - length(OLD.content)
	WHERE dest_account = OLD.dest_account AND dest_device = OLD.dest_device
	AND sender_account = OLD.sender_account;
END;

-- The counters first, while the body is still there to be measured.
CREATE TRIGGER messages_dequeued_shared AFTER DELETE ON messages WHEN OLD.body_id IS NOT NULL BEGIN
	UPDATE devices SET queued = queued - 1,
		queued_bytes = queued_bytes - (SELECT length(content) FROM bodies WHERE id = OLD.body_id)
	WHERE account_id = OLD.dest_account AND id = OLD.dest_device;
	UPDATE queue_shares SET queued = queued - 1,
		queued_bytes = queued_bytes - (SELECT length(content) FROM bodies WHERE id = OLD.body_id)
	WHERE dest_account = OLD.dest_account AND dest_device = OLD.dest_device
	AND sender_account = OLD.sender_account;
	UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id;
	DELETE FROM bodies WHERE id = OLD.body_id AND refs <= 0;
END;
