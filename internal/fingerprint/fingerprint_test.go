package fingerprint

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/kat"
)

const (
	vectorPath  = "../../spec/vectors/signal-fingerprint.txt"
	vectorBlock = "fingerprint-v1-v2"
)

// signalKAT holds the libsignal fingerprint known answers from vectorPath.
type signalKAT struct {
	aliceKey, bobKey []byte
	aliceID, bobID   []byte
	iterations       int
	displayable      string
	scannable        map[string][]byte // by vector name, e.g. "alice_scannable_v1"
	encodingCheck    string
}

// loadKAT reads the [fingerprint-v1-v2] block; a missing file, block or
// value fails the test.
func loadKAT(tb testing.TB) signalKAT {
	tb.Helper()
	secs, err := kat.Load(vectorPath)
	if err != nil {
		tb.Fatalf("reading vectors: %v", err)
	}
	block, err := kat.Find(secs, vectorBlock)
	if err != nil {
		tb.Fatalf("vectors: %v", err)
	}
	need := func(key string) string {
		v, err := block.Get(key)
		if err != nil {
			tb.Fatalf("vectors: %v", err)
		}
		if v == "" {
			tb.Fatalf("vectors: [%s] %s is empty", vectorBlock, key)
		}
		return v
	}
	unhex := func(key string) []byte {
		b, err := block.Hex(key)
		if err != nil {
			tb.Fatalf("vectors: %v", err)
		}
		if len(b) == 0 {
			tb.Fatalf("vectors: [%s] %s is empty", vectorBlock, key)
		}
		return b
	}
	quoted := func(key string) []byte { // `"+14152222222" (ASCII bytes)`
		parts := strings.Split(need(key), `"`)
		if len(parts) < 3 {
			tb.Fatalf("vectors: %s is not a quoted string", key)
		}
		return []byte(parts[1])
	}
	k := signalKAT{
		aliceKey:      unhex("alice_identity"),
		bobKey:        unhex("bob_identity"),
		aliceID:       quoted("alice_stable_id"),
		bobID:         quoted("bob_stable_id"),
		displayable:   strings.Fields(need("displayable"))[0],
		scannable:     map[string][]byte{},
		encodingCheck: need("encoding_check"),
	}
	if k.iterations, err = strconv.Atoi(need("iterations")); err != nil {
		tb.Fatalf("vectors: iterations: %v", err)
	}
	for _, side := range []string{"alice", "bob"} {
		for _, v := range []string{"v1", "v2"} {
			name := side + "_scannable_" + v
			k.scannable[name] = unhex(name)
		}
	}
	return k
}

// pair returns the safety number as alice and as bob see it.
func (k signalKAT) pair(tb testing.TB, version uint32) (alice, bob *SafetyNumber) {
	tb.Helper()
	alice, err := New(version, k.iterations, k.aliceID, k.aliceKey, k.bobID, k.bobKey)
	if err != nil {
		tb.Fatalf("New(alice): %v", err)
	}
	bob, err = New(version, k.iterations, k.bobID, k.bobKey, k.aliceID, k.aliceKey)
	if err != nil {
		tb.Fatalf("New(bob): %v", err)
	}
	return alice, bob
}

func TestSignalVectors(t *testing.T) {
	k := loadKAT(t)
	if k.iterations != DefaultIterations {
		t.Errorf("vector iterations = %d, DefaultIterations = %d", k.iterations, DefaultIterations)
	}
	for _, version := range []uint32{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			alice, bob := k.pair(t, version)
			for name, s := range map[string]*SafetyNumber{"alice": alice, "bob": bob} {
				if got := s.Displayable(); got != k.displayable {
					t.Errorf("%s displayable = %s, want %s", name, got, k.displayable)
				}
				if got := s.Groups(); len(got) != 12 || strings.Join(got, "") != k.displayable {
					t.Errorf("%s groups = %q", name, got)
				}
				want := k.scannable[fmt.Sprintf("%s_scannable_v%d", name, version)]
				if got := s.Scannable(); !bytes.Equal(got, want) {
					t.Errorf("%s scannable = %x, want %x", name, got, want)
				}
				v, l, r, err := ParseScannable(want)
				if err != nil || v != version || !bytes.Equal(encodeScannable(v, (*[32]byte)(l), (*[32]byte)(r)), want) {
					t.Errorf("%s scannable does not round-trip: version %d, err %v", name, v, err)
				}
			}
			for _, c := range []struct {
				name    string
				s       *SafetyNumber
				scanned []byte
			}{{"alice scans bob", alice, bob.Scannable()}, {"bob scans alice", bob, alice.Scannable()}} {
				if ok, err := c.s.CompareScannable(c.scanned); !ok || err != nil {
					t.Errorf("%s: CompareScannable = %v, %v; want true, nil", c.name, ok, err)
				}
			}
		})
	}
}

