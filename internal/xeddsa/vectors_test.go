package xeddsa

import (
	"bufio"
	"encoding/hex"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// vectorsPath holds the Signal known-answer blocks, copied verbatim from
// Signal's test suites. A missing file or value fails the tests.
const vectorsPath = "../../spec/vectors/signal-xeddsa.txt"

// Sections of vectorsPath.
const (
	sectionVerify = "xeddsa-verify"
	sectionSign   = "curve25519-sign-deterministic"
)

// vectors is the parsed vector file: section name -> key -> value.
type vectors map[string]map[string]string

// loadVectors parses vectorsPath: "[section]" headers, "key = value" lines,
// lines starting with white space continuing the previous value, and "#"
// comments.
func loadVectors(tb testing.TB) vectors {
	tb.Helper()
	f, err := os.Open(vectorsPath)
	if err != nil {
		tb.Fatalf("opening test vectors: %v", err)
	}
	defer f.Close()

	v := vectors{}
	var section, lastKey string
	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		text := scanner.Text()
		trimmed := strings.TrimSpace(text)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]"):
			section, lastKey = strings.Trim(trimmed, "[]"), ""
			v[section] = map[string]string{}
		case section == "":
			tb.Fatalf("%s:%d: value outside a section", vectorsPath, line)
		case text[0] == ' ' || text[0] == '\t':
			if lastKey == "" {
				tb.Fatalf("%s:%d: continuation without a key", vectorsPath, line)
			}
			v[section][lastKey] += " " + trimmed
		default:
			key, value, ok := strings.Cut(text, "=")
			if !ok {
				tb.Fatalf("%s:%d: want key = value", vectorsPath, line)
			}
			lastKey = strings.TrimSpace(key)
			v[section][lastKey] = strings.TrimSpace(value)
		}
	}
	if err := scanner.Err(); err != nil {
		tb.Fatalf("reading test vectors: %v", err)
	}
	return v
}

// value returns section.key, failing the test if it is missing or empty.
func (v vectors) value(tb testing.TB, section, key string) string {
	tb.Helper()
	s := v[section][key]
	if s == "" {
		tb.Fatalf("%s: [%s] has no %q", vectorsPath, section, key)
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
	if b, err := hex.DecodeString(s); err == nil {
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
