// Package sqlite is parleyd's embedded default store: a store.Store in one
// SQLite file, through the pure-Go driver modernc.org/sqlite.
//
// The database runs in WAL mode with synchronous=FULL, so a method that
// returns nil has had its transaction fsync'd. Writes go through one writer
// goroutine that owns the only write connection and commits every request
// waiting in one transaction (group commit, see writer.go): this is what lets
// many concurrent Enqueue calls share an fsync. Reads use a separate pool of
// query-only connections, which WAL lets run beside the writer.
//
// The schema is applied by embedded, forward-only migrations (migrate.go);
// Open refuses a database whose schema is newer than the program.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"time"

	moderncsqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/parley-chat/parley/server/store"
)

// Log keys.
const (
	logKeyErr   = "err"
	logKeyPath  = "path"
	logKeyFrom  = "from_version"
	logKeyTo    = "to_version"
	logKeyBatch = "batch"
)

const (
	defaultReadConns = 4
	busyTimeout      = 5 * time.Second
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	Logger *slog.Logger // nil discards
	// ReadConns is the size of the read-only connection pool; 0 means 4.
	ReadConns int
	// OnEnqueue, if set, is called with the envelopes (Seqs set) of every
	// Enqueue right after they commit, from the writer goroutine, in
	// commit order — so, for any one device, in Seq order. It must not
	// block. The slice is new for each call and the hook may keep it.
	OnEnqueue func([]store.Envelope)
}

// Store is a store.Store in one SQLite database file.
type Store struct {
	log       *slog.Logger
	closed    atomic.Bool
	onEnqueue func([]store.Envelope)

	w      *writer
	wdb    *sql.DB // one connection, owned by w
	wconn  *sql.Conn
	wstmts *writeStmts
	rdb    *sql.DB // query-only pool
	rstmts *readStmts
}

var _ store.Store = (*Store)(nil)

// Open opens the database at path, creating it if needed, and migrates it to
// the newest schema.
func Open(ctx context.Context, path string, opts Options) (_ *Store, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = defaultReadConns
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s := &Store{log: log, onEnqueue: opts.OnEnqueue}
	defer func() {
		if err != nil {
			s.closeDBs()
		}
	}()

	// The writer: one connection, which the writer goroutine keeps for the
	// life of the store so that its prepared statements stay prepared.
	s.wdb, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wconn, err = s.wdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if mode != "wal" {
		return nil, fmt.Errorf("sqlite: open: journal mode is %q, not wal", mode)
	}
	from, to, err := migrate(ctx, s.wconn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", err)
	}
	if from != to {
		log.Info("sqlite: migrated", logKeyPath, abs, logKeyFrom, from, logKeyTo, to)
	}
	s.wstmts, err = prepareWrite(ctx, s.wconn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	s.rdb, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.rdb.SetMaxOpenConns(readConns)
	s.rdb.SetMaxIdleConns(readConns)
	s.rstmts, err = prepareRead(ctx, s.rdb)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	s.w = newWriter(log, s.wconn, s.wstmts)
	return s, nil
}

// dsn is the driver's name for the database at the absolute path abs, with
// the pragmas every connection runs as it opens: WAL, synchronous=FULL (a
// commit is fsync'd), foreign keys, and a busy timeout for the rare lock
// wait (another process, a checkpoint). The writer begins its transactions
// IMMEDIATE; readers are query_only.
func dsn(abs string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(FULL)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(ON)")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// Close lets the writer commit every request already queued, then closes
// the database. Every call after it, Close included, returns store.ErrClosed.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return store.ErrClosed
	}
	s.w.close()
	if err := s.closeDBs(); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// closeDBs closes whatever Open got to open, writer last so that its close
// checkpoints the WAL into the database file.
func (s *Store) closeDBs() error {
	var errs []error
	if s.rstmts != nil {
		errs = append(errs, s.rstmts.close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.wstmts != nil {
		errs = append(errs, s.wstmts.close())
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	return errors.Join(errs...)
}

// write runs fn in a batch of the writer (see writer.do) and names op in
// its error.
func (s *Store) write(ctx context.Context, op string, size int, fn func(*wtx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := s.w.do(ctx, size, fn); err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// wrap names op in err, and turns the errors of a store closed under a
// running call into store.ErrClosed.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() && !errors.Is(err, store.ErrClosed) && !isSentinel(err) {
		err = store.ErrClosed
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// readable reports store.ErrClosed for a closed store.
func (s *Store) readable(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrClosed)
	}
	return nil
}

func isSentinel(err error) bool {
	for _, e := range []error{
		store.ErrNotFound, store.ErrExists, store.ErrUsernameTaken, store.ErrTooManyDevices,
		store.ErrQueueFull, store.ErrTokenInvalid, store.ErrNoSignedPreKey,
		store.ErrNoKEMPreKey, store.ErrInviteRequired, store.ErrProvisionExists,
		store.ErrQuotaExceeded, store.ErrOffsetMismatch,
		store.ErrRecoveryInvalid, store.ErrHandleTaken, context.Canceled, context.DeadlineExceeded,
		store.ErrNotOwner, store.ErrTooManyLinks, store.ErrStaleVersion,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sqliteCode is the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var e *moderncsqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// Times are stored as unix milliseconds.
func toMillis(t time.Time) int64    { return t.UnixMilli() }
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms) }

// stamp is a creation time as stored: t, or now if t is zero, to the
// millisecond.
func stamp(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return fromMillis(toMillis(t))
}

// hash32 copies a 32-byte column into an array.
func hash32(b []byte) ([32]byte, error) {
	var h [32]byte
	if len(b) != len(h) {
		return h, fmt.Errorf("stored hash has %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}
