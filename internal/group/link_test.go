package group

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/parley-chat/parley/internal/protocoltest"
)

// TestDeriveLink: three distinct values, fixed by the secret; only a
// 32-byte secret.
func TestDeriveLink(t *testing.T) {
	s := bytes.Repeat([]byte{9}, LinkSecretSize)
	a, err := DeriveLink(s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveLink(s)
	c, _ := DeriveLink(bytes.Repeat([]byte{8}, LinkSecretSize))
	if a != b || a == c || a.SnapshotKey == a.ProofKey || bytes.Equal(a.ID[:], a.ProofKey[:16]) || bytes.Equal(a.ID[:], a.SnapshotKey[:16]) {
		t.Fatal("derived keys")
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := DeriveLink(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d-byte secret: %v", n, err)
		}
	}
}

// TestJoinProof: the proof binds the key, the group, the username and the
// identity key.
func TestJoinProof(t *testing.T) {
	p := JoinProof([32]byte{1}, ID{2}, "carol", [32]byte{3})
	for i, q := range [][]byte{
		JoinProof([32]byte{9}, ID{2}, "carol", [32]byte{3}),
		JoinProof([32]byte{1}, ID{9}, "carol", [32]byte{3}),
		JoinProof([32]byte{1}, ID{2}, "carol2", [32]byte{3}),
		JoinProof([32]byte{1}, ID{2}, "carol", [32]byte{9}),
	} {
		if bytes.Equal(p, q) || len(q) != proofSize {
			t.Fatalf("case %d: same proof", i)
		}
	}
}

// TestSnapshot: a sealed chain opens with the link's keys to the same
// records; altered bytes, another key or another link ID do not open; a
// broken chain is not sealed.
func TestSnapshot(t *testing.T) {
	_, chain := sampleRecords(t)
	k, _ := DeriveLink(bytes.Repeat([]byte{1}, 32))
	b, err := SealSnapshot(k, testGroup, chain, protocoltest.Rand(5))
	if err != nil {
		t.Fatal(err)
	}
	g, got, err := OpenSnapshot(k, b)
	if err != nil || g != testGroup || !slices.EqualFunc(got, chain, bytes.Equal) {
		t.Fatalf("open: %v", err)
	}
	if _, err := NewLog(got[0], Options{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += 7 {
		m := bytes.Clone(b)
		m[i] ^= 0x20
		if _, _, err := OpenSnapshot(k, m); err == nil {
			t.Fatalf("byte %d altered opens", i)
		} else if i >= 2 && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d altered: %v", i, err)
		}
	}
	for _, n := range []int{0, 1, 2, snapshotHead, len(b) - 1} {
		if _, _, err := OpenSnapshot(k, b[:n]); err == nil {
			t.Fatalf("prefix %d opens", n)
		}
	}
	other, _ := DeriveLink(bytes.Repeat([]byte{2}, 32))
	if _, _, err := OpenSnapshot(other, b); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("another key: %v", err)
	}
	moved := k
	moved.ID[0] ^= 1
	if _, _, err := OpenSnapshot(moved, b); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("another link ID: %v", err)
	}
	if _, _, err := OpenSnapshot(k, make([]byte, MaxSnapshot+1)); !errors.Is(err, ErrLimit) {
		t.Fatalf("too large: %v", err)
	}
	for name, c := range map[string][][]byte{
		"empty":         nil,
		"gap":           {chain[0], chain[2]},
		"no create":     chain[1:],
		"another group": chain,
	} {
		gid := testGroup
		if name == "another group" {
			gid[0] ^= 1
		}
		if _, err := SealSnapshot(k, gid, c, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Two seals of one chain differ (a fresh nonce).
	b2, _ := SealSnapshot(k, testGroup, chain, nil)
	if bytes.Equal(b, b2) {
		t.Fatal("same nonce")
	}
}
