// Package blobtest is the conformance suite for blob.Store: every backend
// (the local files of server/blob/local, an S3 one later) runs Run from its
// own tests and must pass all of it. It tests the contract written on the
// Store interface, through its methods only.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/parley-chat/parley/server/blob"
)

// Open opens an empty store for one subtest. Reopen opens the same data
// again as a new Store (the old one is no longer used), for the durability
// tests. Subtests run in parallel, so each Open must give a store of its
// own.
type Open func(t *testing.T) (s blob.Store, reopen func() blob.Store)

// Run runs the conformance suite against the backend that open opens.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store, reopen func() blob.Store)
	}{
		{"CreateOpenStat", testCreateOpenStat},
		{"CreateVerifies", testCreateVerifies},
		{"CreateTwiceAndConcurrently", testCreateTwice},
		{"EmptyBlob", testEmptyBlob},
		{"Delete", testDelete},
		{"List", testList},
		{"InvalidNames", testInvalidNames},
		{"AppendCommit", testAppendCommit},
		{"AppendInterruptedResume", testAppendInterrupted},
		{"AppendOverwritesPastOffset", testAppendOverwrites},
		{"AppendOffsets", testAppendOffsets},
		{"AppendCancelled", testAppendCancelled},
		{"CommitDigestMismatch", testCommitDigestMismatch},
		{"CommitSizeMismatch", testCommitSizeMismatch},
		{"CommitExisting", testCommitExisting},
		{"Abort", testAbort},
		{"Durability", testDurability},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, reopen := open(t)
			tc.fn(t, s, reopen)
		})
	}
}

// content returns n deterministic pseudo-random bytes and their SHA-256.
func content(seed uint64, n int) ([]byte, string) {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func create(t *testing.T, s blob.Store, b []byte, sum string) {
	t.Helper()
	if err := s.Create(t.Context(), sum, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatalf("Create(%s, %d bytes): %v", sum[:8], len(b), err)
	}
}

// checkBlob checks that the blob sum holds want, read whole and in ranges.
func checkBlob(t *testing.T, s blob.Store, sum string, want []byte) {
	t.Helper()
	ctx := t.Context()
	info, err := s.Stat(ctx, sum)
	if err != nil || info.SHA256 != sum || info.Size != int64(len(want)) {
		t.Fatalf("Stat(%s) = %+v, %v; want %d bytes", sum[:8], info, err, len(want))
	}
	r, info, err := s.Open(ctx, sum)
	if err != nil {
		t.Fatalf("Open(%s): %v", sum[:8], err)
	}
	defer r.Close()
	if info.SHA256 != sum || info.Size != int64(len(want)) || info.ModTime.IsZero() {
		t.Fatalf("Open(%s) info = %+v; want %d bytes and a time", sum[:8], info, len(want))
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Open(%s): read %d bytes (%v), want the %d stored", sum[:8], len(got), err, len(want))
	}
	// Seeking, as http.ServeContent does for a range and for the size.
	if len(want) > 2 {
		mid := int64(len(want) / 2)
		if p, err := r.Seek(mid, io.SeekStart); err != nil || p != mid {
			t.Fatalf("Seek(%d) = %d, %v", mid, p, err)
		}
		part := make([]byte, 2)
		if _, err := io.ReadFull(r, part); err != nil || !bytes.Equal(part, want[mid:mid+2]) {
			t.Fatalf("read after Seek(%d) = %x, %v; want %x", mid, part, err, want[mid:mid+2])
		}
	}
	if end, err := r.Seek(0, io.SeekEnd); err != nil || end != int64(len(want)) {
		t.Fatalf("Seek(end) = %d, %v; want %d", end, err, len(want))
	}
}

func checkAbsent(t *testing.T, s blob.Store, sum string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), sum); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat(%s) = %v, want ErrNotFound", sum[:8], err)
	}
	if _, _, err := s.Open(t.Context(), sum); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open(%s) = %v, want ErrNotFound", sum[:8], err)
	}
}

