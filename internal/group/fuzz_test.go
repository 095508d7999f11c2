package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/wire"
)

func FuzzParse(f *testing.F) {
	_, recs := sampleRecords(f)
	for _, b := range recs {
		f.Add(b)
		fuzztest.RefusesEveryPrefix(f, b, func(p []byte) error { _, err := Parse(p); return err })
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if !bytes.Equal(r.Encoded(), b) || !bytes.Equal(append(r.appendBody(nil), r.Signature...), b) {
			t.Fatalf("parse/encode of %x differs", b)
		}
		if err := r.check(); err != nil {
			t.Fatalf("parsed record fails its check: %v", err)
		}
		fuzztest.RefusesPrefixes(t, b, func(p []byte) error { _, err := Parse(p); return err })
	})
}

// chunks encodes records as a FuzzLogAdd input: each a 2-byte big-endian
// length and the bytes.
func chunks(recs ...[]byte) []byte {
	var out []byte
	for _, r := range recs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(r)))
		out = append(out, r...)
	}
	return out
}

// FuzzLogAdd feeds a Log made from a fixed create record a sequence of
// records (2-byte length, bytes; at most 32). A refused record changes
// nothing; at the end, Logs fed every record the first holds, in order and
// newest first, agree with it.
func FuzzLogAdd(f *testing.F) {
	w := newWorld(f, "alice", "bob", "carol", "dave")
	genesis := w.create("alice", "bob", "carol")
	st1, _ := NewState(genesis, Options{})
	promote := w.next(st1, KindPromote, "alice", func(r *Record) { r.Target = "bob" })
	st2 := apply(f, st1, promote)
	a1 := w.next(st2, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "a"} })
	b1 := w.next(st2, KindAdd, "bob", func(r *Record) { r.Members = w.members("dave") })
	rm := w.next(st2, KindRemove, "alice", func(r *Record) { r.Target = "bob" })
	d1 := w.next(apply(f, st2, b1), KindLeave, "dave", nil)
	c1 := w.next(st2, KindInfo, "carol", func(r *Record) { r.Info = &Info{Title: "c"} })
	f.Add(chunks(promote, a1, b1, d1))
	f.Add(chunks(d1, b1, c1, rm, promote))
	f.Add(chunks(promote, promote, a1[:len(a1)-1], c1, rm))
	f.Add(chunks(genesis, promote, append(bytes.Clone(a1), 0)))
	f.Add([]byte{0xff, 0xff, 1, 8})
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := NewLog(genesis, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; len(in) >= 2 && n < 32; n++ {
			size := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			b := in[:min(size, len(in))]
			in = in[len(b):]
			v, h := l.Head()
			acc, pend := l.Len()
			if _, err := l.Add(b); err != nil {
				v2, h2 := l.Head()
				acc2, pend2 := l.Len()
				if v2 != v || h2 != h || acc2 != acc || pend2 != pend {
					t.Fatalf("refused record changed the log: %v", err)
				}
			}
		}
		all := l.All()
		inOrder := logOf(t, all)
		sameState(t, inOrder.State(), l.State())
		rev, _ := NewLog(all[0], Options{})
		for i := len(all) - 1; i > 0; i-- {
			if _, err := rev.Add(all[i]); err != nil {
				t.Fatal(err)
			}
		}
		sameState(t, rev.State(), l.State())
		if !slices.EqualFunc(inOrder.Chain(), l.Chain(), bytes.Equal) {
			t.Fatal("chains differ")
		}
	})
}

func FuzzOpenSnapshot(f *testing.F) {
	_, chain := sampleRecords(f)
	k, _ := DeriveLink(bytes.Repeat([]byte{1}, 32))
	sealed, err := SealSnapshot(k, testGroup, chain[:3], protocoltest.Rand(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(sealed[:len(sealed)-1])
	var e wire.Encoder
	e.Bytes(fSnapGroup, testGroup[:])
	for _, r := range chain[:2] {
		e.Bytes(fSnapRecords, r)
	}
	f.Add(e.B) // a plaintext, for decodeSnapshot
	f.Fuzz(func(t *testing.T, b []byte) {
		if g, c, err := OpenSnapshot(k, b); err == nil {
			if g != testGroup || len(c) == 0 {
				t.Fatalf("opened %x", b)
			}
		}
		g, c, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		var e wire.Encoder
		e.Bytes(fSnapGroup, g[:])
		for _, r := range c {
			e.Bytes(fSnapRecords, r)
		}
		if !bytes.Equal(e.B, b) {
			t.Fatalf("decode/encode of %x differs", b)
		}
	})
}
