package fuzztest

import (
	"hash/fnv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Fuzz targets check that a decoder refuses every strict prefix of what it
// accepts (a truncated message must not parse). Parsing all len(b)
// prefixes of every input costs O(len(b)²) per execution: for inputs of a
// few kilobytes, such as prekey bundles with their 1569-byte ML-KEM key,
// that made the fuzzer spend its time re-parsing prefixes (and minimising
// each new input for the rest of the run) instead of trying inputs.
//
// So a fuzz function checks the prefixes PrefixLengths picks, where a
// truncation is most likely to parse, and its seeds once with every
// prefix (RefusesEveryPrefix).

// edge is how many of the shortest and of the longest prefixes are always
// checked; spread is how many more are picked from the input's bytes.
const (
	edge   = 48
	spread = 16
)

// PrefixLengths returns the lengths of the strict prefixes of b a fuzz
// target checks: the edge shortest and the edge longest, every length at
// which a protobuf field ends in the encodings of spec/protocol.md §7 (a
// version and a type byte, then fields), and spread lengths that depend on
// b's bytes, so that across a run every length is tried.
func PrefixLengths(b []byte) []int {
	n := len(b)
	if n <= 2*edge+spread {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all
	}
	seen := make(map[int]bool, 2*edge+spread+16)
	var out []int
	add := func(i int) {
		if i >= 0 && i < n && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for i := range edge {
		add(i)
		add(n - 1 - i)
	}
	for off := 2; off < n; {
		_, _, l := protowire.ConsumeField(b[off:])
		if l <= 0 {
			break
		}
		off += l
		add(off)
	}
	h := fnv.New64a()
	h.Write(b)
	x := h.Sum64()
	for range spread {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		add(int(x % uint64(n)))
	}
	return out
}

// RefusesEveryPrefix fails tb if parse accepts any strict prefix of b; a
// fuzz target calls it once for each seed it adds.
func RefusesEveryPrefix(tb testing.TB, b []byte, parse func([]byte) error) {
	tb.Helper()
	for n := range len(b) {
		if parse(b[:n]) == nil {
			tb.Fatalf("strict prefix of %d of %d bytes accepted", n, len(b))
		}
	}
}

// RefusesPrefixes fails tb if parse accepts one of the strict prefixes of
// b that PrefixLengths picks; fuzz functions call it.
func RefusesPrefixes(tb testing.TB, b []byte, parse func([]byte) error) {
	tb.Helper()
	for _, n := range PrefixLengths(b) {
		if parse(b[:n]) == nil {
			tb.Fatalf("strict prefix of %d of %d bytes accepted", n, len(b))
		}
	}
}