func partials(t *testing.T, s blob.Store) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for p, err := range s.Partials(t.Context()) {
		if err != nil {
			t.Fatalf("Partials: %v", err)
		}
		if _, dup := m[p.ID]; dup {
			t.Fatalf("Partials yields %s twice", p.ID)
		}
		m[p.ID] = p.Size
	}
	return m
}

func listed(t *testing.T, s blob.Store) []string {
	t.Helper()
	var sums []string
	for info, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		sums = append(sums, info.SHA256)
	}
	slices.Sort(sums)
	return sums
}

// appendAll appends b to the partial id from offset and checks the
// returned length.
func appendAll(t *testing.T, s blob.Store, id string, offset int64, b []byte) int64 {
	t.Helper()
	n, err := s.Append(t.Context(), id, offset, bytes.NewReader(b))
	if err != nil || n != offset+int64(len(b)) {
		t.Fatalf("Append(%s, %d, %d bytes) = %d, %v; want %d", id, offset, len(b), n, err, offset+int64(len(b)))
	}
	return n
}

func testCreateOpenStat(t *testing.T, s blob.Store, _ func() blob.Store) {
	for i, n := range []int{1, 1000, 1 << 20, 3<<20 + 7} {
		b, sum := content(uint64(i), n)
		create(t, s, b, sum)
		checkBlob(t, s, sum, b)
	}
	_, other := content(99, 10)
	checkAbsent(t, s, other)
}

// errReader yields its bytes, then err.
type errReader struct {
	b   []byte
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

var errBroken = errors.New("blobtest: the stream broke")

func testCreateVerifies(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(1, 100_000)
	_, otherSum := content(2, 100_000)
	if err := s.Create(ctx, otherSum, int64(len(b)), bytes.NewReader(b)); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Create(wrong digest) = %v, want ErrDigestMismatch", err)
	}
	checkAbsent(t, s, otherSum)
	if err := s.Create(ctx, sum, int64(len(b))+1, bytes.NewReader(b)); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("Create(short stream) = %v, want ErrSizeMismatch", err)
	}
	if err := s.Create(ctx, sum, int64(len(b))-1, bytes.NewReader(b)); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("Create(long stream) = %v, want ErrSizeMismatch", err)
	}
	if err := s.Create(ctx, sum, int64(len(b)), &errReader{b: b[:5000], err: errBroken}); !errors.Is(err, errBroken) {
		t.Fatalf("Create(broken stream) = %v, want the stream's error", err)
	}
	checkAbsent(t, s, sum)
	if got := listed(t, s); len(got) != 0 {
		t.Fatalf("List after failed creates = %v, want nothing", got)
	}
}

func testCreateTwice(t *testing.T, s blob.Store, _ func() blob.Store) {
	b, sum := content(3, 200_000)
	create(t, s, b, sum)
	create(t, s, b, sum)
	checkBlob(t, s, sum, b)
	c, csum := content(4, 300_000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := s.Create(t.Context(), csum, int64(len(c)), bytes.NewReader(c)); err != nil {
				t.Errorf("concurrent Create: %v", err)
			}
		})
		// Readers meanwhile see the whole blob or none of it.
		wg.Go(func() {
			r, _, err := s.Open(t.Context(), csum)
			if errors.Is(err, blob.ErrNotFound) {
				return
			}
			if err != nil {
				t.Errorf("Open during Create: %v", err)
				return
			}
			defer r.Close()
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, c) {
				t.Errorf("Open during Create read %d bytes, %v; want the whole blob", len(got), err)
			}
		})
	}
	wg.Wait()
	checkBlob(t, s, csum, c)
	if got, want := listed(t, s), []string{sum, csum}; !slices.Equal(got, sortedCopy(want)) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func testEmptyBlob(t *testing.T, s blob.Store, _ func() blob.Store) {
	sum := sha256.Sum256(nil)
	name := hex.EncodeToString(sum[:])
	create(t, s, nil, name)
	checkBlob(t, s, name, nil)
}