var encodingCheckRE = regexp.MustCompile(`^version (\d+) with local = 32 bytes of 0x([0-9a-f]{2}) and remote = 32 bytes of 0x([0-9a-f]{2}) serializes to (.+)$`)

func TestEncodingCheck(t *testing.T) {
	k := loadKAT(t)
	m := encodingCheckRE.FindStringSubmatch(k.encodingCheck)
	if m == nil {
		t.Fatalf("encoding_check not understood: %q", k.encodingCheck)
	}
	version, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	fill := func(h string) *[32]byte {
		b, err := hex.DecodeString(strings.Repeat(h, 32))
		if err != nil {
			t.Fatal(err)
		}
		return (*[32]byte)(b)
	}
	// The expected bytes are terms joined by " + ": hex, or "hh"*n.
	var want []byte
	for term := range strings.SplitSeq(m[4], " + ") {
		h := term
		if rep, count, ok := strings.Cut(term, "*"); ok {
			n, err := strconv.Atoi(count)
			if err != nil {
				t.Fatalf("encoding_check term %q: %v", term, err)
			}
			h = strings.Repeat(strings.Trim(rep, `"`), n)
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("encoding_check term %q: %v", term, err)
		}
		want = append(want, b...)
	}
	if got := encodeScannable(uint32(version), fill(m[2]), fill(m[3])); !bytes.Equal(got, want) {
		t.Errorf("encoding = %x, want %x", got, want)
	}
}

func TestCompareScannable(t *testing.T) {
	k := loadKAT(t)
	alice1, bob1 := k.pair(t, 1)
	_, bob2 := k.pair(t, 2)
	otherKey := bytes.Clone(k.bobKey)
	otherKey[len(otherKey)-1] ^= 1
	mallory, err := New(1, k.iterations, k.bobID, otherKey, k.aliceID, k.aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		scanned []byte
		want    bool
		wantErr error
	}{
		{"bob v1: match", bob1.Scannable(), true, nil},
		{"bob v2: version mismatch", bob2.Scannable(), false, ErrVersionMismatch},
		{"substituted bob key: no match", mallory.Scannable(), false, nil},
		{"alice's own code reflected: no match", alice1.Scannable(), false, nil},
		{"truncated: malformed", bob1.Scannable()[:40], false, ErrMalformed},
		{"empty: malformed", nil, false, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := alice1.CompareScannable(c.scanned)
			if got != c.want || !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Errorf("CompareScannable = %v, %v; want %v, %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	k := loadKAT(t)
	badType := bytes.Clone(k.aliceKey)
	badType[0] = 0x06
	for _, c := range []struct {
		name       string
		iterations int
		local      []byte
		remote     []byte
		want       error
	}{
		{"zero iterations", 0, k.aliceKey, k.bobKey, ErrInvalidIterations},
		{"negative iterations", -1, k.aliceKey, k.bobKey, ErrInvalidIterations},
		{"local key without type byte", 1, k.aliceKey[1:], k.bobKey, ErrInvalidKey},
		{"remote key too long", 1, k.aliceKey, append(bytes.Clone(k.bobKey), 0), ErrInvalidKey},
		{"remote key nil", 1, k.aliceKey, nil, ErrInvalidKey},
		{"local key wrong type byte", 1, badType, k.bobKey, ErrInvalidKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(1, c.iterations, k.aliceID, c.local, k.bobID, c.remote)
			if s != nil || !errors.Is(err, c.want) {
				t.Errorf("New = %v, %v; want nil, %v", s, err, c.want)
			}
		})
	}
}

func BenchmarkSafetyNumber(b *testing.B) {
	k := loadKAT(b)
	b.ReportAllocs()
	for b.Loop() {
		s, err := New(2, DefaultIterations, k.aliceID, k.aliceKey, k.bobID, k.bobKey)
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Displayable()
	}
}
