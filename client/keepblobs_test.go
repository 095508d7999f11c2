package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
)

// TestAvatarsAreKept: the server keeps a blob 30 days after its latest
// upload or claim; a device claims its profile avatar's blob and its
// groups' avatars' again once a week, at the start of a connection, and
// not more often, so pictures do not vanish after a month.
func TestAvatarsAreKept(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	var clk skewClock
	alice := registerClocked(t, srv, "alice", &clk)
	register(t, srv, "bob")
	img := bytes.Repeat([]byte("\x89PNG alice"), 200)
	p, err := alice.SetProfile(ctx, client.ProfileChange{Name: ptr("Alice"), Avatar: &client.File{ContentType: "image/png", Body: bytes.NewReader(img)}})
	if err != nil || p.Avatar == nil {
		t.Fatalf("SetProfile: %+v, %v", p, err)
	}
	g, err := alice.CreateGroup(ctx, "Club", "@bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SetGroupAvatar(ctx, g.Conversation, client.File{Name: "club.png", ContentType: "image/png", Body: bytes.NewReader(img[:500])}, nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.Sync(ctx); err != nil { // the first connection claims at once
		t.Fatal(err)
	}
	first := blobExpiries(t, srv.DataDir)
	if len(first) != 2 {
		t.Fatalf("%d blobs on the server, want the two avatars", len(first))
	}
	time.Sleep(5 * time.Millisecond) // the server's clock moves on
	clk.advance(3 * 24 * time.Hour)
	if err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for sum, exp := range blobExpiries(t, srv.DataDir) {
		if exp != first[sum] {
			t.Fatalf("blob %s claimed again after 3 days: expiry %d, was %d", sum[:8], exp, first[sum])
		}
	}
	clk.advance(5 * 24 * time.Hour)
	if err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for sum, exp := range blobExpiries(t, srv.DataDir) {
		if exp <= first[sum] {
			t.Fatalf("blob %s not claimed after 8 days: expiry %d, was %d", sum[:8], exp, first[sum])
		}
	}
}

// blobExpiries reads the expiry of every blob from the server's database.
func blobExpiries(t *testing.T, dataDir string) map[string]int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "parley.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT sha256, expires FROM blobs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var sum string
		var exp int64
		if err := rows.Scan(&sum, &exp); err != nil {
			t.Fatal(err)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			t.Fatal(err)
		}
		out[sum] = exp
	}
	return out
}
