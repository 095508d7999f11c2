package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// upload stores b as a blob and returns its media descriptor.
func upload(t *testing.T, u *user, b []byte, ctype string) *channel.Media {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256(b)
	st, err := u.c.CreateUpload(ctx, api.UploadRequest{Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:]), ContentType: ctype})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete {
		if st, err = u.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(b)); err != nil || !st.Complete {
			t.Fatalf("upload: %+v %v", st, err)
		}
	}
	return &channel.Media{SHA256: sum, Size: int64(len(b)), ContentType: ctype, Width: 2, Height: 1}
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestPublicPageAndFeed(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok", PublicURL: "https://parley.example"})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	p := newPublisher(t)
	p.create(owner, "news")
	img := upload(t, owner, []byte("not really a png"), "image/png")
	post := p.sign(&channel.Record{Kind: channel.KindPost, Text: "**Big** news <script>x</script> at https://example.org", Media: [][]byte{img.Marshal()}})
	if _, err := owner.c.PostRecord(ctx, "news", post); err != nil {
		t.Fatal(err)
	}
	_, second := p.post(owner, "news", "second")
	secondRec, _ := channel.Parse(second)
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindEdit, Target: &secondRec.ID, Text: "second, _corrected_"})); err != nil {
		t.Fatal(err)
	}
	// A post naming a blob that was never uploaded is refused.
	ghost := &channel.Media{SHA256: [32]byte{7}, Size: 5, ContentType: "image/png"}
	_, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindPost, Media: [][]byte{ghost.Marshal()}}))
	wantCode(t, err, api.CodeBadRecord)

	status, hdr, body := get(t, srv.URL+"/c/news")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", status, hdr.Get("Content-Type"))
	}
	imgURL := "https://parley.example/v1/blobs/" + hex.EncodeToString(img.SHA256[:])
	for _, want := range []string{
		`<meta property="og:title" content="The news">`,
		`<meta property="og:url" content="https://parley.example/c/news">`,
		`<meta property="og:image" content="` + imgURL + `">`,
		`<strong>Big</strong> news &lt;script&gt;x&lt;/script&gt; at <a href="https://example.org"`,
		`<img src="` + imgURL + `"`,
		`href="https://parley.example/c/news/feed.atom"`,
		`second, <em>corrected</em>`,
		`<summary class="muted">Earlier versions</summary><div class="muted">second</div>`,
		// Admins sign with their own keys (protocol §10.1), not the channel's.
		`Every post is signed by the channel's owner, or by an admin the owner certified; Parley apps check it.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Index(body, "second") > strings.Index(body, "Big") {
		t.Error("posts are not newest first")
	}

	status, hdr, body = get(t, srv.URL+"/c/news/feed.atom")
	var feed struct {
		Title   string `xml:"title"`
		Entries []struct {
			ID      string `xml:"id"`
			Title   string `xml:"title"`
			Content string `xml:"content"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal([]byte(body), &feed); err != nil || status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("feed: %d %v\n%s", status, err, body)
	}
	if feed.Title != "The news" || len(feed.Entries) != 2 || feed.Entries[1].Title != "Big news <script>x</script> at https://example.org" ||
		!strings.Contains(feed.Entries[1].Content, "<strong>Big</strong>") || !strings.HasPrefix(feed.Entries[0].ID, "https://parley.example/c/news#post-") {
		t.Fatalf("feed entries: %+v", feed)
	}

	// The image itself is served to anyone.
	if status, hdr, _ := get(t, srv.URL+"/v1/blobs/"+hex.EncodeToString(img.SHA256[:])); status != 200 || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("blob: %d %s", status, hdr.Get("Content-Type"))
	}

	if err := transport.New(srv.URL, nil).Admin("tok", "olga").Suspend(ctx, "news", "court order 77"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/c/news", "/c/news/feed.atom"} {
		status, _, body := get(t, srv.URL+path)
		if status != http.StatusUnavailableForLegalReasons || !strings.Contains(body, "court order 77") {
			t.Errorf("%s when suspended: %d %s", path, status, body)
		}
	}
	if status, _, _ := get(t, srv.URL+"/c/nosuch"); status != 404 {
		t.Errorf("unknown channel: %d", status)
	}
}

