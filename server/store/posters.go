package store

import "context"

// PosterStore keeps the posters the server makes for videos whose
// descriptor names none (spec/api.md §10.6): a still image stored as a
// blob of its own, derived from the video's. The rules written on Store
// hold here too.
type PosterStore interface {
	// SetPoster records poster as the poster of the stored blob video, in
	// one transaction. If no blob of poster.SHA256 is stored, one is, with
	// poster's size, content type and creation time, an upload expiry of
	// that creation time, and no owner (it counts towards no quota); a
	// stored one keeps its own. Either way the poster is retained, as by
	// RetainBlob, for as long as the record exists. When DeleteExpiredBlob
	// deletes the video, the record goes with it and that hold is
	// released, so the poster then expires as RetainBlob says.
	// ErrNotFound if video is not stored; ErrExists if it has a poster
	// already, and nothing changes.
	SetPoster(ctx context.Context, video string, poster Blob) error
	// Poster returns the blob recorded as video's poster (ErrNotFound if
	// there is none).
	Poster(ctx context.Context, video string) (Blob, error)
}
