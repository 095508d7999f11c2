package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/blob"
	"github.com/parley-chat/parley/server/store"
)

// Media (spec/api.md §10): resumable uploads of content-addressed blobs
// (uploads.go), blobs served by their SHA-256 (blobs.go), and the
// janitor's sweep of what expired (SweepMedia, below).
//
// The bytes live in a blob.Store (Options.Blobs), the metadata in the
// server store. Two kinds of lock keep the two in step within this process:
//
//   - one per upload ID, held by the PATCH writing it and by the sweep
//     deleting it, so an upload's bytes have one writer;
//   - one per blob SHA-256, held while a blob's bytes and its row change
//     together: committing an upload (file, then row) and the sweep
//     deleting an expired blob (row, then file).
//
// Lock order: an upload's lock before a blob's. Nothing holds two of a
// kind.

// Media defaults.
const (
	DefaultMaxUpload    = 2 << 30  // bytes per blob
	DefaultStorageQuota = 10 << 30 // bytes per account

	blobTTL    = 30 * 24 * time.Hour // a blob's life after its latest upload, unless retained
	uploadTTL  = 24 * time.Hour      // an upload's life after its creation or latest PATCH
	uploadIdle = 60 * time.Second    // a PATCH body may pause this long
	statusWait = 5 * time.Second     // HEAD/GET of an upload waits this long for a PATCH in flight

	sweepBatch  = 500
	orphanEvery = 24 * time.Hour // how often the sweep looks for files without rows
)

var (
	errNoMedia = apiError(http.StatusServiceUnavailable, api.CodeUnavailable, "This server stores no media.")
	errQuota   = apiError(http.StatusRequestEntityTooLarge, api.CodeQuotaExceeded,
		"The upload would take the account past its storage quota.")
	errDigest = apiError(http.StatusUnprocessableEntity, api.CodeDigestMismatch,
		"The uploaded bytes do not have the SHA-256 the upload named; the upload is discarded.")
	errStopping = apiError(http.StatusServiceUnavailable, api.CodeUnavailable,
		"The server is shutting down; resume the upload shortly.")
)

// media is the Handler's media state; its zero value is ready.
type media struct {
	uploads keyedLocks
	blobs   keyedLocks

	mu         sync.Mutex // guards the fields below
	stopping   bool       // StopUploads was called
	lastOrphan time.Time  // the sweep's last look for orphaned files
}

func (h *Handler) maxUpload() int64 {
	if h.opts.MaxUpload > 0 {
		return h.opts.MaxUpload
	}
	return DefaultMaxUpload
}

func (h *Handler) storageQuota() int64 {
	if h.opts.StorageQuota > 0 {
		return h.opts.StorageQuota
	}
	return DefaultStorageQuota
}

// StopUploads makes every PATCH in flight stop reading its body, keep what
// it has written and answer 503, and refuses new ones. The server calls it
// as its shutdown begins, so that an upload does not hold the shutdown up.
func (h *Handler) StopUploads() {
	h.media.mu.Lock()
	h.media.stopping = true
	h.media.mu.Unlock()
	h.media.uploads.interruptAll()
}

func (h *Handler) uploadsStopping() bool {
	h.media.mu.Lock()
	defer h.media.mu.Unlock()
	return h.media.stopping
}

// keyedLocks is a set of mutexes by name. A holder may leave a function
// that makes it let go soon (interrupt); a waiter may call it.
type keyedLocks struct {
	mu   sync.Mutex
	held map[string]*holder
}

type holder struct {
	done        chan struct{} // closed on unlock
	interrupt   func()        // nil if the holder cannot be interrupted
	interrupted bool
}

