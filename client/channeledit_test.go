package client_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/client"
)

// TestEditPostKeepsMedia: an edit replaces a post's text and keeps its
// media, so a follower can still save the image after the edit (the
// README's walkthrough); EditPostMedia with nil drops them on purpose.
func TestEditPostKeepsMedia(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	if _, err := alice.CreateChannel(ctx, "news", "News", ""); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(img, []byte("\xff\xd8\xff not quite a jpeg"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := alice.PublishMedia(ctx, "news", "**Hello**, world", []client.MediaFile{{Path: img}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Follow(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.EditPost(ctx, "news", p.ID, "**Hello**, world!"); err != nil {
		t.Fatal(err)
	}
	posts, err := bob.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 1 {
		t.Fatalf("feed: %+v %v", posts, err)
	}
	if got := posts[0]; got.Text != "**Hello**, world!" || len(got.Edits) != 1 || len(got.Media) != 1 {
		t.Fatalf("after the edit: text %q, %d edits, %d media; want the new text and the image kept", got.Text, len(got.Edits), len(got.Media))
	}
	if err := bob.SaveMediaFile(ctx, posts[0], 0, filepath.Join(t.TempDir(), "saved.jpg"), nil); err != nil {
		t.Fatalf("saving the edited post's image: %v", err)
	}

	if _, err := alice.EditPostMedia(ctx, "news", p.ID, "text only now", nil); err != nil {
		t.Fatal(err)
	}
	if posts, err = bob.Feed(ctx, "news", 0); err != nil || len(posts[0].Media) != 0 || posts[0].Text != "text only now" {
		t.Fatalf("after dropping the media: %+v %v", posts, err)
	}

	var unknown [16]byte
	if _, err := alice.EditPost(ctx, "news", unknown, "x"); err != client.ErrNoSuchPost {
		t.Fatalf("editing a post that does not exist: %v, want ErrNoSuchPost", err)
	}
}
