package server_test

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// getWithHost fetches path from srv with the Host header set to host, and
// returns the headers and the body as one string.
func getWithHost(t *testing.T, srv *parleytest.Server, path, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var hdr strings.Builder
	resp.Header.Write(&hdr)
	return resp.StatusCode, hdr.String() + "\n" + string(b)
}

// TestPublicPageIgnoresHost: a hostile Host header appears nowhere in the
// public page or the feed, with or without -public-url (spec/api.md
// §11.7), so a shared cache cannot be made to serve others links to it.
func TestPublicPageIgnoresHost(t *testing.T) {
	const evil = "evil.example"
	uuid := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, public := range []string{"", "https://parley.example"} {
		t.Run("public url "+public, func(t *testing.T) {
			srv := parleytest.Start(t, server.Config{PublicURL: public})
			owner := register(t, srv, "owner", 0)
			p := newPublisher(t)
			p.create(owner, "news")
			img := upload(t, owner, []byte("an image"), "image/png")
			video := upload(t, owner, []byte("a video"), "video/mp4")
			poster := upload(t, owner, []byte("a poster"), "image/png")
			vm := *video
			vm.Poster = &poster.SHA256
			post := p.sign(&channel.Record{Kind: channel.KindPost, Text: "hello", Media: [][]byte{img.Marshal(), vm.Marshal()}})
			if _, err := owner.c.PostRecord(context.Background(), "news", post); err != nil {
				t.Fatal(err)
			}
			imgPath := "/v1/blobs/" + hex.EncodeToString(img.SHA256[:])

			status, page := getWithHost(t, srv, "/c/news", evil)
			if status != 200 || strings.Contains(page, evil) {
				t.Fatalf("page with Host %s: %d\n%s", evil, status, page)
			}
			status, feed := getWithHost(t, srv, "/c/news/feed.atom", evil)
			if status != 200 || strings.Contains(feed, evil) {
				t.Fatalf("feed with Host %s: %d\n%s", evil, status, feed)
			}
			var f struct {
				ID      string `xml:"id"`
				Entries []struct {
					ID string `xml:"id"`
				} `xml:"entry"`
			}
			if err := xml.Unmarshal([]byte(feed[strings.Index(feed, "<?xml"):]), &f); err != nil || len(f.Entries) != 1 {
				t.Fatalf("feed: %v %+v", err, f)
			}
			if public != "" {
				for _, want := range []string{`<img src="` + public + imgPath + `"`, `content="` + public + `/c/news"`} {
					if !strings.Contains(page, want) {
						t.Errorf("page lacks %s", want)
					}
				}
				if f.ID != public+"/c/news" || !strings.HasPrefix(f.Entries[0].ID, public+"/c/news#post-") {
					t.Errorf("feed IDs %q, %q", f.ID, f.Entries[0].ID)
				}
				return
			}
			for _, want := range []string{`<img src="` + imgPath + `"`, `href="/c/news/feed.atom"`} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if strings.Contains(page, "og:url") || strings.Contains(page, "og:image") {
				t.Error("page has Open Graph URLs that are not absolute")
			}
			// Atom IDs are absolute IRIs, and the same whatever the host.
			if !uuid.MatchString(f.ID) || !uuid.MatchString(f.Entries[0].ID) || f.ID == f.Entries[0].ID {
				t.Errorf("feed IDs %q, %q; want distinct urn:uuid IRIs", f.ID, f.Entries[0].ID)
			}
			if _, again := getWithHost(t, srv, "/c/news/feed.atom", "other.example"); !strings.Contains(again, f.Entries[0].ID) {
				t.Error("the entry ID changes with the Host header")
			}
		})
	}
}
