package xeddsa

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/kat"
)

// vectorsPath holds the Signal known-answer blocks, copied verbatim from
// Signal's test suites. A missing file or value fails the tests.
const vectorsPath = "../../spec/vectors/signal-xeddsa.txt"

// Sections of vectorsPath.
const (
	sectionVerify = "xeddsa-verify"
	sectionSign   = "curve25519-sign-deterministic"
)

// vectors is the parsed vector file.
type vectors []*kat.Section

// loadVectors reads vectorsPath; a missing or empty file fails the test.
func loadVectors(tb testing.TB) vectors {
	tb.Helper()
	secs, err := kat.Load(vectorsPath)
	if err != nil {
		tb.Fatalf("loading test vectors: %v", err)
	}
	return secs
}

// section returns the named section, failing the test if it is missing.
func (v vectors) section(tb testing.TB, name string) *kat.Section {
	tb.Helper()
	s, err := kat.Find(v, name)
	if err != nil {
		tb.Fatalf("%s: %v", vectorsPath, err)
	}
	return s
}

// value returns section.key, failing the test if it is missing or empty.
func (v vectors) value(tb testing.TB, section, key string) string {
	tb.Helper()
	s, err := v.section(tb, section).Get(key)
	if err != nil {
		tb.Fatalf("%s: %v", vectorsPath, err)
	}
	if s == "" {
		tb.Fatalf("%s: [%s] %q is empty", vectorsPath, section, key)
	}
	return s
}

// zeroBytesRE matches the byte-string descriptions of the vector file:
// "N zero bytes", optionally ", byte[i] = v", optionally "then clamped".
var zeroBytesRE = regexp.MustCompile(`^(\d+) zero bytes(?:, byte\[(\d+)\] = (\d+))?`)

// bytesValue decodes section.key: either hex, or a description such as
// "32 zero bytes, byte[8] = 189 (0xbd), then clamped (...)".
func (v vectors) bytesValue(tb testing.TB, section, key string) []byte {
	tb.Helper()
	s := v.value(tb, section, key)
	if b, err := v.section(tb, section).Hex(key); err == nil {
		return b
	}
	m := zeroBytesRE.FindStringSubmatch(s)
	if m == nil {
		tb.Fatalf("[%s] %s: neither hex nor a known description: %q", section, key, s)
	}
	b := make([]byte, atoi(tb, m[1]))
	if m[2] != "" {
		i, x := atoi(tb, m[2]), atoi(tb, m[3])
		if i >= len(b) || x > 255 {
			tb.Fatalf("[%s] %s: byte[%d] = %d does not fit", section, key, i, x)
		}
		b[i] = byte(x)
	}
	if strings.Contains(s, "then clamped") {
		if len(b) != 32 {
			tb.Fatalf("[%s] %s: only 32-byte keys are clamped", section, key)
		}
		b[0] &= 248
		b[31] &= 127
		b[31] |= 64
	}
	return b
}

func atoi(tb testing.TB, s string) int {
	tb.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		tb.Fatalf("bad number %q: %v", s, err)
	}
	return n
}
