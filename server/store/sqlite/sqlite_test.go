package sqlite

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/server/store"
	"github.com/parley-chat/parley/server/store/storetest"
)

// openFile opens the store at path for t.
func openFile(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// openTemp is storetest's Open: a new database file in t.TempDir(), closed
// in t.Cleanup.
func openTemp(t *testing.T) (store.Store, func() store.Store) {
	path := filepath.Join(t.TempDir(), "parley.db")
	cur := openFile(t, path)
	t.Cleanup(func() {
		if err := cur.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	reopen := func() store.Store {
		if err := cur.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		cur = openFile(t, path)
		return cur
	}
	return cur, reopen
}

func TestConformance(t *testing.T) {
	storetest.Run(t, openTemp)
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	s := openFile(t, path)
	if _, err := s.wconn.ExecContext(t.Context(), "UPDATE schema_version SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), path, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
	}
}

func TestReopenKeepsSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	for range 2 {
		s := openFile(t, path)
		var v int
		if err := s.rdb.QueryRowContext(t.Context(), "SELECT version FROM schema_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		if v != len(ms) {
			t.Fatalf("schema version %d, want %d", v, len(ms))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
