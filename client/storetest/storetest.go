// Package storetest is the conformance suite of client.Store backends
// (client/sqlitestore; the browser's IndexedDB store runs it too): what
// the SDK relies on of a store, each a subtest. A backend's test calls
// Run with a function that opens its store, new or again, at one place.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/parley-chat/parley/client"
)

// Open opens the store under test at one place: the first call makes it,
// later calls after a Close open what it holds.
type Open func(t *testing.T) client.Store

// Run runs every case; each gets a fresh place from newPlace.
func Run(t *testing.T, newPlace func(t *testing.T) Open) {
	cases := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"Rollback", testRollback},
		{"Scan", testScan},
		{"ScanWhileWriting", testScanWhileWriting},
		{"Page", testPage},
		{"Values", testValues},
		{"Concurrent", testConcurrent},
		{"Reopen", testReopen},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newPlace(t)) })
	}
}

func open(t *testing.T, o Open) client.Store {
	t.Helper()
	s := o(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func update(t *testing.T, s client.Store, fn func(client.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s client.Store, bucket, key string) ([]byte, error) {
	t.Helper()
	var v []byte
	err := s.View(context.Background(), func(tx client.Tx) error {
		var err error
		v, err = tx.Get(bucket, key)
		return err
	})
	return v, err
}

func testGetPutDelete(t *testing.T, o Open) {
	s := open(t, o)
	if _, err := get(t, s, "b", "k"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("a missing key: %v, want ErrNotFound", err)
	}
	update(t, s, func(tx client.Tx) error {
		if err := tx.Put("b", "k", []byte("one")); err != nil {
			return err
		}
		if v, err := tx.Get("b", "k"); err != nil || string(v) != "one" {
			return fmt.Errorf("a transaction's own write: %q, %v", v, err)
		}
		return tx.Put("b", "k", []byte("two"))
	})
	if v, err := get(t, s, "b", "k"); err != nil || string(v) != "two" {
		t.Fatalf("after an overwrite: %q, %v", v, err)
	}
	if _, err := get(t, s, "other", "k"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the same key in another bucket: %v, want ErrNotFound", err)
	}
	update(t, s, func(tx client.Tx) error {
		if err := tx.Delete("b", "k"); err != nil {
			return err
		}
		return tx.Delete("b", "never there")
	})
	if _, err := get(t, s, "b", "k"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("after a delete: %v, want ErrNotFound", err)
	}
}

func testRollback(t *testing.T, o Open) {
	s := open(t, o)
	update(t, s, func(tx client.Tx) error { return tx.Put("b", "kept", []byte("v")) })
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx client.Tx) error {
		if err := tx.Put("b", "new", []byte("x")); err != nil {
			return err
		}
		if err := tx.Delete("b", "kept"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the function's error", err)
	}
	if _, err := get(t, s, "b", "new"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("a write of a failed transaction stayed: %v", err)
	}
	if v, err := get(t, s, "b", "kept"); err != nil || string(v) != "v" {
		t.Fatalf("a delete of a failed transaction stayed: %q, %v", v, err)
	}
}

func testScan(t *testing.T, o Open) {
	s := open(t, o)
	keys := []string{"m/0002/bob", "m/0001/carol", "m", "m0", "m/", "m/~", "n/0001", "l/9999", "M/0001", "m/0001/bob"}
	update(t, s, func(tx client.Tx) error {
		for _, k := range keys {
			if err := tx.Put("outbox", k, []byte("v:"+k)); err != nil {
				return err
			}
		}
		return tx.Put("other", "m/0000", []byte("another bucket"))
	})
	scan := func(prefix string) []string {
		var got []string
		if err := s.View(context.Background(), func(tx client.Tx) error {
			return tx.Scan("outbox", prefix, func(k string, v []byte) error {
				if string(v) != "v:"+k {
					t.Errorf("%q holds %q", k, v)
				}
				got = append(got, k)
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := scan("m/"), []string{"m/", "m/0001/bob", "m/0001/carol", "m/0002/bob", "m/~"}; !slices.Equal(got, want) {
		t.Fatalf("scan of m/ = %q, want %q", got, want)
	}
	all := slices.Clone(keys)
	slices.Sort(all)
	if got := scan(""); !slices.Equal(got, all) {
		t.Fatalf("scan of the bucket = %q, want %q", got, all)
	}
	if got := scan("zz"); len(got) != 0 {
		t.Fatalf("scan of a prefix no key has = %q", got)
	}
	stop := errors.New("stop")
	n := 0
	err := s.View(context.Background(), func(tx client.Tx) error {
		return tx.Scan("outbox", "", func(string, []byte) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("a scan whose function fails: %v after %d keys, want the error after 2", err, n)
	}
}

// testScanWhileWriting: the keys of a scan are read before its function
// first runs, so the function may write to the bucket it scans.
func testScanWhileWriting(t *testing.T, o Open) {
	s := open(t, o)
	update(t, s, func(tx client.Tx) error {
		for _, k := range []string{"a", "b", "c"} {
			if err := tx.Put("b", k, []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	var seen []string
	update(t, s, func(tx client.Tx) error {
		return tx.Scan("b", "", func(k string, _ []byte) error {
			seen = append(seen, k)
			if err := tx.Delete("b", k); err != nil {
				return err
			}
			return tx.Put("b", k+"+", []byte("new"))
		})
	})
	if !slices.Equal(seen, []string{"a", "b", "c"}) {
		t.Fatalf("scanned %q while rewriting, want a, b, c once each", seen)
	}
	var after []string
	s.View(context.Background(), func(tx client.Tx) error {
		return tx.Scan("b", "", func(k string, _ []byte) error { after = append(after, k); return nil })
	})
	if !slices.Equal(after, []string{"a+", "b+", "c+"}) {
		t.Fatalf("after: %q", after)
	}
}

// testPage: a backend with client.Pager gives every key of a prefix once,
// in order, a page at a time, and nothing outside the prefix.
func testPage(t *testing.T, o Open) {
	s := open(t, o)
	var want []string
	update(t, s, func(tx client.Tx) error {
		for i := range 25 {
			k := fmt.Sprintf("p/%03d", i)
			want = append(want, k)
			if err := tx.Put("b", k, []byte(k)); err != nil {
				return err
			}
		}
		for _, k := range []string{"o/999", "p", "q/000"} {
			if err := tx.Put("b", k, nil); err != nil {
				return err
			}
		}
		return tx.Put("other", "p/000", nil)
	})
	err := s.View(context.Background(), func(tx client.Tx) error {
		pg, ok := tx.(client.Pager)
		if !ok {
			t.Skip("the backend has no Pager")
		}
		var got []string
		after := ""
		for {
			n := 0
			if err := pg.Page("b", "p/", after, 4, func(k string, v []byte) error {
				if string(v) != k {
					t.Errorf("%q holds %q", k, v)
				}
				got, after, n = append(got, k), k, n+1
				return nil
			}); err != nil {
				return err
			}
			if n > 4 {
				t.Fatalf("a page of %d keys, limit 4", n)
			}
			if n < 4 {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages gave %q, want %q", got, want)
		}
		// A page from inside the range, and one after a key before it.
		var from []string
		pg.Page("b", "p/", "p/020", 10, func(k string, _ []byte) error { from = append(from, k); return nil })
		if !slices.Equal(from, want[21:]) {
			t.Fatalf("after p/020: %q", from)
		}
		from = nil
		pg.Page("b", "p/", "o/999", 2, func(k string, _ []byte) error { from = append(from, k); return nil })
		if !slices.Equal(from, want[:2]) {
			t.Fatalf("after a key before the prefix: %q", from)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testValues(t *testing.T, o Open) {
	s := open(t, o)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte{0xA5}, 1<<20)
	update(t, s, func(tx client.Tx) error {
		if err := tx.Put("b", "bytes", all); err != nil {
			return err
		}
		if err := tx.Put("b", "big", big); err != nil {
			return err
		}
		return tx.Put("b", "empty", nil)
	})
	if v, err := get(t, s, "b", "bytes"); err != nil || !bytes.Equal(v, all) {
		t.Fatalf("every byte value: %x, %v", v, err)
	}
	if v, err := get(t, s, "b", "big"); err != nil || !bytes.Equal(v, big) {
		t.Fatalf("1 MiB: %d bytes, %v", len(v), err)
	}
	if v, err := get(t, s, "b", "empty"); err != nil || len(v) != 0 {
		t.Fatalf("an empty value: %q, %v; want present and empty", v, err)
	}
}

// testConcurrent: Updates from many goroutines are serializable: a
// read-modify-write counter loses no increment.
func testConcurrent(t *testing.T, o Open) {
	s := open(t, o)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := s.Update(context.Background(), func(tx client.Tx) error {
					v, err := tx.Get("b", "n")
					if err != nil && !errors.Is(err, client.ErrNotFound) {
						return err
					}
					return tx.Put("b", "n", append(v, 1))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, err := get(t, s, "b", "n"); err != nil || len(v) != workers*each {
		t.Fatalf("counter %d, want %d (%v)", len(v), workers*each, err)
	}
}

func testReopen(t *testing.T, o Open) {
	s := o(t)
	update(t, s, func(tx client.Tx) error { return tx.Put("b", "k", []byte("durable")) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, o)
	if v, err := get(t, s2, "b", "k"); err != nil || string(v) != "durable" {
		t.Fatalf("after reopening: %q, %v", v, err)
	}
}
