package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// testPosters checks SetPoster and Poster (store.PosterStore): a poster is
// a blob without an owner, retained while its video is stored, and
// released when the video is deleted.
func testPosters(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "vera")
	t0 := now()
	video := digest("clip.mp4")
	finishUpload(t, s, startUpload(t, s, a, "v1", video, 5000, t0), t0, t0.Add(time.Hour))
	still := store.Blob{SHA256: digest("clip.jpg"), Size: 700, ContentType: "image/jpeg", Created: t0.Add(time.Second)}

	if _, err := s.Poster(ctx, video); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Poster before SetPoster = %v, want ErrNotFound", err)
	}
	if err := s.SetPoster(ctx, digest("no such video"), still); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetPoster(unknown video) = %v, want ErrNotFound", err)
	}
	if _, err := s.Blob(ctx, still.SHA256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused SetPoster stored the poster: %v", err)
	}
	if err := s.SetPoster(ctx, video, still); err != nil {
		t.Fatalf("SetPoster: %v", err)
	}
	want := still
	want.Retained = 1
	if got, err := s.Poster(ctx, video); err != nil || !sameBlob(got, want) {
		t.Fatalf("Poster = %+v, %v; want %+v", got, err, want)
	}
	checkBlob(t, s, want)
	checkUsed(t, s, a, t0, 5000) // the poster has no owner
	other := store.Blob{SHA256: digest("other.jpg"), Size: 9, ContentType: "image/jpeg", Created: t0}
	if err := s.SetPoster(ctx, video, other); !errors.Is(err, store.ErrExists) {
		t.Fatalf("SetPoster twice = %v, want ErrExists", err)
	}
	if _, err := s.Blob(ctx, other.SHA256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused SetPoster stored the poster: %v", err)
	}

	// A poster that is also an uploaded blob keeps its row and is held.
	video2 := digest("clip2.mp4")
	finishUpload(t, s, startUpload(t, s, a, "v2", video2, 6000, t0), t0, t0.Add(time.Hour))
	shared := finishUpload(t, s, startUpload(t, s, a, "p2", digest("shared.png"), 300, t0), t0, t0.Add(3*time.Hour))
	if err := s.SetPoster(ctx, video2, store.Blob{SHA256: shared.SHA256, Size: 300, ContentType: "image/jpeg", Created: t0.Add(time.Minute)}); err != nil {
		t.Fatalf("SetPoster(stored blob): %v", err)
	}
	held := shared
	held.Expires, held.Retained = time.Time{}, 1
	checkBlob(t, s, held)

	// The videos expire and are deleted: the records go, and the posters
	// are released: the new one expires at once, the uploaded one at its
	// upload expiry.
	late := t0.Add(2 * time.Hour)
	for _, v := range []string{video, video2} {
		if err := s.DeleteExpiredBlob(ctx, v, late); err != nil {
			t.Fatalf("DeleteExpiredBlob(video): %v", err)
		}
		if _, err := s.Poster(ctx, v); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Poster after the video's deletion = %v, want ErrNotFound", err)
		}
	}
	want.Retained, want.Expires = 0, want.Created
	checkBlob(t, s, want)
	checkBlob(t, s, shared)
	if names, err := s.ExpiredBlobs(ctx, late, 100); err != nil || !slices.Contains(names, still.SHA256) || slices.Contains(names, shared.SHA256) {
		t.Fatalf("ExpiredBlobs after the videos went = %v, %v; want the made poster, not the uploaded one", names, err)
	}
	if err := s.DeleteExpiredBlob(ctx, still.SHA256, late); err != nil {
		t.Fatalf("DeleteExpiredBlob(released poster): %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPoster(ctx, video, still); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("SetPoster after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Poster(ctx, video); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Poster after Close = %v, want ErrClosed", err)
	}
}
