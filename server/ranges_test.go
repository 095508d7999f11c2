package server_test

import (
	"bytes"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// Range requests a stranger could abuse (spec/api.md §10.4): every
// unsatisfiable form is 416 with Content-Range: bytes */size (RFC 9110
// §14.1.2, §15.5.17), and a request with too many or overlapping ranges is
// refused the same way instead of being answered with a body many times the
// blob's size.
func TestBlobRangeLimits(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	data, sum := blobOf(21, 10_000)
	uploadAll(t, alice, data, "application/octet-stream", 4096)
	path := "/v1/blobs/" + sum

	many := make([]string, 1000) // distinct one-byte ranges
	for i := range many {
		many[i] = strconv.Itoa(i) + "-" + strconv.Itoa(i)
	}
	seventeen := make([]string, 17)
	for i := range seventeen {
		seventeen[i] = strconv.Itoa(i*10) + "-" + strconv.Itoa(i*10)
	}
	sixteen := seventeen[:16]

	for _, tc := range []struct {
		name, rng string
	}{
		{"empty suffix", "bytes=-0"},
		{"empty suffixes", "bytes=-0,-0"},
		{"start at the size", "bytes=10000-10005"},
		{"open start at the size", "bytes=10000-"},
		{"start past the size", "bytes=20000-"},
		{"unsatisfiable and empty suffix", "bytes=10000-,-0"},
		{"malformed", "bytes=abc"},
		{"last before first", "bytes=10-5"},
		{"no ranges", "bytes="},
		{"empty element only", "bytes=,"},
		{"3000 times the same byte", "bytes=0-0" + strings.Repeat(",0-0", 2999)},
		{"1000 one-byte ranges", "bytes=" + strings.Join(many, ",")},
		{"17 ranges", "bytes=" + strings.Join(seventeen, ",")},
		{"overlapping", "bytes=0-99,50-149"},
		{"the same range twice", "bytes=0-0,0-0"},
		{"suffix overlapping a range", "bytes=9990-9995,-5"},
	} {
		for _, method := range []string{"GET", "HEAD"} {
			resp := do(t, srv, nil, method, path, nil, map[string]string{"Range": tc.rng})
			body := readAll(t, resp.Body)
			if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != "bytes */10000" {
				t.Errorf("%s %s: %s, Content-Range %q, %d bytes; want 416, \"bytes */10000\"",
					method, tc.name, resp.Status, resp.Header.Get("Content-Range"), len(body))
			}
			if len(body) > 512 {
				t.Errorf("%s %s: a %d-byte refusal", method, tc.name, len(body))
			}
		}
	}

	t.Run("satisfiable ones are served, the others dropped", func(t *testing.T) {
		resp := do(t, srv, nil, "GET", path, nil, map[string]string{"Range": "bytes=-0, 5-9 ,20000-"})
		if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 5-9/10000" ||
			!bytes.Equal(readAll(t, resp.Body), data[5:10]) {
			t.Fatalf("%s, Content-Range %q", resp.Status, resp.Header.Get("Content-Range"))
		}
	})

	t.Run("16 ranges are served", func(t *testing.T) {
		resp := do(t, srv, nil, "GET", path, nil, map[string]string{"Range": "bytes=" + strings.Join(sixteen, ",")})
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
			t.Fatalf("%s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(resp.Body, params["boundary"])
		for i := range 16 {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if got := readAll(t, p); !bytes.Equal(got, data[i*10:i*10+1]) {
				t.Fatalf("part %d: %q", i, got)
			}
		}
	})

	t.Run("unknown unit is ignored", func(t *testing.T) {
		resp := do(t, srv, nil, "GET", path, nil, map[string]string{"Range": "pages=1-2"})
		if resp.StatusCode != 200 || !bytes.Equal(readAll(t, resp.Body), data) {
			t.Fatalf("%s", resp.Status)
		}
	})

	t.Run("If-Range of another blob serves it whole", func(t *testing.T) {
		resp := do(t, srv, nil, "GET", path, nil, map[string]string{"Range": "bytes=-0",
			"If-Range": `"` + strings.Repeat("0", 64) + `"`})
		if resp.StatusCode != 200 || !bytes.Equal(readAll(t, resp.Body), data) {
			t.Fatalf("%s", resp.Status)
		}
	})

	t.Run("If-None-Match comes before the range", func(t *testing.T) {
		resp := do(t, srv, nil, "GET", path, nil, map[string]string{"Range": "bytes=-0", "If-None-Match": `"` + sum + `"`})
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("%s, want 304", resp.Status)
		}
	})
}

// TestBlobRangeLimitsIfRangeTrailingBytes: an If-Range that Go's
// ServeContent takes as a strong match of the ETag although it is not
// byte for byte the ETag (an entity-tag followed by junk, which it
// ignores) must not let an unchecked Range through: 1,000 one-byte ranges
// stay a 416, not a multipart answer many times their size.
func TestBlobRangeLimitsIfRangeTrailingBytes(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	data, sum := blobOf(22, 10_000)
	uploadAll(t, alice, data, "application/octet-stream", 4096)
	many := make([]string, 1000)
	for i := range many {
		many[i] = strconv.Itoa(i*3) + "-" + strconv.Itoa(i*3)
	}
	for _, ir := range []string{`"` + sum + `"x`, `"` + sum + `" `, `"` + sum + `",junk`} {
		resp := do(t, srv, nil, "GET", "/v1/blobs/"+sum, nil, map[string]string{
			"Range": "bytes=" + strings.Join(many, ","), "If-Range": ir})
		body := readAll(t, resp.Body)
		if len(body) > len(data) {
			t.Errorf("If-Range %q: %s with %d bytes for a %d-byte blob", ir, resp.Status, len(body), len(data))
		}
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("If-Range %q: %s, want 416", ir, resp.Status)
		}
	}
}
