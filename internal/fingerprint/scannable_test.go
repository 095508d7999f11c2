package fingerprint

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
)

// checkPrefixesRejected fails if ParseScannable accepts any strict prefix of b.
func checkPrefixesRejected(t *testing.T, b []byte) {
	t.Helper()
	for i := range len(b) {
		if _, _, _, err := ParseScannable(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrMalformed", i, len(b), err)
		}
	}
}

func TestParseScannablePrefixes(t *testing.T) {
	k := loadKAT(t)
	for name, b := range k.scannable {
		t.Run(name, func(t *testing.T) { checkPrefixesRejected(t, b) })
	}
}

func TestParseScannableStrict(t *testing.T) {
	k := loadKAT(t)
	valid := k.scannable["alice_scannable_v1"]
	l := hex.EncodeToString(valid[6:38])  // local content
	r := hex.EncodeToString(valid[42:74]) // remote content
	ver, loc, rem := "0801", "12220a20"+l, "1a220a20"+r
	if got := ver + loc + rem; got != hex.EncodeToString(valid) {
		t.Fatalf("test pieces do not rebuild the vector: %s", got)
	}
	for _, c := range []struct {
		name string
		hex  string
		ok   bool
	}{
		{"expect ok: vector", ver + loc + rem, true},
		{"expect ok: version 0", "0800" + loc + rem, true},
		{"expect ok: version 2^32-1", "08ffffffff0f" + loc + rem, true},
		{"expect ok: local equals remote", ver + loc + "1a220a20" + l, true},
		{"expect malformed: empty", "", false},
		{"expect malformed: non-minimal version varint", "088100" + loc + rem, false},
		{"expect malformed: non-minimal version tag", "880001" + loc + rem, false},
		{"expect malformed: non-minimal local tag", ver + "9200220a20" + l + rem, false},
		{"expect malformed: non-minimal local length", ver + "12a2000a20" + l + rem, false},
		{"expect malformed: non-minimal content tag", ver + "12238a0020" + l + rem, false},
		{"expect malformed: non-minimal content length", ver + "12230aa000" + l + rem, false},
		{"expect malformed: version overflows uint32", "088080808010" + loc + rem, false},
		{"expect malformed: version as fixed32", "0d01000000" + loc + rem, false},
		{"expect malformed: version missing", loc + rem, false},
		{"expect malformed: remote missing", ver + loc, false},
		{"expect malformed: local and remote swapped", ver + rem + loc, false},
		{"expect malformed: version last", loc + rem + ver, false},
		{"expect malformed: duplicate version", ver + ver + loc + rem, false},
		{"expect malformed: duplicate local", ver + loc + loc + rem, false},
		{"expect malformed: duplicate remote", ver + loc + rem + rem, false},
		{"expect malformed: unknown field 4", ver + loc + rem + "2001", false},
		{"expect malformed: unknown field inside local", ver + "12260a20" + l + "1202abcd", false},
		{"expect malformed: field number 0", "0001" + ver + loc + rem, false},
		{"expect malformed: trailing byte", ver + loc + rem + "00", false},
		{"expect malformed: content 31 bytes", ver + "12210a1f" + l[:62] + rem, false},
		{"expect malformed: content 33 bytes", ver + "12230a21" + l + "00" + rem, false},
		{"expect malformed: empty local message", ver + "1200" + rem, false},
		{"expect malformed: local length past end", ver + "12ff01" + l, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := hex.DecodeString(c.hex)
			if err != nil {
				t.Fatal(err)
			}
			version, local, remote, err := ParseScannable(b)
			if !c.ok {
				if !errors.Is(err, ErrMalformed) || local != nil || remote != nil {
					t.Fatalf("ParseScannable = %x, %x, %v; want ErrMalformed", local, remote, err)
				}
				t.Logf("rejected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("ParseScannable: %v", err)
			}
			if got := encodeScannable(version, (*[32]byte)(local), (*[32]byte)(remote)); !bytes.Equal(got, b) {
				t.Fatalf("re-encoded %x, want %x", got, b)
			}
			checkPrefixesRejected(t, b)
		})
	}
}

func TestParseScannableCopies(t *testing.T) {
	b := bytes.Clone(loadKAT(t).scannable["bob_scannable_v2"])
	_, local, remote, err := ParseScannable(b)
	if err != nil {
		t.Fatal(err)
	}
	wantL, wantR := bytes.Clone(local), bytes.Clone(remote)
	clear(b)
	if !bytes.Equal(local, wantL) || !bytes.Equal(remote, wantR) {
		t.Fatal("ParseScannable results alias the input")
	}
}

func FuzzParseScannable(f *testing.F) {
	k := loadKAT(f)
	for _, b := range k.scannable {
		f.Add(b)
	}
	// A cheap safety number to compare fuzzed codes against.
	s, err := New(2, 1, k.aliceID, k.aliceKey, k.bobID, k.bobKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.Scannable())
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := s.CompareScannable(b); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersionMismatch) {
			t.Fatalf("CompareScannable: unexpected error %v", err)
		}
		version, local, remote, err := ParseScannable(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseScannable: error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if got := encodeScannable(version, (*[32]byte)(local), (*[32]byte)(remote)); !bytes.Equal(got, b) {
			t.Fatalf("accepted %x but re-encodes as %x", b, got)
		}
		checkPrefixesRejected(t, b)
	})
}

func TestMain(m *testing.M) { fuzztest.Main(m) }