// TestDeletedPostReleasesMedia: a post's media are kept while it exists;
// once it is deleted, nothing refers to them and the janitor removes them
// when their upload expiry passes. Media of a live post stay.
func TestDeletedPostReleasesMedia(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	p := newPublisher(t)
	p.create(owner, "news")
	kept := upload(t, owner, []byte("kept image"), "image/png")
	gone := upload(t, owner, []byte("deleted image"), "image/png")
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindPost, Media: [][]byte{kept.Marshal()}})); err != nil {
		t.Fatal(err)
	}
	doomed := p.sign(&channel.Record{Kind: channel.KindPost, Media: [][]byte{gone.Marshal()}})
	if _, err := owner.c.PostRecord(ctx, "news", doomed); err != nil {
		t.Fatal(err)
	}
	rec, _ := channel.Parse(doomed)
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindDelete, Target: &rec.ID})); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SweepMedia(ctx, time.Now().Add(31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := get(t, srv.URL+"/v1/blobs/"+hex.EncodeToString(gone.SHA256[:])); status != 404 {
		t.Errorf("deleted post's image: %d, want 404", status)
	}
	if status, _, _ := get(t, srv.URL+"/v1/blobs/"+hex.EncodeToString(kept.SHA256[:])); status != 200 {
		t.Errorf("live post's image: %d, want 200", status)
	}
}

// TestPublicPageUnknownHandle: a mistyped channel address in a browser
// gets a page saying there is no such channel, not the API's JSON; the
// feed, read by programs, keeps the API's error.
func TestPublicPageUnknownHandle(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	for _, path := range []string{"/c/nosuch", "/c/NoSuch", "/c/not%20a%20handle"} {
		status, hdr, body := get(t, srv.URL+path)
		if status != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s\n%s", path, status, hdr.Get("Content-Type"), body)
			continue
		}
		if !strings.Contains(body, "No channel") || strings.Contains(body, `"code"`) {
			t.Errorf("%s: page does not say there is no such channel:\n%s", path, body)
		}
	}
	if _, _, body := get(t, srv.URL+"/c/nosuch"); !strings.Contains(body, "No channel @nosuch on this server") {
		t.Errorf("page does not name the handle:\n%s", body)
	}
	status, hdr, _ := get(t, srv.URL+"/c/nosuch/feed.atom")
	if status != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Errorf("feed: %d %s", status, hdr.Get("Content-Type"))
	}
}

// TestPublicPageTakenDownDelete: the operator takes down a deletion, and
// a post. The public page folds the stubs (spec/protocol.md §10.7): the
// deleted post stays deleted, the taken-down one is not shown.
func TestPublicPageTakenDownDelete(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	p := newPublisher(t)
	p.create(owner, "news")
	_, doomed := p.post(owner, "news", "regretted")
	doomedRec, _ := channel.Parse(doomed)
	del := p.sign(&channel.Record{Kind: channel.KindDelete, Target: &doomedRec.ID})
	if _, err := owner.c.PostRecord(ctx, "news", del); err != nil {
		t.Fatal(err)
	}
	_, hidden := p.post(owner, "news", "infringing")
	p.post(owner, "news", "fine")
	delRec, _ := channel.Parse(del)
	hiddenRec, _ := channel.Parse(hidden)
	op := transport.New(srv.URL, nil).Admin("tok", "olga")
	for _, id := range [][channel.IDSize]byte{delRec.ID, hiddenRec.ID} {
		if err := op.TakeDown(ctx, "news", id[:], "notice"); err != nil {
			t.Fatal(err)
		}
	}
	status, _, body := get(t, srv.URL+"/c/news")
	if status != 200 || !strings.Contains(body, "fine") || strings.Contains(body, "regretted") || strings.Contains(body, "infringing") {
		t.Fatalf("public page after the takedowns: %d\n%s", status, body)
	}
}
