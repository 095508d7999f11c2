package sqlitestore

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/storetest"
)

// TestScan: a scan gives exactly the keys of its bucket that start with
// the prefix, in byte order, with their values, and reads them from the
// primary key's index: SQLite's plan has no sort of its own.
func TestScan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys := []string{"m/0002/bob", "m/0001/carol", "m", "m0", "m/", "m/\x7f", "n/0001", "l/9999", "M/0001", "m/0001/bob"}
	if err := s.Update(ctx, func(tx client.Tx) error {
		for _, k := range keys {
			if err := tx.Put("outbox", k, []byte("v:"+k)); err != nil {
				return err
			}
		}
		return tx.Put("other", "m/0000", []byte("another bucket"))
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.View(ctx, func(tx client.Tx) error {
		return tx.Scan("outbox", "m/", func(k string, v []byte) error {
			if string(v) != "v:"+k {
				t.Errorf("%q holds %q", k, v)
			}
			got = append(got, k)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"m/", "m/0001/bob", "m/0001/carol", "m/0002/bob", "m/\x7f"}; !slices.Equal(got, want) {
		t.Fatalf("scan of m/ = %q, want %q", got, want)
	}
	var plan []string
	rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sqlScan, "outbox", "m/", "m/\xff")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	p := strings.Join(plan, "; ")
	if !strings.Contains(p, "PRIMARY KEY") || strings.Contains(p, "TEMP B-TREE") {
		t.Fatalf("scan plan %q: want a search of the primary key and no sort", p)
	}
}

// TestPage: pages after a key give every key of the bucket once, in
// order, and no other bucket's.
func TestPage(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []string
	if err := s.Update(ctx, func(tx client.Tx) error {
		for i := range 10 {
			k := strings.Repeat("k", i+1)
			want = append(want, k)
			if err := tx.Put("msg", k, []byte(k)); err != nil {
				return err
			}
		}
		return tx.Put("other", "a", nil)
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.View(ctx, func(tx client.Tx) error {
		after := ""
		for {
			n := 0
			if err := tx.(client.Pager).Page("msg", "", after, 3, func(k string, v []byte) error {
				if string(v) != k {
					t.Errorf("%q holds %q", k, v)
				}
				got, after, n = append(got, k), k, n+1
				return nil
			}); err != nil || n < 3 {
				return err
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages gave %q, want %q", got, want)
	}
}

// TestConformance runs the client store conformance suite.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Open {
		path := filepath.Join(t.TempDir(), "store.db")
		return func(t *testing.T) client.Store {
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
