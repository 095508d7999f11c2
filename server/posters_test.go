package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"image/jpeg"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// The test clip and its poster (testdata/README.md says how they were made).
const (
	clipWidth, clipHeight = 320, 180
	clipDurationMS        = 4000
)

// needTool returns the path of a program the test drives. Without it the
// test fails, telling how to install it, unless the environment variable
// skip is 1: then it is skipped.
func needTool(t *testing.T, name, skip, install string) string {
	t.Helper()
	if os.Getenv(skip) == "1" {
		t.Skipf("%s=1", skip)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("this test needs %s: install it (%s), or set %s=1 to skip it", name, install, skip)
	}
	return path
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postClip creates the channel handle and posts the test clip to it, with
// the test poster if withPoster. It returns the clip's descriptor.
func postClip(t *testing.T, srv *parleytest.Server, handle string, withPoster bool) *channel.Media {
	t.Helper()
	owner := register(t, srv, "owner", 0)
	p := newPublisher(t)
	p.create(owner, handle)
	clip := upload(t, owner, readTestdata(t, "clip.mp4"), "video/mp4")
	clip.Width, clip.Height, clip.DurationMS = clipWidth, clipHeight, clipDurationMS
	if withPoster {
		poster := upload(t, owner, readTestdata(t, "poster.jpg"), "image/jpeg")
		clip.Poster = &poster.SHA256
	}
	rec := p.sign(&channel.Record{Kind: channel.KindPost, Text: "A test pattern, 4 s", Media: [][]byte{clip.Marshal()}})
	if _, err := owner.c.PostRecord(context.Background(), handle, rec); err != nil {
		t.Fatalf("post: %v", err)
	}
	return clip
}

// TestServerMadePoster: with ffmpeg, a video posted without a poster gets
// one, a JPEG at most 640 px wide served at /v1/blobs/{sha256}/poster,
// and the public page shows it.
func TestServerMadePoster(t *testing.T) {
	needTool(t, "ffmpeg", "PARLEY_SKIP_FFMPEG", "apt-get install -y ffmpeg")
	srv := parleytest.Start(t, server.Config{})
	clip := postClip(t, srv, "clips", false)
	posterURL := srv.URL + "/v1/blobs/" + hex.EncodeToString(clip.SHA256[:]) + "/poster"

	// Made in the background: poll, with a guard against a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var body string
	var hdr http.Header
	for {
		var status int
		status, hdr, body = get(t, posterURL)
		if status == http.StatusOK {
			break
		}
		if status != http.StatusNotFound {
			t.Fatalf("poster: %d %s", status, body)
		}
		select {
		case <-ctx.Done():
			t.Fatal("no poster was made")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if hdr.Get("Content-Type") != "image/jpeg" {
		t.Errorf("poster Content-Type %q", hdr.Get("Content-Type"))
	}
	img, err := jpeg.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatalf("poster is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != clipWidth || b.Dy() != clipHeight {
		t.Errorf("poster is %v, want the clip's %dx%d", b, clipWidth, clipHeight)
	}
	_, _, page := get(t, srv.URL+"/c/clips")
	if !strings.Contains(page, `poster="`+strings.TrimPrefix(posterURL, srv.URL)+`"`) { // no -public-url: relative
		t.Errorf("the page does not show the poster:\n%s", page)
	}
}

// TestPostersOff: with -ffmpeg off the server makes no poster and the
// rest works as before; a named ffmpeg that does not exist stops the start.
func TestPostersOff(t *testing.T) {
	f, err := server.ParseFlags(nil, func(k string) string { return map[string]string{"PARLEY_FFMPEG": "off"}[k] })
	if err != nil || f.Config.FFmpeg != server.FFmpegOff {
		t.Fatalf("PARLEY_FFMPEG=off: %q, %v", f.Config.FFmpeg, err)
	}
	f.Config.DataDir = "" // a temporary one
	srv := parleytest.Start(t, f.Config)
	clip := postClip(t, srv, "clips", false)
	sum := hex.EncodeToString(clip.SHA256[:])
	if status, _, _ := get(t, srv.URL+"/v1/blobs/"+sum+"/poster"); status != http.StatusNotFound {
		t.Errorf("poster with ffmpeg off: %d, want 404", status)
	}
	if status, hdr, body := get(t, srv.URL+"/v1/blobs/"+sum); status != http.StatusOK || hdr.Get("Content-Type") != "video/mp4" ||
		!bytes.Equal([]byte(body), readTestdata(t, "clip.mp4")) {
		t.Errorf("clip: %d %s", status, hdr.Get("Content-Type"))
	}
	status, _, page := get(t, srv.URL+"/c/clips")
	if status != http.StatusOK || !strings.Contains(page, `src="/v1/blobs/`+sum+`"`) || strings.Contains(page, "poster=") {
		t.Errorf("page with ffmpeg off: %d\n%s", status, page)
	}

	_, err = server.New(context.Background(), server.Config{DataDir: t.TempDir(), FFmpeg: filepath.Join(t.TempDir(), "no-ffmpeg")})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New with a missing ffmpeg = %v, want an error wrapping os.ErrNotExist", err)
	}
}
