package fuzztest

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestPrefixLengths: every length of a short input; for a long one the
// shortest and longest, every field end, all strict and none twice.
func TestPrefixLengths(t *testing.T) {
	short := make([]byte, 2*edge+spread)
	if got := PrefixLengths(short); len(got) != len(short) {
		t.Fatalf("%d lengths of a %d-byte input, want all", len(got), len(short))
	}
	b := []byte{1, 5}
	var ends []int
	for i := range 4 {
		b = protowire.AppendTag(b, protowire.Number(i+1), protowire.BytesType)
		b = protowire.AppendBytes(b, make([]byte, 300))
		ends = append(ends, len(b))
	}
	got := PrefixLengths(b)
	for _, want := range append([]int{0, 1, edge - 1, len(b) - edge, len(b) - 1}, ends[:3]...) {
		if !slices.Contains(got, want) {
			t.Errorf("length %d not checked", want)
		}
	}
	seen := map[int]bool{}
	for _, n := range got {
		if n < 0 || n >= len(b) || seen[n] {
			t.Errorf("length %d out of range or twice", n)
		}
		seen[n] = true
	}
	if len(got) > 2*edge+spread+len(ends) {
		t.Errorf("%d lengths, want at most %d", len(got), 2*edge+spread+len(ends))
	}
}