func testDelete(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(5, 50_000)
	create(t, s, b, sum)
	r, _, err := s.Open(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := s.Delete(ctx, sum); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkAbsent(t, s, sum)
	if err := s.Delete(ctx, sum); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Delete twice = %v, want ErrNotFound", err)
	}
	// The reader opened before the delete still reads the whole blob.
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("reading a deleted blob opened before: %d bytes, %v", len(got), err)
	}
	// It can be stored again.
	create(t, s, b, sum)
	checkBlob(t, s, sum, b)
}

func testList(t *testing.T, s blob.Store, _ func() blob.Store) {
	if got := listed(t, s); len(got) != 0 {
		t.Fatalf("List of an empty store = %v", got)
	}
	var want []string
	for i := range 40 {
		b, sum := content(uint64(100+i), 10+i)
		create(t, s, b, sum)
		want = append(want, sum)
	}
	// A partial upload is not a blob.
	appendAll(t, s, "partial", 0, []byte("not a blob"))
	slices.Sort(want)
	if got := listed(t, s); !slices.Equal(got, want) {
		t.Fatalf("List = %d blobs, want %d", len(got), len(want))
	}
	for info, err := range s.List(t.Context()) {
		if err != nil || info.Size < 10 || info.ModTime.IsZero() {
			t.Fatalf("List yields %+v, %v", info, err)
		}
	}
	// Stopping early is allowed.
	for range s.List(t.Context()) {
		break
	}
	for _, sum := range want[:10] {
		if err := s.Delete(t.Context(), sum); err != nil {
			t.Fatal(err)
		}
	}
	if got := listed(t, s); !slices.Equal(got, want[10:]) {
		t.Fatalf("List after deletes = %d blobs, want %d", len(got), len(want)-10)
	}
}

