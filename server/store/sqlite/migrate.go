package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// The schema is a list of forward-only migrations, embedded in the binary and
// applied by the few dozen lines below. A migration library (goose and the
// like) would bring a dependency tree, a CLI and up/down machinery that an
// embedded, single-process database does not need: the whole job is to run
// numbered .sql files in order, each in a transaction with its version bump.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by Open for a database written by a newer
// parleyd, whose schema this one does not know.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this program")

// migration is one numbered schema step, from migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order, checking that
// they are numbered 1, 2, 3, ... without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: no version number", base)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate brings the database on conn to the newest schema, one migration
// per transaction, and refuses a database from a newer schema. It returns the
// versions before and after.
func migrate(ctx context.Context, conn *sql.Conn) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	from = -1
	for {
		before, after, err := migrateOne(ctx, conn, ms)
		if err != nil {
			return 0, 0, err
		}
		if from < 0 {
			from = before
		}
		if after == before {
			return from, after, nil
		}
	}
}

// migrateOne applies the migration after the database's current version, if
// there is one, and reports the database's version before and after. The
// version is read inside the write transaction, so two processes opening the
// same file cannot both apply a step.
func migrateOne(ctx context.Context, conn *sql.Conn, ms []migration) (before, after int, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, 0, err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return 0, 0, err
	}
	err = conn.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&before)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		before = 0
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_version (version) VALUES (0)"); err != nil {
			return 0, 0, err
		}
	case err != nil:
		return 0, 0, err
	}
	if before > len(ms) {
		return 0, 0, fmt.Errorf("%w: version %d, newest known %d", ErrSchemaTooNew, before, len(ms))
	}
	after = before
	if before < len(ms) {
		m := ms[before]
		if _, err := conn.ExecContext(ctx, m.sql); err != nil {
			return 0, 0, fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := conn.ExecContext(ctx, "UPDATE schema_version SET version = ?", m.version); err != nil {
			return 0, 0, err
		}
		after = m.version
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, 0, err
	}
	return before, after, nil
}
