package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/parley-chat/parley/server/store"
)

// Group commit. Every write goes to one goroutine, the writer, which owns the
// single write connection. It takes every request waiting (up to maxBatch
// requests or maxBatchBytes of payload), runs each inside a SAVEPOINT of one
// transaction, and commits them with one fsync. A request that fails rolls
// back to its savepoint and fails alone; the others commit. The batch forms by
// itself: requests that arrive while a commit is syncing are the next batch,
// so there is no timer and an idle store commits a lone request at once.
const (
	maxBatch      = 512
	maxBatchBytes = 4 << 20
)

// Request states. A caller whose ctx ends abandons a queued request (the
// writer then skips it); once the writer has taken it, the caller waits for
// the writer to be done with its arguments (processed) before returning, so
// no request outlives its caller's ownership of what it reads and writes.
const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// request is one unit of work for the writer.
type request struct {
	ctx   context.Context // the caller's: checked before run, never passed to SQL
	size  int             // payload bytes, for the batch bound
	run   func(*wtx) error
	state atomic.Int32

	err       error         // run's result, or the batch's; read after done
	committed func()        // if set, called by the writer once the request has committed
	processed chan struct{} // closed when the writer no longer reads run's captures
	done      chan error    // buffered; the outcome after commit
}

// wtx is what a request's run function writes with: the writer connection
// inside the batch transaction, and the writer's prepared statements. Its
// ctx is the store's own, never a caller's, so that a cancelled caller
// cannot interrupt a statement of the shared transaction.
type wtx struct {
	ctx  context.Context
	conn *sql.Conn
	st   *writeStmts
}

func (t *wtx) exec(query string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(t.ctx, query, args...)
}

func (t *wtx) queryRow(query string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(t.ctx, query, args...)
}

func (t *wtx) query(query string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(t.ctx, query, args...)
}

// writer owns the write connection and the goroutine that batches requests.
type writer struct {
	log *slog.Logger
	tx  wtx

	// mu guards closed and the sends on reqs: a sender holds it shared,
	// Close exclusively, so reqs is never closed under a sender.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request

	stopped chan struct{} // closed when the goroutine has returned

	batches atomic.Uint64 // transactions committed or failed, for tests and metrics
}

func newWriter(log *slog.Logger, conn *sql.Conn, st *writeStmts) *writer {
	w := &writer{
		log:     log,
		tx:      wtx{ctx: context.Background(), conn: conn, st: st},
		reqs:    make(chan *request, maxBatch),
		stopped: make(chan struct{}),
	}
	go w.loop()
	return w
}

// do runs fn in the writer and returns once its batch has committed (nil or
// fn's error), or with ctx.Err() once ctx ends. In the latter case fn has
// either never run, or may still commit: callers must say which they can
// live with.
func (w *writer) do(ctx context.Context, size int, fn func(*wtx) error) error {
	return w.doThen(ctx, size, fn, nil)
}

// doThen is do with a function the writer calls right after the request
// commits, before the caller hears of it.
func (w *writer) doThen(ctx context.Context, size int, fn func(*wtx) error, committed func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{
		ctx:       ctx,
		size:      size,
		run:       fn,
		committed: committed,
		processed: make(chan struct{}),
		done:      make(chan error, 1),
	}
	if err := w.send(ctx, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
	}
	if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
		return ctx.Err()
	}
	<-r.processed
	select {
	case err := <-r.done: // committed (or failed) already: say so
		return err
	default:
		return ctx.Err()
	}
}

func (w *writer) send(ctx context.Context, r *request) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return store.ErrClosed
	}
	select {
	case w.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops taking requests, lets the goroutine finish everything already
// queued, and waits for it to return.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.reqs)
	}
	w.mu.Unlock()
	<-w.stopped
}

func (w *writer) loop() {
	defer close(w.stopped)
	batch := make([]*request, 0, maxBatch)
	for {
		r, ok := <-w.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		size := r.size
	drain:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				size += r.size
			default:
				break drain
			}
		}
		w.commit(batch)
		w.batches.Add(1)
		clear(batch) // let the requests be collected
	}
}

// commit runs a batch in one transaction and replies to every request.
func (w *writer) commit(batch []*request) {
	t := &w.tx
	err := execStmt(t, t.st.begin)
	for i, r := range batch {
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			batch[i] = nil // abandoned: the caller is gone
			continue
		}
		if err == nil {
			err = w.runOne(r)
		}
		if err != nil {
			r.err = err // the transaction is unusable: fail the rest
		}
		close(r.processed)
	}
	if err == nil {
		err = execStmt(t, t.st.commit)
	}
	if err != nil {
		// Roll back whatever is left of the transaction; the error is
		// expected when SQLite has already rolled it back itself.
		_ = execStmt(t, t.st.rollback)
		w.log.Error("sqlite: batch failed", logKeyErr, err, logKeyBatch, len(batch))
	}
	for _, r := range batch {
		if r == nil {
			continue
		}
		if err != nil && r.err == nil {
			r.err = err
		}
		if r.err == nil && r.committed != nil {
			r.committed()
		}
		r.done <- r.err
	}
}

// runOne runs one request inside its own savepoint. Its own failure is kept
// in r.err; the returned error means the whole transaction is lost.
func (w *writer) runOne(r *request) error {
	t := &w.tx
	if err := r.ctx.Err(); err != nil {
		r.err = err // gave up while queued: never run
		return nil
	}
	if err := execStmt(t, t.st.savepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	r.err = r.run(t)
	if r.err != nil {
		if err := execStmt(t, t.st.rollbackTo); err != nil {
			return fmt.Errorf("rollback to savepoint: %w", err)
		}
	}
	if err := execStmt(t, t.st.release); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

func execStmt(t *wtx, s *sql.Stmt) error {
	_, err := s.ExecContext(t.ctx)
	return err
}
