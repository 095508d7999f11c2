package client

import (
	"bytes"
	"testing"
)

// FuzzDecryptionError: a decryption-error content (spec/client.md §6.3)
// parses only in its one canonical encoding, with a device that is not 0,
// and no strict prefix of a valid one parses.
func FuzzDecryptionError(f *testing.F) {
	for _, c := range sampleContents() {
		if c.Kind == kindDecryptionError {
			f.Add(c.marshal())
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseContent(b)
		if err != nil || c.Kind != kindDecryptionError {
			return
		}
		if c.Failed == nil || c.Failed.Device == 0 {
			t.Fatalf("%x parsed to a decryption error without a device", b)
		}
		if !bytes.Equal(c.marshal(), b) {
			t.Fatalf("parse/marshal of %x differs", b)
		}
		for n := range len(b) {
			if _, err := parseContent(b[:n]); err == nil {
				t.Fatalf("prefix of %d/%d bytes of %x parsed", n, len(b), b)
			}
		}
	})
}
