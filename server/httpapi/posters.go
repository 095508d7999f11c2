package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/server/blob"
	"github.com/parley-chat/parley/server/store"
)

// Posters (spec/api.md §10.6). A channel post's video normally names its
// poster, a still the client made and uploaded. When one does not and
// Options.FFmpeg names an ffmpeg program, the server makes a JPEG still of
// the video in the background after the post is stored, keeps it as a
// blob of its own (store.PosterStore) and serves it at
// /v1/blobs/{sha256}/poster; the public page shows it. Without ffmpeg
// nothing is made and nothing else changes.
//
// At most posterWorkers ffmpeg processes run at once, each bounded by
// posterTimeout; up to posterQueue videos wait, and a video posted while
// the queue is full gets no poster (it is logged). The workers exist only
// while there is work; StopPosters ends them.

const (
	posterWorkers  = 2
	posterQueue    = 64
	posterTimeout  = 60 * time.Second
	posterWidth    = 640     // pixels, at most; narrower videos keep theirs
	posterMaxBytes = 4 << 20 // of ffmpeg's output
	posterAt       = time.Second
	posterType     = "image/jpeg"
)

// Log keys of the poster maker.
const (
	logKeyVideo  = "video"
	logKeyPoster = "poster"
)

// posterJob asks for a still of the blob video, at offset into it.
type posterJob struct {
	video string
	at    time.Duration
}

// posterMaker is the Handler's queue of poster jobs; its zero value is
// ready (and makes nothing until a job is queued with an ffmpeg to run).
type posterMaker struct {
	mu      sync.Mutex // guards the fields below
	queue   []posterJob
	pending map[string]bool // videos queued or being made
	running int             // workers
	stopped bool
	ctx     context.Context // the workers'; cancelled by StopPosters
	cancel  context.CancelFunc

	workers sync.WaitGroup
}

// queuePosters queues a poster for each video of rec that names none, if
// the server makes posters.
func (h *Handler) queuePosters(rec *channel.Record) {
	if h.opts.FFmpeg == "" || h.opts.Blobs == nil {
		return
	}
	for _, d := range rec.Media {
		m, err := channel.ParseMedia(d)
		if err != nil || !m.IsVideo() || m.Poster != nil {
			continue
		}
		at := posterAt
		if d := time.Duration(m.DurationMS) * time.Millisecond / 10; d > 0 && d < at {
			at = d
		}
		h.queuePoster(posterJob{video: hex.EncodeToString(m.SHA256[:]), at: at})
	}
}

// queuePoster queues one job and starts a worker if fewer than
// posterWorkers run; it drops the job when the queue is full.
func (h *Handler) queuePoster(j posterJob) {
	p := &h.posters
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.stopped || p.pending[j.video]:
		return
	case len(p.queue) >= posterQueue:
		h.log.Warn("poster not made: the queue is full", logKeyVideo, j.video)
		return
	}
	if p.pending == nil {
		p.pending = map[string]bool{}
		p.ctx, p.cancel = context.WithCancel(context.Background())
	}
	p.pending[j.video] = true
	p.queue = append(p.queue, j)
	if p.running < posterWorkers {
		p.running++
		p.workers.Add(1)
		go h.posterWorker()
	}
}

// posterWorker makes the queued posters one by one and ends when the
// queue is empty or StopPosters is called.
func (h *Handler) posterWorker() {
	p := &h.posters
	defer p.workers.Done()
	var last string
	for {
		p.mu.Lock()
		delete(p.pending, last)
		if p.stopped || len(p.queue) == 0 {
			p.running--
			p.mu.Unlock()
			return
		}
		j := p.queue[0]
		p.queue = p.queue[1:]
		ctx := p.ctx
		p.mu.Unlock()

		last = j.video
		ctx, cancel := context.WithTimeout(ctx, posterTimeout)
		sum, err := h.makePoster(ctx, j)
		cancel()
		switch {
		case err != nil:
			h.log.Warn("poster not made", logKeyVideo, j.video, logKeyError, err.Error())
		case sum != "":
			h.log.Info("poster made", logKeyVideo, j.video, logKeyPoster, sum)
		}
	}
}

// StopPosters stops making posters: it drops the queue, kills the ffmpeg
// processes running and waits for the workers to end. The server calls it
// as it shuts down, before it closes the store.
func (h *Handler) StopPosters() {
	p := &h.posters
	p.mu.Lock()
	p.stopped = true
	p.queue = nil
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	p.workers.Wait()
}

