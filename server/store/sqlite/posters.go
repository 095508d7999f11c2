package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/parley-chat/parley/server/store"
)

// Posters (migration 0005): the stills the server makes for videos. The
// poster's hold on its blob is released by the posters_release trigger
// when its row goes, with the video's blob, by ON DELETE CASCADE.

// posterColumns are blobColumns, of the poster's row in blobs b.
const posterColumns = "b.sha256, b.size, b.content_type, b.created, b.expires, b.retained"

// SetPoster implements store.Store.
func (s *Store) SetPoster(ctx context.Context, video string, poster store.Blob) error {
	created := toMillis(stamp(poster.Created))
	return s.write(ctx, "set poster", 0, func(t *wtx) error {
		if video == poster.SHA256 {
			return errors.New("a blob cannot be its own poster")
		}
		var one int
		switch err := t.queryRow("SELECT 1 FROM posters WHERE video = ?", video).Scan(&one); {
		case err == nil:
			return store.ErrExists
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := scanBlob(t.queryRow("SELECT "+blobColumns+" FROM blobs WHERE sha256 = ?", video)); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO blobs (sha256, size, content_type, created, expires, upload_expires)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
			poster.SHA256, poster.Size, poster.ContentType, created, created, created); err != nil {
			return err
		}
		if _, err := t.exec("UPDATE blobs SET retained = retained + 1, expires = NULL WHERE sha256 = ?", poster.SHA256); err != nil {
			return err
		}
		_, err := t.exec("INSERT INTO posters (video, poster, created) VALUES (?, ?, ?)", video, poster.SHA256, created)
		return err
	})
}

// Poster implements store.Store.
func (s *Store) Poster(ctx context.Context, video string) (store.Blob, error) {
	const op = "poster"
	if err := s.readable(op); err != nil {
		return store.Blob{}, err
	}
	b, err := scanBlob(s.rdb.QueryRowContext(ctx, "SELECT "+posterColumns+
		" FROM posters p JOIN blobs b ON b.sha256 = p.poster WHERE p.video = ?", video))
	if err != nil {
		return store.Blob{}, s.wrap(op, err)
	}
	return b, nil
}
