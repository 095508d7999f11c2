package msgcrypt

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key, iv := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 16)
	for n := range 40 {
		pt := bytes.Repeat([]byte{'x'}, n)
		prefix := []byte("header")
		ct := Seal(bytes.Clone(prefix), key, iv, pt)
		if !bytes.Equal(ct[:len(prefix)], prefix) || len(ct)-len(prefix) != PaddedLen(n) {
			t.Fatalf("n=%d: bad layout", n)
		}
		got, err := Open(key, iv, ct[len(prefix):])
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: round trip: %v", n, err)
		}
	}
}

func TestOpenRejectsBadPadding(t *testing.T) {
	key, iv := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	for _, block := range [][]byte{
		append(bytes.Repeat([]byte{0}, 15), 0),  // pad byte 0
		append(bytes.Repeat([]byte{0}, 15), 17), // pad byte > block size
		append(bytes.Repeat([]byte{0}, 14), 3, 2),
	} {
		// Encrypt the raw block without padding by sealing 16 bytes and
		// keeping the first block.
		ct := Seal(nil, key, iv, block)[:16]
		if _, err := Open(key, iv, ct); !errors.Is(err, ErrPadding) {
			t.Fatalf("block %x: got %v, want ErrPadding", block, err)
		}
	}
	for _, n := range []int{0, 15, 17} {
		if _, err := Open(key, iv, make([]byte, n)); !errors.Is(err, ErrPadding) {
			t.Fatalf("length %d accepted", n)
		}
	}
}