// lock takes the lock of key, waiting for the holder until ctx ends. With
// preempt, it first interrupts the holder.
func (k *keyedLocks) lock(ctx context.Context, key string, interrupt func(), preempt bool) (unlock func(), err error) {
	for {
		k.mu.Lock()
		cur := k.held[key]
		if cur == nil {
			unlock := k.take(key, interrupt)
			k.mu.Unlock()
			return unlock, nil
		}
		stop := preempt && cur.interrupt != nil && !cur.interrupted
		if stop {
			cur.interrupted = true
		}
		k.mu.Unlock()
		if stop {
			cur.interrupt()
		}
		select {
		case <-cur.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// tryLock takes the lock of key if nobody holds it.
func (k *keyedLocks) tryLock(key string) (unlock func(), ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.held[key] != nil {
		return nil, false
	}
	return k.take(key, nil), true
}

// take records a new holder of key; the caller holds k.mu and has seen
// that nobody holds key.
func (k *keyedLocks) take(key string, interrupt func()) (unlock func()) {
	if k.held == nil {
		k.held = map[string]*holder{}
	}
	me := &holder{done: make(chan struct{}), interrupt: interrupt}
	k.held[key] = me
	return func() {
		k.mu.Lock()
		delete(k.held, key)
		k.mu.Unlock()
		close(me.done)
	}
}

// wait returns once nobody holds key's lock, or ctx ends.
func (k *keyedLocks) wait(ctx context.Context, key string) {
	k.mu.Lock()
	cur := k.held[key]
	k.mu.Unlock()
	if cur == nil {
		return
	}
	select {
	case <-cur.done:
	case <-ctx.Done():
	}
}

// interruptAll interrupts every holder that can be.
func (k *keyedLocks) interruptAll() {
	k.mu.Lock()
	var fns []func()
	for _, hd := range k.held {
		if hd.interrupt != nil && !hd.interrupted {
			hd.interrupted = true
			fns = append(fns, hd.interrupt)
		}
	}
	k.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// mediaMetrics are the media collectors (spec/api.md §9).
type mediaMetrics struct {
	uploadBytes prometheus.Counter
	blobsStored *prometheus.CounterVec // by how: storedUploaded, storedDeduplicated
}

// How a blob came to be stored for an account.
const (
	storedUploaded     = "uploaded"
	storedDeduplicated = "deduplicated"
)

func newMediaMetrics(reg prometheus.Registerer) mediaMetrics {
	m := mediaMetrics{
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_upload_bytes_total", Help: "Bytes of uploads received and made durable."}),
		blobsStored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_blobs_stored_total", Help: "Blobs stored for an account, uploaded or found stored already."}, []string{"how"}),
	}
	if reg != nil {
		reg.MustRegister(m.uploadBytes, m.blobsStored)
	}
	return m
}

// SweepStats is what one SweepMedia pass deleted.
type SweepStats struct {
	Uploads int // expired uploads in progress, with their bytes
	Blobs   int // expired blobs, with their bytes
	Orphans int // files with no row: left by a crash between the two
}

// SweepMedia is the janitor's media pass at now: it deletes uploads in
// progress and blobs that have expired, bytes and rows, and once a day
// (and on the first pass) files whose rows are gone. An upload being
// written is skipped; its PATCH moves its expiry on.
func (h *Handler) SweepMedia(ctx context.Context, now time.Time) (SweepStats, error) {
	var st SweepStats
	if h.opts.Blobs == nil {
		return st, nil
	}
	if err := h.sweepUploads(ctx, now, &st); err != nil {
		return st, err
	}
	if err := h.sweepBlobs(ctx, now, &st); err != nil {
		return st, err
	}
	h.media.mu.Lock()
	due := h.media.lastOrphan.IsZero() || now.Sub(h.media.lastOrphan) >= orphanEvery
	if due {
		h.media.lastOrphan = now
	}
	h.media.mu.Unlock()
	if due {
		return st, h.sweepOrphans(ctx, &st)
	}
	return st, nil
}

func (h *Handler) sweepUploads(ctx context.Context, now time.Time, st *SweepStats) error {
	for {
		ids, err := h.store.ExpiredUploads(ctx, now, sweepBatch)
		if err != nil {
			return err
		}
		dropped := 0
		for _, id := range ids {
			unlock, ok := h.media.uploads.tryLock(id)
			if !ok {
				continue // being written
			}
			gone, err := h.dropExpiredUpload(ctx, id, now)
			unlock()
			if err != nil {
				return err
			}
			if gone {
				dropped++
			}
		}
		st.Uploads += dropped
		if len(ids) < sweepBatch || dropped == 0 {
			return nil
		}
	}
}

// dropExpiredUpload deletes an upload and its bytes if it is still
// expired at now; the caller holds its lock.
func (h *Handler) dropExpiredUpload(ctx context.Context, id string, now time.Time) (bool, error) {
	u, err := h.store.Upload(ctx, id)
	if err == nil && u.Expires.After(now) {
		return false, nil // a PATCH moved it on meanwhile
	}
	if err != nil && !isNotFound(err) {
		return false, err
	}
	if err == nil {
		if err := h.store.DeleteUpload(ctx, id); err != nil && !isNotFound(err) {
			return false, err
		}
	}
	if err := h.opts.Blobs.Abort(ctx, id); err != nil {
		return false, err
	}
	return true, nil
}

func (h *Handler) sweepBlobs(ctx context.Context, now time.Time, st *SweepStats) error {
	for {
		sums, err := h.store.ExpiredBlobs(ctx, now, sweepBatch)
		if err != nil {
			return err
		}
		deleted := 0
		for _, sum := range sums {
			ok, err := h.deleteExpiredBlob(ctx, sum, now)
			if err != nil {
				return err
			}
			if ok {
				deleted++
			}
		}
		st.Blobs += deleted
		if len(sums) < sweepBatch || deleted == 0 {
			return nil
		}
	}
}

// deleteExpiredBlob deletes a blob's row if it is still expired at now,
// then its bytes, under the blob's lock.
func (h *Handler) deleteExpiredBlob(ctx context.Context, sum string, now time.Time) (bool, error) {
	unlock, err := h.media.blobs.lock(ctx, sum, nil, false)
	if err != nil {
		return false, err
	}
	defer unlock()
	if err := h.store.DeleteExpiredBlob(ctx, sum, now); isNotFound(err) {
		return false, nil // retained or uploaded again meanwhile
	} else if err != nil {
		return false, err
	}
	if err := h.opts.Blobs.Delete(ctx, sum); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return false, err
	}
	return true, nil
}

// sweepOrphans deletes blob files without a row and partial uploads
// without one: what a crash between a file change and its row change
// leaves behind.
func (h *Handler) sweepOrphans(ctx context.Context, st *SweepStats) error {
	for info, err := range h.opts.Blobs.List(ctx) {
		if err != nil {
			return err
		}
		orphan, err := h.deleteOrphanBlob(ctx, info.SHA256)
		if err != nil {
			return err
		}
		if orphan {
			st.Orphans++
		}
	}
	for p, err := range h.opts.Blobs.Partials(ctx) {
		if err != nil {
			return err
		}
		unlock, ok := h.media.uploads.tryLock(p.ID)
		if !ok {
			continue
		}
		_, err := h.store.Upload(ctx, p.ID)
		if isNotFound(err) {
			err = h.opts.Blobs.Abort(ctx, p.ID)
			st.Orphans++
		}
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) deleteOrphanBlob(ctx context.Context, sum string) (bool, error) {
	unlock, err := h.media.blobs.lock(ctx, sum, nil, false)
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := h.store.Blob(ctx, sum); !isNotFound(err) {
		return false, err
	}
	if err := h.opts.Blobs.Delete(ctx, sum); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return false, err
	}
	return true, nil
}

// uploadStatus is the api.UploadStatus of an upload in progress.
func uploadStatus(u store.Upload) api.UploadStatus {
	return api.UploadStatus{ID: u.ID, Offset: u.Offset, Size: u.Size, Expires: u.Expires.UnixMilli()}
}

// blobStatus is the api.UploadStatus of a stored blob.
func blobStatus(id string, b store.Blob) api.UploadStatus {
	s := api.UploadStatus{ID: id, Offset: b.Size, Size: b.Size, Complete: true, Blob: b.SHA256}
	if !b.Expires.IsZero() {
		s.Expires = b.Expires.UnixMilli()
	}
	return s
}