func testInvalidNames(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(6, 10)
	badSums := []string{"", "abc", sum[:63], sum + "0", "../" + sum[3:], string(bytes.ToUpper([]byte(sum))), sum[:60] + "/../"}
	for _, bad := range badSums {
		calls := map[string]error{
			"Create": s.Create(ctx, bad, int64(len(b)), bytes.NewReader(b)),
			"Open":   func() error { _, _, err := s.Open(ctx, bad); return err }(),
			"Stat":   func() error { _, err := s.Stat(ctx, bad); return err }(),
			"Delete": s.Delete(ctx, bad),
			"Commit": s.Commit(ctx, "ok", bad, 1),
		}
		for name, err := range calls {
			if !errors.Is(err, blob.ErrInvalidName) {
				t.Errorf("%s(%q) = %v, want ErrInvalidName", name, bad, err)
			}
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "a.sha256", "a b", string(make([]byte, 65))} {
		calls := map[string]error{
			"Append": func() error { _, err := s.Append(ctx, bad, 0, bytes.NewReader(b)); return err }(),
			"Commit": s.Commit(ctx, bad, sum, int64(len(b))),
			"Abort":  s.Abort(ctx, bad),
		}
		for name, err := range calls {
			if !errors.Is(err, blob.ErrInvalidName) {
				t.Errorf("%s(%q) = %v, want ErrInvalidName", name, bad, err)
			}
		}
	}
	if p := partials(t, s); len(p) != 0 {
		t.Fatalf("Partials after invalid calls = %v", p)
	}
}

func testAppendCommit(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(7, 5<<20+3)
	// Uneven chunks, one of them empty.
	cuts := []int{0, 1, 70_000, 70_000, 2 << 20, len(b)}
	var off int64
	for i := 1; i < len(cuts); i++ {
		off = appendAll(t, s, "up1", off, b[cuts[i-1]:cuts[i]])
		if p := partials(t, s); p["up1"] != off {
			t.Fatalf("Partials = %v, want up1 with %d bytes", p, off)
		}
	}
	checkAbsent(t, s, sum)
	if err := s.Commit(ctx, "up1", sum, int64(len(b))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkBlob(t, s, sum, b)
	if p := partials(t, s); len(p) != 0 {
		t.Fatalf("Partials after Commit = %v, want none", p)
	}
	if err := s.Commit(ctx, "up1", sum, int64(len(b))); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Commit twice = %v, want ErrNotFound", err)
	}
}

func testAppendInterrupted(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(8, 1<<20)
	n, err := s.Append(ctx, "up", 0, &errReader{b: b[:300_000], err: errBroken})
	if !errors.Is(err, errBroken) || n != 300_000 {
		t.Fatalf("Append(broken stream) = %d, %v; want 300000 and the stream's error", n, err)
	}
	n = appendAll(t, s, "up", n, b[n:600_000])
	// Another break, with nothing read first.
	if n2, err := s.Append(ctx, "up", n, &errReader{err: errBroken}); !errors.Is(err, errBroken) || n2 != n {
		t.Fatalf("Append(stream broken at once) = %d, %v; want %d and the error", n2, err, n)
	}
	appendAll(t, s, "up", n, b[n:])
	if err := s.Commit(ctx, "up", sum, int64(len(b))); err != nil {
		t.Fatalf("Commit after resuming: %v", err)
	}
	checkBlob(t, s, sum, b)
}

// testAppendOverwrites: bytes an earlier Append stored past the offset the
// caller resumes from are replaced, and the digest covers what is there.
func testAppendOverwrites(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(9, 400_000)
	appendAll(t, s, "up", 0, b[:100_000])
	// A request the caller never recorded wrote garbage up to 300,000.
	garbage, _ := content(10, 200_000)
	appendAll(t, s, "up", 100_000, garbage)
	// The caller resumes from the offset it recorded.
	appendAll(t, s, "up", 100_000, b[100_000:250_000])
	appendAll(t, s, "up", 250_000, b[250_000:])
	if err := s.Commit(ctx, "up", sum, int64(len(b))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkBlob(t, s, sum, b)

	// The same, cut back to 0.
	appendAll(t, s, "up2", 0, garbage)
	appendAll(t, s, "up2", 0, b)
	if err := s.Commit(ctx, "up2", sum, int64(len(b))); err != nil {
		t.Fatalf("Commit after rewriting from 0: %v", err)
	}
	checkBlob(t, s, sum, b)
}

func testAppendOffsets(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	if n, err := s.Append(ctx, "none", 10, bytes.NewReader([]byte("x"))); !errors.Is(err, blob.ErrNotFound) || n != 10 {
		t.Fatalf("Append(unknown upload, offset 10) = %d, %v; want 10, ErrNotFound", n, err)
	}
	appendAll(t, s, "up", 0, []byte("hello"))
	if n, err := s.Append(ctx, "up", 6, bytes.NewReader([]byte("x"))); !errors.Is(err, blob.ErrOffset) || n != 6 {
		t.Fatalf("Append(past the end) = %d, %v; want 6, ErrOffset", n, err)
	}
	if _, err := s.Append(ctx, "up", -1, bytes.NewReader(nil)); !errors.Is(err, blob.ErrOffset) {
		t.Fatalf("Append(offset -1) = %v, want ErrOffset", err)
	}
	if p := partials(t, s); len(p) != 1 || p["up"] != 5 {
		t.Fatalf("Partials = %v, want up with 5 bytes", p)
	}
	// An empty Append at offset 0 creates an empty partial.
	if n, err := s.Append(ctx, "empty", 0, bytes.NewReader(nil)); err != nil || n != 0 {
		t.Fatalf("Append(empty, 0) = %d, %v", n, err)
	}
	if p := partials(t, s); len(p) != 2 || p["empty"] != 0 {
		t.Fatalf("Partials = %v, want an empty partial too", p)
	}
}

func testAppendCancelled(t *testing.T, s blob.Store, _ func() blob.Store) {
	b, sum := content(11, 1<<20)
	appendAll(t, s, "up", 0, b[:1000])
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	n, err := s.Append(ctx, "up", 1000, bytes.NewReader(b[1000:]))
	if !errors.Is(err, context.Canceled) || n < 1000 || n > int64(len(b)) {
		t.Fatalf("Append(cancelled) = %d, %v; want a length from 1000 and context.Canceled", n, err)
	}
	appendAll(t, s, "up", n, b[n:])
	if err := s.Commit(t.Context(), "up", sum, int64(len(b))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkBlob(t, s, sum, b)
}

func testCommitDigestMismatch(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, _ := content(12, 100_000)
	_, wrong := content(13, 100_000)
	appendAll(t, s, "up", 0, b)
	if err := s.Commit(ctx, "up", wrong, int64(len(b))); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Commit(wrong digest) = %v, want ErrDigestMismatch", err)
	}
	checkAbsent(t, s, wrong)
	if p := partials(t, s); len(p) != 0 {
		t.Fatalf("Partials after a digest mismatch = %v, want none", p)
	}
	if got := listed(t, s); len(got) != 0 {
		t.Fatalf("List after a digest mismatch = %v, want none", got)
	}
}

func testCommitSizeMismatch(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(14, 100_000)
	appendAll(t, s, "up", 0, b[:99_999])
	if err := s.Commit(ctx, "up", sum, int64(len(b))); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("Commit(short) = %v, want ErrSizeMismatch", err)
	}
	checkAbsent(t, s, sum)
	// The partial stays, and the upload can still finish.
	appendAll(t, s, "up", 99_999, b[99_999:])
	if err := s.Commit(ctx, "up", sum, int64(len(b))); err != nil {
		t.Fatalf("Commit after finishing: %v", err)
	}
	checkBlob(t, s, sum, b)
}

func testCommitExisting(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(15, 70_000)
	create(t, s, b, sum)
	appendAll(t, s, "up", 0, b)
	if err := s.Commit(ctx, "up", sum, int64(len(b))); err != nil {
		t.Fatalf("Commit(existing blob): %v", err)
	}
	checkBlob(t, s, sum, b)
	if p := partials(t, s); len(p) != 0 {
		t.Fatalf("Partials = %v, want none", p)
	}
	// Two uploads of the same bytes, committed one after the other.
	c, csum := content(16, 80_000)
	appendAll(t, s, "a", 0, c)
	appendAll(t, s, "b", 0, c)
	for _, id := range []string{"a", "b"} {
		if err := s.Commit(ctx, id, csum, int64(len(c))); err != nil {
			t.Fatalf("Commit(%s): %v", id, err)
		}
	}
	checkBlob(t, s, csum, c)
}

func testAbort(t *testing.T, s blob.Store, _ func() blob.Store) {
	ctx := t.Context()
	b, sum := content(17, 10_000)
	appendAll(t, s, "up", 0, b[:5000])
	appendAll(t, s, "other", 0, b)
	if err := s.Abort(ctx, "up"); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := s.Abort(ctx, "up"); err != nil {
		t.Fatalf("Abort twice: %v", err)
	}
	if err := s.Abort(ctx, "never"); err != nil {
		t.Fatalf("Abort(unknown): %v", err)
	}
	if p := partials(t, s); len(p) != 1 || p["other"] != int64(len(b)) {
		t.Fatalf("Partials after Abort = %v, want other alone", p)
	}
	if err := s.Commit(ctx, "up", sum, int64(len(b))); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Commit after Abort = %v, want ErrNotFound", err)
	}
	if _, err := s.Append(ctx, "up", 5000, bytes.NewReader(b[5000:])); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Append after Abort = %v, want ErrNotFound", err)
	}
	// Starting again from 0 works.
	appendAll(t, s, "up", 0, b)
	if err := s.Commit(ctx, "up", sum, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	checkBlob(t, s, sum, b)
}

func testDurability(t *testing.T, s blob.Store, reopen func() blob.Store) {
	ctx := t.Context()
	b, sum := content(18, 300_000)
	create(t, s, b, sum)
	c, csum := content(19, 300_000)
	n := appendAll(t, s, "up", 0, c[:123_456])
	s = reopen()
	checkBlob(t, s, sum, b)
	if p := partials(t, s); p["up"] != n {
		t.Fatalf("Partials after reopening = %v, want up with %d bytes", p, n)
	}
	appendAll(t, s, "up", n, c[n:])
	if err := s.Commit(ctx, "up", csum, int64(len(c))); err != nil {
		t.Fatalf("Commit after reopening: %v", err)
	}
	s = reopen()
	checkBlob(t, s, csum, c)
}
