package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// BenchmarkMedia1GiB uploads a 1 GiB blob through a real in-process server
// (docs/BENCHMARKS.md, "Media: 1 GiB upload and download"), in one PATCH
// and in 64 MiB chunks, and downloads it, checking its SHA-256. The bytes
// are generated as they are sent, never held. It reports MB/s, and the
// process's resident memory (server and client together) before, at its
// highest during each phase, and after: streaming keeps it flat.
//
// It writes about 1 GiB per upload to the temporary directory, so it runs
// only with PARLEY_BIG=1:
//
//	PARLEY_BIG=1 go test -run XXX -bench Media1GiB -benchtime 1x ./server
func BenchmarkMedia1GiB(b *testing.B) {
	if os.Getenv("PARLEY_BIG") != "1" {
		b.Skip("set PARLEY_BIG=1 to move 1 GiB through the server")
	}
	const size = 1 << 30
	ctx := context.Background()
	srv := parleytest.Start(b, server.Config{})
	req, _, err := parleytest.Registration("bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	anon := transport.New(srv.URL, nil)
	creds, err := anon.Register(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	c := anon.As(creds)

	rss := newRSSSampler()
	defer rss.stop()
	runtime.GC()
	before := rss.now()
	for i := range b.N {
		for _, chunk := range []int64{size, 64 << 20} {
			seed := uint64(2*i) + uint64(chunk>>20)
			sum := hashOf(seed, size)

			rss.reset()
			start := time.Now()
			st, err := c.CreateUpload(ctx, api.UploadRequest{Size: size, SHA256: sum, ContentType: "application/octet-stream"})
			if err != nil {
				b.Fatal(err)
			}
			gen := newGen(seed, size)
			for !st.Complete {
				if st, err = c.UploadChunk(ctx, st.ID, st.Offset, io.LimitReader(gen, chunk)); err != nil {
					b.Fatalf("UploadChunk at %d: %v", st.Offset, err)
				}
			}
			up := time.Since(start)
			upMax := rss.max()
			name := "one PATCH"
			if chunk < size {
				name = strconv.FormatInt(chunk>>20, 10) + " MiB chunks"
			}
			b.Logf("upload (%s): %.0f MB/s (%.2f s), RSS max %.1f MiB", name, size/up.Seconds()/1e6, up.Seconds(), upMax)
			if chunk == size {
				b.ReportMetric(size/up.Seconds()/1e6, "upload-MB/s")
			}

			rss.reset()
			start = time.Now()
			body, total, err := c.DownloadBlob(ctx, st.Blob, 0)
			if err != nil || total != size {
				b.Fatalf("DownloadBlob: %d bytes, %v", total, err)
			}
			h := sha256.New()
			n, err := io.CopyBuffer(h, body, make([]byte, 256<<10))
			body.Close()
			down := time.Since(start)
			if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != sum {
				b.Fatalf("download: %d bytes, %v, digest %s", n, err, hex.EncodeToString(h.Sum(nil)))
			}
			downMax := rss.max()
			b.Logf("download (%s upload): %.0f MB/s (%.2f s), RSS max %.1f MiB", name, size/down.Seconds()/1e6, down.Seconds(), downMax)
			if chunk == size {
				b.ReportMetric(size/down.Seconds()/1e6, "download-MB/s")
				b.ReportMetric(max(upMax, downMax)-before, "rss-growth-MiB")
			}
		}
	}
	runtime.GC()
	b.Logf("RSS before %.1f MiB, after %.1f MiB", before, rss.now())
	b.ReportMetric(before, "rss-before-MiB")
}

// hashOf is the SHA-256 of newGen(seed, n)'s bytes.
func hashOf(seed uint64, n int64) string {
	h := sha256.New()
	io.CopyBuffer(h, newGen(seed, n), make([]byte, 256<<10))
	return hex.EncodeToString(h.Sum(nil))
}

// newGen yields n pseudo-random bytes from seed, made as they are read.
func newGen(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0x1b}), n)
}

// rssSampler reads the process's VmRSS every 10 ms and keeps the highest.
type rssSampler struct {
	mu   sync.Mutex
	high float64 // MiB, since the last reset
	done chan struct{}
	wg   sync.WaitGroup
}

func newRSSSampler() *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				v := s.now()
				s.mu.Lock()
				s.high = max(s.high, v)
				s.mu.Unlock()
			}
		}
	})
	return s
}

func (s *rssSampler) stop() { close(s.done); s.wg.Wait() }

func (s *rssSampler) reset() {
	s.mu.Lock()
	s.high = s.now()
	s.mu.Unlock()
}

func (s *rssSampler) max() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.high, s.now())
}

// now is VmRSS from /proc/self/status, in MiB (0 where there is none).
func (s *rssSampler) now() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
