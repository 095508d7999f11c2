-- 0005: posters the server makes for videos whose descriptor names none
-- (spec/api.md §10.6). The poster is a blob of its own (a row in blobs,
-- with no owner), retained once for as long as its row here exists; the
-- row goes with the video's blob, and the trigger then releases the hold
-- as RetainBlob(false) does. Times are unix milliseconds.
CREATE TABLE posters (
	video   TEXT    PRIMARY KEY REFERENCES blobs (sha256) ON DELETE CASCADE,
	poster  TEXT    NOT NULL REFERENCES blobs (sha256),
	created INTEGER NOT NULL,
	CHECK (video <> poster)
) WITHOUT ROWID;
CREATE INDEX posters_poster ON posters (poster);

CREATE TRIGGER posters_release AFTER DELETE ON posters BEGIN
	UPDATE blobs SET retained = retained - 1,
		expires = CASE WHEN retained = 1 THEN upload_expires ELSE NULL END
		WHERE sha256 = OLD.poster AND retained > 0;
END;
