package local

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server/blob"
	"github.com/parley-chat/parley/server/blob/blobtest"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) (blob.Store, func() blob.Store) {
		dir := filepath.Join(t.TempDir(), "blobs")
		return open(t, dir), func() blob.Store { return open(t, dir) }
	})
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestLayout: a blob is a private file at ab/cd/<digest>.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	b := []byte("layout")
	name := sum(b)
	if err := s.Create(t.Context(), name, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, name[:2], name[2:4], name))
	if err != nil {
		t.Fatalf("blob not at ab/cd/<digest>: %v", err)
	}
	if fi.Mode().Perm() != fileMode {
		t.Fatalf("blob mode %v, want %v", fi.Mode().Perm(), os.FileMode(fileMode))
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
		t.Fatalf("tmp/ holds %d files after Create", len(ents))
	}
}

// TestOpenEmptiesTmp: what a crash left in tmp/ is removed by Open, and is
// never listed as a blob.
func TestOpenEmptiesTmp(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	left := filepath.Join(dir, tmpDir, "create-123")
	if err := os.WriteFile(left, []byte("half a blob"), 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file survives Open: %v", err)
	}
}

// TestHashStateNotTrusted: a saved hash state that is garbled, torn or
// from another upload costs a rehash, never a wrong answer.
func TestHashStateNotTrusted(t *testing.T) {
	ctx := t.Context()
	s := open(t, t.TempDir())
	b := bytes.Repeat([]byte("0123456789"), 100_000)
	other := bytes.Repeat([]byte("abcdefghij"), 100_000)
	for name, damage := range map[string]func(id string){
		"garbled": func(id string) {
			st, _ := os.ReadFile(s.statePath(id))
			st[20] ^= 1
			os.WriteFile(s.statePath(id), st, 0o600)
		},
		"torn": func(id string) {
			st, _ := os.ReadFile(s.statePath(id))
			os.WriteFile(s.statePath(id), st[:len(st)/2], 0o600)
		},
		"another upload's": func(id string) {
			if _, err := s.Append(ctx, "other", 0, bytes.NewReader(other[:500_000])); err != nil {
				t.Fatal(err)
			}
			st, _ := os.ReadFile(s.statePath("other"))
			os.WriteFile(s.statePath(id), st, 0o600) // intact, but of other bytes
		},
		"missing": func(id string) { os.Remove(s.statePath(id)) },
	} {
		t.Run(name, func(t *testing.T) {
			id := "up-" + strings.ReplaceAll(strings.TrimSuffix(name, "'s"), " ", "-")
			if _, err := s.Append(ctx, id, 0, bytes.NewReader(b[:500_000])); err != nil {
				t.Fatal(err)
			}
			damage(id)
			if _, err := s.Append(ctx, id, 500_000, bytes.NewReader(b[500_000:])); err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(ctx, id, sum(b), int64(len(b))); err != nil {
				t.Fatalf("Commit with a %s hash state: %v", name, err)
			}
		})
	}
}