// makePoster makes, stores and records the poster of one video, unless it
// has one; it returns the poster's SHA-256, or "" if there was nothing to do.
func (h *Handler) makePoster(ctx context.Context, j posterJob) (string, error) {
	if _, err := h.store.Poster(ctx, j.video); err == nil {
		return "", nil
	} else if !isNotFound(err) {
		return "", err
	}
	still, err := h.still(ctx, j)
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256(still)
	sum := hex.EncodeToString(digest[:])
	// File, then row, under the blob's lock, as an upload's commit does:
	// the sweep does not take the file for an orphan in between.
	unlock, err := h.media.blobs.lock(ctx, sum, nil, false)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := h.opts.Blobs.Create(ctx, sum, int64(len(still)), bytes.NewReader(still)); err != nil {
		return "", err
	}
	err = h.store.SetPoster(ctx, j.video, store.Blob{SHA256: sum, Size: int64(len(still)), ContentType: posterType, Created: h.opts.Now()})
	if errors.Is(err, store.ErrExists) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return sum, nil
}

// still runs ffmpeg on the video's bytes for a JPEG of the frame at j.at,
// or of the first frame if the video is shorter than that.
func (h *Handler) still(ctx context.Context, j posterJob) ([]byte, error) {
	f, _, err := h.opts.Blobs.Open(ctx, j.video)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := runFFmpeg(ctx, h.opts.FFmpeg, f, j.at)
	if err == nil && len(out) == 0 && j.at > 0 {
		// Shorter than that: the first frame.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		out, err = runFFmpeg(ctx, h.opts.FFmpeg, f, 0)
	}
	if err == nil && len(out) == 0 {
		err = errors.New("httpapi: ffmpeg found no frame in the video")
	}
	return out, err
}

// runFFmpeg writes one frame of the video read from in, at offset at and
// at most posterWidth wide, as a JPEG. It returns nothing, without error,
// when there is no frame there. A local blob (an *os.File) is given to
// ffmpeg as a file it can seek in, so that a video whose index comes after
// its frames works too; any other reader is piped.
func runFFmpeg(ctx context.Context, ffmpeg string, in io.Reader, at time.Duration) ([]byte, error) {
	input := "pipe:0"
	cmd := exec.CommandContext(ctx, ffmpeg)
	if f, ok := in.(*os.File); ok && runtime.GOOS == "linux" {
		cmd.ExtraFiles = []*os.File{f}
		input = "/dev/fd/3" // opened anew, from the start, by ffmpeg
	} else {
		cmd.Stdin = in
	}
	cmd.Args = append(cmd.Args, "-nostdin", "-hide_banner", "-loglevel", "error",
		"-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-i", input,
		"-map", "0:v:0", "-frames:v", "1", "-vf", "scale='min("+strconv.Itoa(posterWidth)+",iw)':-2",
		"-c:v", "mjpeg", "-q:v", "4", "-f", "image2pipe", "pipe:1")
	var out, stderr limitedBuffer
	out.max, stderr.max = posterMaxBytes, 1024
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("httpapi: ffmpeg: %w", ctx.Err())
		}
		return nil, fmt.Errorf("httpapi: ffmpeg: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	b := out.Bytes()
	if len(b) > 0 && !bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}) {
		return nil, errors.New("httpapi: ffmpeg wrote something that is not a JPEG")
	}
	return b, nil
}

// limitedBuffer keeps up to max bytes and fails the write past them.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errors.New("output too long")
	}
	return b.Buffer.Write(p)
}

// getPoster is GET and HEAD /v1/blobs/{sha256}/poster: the poster the
// server made of that video, served as the blob it is (getBlob); 404 until
// it is made, and for ever on a server without ffmpeg.
func (h *Handler) getPoster(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Blobs == nil {
		return errNoMedia
	}
	sum := r.PathValue("sha256")
	if !blob.ValidSum(sum) {
		return errNotFound
	}
	p, err := h.store.Poster(r.Context(), sum)
	if err != nil {
		return err
	}
	r.SetPathValue("sha256", p.SHA256)
	return h.getBlob(w, r)
}

// madePoster is the URL of the poster the server made of a video for the
// public page, or "" if it has made none.
func (h *Handler) madePoster(ctx context.Context, base string, video [32]byte) string {
	if _, err := h.store.Poster(ctx, hex.EncodeToString(video[:])); err != nil {
		if !isNotFound(err) {
			h.log.Warn("poster lookup", logKeyError, err.Error())
		}
		return ""
	}
	return blobURL(base, video) + "/poster"
}
