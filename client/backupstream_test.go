package client

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
)

// TestBackupBucketsComplete fails when the package declares a bucket
// constant (bucketX = "...") that backupBuckets leaves out: a backup
// would silently lose that state.
func TestBackupBucketsComplete(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "bucket") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				if slices.Contains(backupRebuilt, v) {
					return true
				}
				found++
				if !slices.Contains(backupBuckets, v) {
					t.Errorf("%s = %q is not in backupBuckets: backups would leave it out", name.Name, v)
				}
			}
			return true
		})
	}
	if found != len(backupBuckets) {
		t.Errorf("found %d bucket constants, backupBuckets lists %d", found, len(backupBuckets))
	}
}

func TestBackupKeyFormat(t *testing.T) {
	for range 50 {
		k, err := newBackupKey(rand.NewChaCha8([32]byte{byte(rand.N(256))}))
		if err != nil || len(k) != backupKeyDigits {
			t.Fatalf("newBackupKey: %q, %v", k, err)
		}
		shown := FormatBackupKey(k)
		if len(strings.Fields(shown)) != 6 {
			t.Fatalf("%q is not six groups", shown)
		}
		if got, err := ParseBackupKey(" " + strings.ReplaceAll(shown, " ", "  - ") + "\n"); err != nil || got != k {
			t.Fatalf("ParseBackupKey(%q) = %q, %v", shown, got, err)
		}
	}
	for _, bad := range []string{"", "1234", strings.Repeat("1", 31), strings.Repeat("1", 29) + "x", strings.Repeat("١", 30)} {
		if _, err := ParseBackupKey(bad); !errors.Is(err, ErrBackupKeyFormat) {
			t.Errorf("ParseBackupKey(%q): %v, want ErrBackupKeyFormat", bad, err)
		}
	}
}

const testBackupKey = "123456789012345678901234567890"

// sealTest seals plaintext as a backup under key with a salt from seed.
func sealTest(t testing.TB, key string, seed byte, plaintext []byte) []byte {
	var out bytes.Buffer
	k, err := sealBackupHeader(&out, key, rand.NewChaCha8([32]byte{seed}))
	if err != nil {
		t.Fatal(err)
	}
	sw := newStreamWriter(&out, k.payload)
	if _, err := sw.Write(plaintext); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func openTest(b []byte, key string) ([]byte, error) {
	r := bytes.NewReader(b)
	k, err := openBackupHeader(r, key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(newStreamReader(r, k.payload))
}

// TestBackupStream: every length around the chunk size opens to what was
// sealed; a chunk moved from another backup, even under the same key,
// does not open.
func TestBackupStream(t *testing.T) {
	for _, n := range []int{0, 1, backupChunk - 1, backupChunk, backupChunk + 1, 2 * backupChunk, 3*backupChunk + 7} {
		pt := make([]byte, n)
		for i := range pt {
			pt[i] = byte(i * 7)
		}
		b := sealTest(t, testBackupKey, 1, pt)
		if want := backupHeaderSize + max(1, (n+backupChunk-1)/backupChunk)*16 + n; len(b) != want {
			t.Errorf("%d bytes sealed to %d, want %d", n, len(b), want)
		}
		if got, err := openTest(b, testBackupKey); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: opened %d, %v", n, len(got), err)
		}
	}
	pt := bytes.Repeat([]byte{'x'}, 3*backupChunk)
	a, b := sealTest(t, testBackupKey, 1, pt), sealTest(t, testBackupKey, 2, pt)
	chunk := backupChunk + 16
	mixed := slices.Concat(a[:backupHeaderSize+chunk], b[backupHeaderSize+chunk:backupHeaderSize+2*chunk], a[backupHeaderSize+2*chunk:])
	if _, err := openTest(mixed, testBackupKey); !errors.Is(err, ErrBackupCorrupt) {
		t.Fatalf("a chunk of another backup: %v, want ErrBackupCorrupt", err)
	}
}

// nopSink takes entries and keeps what readRecords decoded, re-encoded.
type nopSink struct{ rw *recordWriter }

func (s nopSink) record(bucket, key string, value []byte) error {
	return s.rw.record(bucket, key, value)
}

func (s nopSink) blob(d [32]byte, r io.Reader) error { return s.rw.blob(d, r, make([]byte, 7)) }

// testRecords is a small valid plaintext: two records, a blob, the end.
func testRecords(t testing.TB) []byte {
	var b bytes.Buffer
	rw := &recordWriter{w: &b}
	rw.record(bucketAccount, keySelf, []byte(`{"username":"alice"}`))
	rw.record(bucketMessage, "bob/0000000000000001/00", []byte("hi"))
	if err := rw.blob([32]byte{1}, bytes.NewReader([]byte("ciphertext")), make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	rw.end()
	return b.Bytes()
}

// FuzzBackupRecords decodes a backup's plaintext: no input panics, an
// accepted one encodes back to the same entries, and no strict prefix of
// an accepted input is accepted (the end entry must come last).
func FuzzBackupRecords(f *testing.F) {
	f.Add(testRecords(f))
	f.Add([]byte{entryEnd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		sink := nopSink{rw: &recordWriter{w: &out}}
		if err := readRecords(bytes.NewReader(data), sink); err != nil {
			if !errors.Is(err, ErrBackupCorrupt) && !errors.Is(err, ErrBackupVersion) {
				t.Fatalf("an error that is no sentinel: %v", err)
			}
			return
		}
		sink.rw.end()
		// Blob pieces are re-cut by the 7-byte buffer: compare decoded.
		var again bytes.Buffer
		rw := &recordWriter{w: &again}
		if err := readRecords(bytes.NewReader(out.Bytes()), nopSink{rw: rw}); err != nil {
			t.Fatalf("re-encoded entries do not decode: %v", err)
		}
		rw.end()
		if !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatal("decode → encode is not stable")
		}
		for _, n := range fuzztest.PrefixLengths(data) {
			if readRecords(bytes.NewReader(data[:n]), nopSink{rw: &recordWriter{w: io.Discard}}) == nil {
				t.Fatalf("the %d-byte prefix of an accepted input is accepted", n)
			}
		}
	})
}

// FuzzBackup opens whole backup files under the test key: no input
// panics, every failure is one of the backup sentinels, and what opens
// decodes or fails as FuzzBackupRecords allows.
func FuzzBackup(f *testing.F) {
	f.Add(sealTest(f, testBackupKey, 1, testRecords(f)))
	f.Add(sealTest(f, testBackupKey, 2, nil))
	f.Add([]byte(backupMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		k, err := openBackupHeader(r, testBackupKey)
		if err == nil {
			err = readRecords(newStreamReader(r, k.payload), nopSink{rw: &recordWriter{w: io.Discard}})
		}
		for _, want := range []error{nil, ErrBackupCorrupt, ErrBackupKey, ErrNotBackup, ErrBackupVersion} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("an error that is no sentinel: %v", err)
	})
}
